package store_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// Workers (goroutines and, on PostgreSQL, two separate Stores as two node
// replicas would be) drain a shared outbox: every row is claimed exactly once,
// and rows of one case reach a destination in order.
func TestClaimConcurrent(t *testing.T) {
	const (
		rows    = 500
		perCase = 5 // rows per (destination, case): ordering under contention
		workers = 8
	)
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		dests := []string{memberB, memberC, cta, "XD-RC"}
		err := b.s.Tx(ctx, func(tx store.Tx) error {
			for i := range rows {
				c := i / perCase
				if _, err := tx.Enqueue(ctx, store.NewOutboxItem{Destination: dests[c%len(dests)],
					CaseID: fmt.Sprintf("XA-RC:%04d", c), Kind: "case.update", JTI: fmt.Sprint("c-", i),
					Envelope: []byte(fmt.Sprint("env-", i)), Discloses: true}); err != nil {
					return err
				}
			}
			return nil
		})
		mustErr(t, err, nil)
		stores := []store.Store{b.s}
		if b.dialect == store.Postgres {
			// Two node replicas sharing the database. (Two SQLite Stores on
			// one file work too, see the other concurrency tests, but wait
			// on SQLite's busy handler and are slow under -race.)
			stores = append(stores, b.open(t))
		}

		var (
			mu        sync.Mutex
			claims    = map[int64]int{}
			lastSeq   = map[string]int64{}
			delivered atomic.Int64
			wg        sync.WaitGroup
		)
		deadline := time.Now().Add(2 * time.Minute)
		for w := range workers {
			wg.Go(func() {
				s := stores[w%len(stores)]
				worker := fmt.Sprint("worker-", w)
				for delivered.Load() < rows {
					if time.Now().After(deadline) {
						t.Errorf("%s: timed out with %d delivered", worker, delivered.Load())
						return
					}
					items, err := s.ClaimDue(ctx, store.ClaimRequest{Worker: worker, Limit: 7, Lease: time.Hour})
					if err != nil {
						t.Errorf("%s: claim: %v", worker, err)
						return
					}
					if len(items) == 0 {
						time.Sleep(time.Millisecond)
						continue
					}
					for _, it := range items {
						mu.Lock()
						claims[it.ID]++
						key := it.Destination + "|" + it.CaseID
						if it.Seq != lastSeq[key]+1 {
							t.Errorf("%s: claimed seq %d after %d", key, it.Seq, lastSeq[key])
						}
						lastSeq[key] = it.Seq
						mu.Unlock()
						if err := s.MarkDelivered(ctx, it.ID, []byte("receipt")); err != nil {
							t.Errorf("%s: deliver %d: %v", worker, it.ID, err)
							return
						}
						delivered.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if len(claims) != rows {
			t.Fatalf("%d distinct rows claimed, want %d", len(claims), rows)
		}
		for id, n := range claims {
			if n != 1 {
				t.Fatalf("row %d claimed %d times", id, n)
			}
		}
		if n := b.count(t, `SELECT COUNT(*) FROM outbox WHERE state = 'delivered'`); n != rows {
			t.Fatalf("%d delivered rows, want %d", n, rows)
		}
		if n := b.count(t, `SELECT COUNT(*) FROM disclosures`); n != rows {
			t.Fatalf("%d disclosures, want %d", n, rows)
		}
	})
}

// Enqueues for one case from concurrent transactions get distinct,
// gap-free sequence numbers.
func TestEnqueueConcurrent(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		other := b.open(t)
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				s := b.s
				if i%2 == 1 {
					s = other
				}
				if _, err := s.Enqueue(t.Context(), queue(memberB, "XA-RC:0001", "case.update", fmt.Sprint("e-", i))); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := b.count(t, `SELECT COUNT(DISTINCT seq) FROM outbox WHERE seq BETWEEN 1 AND 40`); n != 40 {
			t.Fatalf("%d distinct seqs in 1..40, want 40", n)
		}
	})
}

// LockCase holds a case until its transaction ends, also against another
// Store on the same database (a node replica): the second LockCase returns
// only after the first transaction committed, and sees what it wrote.
func TestLockCaseSerialises(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		must[store.Case](t)(b.s.CreateCase(ctx, newCase("XA-RC:0001")))
		if _, err := b.s.LockCase(ctx, "XA-RC:0404"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("LockCase of no case: %v, want ErrNotFound", err)
		}
		other := b.open(t)
		locked, release := make(chan struct{}), make(chan struct{})
		first := make(chan error, 1)
		go func() {
			first <- b.s.Tx(ctx, func(tx store.Tx) error {
				if _, err := tx.LockCase(ctx, "XA-RC:0001"); err != nil {
					close(locked)
					return err
				}
				close(locked)
				<-release
				_, err := tx.EraseCase(ctx, "XA-RC:0001", store.Erasure{Reason: "consent_withdrawn"})
				return err
			})
		}()
		<-locked
		got := make(chan store.Case, 1)
		second := make(chan error, 1)
		go func() {
			second <- other.Tx(ctx, func(tx store.Tx) error {
				c, err := tx.LockCase(ctx, "XA-RC:0001")
				got <- c
				return err
			})
		}()
		select {
		case <-got:
			t.Fatal("LockCase returned while another transaction held the case")
		case <-time.After(300 * time.Millisecond):
		}
		close(release)
		mustErr(t, <-first, nil)
		if c := <-got; !c.Erased() || c.Document != nil {
			t.Fatalf("after the erasure committed, LockCase saw erased %t document %t", c.Erased(), c.Document != nil)
		}
		mustErr(t, <-second, nil)
	})
}
