package node

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/store"
)

// deliverer runs one queue per destination, so a dead peer holds up no one
// else: each destination has its own loop, its own backoff, and at most
// Workers deliveries in flight.
type deliverer struct {
	n       *Node
	mu      sync.Mutex
	active  map[string]bool
	blocked map[string]time.Time // destination backoff after failures
	streak  map[string]int
	wg      sync.WaitGroup
}

func (n *Node) runDelivery(ctx context.Context) {
	d := &deliverer{n: n, active: map[string]bool{}, blocked: map[string]time.Time{}, streak: map[string]int{}}
	tick := time.NewTicker(n.o.Delivery.PollInterval)
	defer tick.Stop()
	for {
		d.dispatch(ctx)
		select {
		case <-ctx.Done():
			d.wg.Wait() // in-flight deliveries finish; nothing is lost either way (leases)
			return
		case <-n.deliverCh:
		case <-tick.C:
		}
	}
}

// dispatch starts a loop for every destination with a row due and none
// running. It asks the store only for due destinations (an index read), not
// for the whole outbox's statistics, so a long delivery history costs
// nothing here.
func (d *deliverer) dispatch(ctx context.Context) {
	now := d.n.o.Now()
	dests, err := d.n.o.Store.DueDestinations(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			d.n.log.Error("due destinations", "err", err)
		}
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, dest := range dests {
		if d.active[dest] || now.Before(d.blocked[dest]) {
			continue
		}
		d.active[dest] = true
		d.wg.Add(1)
		go d.loop(ctx, dest)
	}
}

// attemptResult classifies one delivery attempt.
type attemptResult int

const (
	delivered       attemptResult = iota
	failedRetry                   // the peer or the link failed: back off the destination
	failedPermanent               // this envelope was refused (dead-lettered); the peer is fine
	skipped                       // the row changed before it was sent (reclaimed, cancelled): nothing sent
)

// report is the result of one attempt for the destination's loop.
type report struct {
	result attemptResult
	// after is the peer's Retry-After: the destination waits at least
	// that long (within the backoff maximum) before the next attempt.
	after time.Duration
}

// loop keeps up to Workers deliveries to dest in flight, claiming more as
// slots free up, until nothing is due. A retryable failure (peer down,
// overloaded, link broken) stops claiming and backs off the whole
// destination, for at least the longest Retry-After the peer gave
// (FLX-DLV-006); deliveries already under way finish.
func (d *deliverer) loop(ctx context.Context, dest string) {
	defer d.wg.Done()
	defer func() {
		d.mu.Lock()
		d.active[dest] = false
		d.mu.Unlock()
	}()
	n := d.n
	workers := n.o.Delivery.Workers
	results := make(chan report, workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	inflight, peerFailed := 0, false
	var after time.Duration // the longest Retry-After seen
	record := func(r report) {
		inflight--
		after = max(after, r.after)
		switch r.result {
		case failedRetry:
			peerFailed = true
		case delivered:
			d.mu.Lock()
			d.streak[dest] = 0
			d.mu.Unlock()
			n.metrics.peerBackoff.WithLabelValues(dest).Set(0)
		}
	}
	for {
		// Take every finished attempt without waiting.
	drain:
		for inflight > 0 {
			select {
			case r := <-results:
				record(r)
			default:
				break drain
			}
		}
		if peerFailed || ctx.Err() != nil {
			for inflight > 0 {
				record(<-results)
			}
			if peerFailed {
				d.mu.Lock()
				d.streak[dest]++
				wait := n.o.Delivery.Backoff.Delay(d.streak[dest])
				if after > wait {
					wait = min(after, n.o.Delivery.Backoff.Max)
				}
				if brokenNoBackoff { // conformance teeth tests only (breakage.go)
					wait = 0
				}
				d.blocked[dest] = n.o.Now().Add(wait)
				d.mu.Unlock()
				n.metrics.peerBackoff.WithLabelValues(dest).Set(wait.Seconds())
			}
			return
		}
		if free := workers - inflight; free > 0 {
			items, err := n.o.Store.ClaimDue(ctx, store.ClaimRequest{
				Worker: n.o.Instance, Destination: dest, Limit: free, Lease: n.o.Delivery.Lease,
			})
			if err != nil && ctx.Err() == nil {
				n.log.Error("claim outbox", "destination", dest, "err", err)
			}
			for _, it := range items {
				inflight++
				wg.Add(1)
				go func(it store.OutboxItem) {
					defer wg.Done()
					// A delivery under way finishes even when the node stops.
					results <- d.deliver(context.WithoutCancel(ctx), it)
				}(it)
			}
			if len(items) > 0 {
				continue
			}
			if inflight == 0 || err != nil {
				for inflight > 0 {
					record(<-results)
				}
				return
			}
		}
		record(<-results) // all slots busy, or nothing due yet: wait for one
	}
}

// outcome of one attempt.
type outcome struct {
	retry  bool   // try again later
	reason string // for last_error and metrics (no personal data)
	// after is the peer's Retry-After (429, 503): the next attempt waits
	// at least that long, within the backoff maximum.
	after time.Duration
}

// deliver makes one attempt and records its result. An envelope about to
// expire is re-signed first (renewExpiring).
func (d *deliverer) deliver(ctx context.Context, it store.OutboxItem) report {
	n := d.n
	start := n.o.Now()
	var receipt []byte
	var out outcome
	renewed, err := n.renewExpiring(ctx, it)
	switch {
	case errors.Is(err, store.ErrConflict):
		n.log.Info("outbox row changed before its attempt; nothing sent", "outbox_id", it.ID, "to", it.Destination, "err", err)
		return report{result: skipped}
	case err != nil:
		n.log.Error("re-sign expiring envelope", "outbox_id", it.ID, "to", it.Destination, "err", err)
		out = outcome{retry: true, reason: "resign: " + err.Error()}
	default:
		it = renewed
		receipt, out = d.attempt(ctx, it)
		if f := n.o.Faults; f != nil && f.AfterSend != nil {
			f.AfterSend(it.ID)
		}
	}
	return report{result: d.conclude(ctx, it, start, receipt, out), after: out.after}
}

// conclude records the outcome of an attempt on the row.
func (d *deliverer) conclude(ctx context.Context, it store.OutboxItem, start time.Time, receipt []byte, out outcome) attemptResult {
	n := d.n
	if receipt != nil {
		if err := n.o.Store.MarkDelivered(ctx, it.ID, receipt); err != nil {
			n.log.Error("record delivery", "outbox_id", it.ID, "err", err)
			return failedRetry
		}
		n.metrics.delivered.WithLabelValues(it.Destination, it.Kind).Inc()
		n.metrics.deliveryLatency.Observe(n.o.Now().Sub(it.CreatedAt).Seconds())
		n.metrics.attemptSeconds.Observe(n.o.Now().Sub(start).Seconds())
		n.log.Info("delivered", "outbox_id", it.ID, "to", it.Destination, "kind", it.Kind, "attempts", it.Attempts)
		return delivered
	}
	n.metrics.failures.WithLabelValues(it.Destination, reasonLabel(out.reason)).Inc()
	if !out.retry || it.Attempts >= n.o.Delivery.MaxAttempts {
		if err := n.o.Store.MarkDead(ctx, it.ID, it.Attempts, out.reason); err != nil && !errors.Is(err, store.ErrConflict) {
			n.log.Error("dead-letter", "outbox_id", it.ID, "err", err)
		}
		n.metrics.dead.WithLabelValues(it.Destination).Inc()
		n.log.Warn("dead-lettered", "outbox_id", it.ID, "to", it.Destination, "kind", it.Kind, "attempts", it.Attempts, "reason", out.reason)
		if out.retry {
			return failedRetry // gave up after MaxAttempts: the peer is still failing
		}
		return failedPermanent
	}
	wait := n.o.Delivery.Backoff.Delay(it.Attempts)
	if out.after > wait {
		wait = min(out.after, n.o.Delivery.Backoff.Max)
	}
	next := n.o.Now().Add(wait)
	if brokenNoBackoff { // conformance teeth tests only (breakage.go)
		next = n.o.Now()
	}
	if err := n.o.Store.MarkFailed(ctx, it.ID, it.Attempts, out.reason, next); err != nil && !errors.Is(err, store.ErrConflict) {
		n.log.Error("record failure", "outbox_id", it.ID, "err", err)
	}
	n.log.Info("delivery failed; will retry", "outbox_id", it.ID, "to", it.Destination, "attempts", it.Attempts, "next", next, "reason", out.reason)
	return failedRetry
}

// reasonLabel keeps metric label values few: the part before ':'.
func reasonLabel(r string) string {
	if i := strings.IndexByte(r, ':'); i > 0 {
		return r[:i]
	}
	return r
}

func (d *deliverer) attempt(ctx context.Context, it store.OutboxItem) ([]byte, outcome) {
	n := d.n
	if it.Envelope == nil {
		return nil, outcome{reason: "erased: the envelope's data was erased"}
	}
	if n.o.Trust.Current() == nil || n.o.Trust.Usable() != nil {
		return nil, outcome{retry: true, reason: "no_manifest: no valid federation manifest held"}
	}
	res := n.client.Send(ctx, it.Destination, it.Envelope)
	switch res.Outcome {
	case federation.Delivered:
		return res.Receipt.Raw(), outcome{}
	case federation.Retry:
		after := res.RetryAfter
		if brokenNoRetryAfter { // conformance teeth tests only (breakage.go)
			after = 0
		}
		return nil, outcome{retry: true, reason: res.Reason, after: after}
	default:
		return nil, outcome{reason: res.Reason}
	}
}
