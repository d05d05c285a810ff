package store_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/store"
)

// benchStores runs a benchmark against SQLite and PostgreSQL, with the
// server's synchronous_commit as a node has it (newDurableBackend).
func benchStores(b *testing.B, fn func(b *testing.B, be *backend)) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) { fn(b, newDurableBackend(b, d)) })
	}
}

// A ~2 KiB envelope, about the size of a signed tracing case.
var benchEnvelope = make([]byte, 2048)

// BenchmarkReceive: one received envelope (inbox row + receipt, one
// transaction, durable) per op.
func BenchmarkReceive(b *testing.B) {
	benchStores(b, func(b *testing.B, be *backend) {
		ctx := b.Context()
		env := append([]byte(nil), benchEnvelope...)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			jti := fmt.Sprint("bench-", i)
			copy(env, jti)
			if _, err := be.s.Receive(ctx, store.InboxItem{JTI: jti, Iss: memberB, Aud: memberA, Kind: "case.create",
				CaseID: "XB-RC:0001", Envelope: env}, store.Receipt{Raw: []byte("receipt-" + jti)}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOutboxCycle: Enqueue, ClaimDue and MarkDelivered of one envelope
// (three transactions) per op.
func BenchmarkOutboxCycle(b *testing.B) {
	benchStores(b, func(b *testing.B, be *backend) {
		ctx := b.Context()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if _, err := be.s.Enqueue(ctx, store.NewOutboxItem{Destination: memberB, CaseID: fmt.Sprintf("XA-RC:%d", i%50),
				Kind: "case.update", JTI: fmt.Sprint("bench-", i), Envelope: benchEnvelope}); err != nil {
				b.Fatal(err)
			}
			items, err := be.s.ClaimDue(ctx, store.ClaimRequest{Worker: "bench", Limit: 1})
			if err != nil || len(items) != 1 {
				b.Fatalf("claim: %d items, %v", len(items), err)
			}
			if err := be.s.MarkDelivered(ctx, items[0].ID, []byte("receipt")); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMarkDelivered: the receipts of a batch of 200 disclosing
// envelopes (one case each, so each adds a disclosure and a recipient)
// recorded by MarkDeliveredAll in one transaction. Compare ns/envelope.
func BenchmarkMarkDelivered(b *testing.B) {
	const batch = 200
	benchStores(b, func(b *testing.B, be *backend) {
		ctx := b.Context()
		rounds := 0
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			ds := make([]store.DeliveredRow, 0, batch)
			if err := be.s.Tx(ctx, func(tx store.Tx) error {
				for j := range batch {
					o, err := tx.Enqueue(ctx, store.NewOutboxItem{Destination: memberB, CaseID: fmt.Sprintf("XA-RC:%d-%d", i, j),
						CaseVersion: 1, Kind: "case.create", JTI: fmt.Sprintf("bench-%d-%d", i, j), Envelope: benchEnvelope, Discloses: true})
					if err != nil {
						return err
					}
					ds = append(ds, store.DeliveredRow{ID: o.ID, Receipt: benchEnvelope[:600]})
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := be.s.MarkDeliveredAll(ctx, ds); err != nil {
				b.Fatal(err)
			}
			rounds++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rounds*batch), "ns/envelope")
	})
}

// BenchmarkReceiveAll50: a received batch of 50 envelopes of a signed
// tracing case's size (3.4 KiB) with their receipts, one ReceiveAll in one
// transaction, per op: what the receiver's store does per delivery
// request. Besides time and allocations it reports the CPU per envelope of
// this process (go-µs/env) and, on PostgreSQL, of the database's backends
// (pg-µs/env), where /proc can be read.
func BenchmarkReceiveAll50(b *testing.B) {
	benchStores(b, func(b *testing.B, be *backend) {
		ctx := b.Context()
		es := make([]store.ReceiveEntry, 50)
		pids, _ := store.BackendPIDs(ctx, be.s)
		b.ReportAllocs()
		b.ResetTimer()
		go0, pg0 := cputime.Process(), backendsCPU(pids)
		n := 0
		for i := 0; b.Loop(); i++ {
			for k := range es {
				jti := fmt.Sprintf("bench-%d-%d", i, k)
				env := make([]byte, 3400)
				copy(env, jti)
				es[k] = store.ReceiveEntry{Item: store.InboxItem{JTI: jti, Iss: memberB, Aud: memberA, Kind: "case.create",
					CaseID: "XB-RC:0001", Envelope: env}, Receipt: store.Receipt{Raw: make([]byte, 480)}}
			}
			err := be.s.Tx(ctx, func(tx store.Tx) error {
				_, err := tx.ReceiveAll(ctx, es)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			n += len(es)
		}
		if len(pids) > 0 {
			// Backends opened during the run are not counted: the pool
			// holds the one the transactions use from the first op on.
			pids, _ = store.BackendPIDs(ctx, be.s)
		}
		reportCPU(b, n, pids, go0, pg0)
	})
}

// backendsCPU is the CPU time the processes pids have used, read from
// /proc (0 where it cannot be read).
func backendsCPU(pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		if d, ok := cputime.OfProcess(pid); ok {
			sum += d
		}
	}
	return sum
}

// benchEnvelopes is n envelopes of a signed tracing case's size (2.5 KiB)
// queued as round i, each its own case.
func benchEnvelopes(i, n int) []store.NewOutboxItem {
	out := make([]store.NewOutboxItem, n)
	for k := range out {
		jti := fmt.Sprintf("bench-%d-%d", i, k)
		env := make([]byte, 2518)
		copy(env, jti)
		out[k] = store.NewOutboxItem{Destination: memberB, CaseID: "XA-RC:" + jti, CaseVersion: 1, Kind: "case.create",
			JTI: jti, Envelope: env, Discloses: true}
	}
	return out
}

// reportCPU reports the CPU per envelope of this process (go-µs/env) and,
// on PostgreSQL, of the backends pids (pg-µs/env) since go0 and pg0.
func reportCPU(b *testing.B, n int, pids []int, go0, pg0 time.Duration) {
	b.ReportMetric(float64((cputime.Process()-go0).Microseconds())/float64(n), "go-µs/env")
	if len(pids) > 0 {
		b.ReportMetric(float64((backendsCPU(pids)-pg0).Microseconds())/float64(n), "pg-µs/env")
	}
}

// BenchmarkEnqueueAll50: 50 envelopes queued by one EnqueueAll, as a list
// import queues them, per op.
func BenchmarkEnqueueAll50(b *testing.B) {
	benchStores(b, func(b *testing.B, be *backend) {
		ctx := b.Context()
		if _, err := be.s.EnqueueAll(ctx, benchEnvelopes(-1, 50)); err != nil {
			b.Fatal(err)
		}
		pids, _ := store.BackendPIDs(ctx, be.s)
		b.ReportAllocs()
		b.ResetTimer()
		go0, pg0 := cputime.Process(), backendsCPU(pids)
		n := 0
		for i := 0; b.Loop(); i++ {
			in := benchEnvelopes(i, 50)
			if _, err := be.s.EnqueueAll(ctx, in); err != nil {
				b.Fatal(err)
			}
			n += len(in)
		}
		reportCPU(b, n, pids, go0, pg0)
	})
}

// BenchmarkEnqueueOneEach8: eight callers each queueing one envelope per
// EnqueueAll, as caseworkers forward cases; an op is one envelope.
func BenchmarkEnqueueOneEach8(b *testing.B) {
	const callers = 8
	benchStores(b, func(b *testing.B, be *backend) {
		ctx := b.Context()
		round := func(i, n int) {
			var wg sync.WaitGroup
			for c := range callers {
				wg.Go(func() {
					for k := c; k < n; k += callers {
						if _, err := be.s.EnqueueAll(ctx, benchEnvelopes(i*1_000_000+k, 1)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		}
		round(-1, 4*callers) // open the pool's connections first
		pids, _ := store.BackendPIDs(ctx, be.s)
		b.ResetTimer()
		go0, pg0 := cputime.Process(), backendsCPU(pids)
		round(0, b.N)
		reportCPU(b, b.N, pids, go0, pg0)
	})
}

// BenchmarkCaseReadsForMatching: what the matching worker reads of a batch
// of 200 received cases (documents of a signed case's size, 2 KB of JSON),
// per op: GetCases, every document, against GetCaseHeads, the rows with
// the SHA-256 of each document instead. Reports the CPU per case of this
// process (go-µs/env) and of the database's backends (pg-µs/env).
func BenchmarkCaseReadsForMatching(b *testing.B) {
	benchStores(b, func(b *testing.B, be *backend) {
		ctx := b.Context()
		var batch []store.NewCase
		ids := make([]string, 200)
		for i := range ids {
			ids[i] = fmt.Sprintf("XA-RC:M%04d", i)
			c := newCase(ids[i])
			c.Document = storedDoc(ids[i], 1800, uint64(i))
			batch = append(batch, c)
		}
		if _, err := be.s.CreateCases(ctx, batch); err != nil {
			b.Fatal(err)
		}
		for _, read := range []struct {
			name string
			fn   func() error
		}{
			{"GetCases", func() error { _, err := be.s.GetCases(ctx, ids); return err }},
			{"GetCaseHeads", func() error { _, err := be.s.GetCaseHeads(ctx, ids); return err }},
		} {
			b.Run(read.name, func(b *testing.B) {
				pids, _ := store.BackendPIDs(ctx, be.s)
				b.ReportAllocs()
				go0, pg0 := cputime.Process(), backendsCPU(pids)
				n := 0
				for b.Loop() {
					if err := read.fn(); err != nil {
						b.Fatal(err)
					}
					n += len(ids)
				}
				reportCPU(b, n, pids, go0, pg0)
			})
		}
	})
}

// BenchmarkSenderCycle50: the sending side's database work for a batch of
// 50 envelopes of a signed case's size, each its own disclosing case, per
// op: queued by one EnqueueAll, claimed by one ClaimDue, their receipts
// recorded by one MarkDeliveredAll. Reports the CPU per envelope of this
// process and of the database's backends, and on PostgreSQL the WAL
// records and bytes per envelope (pg_stat_wal: the cluster's, so run it
// alone on a cluster of its own).
func BenchmarkSenderCycle50(b *testing.B) {
	benchStores(b, func(b *testing.B, be *backend) {
		ctx := b.Context()
		receipt := make([]byte, 480)
		cycle := func(i int) int {
			in := benchEnvelopes(i, 50)
			if _, err := be.s.EnqueueAll(ctx, in); err != nil {
				b.Fatal(err)
			}
			items, err := be.s.ClaimDue(ctx, store.ClaimRequest{Worker: "bench", Limit: 50, Destination: memberB})
			if err != nil || len(items) != 50 {
				b.Fatalf("claim: %d items, %v", len(items), err)
			}
			ds := make([]store.DeliveredRow, len(items))
			for k, o := range items {
				ds[k] = store.DeliveredRow{ID: o.ID, Receipt: receipt}
			}
			if err := be.s.MarkDeliveredAll(ctx, ds); err != nil {
				b.Fatal(err)
			}
			return len(in)
		}
		cycle(-1)
		pids, _ := store.BackendPIDs(ctx, be.s)
		wal := func() (recs, bytes int64) {
			if be.dialect == store.Postgres {
				if err := be.raw.QueryRowContext(ctx, `SELECT wal_records, wal_bytes FROM pg_stat_wal`).Scan(&recs, &bytes); err != nil {
					b.Fatal(err)
				}
			}
			return recs, bytes
		}
		b.ReportAllocs()
		b.ResetTimer()
		r0, w0 := wal()
		go0, pg0 := cputime.Process(), backendsCPU(pids)
		n := 0
		for i := 0; b.Loop(); i++ {
			n += cycle(i)
		}
		reportCPU(b, n, pids, go0, pg0)
		if be.dialect == store.Postgres {
			r1, w1 := wal()
			b.ReportMetric(float64(r1-r0)/float64(n), "walrec/env")
			b.ReportMetric(float64(w1-w0)/float64(n), "walB/env")
		}
	})
}

// BenchmarkCreateCasesMarked50: a received batch's 50 new cases (documents
// of a signed case's size, 2.5 KB, with search keys) and their
// match-pending marks, one CreateCasesMarked per op, as the receiver
// writes them. Reports the CPU per case of this process and of the
// database's backends.
func BenchmarkCreateCasesMarked50(b *testing.B) {
	benchStores(b, func(b *testing.B, be *backend) {
		ctx := b.Context()
		batch := func(i int) ([]store.NewCase, []store.PendingMatch) {
			cs, ps := make([]store.NewCase, 50), make([]store.PendingMatch, 50)
			for k := range cs {
				id := fmt.Sprintf("XA-RC:B%d-%d", i, k)
				cs[k] = newCase(id)
				cs[k].Document = storedDoc(id, 2500, uint64(i*50+k))
				cs[k].SearchKeys = []string{"t_anna", "p_ana", "by_1964", "bd_1964", "pl_xa", "w_" + strings.ToLower(id[6:])}
				ps[k] = store.PendingMatch{CaseID: id, Version: 1}
			}
			return cs, ps
		}
		cs, ps := batch(-1)
		if _, err := be.s.CreateCasesMarked(ctx, cs, ps); err != nil {
			b.Fatal(err)
		}
		pids, _ := store.BackendPIDs(ctx, be.s)
		b.ReportAllocs()
		b.ResetTimer()
		go0, pg0 := cputime.Process(), backendsCPU(pids)
		n := 0
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			cs, ps := batch(i)
			b.StartTimer()
			if _, err := be.s.CreateCasesMarked(ctx, cs, ps); err != nil {
				b.Fatal(err)
			}
			n += len(cs)
		}
		reportCPU(b, n, pids, go0, pg0)
	})
}
