package match

import (
	"testing"

	"github.com/familylinks/flx/node/match/corpus"
)

// TestNameBoundHolds: the bound that spares comparing names in full is
// never below the weight compareNames gives, and two words whose letters
// say they cannot agree are at best fair, on every pair of persons that
// share a blocking key in a corpus (five traditions, six scripts, typing
// errors), with the word counts of an index holding them. A bound below
// the weight would drop a candidate.
func TestNameBoundHolds(t *testing.T) {
	c := corpus.Generate(corpus.Config{Seed: 16, Sought: 1500, Registered: 1500, Overlap: 0.5})
	sought, reg, _ := prepared(t, c)
	ix := NewIndex(Options{MaxBlock: 1 << 30, MaxWordBlock: 1 << 30, RefineFrom: -1})
	for _, p := range append(append([]*Person{}, reg...), sought...) {
		ix.Put(p.CaseID, []*Person{p})
	}
	sc, bsc := &scratch{}, &scratch{}
	pairs, spared, words, apart := 0, 0, 0, 0
	for _, p := range sought {
		ca := make([]int32, len(p.words))
		ix.countWords(p, ca)
		for _, s := range slicesClone(ix.candidatesLocked(p, sc)) {
			q := ix.slots[s]
			cb := make([]int32, len(q.words))
			ix.countWords(q, cb)
			pop := population{n: ix.n, ca: ca, cb: cb}
			bound := bsc.nameBound(p, q, pop)
			got := sc.compareNames(p, q, pop)
			pairs++
			if bound < got.weight-1e-9 {
				t.Fatalf("%v, %v: bound %.3f under the name weight %.3f (%s)", p.Ref, q.Ref, bound, got.weight, got.level)
			}
			if bound < got.weight+5 {
				spared++
			}
			for i := range p.tokens {
				for j := range q.tokens {
					words++
					if p.letters[i].mayAgree(&q.letters[j]) {
						continue
					}
					apart++
					g, _, _ := compareWords(&p.tokens[i], &q.tokens[j])
					if g <= agreeEdit || coarseAgree(p.coarse[i], q.coarse[j]) {
						t.Fatalf("%v, %v: words %d, %d told apart by their letters agree (%s)", p.Ref, q.Ref, i, j, g)
					}
				}
			}
		}
	}
	t.Logf("%d pairs (%d with a bound within 5 bits), %d word pairs, %d told apart by their letters", pairs, spared, words, apart)
	if pairs < 1000 || apart < words/4 {
		t.Errorf("too few pairs (%d) or word pairs told apart (%d of %d) to say anything", pairs, apart, words)
	}
}

func slicesClone(s []int32) []int32 { return append([]int32(nil), s...) }
