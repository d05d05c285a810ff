package node_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// txFlag marks the forwards' transactions as under way (in) from the
// moment they lock their cases to their end, for a test that asks what runs
// inside them (other transactions, a background one, are not marked).
type txFlag struct {
	store.Store
	in *atomic.Int32
}

func (s txFlag) Tx(ctx context.Context, fn func(store.Tx) error) error {
	var locked atomic.Bool
	defer func() {
		if locked.Load() {
			s.in.Add(-1)
		}
	}()
	return s.Store.Tx(ctx, func(tx store.Tx) error { return fn(lockFlag{tx, s.in, &locked}) })
}

type lockFlag struct {
	store.Tx
	in     *atomic.Int32
	locked *atomic.Bool
}

func (t lockFlag) LockCaseHeads(ctx context.Context, ids []string) (map[string]store.Case, error) {
	if t.locked.CompareAndSwap(false, true) {
		t.in.Add(1)
	}
	return t.Tx.LockCaseHeads(ctx, ids)
}

// TestForwardSignsBeforeItsTransaction: a caseworker's forward, and an
// import's forwards, sign their envelopes before their transaction (each
// caller at once, over the cores), not in it: a group's transaction,
// holding its cases' locks, does no signature of its own; what is queued
// is still the envelope of the row's kind, case, member and document.
func TestForwardSignsBeforeItsTransaction(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
		in := &atomic.Int32{}
		var signedIn, signedOut atomic.Int32
		xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: d, NoRun: true,
			WrapStore: func(s store.Store) store.Store { return txFlag{s, in} },
			Tune: func(o *node.Options) {
				o.SignerFor = func(time.Time) *jose.PrivateKey {
					if in.Load() > 0 {
						signedIn.Add(1)
					} else {
						signedOut.Add(1)
					}
					return nil // the node's own key
				}
			}})
		cw := node.Actor{Name: "cw", Role: "caseworker"}
		docs := batchCases(t, 10) // i%5 == 0 denied, i%5 == 1 held for review
		ids := batchIDs(docs)
		if _, err := xa.ImportCases(ctx, cw, docs, ""); err != nil {
			t.Fatal(err)
		}
		queued := 0
		for _, to := range []string{"XB-RC", "XC-RC"} {
			for _, id := range ids {
				r, err := xa.Forward(ctx, cw, id, to)
				if err == nil && r.State == "queued" {
					queued++
				}
			}
		}
		// An import forwarded as it is stored (forwardBatch).
		more := batchCases(t, 15)[10:]
		if _, err := xa.ImportCases(ctx, cw, more, "XB-RC"); err != nil {
			t.Fatal(err)
		}
		if queued == 0 {
			t.Fatal("nothing queued")
		}
		if signedIn.Load() != 0 || signedOut.Load() == 0 {
			t.Errorf("forwards signed %d envelopes in their transactions and %d before, want none in them", signedIn.Load(), signedOut.Load())
		}
		rows, err := xa.Store.ListOutbox(ctx, store.OutboxFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) < queued {
			t.Fatalf("%d rows queued, want at least %d", len(rows), queued)
		}
		for _, o := range rows {
			full, err := xa.Store.GetOutbox(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			c, err := federation.ClaimsOf(full.Envelope)
			if err != nil {
				t.Fatal(err)
			}
			if string(c.Kind) != o.Kind || c.CaseID != o.CaseID || c.Audience != o.Destination || c.JTI != o.JTI || c.Issuer != "XA-RC" {
				t.Errorf("row %d (%s %s to %s, jti %s) holds an envelope of %s %s to %s, jti %s", o.ID, o.Kind, o.CaseID, o.Destination, o.JTI, c.Kind, c.CaseID, c.Audience, c.JTI)
			}
		}
	})
}
