package store_test

import (
	"testing"

	"github.com/familylinks/flx/node/store"
)

// A claim keeps its generic plan on an outbox PostgreSQL has statistics
// of (after an ANALYZE, as autovacuum makes), where a custom plan that
// sees now and the destination estimates few rows due and so looked
// cheaper than the generic plan at every call: the claim was planned at
// every call on every connection (each plan a quarter to a third of its
// own time; at 1,000 forwards/s, 34-44% of the sender's claims).
func TestClaimKeepsGenericPlanOnAnalyzedOutbox(t *testing.T) {
	be := newBackend(t, store.Postgres)
	ctx := t.Context()
	err := growOutbox(ctx, be)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := be.s.EnqueueAll(ctx, benchEnvelopes(0, 400)); err != nil {
		t.Fatal(err)
	}
	if _, err := be.raw.ExecContext(ctx, `ANALYZE outbox`); err != nil {
		t.Fatal(err)
	}
	const calls = 20
	err = be.s.Tx(ctx, func(tx store.Tx) error {
		scans, err := store.OutboxSeqScans(t, tx)
		if err != nil {
			return err
		}
		for i := range calls {
			got, err := tx.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberB, Limit: 10})
			if err != nil {
				return err
			}
			if len(got) != 10 {
				t.Fatalf("claim %d took %d rows, want 10", i, len(got))
			}
		}
		generic, custom, err := store.PreparedPlans(t, tx, "flx_claim_due")
		if err != nil {
			return err
		}
		if generic+custom < calls {
			t.Fatalf("%d plans of the claim, want %d calls' (is it prepared?)", generic+custom, calls)
		}
		if custom > 5 {
			t.Errorf("%d claims made %d custom plans and %d generic, want at most 5 custom (PostgreSQL's first runs)", calls, custom, generic)
		}
		// The generic plan walks the partial indexes, as the custom ones.
		after, err := store.OutboxSeqScans(t, tx)
		if err != nil {
			return err
		}
		if after != scans {
			t.Errorf("%d claims scanned the outbox %d times, want 0", calls, after-scans)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestClaimReadsNoOutboxRowsItDoesNotTake: a claim reads the outbox by its
// indexes only, whatever the queue: here a backlog of 3,000 rows (a peer
// that was away, a list imported) claimed 50 at a time. The claim updated
// "WHERE id IN (subquery)", which the planner made a hash join of the rows
// chosen with a sequential scan of the whole outbox whenever the due rows
// it estimated (a tenth of them, the limit being unknown to the generic
// plan) made probing each by its key look dearer than reading every row:
// on this outbox, every row at every claim, in a plan kept until the
// table's next VACUUM or ANALYZE.
func TestClaimReadsNoOutboxRowsItDoesNotTake(t *testing.T) {
	be := newBackend(t, store.Postgres)
	ctx := t.Context()
	receipt := make([]byte, 480)
	for i := range 60 {
		if _, err := be.s.EnqueueAll(ctx, benchEnvelopes(i, 50)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := be.raw.ExecContext(ctx, `ANALYZE outbox`); err != nil {
		t.Fatal(err)
	}
	var scanned int64
	for round := range 60 {
		var got []store.OutboxItem
		err := be.s.Tx(ctx, func(tx store.Tx) error {
			before, err := store.RowsScanned(t, tx, "outbox")
			if err != nil {
				return err
			}
			if got, err = tx.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberB, Limit: 50}); err != nil {
				return err
			}
			after, err := store.RowsScanned(t, tx, "outbox")
			scanned += after - before
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 50 {
			t.Fatalf("round %d: claimed %d rows, want 50", round, len(got))
		}
		ds := make([]store.DeliveredRow, len(got))
		for i, o := range got {
			ds[i] = store.DeliveredRow{ID: o.ID, Receipt: receipt}
		}
		if err := be.s.MarkDeliveredAll(ctx, ds); err != nil {
			t.Fatal(err)
		}
	}
	if scanned != 0 {
		t.Errorf("60 claims of 50 rows read %d outbox rows by sequential scans (%.0f per row claimed), want 0", scanned, float64(scanned)/3000)
	}
}
