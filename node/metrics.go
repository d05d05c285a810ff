package node

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/familylinks/flx/node/store"
)

// Metrics are the node's Prometheus metrics. Labels carry member ids,
// kinds and codes only: never personal data.
type Metrics struct {
	Registry         *prometheus.Registry
	received         *prometheus.CounterVec
	refused          *prometheus.CounterVec
	processed        *prometheus.CounterVec
	enqueued         *prometheus.CounterVec
	delivered        *prometheus.CounterVec
	failures         *prometheus.CounterVec
	dead             *prometheus.CounterVec
	resigned         *prometheus.CounterVec
	decisions        *prometheus.CounterVec
	receiveSeconds   prometheus.Histogram
	attemptSeconds   prometheus.Histogram
	deliveryLatency  prometheus.Histogram
	requestEnvelopes prometheus.Histogram
	processRows      prometheus.Histogram
	batches          struct{ requests, envelopes, transactions, rows, delivered, claims, emptyClaims, sendTxs, sends atomic.Int64 }
	queue            *queueCollector
	matchErrors      prometheus.Counter
	matchSeconds     prometheus.Histogram
	// applyOnReceiveFailed: received batches whose apply in the receiving
	// transaction failed (rolled back; stored for the processor).
	applyOnReceiveFailed prometheus.Counter
	// connRefused: connections a listener closed as it accepted them,
	// over its bounds (flx serve's node/connlimit).
	connRefused *prometheus.CounterVec
	stages      atomic.Pointer[StageHook]
}

// StageHook receives the times of each envelope's steps, for the bench's
// finer latency stages (flx bench exchange): none is kept by the node.
// Attempted runs on the sender, once per envelope of each answered
// request: claimed is its claim's now, sent when its request left,
// answered when the answer came and its receipts were verified (before
// they are recorded). Stored
// runs on the receiver once the transaction that stored an envelope
// committed, with the inbox key (issuer and jti) of each envelope stored.
// Claimed runs on the sender once per claim of due rows, with the rows it
// took and the time the store took to answer it. Forwarded runs on the
// sender once Node.Forward queued an envelope: when the call began, when
// its case was read (readToSend's group), when it had a slot to be judged
// (forwardSlots), when the policy had judged it (and it was signed), and
// when its group's transaction committed. They run on delivery, forwarding
// and receiving goroutines: they must be quick and safe for concurrent use.
type StageHook struct {
	Forwarded func(jti string, start, read, slot, judged, committed time.Time)
	Attempted func(jti string, claimed, sent, answered time.Time)
	Stored    func(inboxKey string, committed time.Time)
	Claimed   func(rows int, took time.Duration)
}

// ObserveStages sets the stage hook (nil: none).
func (m *Metrics) ObserveStages(h *StageHook) { m.stages.Store(h) }

// NewMetrics registers the node's metrics on reg (a new registry with the
// Go and process collectors when nil).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	}
	m := &Metrics{
		Registry: reg,
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flx_envelopes_received_total",
			Help: "Envelopes accepted on the federation API, by kind and receipt status (accepted, duplicate)."}, []string{"kind", "status"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flx_envelopes_refused_total",
			Help: "Envelopes refused on the federation API, by problem code."}, []string{"code"}),
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flx_inbox_processed_total",
			Help: "Inbox rows processed, by kind."}, []string{"kind"}),
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flx_outbox_enqueued_total",
			Help: "Envelopes queued for delivery, by kind."}, []string{"kind"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flx_envelopes_delivered_total",
			Help: "Envelopes delivered with a verified receipt, by peer and kind."}, []string{"peer", "kind"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flx_delivery_failures_total",
			Help: "Failed delivery attempts, by peer and reason."}, []string{"peer", "reason"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flx_delivery_dead_letters_total",
			Help: "Envelopes dead-lettered, by peer."}, []string{"peer"}),
		resigned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flx_envelopes_resigned_total",
			Help: "Queued envelopes re-signed with a new jti because they neared their exp before delivery, by peer."}, []string{"peer"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flx_policy_decisions_total",
			Help: "Policy decisions on outgoing documents, by effect."}, []string{"effect"}),
		receiveSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flx_receive_seconds",
			Help: "Time to verify, validate and store one received envelope.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		attemptSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flx_delivery_attempt_seconds",
			Help: "Duration of successful delivery attempts.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		deliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flx_delivery_latency_seconds",
			Help: "Time from queueing to delivery with a verified receipt.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 14)}),
		requestEnvelopes: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flx_delivery_request_envelopes",
			Help: "Envelopes per delivery request sent to a peer (batching: the fixed cost of a request is shared by them).", Buckets: prometheus.ExponentialBuckets(1, 2, 11)}),
		processRows: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flx_inbox_process_batch_rows",
			Help: "Inbox rows applied per processing transaction.", Buckets: prometheus.ExponentialBuckets(1, 2, 11)}),
		queue: &queueCollector{},
		matchErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "flx_match_errors_total",
			Help: "Cases whose candidate matching failed (the case was stored; its next change matches it again)."}),
		matchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flx_match_seconds",
			Help: "Time to match one case written and record its candidates.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		applyOnReceiveFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "flx_apply_on_receive_failures_total",
			Help: "Received batches whose apply in the receiving transaction failed and was rolled back: stored and receipted, left to the inbox processor."}),
		connRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flx_connections_refused_total",
			Help: "Connections a listener (federation, local_api) closed as soon as it accepted them, because it held as many as it may: in total (reason total: max_connections) or from their source address (per_source: federation.max_connections_per_source)."},
			[]string{"listener", "reason"}),
	}
	reg.MustRegister(m.received, m.refused, m.processed, m.enqueued, m.delivered, m.failures, m.dead,
		m.resigned, m.decisions, m.receiveSeconds, m.attemptSeconds, m.deliveryLatency, m.requestEnvelopes, m.processRows, m.queue,
		m.matchErrors, m.matchSeconds, m.applyOnReceiveFailed, m.connRefused)
	return m
}

// ConnectionRefused counts a connection listener closed as it accepted it,
// over one of its bounds (reason: total or per_source).
func (m *Metrics) ConnectionRefused(listener, reason string) {
	m.connRefused.WithLabelValues(listener, reason).Inc()
}

// ObserveListener exports the connections listener holds (open, read at
// each scrape) and the most it may hold, and its refusals for each of
// reasons from 0 (so that a rate over them is defined before the first).
// Call it once per listener.
func (m *Metrics) ObserveListener(listener string, open func() int, most int, reasons ...string) {
	labels := prometheus.Labels{"listener": listener}
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flx_connections_open", ConstLabels: labels,
			Help: "Connections the listener holds now, from accept to close (TLS handshakes under way included)."},
			func() float64 { return float64(open()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flx_connections_max", ConstLabels: labels,
			Help: "The most connections the listener holds at once (max_connections, or what 0 made of it)."},
			func() float64 { return float64(most) }))
	for _, r := range reasons {
		m.connRefused.WithLabelValues(listener, r)
	}
}

// BatchCounts are the delivery requests sent and the envelopes they
// carried, and the processing transactions and the inbox rows they
// applied, since the node started: their ratios are the mean batch sizes,
// which decide how far the fixed cost of a request or transaction is
// shared. Delivered counts the envelopes delivered with a verified receipt
// (flx_envelopes_delivered_total, all peers and kinds): one sent again
// after a lost answer may count twice. Claims are delivery's claims of
// due rows, EmptyClaims those that found none. SendTxs are the
// transactions of the caseworkers' forwards (groups of forwards,
// commitSendTx) and Sends the forwards they held.
type BatchCounts struct {
	Requests, Envelopes, Transactions, Rows, Delivered int64
	Claims, EmptyClaims                                int64
	SendTxs, Sends                                     int64
}

// Batches returns the counts so far.
func (m *Metrics) Batches() BatchCounts {
	b := &m.batches
	return BatchCounts{Requests: b.requests.Load(), Envelopes: b.envelopes.Load(), Transactions: b.transactions.Load(), Rows: b.rows.Load(),
		Delivered: b.delivered.Load(), Claims: b.claims.Load(), EmptyClaims: b.emptyClaims.Load(),
		SendTxs: b.sendTxs.Load(), Sends: b.sends.Load()}
}

// sendGroup records a transaction of a group of n forwards (commitShared).
func (m *Metrics) sendGroup(n int) {
	m.batches.sendTxs.Add(1)
	m.batches.sends.Add(int64(n))
}

// sentRequest records a delivery request of n envelopes.
func (m *Metrics) sentRequest(n int) {
	m.requestEnvelopes.Observe(float64(n))
	m.batches.requests.Add(1)
	m.batches.envelopes.Add(int64(n))
}

// claimed records a claim of due rows that took rows.
func (m *Metrics) claimed(rows int) {
	m.batches.claims.Add(1)
	if rows == 0 {
		m.batches.emptyClaims.Add(1)
	}
}

// deliveredOne records an envelope delivered with a verified receipt.
func (m *Metrics) deliveredOne(peer, kind string) {
	m.delivered.WithLabelValues(peer, kind).Inc()
	m.batches.delivered.Add(1)
}

// processedBatch records a processing transaction that applied n rows.
func (m *Metrics) processedBatch(n int) {
	m.processRows.Observe(float64(n))
	m.batches.transactions.Add(1)
	m.batches.rows.Add(int64(n))
}

func (m *Metrics) observeStore(self string, st interface {
	store.OutboxReader
	store.DisclosureReader
}) {
	m.queue.self, m.queue.st, m.queue.ds = self, st, st
}

// queueCollector reads the outbox per peer at scrape time.
type queueCollector struct {
	self string // only withdrawals of our own cases count, not confirmations we sent
	st   store.OutboxReader
	ds   store.DisclosureReader
	// pending lists the members asked to erase our cases that have not
	// confirmed (Node.UnconfirmedWithdrawals), undelivered ones included.
	pending func(context.Context) ([]PendingWithdrawal, error)
}

var (
	queueDesc = prometheus.NewDesc("flx_outbox_messages", "Outbox envelopes per peer and state.", []string{"peer", "state"}, nil)
	ageDesc   = prometheus.NewDesc("flx_outbox_oldest_pending_seconds", "Age of the oldest undelivered envelope per peer.", []string{"peer"}, nil)
	// The backoff is read from the store (kept across restarts), so the
	// gauge counts down and every process sharing the database agrees.
	backoffDesc = prometheus.NewDesc("flx_peer_backoff_seconds",
		"Seconds until delivery tries the peer again after failures (0: healthy or due).", []string{"peer"}, nil)
	failuresDesc = prometheus.NewDesc("flx_peer_consecutive_failures",
		"Failed delivery rounds to the peer since its last success.", []string{"peer"}, nil)
)

// unconfirmedDesc counts members asked to erase one of our cases that have
// not confirmed it yet, the withdrawal delivered or still on its way (at
// most pendingCap are counted): the operator follows them up
// (GET /api/v1/withdrawals, deploy/RUNBOOK.md).
var unconfirmedDesc = prometheus.NewDesc("flx_withdrawals_unconfirmed",
	"Members asked to erase one of our cases that have not confirmed their erasure, the withdrawal delivered or still on its way (counted up to 1000).", nil, nil)

const pendingCap = 1000

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDesc
	ch <- ageDesc
	ch <- unconfirmedDesc
	ch <- backoffDesc
	ch <- failuresDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	if c.st == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c.pending != nil {
		if p, err := c.pending(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(unconfirmedDesc, prometheus.GaugeValue, float64(min(len(p), pendingCap)))
		}
	} else if c.ds != nil {
		if p, err := c.ds.ListPendingWithdrawals(ctx, pendingCap); err == nil {
			n := 0
			for _, r := range p {
				if strings.HasPrefix(r.CaseID, c.self+":") {
					n++
				}
			}
			ch <- prometheus.MustNewConstMetric(unconfirmedDesc, prometheus.GaugeValue, float64(n))
		}
	}
	stats, err := c.st.OutboxStats(ctx)
	if err != nil {
		return
	}
	rest := map[string]store.PeerBackoff{}
	if saved, err := c.st.ListPeerBackoff(ctx); err == nil {
		for _, b := range saved {
			rest[b.Destination] = b
		}
		for _, s := range stats {
			if _, ok := rest[s.Destination]; !ok {
				rest[s.Destination] = store.PeerBackoff{Destination: s.Destination}
			}
		}
	}
	now := time.Now()
	for peer, b := range rest {
		wait := 0.0
		if !b.NextAttemptAt.IsZero() {
			wait = max(b.NextAttemptAt.Sub(now).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(backoffDesc, prometheus.GaugeValue, wait, peer)
		ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.GaugeValue, float64(b.Failures), peer)
	}
	for _, s := range stats {
		for state, v := range map[string]int64{"queued": s.Queued, "in_flight": s.InFlight, "delivered": s.Delivered, "dead": s.Dead, "cancelled": s.Cancelled} {
			ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(v), s.Destination, state)
		}
		age := 0.0
		if !s.OldestPending.IsZero() {
			age = time.Since(s.OldestPending).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, age, s.Destination)
	}
}
