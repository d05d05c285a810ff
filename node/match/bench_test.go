package match

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/match/corpus"
)

// BenchmarkMatch100k times Batch for 100,000 sought persons against
// 100,000 registrations (half of them true matches), preparation excluded,
// and reports precision and recall, the CPU per sought person, the pairs
// compared, and the ratio to a floor measured in the same run: reading
// every block a sought person's keys name and skipping the persons
// already seen, with the same workers, comparing nothing.
//
//	go test ./node/match -run XXX -bench Match100k -benchtime 1x
func BenchmarkMatch100k(b *testing.B) {
	benchmarkBatch(b, 100000)
}

// BenchmarkMatch10k is the same at a tenth of the size: the cost per
// sought person should barely grow with the size (blocking).
func BenchmarkMatch10k(b *testing.B) {
	benchmarkBatch(b, 10000)
}

func benchmarkBatch(b *testing.B, n int) {
	c := corpus.Generate(corpus.Config{Seed: 100, Sought: n, Registered: n, Overlap: 0.5})
	t0 := time.Now()
	sought, reg, truth := prepared(b, c)
	b.ReportMetric(time.Since(t0).Seconds(), "prepare-s")
	var cands []Candidate
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		u0 := cputime.Process()
		cands = Batch(sought, reg, Options{})
		cpu += cputime.Process() - u0
	}
	b.StopTimer()
	q := measure(c, cands, truth)
	b.ReportMetric(q.precision(), "precision")
	b.ReportMetric(q.recall(), "recall")
	b.ReportMetric(float64(len(cands)), "candidates")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N)/float64(len(sought)), "cpu-µs/sought")
	ix := NewIndex(Options{})
	for _, p := range reg {
		ix.Put(p.CaseID, []*Person{p})
	}
	f0 := time.Now()
	pairs := floor(ix, sought)
	fl := time.Since(f0)
	b.ReportMetric(float64(pairs)/float64(len(sought)), "pairs/sought")
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(fl), "x-floor")
}

// floor reads the blocks of every sought person as matchLocked does and
// counts the pairs it would compare.
func floor(ix *Index, sought []*Person) int {
	workers := runtime.GOMAXPROCS(0)
	counts := make([]int, workers)
	var wg sync.WaitGroup
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &scratch{}
			for i := w; i < len(sought); i += workers {
				counts[w] += len(ix.candidatesLocked(sought[i], sc))
			}
		}()
	}
	wg.Wait()
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}
