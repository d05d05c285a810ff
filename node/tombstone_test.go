package node_test

import (
	"strings"
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/internal/dbtest"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestWithdrawnBeforeCreateKeepsNothing: a case.create sent before the
// origin withdrew the case (its sender timed out and withdrew) may be
// stored or processed after the withdrawal. A withdrawal of a case not held
// leaves a tombstone, and the late create is then discarded: its personal
// data (a canary name) is nowhere in the database, the discard is audited,
// and the confirmation of the withdrawal stays true. The create arrives
// after the withdrawal was processed (as when inbox rows commit out of
// their order), or both arrive in one batch. The normal order (create,
// then withdrawal, row by row or in a batch) still erases the held case,
// with no tombstone of its own and nothing discarded. In every order a
// later update is discarded.
func TestWithdrawnBeforeCreateKeepsNothing(t *testing.T) {
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
		for _, order := range []string{"withdraw-then-create", "one-batch", "create-then-withdraw", "create-then-withdraw-batch"} {
			t.Run(order, func(t *testing.T) {
				ctx := t.Context()
				dsn := nodetest.DSN(t, d)
				xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{Dialect: d, DSN: dsn, NoRun: true})
				id := "XA-RC:TOMB-" + strings.ToUpper(federation.NewJTI()[:8])
				canary := "Qzcanary" + strings.ToLower(federation.NewJTI()[:10])
				create := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, id,
					body(t, "case.tracing_request", func(m map[string]any) {
						m["case_id"], m["version"] = id, 1
						m["persons"].([]any)[0].(map[string]any)["names"].([]any)[0].(map[string]any)["value"] = canary
					}))
				withdraw := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseWithdraw, id,
					body(t, "withdrawal.consent_withdrawn", func(m map[string]any) { m["case_id"] = id }))
				receive := func(raws ...[]byte) {
					t.Helper()
					out, err := xb.ReceiveBatch(ctx, "XA-RC", raws)
					if err != nil {
						t.Fatal(err)
					}
					for _, o := range out {
						if o.Err != nil {
							t.Fatalf("refused: %v", o.Err)
						}
					}
				}
				process := func() {
					t.Helper()
					if err := xb.ProcessInbox(ctx); err != nil {
						t.Fatal(err)
					}
				}
				switch order {
				case "withdraw-then-create":
					receive(withdraw)
					process()
					receive(create)
					process()
				case "one-batch":
					receive(withdraw, create)
					process()
				case "create-then-withdraw-batch":
					receive(create, withdraw)
					process()
				case "create-then-withdraw":
					receive(create)
					process()
					if c, err := xb.Store.GetCase(ctx, id); err != nil || c.Erased() || len(c.Document) == 0 {
						t.Fatalf("create not applied: %+v %v", c, err)
					}
					receive(withdraw)
					process()
				}

				c, err := xb.Store.GetCase(ctx, id)
				if err != nil || !c.Erased() || c.Document != nil || c.Origin != "XA-RC" {
					t.Fatalf("case after withdrawal: %+v %v (want a tombstone of XA-RC's case)", c, err)
				}
				if hits := dbHolds(t, d, dsn, canary); len(hits) > 0 {
					t.Fatalf("the canary of the withdrawn case is stored:\n%s", strings.Join(hits, "\n"))
				}
				erase := auditOf(t, xb.Store, "case.erase", id)
				discard := auditOf(t, xb.Store, "case.discard", id)
				tombstoned := !strings.HasPrefix(order, "create-then-withdraw")
				if len(erase) != 1 || strings.Contains(erase[0], `"tombstoned":true`) != tombstoned {
					t.Fatalf("case.erase audit %v (tombstone expected: %v)", erase, tombstoned)
				}
				// A create processed after the withdrawal is discarded; one
				// stored before it lost its envelope to the erasure (and a
				// batch reads the withdrawal's erasure alike).
				wantDiscard := order == "withdraw-then-create"
				if (len(discard) == 1) != wantDiscard || len(discard) > 1 {
					t.Fatalf("case.discard audit %v (expected: %v)", discard, wantDiscard)
				}
				if wantDiscard && !strings.Contains(discard[0], `"kind":"case.create"`) {
					t.Fatalf("case.discard audit %v", discard)
				}
				vs, err := xb.Store.ListCaseVersions(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range vs {
					if v.Document != nil {
						t.Fatalf("version %d kept its document", v.Version)
					}
				}
				if tombstoned && len(vs) != 0 {
					t.Fatalf("%d versions stored of a case never held", len(vs))
				}
				// The confirmation of the withdrawal is queued to the origin.
				rows, err := xb.Store.ListOutbox(ctx, store.OutboxFilter{CaseID: id, Destination: "XA-RC", Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) != 1 || rows[0].Kind != string(federation.KindCaseWithdraw) {
					t.Fatalf("outbox %+v: want the confirmation alone", rows)
				}
				// A replay of the create stays a duplicate, and a later
				// update is discarded too.
				if r, err := xb.Receive(ctx, "XA-RC", create); err != nil || r.Status != federation.ReceiptDuplicate {
					t.Fatalf("replayed create: %+v %v", r, err)
				}
				update := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseUpdate, id,
					body(t, "case.tracing_request", func(m map[string]any) {
						m["case_id"], m["version"] = id, 2
						m["persons"].([]any)[0].(map[string]any)["names"].([]any)[0].(map[string]any)["value"] = canary
					}))
				receive(update)
				process()
				if c, err := xb.Store.GetCase(ctx, id); err != nil || !c.Erased() || c.Document != nil {
					t.Fatalf("case after a late update: %+v %v", c, err)
				}
				if hits := dbHolds(t, d, dsn, canary); len(hits) > 0 {
					t.Fatalf("the canary of a late update is stored:\n%s", strings.Join(hits, "\n"))
				}
				if got := auditOf(t, xb.Store, "case.discard", id); len(got) != len(discard)+1 {
					t.Fatalf("late update: case.discard audit %v", got)
				}
			})
		}
	})
}

// auditOf returns the details of the audit entries of action on object.
func auditOf(t *testing.T, s store.Store, action, object string) []string {
	t.Helper()
	rs, err := s.ListAudit(t.Context(), store.AuditFilter{Action: action, Object: object, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, string(r.Details))
	}
	return out
}

// dbHolds returns "table: row" for every row of every table of the
// database at dsn that holds marker (dbtest.Holds).
func dbHolds(t *testing.T, d nodetest.Dialect, dsn, marker string) []string {
	t.Helper()
	return dbtest.Holds(t, d == nodetest.Postgres, dsn, marker)
}
