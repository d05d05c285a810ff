package store_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// TestFlushesShared: transactions that append to the audit chain commit
// without waiting for the WAL flush (the chain's lock is not held through
// it) and then wait for a flush outside the lock; concurrent ones share
// flushes (a flush that starts after a commit serves it), so they send
// fewer than one flush each: BEGIN, the append and COMMIT each, and fewer
// flushes than transactions (each made its own before: four statements a
// transaction). Each still returns only once its commit is on disk (the
// server's flushed WAL is past what it wrote), and the chain verifies.
func TestFlushesShared(t *testing.T) {
	sent := &atomic.Int64{}
	b := newBackend(t, store.Postgres)
	b.s = b.open(t, store.WithStatementCounter(sent))
	ctx := t.Context()
	const n = 16
	shared := false
	for round := 0; round < 5 && !shared; round++ {
		before := sent.Load()
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				var wrote string
				errs[i] = b.s.Tx(ctx, func(tx store.Tx) error {
					if _, err := tx.AppendAudit(ctx, store.AuditEntry{Actor: "XA-RC", Action: "test", Object: fmt.Sprint(round, "-", i)}); err != nil {
						return err
					}
					var err error
					wrote, err = store.WALInserted(t, tx)
					return err
				})
				if errs[i] == nil {
					if ok, err := store.WALFlushedPast(t, b.s, wrote); err != nil || !ok {
						errs[i] = fmt.Errorf("returned before the WAL was flushed past %s (%v)", wrote, err)
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, transaction %d: %v", round, i, err)
			}
		}
		// Each transaction also read its WAL position once.
		stmts := sent.Load() - before - n
		t.Logf("round %d: %d transactions sent %d statements", round, n, stmts)
		if stmts > 4*n {
			t.Fatalf("round %d: %d transactions sent %d statements, want at most %d", round, n, stmts, 4*n)
		}
		shared = stmts < 4*n
	}
	if !shared {
		t.Error("no flush was shared: one per transaction")
	}
	if v, err := b.s.VerifyAudit(ctx); err != nil || v.FirstBadSeq != 0 {
		t.Fatalf("audit chain: %+v %v", v, err)
	}
}
