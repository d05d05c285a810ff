package store_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// Each claim leaves in outbox_dest_queued_idx the dead entry of the row it
// moved out of 'queued', in the order claims take them: until a vacuum,
// every later claim walks them all before the first row still queued. The
// store vacuums the outbox once every so many rows claimed, so a claim
// after thousands reads a few blocks of the index, not one per couple of
// hundred rows ever claimed.
func TestClaimsAfterManyStayShort(t *testing.T) {
	const rows, every, chunk = 8000, 1000, 500
	store.SetOutboxVacuumEvery(t, every) // for the store opened next
	be := newBackend(t, store.Postgres)
	ctx := t.Context()
	for i := range rows / chunk {
		if _, err := be.s.EnqueueAll(ctx, benchEnvelopes(i, chunk)); err != nil {
			t.Fatal(err)
		}
		got, err := be.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberB, Limit: chunk, Now: be.clock.Now()})
		if err != nil || len(got) != chunk {
			t.Fatalf("claimed %d rows, %v; want %d", len(got), err, chunk)
		}
	}
	waitFor(t, "the vacuums under way to end", func() bool {
		runs, under := store.OutboxVacuums(be.s)
		return runs > 0 && !under
	})
	if _, err := be.s.EnqueueAll(ctx, benchEnvelopes(rows/chunk, 10)); err != nil {
		t.Fatal(err)
	}
	err := be.s.Tx(ctx, func(tx store.Tx) error {
		before, err := store.BlocksFetched(t, tx, "outbox_dest_queued_idx")
		if err != nil {
			return err
		}
		got, err := tx.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberB, Limit: 10, Now: be.clock.Now()})
		if err != nil || len(got) != 10 {
			t.Fatalf("claimed %d rows, %v; want 10", len(got), err)
		}
		after, err := store.BlocksFetched(t, tx, "outbox_dest_queued_idx")
		if err != nil {
			return err
		}
		// A few for the rows claimed since the last vacuum (fewer than
		// every), not the ~40 the dead entries of 8,000 fill.
		if n := after - before; n > 15 {
			t.Errorf("a claim of 10 rows after %d claimed read %d blocks of outbox_dest_queued_idx, want at most 15", rows, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The backends of a watcher's connections (flx bench exchange's own reads
// of a child node's database) are not counted among the database's.
func TestBackendPIDsLeaveOutWatchers(t *testing.T) {
	be := newBackend(t, store.Postgres)
	ctx := t.Context()
	sep := "?"
	if strings.Contains(be.dsn, "?") {
		sep = "&"
	}
	w, err := store.Open(ctx, be.dsn+sep+"application_name="+url.QueryEscape(store.WatcherAppName))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var watcher int
	if err := w.Tx(ctx, func(tx store.Tx) error {
		pid, err := store.BackendPID(t, tx)
		watcher = pid
		return err
	}); err != nil {
		t.Fatal(err)
	}
	pids, err := store.BackendPIDs(ctx, be.s)
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) == 0 || slices.Contains(pids, watcher) {
		t.Errorf("backends %v, the watcher's %d among them (or none)", pids, watcher)
	}
}
