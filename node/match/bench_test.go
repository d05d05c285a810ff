package match

import (
	"testing"
	"time"

	"github.com/familylinks/flx/node/match/corpus"
)

// BenchmarkMatch100k times Batch for 100,000 sought persons against
// 100,000 registrations (half of them true matches), preparation excluded,
// and reports precision and recall:
//
//	go test ./node/match -run XXX -bench Match100k -benchtime 1x
func BenchmarkMatch100k(b *testing.B) {
	c := corpus.Generate(corpus.Config{Seed: 100, Sought: 100000, Registered: 100000, Overlap: 0.5})
	t0 := time.Now()
	sought, reg, truth := prepared(b, c)
	b.ReportMetric(time.Since(t0).Seconds(), "prepare-s")
	b.ResetTimer()
	var cands []Candidate
	for range b.N {
		cands = Batch(sought, reg, Options{})
	}
	b.StopTimer()
	q := measure(c, cands, truth)
	b.ReportMetric(q.precision(), "precision")
	b.ReportMetric(q.recall(), "recall")
	b.ReportMetric(float64(len(cands)), "candidates")
}
