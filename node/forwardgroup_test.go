package node_test

import (
	"context"
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

// gateTxs holds the first transactions a node starts once armed (as many
// as armed says) until release is closed, counting every transaction.
type gateTxs struct {
	store.Store
	armed   *atomic.Int32
	entered chan struct{} // one per transaction held
	release chan struct{}
	n       *atomic.Int32
}

func (s gateTxs) Tx(ctx context.Context, fn func(store.Tx) error) error {
	s.n.Add(1)
	if s.armed.Add(-1) >= 0 {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.Store.Tx(ctx, fn)
}

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
		txs := &atomic.Int32{}
		gate := gateTxs{armed: &atomic.Int32{}, entered: make(chan struct{}, 64), release: make(chan struct{}), n: txs}
		grouped := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: d, NoRun: true,
			WrapStore: func(s store.Store) store.Store { gate.Store = s; return gate }})
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
		gate.armed.Store(int32(groups))
		before := txs.Load()
		for i := range groups {
			wg.Add(1)
			go forward(i)
			<-gate.entered
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
		close(gate.release)
		wg.Wait()
		// The held ones, then the rest together.
		if n := txs.Load() - before; n != int32(groups)+1 {
			t.Errorf("%d forwards arriving together ran %d transactions, want %d (the %d held, then the rest together)", len(order), n, groups+1, groups)
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
