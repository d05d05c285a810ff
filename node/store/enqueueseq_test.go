package store_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// TestEnqueueWritesOutboxOnly: queueing writes the outbox row and nothing
// else (no counter table: migration 0034), and a row's seq is one past the
// highest of its (case, destination), whichever way it was queued, with
// the seqs of other cases and destinations apart.
func TestEnqueueWritesOutboxOnly(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		q := `SELECT COUNT(*) FROM sqlite_master WHERE name = 'outbox_sequences'`
		if b.dialect == store.Postgres {
			q = `SELECT COUNT(*) FROM pg_class WHERE relname = 'outbox_sequences'`
		}
		var n int
		mustErr(t, b.raw.Get(&n, q), nil)
		if n != 0 {
			t.Fatalf("%s: table outbox_sequences still exists: each envelope queued writes a second row", b.dialect)
		}
		item := func(dest, caseID string, i int) store.NewOutboxItem {
			return store.NewOutboxItem{Destination: dest, CaseID: caseID, Kind: "case.update", JTI: fmt.Sprint("seq-", i),
				Envelope: []byte("env"), Discloses: true}
		}
		var seqs []int64
		one, err := b.s.Enqueue(ctx, item(memberB, "XA-RC:1", 0))
		mustErr(t, err, nil)
		seqs = append(seqs, one.Seq)
		all, err := b.s.EnqueueAll(ctx, []store.NewOutboxItem{item(memberB, "XA-RC:1", 1), item(memberC, "XA-RC:1", 2),
			item(memberB, "XA-RC:2", 3), item(memberB, "XA-RC:1", 4)})
		mustErr(t, err, nil)
		for _, it := range all {
			seqs = append(seqs, it.Seq)
		}
		mustErr(t, b.s.Tx(ctx, func(tx store.Tx) error {
			it, err := tx.Enqueue(ctx, item(memberB, "XA-RC:1", 5))
			seqs = append(seqs, it.Seq)
			return err
		}), nil)
		if want := fmt.Sprint([]int64{1, 2, 1, 1, 3, 4}); fmt.Sprint(seqs) != want {
			t.Errorf("seqs %v, want %s", seqs, want)
		}
		// A duplicate jti still refuses the whole batch, and leaves no seq
		// taken.
		_, err = b.s.EnqueueAll(ctx, []store.NewOutboxItem{item(memberB, "XA-RC:1", 6), item(memberB, "XA-RC:1", 5)})
		mustErr(t, err, store.ErrDuplicate)
		it, err := b.s.Enqueue(ctx, item(memberB, "XA-RC:1", 7))
		mustErr(t, err, nil)
		if it.Seq != 5 {
			t.Errorf("after a refused batch: seq %d, want 5", it.Seq)
		}
	})
}

// TestEnqueueSeqConcurrent: producers queue rows of the same two cases at
// once, every way a row is queued (alone, in batches naming both cases in
// either order, inside transactions that stay open a moment after
// queueing, on PostgreSQL through two Stores as two replicas), while a
// worker claims and delivers. Every row is queued once, the seqs of a case
// are 1..n with none twice, and the worker claims each case's rows in seq
// order with none skipped: a row never commits before a row of its case
// with a lower seq (a claim would send it first).
func TestEnqueueSeqConcurrent(t *testing.T) {
	const producers, rounds = 6, 12
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		stores := []store.Store{b.s}
		if b.dialect == store.Postgres {
			stores = append(stores, b.open(t))
		}
		cases := []string{"XA-RC:S1", "XA-RC:S2"}
		var jti atomic.Int64
		item := func(c int) store.NewOutboxItem {
			return store.NewOutboxItem{Destination: memberB, CaseID: cases[c%2], Kind: "case.update",
				JTI: fmt.Sprint("cseq-", jti.Add(1)), Envelope: []byte("env"), Discloses: true}
		}
		var queued atomic.Int64
		var wg sync.WaitGroup
		for p := range producers {
			wg.Go(func() {
				s := stores[p%len(stores)]
				for r := range rounds {
					var n int
					var err error
					switch (p + r) % 4 {
					case 0:
						_, err = s.Enqueue(ctx, item(p))
						n = 1
					case 1:
						_, err = s.EnqueueAll(ctx, []store.NewOutboxItem{item(p), item(p + 1), item(p)})
						n = 3
					case 2:
						err = s.Tx(ctx, func(tx store.Tx) error {
							if _, err := tx.Enqueue(ctx, item(p)); err != nil {
								return err
							}
							time.Sleep(time.Millisecond) // held open: a later writer must wait
							_, err := tx.Enqueue(ctx, item(p))
							return err
						})
						n = 2
					case 3:
						err = s.Tx(ctx, func(tx store.Tx) error {
							_, err := tx.EnqueueAll(ctx, []store.NewOutboxItem{item(p + 1), item(p)})
							time.Sleep(time.Millisecond)
							return err
						})
						n = 2
					}
					if err != nil {
						t.Errorf("producer %d round %d: %v", p, r, err)
						return
					}
					queued.Add(int64(n))
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		last := map[string]int64{}
		claimed := map[int64]bool{}
		drained := false
		deadline := time.Now().Add(60 * time.Second)
		for !drained {
			select {
			case <-done:
				drained = true // one more round after the last commit
			default:
			}
			for {
				items, err := b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Limit: 10, Lease: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				if len(items) == 0 {
					break
				}
				ds := make([]store.DeliveredRow, len(items))
				for i, it := range items {
					if claimed[it.ID] {
						t.Errorf("row %d claimed twice", it.ID)
					}
					claimed[it.ID] = true
					if it.Seq != last[it.CaseID]+1 {
						t.Errorf("%s: claimed seq %d after %d", it.CaseID, it.Seq, last[it.CaseID])
					}
					last[it.CaseID] = it.Seq
					ds[i] = store.DeliveredRow{ID: it.ID, Receipt: []byte("r")}
				}
				mustErr(t, b.s.MarkDeliveredAll(ctx, ds), nil)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d claimed after 60 s", len(claimed), queued.Load())
			}
			time.Sleep(time.Millisecond)
		}
		if int64(len(claimed)) != queued.Load() || last[cases[0]]+last[cases[1]] != queued.Load() {
			t.Errorf("%d rows queued, %d claimed, last seqs %v", queued.Load(), len(claimed), last)
		}
		var dup int
		mustErr(t, b.raw.Get(&dup, `SELECT COUNT(*) FROM (SELECT case_id, seq FROM outbox GROUP BY case_id, destination, seq HAVING COUNT(*) > 1) d`), nil)
		if dup != 0 {
			t.Errorf("%d seqs given twice", dup)
		}
	})
}
