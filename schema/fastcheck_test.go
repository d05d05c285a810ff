package schema

import (
	"encoding/json"
	"maps"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// fastSeeds returns the documents the differential tests start from: every
// example, the invalid documents of testdata, and the stats and match
// documents of the other tests.
func fastSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, e := range Examples() {
		out = append(out, e.Doc)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	out = append(out, []byte(validStats), []byte(validQuery), []byte(validAnswer))
	return out
}

const validAnswer = `{"schema":"flx/v1/match_answer","case_id":"XA-RC:TR-1","person_id":"p1","in_reply_to":"j1","responder":"XB-RC",
"candidates":[{"handle":"h-0123456789abcdef01234567","score":0.81}]}`

// kindOf returns the kind a decoded document claims in its "schema" member.
func kindOf(v any) (Kind, bool) {
	m, _ := v.(map[string]any)
	tag, _ := m["schema"].(string)
	k, ok := strings.CutPrefix(tag, "flx/v1/")
	return Kind(k), ok && Kind(k).Valid()
}

// agree checks, for a decoded document, that the fast check never
// contradicts jsonschema, and returns the fast verdict.
func agree(tb testing.TB, k Kind, v any) verdict {
	tb.Helper()
	got, _ := agreeValid(tb, k, v)
	return got
}

// agreeValid is agree that also returns jsonschema's verdict.
func agreeValid(tb testing.TB, k Kind, v any) (verdict, bool) {
	tb.Helper()
	schemas, err := compiled()
	if err != nil {
		tb.Fatal(err)
	}
	fast, err := fastSchemas()
	if err != nil {
		tb.Fatal(err)
	}
	got := fast[k].check(v)
	jsErr := schemas[k].Validate(v)
	if (got == pass && jsErr != nil) || (got == fail && jsErr == nil) {
		doc, _ := json.Marshal(v)
		tb.Fatalf("%s: fast check says %s, jsonschema says %v\n%s", k, verdictName(got), jsErr, doc)
	}
	return got, jsErr == nil
}

func verdictName(v verdict) string { return [...]string{"pass", "unsure", "fail"}[v] }

// TestFastCheckPassesExamples: the fast check is not vacuous, every
// example passes it (so a received example never reaches jsonschema).
func TestFastCheckPassesExamples(t *testing.T) {
	docs := map[string]string{"stats": validStats, "query": validQuery, "answer": validAnswer}
	for _, e := range Examples() {
		docs[e.Name] = string(e.Doc)
	}
	for name, doc := range docs {
		v, vs := decodeStrict([]byte(doc))
		k, ok := kindOf(v)
		if !ok || len(vs) != 0 {
			t.Fatalf("%s: kind %q, decoding %v", name, k, vs)
		}
		if got := agree(t, k, v); got != pass {
			t.Errorf("%s: fast check %s, want pass", name, verdictName(got))
		}
	}
}

// TestFastCheckAgreesWithJSONSchema compares the fast check with jsonschema
// over the seeds, each against every kind, and over mutations of them:
// every value replaced by values of other types, boundary numbers and
// lengths, near-miss enum and pattern strings, bad dates and formats,
// unicode; members removed and added; arrays emptied, duplicated, grown.
func TestFastCheckAgreesWithJSONSchema(t *testing.T) {
	skipUnderRace(t)
	rnd := rand.New(rand.NewPCG(1, 13))
	var counts [3]int
	validMutants, validPassed := 0, 0
	for _, doc := range fastSeeds(t) {
		v, vs := decodeStrict(doc)
		if v == nil || len(vs) != 0 {
			continue // decoding problems: the fast check is never asked
		}
		for _, k := range documentKinds() {
			agree(t, k, v)
		}
		k, ok := kindOf(v)
		if !ok {
			continue
		}
		forEachMutant(v, rnd, 3, func(m any) {
			got, valid := agreeValid(t, k, m)
			counts[got]++
			if valid {
				validMutants++
				if got == pass {
					validPassed++
				}
			}
		})
	}
	t.Logf("mutants: %d pass, %d unsure, %d fail; %d of %d valid mutants passed", counts[pass], counts[unsure], counts[fail], validPassed, validMutants)
	if counts[pass] < 1000 || counts[fail] < 1000 {
		t.Fatalf("too few mutants decided: %v", counts)
	}
	// Unsure sends a valid document through jsonschema: correct but slow.
	if validPassed*100 < validMutants*90 {
		t.Fatalf("only %d of %d valid mutants pass the fast check", validPassed, validMutants)
	}
}

// Replacement values tried at every position of a document.
var (
	mutantNumbers = []string{
		"0", "-0", "1", "-1", "0.0", "1.0", "1.5", "-0.5", "1e3", "1E-2", "2.50",
		"5", "149", "150", "151", "150.0", "150.01", "-90", "-90.0000001", "90", "90.5", "-180", "180.000",
		"65535", "65536", "131072", "65537", "4194304", "4194305", "86400", "86400.5", "86399.999",
		"2147483647", "2147483648", "9007199254740991", "9007199254740992", "9223372036854775807",
		"9223372036854775808", "99999999999999999999", "-99999999999999999999.5",
	}
	mutantStrings = []string{
		"", " ", "a", "A", "XA", "xa", "XAA", "X", "XA-RC", "xa-rc", "XA-RC:2024-0001", "XA-RC:", "XA-RC:a b",
		"ICRC-CTA", "-XA", "Latn", "latn", "LATN", "p1", "P1", "tracing", "tracing_request", "Tracing_request",
		"tracing_request ", "open", "opened", "located", "given", "family", "image/jpeg", "Image/jpeg", "de", "fr-CH",
		"2024", "2024-02", "2024-13", "2024-00", "2024-02-29", "2023-02-29", "2024-04-31", "2024-12-31", "2024-1-01",
		"0000-01-01", "0999-12-31", "9999-12-31", "2024-01-01T00:00:00Z", "2024-01-01t00:00:00z",
		"2024-01-01T23:59:59.123456789+23:59", "2024-01-01T23:59:60Z", "2016-12-31T23:59:60Z", "2024-01-01T24:00:00Z",
		"2024-01-01T00:00:00", "2024-01-01 00:00:00Z", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00+24:00",
		"2024-01-01T00:00:00-00:60", "2024-01-01T00:00:00+0100", "2024-02-30T00:00:00Z", "0000-01-01T00:00:00Z",
		"a@example.invalid", "a.b+c@x.example", "a..b@x.example", ".a@x.example", "a@-x.example", "@x.example",
		"a@", `"q u"@x.example`, "a@[127.0.0.1]", "a@[IPv6:::1]", "é@x.example",
		"https://x.invalid/a", "https://x.invalid", "https://user@x.invalid/", "https://[::1]/a", "https://::1/a",
		"http://x.invalid/", "https:///x", "https://x y", "https://x.invalid/%zz",
		strings.Repeat("0", 64), strings.Repeat("a", 64), strings.Repeat("A", 64), strings.Repeat("f", 63),
		"café", "Καρό", "ካሮ", "カロ", "😀", "a\u0301", "\u00a0", "\t", "a\nb",
	}
	mutantLengths = []int{0, 1, 2, 3, 31, 32, 33, 63, 64, 65, 127, 128, 129, 253, 254, 255, 256, 257, 511, 512, 513, 2048, 2049}
	mutantNames   = []string{"extra", "id", "value", "schema", "case_id", "notes", "kind", "lang", "media", "body", "chunk_bytes"}
)

// anyReplacements are the values tried in place of any value.
var anyReplacements = func() []any {
	out := []any{nil, true, false, map[string]any{}, []any{}, []any{"a", "a"}, []any{"a", "b"}, []any{json.Number("1"), json.Number("1.0")}}
	for _, n := range mutantNumbers {
		out = append(out, json.Number(n))
	}
	for _, s := range mutantStrings {
		out = append(out, s)
	}
	for _, n := range mutantLengths {
		for _, unit := range []string{"a", "é", "😀"} {
			out = append(out, strings.Repeat(unit, n))
		}
	}
	return out
}()

// replacements returns the values tried in place of v.
func replacements(v any) []any {
	out := slices.Clip(anyReplacements)
	if s, ok := v.(string); ok {
		r := []rune(s)
		out = append(out, s+"x", s+" ", " "+s, strings.ToUpper(s), strings.ToLower(s), s+"é")
		if len(r) > 0 {
			out = append(out, string(r[:len(r)-1]), string(r[1:]))
			for _, n := range mutantLengths {
				out = append(out, strings.Repeat(string(r[0]), n))
			}
		}
	}
	if n, ok := v.(json.Number); ok {
		out = append(out, string(n), json.Number("-"+strings.TrimPrefix(string(n), "-")))
		if !strings.ContainsAny(string(n), ".eE") { // still a JSON number
			out = append(out, json.Number(string(n)+".0"), json.Number(string(n)+"e0"), json.Number(string(n)+".000001"))
		}
	}
	return out
}

// forEachMutant calls fn with copies of v in which one value has been
// changed: perNode replacements picked at random at every position, every
// member removed, extra members added, arrays emptied and grown.
func forEachMutant(v any, rnd *rand.Rand, perNode int, fn func(any)) {
	reps := replacements(v)
	for range perNode {
		fn(reps[rnd.IntN(len(reps))])
	}
	switch x := v.(type) {
	case map[string]any:
		for _, name := range sortedKeys(x) {
			without := cloneMap(x)
			delete(without, name)
			fn(without)
			forEachMutant(x[name], rnd, perNode, func(c any) {
				m := cloneMap(x)
				m[name] = c
				fn(m)
			})
		}
		for _, name := range mutantNames {
			m := cloneMap(x)
			m[name] = reps[rnd.IntN(len(reps))]
			fn(m)
		}
	case []any:
		fn([]any{})
		if len(x) > 0 {
			fn(append(slices.Clone(x), x[0]))
			for _, n := range []int{16, 17} {
				grown := slices.Clone(x)
				for len(grown) < n {
					grown = append(grown, x[len(grown)%len(x)])
				}
				fn(grown)
			}
		}
		for i := range x {
			forEachMutant(x[i], rnd, perNode, func(c any) {
				a := slices.Clone(x)
				a[i] = c
				fn(a)
			})
		}
	}
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// FuzzFastCheck: for any document that decodes cleanly, the fast check
// never contradicts jsonschema, for any kind, and Validate's answer is the
// one it gives without the fast check. Seeds: the documents of
// fastSeeds and a sample of their mutations.
func FuzzFastCheck(f *testing.F) {
	rnd := rand.New(rand.NewPCG(2, 13))
	for _, doc := range fastSeeds(f) {
		f.Add(doc)
		v, vs := decodeStrict(doc)
		if v == nil || len(vs) != 0 {
			continue
		}
		n := 0
		forEachMutant(v, rnd, 1, func(m any) {
			if n++; n%97 == 0 {
				b, err := json.Marshal(m)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(b)
			}
		})
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		v, vs := decodeStrict(doc)
		if v == nil || len(vs) != 0 {
			return
		}
		for _, k := range documentKinds() {
			if agree(t, k, v) != pass {
				continue
			}
			// Valid: Validate returns the decoded object and no error,
			// as it would through jsonschema.
			if _, err := validate(k, doc); err != nil {
				t.Fatalf("%s: fast check passed, Validate says %v", k, err)
			}
		}
	})
}

// TestFastCheckKnowsEveryKeyword: every field of jsonschema.Schema is one
// the fast check translates, ignores as an annotation or bookkeeping, or
// treats as unsupported. A library upgrade that adds a keyword fails here
// until fastCompiler.compile handles it.
func TestFastCheckKnowsEveryKeyword(t *testing.T) {
	known := map[string]bool{}
	for _, f := range strings.Fields(`
		DraftVersion Location Bool ID Ref Anchor RecursiveRef RecursiveAnchor DynamicRef DynamicAnchor
		Types Enum Const Not AllOf AnyOf OneOf If Then Else Format
		MaxProperties MinProperties Required PropertyNames Properties PatternProperties AdditionalProperties
		Dependencies DependentRequired DependentSchemas UnevaluatedProperties
		MinItems MaxItems UniqueItems Contains MinContains MaxContains Items AdditionalItems PrefixItems Items2020 UnevaluatedItems
		MinLength MaxLength Pattern ContentEncoding ContentMediaType ContentSchema
		Maximum Minimum ExclusiveMaximum ExclusiveMinimum MultipleOf
		Extensions Title Description Default Comment ReadOnly WriteOnly Examples Deprecated`) {
		known[f] = true
	}
	typ := reflect.TypeFor[jsonschema.Schema]()
	for i := range typ.NumField() {
		if f := typ.Field(i); f.IsExported() && !known[f.Name] {
			t.Errorf("jsonschema.Schema has a field %s the fast check does not know", f.Name)
		}
	}
}

// TestFastCheckUnsupportedIsUnsure: a schema using a keyword the fast check
// does not implement makes it unsure, never pass or fail.
func TestFastCheckUnsupportedIsUnsure(t *testing.T) {
	for _, src := range []string{
		`{"anyOf":[{"type":"string"}]}`,
		`{"oneOf":[{"type":"string"}]}`,
		`{"patternProperties":{"^a":{"type":"string"}}}`,
		`{"propertyNames":{"maxLength":3}}`,
		`{"contains":{"type":"string"}}`,
		`{"prefixItems":[{"type":"string"}]}`,
		`{"unevaluatedProperties":false}`,
		`{"exclusiveMinimum":0}`,
		`{"multipleOf":0.5}`,
		`{"enum":[[1],"a"]}`,
		`{"const":{"a":1}}`,
		`{"properties":{"a":{"anyOf":[{"type":"string"}]}},"items":{"anyOf":[{"type":"string"}]},"type":["object","array"]}`,
	} {
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(src))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource("https://schema.flx.invalid/test.json", doc); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile("https://schema.flx.invalid/test.json")
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		fs := (&fastCompiler{seen: map[*jsonschema.Schema]*fastSchema{}}).compile(s)
		values := []any{"a", json.Number("1"), map[string]any{"a": "x"}, []any{"a"}}
		if strings.Contains(src, `"type"`) {
			values = values[2:]
		}
		for _, v := range values {
			if got := fs.check(v); got != unsure {
				t.Errorf("%s on %v: %s, want unsure", src, v, verdictName(got))
			}
		}
	}
}

// TestNumberCompare compares number.cmp and number.integral with big.Rat.
func TestNumberCompare(t *testing.T) {
	bounds := []int64{0, 1, -1, 5, 150, -90, 90, 86400, 65536, 2147483647, 9007199254740991}
	lits := []string{"0", "-0", "0.0", "-0.0", "1", "-1", "0.5", "-0.5", "1.000", "150", "150.0", "150.01", "149.99",
		"-90", "-90.0", "-90.0001", "-89.9999", "90.0000000000000000001", "86400", "86400.5", "2147483647",
		"2147483648", "9007199254740991", "9007199254740992", "-9007199254740991.5", "123456789012345678"}
	for _, lit := range lits {
		n := parseNumber(lit)
		r, _ := new(big.Rat).SetString(lit)
		for _, b := range bounds {
			c, known := n.cmp(b)
			if !known {
				t.Errorf("%s vs %d: not known", lit, b)
				continue
			}
			if want := r.Cmp(new(big.Rat).SetInt64(b)); c != want {
				t.Errorf("%s vs %d: %d, want %d", lit, b, c, want)
			}
		}
		for _, b := range []string{"1/2", "-3/2", "90", "86399999/1000"} {
			br, _ := new(big.Rat).SetString(b)
			c, known := n.cmpBound(newBound(br))
			if want := r.Cmp(br); !known || c != want {
				t.Errorf("%s vs %s: %d (known %v), want %d", lit, b, c, known, want)
			}
		}
		if got, want := n.integral() == pass, r.IsInt(); got != want {
			t.Errorf("%s: integral %v, want %v", lit, got, want)
		}
	}
	for _, lit := range []string{"1e3", "1E-2", "1234567890123456789", "-99999999999999999999"} {
		if _, known := parseNumber(lit).cmp(0); known {
			t.Errorf("%s: compared, want left to jsonschema", lit)
		}
	}
}

// TestFastFormats: what fastFormat accepts, jsonschema's format function
// accepts, over dates and date-times built from boundary fields.
func TestFastFormats(t *testing.T) {
	formats := map[string]*jsonschema.Format{}
	fast, err := fastSchemas()
	if err != nil {
		t.Fatal(err)
	}
	eachFastSchema(fast, func(f *fastSchema) {
		if f.format != nil {
			formats[f.format.Name] = f.format
		}
	})
	for _, name := range []string{"date", "date-time"} {
		if formats[name] == nil {
			t.Fatalf("no %s format in the schemas", name)
		}
	}
	accepted := 0
	for _, y := range []string{"0000", "0001", "0999", "1000", "1900", "2000", "2023", "2024", "2100", "9999", "20x4"} {
		for _, m := range []string{"00", "01", "02", "04", "12", "13", "1-"} {
			for _, d := range []string{"00", "01", "28", "29", "30", "31", "32"} {
				date := y + "-" + m + "-" + d
				for _, s := range []string{date, date + "x", date[:9]} {
					if fastFormat("date", s) {
						accepted++
						if err := formats["date"].Validate(s); err != nil {
							t.Errorf("date %q: fast accepts, jsonschema: %v", s, err)
						}
					}
				}
				for _, tm := range []string{"00:00:00", "23:59:59", "23:59:60", "24:00:00", "12:60:00", "12:00:61", "1:00:00"} {
					for _, frac := range []string{"", ".0", ".123456789", "."} {
						for _, z := range []string{"Z", "z", "+00:00", "-23:59", "+24:00", "+01:60", "+0100", "", "ZZ"} {
							for _, sep := range []string{"T", "t", " "} {
								s := date + sep + tm + frac + z
								if fastFormat("date-time", s) {
									accepted++
									if err := formats["date-time"].Validate(s); err != nil {
										t.Errorf("date-time %q: fast accepts, jsonschema: %v", s, err)
									}
								}
							}
						}
					}
				}
			}
		}
	}
	if accepted < 1000 {
		t.Fatalf("fast formats accepted only %d strings", accepted)
	}
}

// testPatterns are the patterns of the schemas and others that exercise
// compileBytePattern's rules.
func testPatterns(tb testing.TB) []string {
	tb.Helper()
	fast, err := fastSchemas()
	if err != nil {
		tb.Fatal(err)
	}
	set := map[string]bool{}
	eachFastSchema(fast, func(f *fastSchema) {
		if f.pattern != nil {
			set[f.pattern.String()] = true
		}
	})
	out := []string{`^a*b?c$`, `^[ab]{2,}c+$`, `^x{0,3}y?z{1,2}$`, `^a?b?c?$`, `^[0-9]+\.[0-9]*$`, `^ab{3}c{0,2}$`, `^$`}
	for p := range set {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// TestBytePatternRules: which patterns compileBytePattern takes.
func TestBytePatternRules(t *testing.T) {
	for expr, want := range map[string]bool{
		`^[A-Z0-9][A-Z0-9-]{1,31}$`:                      true,
		`^[A-Z0-9][A-Z0-9-]{1,31}:[A-Za-z0-9._-]{1,64}$`: true, // ':' must follow and is in no class
		`^[A-Za-z0-9+/]+={0,2}$`:                         true,
		`^\+?[0-9][0-9 ().-]{2,31}$`:                     true,
		`^h-[0-9a-f]{24}$`:                               true,
		`^[a-z]+[a-z]$`:                                  false, // which a takes the last letter?
		`^a*b?a$`:                                        false,
		`^a?a$`:                                          false,
		`(?i)^[a-z]$`:                                    false,
		`^[a-z]`:                                         false, // not anchored at the end
		`[a-z]$`:                                         false,
		`^a|b$`:                                          false,
		`^(ab)+$`:                                        false,
		`^[^a]$`:                                         false, // not ASCII only
		`^.$`:                                            false,
		`^é$`:                                            false,
		`^\S+$`:                                          false,
		`^[0-9]{4}(-(0[1-9]|1[0-2]))?$`:                  false,
	} {
		if got := compileBytePattern(expr) != nil; got != want {
			t.Errorf("%s: compiled %v, want %v", expr, got, want)
		}
	}
}

// TestBytePatternMatchesRegexp compares bytePattern with regexp on strings
// built to match each pattern and on mutations of them.
func TestBytePatternMatchesRegexp(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 13))
	alphabet := []rune("aAzZ09-_.:/+=@# ()~!\x7f\té😀\n")
	compiledN := 0
	for _, expr := range testPatterns(t) {
		bp := compileBytePattern(expr)
		if bp == nil {
			continue
		}
		compiledN++
		re := regexp.MustCompile(expr)
		check := func(s string) {
			if got, want := bp.match(s), re.MatchString(s); got != want {
				t.Fatalf("%s on %q: %v, regexp %v", expr, s, got, want)
			}
		}
		for range 300 {
			var b []byte
			for _, it := range bp.items {
				span := 70
				if it.max >= 0 {
					span = it.max - it.min
				}
				n := it.min + rnd.IntN(span+1)
				switch rnd.IntN(4) { // the boundaries, often
				case 0:
					n = it.min
				case 1:
					n = it.min + span
				}
				var members []byte
				for c := range 128 {
					if it.has(byte(c)) {
						members = append(members, byte(c))
					}
				}
				for range n {
					b = append(b, members[rnd.IntN(len(members))])
				}
			}
			s := string(b)
			check(s)
			r := []rune(s)
			for range 5 {
				m := slices.Clone(r)
				switch i := rnd.IntN(len(m) + 1); rnd.IntN(3) {
				case 0:
					m = slices.Insert(m, i, alphabet[rnd.IntN(len(alphabet))])
				case 1:
					if i < len(m) {
						m = slices.Delete(m, i, i+1)
					}
				case 2:
					if i < len(m) {
						m[i] = alphabet[rnd.IntN(len(alphabet))]
					}
				}
				check(string(m))
			}
		}
	}
	if compiledN < 15 {
		t.Fatalf("only %d patterns compiled", compiledN)
	}
}

// FuzzBytePattern: bytePattern answers as regexp for every pattern
// compiled.
func FuzzBytePattern(f *testing.F) {
	for _, s := range []string{"", "XA-RC", "XA-RC:2024-0001", "AAAA==", "+41 (0) 22", "h-0123456789abcdef01234567", "2024-02-29", "ab", "aab", "é"} {
		f.Add(s)
	}
	type pair struct {
		bp *bytePattern
		re *regexp.Regexp
	}
	var ps []pair
	for _, expr := range testPatterns(f) {
		if bp := compileBytePattern(expr); bp != nil {
			ps = append(ps, pair{bp, regexp.MustCompile(expr)})
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // decodeStrict refuses the document
		}
		for _, p := range ps {
			if got, want := p.bp.match(s), p.re.MatchString(s); got != want {
				t.Fatalf("%s on %q: %v, regexp %v", p.re, s, got, want)
			}
		}
	})
}

// eachFastSchema calls visit once for every schema reachable from fast.
func eachFastSchema[K comparable](fast map[K]*fastSchema, visit func(*fastSchema)) {
	seen := map[*fastSchema]bool{}
	var walk func(f *fastSchema)
	walk = func(f *fastSchema) {
		if f == nil || seen[f] {
			return
		}
		seen[f] = true
		visit(f)
		for _, c := range append([]*fastSchema{f.ref, f.not, f.ifS, f.thenS, f.elseS, f.additional, f.items}, f.allOf...) {
			walk(c)
		}
		for _, c := range f.props {
			walk(c)
		}
	}
	for _, f := range fast {
		walk(f)
	}
}

// TestMembersByPropsIsByWalk: the two ways checkObject checks an object's
// members give the same verdict, for every schema of schema v1 that has
// properties or additionalProperties and every object of the seeds and of
// their mutations (members removed, added, retyped), whichever way the
// object's size would choose.
func TestMembersByPropsIsByWalk(t *testing.T) {
	roots, err := fastSchemas()
	if err != nil {
		t.Fatal(err)
	}
	var schemas []*fastSchema
	seen := map[*fastSchema]bool{}
	var collect func(f *fastSchema)
	collect = func(f *fastSchema) {
		if f == nil || seen[f] {
			return
		}
		seen[f] = true
		if !f.unsupported && (f.props != nil || f.additionalFalse || f.additional != nil) {
			schemas = append(schemas, f)
		}
		collect(f.ref)
		for _, a := range f.allOf {
			collect(a)
		}
		collect(f.not)
		collect(f.ifS)
		collect(f.thenS)
		collect(f.elseS)
		for _, p := range f.propList {
			collect(p.s)
		}
		collect(f.additional)
		collect(f.items)
	}
	for _, k := range documentKinds() {
		collect(roots[k])
	}
	var objects func(v any, fn func(map[string]any))
	objects = func(v any, fn func(map[string]any)) {
		switch x := v.(type) {
		case map[string]any:
			fn(x)
			for _, e := range x {
				objects(e, fn)
			}
		case []any:
			for _, e := range x {
				objects(e, fn)
			}
		}
	}
	rnd := rand.New(rand.NewPCG(3, 13))
	compared, verdicts := 0, [3]int{}
	check := func(obj map[string]any) {
		for _, f := range schemas {
			byProps, byWalk := f.membersByProps(obj), f.membersByWalk(obj)
			if byProps != byWalk {
				t.Fatalf("an object with members %v: by props %d, by walk %d", slices.Sorted(maps.Keys(obj)), byProps, byWalk)
			}
			compared++
			verdicts[byWalk]++
		}
	}
	for _, doc := range fastSeeds(t) {
		v, vs := decodeStrict(doc)
		if v == nil || len(vs) != 0 {
			continue
		}
		objects(v, check)
		n := 0
		forEachMutant(v, rnd, 1, func(m any) {
			// Under the race detector, one mutant in 8 (the run is
			// slower, not the comparison different).
			if n++; !raceEnabled || n%8 == 0 {
				objects(m, check)
			}
		})
	}
	t.Logf("%d schemas, %d comparisons: %d pass, %d unsure, %d fail", len(schemas), compared, verdicts[pass], verdicts[unsure], verdicts[fail])
	if verdicts[pass] == 0 || verdicts[fail] == 0 {
		t.Fatal("the comparisons never saw both verdicts")
	}
}
