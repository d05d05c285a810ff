package node

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/familylinks/flx/node/store"
)

// Expiry and failure gauges, read at scrape time: what an operator must
// renew before it stops the node, and inbox rows that could not be
// processed (deploy/RUNBOOK.md section 10 has alert rules on them).
var (
	certExpiryDesc = prometheus.NewDesc("flx_certificate_expiry_seconds",
		"Seconds until this member's federation TLS certificate expires (negative once expired).", nil, nil)
	manifestExpiryDesc = prometheus.NewDesc("flx_manifest_expiry_seconds",
		"Seconds until the federation manifest in use expires (negative once expired).", nil, nil)
	signingKeyExpiryDesc = prometheus.NewDesc("flx_signing_key_expiry_seconds",
		"Seconds until the signing key in use expires, as the manifest publishes it (absent when it sets no exp).", nil, nil)
	inboxFailedDesc = prometheus.NewDesc("flx_inbox_failed",
		"Received envelopes whose processing failed (counted up to 1000).", nil, nil)
)

// expiryCollector reports the gauges above for one node.
type expiryCollector struct{ n *Node }

func (c *expiryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- certExpiryDesc
	ch <- manifestExpiryDesc
	ch <- signingKeyExpiryDesc
	ch <- inboxFailedDesc
}

func (c *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.n.o.Now()
	if cert := c.n.Certificate(); cert != nil {
		ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, cert.NotAfter.Sub(now).Seconds())
	}
	if m := c.n.o.Trust.Current(); m != nil && !m.ExpiresAt.IsZero() {
		ch <- prometheus.MustNewConstMetric(manifestExpiryDesc, prometheus.GaugeValue, m.ExpiresAt.Sub(now).Seconds())
		if me, ok := m.Member(c.n.o.Self); ok {
			if k := me.JWKS.Key(c.n.SigningKeyID()); k != nil && !k.Expires().IsZero() {
				ch <- prometheus.MustNewConstMetric(signingKeyExpiryDesc, prometheus.GaugeValue, k.Expires().Sub(now).Seconds())
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if rows, err := c.n.o.Store.ListInbox(ctx, store.InboxFilter{State: "failed", Limit: pendingCap}); err == nil {
		ch <- prometheus.MustNewConstMetric(inboxFailedDesc, prometheus.GaugeValue, float64(len(rows)))
	}
}

// observeNode registers the expiry collector of n (once per registry: a
// second node on the same Metrics keeps the first one's).
func (m *Metrics) observeNode(n *Node) {
	_ = m.Registry.Register(&expiryCollector{n: n})
	m.queue.pending = n.UnconfirmedWithdrawals // like observeStore: the last node's
}
