package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/store"
)

// gates make the test peer hold the requests that carry chosen envelopes
// until their gate is opened.
type gates struct {
	mu sync.Mutex
	by map[string]chan struct{} // by jti
}

func (g *gates) hold(b *bench, ids []int64, c chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.by == nil {
		g.by = map[string]chan struct{}{}
	}
	for _, id := range ids {
		g.by[b.outbox.get(id).JTI] = c
	}
}

// wait holds the envelope raw until its gate opens, and returns the gate
// (nil: none).
func (g *gates) wait(raw []byte) chan struct{} {
	c, _ := federation.ClaimsOf(raw)
	g.mu.Lock()
	gate := g.by[c.JTI]
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return gate
}

// openAtEnd opens the gates not opened by the test when it ends.
func openAtEnd(t *testing.T, cs ...chan struct{}) {
	t.Cleanup(func() {
		for _, c := range cs {
			select {
			case <-c:
			default:
				close(c)
			}
		}
	})
}

// Rows a claim took beyond full batches, held back while two requests of
// less than a batch are in flight, go back to the queue as they were
// before that claim when the loop ends without sending them (the peer
// failed, or the node stopped): no attempt is counted for a request never
// made, and their next attempt and last error stay, so that their
// backoff, the operator's view and MaxAttempts see only attempts made.
// (They were released with one attempt more, due at once, their last
// error replaced by "held: ...".)
func TestHeldRowsGoBackUncounted(t *testing.T) {
	for _, end := range []string{"the peer fails", "the node stops"} {
		t.Run(end, func(t *testing.T) {
			b := newBench(t, Options{Workers: 8, BatchSize: 4, PollInterval: time.Hour}, realClock)
			p := b.peers["XB-RC"]
			var g gates
			full, part := make(chan struct{}), make(chan struct{})
			openAtEnd(t, full, part)
			first := b.queue(t, "XB-RC", 6) // claimed at once: a request of 4 (full) and one of 2
			g.hold(b, first[:4], full)
			g.hold(b, first[4:], part)
			p.set(func(w http.ResponseWriter, raw []byte) bool {
				if g.wait(raw) == part && end == "the peer fails" {
					problem.Write(w, problem.New(problem.Unavailable, "the test peer fails"))
					return true
				}
				return false // a receipt
			})
			ctx, stop := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { b.d.Run(ctx); close(done) }()
			t.Cleanup(func() { stop(); <-done })
			waitFor(t, "the first two requests", func() bool { return p.calls.Load() == 2 })
			third := b.queueCase(t, "XB-RC", "XA-RC:THIRD")
			g.hold(b, third, part)
			b.d.KickFor("XB-RC")
			waitFor(t, "a second request of less than a batch", func() bool { return p.calls.Load() == 3 })

			// Five rows queued; the last was tried before and waits for its
			// next attempt, due now.
			var more []int64
			for i := range 5 {
				more = append(more, b.queueCase(t, "XB-RC", fmt.Sprintf("XA-RC:MORE-%d", i))...)
			}
			last := more[4]
			b.outbox.mu.Lock()
			r := b.outbox.rows[last-1]
			r.Attempts, r.LastError, r.NextAttemptAt = 3, "http_503: an earlier attempt", r.NextAttemptAt.Add(-time.Minute)
			before := *r
			b.outbox.mu.Unlock()
			b.d.KickFor("XB-RC")
			close(full)
			// The full batch's answer claims the five: four go, the fifth is
			// held back while the two requests of less than a batch are out.
			waitFor(t, "four of the five delivered, the fifth claimed", func() bool {
				return b.delivered(more[:4]) && b.outbox.get(last).State == store.InFlight
			})
			if got := b.outbox.get(last); got.Attempts != before.Attempts+1 {
				t.Fatalf("the held row claimed at attempt %d, want %d", got.Attempts, before.Attempts+1)
			}
			if end == "the node stops" {
				stop()
			}
			close(part)
			switch end {
			case "the peer fails":
				waitFor(t, "the destination to rest", func() bool { return !b.d.Destination("XB-RC").Until().IsZero() })
				waitFor(t, "the held row back in the queue", func() bool { return b.outbox.get(last).State == store.Queued })
			case "the node stops":
				<-done
			}
			got := b.outbox.get(last)
			if got.State != store.Queued || got.Attempts != before.Attempts || !got.NextAttemptAt.Equal(before.NextAttemptAt) || got.LastError != before.LastError {
				t.Errorf("the held row went back %s after %d attempts, next %v, last error %q; want queued as before its claim: %d attempts, next %v, last error %q",
					got.State, got.Attempts, got.NextAttemptAt, got.LastError, before.Attempts, before.NextAttemptAt, before.LastError)
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if slices.Contains(p.arrived, got.JTI) {
				t.Errorf("the held row reached the peer")
			}
		})
	}
}

// claimAsStopped is an outbox whose claim is answered as the node stops
// (cancel is called once the claim is made): a claim made, and answered,
// that the loop did not send when it saw the node stopping.
type claimAsStopped struct {
	*fakeOutbox
	cancel func()
	armed  chan struct{} // closed: the next claim stops the node
	once   sync.Once
}

func (o *claimAsStopped) ClaimDue(ctx context.Context, r store.ClaimRequest) ([]store.OutboxItem, error) {
	select {
	case <-o.armed:
	default:
		return o.fakeOutbox.ClaimDue(ctx, r)
	}
	items, err := o.fakeOutbox.ClaimDue(ctx, r)
	o.once.Do(o.cancel)
	if ctx.Err() != nil {
		// As a store whose statement committed but whose answer the
		// cancellation cut off: the rows are claimed, the loop never
		// hears of them.
		return nil, ctx.Err()
	}
	return items, err
}

// What a claim takes as the node stops goes back unsent and uncounted:
// not sent after the stop, not left in flight with an attempt counted
// until its lease ends (a claim cancelled half way, on a store that had
// committed it).
func TestClaimAsTheNodeStopsGoesBackUncounted(t *testing.T) {
	var wrapped *claimAsStopped
	ctx, stop := context.WithCancel(t.Context())
	b := newBench(t, Options{Workers: 2, BatchSize: 1, PollInterval: time.Hour}, realClock, func(b *bench) {
		b.wrap = func(o *fakeOutbox) Outbox {
			wrapped = &claimAsStopped{fakeOutbox: o, cancel: stop, armed: make(chan struct{})}
			return wrapped
		}
	})
	p := b.peers["XB-RC"]
	release := p.holdAll(t)
	first := b.queue(t, "XB-RC", 1)
	done := make(chan struct{})
	go func() { b.d.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	waitFor(t, "the first request", func() bool { return p.calls.Load() == 1 })
	later := b.queue(t, "XB-RC", 1)
	close(wrapped.armed)
	b.d.KickFor("XB-RC") // claimed as the node stops
	waitFor(t, "the node stopping", func() bool { return ctx.Err() != nil })
	release()
	<-done
	if got := b.outbox.get(first[0]); got.State != store.Delivered {
		t.Errorf("the request under way ended %s", got.State)
	}
	if got := b.outbox.get(later[0]); got.State != store.Queued || got.Attempts != 0 {
		t.Errorf("the row claimed as the node stopped is %s after %d attempts; want queued after none", got.State, got.Attempts)
	}
	if n := p.calls.Load(); n != 1 {
		t.Errorf("%d requests, want 1: nothing sent once the node stopped", n)
	}
}

// claimHangs is an outbox whose claim, once armed, stops the node and then
// does not answer until its ctx is done: a database that hangs as the node
// stops.
type claimHangs struct {
	*fakeOutbox
	cancel func()
	armed  chan struct{} // closed: the next claim stops the node and hangs
	gone   chan struct{} // closed at the test's end: a hung claim returns
	once   sync.Once
}

func (o *claimHangs) ClaimDue(ctx context.Context, r store.ClaimRequest) ([]store.OutboxItem, error) {
	select {
	case <-o.armed:
	default:
		return o.fakeOutbox.ClaimDue(ctx, r)
	}
	o.once.Do(o.cancel)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-o.gone:
		return nil, errors.New("test over")
	}
}

// A claim under way as the node stops may go on (its answer is put back),
// but a database that never answers delays the stop by a bounded grace
// (the lease here, shorter than stopClaimGrace), not for ever.
func TestClaimAsTheNodeStopsIsBounded(t *testing.T) {
	var wrapped *claimHangs
	ctx, stop := context.WithCancel(t.Context())
	gone := make(chan struct{})
	b := newBench(t, Options{Workers: 2, BatchSize: 1, PollInterval: time.Hour, Lease: 200 * time.Millisecond}, realClock, func(b *bench) {
		b.wrap = func(o *fakeOutbox) Outbox {
			wrapped = &claimHangs{fakeOutbox: o, cancel: stop, armed: make(chan struct{}), gone: gone}
			return wrapped
		}
	})
	done := make(chan struct{})
	go func() { b.d.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); close(gone); <-done })
	b.queue(t, "XB-RC", 1)
	close(wrapped.armed)
	b.d.KickFor("XB-RC") // the claim stops the node and hangs
	waitFor(t, "the node stopping", func() bool { return ctx.Err() != nil })
	// Generous against the 200 ms grace: a liveness check, not a timing.
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the node did not stop while a claim hung")
	}
}
