package store_test

import (
	"testing"

	"github.com/familylinks/flx/node/store"
)

// A claim keeps per-case order by checking, for each row it would take,
// that no earlier row of its case is still to go: one probe of
// outbox_case_seq_key (case_id, destination, seq) per row, however the
// outbox grew since the claim's plan was made. As an anti-join, a generic
// plan made while the outbox was young (PostgreSQL keeps it from the
// statement's 6th run on a connection, until the next ANALYZE) probed the
// index by destination alone, its second column: every row to the
// destination read for every row claimed. In flx bench exchange (--rate
// 300) it made some runs' claims 9,000-16,000 blocks each, against ~100,
// and the sender's PostgreSQL 1,000-1,400 µs per envelope against ~300-800.
func TestClaimProbesEachCaseHead(t *testing.T) {
	be := newBackend(t, store.Postgres)
	ctx := t.Context()
	err := be.s.Tx(ctx, func(tx store.Tx) error {
		if _, err := store.ExecInTx(t, tx, `SET LOCAL plan_cache_mode = force_generic_plan`); err != nil {
			return err
		}
		claim := func(worker string, n int) []store.OutboxItem {
			t.Helper()
			got, err := tx.ClaimDue(ctx, store.ClaimRequest{Worker: worker, Destination: memberB, Limit: n, Now: be.clock.Now()})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		// A young outbox: its plan made and kept.
		if _, err := tx.EnqueueAll(ctx, benchEnvelopes(0, 10)); err != nil {
			return err
		}
		// (The claim's limit is part of its text: the same limit
		// throughout, as a deliverer's batch size.)
		if got := claim("young", 10); len(got) != 10 {
			t.Fatalf("claimed %d rows, want 10", len(got))
		}
		// The outbox grows without an ANALYZE: 5,000 delivered rows to the
		// same destination.
		if err := growOutbox(ctx, be); err != nil {
			return err
		}
		if _, err := tx.EnqueueAll(ctx, benchEnvelopes(1, 20)); err != nil {
			return err
		}
		before, err := store.RowsFetched(t, tx, "outbox")
		if err != nil {
			return err
		}
		got := append(claim("grown", 10), claim("grown", 10)...)
		if len(got) != 20 {
			t.Fatalf("claimed %d rows, want 20", len(got))
		}
		after, err := store.RowsFetched(t, tx, "outbox")
		if err != nil {
			return err
		}
		// Each row taken: itself, its case head probe, the update; a few
		// hundred at most, not the destination's 5,000 per row.
		if n := after - before; n > 400 {
			t.Errorf("2 claims of 10 rows on an outbox of %d rows fetched %d of its rows, want at most 400", 5030, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
