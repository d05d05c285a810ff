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

// gateFirstTx holds the first transaction a node starts once armed until
// release is closed, counting every transaction.
type gateFirstTx struct {
	store.Store
	armed            *atomic.Bool
	entered, release chan struct{}
	n                *atomic.Int32
}

func (s gateFirstTx) Tx(ctx context.Context, fn func(store.Tx) error) error {
	s.n.Add(1)
	if s.armed.CompareAndSwap(true, false) {
		close(s.entered)
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
		gate := gateFirstTx{armed: &atomic.Bool{}, entered: make(chan struct{}), release: make(chan struct{}), n: txs}
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
		// The first forward's transaction is held: the others arrive
		// meanwhile.
		gate.armed.Store(true)
		before := txs.Load()
		wg.Add(1)
		go forward(0)
		<-gate.entered
		for i := 1; i < len(order); i++ {
			wg.Add(1)
			go forward(i)
		}
		time.Sleep(time.Second) // the others judged and waiting
		close(gate.release)
		wg.Wait()
		// The held one, a group per other leader (forwardGroups: the
		// first to arrive, alone or nearly), then the rest together.
		if n := txs.Load() - before; n > 6 {
			t.Errorf("%d forwards arriving together ran %d transactions, want at most 6", len(order), n)
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
