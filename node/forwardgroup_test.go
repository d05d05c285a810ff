package node_test

import (
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestForwardsCommitTogether: forwards that arrive while another's
// transaction is under way are committed together, in one transaction
// (one commit, one hold of the audit-chain lock), not one each; and each
// writes what it would alone (decision, outbox row, audit record, the
// policy's refusal for a denied one), a case forwarded twice at once is
// queued once, and the audit chain holds.
func TestForwardsCommitTogether(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
		// Once armed, the first transactions started (as many as armed
		// says) are held until release is closed.
		armed, entered, release := &atomic.Int32{}, make(chan struct{}, 64), make(chan struct{})
		var w *watchStore
		m := node.NewMetrics(nil)
		grouped := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: d, NoRun: true, Metrics: m,
			WrapStore: func(s store.Store) store.Store {
				w = newWatchStore(s)
				w.before = func() {
					if armed.Add(-1) >= 0 {
						entered <- struct{}{}
						<-release
					}
				}
				return w
			}})
		txs := w.txs
		alone := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: d, NoRun: true})
		cw := node.Actor{Name: "cw", Role: "caseworker"}
		docs := batchCases(t, 21) // queued, denied (i%5 == 0) and held for review (i%5 == 1)
		ids := batchIDs(docs)
		for _, x := range []*nodetest.Node{grouped, alone} {
			if _, err := x.ImportCases(ctx, cw, docs, ""); err != nil {
				t.Fatal(err)
			}
		}
		// Case 2 twice at once: one row, both told of it.
		order := append([]string{ids[0]}, ids[1:]...)
		order = append(order, ids[2])
		results := make([]node.SendResult, len(order))
		errs := make([]error, len(order))
		var wg sync.WaitGroup
		forward := func(i int) {
			defer wg.Done()
			results[i], errs[i] = grouped.Forward(ctx, cw, order[i], "XB-RC")
		}
		// The transactions of the first forwards (as many as groups may
		// run at once) are held: the others arrive meanwhile.
		_, groups := grouped.PendingForwardsForTest()
		armed.Store(int32(groups))
		before := txs.Load()
		w.outside.Store(0)
		w.inside.Store(0)
		w.keysRead.Store(0)
		for i := range groups {
			wg.Add(1)
			go forward(i)
			<-entered
		}
		for i := groups; i < len(order); i++ {
			wg.Add(1)
			go forward(i)
		}
		// Wait until the others are judged and waiting, or (one by one,
		// on a node without groups) done.
		deadline := time.Now().Add(20 * time.Second)
		for {
			pending, _ := grouped.PendingForwardsForTest()
			if pending == len(order)-groups || int(txs.Load()-before) == len(order) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		close(release)
		wg.Wait()
		// The held ones, then the rest together.
		if n := txs.Load() - before; n != int32(groups)+1 {
			t.Errorf("%d forwards arriving together ran %d transactions, want %d (the %d held, then the rest together)", len(order), n, groups+1, groups)
		}
		// As the metrics count them (the bench's forwards per group
		// transaction).
		if b := m.Batches(); b.SendTxs != int64(groups)+1 || b.Sends != int64(len(order)) {
			t.Errorf("metrics: %d group transactions of %d forwards, want %d of %d", b.SendTxs, b.Sends, groups+1, len(order))
		}
		// Each forward's case (and the kind it is sent as) is read once
		// before its transaction, with those of the forwards waiting at the
		// same time; a transaction, whatever the forwards it holds, locks
		// their cases at once, reads what is queued of them at once, and
		// records their decisions, queues their envelopes and appends their
		// audit records a statement each.
		if n, k := w.outside.Load(), w.keysRead.Load(); n > int32(len(order)) || k != int32(len(order)) {
			t.Errorf("%d forwards made %d reads of %d cases before their transactions, want at most one each, of its case", len(order), n, k)
		}
		if n, tx := w.inside.Load(), txs.Load()-before; n > 5*tx {
			t.Errorf("%d forwards in %d transactions made %d store operations in them, want at most 5 a transaction", len(order), tx, n)
		}
		for i, id := range order {
			var pe *problem.Error
			switch {
			case i%5 == 0 && i < len(ids):
				if !errors.As(errs[i], &pe) || pe.Code != problem.PolicyDenied || results[i].State != "denied" {
					t.Errorf("case %s: %+v %v, want policy_denied", id, results[i], errs[i])
				}
			case errs[i] != nil:
				t.Errorf("case %s: %v", id, errs[i])
			}
		}
		if a, b := results[2], results[len(order)-1]; a.OutboxID == 0 || a.OutboxID != b.OutboxID {
			t.Errorf("case %s forwarded twice at once: rows %d and %d", ids[2], a.OutboxID, b.OutboxID)
		}
		// The same forwards one by one on the other node write the same.
		for _, id := range order {
			if _, err := alone.Forward(ctx, cw, id, "XB-RC"); err != nil && !errors.As(err, new(*problem.Error)) {
				t.Fatal(err)
			}
		}
		for _, id := range ids {
			g, a := rowsOf(t, grouped.Store, id), rowsOf(t, alone.Store, id)
			if !reflect.DeepEqual(g, a) {
				t.Errorf("case %s: grouped wrote\n%+v\nalone\n%+v", id, g, a)
			}
		}
		if v, err := grouped.Store.VerifyAudit(ctx); err != nil || v.FirstBadSeq != 0 {
			t.Fatalf("audit chain: %+v %v", v, err)
		}
	})
}
