package node_test

import (
	"testing"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestForwardReadsOutboxOnce: a forward reads its case and whether a
// create is queued for the member in one read before its transaction (the
// kind the policy judges), and lists what is queued of the case for the
// member once inside it (whether a create is queued already, and whether
// this version is); a second forward of the same version queues nothing
// and answers with the first one's row.
func TestForwardReadsOutboxOnce(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
		var w *watchStore
		xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: d, NoRun: true,
			WrapStore: func(s store.Store) store.Store { w = newWatchStore(s); return w }})
		outside, inside := w.outside, w.listed
		cw := node.Actor{Name: "cw", Role: "caseworker"}
		if _, err := xa.CreateCase(ctx, cw, body(t, "case.tracing_request", nil)); err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for i := range 2 {
			outside.Store(0)
			inside.Store(0)
			r, err := xa.Forward(ctx, cw, "XA-RC:TR-2024-0117", "XB-RC")
			if err != nil {
				t.Fatal(err)
			}
			if r.State != "queued" || r.Kind != "case.create" {
				t.Fatalf("forward %d: %s %s", i, r.State, r.Kind)
			}
			ids = append(ids, r.OutboxID)
			if outside.Load() != 1 || inside.Load() != 1 {
				t.Errorf("forward %d read the case and the outbox %d times before its transaction and listed the outbox %d times in it, want 1 and 1", i, outside.Load(), inside.Load())
			}
		}
		if ids[0] != ids[1] {
			t.Errorf("second forward of the same version: row %d, first %d", ids[1], ids[0])
		}
		rows, err := xa.Store.ListOutbox(ctx, store.OutboxFilter{Destination: "XB-RC"})
		if err != nil || len(rows) != 1 {
			t.Fatalf("%d rows queued: %v", len(rows), err)
		}
	})
}
