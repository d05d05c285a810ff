package node_test

import (
	"sync/atomic"
	"testing"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestForwardStatements: the transaction of a group of forwards sends
// PostgreSQL seven statements, whatever the forwards it holds: BEGIN, the
// lock of their cases, the read of what is queued of them, their decisions
// with their envelopes (store.RecordSends), the audit records (with the
// chain's lock), COMMIT, and the wait for the commit's flush outside the
// audit lock. It was ten for a group of several (the decisions, a
// savepoint, the envelopes and the savepoint's release) and eight for a
// forward alone. A caseworker's forward alone adds its read of the case
// (the read group's statement): eight in all, was nine; a list import's
// forward adds its two reads of the cases and of what is queued of them:
// nine, was twelve.
func TestForwardStatements(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
		sent := &atomic.Int64{}
		xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: d, NoRun: true,
			StoreOptions: []store.Option{store.WithStatementCounter(sent)}})
		cw := node.Actor{Name: "cw", Role: "caseworker"}
		docs := batchCases(t, 45)
		ids := batchIDs(docs)
		if _, err := xa.ImportCases(ctx, cw, docs, ""); err != nil {
			t.Fatal(err)
		}
		// Forwards alone, of queued cases (i%5 > 1): the first ones prepare
		// the statements on the connections (pgx caches them).
		var alone []int64
		for i := 2; i < 45; i += 5 {
			before := sent.Load()
			res, err := xa.Forward(ctx, cw, ids[i], "XB-RC")
			if err != nil || res.State != "queued" {
				t.Fatalf("case %s: %+v %v", ids[i], res, err)
			}
			alone = append(alone, sent.Load()-before)
		}
		t.Logf("%s: forwards alone: %v statements", d, alone)
		if d == nodetest.Postgres {
			if n := alone[len(alone)-1]; n != 8 {
				t.Errorf("a forward alone sent %d statements, want 8", n)
			}
		}
		// A group: the same cases imported again, forwarded together (a
		// list import's forward runs as a group's transaction does); the
		// ones forwarded above are queued already. The import's own
		// statements are counted apart, by an import that forwards none.
		for round := range 3 {
			before := sent.Load()
			if _, err := xa.ImportCases(ctx, cw, docs[:40], ""); err != nil {
				t.Fatal(err)
			}
			imp := sent.Load() - before
			before = sent.Load()
			res, err := xa.ImportCases(ctx, cw, docs[:40], "XB-RC")
			if err != nil {
				t.Fatal(err)
			}
			n := sent.Load() - before - imp
			queued := 0
			for _, fw := range res.Forwarded {
				if fw.State == "queued" {
					queued++
				}
			}
			t.Logf("%s, round %d: a group of %d forwards (%d queued) sent %d statements", d, round, len(res.Forwarded), queued, n)
			if round == 0 && queued < 10 {
				t.Fatalf("round 0: %d forwards queued, want at least 10", queued)
			}
			if d == nodetest.Postgres && n != 9 {
				t.Errorf("round %d: a group of forwards sent %d statements, want 9", round, n)
			}
		}
		if v, err := xa.Store.VerifyAudit(ctx); err != nil || v.FirstBadSeq != 0 {
			t.Fatalf("audit chain: %+v %v", v, err)
		}
	})
}
