package match

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/xrash/smetrics"
)

// TestJaroWinklerAgrees: the allocation-free Jaro-Winkler gives exactly
// what the library gives, on random words of a small alphabet (many
// matches and transpositions) and on the edge cases.
func TestJaroWinklerAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte("abcdhimnu"[r.IntN(9)])
		}
		return b.String()
	}
	cases := [][2]string{{"", ""}, {"a", ""}, {"", "a"}, {"a", "a"}, {"ab", "ba"}, {"martha", "marhta"}, {"dixon", "dicksonx"},
		{strings.Repeat("ab", 40), strings.Repeat("ba", 40)}, {strings.Repeat("a", 64), strings.Repeat("a", 63) + "b"}}
	for range 20000 {
		cases = append(cases, [2]string{word(r.IntN(12)), word(r.IntN(12))})
	}
	for range 200 {
		cases = append(cases, [2]string{word(50 + r.IntN(30)), word(50 + r.IntN(30))})
	}
	for _, c := range cases {
		want := smetrics.JaroWinkler(c[0], c[1], 0.7, 4)
		if got := jaroWinkler(c[0], c[1]); got != want {
			t.Fatalf("jaroWinkler(%q, %q) = %v, smetrics %v", c[0], c[1], got, want)
		}
	}
}

func FuzzJaroWinkler(f *testing.F) {
	f.Add("martha", "marhta")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := jaroWinkler(a, b), smetrics.JaroWinkler(a, b, 0.7, 4); got != want {
			t.Fatalf("jaroWinkler(%q, %q) = %v, smetrics %v", a, b, got, want)
		}
	})
}

func BenchmarkJaroWinkler(b *testing.B) {
	for range b.N {
		jaroWinkler("uvanisian", "uvanasian")
	}
}

func BenchmarkJaroWinklerSmetrics(b *testing.B) {
	for range b.N {
		smetrics.JaroWinkler("uvanisian", "uvanasian", 0.7, 4)
	}
}
