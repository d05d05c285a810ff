package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// FuzzValidate checks, for every kind, that Validate never panics, is
// deterministic, reports violations that are sorted, distinct and point
// into the document, and that a document that validates decodes strictly
// into its Go type and re-encodes to a document that still validates.
func FuzzValidate(f *testing.F) {
	for _, e := range Examples() {
		f.Add(e.Doc)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, k := range Kinds() {
			checkValidateProperties(t, k, doc)
		}
	})
}

func checkValidateProperties(t *testing.T, k Kind, doc []byte) {
	t.Helper()
	err := Validate(k, doc)
	if again := Validate(k, doc); !reflect.DeepEqual(err, again) {
		t.Fatalf("%s: Validate is not deterministic:\n%v\n%v", k, err, again)
	}
	// ValidateObject decides as Validate does, and the members a node
	// reads from its object are those encoding/json reads.
	obj, oerr := ValidateObject(k, doc)
	if !reflect.DeepEqual(err, oerr) || (err == nil) != (obj != nil) {
		t.Fatalf("%s: ValidateObject (%v, %v) differs from Validate (%v)", k, obj != nil, oerr, err)
	}
	// DecodeValidatedObject reads a valid document exactly as
	// ValidateObject does (the tree policy evaluates), and the tree is
	// the one encoding/json (with UseNumber) makes of it.
	if err == nil {
		dobj, derr := DecodeValidatedObject(doc)
		if derr != nil || !reflect.DeepEqual(dobj, obj) {
			t.Fatalf("%s: DecodeValidatedObject (%v) differs from ValidateObject's object", k, derr)
		}
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber()
		var std map[string]any
		if jerr := dec.Decode(&std); jerr != nil || !reflect.DeepEqual(std, obj) {
			t.Fatalf("%s: encoding/json reads a valid document otherwise (%v)", k, jerr)
		}
	}
	if err == nil {
		var head struct {
			CaseID string `json:"case_id"`
		}
		if json.Unmarshal(doc, &head) == nil && obj["case_id"] != any(head.CaseID) && obj["case_id"] != nil {
			t.Fatalf("%s: case_id %v in the object, %q read by encoding/json", k, obj["case_id"], head.CaseID)
		}
	}
	if err == nil {
		v := newDoc(t, k)
		if derr := decodeInto(doc, v); derr != nil {
			t.Fatalf("%s: valid document does not decode into %T: %v\n%s", k, v, derr, doc)
		}
		out, merr := json.Marshal(v)
		if merr != nil {
			t.Fatalf("%s: re-encoding: %v", k, merr)
		}
		if verr := Validate(k, out); verr != nil {
			t.Fatalf("%s: re-encoded document is invalid: %v\nin:  %s\nout: %s", k, verr, doc, out)
		}
		return
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("%s: error %T %v is not a *ValidationError", k, err, err)
	}
	if len(verr.Violations) == 0 || verr.Error() == "" || len(verr.Pointers()) == 0 {
		t.Fatalf("%s: empty ValidationError", k)
	}
	if !slices.IsSortedFunc(verr.Violations, compareViolations) {
		t.Fatalf("%s: violations not sorted: %v", k, verr.Violations)
	}
	for i := 1; i < len(verr.Violations); i++ {
		if verr.Violations[i] == verr.Violations[i-1] {
			t.Fatalf("%s: duplicate violation %v", k, verr.Violations[i])
		}
	}
	// Pointers are resolved in the value Validate saw (for a duplicated
	// member, the first one; encoding/json would keep the last).
	seen, _ := decodeStrict(doc)
	if seen == nil && !bytes.Equal(bytes.TrimSpace(doc), []byte("null")) {
		// Not decodable: the only violation is at the root.
		if len(verr.Violations) != 1 || verr.Violations[0].Pointer != "" {
			t.Fatalf("%s: undecodable document gave %v", k, verr.Violations)
		}
		return
	}
	for _, v := range verr.Violations {
		if !resolves(seen, v.Pointer) {
			t.Fatalf("%s: violation pointer %q does not resolve in the document (%v)", k, v.Pointer, v)
		}
	}
}

// resolves reports whether the JSON pointer ptr names a value in v.
func resolves(v any, ptr string) bool {
	for _, tok := range splitPointer(ptr) {
		switch x := v.(type) {
		case map[string]any:
			c, ok := x[unescapeToken(tok)]
			if !ok {
				return false
			}
			v = c
		case []any:
			i, ok := parseIndex(tok)
			if !ok || i >= len(x) || (len(tok) > 1 && tok[0] == '0') {
				return false
			}
			v = x[i]
		default:
			return false
		}
	}
	return true
}
