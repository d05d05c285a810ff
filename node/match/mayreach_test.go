package match

import (
	"cmp"
	"math"
	"slices"
	"testing"

	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/internal/racetest"
	"github.com/familylinks/flx/node/match/corpus"
)

// TestNameMayReachIsNameBound: for pairs that blocking brings together,
// with the other fields' weights and the need where the decision turns
// (just below, at and just above the full sum), nameMayReach answers
// exactly as the full test w+nameBound+wf+wp >= need that it replaces,
// with the words' counts of an index and with none.
func TestNameMayReachIsNameBound(t *testing.T) {
	c := corpus.Generate(corpus.Config{Seed: 11, Sought: 600, Registered: 600, Overlap: 0.5})
	sought, reg, _ := prepared(t, c)
	ix := NewIndex(Options{})
	for _, p := range append(append([]*Person(nil), sought...), reg...) {
		ix.Put(p.CaseID, []*Person{p})
	}
	pairs, early, refused := checkNameMayReach(t, ix, sought)
	// The hot loop allocates nothing (the scratch holds its buffers).
	sc := &scratch{}
	p, q := sought[0], sought[1]
	pop := population{n: ix.n}
	if a := testing.AllocsPerRun(100, func() { sc.nameMayReach(p, q, pop, 0, 0, 0, 100) }); a != 0 {
		t.Errorf("nameMayReach allocates %.0f times per pair", a)
	}
	if pairs < 1000 || early == 0 {
		t.Fatalf("%d decisions, %d stopped early: the test compares too little", pairs, early)
	}
	t.Logf("%d decisions, %d refused, %d of them before the last part", pairs, refused, early)
}

// TestNameMayReachExchange is TestNameMayReachIsNameBound on the list
// `flx bench exchange` sends (perCaseExchange: two scripts, a dozen given
// names shared by all, family names that grow alike), where most pairs
// blocking brings together share the given name and differ in the family
// name: nameMayReach computes the family name, the rarer word, first and
// refuses them there, without the given name's bound.
func TestNameMayReachExchange(t *testing.T) {
	racetest.SkipComputation(t)
	held, queries := perCaseExchange(6000)
	ix := NewIndex(Options{})
	for _, c := range byCase(held) {
		ix.Put(c[0].CaseID, c)
	}
	pairs, early, refused := checkNameMayReach(t, ix, queries)
	t.Logf("%d decisions, %d refused, %d of them before the last part", pairs, refused, early)
	if pairs < 1000 || refused == 0 {
		t.Fatalf("%d decisions, %d refused: the test compares too little", pairs, refused)
	}
	// At the need of the default threshold, on the pairs matchLocked
	// evaluates (before the family name was computed first: 19,283 of 20,894; now 20,855).
	early, refused = 0, 0
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	sc := &scratch{}
	for _, p := range queries {
		for _, s := range append([]int32(nil), ix.candidatesLocked(p, sc)...) {
			q := ix.slots[s]
			qc, cb := make([]int32, len(p.words)), make([]int32, len(q.words))
			ix.countWords(p, qc)
			ix.countWords(q, cb)
			pop := population{n: ix.n, ca: qc, cb: cb}
			nd := need(DefaultThreshold, pop.offset())
			w, wf := otherWeight(&p.vitals, &q.vitals), fatherWeight(p, q)
			_, wp := comparePlace(p, q)
			if w+wf+wp+24 < nd {
				continue
			}
			if !sc.nameMayReach(p, q, pop, w, wf, wp, nd) {
				refused++
				if sc.stoppedEarly {
					early++
				}
			}
		}
	}
	t.Logf("at the default need: %d refused, %d of them before the last part", refused, early)
}

// checkNameMayReach compares nameMayReach with the full bound on every
// pair of queries and the persons their keys bring, at the needs where
// the decision turns, and counts the decisions, those refused, and those
// refused before the last part.
func checkNameMayReach(t *testing.T, ix *Index, queries []*Person) (pairs, early, refused int) {
	t.Helper()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	sc, ref := &scratch{}, &scratch{}
	for _, p := range queries {
		qc := make([]int32, len(p.words))
		ix.countWords(p, qc)
		for _, s := range append([]int32(nil), ix.candidatesLocked(p, sc)...) {
			q := ix.slots[s]
			cb := make([]int32, len(q.words))
			for i, id := range ix.wids[s] {
				cb[i] = ix.counts[id]
			}
			for _, pop := range []population{{n: ix.n, ca: qc, cb: cb}, {n: ix.n}} {
				w, wf, wp := otherWeight(&p.vitals, &q.vitals), fatherWeight(p, q), 0.0
				_, wp = comparePlace(p, q)
				full := w + ref.nameBound(p, q, pop) + wf + wp
				for _, nd := range []float64{math.Nextafter(full, math.Inf(-1)), full, math.Nextafter(full, math.Inf(1)),
					full - 20, full + 20, full - 1, full + 1, need(DefaultThreshold, pop.offset())} {
					pairs++
					want := w+ref.nameBound(p, q, pop)+wf+wp >= nd
					if got := sc.nameMayReach(p, q, pop, w, wf, wp, nd); got != want {
						t.Fatalf("%v ~ %v, need %v: nameMayReach %t, the full bound says %t", p.Ref, q.Ref, nd, got, want)
					}
					if !want {
						refused++
					}
					if !want && sc.stoppedEarly {
						early++
					}
				}
			}
		}
	}
	return pairs, early, refused
}

// BenchmarkEvaluateBlocked times evaluate, the test of a pair that
// blocking brought together, on every such pair of 2,000 sought persons
// against 2,000 registrations and each other, with the index's word
// counts as matchLocked passes them: the per-pair cost of matching a
// received case (most pairs are refused on the name's bound).
//
//	go test ./node/match -run '^$' -bench EvaluateBlocked -count 6
func BenchmarkEvaluateBlocked(b *testing.B) {
	c := corpus.Generate(corpus.Config{Seed: 12, Sought: 2000, Registered: 2000, Overlap: 0.5})
	sought, reg, _ := prepared(b, c)
	ix := NewIndex(Options{})
	for _, p := range append(append([]*Person(nil), sought...), reg...) {
		ix.Put(p.CaseID, []*Person{p})
	}
	type pair struct {
		a, b    *Person
		pop     population
		nameCap float64
	}
	var pairs []pair
	sc := &scratch{}
	pop := population{n: ix.n}
	needW := need(DefaultThreshold, pop.offset())
	for _, p := range sought {
		// As matchLocked: p's word caps summed heaviest first bound the
		// name, and the pairs that bound refuses are not evaluated.
		qc := make([]int32, len(p.words))
		ix.countWords(p, qc)
		caps := make([]float64, len(qc))
		for i, c := range qc {
			caps[i] = wordCap(c, pop.size())
		}
		slices.SortFunc(caps, func(x, y float64) int { return cmp.Compare(y, x) })
		for i := 1; i < len(caps); i++ {
			caps[i] += caps[i-1]
		}
		for _, s := range ix.candidatesLocked(p, sc) {
			q := ix.slots[s]
			nameCap := 0.0
			if k := min(int(p.maxWords), int(q.maxWords), len(caps)); k > 0 {
				nameCap = caps[k-1]
			}
			if otherWeight(&p.vitals, &q.vitals)+nameCap+familyCap(&p.vitals, &q.vitals) < needW {
				continue
			}
			cb := make([]int32, len(q.words))
			for i, id := range ix.wids[s] {
				cb[i] = ix.counts[id]
			}
			pairs = append(pairs, pair{p, q, population{n: ix.n, ca: qc, cb: cb}, nameCap})
		}
	}
	b.ResetTimer()
	kept := 0
	u0 := cputime.Process()
	for i := range b.N {
		pr := &pairs[i%len(pairs)]
		if _, ok := sc.evaluate(pr.a, pr.b, pr.pop, needW, pr.nameCap); ok {
			kept++
		}
	}
	// The process's CPU, less exposed than the wall clock to what else
	// the machine runs.
	b.ReportMetric(float64((cputime.Process()-u0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(len(pairs)), "pairs")
	b.ReportMetric(float64(kept)/float64(b.N), "kept/op")
}
