package policy

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/familylinks/flx/schema"
)

// FuzzEvaluate feeds random, valid-looking documents (seeded with every
// schema example) to the engine, with and without schema validation, for
// every envelope kind and several destinations. It asserts that evaluation
// never panics (the engine turns a panic into a deny; that is reported
// here as a bug) and always fails closed: an error or a deny means no
// output; any output validates against schema v1 and every redaction
// pointer exists in the input.
func FuzzEvaluate(f *testing.F) {
	for i, ex := range schema.Examples() {
		f.Add(ex.Doc, uint8(i), uint8(i))
	}
	f.Add([]byte(baseCase), uint8(0), uint8(3))
	f.Add([]byte(`{}`), uint8(1), uint8(1))
	f.Add([]byte(`{"schema":"flx/v1/case","persons":[{"id":7,"sensitive":[]}],"consents":"x"}`), uint8(2), uint8(2))

	rules := []*Rules{sampleRules(f), rulesWith(f, permissive)}
	dsts := []Destination{dstXB, dstXD, dstCTA, dstAuth, {Member: "XQ-RC"}}
	f.Fuzz(func(t *testing.T, doc []byte, sel, which uint8) {
		kind := allKinds[int(sel)%len(allKinds)]
		dst := dsts[int(which)%len(dsts)]
		r := rules[int(sel/8)%len(rules)]
		for _, validate := range []bool{true, false} {
			var e *Engine
			if validate {
				e = New(r)
			} else {
				e = New(r, WithValidator(nil))
			}
			opts := facts(doc)
			if sel&16 != 0 {
				opts = append(opts, WithCase(doc)) // the fuzzed bytes as the case too
			}
			d, out := e.Apply(context.Background(), doc, kind, dst, testNow, opts...)
			for _, fr := range d.Fired {
				if strings.Contains(fr.Reason, "internal error") {
					t.Fatalf("engine panicked: %s", fr.Reason)
				}
			}
			if d.Error != "" && d.Effect != Deny {
				t.Fatalf("error %q but effect %s", d.Error, d.Effect)
			}
			if d.Effect == Deny && out != nil {
				t.Fatalf("deny with output")
			}
			if d.Effect != Deny && out == nil {
				t.Fatalf("%s without output", d.Effect)
			}
			if d.PolicyHash != r.Hash {
				t.Fatalf("decision does not name the policy")
			}
			if d.Effect == Deny {
				continue
			}
			if validate {
				dk, _ := schema.KindForEnvelope(kind)
				if err := schema.Validate(dk, out); err != nil {
					t.Fatalf("output of %s does not validate: %v", d.Effect, err)
				}
			}
			in, err := decodeObject(doc)
			if err != nil {
				t.Fatalf("non-deny decision on undecodable input")
			}
			for _, p := range d.Redactions {
				if !exists(in, p) {
					t.Fatalf("redaction %s not in the input", p)
				}
			}
		}
	})
}

// FuzzEvaluateGenerated builds a valid random case (randomCase, from seed)
// and then applies edits chosen by the fuzzer — deleting members, changing a
// value's type, emptying strings and lists — so the rules meet documents
// that look right but are not, with schema validation off and on.
func FuzzEvaluateGenerated(f *testing.F) {
	f.Add(uint64(1), []byte{}, uint8(0))
	f.Add(uint64(2), []byte{0, 3, 1, 7, 2, 9}, uint8(1))
	f.Add(uint64(3), []byte{1, 1, 1, 2, 1, 3, 1, 4}, uint8(2))
	rules := []*Rules{sampleRules(f), rulesWith(f, permissive), rulesWith(f, "")}
	dsts := []Destination{dstXB, dstXD, dstCTA, dstAuth, dstDel}
	f.Fuzz(func(t *testing.T, seed uint64, edits []byte, which uint8) {
		rng := rand.New(rand.NewPCG(seed, seed>>1|1))
		doc := randomCase(rng)
		m, err := decodeObject(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(edits) && i < 64; i += 2 {
			editTree(m, edits[i], edits[i+1])
		}
		doc, _ = json.Marshal(m)
		r := rules[int(which)%len(rules)]
		dst := dsts[int(which/4)%len(dsts)]
		for _, e := range []*Engine{New(r, WithValidator(nil)), New(r)} {
			d, out := e.Apply(context.Background(), doc, "case.update", dst, testNow, facts(doc)...)
			for _, fr := range d.Fired {
				if strings.Contains(fr.Reason, "internal error") {
					t.Fatalf("engine panicked: %s\n%s", fr.Reason, doc)
				}
			}
			if (d.Effect == Deny) != (out == nil) || (d.Error != "" && d.Effect != Deny) {
				t.Fatalf("not fail-closed: %s", describe(d))
			}
			// The edited case as the context of a message and a response.
			id, _ := m["case_id"].(string)
			for kind, about := range map[string]string{
				"message.deliver": `{"schema":"flx/v1/message","message_id":"XC-RC:m-1","case_id":` + strconv.Quote(id) + `,"kind":"family_news","channel":"rcm","created_at":"2025-05-01T00:00:00Z","body":"We are well.","from":{"person":"p1","address":{"locality":"Here"}},"to":{"person":"p2"}}`,
				"case.response":   `{"schema":"flx/v1/response","case_id":` + strconv.Quote(id) + `,"responder":"XC-RC","outcome":"located","responded_at":"2025-05-01T00:00:00Z","sought_person":"p2","location":{"locality":"There"},"message":"Fine."}`,
			} {
				d, out := e.Apply(context.Background(), []byte(about), kind, dst, testNow, WithCase(doc))
				for _, fr := range d.Fired {
					if strings.Contains(fr.Reason, "internal error") {
						t.Fatalf("engine panicked on a %s: %s\n%s", kind, fr.Reason, doc)
					}
				}
				if (d.Effect == Deny) != (out == nil) || (d.Error != "" && d.Effect != Deny) {
					t.Fatalf("%s not fail-closed: %s", kind, describe(d))
				}
			}
		}
	})
}

// editTree applies one edit to a random node of a generic JSON tree.
func editTree(root map[string]any, op, sel byte) {
	// Collect containers with their keys.
	type slot struct {
		obj map[string]any
		arr []any
		key string
		idx int
	}
	var slots []slot
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys) // map order is random; the fuzzer needs determinism
			for _, k := range keys {
				slots = append(slots, slot{obj: x, key: k})
				walk(x[k])
			}
		case []any:
			for i, e := range x {
				slots = append(slots, slot{arr: x, idx: i})
				walk(e)
			}
		}
	}
	walk(root)
	if len(slots) == 0 {
		return
	}
	s := slots[int(sel)%len(slots)]
	replacements := []any{nil, "", json.Number("-1"), json.Number("1e400"), true, []any{}, map[string]any{}, []any{"x", json.Number("2")}, "2015", "XD", "refused", "unaccompanied_minor"}
	set := func(v any) {
		if s.obj != nil {
			s.obj[s.key] = v
		} else {
			s.arr[s.idx] = v
		}
	}
	switch op % 3 {
	case 0:
		if s.obj != nil {
			delete(s.obj, s.key)
		} else {
			set(nil)
		}
	default:
		set(replacements[int(op/3)%len(replacements)])
	}
}

// FuzzNormText: the one-pass ASCII normalisation is exactly the general
// one (NFKD, marks and format characters dropped, lower case, homoglyphs,
// whitespace runs collapsed) for every ASCII string, and declines the rest.
func FuzzNormText(f *testing.F) {
	for _, s := range []string{"", " ", "Abc  DEF\t\n x ", "a\vb\fc\rd", "\x00\x1f\x7f", "7 Hidden Street", "ÄÖ", "x\u00a0y", "  lead", "trail  ",
		"Ｆｕｌｌ\u3000ｗｉｄｔｈ", "+٩٩٩ ۵۵۵ २२२२ ৭٫৫، ٣٬٠٠٠؛ 𝟎𝟗 ๑๒", "ﬁle Straße İstanbul ǅ", "Kаrо\u200b Sаmрlеуаn\u00ad", "\u2028x\u0085y\u1680", "\xff\xfe bad", "Ѐ́ й ё", "ул. Пробная", "Łukasz Søren Weißmüller Þór Kırsten ẞ Œ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := normASCII(s)
		ascii := true
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				ascii = false
			}
		}
		if ok != ascii {
			t.Fatalf("normASCII(%q) ok = %t, ASCII %t", s, ok, ascii)
		}
		if slow, want := normTextSlow(s), normTextRef(s); slow != want {
			t.Fatalf("normTextSlow(%q) = %q, the definition %q", s, slow, want)
		}
		if !ok {
			if b, ok := appendNormASCII([]byte("x"), s); ok || string(b) != "x" {
				t.Fatalf("appendNormASCII(%q) = %q, %t for a string that is not ASCII", s, b, ok)
			}
			return
		}
		if want := normTextRef(s); got != want {
			t.Fatalf("normASCII(%q) = %q, the definition %q", s, got, want)
		}
		// Appended after what a reused buffer holds, it is the same.
		if b, ok := appendNormASCII([]byte("x "), s); !ok || string(b[2:]) != got {
			t.Fatalf("appendNormASCII(%q) = %q, %t; normASCII %q", s, b[2:], ok, got)
		}
	})
}

// normTextRef is normText as first written, step by step: the definition
// the fast paths are held to.
func normTextRef(s string) string {
	s = norm.NFKD.String(s)
	var b strings.Builder
	for _, r := range s {
		if unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		r = unicode.ToLower(r)
		if l, ok := homoglyphs[r]; ok {
			r = l
		}
		r = refDigit(r)
		if f, ok := latinFold[r]; ok {
			b.WriteString(f)
			continue
		}
		b.WriteRune(r)
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// refDigit is asciiDigit as defined: a decimal digit of any script is the
// ASCII digit of its place in its script's run of ten (counted back to the
// run's zero); the Arabic separators, comma and semicolon are ASCII ones.
func refDigit(r rune) rune {
	switch r {
	case '\u066b':
		return '.'
	case '\u066c', '\u060c':
		return ','
	case '\u061b':
		return ';'
	}
	if r < 0x80 || !unicode.IsDigit(r) {
		return r
	}
	k := rune(0)
	for unicode.IsDigit(r - k - 1) {
		k++
	}
	return '0' + k%10
}

// FuzzAppendJSON: the document encoder writes exactly what encode
// (encoding/json, HTML escaping off) writes, for any decoded document and
// any string (control characters, invalid UTF-8, U+2028/U+2029).
func FuzzAppendJSON(f *testing.F) {
	for _, ex := range schema.Examples() {
		f.Add(ex.Doc)
	}
	f.Add([]byte(`{"a":"\u0000\u001f\b\f\n\r\t\"\\<>&\u2028\u2029","b":[1,-0.5e+7,null,true,{}],"c":{},"d":[]}`))
	f.Add([]byte("\"\xff\xfe x \xe2\x80\xa8\""))
	f.Fuzz(func(t *testing.T, doc []byte) {
		var keys []member
		s := string(doc)
		want, err := encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("string %q: got %s, encoding/json %s", s, got, want)
		}
		trees := []any{}
		if m, err := decodeObject(doc); err == nil {
			trees = append(trees, m)
		}
		if m, err := schema.DecodeValidatedObject(doc); err == nil {
			trees = append(trees, m)
		}
		for _, tr := range trees {
			want, werr := encode(tr)
			got, ok := appendJSON(nil, tr, &keys)
			if !ok {
				if werr == nil {
					t.Fatalf("appendJSON declined what encoding/json writes: %s", want)
				}
				continue
			}
			if werr != nil || string(got) != string(want) {
				t.Fatalf("appendJSON wrote %s, encoding/json %s (%v)", got, want, werr)
			}
			if len(keys) != 0 {
				t.Fatalf("key stack left with %d names", len(keys))
			}
		}
	})
}

// FuzzTaintable: the value classes written out match their regular
// expressions exactly.
func FuzzTaintable(f *testing.F) {
	for _, s := range []string{"", "a", "abc_def-1", "2024", "2024-01", "2024-01-02", "2024-01-02T10:00:00Z", "2024-01-02T10:00:00.5+01:00",
		"2024-01-02T", "2024-01-02T1-", "2024-01-02Tx", "XA-RC", "X", "XA", "image/jpeg", "image/", "/x", "a/b.c+d-e", "A/b", "2024-1-02",
		strings.Repeat("a", 32), strings.Repeat("a", 33), strings.Repeat("A", 32), strings.Repeat("A", 33), "ab\n", "XA\n", "2024\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []struct {
			name string
			got  bool
			re   *regexp.Regexp
		}{
			{"tokenValue", tokenValue(s), reTokenValue},
			{"dateValue", dateValue(s), reDateValue},
			{"memberValue", memberValue(s), reMemberValue},
			{"mediaType", mediaType(s), reMediaType},
		} {
			if want := c.re.MatchString(s); c.got != want {
				t.Fatalf("%s(%q) = %t, %s says %t", c.name, s, c.got, c.re, want)
			}
		}
	})
}

// FuzzBase64Forms: the base64 forms of a withheld value looked for find
// every text that holds any of its four forms (standard or URL alphabet,
// padded or not) and every encoding of a text that holds the value,
// whatever comes before and after it, when the value has 5 bytes or more.
func FuzzBase64Forms(f *testing.F) {
	for _, v := range []string{"7 Hidden Street", "abcd", "ab?>~~", "Soughtown", "ул. Пробная"} {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			f.Add(v, "note: "+enc.EncodeToString([]byte(v))+"=x", "", "")
			f.Add(v, "", "at: ", ".")
			f.Add(v, "", "at:: ", "!?")
		}
	}
	f.Fuzz(func(t *testing.T, v, s, before, after string) {
		if !taintable(v) {
			return
		}
		var ts taintSet
		ts.add(v)
		found := func(s string) bool {
			for _, e := range ts.encodedForms() {
				if len(e) >= 6 && strings.Contains(s, e) {
					return true
				}
			}
			return false
		}
		if got, want := ts.encodedHit(s), found(s); got != want {
			t.Fatalf("value %q in %q: encodedHit %t, the forms found by strings.Contains %t", v, s, got, want)
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if e := enc.EncodeToString([]byte(v)); len(e) >= 6 && strings.Contains(s, e) && !found(s) {
				t.Fatalf("value %q in %q: not found", v, s)
			}
			if e := enc.EncodeToString([]byte(before + v + after)); len(v) >= 5 && !found(e) {
				t.Fatalf("value %q encoded between %q and %q (%s): not found", v, before, after, e)
			}
		}
	})
}

// FuzzPercentDecoded: a withheld value percent-encoded (as a query or a
// path escapes it), anywhere in a text, is found.
func FuzzPercentDecoded(f *testing.F) {
	f.Add("7 Hidden Street", "https://maps.example/?q=", "&z=1", true)
	f.Add("ул. Пробная 5", "see ", "", false)
	f.Fuzz(func(t *testing.T, v, before, after string, query bool) {
		if !taintable(v) || !utf8.ValidString(v) {
			return
		}
		var ts taintSet
		ts.add(v)
		e := url.PathEscape(v)
		if query {
			e = url.QueryEscape(v)
		}
		if s := before + " " + e + " " + after; !ts.hit(s) {
			t.Fatalf("value %q percent-encoded in %q: not found", v, s)
		}
	})
}

// FuzzJSONUnescaped: text written with JSON escapes (every rune as \uXXXX,
// a surrogate pair above U+FFFF, or as encoding/json writes it) reads back
// as written; jsonUnescaped never panics on any input.
func FuzzJSONUnescaped(f *testing.F) {
	f.Add("7 Hidden Street", "")
	f.Add("Ḱaro 𝔘nicode \"q\" \\ /", "\\u12")
	f.Fuzz(func(t *testing.T, v, junk string) {
		_ = jsonUnescaped(junk)
		_ = jsonUnescaped(v + junk)
		if !utf8.ValidString(v) {
			return
		}
		var b strings.Builder
		for _, r := range v {
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(&b, "\\u%04x\\u%04X", r1, r2)
			} else {
				fmt.Fprintf(&b, "\\u%04x", r)
			}
		}
		if got := jsonUnescaped(b.String()); got != v {
			t.Fatalf("%q escaped as %q reads %q", v, b.String(), got)
		}
		q, _ := json.Marshal(v)
		if got := jsonUnescaped(string(q[1 : len(q)-1])); normText(got) != normText(strings.NewReplacer("\n", " ", "\t", " ", "\r", " ", "\b", " ", "\f", " ").Replace(v)) {
			t.Fatalf("%q marshalled as %s reads %q", v, q, got)
		}
	})
}

// FuzzRecoded: the quoted-printable, hex and base32 readers of free text
// take any string without failing, and read back what their encoders
// write: quoted-printable exactly, the bytes of a hex dump (plain, spaced,
// \x-escaped, upper case) and of base32 (either alphabet, either case)
// among what they return.
func FuzzRecoded(f *testing.F) {
	for _, s := range []string{"", "=", "=4", "=\r\n", "=C3=A9 x=\nyz", "\\x", "0x", "\\x4", "2026-11-02T09:30:00Z", "61 62 63 64", "MFRGGZDFMZTWQ2LK", "c4g3e828d5i68pbe", "7 Hidden Street", "Ḱaro"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		qpDecoded(s)
		hexDecoded(nil, s)
		base32Decoded(nil, s)
		if len(s) < minDecoded {
			return
		}
		// The writer turns line breaks into CRLF: not compared.
		if q := qp(s); !strings.ContainsAny(s, "\r\n") {
			if got, ok := qpDecoded(q); ok && got != s || !ok && q != s {
				t.Fatalf("qpDecoded(%q) = %q, %t; written from %q", q, got, ok, s)
			}
		}
		h := hex.EncodeToString([]byte(s))
		var spaced, escaped strings.Builder
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&spaced, "%02x ", s[i])
			fmt.Fprintf(&escaped, "\\x%02X", s[i])
		}
		for _, form := range []string{"at " + h, strings.ToUpper(h), spaced.String(), escaped.String()} {
			if got, ok := hexDecoded(nil, form); !ok || !bytes.Contains(got, []byte(s)) {
				t.Fatalf("hexDecoded(%q) = %q, %t: not %q", form, got, ok, s)
			}
		}
		if len(s) < 10 {
			return // shorter base32 runs are read only with a digit or padding
		}
		for _, form := range []string{base32.StdEncoding.EncodeToString([]byte(s)), strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte(s)))} {
			if got, ok := base32Decoded(nil, "x "+form+"."); !ok || !bytes.Contains(got, []byte(s)) {
				t.Fatalf("base32Decoded(%q) = %q, %t: not %q", form, got, ok, s)
			}
		}
	})
}

// FuzzNameKeys: the phonetic keys of names (arabic.go) take any string,
// and a name that has a key is found by it in itself and inside a sentence
// in English or Arabic, its Latin letters in either case.
func FuzzNameKeys(f *testing.F) {
	for _, s := range []string{"", "Yusuf Abd al-Karim Haddad", "يوسف عبد الكريم حداد", "Ja'far l'Ahmed's", "abdelkarim nasreldin", "عبدالرحمن ناصرالدين",
		"ʿAbd al-Raḥmān", "x1 ٣٤ Юлия", "al", "ـــ", "Mohammed Ali"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var k nameKeys
		n := normText(s)
		k.add(n)
		if len(k.ends) == 0 {
			k.hit(n)
			return
		}
		for _, text := range []string{s, "We saw " + s + " today.", "رأينا " + s + " اليوم", strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' {
				return r - 'a' + 'A'
			}
			return r
		}, s)} {
			if !k.hit(normText(text)) {
				t.Fatalf("name %q (key %q) not found in %q", s, k.buf[:k.ends[0]], text)
			}
		}
	})
}

// FuzzSquash: squash reads a string and its bytes alike, keeping exactly
// the ASCII lower-case letters and digits and the other letters and
// digits (what squashedHit looks for).
func FuzzSquash(f *testing.F) {
	for _, s := range []string{"", "7 Hidden-Street", "Ḱaro Ŝampleyan", "يوسف حداد", "\xff\xfe x", "ab\u0301c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, b := squash(nil, s), squash(nil, []byte(s))
		var want []byte
		for i, r := range s {
			switch {
			case r < utf8.RuneSelf:
				if lowerByte(byte(r)) || digitByte(byte(r)) {
					want = append(want, byte(r))
				}
			case unicode.IsLetter(r) || unicode.IsDigit(r):
				_, size := utf8.DecodeRuneInString(s[i:])
				want = append(want, s[i:i+size]...)
			}
		}
		if !bytes.Equal(a, b) || !bytes.Equal(a, want) {
			t.Fatalf("squash(%q) = %q (string), %q (bytes), want %q", s, a, b, want)
		}
	})
}
