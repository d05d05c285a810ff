package match

import (
	"testing"
	"time"

	"github.com/familylinks/flx/node/internal/racetest"
	"github.com/familylinks/flx/node/match/corpus"
)

// refTime is the reference date of the measurements (ages without as_of).
var refTime = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)

// prepared prepares a corpus and returns the persons and each one's truth.
func prepared(t testing.TB, c *corpus.Corpus) (sought, reg []*Person, truth map[Ref]int) {
	t.Helper()
	truth = map[Ref]int{}
	for _, side := range []struct {
		recs []corpus.Record
		out  *[]*Person
	}{{c.Sought, &sought}, {c.Registered, &reg}} {
		for i := range side.recs {
			r := &side.recs[i]
			p, ok := Prepare(r.CaseID, r.CaseType, &r.Person, refTime)
			if !ok {
				t.Fatalf("%s: not prepared", r.CaseID)
			}
			truth[p.Ref] = r.Truth
			*side.out = append(*side.out, p)
		}
	}
	return sought, reg, truth
}

// quality is precision and recall of candidates against the truth.
type quality struct {
	truePairs, candidates, correct int
}

func (q quality) precision() float64 { return float64(q.correct) / float64(max(q.candidates, 1)) }
func (q quality) recall() float64    { return float64(q.correct) / float64(max(q.truePairs, 1)) }

func measure(c *corpus.Corpus, cands []Candidate, truth map[Ref]int) quality {
	q := quality{truePairs: c.TruePairs(), candidates: len(cands)}
	for _, cd := range cands {
		if truth[cd.A] == truth[cd.B] {
			q.correct++
		}
	}
	return q
}

// TestQualityFloors asserts the targets on a seeded corpus: recall >= 0.95
// at precision >= 0.90 at the default threshold. The corpus is generated,
// so the numbers are deterministic.
func TestQualityFloors(t *testing.T) {
	qualityFloors(t, corpus.Config{Seed: 16, Sought: 4000, Registered: 4000, Overlap: 0.5})
}

// TestQualityFloorsAtScale: the floors hold with five times the persons,
// where common names have many more look-alikes (the 100,000 x 100,000
// figures come from BenchmarkMatch100k).
func TestQualityFloorsAtScale(t *testing.T) {
	racetest.SkipComputation(t)
	if testing.Short() {
		t.Skip("20,000 x 20,000")
	}
	qualityFloors(t, corpus.Config{Seed: 17, Sought: 20000, Registered: 20000, Overlap: 0.5})
}

func qualityFloors(t *testing.T, cfg corpus.Config) {
	t.Helper()
	c := corpus.Generate(cfg)
	sought, reg, truth := prepared(t, c)
	cands := Batch(sought, reg, Options{})
	q := measure(c, cands, truth)
	t.Logf("in-node %d x %d: %d true pairs, %d candidates, %d correct: precision %.4f recall %.4f", cfg.Sought, cfg.Registered, q.truePairs, q.candidates, q.correct, q.precision(), q.recall())
	if q.precision() < 0.90 || q.recall() < 0.95 {
		t.Errorf("precision %.4f (floor 0.90), recall %.4f (floor 0.95)", q.precision(), q.recall())
	}
}

// TestQualityThroughIndex: a node holds everyone, sought and registered,
// and matches each new person as its case arrives (registrations first,
// then the enquiries); the sought-registered candidates meet the same
// floors as Batch.
func TestQualityThroughIndex(t *testing.T) {
	c := corpus.Generate(corpus.Config{Seed: 16, Sought: 4000, Registered: 4000, Overlap: 0.5})
	sought, reg, truth := prepared(t, c)
	ix := NewIndex(Options{})
	for _, p := range reg {
		ix.Put(p.CaseID, []*Person{p})
	}
	var cands []Candidate
	for _, p := range sought {
		ix.Put(p.CaseID, []*Person{p})
		for _, cd := range ix.Match(p) {
			if cd.B.CaseID[:8] == "XB-RC:RG" || cd.A.CaseID[:8] == "XB-RC:RG" {
				cands = append(cands, cd)
			}
		}
	}
	q := measure(c, cands, truth)
	t.Logf("in-node through the index: %d true pairs, %d candidates, %d correct: precision %.4f recall %.4f", q.truePairs, q.candidates, q.correct, q.precision(), q.recall())
	if q.precision() < 0.90 || q.recall() < 0.95 {
		t.Errorf("precision %.4f (floor 0.90), recall %.4f (floor 0.95)", q.precision(), q.recall())
	}
}
