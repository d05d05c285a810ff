package delivery

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// claimCountingOutbox counts the claims of due rows, and those that found
// none.
type claimCountingOutbox struct {
	*fakeOutbox
	claims, empty atomic.Int32
}

func (c *claimCountingOutbox) ClaimDue(ctx context.Context, r store.ClaimRequest) ([]store.OutboxItem, error) {
	items, err := c.fakeOutbox.ClaimDue(ctx, r)
	c.claims.Add(1)
	if err == nil && len(items) == 0 {
		c.empty.Add(1)
	}
	return items, err
}

// A kick that names rows a claim already took (the claim began between
// their commit and the kick, as at a steady rate of rows queued one by
// one) makes no claim: it would find nothing. One that names a row not
// yet claimed still does, and so does an anonymous one.
func TestStaleKickMakesNoClaim(t *testing.T) {
	var counted *claimCountingOutbox
	b := newBench(t, Options{Workers: 4, BatchSize: 10, PollInterval: time.Hour}, realClock, func(b *bench) {
		b.wrap = func(o *fakeOutbox) Outbox { counted = &claimCountingOutbox{fakeOutbox: o}; return counted }
	})
	p := b.peers["XB-RC"]
	release := p.holdAll(t) // requests stay in flight: the loop keeps running
	b.run(t)
	first := b.queue(t, "XB-RC", 1)
	b.d.KickRows("XB-RC", first...)
	waitFor(t, "the first request", func() bool { return p.calls.Load() == 1 })

	// Queued, then taken by a claim made for another reason (here an
	// anonymous kick) before its own kick comes.
	second := b.queue(t, "XB-RC", 1)
	before := counted.claims.Load()
	b.d.Kick()
	waitFor(t, "the claim that takes the second row", func() bool {
		return counted.claims.Load() > before && b.outbox.get(second[0]).State == store.InFlight
	})
	claims := counted.claims.Load()
	b.d.KickRows("XB-RC", second...) // stale: its row is claimed
	time.Sleep(100 * time.Millisecond)
	if got := counted.claims.Load() - claims; got != 0 {
		t.Errorf("a kick naming a row already claimed made %d claims, want none", got)
	}

	// A row named and not yet claimed is claimed at once.
	third := b.queue(t, "XB-RC", 1)
	b.d.KickRows("XB-RC", third...)
	waitFor(t, "the claim of the third row", func() bool { return b.outbox.get(third[0]).State == store.InFlight })
	if e := counted.empty.Load(); e != 0 {
		t.Errorf("%d claims found nothing while rows were queued and kicked, want none", e)
	}
	release()
	waitFor(t, "all delivered", func() bool { return b.delivered(append(append(first, second...), third...)) })
}
