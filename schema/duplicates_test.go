package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestCheckDuplicateKeys(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want string // pointer, "" for none
	}{
		{`{"a":1,"b":2}`, ""},
		{`{"a":1,"a":1}`, "/a"},
		{`{"a":{"b":[{"c":1,"c":2}]}}`, "/a/b/0/c"},
		{`[{"x":1},{"x":1}]`, ""},
		{`{"a~b":1,"a~b":2}`, "/a~0b"},
		{`{"a":1,"a"`, ""},           // malformed: left to the caller's decoder
		{`{"\u0061":1,"a":2}`, "/a"}, // escapes are compared unescaped
	} {
		err := CheckDuplicateKeys([]byte(tc.doc))
		var d *DuplicateKeyError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want nil", tc.doc, err)
		case tc.want != "" && (!errors.As(err, &d) || d.Pointer != tc.want):
			t.Errorf("%s: %v, want duplicate at %s", tc.doc, err, tc.want)
		}
	}
	var m map[string]any
	err := UnmarshalNoDuplicates([]byte(`{"k":1,"k":2}`), &m)
	if !IsDuplicateKey(fmt.Errorf("wrapped: %w", err)) || m != nil {
		t.Fatalf("UnmarshalNoDuplicates: %v %v", err, m)
	}
	if err := UnmarshalNoDuplicates([]byte(`{"k":1}`), &m); err != nil || m["k"] != float64(1) {
		t.Fatalf("UnmarshalNoDuplicates: %v %v", err, m)
	}
}

// FuzzCheckDuplicateKeys: any input is answered without panic; a duplicate
// it reports names a pointer, and a document encoding/json reads as an
// object with distinct member names (after a round trip) has none.
func FuzzCheckDuplicateKeys(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":2}`, `{"a":1,"a":1}`, `{"a":{"b":[{"c":1,"c":2}]}}`, `{"\u0061":1,"a":2}`, `{"a":1,"a"`, `[]`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := CheckDuplicateKeys(data)
		var d *DuplicateKeyError
		if errors.As(err, &d) && (d.Pointer == "" || d.Pointer[0] != '/') {
			t.Fatalf("duplicate reported with pointer %q", d.Pointer)
		}
		var v map[string]any
		if json.Unmarshal(data, &v) == nil {
			again, _ := json.Marshal(v)
			if err := CheckDuplicateKeys(again); err != nil {
				t.Fatalf("a re-encoded object (no duplicates possible) is refused: %v", err)
			}
		}
	})
}
