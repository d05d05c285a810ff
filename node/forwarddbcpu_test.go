package node_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// BenchmarkForwardDatabaseCPU: caseworkers' forwards (Node.Forward) of
// queued cases on PostgreSQL, by 1 caller (each forward a group of its
// own) and by 8 at once (groups of a few), reporting the CPU of the
// node's database backends (read from /proc: the server must run on this
// machine) and of this process, per forward, and the store's statements
// per forward. What flx bench exchange --rate measures of the sender, for
// its forwards alone, without delivery and on a quiet database.
func BenchmarkForwardDatabaseCPU(b *testing.B) {
	for _, callers := range []int{1, 8} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			f := fedtest.New(b, "XA-RC:XA:society", "XB-RC:XB:society")
			dsn := nodetest.DSN(b, nodetest.Postgres)
			sent := &atomic.Int64{}
			xa := nodetest.Start(b, f, "XA-RC", nil, nodetest.Options{Dialect: nodetest.Postgres, DSN: dsn, NoRun: true,
				StoreOptions: []store.Option{store.WithStatementCounter(sent)}})
			ctx := b.Context()
			cw := node.Actor{Name: "cw", Role: "caseworker"}
			var ids []string
			for len(ids) < b.N {
				docs := forwardableCases(b, len(ids), min(b.N-len(ids), 500))
				if _, err := xa.ImportCases(ctx, cw, docs, ""); err != nil {
					b.Fatal(err)
				}
				ids = append(ids, batchIDs(docs)...)
			}
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			backends := func() map[int]time.Duration {
				rows, err := db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
				if err != nil {
					b.Fatal(err)
				}
				defer rows.Close()
				out := map[int]time.Duration{}
				for rows.Next() {
					var pid int
					if err := rows.Scan(&pid); err != nil {
						b.Fatal(err)
					}
					if d, ok := cputime.OfProcess(pid); ok {
						out[pid] = d
					}
				}
				return out
			}
			// The import's background work (the search index's pending list
			// cleaned) ends before the clock starts.
			for quiet, deadline := 0, time.Now().Add(30*time.Second); quiet < 5 && time.Now().Before(deadline); {
				var active int
				if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()
					AND pid <> pg_backend_pid() AND state <> 'idle'`).Scan(&active); err != nil {
					b.Fatal(err)
				}
				if quiet++; active > 0 {
					quiet = 0
				}
				time.Sleep(100 * time.Millisecond)
			}
			b.ResetTimer()
			db0, cpu0, sent0 := backends(), cputime.Process(), sent.Load()
			var wg sync.WaitGroup
			next := make(chan string)
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for id := range next {
						if res, err := xa.Forward(ctx, cw, id, "XB-RC"); err != nil || res.State != "queued" {
							b.Errorf("case %s: %+v %v", id, res, err)
						}
					}
				}()
			}
			for _, id := range ids[:b.N] {
				next <- id
			}
			close(next)
			wg.Wait()
			cpu := cputime.Process() - cpu0
			var dbCPU time.Duration
			for pid, d := range backends() {
				dbCPU += d - db0[pid] // a backend started meanwhile counts from 0
			}
			b.StopTimer()
			b.ReportMetric(float64(dbCPU.Microseconds())/float64(b.N), "db-µs/forward")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "proc-µs/forward")
			b.ReportMetric(float64(sent.Load()-sent0)/float64(b.N), "statements/forward")
		})
	}
}

// forwardableCases are n tracing requests of XA-RC (XA-RC:TR-F-<from>...)
// that the policy lets go to XB-RC as they are.
func forwardableCases(t testing.TB, from, n int) []json.RawMessage {
	t.Helper()
	ex, ok := schema.ExampleNamed("case.tracing_request")
	if !ok {
		t.Fatal("no example case.tracing_request")
	}
	docs := make([]json.RawMessage, n)
	for i := range n {
		var m map[string]any
		if err := json.Unmarshal(ex.Doc, &m); err != nil {
			t.Fatal(err)
		}
		m["case_id"] = fmt.Sprintf("XA-RC:TR-F-%06d", from+i)
		docs[i], _ = json.Marshal(m)
	}
	return docs
}
