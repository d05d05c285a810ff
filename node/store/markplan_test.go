package store_test

import (
	"context"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// Recording receipts reads the outbox rows by id however the table grew
// since the statement was first run on the connection: a plan kept from
// when the table was small (the 6th run of a prepared statement on a
// connection makes PostgreSQL keep a generic plan) read the whole outbox
// twice per call, each batch of receipts costing as much as the outbox's
// history.
func TestMarkDeliveredAllReadsRowsByID(t *testing.T) {
	be := newBackend(t, store.Postgres)
	ctx := t.Context()
	err := be.s.Tx(ctx, func(tx store.Tx) error {
		mark := func(items []store.OutboxItem) {
			t.Helper()
			ds := make([]store.DeliveredRow, len(items))
			for i, it := range items {
				ds[i] = store.DeliveredRow{ID: it.ID, Receipt: []byte("receipt")}
			}
			if err := tx.MarkDeliveredAll(ctx, ds); err != nil {
				t.Fatal(err)
			}
		}
		// A few rows, marked in more calls than PostgreSQL plans for
		// each before it keeps a generic plan.
		small, err := tx.EnqueueAll(ctx, benchEnvelopes(0, 10))
		if err != nil {
			return err
		}
		for _, it := range small {
			mark([]store.OutboxItem{it})
		}
		// The outbox grows, by rows delivered before (no ANALYZE in
		// between, as under a steady load between two of autovacuum's
		// rounds); each is made to fill a fifth of a page, so that a few
		// thousand make an outbox of a thousand pages.
		if err := growOutbox(ctx, be); err != nil {
			return err
		}
		big, err := tx.EnqueueAll(ctx, benchEnvelopes(1, 250))
		if err != nil {
			return err
		}
		before, err := store.OutboxSeqScans(t, tx)
		if err != nil {
			return err
		}
		for i := 0; i < 5; i++ {
			mark(big[i*50 : (i+1)*50])
		}
		after, err := store.OutboxSeqScans(t, tx)
		if err != nil {
			return err
		}
		if after != before {
			t.Errorf("5 calls of MarkDeliveredAll on an outbox of %d rows scanned it %d times, want 0", len(small)+len(big)+5000, after-before)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// growOutbox adds 5,000 delivered rows to be's outbox, each filling a
// fifth of a page (a few thousand make an outbox of a thousand pages),
// without an ANALYZE: the plan tests' outbox grown under a steady load
// between two of autovacuum's rounds.
func growOutbox(ctx context.Context, be *backend) error {
	_, err := be.raw.ExecContext(ctx, `INSERT INTO outbox (destination, case_id, kind, jti, seq, state,
		next_attempt_at, created_at, updated_at, delivered_at, last_error)
		SELECT 'XB-RC', 'XA-RC:OLD-' || g, 'case.create', 'old-' || g, 1, 'delivered', now(), now(), now(), now(),
			(SELECT string_agg(md5(g::text || '/' || i), '') FROM generate_series(1, 40) i)
		FROM generate_series(1, 5000) g`)
	return err
}
