package policy

import (
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"mime/quotedprintable"
	"strings"
	"testing"
)

// The data-protection officer's third round: a withheld value copied in a
// form that reads the same to a person who decodes or transliterates it
// (quoted-printable as in a forwarded e-mail, hex and base32 dumps, a name
// folded to ASCII by a keyboard without its letters, a Cyrillic or Greek
// name written in Latin letters, a name written family name first or its
// parts from separate fields written together). FLX-DP-FREE-TEXT must
// find each copy; the controls must still arrive.

func qp(v string) string {
	var b strings.Builder
	w := quotedprintable.NewWriter(&b)
	fmt.Fprint(w, v)
	w.Close()
	return b.String()
}

// qpAll writes every byte of v as a quoted-printable escape.
func qpAll(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		fmt.Fprintf(&b, "=%02X", v[i])
	}
	return b.String()
}

var recodings = []writing{
	{"quoted-printable", func(v string) string { return qp("Subject: " + v + " is where they live") }},
	{"quoted-printable, every byte", func(v string) string { return qpAll(v) }},
	{"quoted-printable, soft line break inside", func(v string) string {
		r := []rune(v)
		return "at " + string(r[:len(r)/2]) + "=\r\n" + string(r[len(r)/2:])
	}},
	{"hex, lower case", func(v string) string { return "dump " + hex.EncodeToString([]byte("at: "+v)) }},
	{"hex, upper case", func(v string) string { return strings.ToUpper(hex.EncodeToString([]byte("x" + v))) }},
	{"hex, \\x escapes", func(v string) string {
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			fmt.Fprintf(&b, "\\x%02x", v[i])
		}
		return "bytes " + b.String()
	}},
	{"hex, spaced pairs", func(v string) string {
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			fmt.Fprintf(&b, "%02x ", v[i])
		}
		return "hexdump: " + b.String()
	}},
	{"base32 of a sentence", func(v string) string { return base32.StdEncoding.EncodeToString([]byte("at: " + v + ".")) }},
	{"base32 at offset 3, no padding", func(v string) string {
		return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("abc" + v))
	}},
	{"hyphens for spaces (a link's slug)", func(v string) string {
		return "https://maps.example/place/" + strings.ReplaceAll(v, " ", "-")
	}},
	{"underscores for spaces (a file name)", func(v string) string { return "scan_" + strings.ReplaceAll(v, " ", "_") + ".pdf" }},
	{"letters spaced out", func(v string) string { return interleave(v, " ") }},
	{"letters dotted, spaces dropped", func(v string) string { return interleave(strings.ReplaceAll(v, " ", ""), ".") }},
	{"base32hex, lower case", func(v string) string {
		return strings.ToLower(base32.HexEncoding.EncodeToString([]byte("a " + v)))
	}},
}

// TestFreeTextFindsRecodedCopies: as TestFreeTextFindsEncodedCopies, with
// the encodings a mail client, a debugger or a hex dump writes.
func TestFreeTextFindsRecodedCopies(t *testing.T) {
	mustDenyCopies(t, refusedCase(t), []string{"7 Hidden Street", "karo.sampleyan@example.org", "Ḱaro Ŝampleyan Ünïcode", "+999 555 2222"}, recodings,
		"We are all well: "+qp("Grüße aus 12 Open Avenue")+" "+hex.EncodeToString([]byte("12 Open Avenue"))+" "+base32.StdEncoding.EncodeToString([]byte("12 Open Avenue")),
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "deadbeefcafe0123456789", "=3D=20", "sha256 "+strings.Repeat("b", 64))
}

// TestFreeTextFindsTransliteratedNames: the sought person declined
// contact; their names are withheld. A note in the case copies one written
// another way: folded to ASCII, in Latin letters for a Cyrillic or Greek
// name, family name first, or the given and family names (each in a field
// of its own, too short to look for alone) written together. The note must
// not leave; an unrelated note must.
func TestFreeTextFindsTransliteratedNames(t *testing.T) {
	rules, err := Default("XA-RC", "XA")
	if err != nil {
		t.Fatal(err)
	}
	e := New(rules)
	cases := []struct {
		names []any
		copy  string
	}{
		{[]any{map[string]any{"value": "Carla Keeperova"}}, "Carla Keeperova"}, // as written (caught before too)
		{[]any{map[string]any{"value": "Łukasz Wałęsa"}}, "Lukasz Walesa"},
		{[]any{map[string]any{"value": "Søren Kierkegård"}}, "Soren Kierkegard"},
		{[]any{map[string]any{"value": "Đorđe Weißmüller"}}, "Djordje Weissmuller"},
		{[]any{map[string]any{"value": "Đorđe Weißmüller"}}, "Dorde Weissmuller"},
		{[]any{map[string]any{"value": "Đorđe Weißmüller"}}, "Djordje Weissmueller"},
		{[]any{map[string]any{"value": "Ægir Þórsson"}}, "Aegir Thorsson"},
		{[]any{map[string]any{"value": "Kırsten Yılmaz"}}, "Kirsten Yilmaz"},
		{[]any{map[string]any{"value": "Иван Петров", "script": "Cyrl"}}, "Ivan Petrov"},
		{[]any{map[string]any{"value": "Юлия Хрущёва", "script": "Cyrl"}}, "Yuliya Khrushcheva"},
		{[]any{map[string]any{"value": "Юлия Хрущёва", "script": "Cyrl"}}, "Iuliia Khrushcheva"},
		{[]any{map[string]any{"value": "Олександр Ющенко", "script": "Cyrl", "lang": "uk"}}, "Oleksandr Yushchenko"},
		{[]any{map[string]any{"value": "Γιώργος Παπαδόπουλος", "script": "Grek"}}, "Giorgos Papadopoulos"},
		{[]any{map[string]any{"value": "Karo Sampleyan"}}, "SAMPLEYAN Karo"},
		{[]any{map[string]any{"value": "Karo Sampleyan"}}, "Sampleyan, Karo"},
		{[]any{map[string]any{"value": "Li", "part": "given"}, map[string]any{"value": "Wei", "part": "family"}}, "Li Wei"},
		{[]any{map[string]any{"value": "Li", "part": "given"}, map[string]any{"value": "Wei", "part": "family"}}, "WEI Li"},
	}
	for _, c := range cases {
		cs := carerCase(t, c.names)
		if d, _ := newsPasses(t, e, cs, "The boy is well and goes to school."); !d.Allowed() {
			t.Fatalf("control for %v: %s", c.names, describe(d))
		}
		if d, out := newsPasses(t, e, cs, "The boy lives with "+c.copy+" now."); d.Allowed() {
			t.Errorf("names %v copied as %q: %s, sent %s", c.names, c.copy, d.Effect, trunc(out))
		}
	}
}

// carerCase is the sample case whose child p2 is unaccompanied, with a
// carer p3 of these names and a family link not verified: the carer's
// names are withheld, and family news about the case (its body required)
// is denied when it repeats them.
func carerCase(t testing.TB, names []any) []byte {
	return caseWith(t, func(m map[string]any) {
		personAt(m, 1)["vulnerabilities"] = j(t, `["unaccompanied_minor"]`)
		personAt(m, 1)["birth_date"] = "2015"
		m["best_interest_assessment"] = j(t, `{"done_at":"2024-01-11T09:00:00Z"}`)
		m["persons"] = append(list(m["persons"]), map[string]any{"id": "p3", "roles": []any{"caregiver"}, "names": names})
		m["relationships"] = j(t, `[{"from":"p1","to":"p2","type":"sister","verified":false},{"from":"p3","to":"p2","type":"caregiver","verified":true}]`)
	})
}
