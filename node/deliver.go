package node

import (
	"time"

	"github.com/familylinks/flx/node/delivery"
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
		Instance: n.o.Instance, Workers: d.Workers, MaxAttempts: d.MaxAttempts, Backoff: d.Backoff,
		Lease: d.Lease, PollInterval: d.PollInterval, Prepare: n.prepareAttempt,
		Observer: deliveryObserver{n.metrics}, Logger: n.log, Now: n.o.Now,
	})
}

// deliveryObserver counts what delivery does in the node's metrics.
type deliveryObserver struct{ m *Metrics }

func (o deliveryObserver) Delivered(to, kind string, sinceQueued, attempt time.Duration) {
	o.m.delivered.WithLabelValues(to, kind).Inc()
	o.m.deliveryLatency.Observe(sinceQueued.Seconds())
	o.m.attemptSeconds.Observe(attempt.Seconds())
}

func (o deliveryObserver) Failed(to, reason string) { o.m.failures.WithLabelValues(to, reason).Inc() }

func (o deliveryObserver) Dead(to string) { o.m.dead.WithLabelValues(to).Inc() }

func (o deliveryObserver) Resting(to string, wait time.Duration) {
	o.m.peerBackoff.WithLabelValues(to).Set(max(wait, 0).Seconds())
}
