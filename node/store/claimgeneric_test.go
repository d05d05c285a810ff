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
		generic, custom, err := store.PreparedPlans(t, tx, "claimed_by = $1")
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
