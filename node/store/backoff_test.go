package store_test

import (
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// TestPeerBackoff: a destination's backoff is kept across a reopen of the
// store, updated in place, and cleared by a save with no failures.
func TestPeerBackoff(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		until := time.Date(2025, 6, 1, 11, 0, 0, 123456000, time.UTC)
		mustErr(t, b.s.SavePeerBackoff(ctx, store.PeerBackoff{Destination: memberB, Failures: 1, NextAttemptAt: until, LastError: "unreachable"}), nil)
		mustErr(t, b.s.SavePeerBackoff(ctx, store.PeerBackoff{Destination: memberC, Failures: 2, NextAttemptAt: until, LastError: "http_503"}), nil)
		mustErr(t, b.s.SavePeerBackoff(ctx, store.PeerBackoff{Destination: memberB, Failures: 3, NextAttemptAt: until.Add(time.Minute), LastError: "http_502"}), nil)
		got := must[[]store.PeerBackoff](t)(b.open(t).ListPeerBackoff(ctx))
		if len(got) != 2 || got[0].Destination != memberB || got[0].Failures != 3 || !got[0].NextAttemptAt.Equal(until.Add(time.Minute)) ||
			got[0].LastError != "http_502" || got[0].UpdatedAt.IsZero() || got[1].Destination != memberC || got[1].Failures != 2 {
			t.Fatalf("after a reopen: %+v", got)
		}
		mustErr(t, b.s.SavePeerBackoff(ctx, store.PeerBackoff{Destination: memberB}), nil)
		got = must[[]store.PeerBackoff](t)(store.ReadOnly(b.s).ListPeerBackoff(ctx))
		if len(got) != 1 || got[0].Destination != memberC {
			t.Fatalf("after memberB's success: %+v", got)
		}
		mustErr(t, b.s.SavePeerBackoff(ctx, store.PeerBackoff{Failures: 1}), store.ErrInvalid)
	})
}

// TestRetryDestination makes the queued rows of one destination due now,
// and nothing else.
func TestRetryDestination(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		later := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		in := queue(memberB, "XA-RC:0001", "case.create", "r-1")
		in.NotBefore = later
		waiting := enqueue(t, b.s, in)
		in = queue(memberC, "XA-RC:0002", "case.create", "r-2")
		in.NotBefore = later
		other := enqueue(t, b.s, in)
		if n := must[int64](t)(b.s.RetryDestination(ctx, memberB)); n != 1 {
			t.Fatalf("moved %d rows, want 1", n)
		}
		if o := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, waiting.ID)); !o.NextAttemptAt.Before(later) {
			t.Fatalf("memberB's row still waits until %v", o.NextAttemptAt)
		}
		if o := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, other.ID)); !o.NextAttemptAt.Equal(later) {
			t.Fatalf("memberC's row moved to %v", o.NextAttemptAt)
		}
		if got := claimJTIs(t, b.s, store.ClaimRequest{Limit: 10}); len(got) != 1 || got[0] != "r-1" {
			t.Fatalf("claimed %v", got)
		}
	})
}
