package node_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/bundle"
	"github.com/familylinks/flx/node"
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
	t.Parallel()
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

// TestTombstonePurge: the tombstone of a case never held, after a
// withdrawal, answers not_found to a caseworker (the withdrawal is in the
// inbox), while a case held and withdrawn answers with its tombstone. The
// retention loop's purge keeps it for TombstoneKeep: a late create that
// arrives just before the bound and is still unprocessed when the purge
// runs (racing it) keeps the tombstone, is discarded (its canary stored
// nowhere), and only then does the tombstone go. The withdrawal sent again
// after the purge is refused as expired and leaves nothing: no tombstone,
// no second confirmation.
func TestTombstonePurge(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
		f.Validity = 200 * 24 * time.Hour // the clock moves past TombstoneKeep
		f.Sign(t)
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(by time.Duration) { mu.Lock(); now = now.Add(by); mu.Unlock() }
		dsn := nodetest.DSN(t, d)
		xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{Dialect: d, DSN: dsn, NoRun: true,
			Tune: func(o *node.Options) { o.Now = clock }})
		if keep := xb.TombstoneKeep(); keep != federation.DefaultMaxTTL+bundle.MaxTTL+4*federation.DefaultSkew {
			t.Fatalf("TombstoneKeep = %s", keep)
		}
		receive := func(raw []byte) error {
			t.Helper()
			_, err := xb.Receive(ctx, "XA-RC", raw)
			return err
		}
		process := func() {
			t.Helper()
			if err := xb.ProcessInbox(ctx); err != nil {
				t.Fatal(err)
			}
		}
		id := "XA-RC:PURGE-" + strings.ToUpper(federation.NewJTI()[:8])
		heldID := id + "-HELD"
		canary := "Qzcanary" + strings.ToLower(federation.NewJTI()[:10])
		create := func(caseID string) []byte {
			return f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, caseID,
				body(t, "case.tracing_request", func(m map[string]any) {
					m["case_id"], m["version"] = caseID, 1
					m["persons"].([]any)[0].(map[string]any)["names"].([]any)[0].(map[string]any)["value"] = canary
				}))
		}
		withdraw := func(caseID string) []byte {
			return f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseWithdraw, caseID,
				body(t, "withdrawal.consent_withdrawn", func(m map[string]any) { m["case_id"] = caseID }))
		}
		// A create of id signed now, valid as long as an envelope may be:
		// it is kept to arrive after the withdrawal.
		signed := time.Now()
		late, err := federation.Sign(federation.Claims{Issuer: "XA-RC", Audience: "XB-RC", IssuedAt: signed,
			ExpiresAt: signed.Add(federation.DefaultMaxTTL), JTI: federation.NewJTI(), Kind: federation.KindCaseCreate,
			CaseID: id, Body: body(t, "case.tracing_request", func(m map[string]any) {
				m["case_id"], m["version"] = id, 1
				m["persons"].([]any)[0].(map[string]any)["names"].([]any)[0].(map[string]any)["value"] = canary
			})}, f.Member(t, "XA-RC").Key)
		if err != nil {
			t.Fatal(err)
		}
		// One case held, then withdrawn; one withdrawn, never held.
		if err := receive(create(heldID)); err != nil {
			t.Fatal(err)
		}
		process()
		w := withdraw(id)
		for _, raw := range [][]byte{withdraw(heldID), w} {
			if err := receive(raw); err != nil {
				t.Fatal(err)
			}
		}
		process()
		notFound := func(caseID string) {
			t.Helper()
			_, err := xb.GetCase(ctx, caseID)
			var ne *node.Error
			if !errors.As(err, &ne) || ne.Code != node.CodeNotFound {
				t.Fatalf("GET %s: %v, want not_found", caseID, err)
			}
		}
		notFound(id)
		if v, err := xb.GetCase(ctx, heldID); err != nil || !v.Case.Erased() || v.Document != nil || v.Case.Type == "" {
			t.Fatalf("GET of the case held and withdrawn: %+v %v, want its tombstone", v.Case, err)
		}
		if c, err := xb.Store.GetCase(ctx, id); err != nil || !c.NeverHeld() {
			t.Fatalf("the store's tombstone: %+v %v", c, err)
		}
		purge := func(want int64) {
			t.Helper()
			if n, err := xb.PurgeTombstones(ctx); err != nil || n != want {
				t.Fatalf("PurgeTombstones = %d, %v; want %d", n, err, want)
			}
		}
		purge(0)

		// A late create, signed before the withdrawal (exp at most
		// DefaultMaxTTL after), arrives as late as it can be accepted; the
		// purge runs, past the bound, before it is processed.
		advance(federation.DefaultMaxTTL - time.Minute)
		// Left to the processor (a lone create is otherwise applied as it
		// is stored), so that it is unprocessed when the purge runs.
		xb.ApplyOnReceiveForTest(false)
		if err := receive(late); err != nil {
			t.Fatalf("late create: %v", err)
		}
		advance(xb.TombstoneKeep())
		purge(0)
		process()
		if hits := dbHolds(t, d, dsn, canary); len(hits) > 0 {
			t.Fatalf("the canary of the late create is stored:\n%s", strings.Join(hits, "\n"))
		}
		if got := auditOf(t, xb.Store, "case.discard", id); len(got) != 1 {
			t.Fatalf("case.discard audit %v, want the late create", got)
		}
		purge(1) // the held case's tombstone stays
		notFound(id)
		if v, err := xb.GetCase(ctx, heldID); err != nil || !v.Case.Erased() {
			t.Fatalf("the case held after the purge: %+v %v", v.Case, err)
		}

		// The withdrawal replayed after the purge: expired, nothing stored.
		confirmations := func() int {
			rows, err := xb.Store.ListOutbox(ctx, store.OutboxFilter{CaseID: id, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			return len(rows)
		}
		before := confirmations()
		err = receive(w)
		var ne *node.Error
		if !errors.As(err, &ne) || ne.Code != federation.CodeExpired {
			t.Fatalf("withdrawal replayed after the purge: %v, want expired", err)
		}
		process()
		if _, err := xb.Store.GetCase(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("withdrawal replayed after the purge left a case row: %v", err)
		}
		if n := confirmations(); n != before || n != 1 {
			t.Fatalf("%d outbox rows of the case after the replay, want the one confirmation (%d before)", n, before)
		}
	})
}
