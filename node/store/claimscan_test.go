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
		// Later rows of their cases (seq 2, their heads delivered): a
		// head is taken without the probe (TestClaimProbesOnlyLaterRows).
		grown := benchEnvelopes(1, 20)
		if _, err := tx.EnqueueAll(ctx, grown); err != nil {
			return err
		}
		if _, err := store.ExecInTx(t, tx, `UPDATE outbox SET state = 'delivered' WHERE jti LIKE 'bench-1-%'`); err != nil {
			return err
		}
		for i := range grown {
			grown[i].JTI += "-2"
		}
		if _, err := tx.EnqueueAll(ctx, grown); err != nil {
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

// A case's first row to a destination (seq 1) has no row before it: the
// claim takes it without probing outbox_case_seq_key, and probes only the
// later rows of a case. In a list of new cases (flx bench exchange) every
// row is a first row: the probes were 7% of the sender's database CPU
// (perf on its backends).
func TestClaimProbesOnlyLaterRows(t *testing.T) {
	be := newBackend(t, store.Postgres)
	ctx := t.Context()
	err := be.s.Tx(ctx, func(tx store.Tx) error {
		first, later := benchEnvelopes(0, 10), benchEnvelopes(1, 10)
		if _, err := tx.EnqueueAll(ctx, append(first, later...)); err != nil {
			return err
		}
		// A second row of each case of later: seq 2, behind its head.
		for i := range later {
			later[i].JTI += "-2"
		}
		if _, err := tx.EnqueueAll(ctx, later); err != nil {
			return err
		}
		before, err := store.IndexScans(t, tx, "outbox_case_seq_key")
		if err != nil {
			return err
		}
		got, err := tx.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberB, Limit: 100, Now: be.clock.Now()})
		if err != nil {
			return err
		}
		after, err := store.IndexScans(t, tx, "outbox_case_seq_key")
		if err != nil {
			return err
		}
		if len(got) != 20 {
			t.Fatalf("claimed %d rows, want the 20 heads", len(got))
		}
		for _, it := range got {
			if it.Seq != 1 {
				t.Fatalf("claimed %s with seq %d before its head", it.JTI, it.Seq)
			}
		}
		// One probe for each of the 10 later rows; none for the 20 heads.
		if n := after - before; n != 10 {
			t.Errorf("the claim probed outbox_case_seq_key %d times, want 10 (one per later row)", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
