package match

import (
	"testing"

	"github.com/familylinks/flx/node/match/corpus"
)

// TestFatherWeightAsCompareFather: evaluate's fatherWeight gives
// compareFather's weight for every pair of a corpus sample.
func TestFatherWeightAsCompareFather(t *testing.T) {
	c := corpus.Generate(corpus.Config{Seed: 9, Sought: 400, Registered: 400, Overlap: 0.5})
	sought, reg, _ := prepared(t, c)
	ps := append(sought, reg...)
	both := 0
	for _, a := range ps {
		for _, b := range ps {
			_, want, _ := compareFather(a, b)
			if got := fatherWeight(a, b); got != want {
				t.Fatalf("%v, %v: fatherWeight %v, compareFather %v", a.Ref, b.Ref, got, want)
			}
			if len(a.father) > 0 && len(b.father) > 0 {
				both++
			}
		}
	}
	if both == 0 {
		t.Fatal("no pair with both fathers: the test proves nothing")
	}
}

func TestSameGroup(t *testing.T) {
	for _, tc := range []struct{ s1, c1, s2, c2 string }{
		{"Latn", "", "Latn", ""}, {"Latn", "", "Cyrl", ""}, {"Latn", "icao", "Latn", "bgn"}, {"Latn", "ab", "Latn", "ab"},
		{"a/b", "c", "a", "b/c"}, {"a/b", "c", "a/", "bc"}, {"", "x", "x", ""}, {"", "", "", ""}, {"/", "", "", "/"},
	} {
		want := tc.s1+"/"+tc.c1 == tc.s2+"/"+tc.c2
		if got := sameGroup(tc.s1, tc.c1, tc.s2, tc.c2); got != want {
			t.Errorf("sameGroup(%q, %q, %q, %q) = %v, want %v", tc.s1, tc.c1, tc.s2, tc.c2, got, want)
		}
	}
}
