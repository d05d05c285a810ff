package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// benchDialect is PostgreSQL when FLX_TEST_POSTGRES is set (the database's
// work then runs in its own processes, out of this one's CPU), else SQLite.
func benchDialect() nodetest.Dialect {
	if os.Getenv("FLX_TEST_POSTGRES") != "" {
		return nodetest.Postgres
	}
	return nodetest.SQLite
}

// benchEnvelopes signs n case.create envelopes XA-RC -> XB-RC, each about
// its own case.
func benchEnvelopes(b *testing.B, f *fedtest.Federation, n int) [][]byte {
	b.Helper()
	ex, ok := schema.ExampleNamed("case.tracing_request")
	if !ok {
		b.Fatal("no example case.tracing_request")
	}
	var doc map[string]any
	if err := json.Unmarshal(ex.Doc, &doc); err != nil {
		b.Fatal(err)
	}
	raws := make([][]byte, n)
	for i := range raws {
		id := fmt.Sprintf("XA-RC:B-%08d", i)
		doc["case_id"] = id
		body, err := json.Marshal(doc)
		if err != nil {
			b.Fatal(err)
		}
		raws[i] = f.Envelope(b, "XA-RC", "XB-RC", federation.KindCaseCreate, id, body)
	}
	return raws
}

// BenchmarkReceiveBatch50 is the receiving node's work on one batch of 50
// case.create envelopes (verify, validate, store with receipts: what the
// batches handler calls), with, under /process, the processing of what it
// stored (apply, search keys; matching off). It reports the CPU time of
// this process per envelope (with SQLite, the database's too), the figure
// `flx bench exchange` reports per node; run with -benchmem and
// -memprofile for the allocations.
func BenchmarkReceiveBatch50(b *testing.B) {
	for _, process := range []bool{false, true} {
		name := "receive"
		if process {
			name = "receive+process"
		}
		b.Run(name, func(b *testing.B) { benchReceiveBatch(b, 50, process) })
	}
}

// BenchmarkReceiveBatchSmall is BenchmarkReceiveBatch50 (receive only) with
// the small batches of a paced exchange (`flx bench exchange --rate`), where
// what a batch costs whatever its size (its transaction, statements,
// commit) is shared by few envelopes.
func BenchmarkReceiveBatchSmall(b *testing.B) {
	for _, batch := range []int{1, 5} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchReceiveBatch(b, batch, false) })
	}
}

func benchReceiveBatch(b *testing.B, batch int, process bool) {
	f := fedtest.New(b, "XA-RC:XA:society", "XB-RC:XB:society")
	xb := nodetest.Start(b, f, "XB-RC", nil, nodetest.Options{Dialect: benchDialect(), NoRun: true, NoMedia: true,
		Match: node.MatchOptions{Disabled: true}})
	raws := benchEnvelopes(b, f, b.N*batch)
	ctx := b.Context()
	b.ReportAllocs()
	b.ResetTimer()
	pg0 := backendsCPU(ctx, b, xb.Store, nil)
	cpu0 := cputime.Process()
	for i := range b.N {
		out, err := xb.ReceiveBatch(ctx, "XA-RC", raws[i*batch:(i+1)*batch])
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range out {
			if o.Err != nil {
				b.Fatal(o.Err)
			}
		}
		if process {
			if err := xb.ProcessInbox(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/float64(b.N*batch), "cpu-µs/envelope")
	if pg0 != nil {
		var d time.Duration
		for pid, t := range backendsCPU(ctx, b, xb.Store, pg0) {
			d += t - pg0[pid]
		}
		b.ReportMetric(float64(d.Microseconds())/float64(b.N*batch), "pg-µs/envelope")
	}
}

// backendsCPU is the CPU time of each PostgreSQL backend connected to
// st's database, read from /proc; nil on SQLite or where /proc cannot be
// read (the server runs elsewhere). Backends in since but not now (closed
// connections) are kept at their time in since, so that the difference
// counts what they used before they closed no less than 0.
func backendsCPU(ctx context.Context, b *testing.B, st store.Store, since map[int]time.Duration) map[int]time.Duration {
	pids, err := store.BackendPIDs(ctx, st)
	if err != nil {
		b.Fatal(err)
	}
	if len(pids) == 0 {
		return nil
	}
	out := map[int]time.Duration{}
	for pid, t := range since {
		out[pid] = t
	}
	for _, pid := range pids {
		if d, ok := cputime.OfProcess(pid); ok {
			out[pid] = d
		}
	}
	return out
}
