package store_test

import (
	"testing"

	"github.com/familylinks/flx/node/store"
)

// TestSendAllocs bounds the allocations of the sender's outbox statements
// on PostgreSQL: a caseworker's one envelope queued (store.EnqueueAll of
// one: one statement, one round trip), a list of 50 queued, and a claim of
// 50. The bound of 50 queued sits between the allocations with the times
// bound as text arrays and as binary timestamptz[] (pgTimes, sql.go); the
// others keep what there is (pgx v5.13: one queued 60 text, 59 binary; 50
// queued 1182 text, 847 binary; a claim of 50 1265 either way, scanning).
func TestSendAllocs(t *testing.T) {
	b := newBackend(t, store.Postgres)
	ctx := t.Context()
	const runs = 20
	one := make([][]store.NewOutboxItem, runs+1) // AllocsPerRun runs once more, first
	fifty := make([][]store.NewOutboxItem, runs+1)
	for k := range runs + 1 {
		one[k] = benchEnvelopes(1000+k, 1)
		fifty[k] = benchEnvelopes(k, 50)
	}
	k := 0
	allocsPerCallAtMost(t, 70, "one envelope queued", runs, func() {
		got, err := b.s.EnqueueAll(ctx, one[k])
		k++
		if err != nil || len(got) != 1 {
			t.Fatalf("EnqueueAll = %d rows, %v", len(got), err)
		}
	})
	k = 0
	allocsPerCallAtMost(t, 1000, "50 envelopes queued", runs, func() {
		got, err := b.s.EnqueueAll(ctx, fifty[k])
		k++
		if err != nil || len(got) != 50 {
			t.Fatalf("EnqueueAll = %d rows, %v", len(got), err)
		}
	})
	allocsPerCallAtMost(t, 1400, "claim of 50", runs, func() {
		got, err := b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberB, Limit: 50})
		if err != nil || len(got) != 50 {
			t.Fatalf("ClaimDue = %d rows, %v", len(got), err)
		}
	})
}

// allocsPerCallAtMost fails t when a call of f, what, allocates more than
// want on average over runs.
func allocsPerCallAtMost(t *testing.T, want float64, what string, runs int, f func()) {
	t.Helper()
	allocs := testing.AllocsPerRun(runs, f)
	t.Logf("%.0f allocations per %s", allocs, what)
	if allocs > want {
		t.Errorf("%.0f allocations per %s, want at most %.0f", allocs, what, want)
	}
}
