package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// TestOutboxEnvelopesMigration: an outbox an older FLX left, with rows in
// every state (envelopes in the outbox rows), comes through migration 0049
// with each row where it was: its state, attempts, lease, error, receipt
// and envelope (none for the rows whose envelope was dropped) read back as
// before, every row's jti and envelope moved to outbox_envelopes (found by
// jti there) and the outbox's own column gone; the migrated rows are then claimed, delivered, requeued and
// counted as any other.
func TestOutboxEnvelopesMigration(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := t.Context()
			b := migratedBefore(t, d, 49)
			ts := func(m int) string { return fmt.Sprintf("2025-06-01T09:%02d:00.000000Z", m) }
			type row struct {
				jti, kind, state string
				attempts         int
				lease, err       string // lease_until (ts), last_error
				envelope         bool
				receipt          bool
			}
			rows := []row{
				{jti: "m-queued", kind: "case.create", state: "queued", envelope: true},
				{jti: "m-retry", kind: "case.update", state: "queued", attempts: 2, err: "peer down", envelope: true},
				{jti: "m-flight", kind: "case.create", state: "in_flight", attempts: 1, lease: ts(59), envelope: true}, // expired at 10:00
				{jti: "m-delivered", kind: "case.create", state: "delivered", attempts: 1, envelope: true, receipt: true},
				{jti: "m-relayed", kind: "relay.forward", state: "delivered", attempts: 1, receipt: true},
				{jti: "m-dead", kind: "case.create", state: "dead", attempts: 9, err: "refused", envelope: true},
				{jti: "m-dead-erased", kind: "case.create", state: "dead", attempts: 3, err: "refused"},
				{jti: "m-cancelled", kind: "case.create", state: "cancelled", err: "cancelled: case erased"},
			}
			env := func(jti string) []byte { return bytes.Repeat([]byte(jti+"."), 400) } // 4-5 KB
			for i, r := range rows {
				var e, rc any
				if r.envelope {
					e = env(r.jti)
				}
				if r.receipt {
					rc = []byte("receipt " + r.jti)
				}
				var lease, lastErr, delivered any
				if r.lease != "" {
					lease = r.lease
				}
				if r.err != "" {
					lastErr = r.err
				}
				if r.state == "delivered" {
					delivered = ts(30)
				}
				b.exec(t, `INSERT INTO outbox (destination, case_id, case_version, kind, jti, envelope, seq, state, attempts,
					next_attempt_at, lease_until, claimed_by, last_error, created_at, updated_at, delivered_at, receipt, discloses)
					VALUES (?, ?, 1, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					memberB, fmt.Sprintf("XA-RC:M%d", i), r.kind, r.jti, e, r.state, r.attempts, ts(i), lease,
					map[bool]any{true: "old-worker", false: nil}[r.lease != ""], lastErr, ts(i), ts(i), delivered, rc, r.kind != "relay.forward")
			}
			b.s = b.open(t) // applies 0049
			ids := map[string]int64{}
			for _, r := range rows {
				o := must[store.OutboxItem](t)(b.s.GetOutboxByJTI(ctx, r.jti))
				ids[r.jti] = o.ID
				want := []byte(nil)
				if r.envelope {
					want = env(r.jti)
				}
				if string(o.State) != r.state || o.Attempts != r.attempts || o.LastError != r.err || !bytes.Equal(o.Envelope, want) ||
					(r.receipt != (o.Receipt != nil)) || (r.lease != "") != !o.LeaseUntil.IsZero() || o.Kind != r.kind {
					t.Errorf("%s after the migration: state %s, attempts %d, error %q, envelope %d bytes, receipt %t, lease %v",
						r.jti, o.State, o.Attempts, o.LastError, len(o.Envelope), o.Receipt != nil, o.LeaseUntil)
				}
			}
			if n := b.count(t, `SELECT COUNT(*) FROM outbox_envelopes e JOIN outbox o USING (id) WHERE e.jti = o.jti`); n != len(rows) {
				t.Errorf("outbox_envelopes holds %d rows of the outbox's, want %d", n, len(rows))
			}
			if n := b.count(t, `SELECT COUNT(envelope) FROM outbox_envelopes`); n != 5 {
				t.Errorf("outbox_envelopes holds %d envelopes, want 5", n)
			}
			if _, err := b.s.Enqueue(ctx, store.NewOutboxItem{Destination: memberB, CaseID: "XA-RC:M9", Kind: "case.create",
				JTI: "m-cancelled", Envelope: env("m-again")}); !errors.Is(err, store.ErrDuplicate) {
				t.Errorf("a migrated row's jti queued again: %v", err)
			}
			col := `SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'outbox' AND column_name = 'envelope'`
			if d == store.SQLite {
				col = `SELECT COUNT(*) FROM pragma_table_info('outbox') WHERE name = 'envelope'`
			}
			if n := b.count(t, col); n != 0 {
				t.Errorf("outbox still has its envelope column")
			}
			st := must[[]store.DestinationStats](t)(b.s.OutboxStats(ctx))
			if len(st) != 1 || st[0].Queued != 2 || st[0].InFlight != 1 || st[0].Delivered != 2 || st[0].Dead != 2 || st[0].Cancelled != 1 {
				t.Errorf("stats after the migration: %+v", st)
			}
			for state, want := range map[store.OutboxState][]string{store.Queued: {"m-queued", "m-retry"}, store.Dead: {"m-dead", "m-dead-erased"},
				store.Cancelled: {"m-cancelled"}, store.InFlight: {"m-flight"}} {
				got := must[[]store.OutboxItem](t)(b.s.ListOutbox(ctx, store.OutboxFilter{State: state, IncludeEnvelope: true}))
				var jtis []string
				for _, o := range got {
					jtis = append(jtis, o.JTI)
				}
				if fmt.Sprint(jtis) != fmt.Sprint(want) {
					t.Errorf("ListOutbox(%s) = %v, want %v", state, jtis, want)
				}
			}
			// The expired lease and the queued rows (by next attempt), each
			// with its envelope, and delivered as any row.
			claimed := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberB, Limit: 10}))
			var got []string
			var ds []store.DeliveredRow
			for _, o := range claimed {
				got = append(got, o.JTI)
				if !bytes.Equal(o.Envelope, env(o.JTI)) {
					t.Errorf("claimed %s with an envelope of %d bytes", o.JTI, len(o.Envelope))
				}
				ds = append(ds, store.DeliveredRow{ID: o.ID, Receipt: []byte("r")})
			}
			if fmt.Sprint(got) != "[m-queued m-retry m-flight]" {
				t.Errorf("claimed %v", got)
			}
			mustErr(t, b.s.MarkDeliveredAll(ctx, ds), nil)
			mustErr(t, b.s.Requeue(ctx, ids["m-dead"]), nil)
			if err := b.s.Requeue(ctx, ids["m-dead-erased"]); !errors.Is(err, store.ErrErased) {
				t.Errorf("requeue of a dead row without its envelope: %v", err)
			}
			st = must[[]store.DestinationStats](t)(b.s.OutboxStats(ctx))
			if len(st) != 1 || st[0].Queued != 1 || st[0].InFlight != 0 || st[0].Delivered != 5 || st[0].Dead != 1 || st[0].Cancelled != 1 {
				t.Errorf("stats after delivering and requeueing: %+v", st)
			}
			if n := len(must[[]store.Disclosure](t)(b.s.ListDisclosures(ctx, "XA-RC:M0"))); n != 1 {
				t.Errorf("%d disclosures of the migrated row delivered, want 1", n)
			}
		})
	}
}

// Claims and reads of outbox rows fetch each envelope by the row's id
// (outbox_envelopes' primary key) however the table grew since their
// statements were planned: a generic plan made while it was young must
// not read the table from end to end for every row.
func TestOutboxEnvelopesReadByID(t *testing.T) {
	be := newBackend(t, store.Postgres)
	ctx := t.Context()
	err := be.s.Tx(ctx, func(tx store.Tx) error {
		if _, err := store.ExecInTx(t, tx, `SET LOCAL plan_cache_mode = force_generic_plan`); err != nil {
			return err
		}
		claimAndRead := func(i int) {
			t.Helper()
			if _, err := tx.EnqueueAll(ctx, benchEnvelopes(i, 2)); err != nil {
				t.Fatal(err)
			}
			got, err := tx.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberB, Limit: 2})
			if err != nil || len(got) != 2 {
				t.Fatalf("claimed %d: %v", len(got), err)
			}
			for _, o := range got {
				if len(o.Envelope) != 2518 {
					t.Fatalf("claimed %s with %d bytes", o.JTI, len(o.Envelope))
				}
				if o, err := tx.GetOutbox(ctx, o.ID); err != nil || len(o.Envelope) != 2518 {
					t.Fatalf("GetOutbox: %d bytes, %v", len(o.Envelope), err)
				}
			}
		}
		for i := range 8 {
			claimAndRead(i)
		}
		// Thousands of envelopes more, without an ANALYZE in between.
		if _, err := be.raw.ExecContext(ctx, `WITH o AS (INSERT INTO outbox (destination, case_id, kind, jti, seq, state,
			next_attempt_at, created_at, updated_at, delivered_at)
			SELECT 'XB-RC', 'XA-RC:OLD-' || g, 'case.create', 'old-' || g, 1, 'delivered', now(), now(), now(), now()
			FROM generate_series(1, 5000) g RETURNING id, jti)
			INSERT INTO outbox_envelopes (id, jti, envelope) SELECT id, jti, convert_to(repeat('e', 2000), 'UTF8') FROM o`); err != nil {
			return err
		}
		before, err := store.RowsScanned(t, tx, "outbox_envelopes")
		if err != nil {
			return err
		}
		for i := range 5 {
			claimAndRead(100 + i)
		}
		after, err := store.RowsScanned(t, tx, "outbox_envelopes")
		if err != nil {
			return err
		}
		if after != before {
			t.Errorf("5 claims of 2 rows read %d envelopes by sequential scans, want 0", after-before)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
