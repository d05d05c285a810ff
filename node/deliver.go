package node

import (
	"context"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/delivery"
	"github.com/familylinks/flx/node/store"
)

// newDeliverer wires the outbound pipeline (node/delivery): the outbox of
// the store, the federation wire client, re-signing of envelopes near
// their exp and routing through relays (prepareAttempt) and the node's
// metrics. Messages with attached media push it first (mediaSender); what
// goes through a relay is sent to the relay (routedSender).
func (n *Node) newDeliverer() *delivery.Deliverer {
	d := n.o.Delivery
	sender := &routedSender{n: n}
	return delivery.New(routedOutbox{Store: n.o.Store, n: n, sender: sender}, mediaSender{n, sender}, delivery.Options{
		Instance: n.o.Instance, Workers: d.Workers, BatchSize: d.BatchSize, Linger: d.Linger, MaxAttempts: d.MaxAttempts, Backoff: d.Backoff,
		Lease: d.Lease, PollInterval: d.PollInterval, Prepare: n.prepareAttempt,
		// Withdrawals and confirmations are retried until delivered
		// (FLX-WDR-007: a recipient must not keep a case because
		// it was down for longer than MaxAttempts allows).
		Persistent: func(kind string) bool { return kind == string(federation.KindCaseWithdraw) },
		Observer:   deliveryObserver{n.metrics}, Logger: n.log, Now: n.o.Now,
	})
}

// deliveryObserver counts what delivery does in the node's metrics.
type deliveryObserver struct{ m *Metrics }

func (o deliveryObserver) Delivered(to, kind string, sinceQueued, attempt time.Duration) {
	o.m.deliveredOne(to, kind)
	o.m.deliveryLatency.Observe(sinceQueued.Seconds())
	o.m.attemptSeconds.Observe(attempt.Seconds())
}

func (o deliveryObserver) Failed(to, reason string) { o.m.failures.WithLabelValues(to, reason).Inc() }

func (o deliveryObserver) Dead(to string) { o.m.dead.WithLabelValues(to).Inc() }

// Sent records the envelopes of one request (flx_delivery_request_envelopes).
func (o deliveryObserver) Sent(_ string, envelopes int) {
	o.m.sentRequest(envelopes)
}

// Claimed counts the claims and the empty ones (Metrics.Batches).
// It hands the claim's time to the stage hook, if one is set.
func (o deliveryObserver) Claimed(_ string, rows int, took time.Duration) {
	o.m.claimed(rows)
	if h := o.m.stages.Load(); h != nil && h.Claimed != nil {
		h.Claimed(rows, took)
	}
}

// Attempted hands the times of an answered request to the stage hook, if
// one is set (Metrics.ObserveStages).
func (o deliveryObserver) Attempted(rows []store.OutboxItem, sent, answered time.Time) {
	h := o.m.stages.Load()
	if h == nil || h.Attempted == nil {
		return
	}
	for _, r := range rows {
		h.Attempted(r.JTI, r.UpdatedAt, sent, answered)
	}
}

// Resting needs nothing here: flx_peer_backoff_seconds is read from the
// saved backoff at scrape time (queueCollector).
func (o deliveryObserver) Resting(string, time.Duration) {}

// SendBatch pushes the attached media of each envelope that has some, then
// sends the envelopes whose media is there in one batch; an envelope whose
// media could not be pushed gets that failure and is not sent.
func (s mediaSender) SendBatch(ctx context.Context, to string, envelopes [][]byte) []federation.Result {
	out := make([]federation.Result, len(envelopes))
	var idx []int
	var batch [][]byte
	// The claims of each envelope are read once, here, and handed on:
	// pushing media, routing and the client each read them again before
	// (three memo lookups of the envelope, each hashing and comparing its
	// bytes and copying its body).
	claims := make([]federation.Claims, 0, len(envelopes))
	read := true
	for i, e := range envelopes {
		c, err := federation.ClaimsOf(e)
		if err := s.n.pushMediaOf(ctx, to, e, c, err); err != nil {
			out[i] = mediaFailure(err)
			continue
		}
		read = read && err == nil
		idx, batch, claims = append(idx, i), append(batch, e), append(claims, c)
	}
	if len(batch) == 0 {
		return out
	}
	if bo, ok := s.next.(batchOfSender); ok && read {
		for k, r := range bo.SendBatchOf(ctx, to, batch, claims) {
			out[idx[k]] = r
		}
		return out
	}
	bs, ok := s.next.(delivery.BatchSender)
	if !ok {
		for k, i := range idx {
			out[i] = s.next.Send(ctx, to, batch[k])
		}
		return out
	}
	for k, r := range bs.SendBatch(ctx, to, batch) {
		out[idx[k]] = r
	}
	return out
}

// batchOfSender sends a batch whose claims are already read
// (federation.Client's SendBatchOf).
type batchOfSender interface {
	SendBatchOf(ctx context.Context, to string, envelopes [][]byte, claims []federation.Claims) []federation.Result
}

// KickDelivery makes delivery look for due rows now: for rows queued in
// the store directly (a bulk import, the bench) rather than through the
// node's operations, which kick it themselves. Given the destinations of
// the rows, it costs nothing more when their deliveries are under way
// (delivery.Deliverer.KickFor).
func (n *Node) KickDelivery(to ...string) {
	if len(to) == 0 {
		n.deliverer.Kick()
		return
	}
	n.deliverer.KickFor(to...)
}
