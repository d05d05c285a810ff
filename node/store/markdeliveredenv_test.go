package store_test

import (
	"fmt"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// Recording receipts reads a row's envelope only when it drops it (a
// relay.forward row: migration 0058). flx_mark_delivered of 0054 probed
// outbox_envelopes' primary key for every id it was given, reading the
// 2-3 KB row of every envelope it then kept, on every receipt the sender
// recorded (its plan on an analyzed outbox of a few thousand rows; on one
// of 200 it happened to start from the relay's rows). The relay's
// envelope is still dropped, its jti kept.
func TestMarkDeliveredReadsOnlyCarriedEnvelopes(t *testing.T) {
	be := newBackend(t, store.Postgres)
	ctx := t.Context()
	// An outbox with statistics (autovacuum's ANALYZE), as in production.
	if _, err := be.s.EnqueueAll(ctx, benchEnvelopes(0, 2000)); err != nil {
		t.Fatal(err)
	}
	if _, err := be.raw.ExecContext(ctx, `ANALYZE outbox, outbox_envelopes`); err != nil {
		t.Fatal(err)
	}
	err := be.s.Tx(ctx, func(tx store.Tx) error {
		own, err := tx.EnqueueAll(ctx, []store.NewOutboxItem{
			queue(memberB, "XA-RC:env-1", "case.create", "env-1"), queue(memberB, "XA-RC:env-2", "case.create", "env-2")})
		if err != nil {
			return err
		}
		before, err := store.RowsFetched(t, tx, "outbox_envelopes")
		if err != nil {
			return err
		}
		if err := tx.MarkDeliveredAll(ctx, []store.DeliveredRow{{ID: own[0].ID, Receipt: []byte("r0")}, {ID: own[1].ID, Receipt: []byte("r1")}}); err != nil {
			return err
		}
		after, err := store.RowsFetched(t, tx, "outbox_envelopes")
		if err != nil {
			return err
		}
		if after != before {
			t.Errorf("recording 2 receipts of this member's own rows fetched %d rows of outbox_envelopes, want none", after-before)
		}
		relay, err := tx.Enqueue(ctx, queue(memberB, "XC-RC:env-3", "relay.forward", "env-3"))
		if err != nil {
			return err
		}
		if err := tx.MarkDeliveredAll(ctx, []store.DeliveredRow{{ID: relay.ID, Receipt: []byte("r2")}}); err != nil {
			return err
		}
		for _, c := range []struct {
			id   int64
			kept bool
		}{{own[0].ID, true}, {own[1].ID, true}, {relay.ID, false}} {
			o, err := tx.GetOutbox(ctx, c.id)
			if err != nil {
				return err
			}
			if o.State != store.Delivered || (len(o.Envelope) > 0) != c.kept || o.JTI == "" {
				t.Errorf("row %d (%s): state %s, envelope of %d bytes, jti %q; want delivered, envelope kept %v, jti kept",
					c.id, o.Kind, o.State, len(o.Envelope), o.JTI, c.kept)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A queued envelope (a base64url compact JWS of 2-3 KB) is kept compressed
// in its row on PostgreSQL (migration 0058): three rows to a page where
// two fitted uncompressed, and a quarter less WAL per envelope queued; it
// reads back byte for byte. The row's small columns stay in it (no TOAST
// chunk row for them).
func TestOutboxEnvelopeStoredCompressed(t *testing.T) {
	be := newBackend(t, store.Postgres)
	ctx := t.Context()
	var lz4 bool
	if err := be.raw.QueryRowContext(ctx, `SELECT 'lz4' = ANY (enumvals) FROM pg_settings WHERE name = 'default_toast_compression'`).Scan(&lz4); err != nil {
		t.Fatal(err)
	}
	if !lz4 {
		t.Skip("this PostgreSQL server is built without lz4: envelopes stay as they were")
	}
	var in []store.NewOutboxItem
	for i := range 3 {
		it := queue(memberB, fmt.Sprintf("XA-RC:lz-%d", i), "case.create", fmt.Sprintf("lz-%d", i))
		it.Envelope = jwsLike(it.JTI, 2000, uint64(i))
		in = append(in, it)
	}
	got, err := be.s.EnqueueAll(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range got {
		var stored, raw int
		if err := be.raw.QueryRowContext(ctx, `SELECT pg_column_size(envelope), octet_length(envelope) FROM outbox_envelopes WHERE id = $1`, it.ID).Scan(&stored, &raw); err != nil {
			t.Fatal(err)
		}
		if stored >= raw*9/10 {
			t.Errorf("envelope of %d bytes stored in %d: not compressed", raw, stored)
		}
		o, err := be.s.GetOutbox(ctx, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		if string(o.Envelope) != string(in[i].Envelope) {
			t.Errorf("row %d: envelope read back differs", it.ID)
		}
	}
	var toasted int
	if err := be.raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox_envelopes WHERE pg_column_size(jti) > octet_length(jti) + 4`).Scan(&toasted); err != nil {
		t.Fatal(err)
	}
	if toasted > 0 {
		t.Errorf("%d jtis moved out of their rows", toasted)
	}
}
