package node_test

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestBatchRelayAtomic: a batch mixing relay.forward envelopes (a chain
// ICRC-CTA carries on to XB-RC, an envelope for ICRC-CTA itself, one
// refused alone) with ordinary envelopes, whose transaction fails (a
// trigger refuses one inbox row, as a full disk or a failing database
// would): the batch is answered as a whole error and nothing of it is kept,
// no inbox row, no chain or end-to-end receipt queued, no relay record
// (FLX-BAT-004). Sent again once the database takes it, each envelope is
// stored once, in the batch's order, and the chain forwarded once; sent a
// third time, each is a duplicate and the refused one refused alone again.
func TestBatchRelayAtomic(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "ICRC-CTA:XC:coordinator")
		f.Member(t, "XB-RC").RelayVia = []string{"ICRC-CTA"}
		f.Sign(t)
		dsn := nodetest.DSN(t, d)
		cta := nodetest.Start(t, f, "ICRC-CTA", nil, nodetest.Options{Dialect: d, DSN: dsn, NoRun: true})

		tag := strings.ToUpper(federation.NewJTI()[:8])
		doc := func(id string) []byte {
			return body(t, "case.tracing_request", func(m map[string]any) { m["case_id"], m["version"] = id, 1 })
		}
		chain := func(inner []byte) []byte {
			t.Helper()
			out, _, err := federation.Originate(inner, federation.Wrap{Self: "XA-RC", To: "ICRC-CTA",
				Signer: f.Member(t, "XA-RC").Key, Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		relayed, direct, forCTA, failing := "XA-RC:RB-"+tag, "XA-RC:DB-"+tag, "XA-RC:FB-"+tag, "XA-RC:XB-"+tag
		notOrigin := "XB-RC:NO-" + tag
		batch := [][]byte{
			chain(f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, relayed, doc(relayed))), // carried on
			f.Envelope(t, "XA-RC", "ICRC-CTA", federation.KindCaseCreate, direct, doc(direct)),
			chain(f.Envelope(t, "XA-RC", "ICRC-CTA", federation.KindCaseCreate, forCTA, doc(forCTA))), // final here
			chain(f.Envelope(t, "XA-RC", "ICRC-CTA", federation.KindCaseCreate, notOrigin, doc(notOrigin))),
			f.Envelope(t, "XA-RC", "ICRC-CTA", federation.KindCaseCreate, failing, doc(failing)),
		}
		const refused = 3 // XA-RC creates XB-RC's case: sender_mismatch
		inbox := func() []store.InboxItem {
			t.Helper()
			rows, err := cta.Store.ListInbox(ctx, store.InboxFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			return rows
		}
		outbox := func(dest string) []store.OutboxItem {
			t.Helper()
			rows, err := cta.Store.ListOutbox(ctx, store.OutboxFilter{Destination: dest, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			return rows
		}

		// The database refuses the last envelope's inbox row.
		db := rawDB(t, d, dsn)
		trigger := map[nodetest.Dialect][]string{
			nodetest.SQLite: {`CREATE TRIGGER flx_test_fail BEFORE INSERT ON inbox WHEN NEW.case_id = '` + failing + `'
				BEGIN SELECT RAISE(ABORT, 'test: injected failure'); END`},
			nodetest.Postgres: {`CREATE FUNCTION flx_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'test: injected failure'; END $$`,
				`CREATE TRIGGER flx_test_fail BEFORE INSERT ON inbox FOR EACH ROW WHEN (NEW.case_id = '` + failing + `')
				EXECUTE FUNCTION flx_test_fail()`},
		}[d]
		for _, s := range trigger {
			if _, err := db.ExecContext(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := cta.ReceiveBatch(ctx, "XA-RC", batch); err == nil {
			t.Fatalf("batch answered %+v while its transaction fails, want an error for the whole batch", out)
		}
		for _, r := range inbox() {
			t.Errorf("inbox row %d (%s %s) kept of a batch not stored", r.ID, r.Kind, r.CaseID)
		}
		for _, r := range append(outbox("XA-RC"), outbox("XB-RC")...) {
			t.Errorf("outbox row %d (%s to %s, %s) queued by a batch not stored", r.ID, r.Kind, r.Destination, r.CaseID)
		}
		if got := append(auditOf(t, cta.Store, "relay.accept", relayed), auditOf(t, cta.Store, "relay.receive", forCTA)...); len(got) != 0 {
			t.Errorf("relay audited for a batch not stored: %v", got)
		}
		if ds, err := cta.Store.ListDecisions(ctx, relayed); err != nil || len(ds) != 0 {
			t.Errorf("%d relay decisions (%v) kept of a batch not stored", len(ds), err)
		}

		drop := map[nodetest.Dialect]string{nodetest.SQLite: `DROP TRIGGER flx_test_fail`, nodetest.Postgres: `DROP TRIGGER flx_test_fail ON inbox`}[d]
		if _, err := db.ExecContext(ctx, drop); err != nil {
			t.Fatal(err)
		}
		for round, want := range []federation.ReceiptStatus{federation.ReceiptAccepted, federation.ReceiptDuplicate} {
			out, err := cta.ReceiveBatch(ctx, "XA-RC", batch)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			var last int64
			for i, o := range out {
				switch {
				case i == refused:
					if o.Err == nil || o.Err.Code != federation.CodeSenderMismatch {
						t.Errorf("round %d: envelope %d answered %s (%v), want sender_mismatch", round, i, o.Status, o.Err)
					}
				case o.Err != nil || o.Status != want:
					t.Errorf("round %d: envelope %d answered %s (%v), want %s", round, i, o.Status, o.Err, want)
				case round == 0 && o.InboxID <= last:
					t.Errorf("envelope %d stored as inbox row %d, after row %d: not in the batch's order", i, o.InboxID, last)
				}
				last = max(last, o.InboxID)
			}
			if err := cta.ProcessInbox(ctx); err != nil {
				t.Fatal(err)
			}
			rows := inbox()
			if len(rows) != 4 {
				t.Errorf("round %d: %d inbox rows, want 4 (the refused one not stored)", round, len(rows))
			}
			for _, r := range rows {
				if r.ProcessedAt.IsZero() || r.ProcessError != "" {
					t.Errorf("round %d: inbox row %d (%s %s): processed %v, error %q", round, r.ID, r.Kind, r.CaseID, !r.ProcessedAt.IsZero(), r.ProcessError)
				}
			}
			if got := outbox("XB-RC"); len(got) != 1 || got[0].CaseID != relayed {
				t.Errorf("round %d: %d chains queued on to XB-RC, want the one of %s", round, len(got), relayed)
			}
			if got := auditOf(t, cta.Store, "relay.accept", relayed); len(got) != 1 {
				t.Errorf("round %d: relay.accept audit %v, want one", round, got)
			}
			// Each copy of the envelope for ICRC-CTA is answered end to
			// end (accepted, then duplicate).
			if got := outbox("XA-RC"); len(got) != round+1 {
				t.Errorf("round %d: %d end-to-end receipts queued to XA-RC, want %d", round, len(got), round+1)
			}
		}
	})
}

// rawDB opens the database at dsn beside the node's store, for a test to
// change its schema (the store registers the drivers).
func rawDB(t *testing.T, d nodetest.Dialect, dsn string) *sql.DB {
	t.Helper()
	driver, conn := "pgx", dsn
	if d == nodetest.SQLite {
		driver, conn = "sqlite", strings.TrimPrefix(dsn, "sqlite:")+"?_pragma=busy_timeout(5000)"
	}
	db, err := sql.Open(driver, conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
