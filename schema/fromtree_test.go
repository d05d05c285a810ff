package schema

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unsafe"
)

// typedTargets returns a new value of every Go type of a document.
func typedTargets() []func() any {
	return []func() any{
		func() any { return new(Case) }, func() any { return new(Response) },
		func() any { return new(Message) }, func() any { return new(Withdrawal) },
		func() any { return new(MatchQuery) }, func() any { return new(MatchAnswer) },
		func() any { return new(StatsReport) },
	}
}

// checkDecodeTyped fails unless decodeTyped, with and without the tree made
// first, gives doc the value and the error decodeInto gives it.
func checkDecodeTyped(t *testing.T, doc []byte) {
	t.Helper()
	tree, violations := decodeStrict(doc)
	if len(violations) > 0 {
		tree = nil
	}
	// The object ValidateObject returns decodes as the document does.
	if obj, err := ValidateObject(KindCase, doc); err == nil {
		want, werr := DecodeValidatedCase(doc)
		got, gerr := DecodeValidatedCaseObject(doc, obj)
		if werr != nil || gerr != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeValidatedCaseObject (%v) differs from DecodeValidatedCase (%v)\n%s", gerr, werr, doc)
		}
	}
	for _, newV := range typedTargets() {
		want, got, gotTree := newV(), newV(), newV()
		werr := decodeInto(doc, want)
		gerr := decodeTyped(doc, nil, got)
		terr := decodeTyped(doc, tree, gotTree)
		for _, g := range []struct {
			v   any
			err error
		}{{got, gerr}, {gotTree, terr}} {
			if (werr == nil) != (g.err == nil) || (werr != nil && werr.Error() != g.err.Error()) {
				t.Fatalf("%T: decodeTyped error %v, decodeInto %v\n%s", want, g.err, werr, doc)
			}
			if !reflect.DeepEqual(want, g.v) {
				t.Fatalf("%T: decodeTyped\n%#v\ndecodeInto\n%#v\n%s", want, g.v, want, doc)
			}
		}
	}
}

// typedEdges are documents where the tree and encoding/json could differ.
var typedEdges = []string{
	`{"schema":"flx/v1/case","case_id":"XA-RC:1","version":1,"persons":[]}`,
	`{"Case_ID":"XA-RC:1"}`,                                // encoding/json matches without regard to case
	`{"case_id":"a","CASE_ID":"b"}`,                        // both set the field: the last wins
	`{"case_id":"a","case_id":"b"}`,                        // duplicate: encoding/json keeps the last
	`{"version":1.0}`, `{"version":1e2}`, `{"version":-0}`, // numbers an int does not take
	`{"version":99999999999999999999}`,
	`{"version":null,"case_id":null,"persons":null,"death":null,"superseded":null}`,
	`{"version":"1"}`, `{"persons":{}}`, `{"persons":[{"id":1}]}`,
	`{"persons":[{"id":"p1","age":{"min":1,"max":2.5}}]}`,
	`{"persons":[{"id":"p1","address":{"geo":{"lat":1e400,"lon":0}}}]}`,
	`{"persons":[{"id":"p1","address":{"geo":{"lat":-12.5e-1,"lon":0.0}}}]}`,
	`{"case_id":"x"} trailing`, `{"case_id":"x"} {}`, `{"case_id":"x"}   `,
	`{"case_id":"\ud800"}`, `{"case_id":"\u0000"}`, "{\"case_id\":\"\xff\"}",
	`{"case_id":"\u00e9\ud83d\ude00\n"}`, `{"unknown":1}`, `[]`, `null`, `"x"`, ``,
	`{"superseded":true,"notes":[{"text":"t"}],"consents":[{"id":"c","scope":{"uses":[],"non_movement":false}}]}`,
	`{"candidates":[{"handle":"h","score":0.5}],"tracing_opened":3}`,
}

func TestDecodeTypedAsEncodingJSON(t *testing.T) {
	for _, e := range Examples() {
		checkDecodeTyped(t, e.Doc)
		// The examples take the tree path, not encoding/json's.
		tree, violations := decodeStrict(e.Doc)
		if v := newDoc(t, e.Kind); len(violations) == 0 && !setFromTree(reflect.ValueOf(v).Elem(), tree) {
			t.Errorf("%s: example %s is not decoded from the tree", e.Kind, e.Name)
		}
	}
	for _, d := range typedEdges {
		checkDecodeTyped(t, []byte(d))
	}
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		checkDecodeTyped(t, b)
	}
}

// FuzzDecodeTyped checks that decoding from the tree never differs from
// encoding/json, in value or error, whatever the input.
func FuzzDecodeTyped(f *testing.F) {
	for _, e := range Examples() {
		f.Add(e.Doc)
	}
	for _, d := range typedEdges {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, doc []byte) { checkDecodeTyped(t, doc) })
}

// TestDecodeTypedOwnsItsStrings: no string of a typed value shares its
// bytes with the tree's strings (substrings of one copy of the document),
// so a string kept from a decoded case does not keep the whole document.
func TestDecodeTypedOwnsItsStrings(t *testing.T) {
	var doc []byte
	for _, e := range Examples() {
		if e.Kind == KindCase && len(e.Doc) > len(doc) {
			doc = e.Doc
		}
	}
	tree, violations := decodeStrict(doc)
	if len(violations) > 0 {
		t.Fatalf("example: %v", violations)
	}
	inTree := map[*byte]bool{}
	var walkTree func(x any)
	walkTree = func(x any) {
		switch x := x.(type) {
		case string:
			if len(x) > 0 {
				inTree[unsafe.StringData(x)] = true
			}
		case map[string]any:
			for _, v := range x {
				walkTree(v)
			}
		case []any:
			for _, v := range x {
				walkTree(v)
			}
		}
	}
	walkTree(tree)
	var c Case
	if err := decodeTyped(doc, tree, &c); err != nil {
		t.Fatal(err)
	}
	n := 0
	var walk func(rv reflect.Value)
	walk = func(rv reflect.Value) {
		switch rv.Kind() {
		case reflect.String:
			if s := rv.String(); len(s) > 0 {
				n++
				if inTree[unsafe.StringData(s)] {
					t.Errorf("string %q shares the document's copy", s)
				}
			}
		case reflect.Pointer, reflect.Interface:
			if !rv.IsNil() {
				walk(rv.Elem())
			}
		case reflect.Struct:
			for i := range rv.NumField() {
				walk(rv.Field(i))
			}
		case reflect.Slice, reflect.Array:
			for i := range rv.Len() {
				walk(rv.Index(i))
			}
		case reflect.Map:
			for _, k := range rv.MapKeys() {
				walk(k)
				walk(rv.MapIndex(k))
			}
		}
	}
	walk(reflect.ValueOf(&c))
	if n < 5 {
		t.Fatalf("only %d strings in the decoded example", n)
	}
}
