package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// largeObjectDoc has members m0 to m39 and three duplicates: one found
// while the members are still compared one by one (m3), one after the
// object's map is built (m20), and m0 again with a refused string inside.
var largeObjectDoc = func() string {
	var b strings.Builder
	b.WriteString("{")
	for i := range 40 {
		fmt.Fprintf(&b, `"m%d":%d,`, i, i)
		switch i {
		case 10:
			b.WriteString(`"m3":"x",`)
		case 30:
			b.WriteString(`"m20":[1],`)
		}
	}
	b.WriteString(`"m0":{"a":"\u0000"}}`)
	return b.String()
}()

func largeObject() map[string]any {
	m := map[string]any{}
	for i := range 40 {
		m["m"+strconv.Itoa(i)] = json.Number(strconv.Itoa(i))
	}
	return m
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want any  // decoded value, when no syntax error
		errs []pk // violations
	}{
		{"object", `{"a": [1, -2.5e+3, "x", true, false, null, {}], "b": {}}`,
			map[string]any{"a": []any{json.Number("1"), json.Number("-2.5e+3"), "x", true, false, nil, map[string]any{}}, "b": map[string]any{}}, nil},
		{"escapes", `"a\"\\\/\b\f\n\r\t\u00e9\u20AC\ud83d\ude00"`, "a\"\\/\b\f\n\r\té€😀", nil},
		{"escaped backslash before u", `{"a":"\\ud800"}`, map[string]any{"a": `\ud800`}, nil},
		{"whitespace", " \t\r\n[ ]\n", []any{}, nil},
		{"duplicate", `{"a":1,"b":{"c":1,"c":2},"a":3}`, map[string]any{"a": json.Number("1"), "b": map[string]any{"c": json.Number("1")}},
			[]pk{{"/b/c", KeywordDuplicateKey}, {"/a", KeywordDuplicateKey}}},
		{"inside a discarded duplicate", `{"a":"x","a":{"b":1,"b":"\u0000"}}`, map[string]any{"a": "x"}, []pk{{"/a", KeywordDuplicateKey}}},
		{"nul in value", `{"a":["x\u0000y"]}`, map[string]any{"a": []any{"x\x00y"}}, []pk{{"/a/0", KeywordNUL}}},
		{"nul in member name", `{"x\u0000":1}`, map[string]any{"x\x00": json.Number("1")}, []pk{{"/x\x00", KeywordNUL}}},
		{"lone high surrogate", `{"a":"\ud800"}`, map[string]any{"a": "\uFFFD"}, []pk{{"/a", KeywordSurrogate}}},
		{"lone low surrogate", `["\udc00"]`, []any{"\uFFFD"}, []pk{{"/0", KeywordSurrogate}}},
		{"high then letter", `["\ud800\u0041"]`, []any{"\uFFFDA"}, []pk{{"/0", KeywordSurrogate}}},
		{"backslash then lone", `["\\\ud800"]`, []any{"\\\uFFFD"}, []pk{{"/0", KeywordSurrogate}}},
		{"surrogate in member name", `{"":{"\ud800":1}}`, map[string]any{"": map[string]any{"\uFFFD": json.Number("1")}}, []pk{{"//\uFFFD", KeywordSurrogate}}},
		{"member named empty", `{"":"\u0000"}`, map[string]any{"": "\x00"}, []pk{{"/", KeywordNUL}}},
		{"slash and tilde", `{"a/b":{"~":"\u0000"}}`, map[string]any{"a/b": map[string]any{"~": "\x00"}}, []pk{{"/a~1b/~0", KeywordNUL}}},
		{"duplicates in a large object", largeObjectDoc, largeObject(), []pk{{"/m3", KeywordDuplicateKey}, {"/m20", KeywordDuplicateKey}, {"/m0", KeywordDuplicateKey}}},
		{"nested objects and arrays", `{"a":[{"b":1},{"b":2,"c":[1,[],{"d":[3]}]}],"e":{"f":{}},"g":4}`,
			map[string]any{"a": []any{map[string]any{"b": json.Number("1")}, map[string]any{"b": json.Number("2"),
				"c": []any{json.Number("1"), []any{}, map[string]any{"d": []any{json.Number("3")}}}}},
				"e": map[string]any{"f": map[string]any{}}, "g": json.Number("4")}, nil},
		// Syntax errors: one violation at the root, no value.
		{"empty", ``, nil, []pk{{"", KeywordJSON}}},
		{"trailing comma", `[1,]`, nil, []pk{{"", KeywordJSON}}},
		{"leading zero", `01`, nil, []pk{{"", KeywordJSON}}},
		{"bare minus", `-`, nil, []pk{{"", KeywordJSON}}},
		{"dot without digits", `1.`, nil, []pk{{"", KeywordJSON}}},
		{"exponent without digits", `1e+`, nil, []pk{{"", KeywordJSON}}},
		{"single quotes", `{'a':1}`, nil, []pk{{"", KeywordJSON}}},
		{"raw control", "[\"a\tb\"]", nil, []pk{{"", KeywordJSON}}},
		{"bad escape", `["\x"]`, nil, []pk{{"", KeywordJSON}}},
		{"short unicode escape", `["\u12"]`, nil, []pk{{"", KeywordJSON}}},
		{"unterminated", `{"a":"b`, nil, []pk{{"", KeywordJSON}}},
		{"tru", `tru`, nil, []pk{{"", KeywordJSON}}},
		{"NaN", `NaN`, nil, []pk{{"", KeywordJSON}}},
		{"BOM", "\xef\xbb\xbf{}", nil, []pk{{"", KeywordJSON}}},
		{"two values", `{} {}`, nil, []pk{{"", KeywordJSON}}},
		{"missing colon", `{"a" 1}`, nil, []pk{{"", KeywordJSON}}},
		{"too deep", strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1), nil, []pk{{"", KeywordJSON}}},
		{"deep enough", strings.Repeat("[", 3) + strings.Repeat("]", 3), []any{[]any{[]any{}}}, nil},
		{"invalid UTF-8", "[\"\xc3\x28\"]", nil, []pk{{"", KeywordUTF8}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, vs := decodeStrict([]byte(tc.doc))
			var got []pk
			for _, x := range vs {
				got = append(got, pk{x.Pointer, x.Keyword})
				if strings.Contains(x.Message, tc.doc) && len(tc.doc) > 3 {
					t.Errorf("message %q quotes the document", x.Message)
				}
			}
			if !slices.Equal(got, tc.errs) {
				t.Errorf("violations = %v, want %v", got, tc.errs)
			}
			if !reflect.DeepEqual(v, tc.want) {
				t.Errorf("value = %#v, want %#v", v, tc.want)
			}
		})
	}
	if _, vs := decodeStrict([]byte(strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth))); len(vs) != 0 {
		t.Errorf("nesting of exactly maxDepth refused: %v", vs)
	}
}

// FuzzDecodeStrict compares decodeStrict with encoding/json: both accept the
// same JSON texts (for valid UTF-8 and depth within maxDepth) and produce the
// same value where no member is duplicated (encoding/json keeps the last,
// decodeStrict the first and reports it).
func FuzzDecodeStrict(f *testing.F) {
	for _, e := range Examples() {
		f.Add(e.Doc)
	}
	for _, s := range []string{`{"a":"\ud800\u0041"}`, `[1e5,-0.0,0]`, `{"a":1,"a":2}`, `"\u0000"`, `[[[]]]`, `{"\\":"\/"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		v, vs := decodeStrict(doc)
		if !utf8.Valid(doc) {
			if len(vs) != 1 || vs[0].Keyword != KeywordUTF8 || v != nil {
				t.Fatalf("invalid UTF-8 gave %v, %v", v, vs)
			}
			return
		}
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber()
		var want any
		stdErr := dec.Decode(&want)
		if stdErr == nil {
			if _, err := dec.Token(); err == nil {
				stdErr = errTrailing
			} else if err != io.EOF {
				stdErr = err
			}
		}
		syntaxErr := len(vs) == 1 && vs[0].Keyword == KeywordJSON
		if stdErr != nil {
			if !syntaxErr {
				t.Fatalf("encoding/json refuses (%v) but decodeStrict accepts: %v", stdErr, vs)
			}
			return
		}
		if syntaxErr {
			if strings.Contains(vs[0].Message, "nesting deeper") {
				return
			}
			t.Fatalf("encoding/json accepts but decodeStrict refuses: %v", vs)
		}
		for _, x := range vs {
			if x.Keyword == KeywordDuplicateKey {
				return
			}
		}
		if !reflect.DeepEqual(v, want) {
			t.Fatalf("values differ:\n strict %#v\n stdlib %#v", v, want)
		}
	})
}

var errTrailing = jsonError("data after top-level value")

type jsonError string

func (e jsonError) Error() string { return string(e) }

// DecodeValidatedCase gives what ParseCase gives for a valid document, and
// still refuses a member the Go type does not know.
func TestDecodeValidatedCaseMatchesParseCase(t *testing.T) {
	for _, e := range Examples() {
		if e.Kind != KindCase {
			continue
		}
		want, err := ParseCase(e.Doc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeValidatedCase(e.Doc)
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: DecodeValidatedCase = %+v, ParseCase = %+v", e.Name, got, want)
		}
	}
	if _, err := DecodeValidatedCase([]byte(`{"case_id":"XA-RC:1","unknown_member":1}`)); err == nil {
		t.Error("an unknown member decoded")
	}
}
