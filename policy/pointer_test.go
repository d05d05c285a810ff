package policy

import (
	"slices"
	"strconv"
	"testing"

	"github.com/familylinks/flx/schema"
)

func TestParsePointer(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "/persons/0/address", want: []string{"persons", "0", "address"}},
		{in: "/a~1b/c~0d", want: []string{"a/b", "c~d"}},
		{in: "/", want: []string{""}},
		{in: "", wantErr: true},
		{in: "persons/0", wantErr: true},
		{in: "/a~2", wantErr: true},
		{in: "/a~", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			p, err := parsePointer(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if !slices.Equal([]string(p), tc.want) {
				t.Errorf("got %q, want %q", p, tc.want)
			}
			if p.String() != tc.in {
				t.Errorf("round trip: %q -> %q", tc.in, p.String())
			}
		})
	}
}

func TestMinimalPointers(t *testing.T) {
	got, err := minimalPointers([]string{"/persons/10/photo", "/persons/2", "/persons/2/address", "/notes", "/notes/1", "/persons/2/address", "/a"})
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, p := range got {
		s = append(s, p.String())
	}
	want := []string{"/a", "/notes", "/persons/2", "/persons/10/photo"}
	if !slices.Equal(s, want) {
		t.Errorf("got %v, want %v", s, want)
	}
}

func TestRemoveAll(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		ptrs []string
		want string
	}{
		{"object keys", `{"a":1,"b":{"c":2,"d":3}}`, []string{"/a", "/b/c"}, `{"b":{"d":3}}`},
		{"array elements keep input indices", `{"n":["x","y","z","w"]}`, []string{"/n/1", "/n/3"}, `{"n":["x","z"]}`},
		{"element and a key under a later element", `{"n":[{"k":1},{"k":2,"j":3},{"k":4}]}`, []string{"/n/0", "/n/1/j"}, `{"n":[{"k":2},{"k":4}]}`},
		{"nested arrays", `{"p":[{"l":[1,2,3]},{"l":[4,5]}]}`, []string{"/p/0/l/0", "/p/0/l/2", "/p/1/l/1"}, `{"p":[{"l":[2]},{"l":[4]}]}`},
		{"escaped key", `{"a/b":1,"c":2}`, []string{"/a~1b"}, `{"c":2}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := decodeMap(t, tc.doc)
			ps, err := minimalPointers(tc.ptrs)
			if err != nil {
				t.Fatal(err)
			}
			root, err := removeAll(any(m), ps)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := encode(root)
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := removeAll(any(decodeMap(t, `{"a":1}`)), []pointer{{"b"}}); err == nil {
		t.Error("removing a missing key must fail")
	}
}

func TestExpandWildcards(t *testing.T) {
	m := decodeMap(t, `{"persons":[{"id":"a","photo":{}},{"id":"b"},{"id":"c","photo":{}}],"x":{"k1":1,"k2":2}}`)
	p, _ := parsePointer("/persons/*/photo")
	if got := expandWildcards(m, p); !slices.Equal(got, []string{"/persons/0/photo", "/persons/2/photo"}) {
		t.Errorf("got %v", got)
	}
	p, _ = parsePointer("/x/*")
	if got := expandWildcards(m, p); !slices.Equal(got, []string{"/x/k1", "/x/k2"}) {
		t.Errorf("got %v", got)
	}
	p, _ = parsePointer("/nothing/*")
	if got := expandWildcards(m, p); len(got) != 0 {
		t.Errorf("got %v", got)
	}
}

// FuzzExists: exists without a token list answers as parsePointer and
// lookup do, on the schema examples and any pointer.
func FuzzExists(f *testing.F) {
	for _, p := range []string{"", "/", "//", "/persons/0/names/0/value", "/persons/00", "/persons/-1", "/a~1b", "/a~2", "x", "/persons/", "/origin/member/x", "/notes/0/text"} {
		f.Add(p)
	}
	var docs []any
	for _, ex := range schema.Examples() {
		m, err := decodeObject(ex.Doc)
		if err != nil {
			f.Fatal(err)
		}
		docs = append(docs, m)
	}
	docs = append(docs, []any{"x", map[string]any{"": "empty", "a/b": true}}, "scalar", nil)
	f.Fuzz(func(t *testing.T, s string) {
		for _, d := range docs {
			want := false
			if p, err := parsePointer(s); err == nil {
				_, want = lookup(d, p)
			}
			if got := exists(d, s); got != want {
				t.Fatalf("exists(%q) = %t, parse and lookup say %t", s, got, want)
			}
		}
	})
}

// FuzzPtr: ptr writes what pointer.String writes for the same tokens.
func FuzzPtr(f *testing.F) {
	f.Add("persons", 3, "a~b/c")
	f.Fuzz(func(t *testing.T, a string, i int, b string) {
		want := pointer{a, strconv.Itoa(i), b}.String()
		if got := ptr(a, i, b); got != want {
			t.Fatalf("ptr = %q, String %q", got, want)
		}
		parent, child := ptr(a, i), ptr(a, i, b)
		if !containsChild([]string{parent, child}, parent, b) || containsChild([]string{parent, child + "x"}, parent, b) {
			t.Fatalf("containsChild of %q in %q: wrong answer", b, parent)
		}
		if i >= 0 {
			want = pointer{"persons", strconv.Itoa(i), a, b}.String()
			if got := (person{idx: i}).ptr(a, b); got != want {
				t.Fatalf("person.ptr = %q, String %q", got, want)
			}
		}
	})
}

// FuzzComparePointerStrings: comparing pointer strings token by token
// gives comparePointers' answer on the parsed pointers.
func FuzzComparePointerStrings(f *testing.F) {
	for _, p := range [][2]string{{"/persons/2", "/persons/10"}, {"/a", "/a/b"}, {"/a/b", "/a"}, {"/0", "/x"}, {"/a~1b", "/a"}, {"", "/x"}, {"/x/", "/x"}, {"/-1", "/+1"}, {"/01", "/1"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		pa, _ := parsePointer(a)
		pb, _ := parsePointer(b)
		want := comparePointers(pa, pb)
		got := comparePointerStrings(a, b)
		if (got < 0) != (want < 0) || (got > 0) != (want > 0) {
			t.Fatalf("comparePointerStrings(%q, %q) = %d, comparePointers %d", a, b, got, want)
		}
	})
}
