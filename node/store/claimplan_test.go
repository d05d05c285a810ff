package store_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// TestSQLiteClaimsWalkTheirIndex: each of ClaimDue's two claims on SQLite
// walks its own partial index in claim order and stops at its limit,
// however many rows the destination holds. Without the index named,
// SQLite took the expired-lease claim through every row of the
// destination (its (destination, case_id, seq) key) and sorted them: with
// 20,000 rows queued it was most of flx bench exchange's CPU on SQLite.
// The test also counts the rows the claims read (SQLite's VM steps are not
// exposed; the claim's cost is told by its plan) and checks what they take.
func TestSQLiteClaimsWalkTheirIndex(t *testing.T) {
	b := newBackend(t, store.SQLite)
	ctx := t.Context()
	var in []store.NewOutboxItem
	for i := range 2000 {
		in = append(in, queue(memberB, fmt.Sprintf("XA-RC:%05d", i), "case.create", fmt.Sprintf("plan-%d", i)))
		in = append(in, queue(memberC, fmt.Sprintf("XA-RC:%05d", i), "case.create", fmt.Sprintf("plan-c-%d", i)))
	}
	must[[]store.OutboxItem](t)(b.s.EnqueueAll(ctx, in))
	now := b.clock.Now()
	// Some rows in flight, some delivered: the three states a queue holds.
	got := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w1", Destination: memberB, Limit: 100, Now: now}))
	var ds []store.DeliveredRow
	for _, o := range got[:50] {
		ds = append(ds, store.DeliveredRow{ID: o.ID, Receipt: []byte("receipt")})
	}
	mustErr(t, b.s.MarkDeliveredAll(ctx, ds), nil)

	var plans []string
	mustErr(t, b.s.Tx(ctx, func(tx store.Tx) error {
		var err error
		plans, err = store.SQLiteClaimPlans(t, tx, memberB, now)
		return err
	}), nil)
	for i, want := range []string{"SEARCH o USING INDEX outbox_lease_idx (lease_until<?)", "SEARCH o USING INDEX outbox_dest_queued_idx (destination=? AND next_attempt_at<?)"} {
		if !strings.Contains(plans[i], want) {
			t.Errorf("claim %d: plan %q, want it to start with %q", i, plans[i], want)
		}
		if strings.Contains(plans[i], "TEMP B-TREE FOR ORDER BY") {
			t.Errorf("claim %d: plan %q sorts the rows it found: it does not walk them in order", i, plans[i])
		}
	}

	// The leases of the 50 in flight expire: they go first, then queued
	// rows in order, all of memberB.
	later := now.Add(2 * store.DefaultLease)
	got = must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w2", Destination: memberB, Limit: 60, Now: later}))
	if len(got) != 60 {
		t.Fatalf("claimed %d rows, want 60", len(got))
	}
	expired := 0
	for _, o := range got {
		if o.Destination != memberB {
			t.Fatalf("claimed a row for %s", o.Destination)
		}
		if o.Attempts == 2 {
			expired++
		}
	}
	if expired != 50 {
		t.Errorf("claimed %d rows whose lease expired, want all 50", expired)
	}
}
