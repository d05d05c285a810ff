package store_test

import (
	"testing"

	"github.com/familylinks/flx/node/store"
)

// A forward reads whether its case is already queued to the destination
// (GetCasesQueued) by probing the outbox's (case_id, destination) key
// however the table grew since the statement was first run on the
// connection: a plan kept from when the outbox was young (the 6th run of a
// prepared statement makes PostgreSQL keep a generic plan, and nothing
// replaces it until the table is analyzed) read the whole outbox for every
// case forwarded, a quarter of the sender's database CPU in flx bench
// exchange once the outbox held a few thousand rows.
func TestGetCasesQueuedProbesTheOutboxByKey(t *testing.T) {
	be := newBackend(t, store.Postgres)
	ctx := t.Context()
	err := be.s.Tx(ctx, func(tx store.Tx) error {
		read := func(items []store.OutboxItem) {
			t.Helper()
			keys := make([]store.CaseDest, len(items))
			for i, it := range items {
				keys[i] = store.CaseDest{CaseID: it.CaseID, Destination: it.Destination}
			}
			got, err := tx.GetCasesQueued(ctx, keys, "case.create")
			if err != nil {
				t.Fatal(err)
			}
			for i, g := range got {
				if !g.Queued {
					t.Fatalf("%s: not queued", keys[i].CaseID)
				}
			}
		}
		// A young outbox, read by a generic plan (what PostgreSQL keeps
		// for a prepared statement once its generic plan costs no more
		// than the custom plans of its first five runs).
		if _, err := store.ExecInTx(t, tx, `SET LOCAL plan_cache_mode = force_generic_plan`); err != nil {
			return err
		}
		queue := func(i, n int) []store.OutboxItem {
			t.Helper()
			items, err := tx.EnqueueAll(ctx, benchEnvelopes(i, n))
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				if _, err := tx.CreateCase(ctx, newCase(it.CaseID)); err != nil {
					t.Fatal(err)
				}
			}
			return items
		}
		small := queue(0, 10)
		for _, it := range small {
			read([]store.OutboxItem{it})
		}
		// The outbox grows without an ANALYZE in between, as under a
		// steady load between two of autovacuum's rounds.
		if err := growOutbox(ctx, be); err != nil {
			return err
		}
		big := queue(1, 20)
		before, err := store.OutboxSeqScans(t, tx)
		if err != nil {
			return err
		}
		for i := range 10 {
			read(big[i*2 : (i+1)*2])
		}
		after, err := store.OutboxSeqScans(t, tx)
		if err != nil {
			return err
		}
		if after != before {
			t.Errorf("10 calls of GetCasesQueued on an outbox of %d rows scanned it %d times, want 0", len(small)+len(big)+5000, after-before)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
