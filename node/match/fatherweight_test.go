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
