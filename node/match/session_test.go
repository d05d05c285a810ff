package match

import (
	"reflect"
	"testing"

	"github.com/familylinks/flx/node/internal/racetest"
	"github.com/familylinks/flx/node/match/corpus"
)

// TestSessionMatchesAsMatch: a Session gives, for every person, exactly
// what Match gives on the same index (same candidates, scores and
// evidence, same order), with sought persons matched against sought ones
// too, and starts over when the index changes.
func TestSessionMatchesAsMatch(t *testing.T) {
	racetest.SkipComputation(t)
	c := corpus.Generate(corpus.Config{Seed: 21, Sought: 1500, Registered: 1500, Overlap: 0.5})
	sought, reg, _ := prepared(t, c)
	all := append(append([]*Person{}, sought...), reg...)
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"defaults", Options{}},
		{"few candidates", Options{MaxCandidates: 2}},
		{"no outranking", Options{Outrank: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := NewIndex(tc.opts)
			for _, p := range all {
				ix.Put(p.CaseID, []*Person{p})
			}
			s := ix.Session()
			check := func(ps []*Person) {
				t.Helper()
				got := s.MatchAll(ps)
				n := 0
				for i, p := range ps {
					want := ix.Match(p)
					n += len(want)
					if len(want) == 0 && len(got[i]) == 0 {
						continue
					}
					if !reflect.DeepEqual(got[i], want) {
						t.Fatalf("%v: session %+v, Match %+v", p.Ref, got[i], want)
					}
				}
				if n == 0 {
					t.Fatal("no candidate at all: the comparison says nothing")
				}
			}
			check(sought[:500])
			check(all) // half of them asked before: reused
			// Every person held at once: the sought matched, the others
			// given the candidates naming them.
			s = ix.Session()
			s.FillHeld()
			if len(s.raw) != len(all) {
				t.Fatalf("FillHeld filled %d persons of %d", len(s.raw), len(all))
			}
			check(all)
			ix.Remove(reg[0].CaseID)
			ix.Remove(sought[0].CaseID)
			check(sought[1:300])
		})
	}
}
