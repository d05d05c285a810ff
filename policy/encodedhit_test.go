package policy

import (
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// encodedForms returns the base64 forms of the values added to t.
func (t *taintSet) encodedForms() []string {
	var out []string
	start := 0
	for _, end := range t.encEnds {
		out = append(out, string(t.encBuf[start:end]))
		start = end
	}
	return out
}

// encodedHitPlain is encodedHit written out: each base64 form of
// minEncoded characters or more looked for with strings.Contains.
func encodedHitPlain(t *taintSet, s string) bool {
	for _, e := range t.encodedForms() {
		if len(e) >= minEncoded && strings.Contains(s, e) {
			return true
		}
	}
	return false
}

// TestEncodedHitAgrees: encodedHit (one pass, its forms behind a filter
// of their first four bytes) finds a withheld value in base64 in exactly
// the texts where strings.Contains of some form does, on generated values
// in several scripts and generated texts: the values' encodings (in every
// alphabet, padded or not, between other text, cut at either end, a byte
// changed), other encodings and plain text; with values added between
// searches (the filter grows with the forms).
func TestEncodedHitAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 2026))
	scripts := [][]rune{
		[]rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-+/_"),
		[]rune("абвгдежзийклмнопрстуфхцчшщыэюяЁё "),
		[]rune("ابتثجحخدذرزسشصضطظعغفقكلمنهوي٠١٢٣٤٥٦٧٨٩ "),
		[]rune("αβγδεζηθικλμνξοπρστυφχψω "),
		[]rune("éèêëüöäßçñøåłżśćńŁ "),
		[]rune("東京都新宿区西新宿二丁目八番一号 "),
		[]rune("\u0301\u200b\u00ad\t\n%&;=\\\"'"),
	}
	word := func(n int) string {
		var b strings.Builder
		sc := scripts[rng.IntN(len(scripts))]
		for range n {
			if rng.IntN(5) == 0 {
				sc = scripts[rng.IntN(len(scripts))]
			}
			b.WriteRune(sc[rng.IntN(len(sc))])
		}
		return b.String()
	}
	encs := []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}
	hits, texts := 0, 0
	for round := 0; round < 300; round++ {
		var ts taintSet
		var values []string
		for range 1 + rng.IntN(12) {
			v := word(4 + rng.IntN(20))
			if rng.IntN(3) == 0 {
				v = norm.NFD.String(v)
			}
			ts.add(v)
			values = append(values, v)
			for range 30 {
				var s string
				v := values[rng.IntN(len(values))]
				switch rng.IntN(6) {
				case 0:
					s = word(rng.IntN(80))
				case 1:
					s = encs[rng.IntN(len(encs))].EncodeToString([]byte(word(rng.IntN(40))))
				default:
					text := word(rng.IntN(4)) + v + word(rng.IntN(4))
					if rng.IntN(2) == 0 {
						text = norm.NFC.String(text)
					}
					s = encs[rng.IntN(len(encs))].EncodeToString([]byte(text))
					if len(s) > 0 && rng.IntN(3) == 0 { // cut at either end
						i, j := rng.IntN(len(s)/3+1), len(s)-rng.IntN(len(s)/3+1)
						s = s[i:max(i, j)]
					}
					if len(s) > 0 && rng.IntN(4) == 0 { // a byte changed
						b := []byte(s)
						b[rng.IntN(len(b))] = "AZaz09+/-_="[rng.IntN(11)]
						s = string(b)
					}
					s = word(rng.IntN(10)) + s + word(rng.IntN(10))
				}
				want := encodedHitPlain(&ts, s)
				if got := ts.encodedHit(s); got != want {
					t.Fatalf("values %q, text %q: encodedHit %t, the forms found by strings.Contains %t", values, s, got, want)
				}
				texts++
				if want {
					hits++
				}
			}
		}
	}
	// Both answers, often: the comparison is not of texts that hold nothing.
	if hits < texts/5 || hits > texts*4/5 {
		t.Fatalf("%d texts of %d hold a value in base64: the generator tests too little", hits, texts)
	}
	t.Logf("%d texts, %d hold a value in base64", texts, hits)
}
