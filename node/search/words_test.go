package search

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/familylinks/flx/node/names"
)

// wordsBefore is Words as it was before its fast path for ASCII: the
// reference the fast path must agree with.
func wordsBefore(s string) []string {
	if s == "" {
		return nil
	}
	var f []string
	for _, run := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) }) {
		if isDigits(run) {
			f = append(f, run)
			continue
		}
		f = append(f, strings.FieldsFunc(names.Latin(run), func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
		})...)
	}
	var out []string
	for _, w := range f {
		if len(w) < 2 {
			continue
		}
		if len(w) > maxWordLen {
			w = w[:maxWordLen]
		}
		out = append(out, w)
	}
	return out
}

var wordPieces = []string{"a", "Ab", "cd", "KAR", "77", "-", " ", "'", "é", "Ж", "محمد", "١٢", "x", "Rue", "0", "\u0301", "\xff", "ß", "İ", "ǅ", "Ωmega", "Київ"}

func TestWordsAsBefore(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for i := range 20000 {
		var b strings.Builder
		n := 1 + r.IntN(12)
		if i%500 == 0 {
			n = 1500 // past what names.Latin reads
		}
		for range n {
			b.WriteString(wordPieces[r.IntN(len(wordPieces))])
		}
		s := b.String()
		if got, want := Words(s), wordsBefore(s); !slices.Equal(got, want) {
			t.Fatalf("Words(%q) = %q, want %q", s, got, want)
		}
	}
	long := strings.Repeat("ab1", 1000)
	if got, want := Words(long), wordsBefore(long); !slices.Equal(got, want) {
		t.Fatalf("long run: %d words, want %d", len(got), len(want))
	}
}

func FuzzWords(f *testing.F) {
	for _, s := range wordPieces {
		f.Add(s + " " + s + "1" + s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Words(s), wordsBefore(s); !slices.Equal(got, want) {
			t.Fatalf("Words(%q) = %q, want %q", s, got, want)
		}
	})
}

// TestKeySetAsBefore: the keys kept are those a set that stops taking keys
// at maxKeysPerCase distinct kept, sorted, with repeats and past the cap.
func TestKeySetAsBefore(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	for _, n := range []int{0, 1, 10, 3999, 4000, 4001, 5000, 12000} {
		for _, distinct := range []int{1, 50, 4000, 4001, 9000} {
			var k keySet
			set := map[string]bool{}
			for range n {
				key := "w_" + strings.Repeat("k", 1+r.IntN(3)) + string(rune('a'+r.IntN(26))) + string(rune('0'+r.IntN(10))) + strings.Repeat("z", r.IntN(max(distinct/260, 1)))
				k.add(key, "")
				if len(set) < maxKeysPerCase {
					set[key] = true
				}
			}
			want := make([]string, 0, len(set))
			for key := range set {
				want = append(want, key)
			}
			slices.Sort(want)
			if got := k.sorted(); !slices.Equal(got, want) {
				t.Fatalf("n %d distinct %d: %d keys, want %d", n, distinct, len(got), len(want))
			}
		}
	}
}

func TestYearKeys(t *testing.T) {
	for _, y := range []int{-5, 0, 1, 9, 10, 99, 100, 999, 1000, 1961, 9999, 10000, 123456} {
		want := prefixBirthYear + fmt.Sprintf("%04d", y)
		if got := yearKey(y); got != want {
			t.Errorf("yearKey(%d) = %q, want %q", y, got, want)
		}
		if y >= 1 && y <= 9999 {
			var k keySet
			k.addYear(y)
			if got := string(k.key(k.spans[0])); got != want {
				t.Errorf("addYear(%d) = %q, want %q", y, got, want)
			}
		}
	}
}
