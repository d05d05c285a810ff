package store_test

import (
	"testing"

	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/store"
)

// BenchmarkSendCycle50: the sender's store work for one delivery request
// of 50 envelopes, per op: one EnqueueAll of 50 (a list import), one claim
// of them, and MarkDeliveredAll of their 50 receipts. Reports the CPU per
// envelope of this process and of the database's backends.
func BenchmarkSendCycle50(b *testing.B) {
	const batch = 50
	benchStores(b, func(b *testing.B, be *backend) {
		ctx := b.Context()
		receipt := make([]byte, 480)
		pids, _ := store.BackendPIDs(ctx, be.s)
		b.ReportAllocs()
		b.ResetTimer()
		go0, pg0 := cputime.Process(), backendsCPU(pids)
		n := 0
		for i := 0; b.Loop(); i++ {
			if _, err := be.s.EnqueueAll(ctx, benchEnvelopes(i, batch)); err != nil {
				b.Fatal(err)
			}
			items, err := be.s.ClaimDue(ctx, store.ClaimRequest{Worker: "bench", Destination: memberB, Limit: batch})
			if err != nil || len(items) != batch {
				b.Fatalf("claim: %d items, %v", len(items), err)
			}
			ds := make([]store.DeliveredRow, len(items))
			for k, it := range items {
				ds[k] = store.DeliveredRow{ID: it.ID, Receipt: receipt}
			}
			if err := be.s.MarkDeliveredAll(ctx, ds); err != nil {
				b.Fatal(err)
			}
			n += batch
		}
		if len(pids) > 0 {
			pids, _ = store.BackendPIDs(ctx, be.s)
		}
		reportCPU(b, n, pids, go0, pg0)
	})
}
