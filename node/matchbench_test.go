package node_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/match/corpus"
	"github.com/familylinks/flx/node/store"
)

// BenchmarkNodeMatch100k times matching through the node: 100,000
// registrations (detention notifications, registrations, death
// notifications) are imported, then 100,000 sought persons (tracing and
// reunification requests) in batches of 1,000 with flx case import's path
// (ImportCases: stored, then matched in one session per batch against
// everything held, candidates written set-based). It reports the seconds
// of each import, the seconds of the sought import beyond a
// registrations-sized import (the registrations find no sought person
// yet), then the bulk match job (RematchHeld: every case held matched
// again, as matching each in turn would, and the candidates written) in
// seconds and CPU seconds, the candidates stored, and their precision and
// recall against the corpus's truth. FLX_BENCH_N changes the size (e.g.
// 2000 to try it), FLX_BENCH_STORE the store (postgres, the default, or
// sqlite).
//
//	go test ./node -run XXX -bench NodeMatch100k -benchtime 1x -timeout 60m
//
// FLX_BENCH_LOG=1 logs the node's progress to stderr (the job logs the
// seconds of computing and of writing the candidates), and
// FLX_BENCH_CPUPROFILE=FILE writes a CPU profile of the job to FILE and an
// execution trace to FILE.trace.
//
// Measured on PostgreSQL, 100,000 x 100,000, on a 2-core machine shared
// with other work: bulk match job 28.7 s wall and 37.8 s of CPU at load 3
// to 6 (25.3 s computing, 3.2 s writing); at load 20 to 30 the same work
// takes five to ten times as long (the wall time is the CPU divided by the
// share of the cores the process gets); 51,492 candidates, precision
// 0.923, recall 0.950 (before: 82 s wall at load 7, 43 s computing and
// 37 s writing, 45 s of CPU; precision 0.922, recall 0.942). At 10,000 x
// 10,000: 0.8 s wall, 0.9 s of CPU, precision 0.972,
// recall 0.974. (This process's CPU; PostgreSQL's own is not counted.)
func BenchmarkNodeMatch100k(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("FLX_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	c := corpus.Generate(corpus.Config{Seed: 100, Sought: n, Registered: n, Overlap: 0.5})
	truth := map[string]int{}
	for _, recs := range [][]corpus.Record{c.Sought, c.Registered} {
		for i := range recs {
			_, local, _ := strings.Cut(recs[i].CaseID, ":")
			recs[i].CaseID = "XA-RC:" + local // the node creates its own cases only
			truth[recs[i].CaseID] = recs[i].Truth
		}
	}
	for range b.N {
		f := fedtest.New(b, "XA-RC:XA:society")
		dialect := nodetest.Postgres
		if os.Getenv("FLX_BENCH_STORE") == "sqlite" {
			dialect = nodetest.SQLite
		}
		var log *slog.Logger
		if os.Getenv("FLX_BENCH_LOG") != "" {
			log = slog.New(slog.NewTextHandler(os.Stderr, nil))
		}
		xa := nodetest.Start(b, f, "XA-RC", nil, nodetest.Options{NoRun: true, Dialect: dialect, Logger: log})
		cw := node.Actor{Name: "cw-bench", Role: "caseworker"}
		imp := func(recs []corpus.Record, name string) time.Duration {
			t0, cpu0 := time.Now(), cputime.Process()
			defer func() { b.ReportMetric((cputime.Process() - cpu0).Seconds(), name+"-import-cpu-s") }()
			for i := 0; i < len(recs); i += node.MaxImportBatch {
				batch := make([]json.RawMessage, 0, node.MaxImportBatch)
				for _, r := range recs[i:min(i+node.MaxImportBatch, len(recs))] {
					batch = append(batch, withConsent(b, caseOf(b, r.CaseID, r.CaseType, 1, r.Person)))
				}
				if _, err := xa.ImportCases(ctx, cw, batch, ""); err != nil {
					b.Fatalf("import at %d: %v %+v", i, err, problemErrors(err))
				}
			}
			return time.Since(t0)
		}
		reg := imp(c.Registered, "reg")
		sought := imp(c.Sought, "sought")
		b.ReportMetric(reg.Seconds(), "reg-import-s")
		b.ReportMetric(sought.Seconds(), "sought-import-s")
		b.ReportMetric((sought - reg).Seconds(), "match-beyond-floor-s")
		stop := func() {}
		if p := os.Getenv("FLX_BENCH_CPUPROFILE"); p != "" {
			stop = startProfile(b, p)
		}
		t0, cpu0 := time.Now(), cputime.Process()
		if k, err := xa.RematchHeld(ctx); err != nil || k != 2*n {
			b.Fatalf("RematchHeld: %d cases, %v", k, err)
		}
		stop()
		b.ReportMetric(time.Since(t0).Seconds(), "match-job-s")
		b.ReportMetric((cputime.Process() - cpu0).Seconds(), "match-job-cpu-s")
		var cands, correct int
		for after := int64(0); ; {
			page, err := xa.View().ListMatches(ctx, store.MatchFilter{State: store.MatchOpen, AfterID: after, Limit: 1000})
			if err != nil {
				b.Fatal(err)
			}
			for _, m := range page {
				cands++
				if truth[m.ACase] == truth[m.BCase] {
					correct++
				}
			}
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1].ID
		}
		b.ReportMetric(float64(cands), "candidates")
		b.ReportMetric(float64(correct)/float64(max(cands, 1)), "precision")
		b.ReportMetric(float64(correct)/float64(max(c.TruePairs(), 1)), "recall")
	}
}

// startProfile writes a CPU profile of the bulk match job to path
// (FLX_BENCH_CPUPROFILE), and a trace beside it (path + ".trace").
func startProfile(b *testing.B, path string) func() {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	tf, err := os.Create(path + ".trace")
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	if err := trace.Start(tf); err != nil {
		b.Fatal(err)
	}
	return func() {
		trace.Stop()
		pprof.StopCPUProfile()
		_ = f.Close()
		_ = tf.Close()
	}
}

func problemErrors(err error) any {
	if e, ok := err.(*node.Error); ok && len(e.Errors) > 0 {
		return e.Errors[:min(3, len(e.Errors))]
	}
	return nil
}
