package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/federation/pull"
	"github.com/familylinks/flx/node/store"
)

// Pull (conformance/SPEC.md §15), both sides:
//
//   - serving: envelopes for a member that pulls from this node stay on
//     their outbox rows (delivery does not dial such a member: routedOutbox);
//     GET /flx/v1/pull claims them with the outbox's own leases and per-case
//     order (outboxQueue), and POST /flx/v1/pull/ack marks a row delivered
//     only on the puller's verified receipt. A cut pull or acknowledgement
//     loses nothing: the lease runs out and the same bytes are offered again.
//   - pulling: a pull_only member drains each of its sources every
//     PullInterval, processing each envelope exactly as if it had been
//     POSTed (Receive, with the source as the authenticated peer), and
//     acknowledges with the receipts it signed; its replay record turns a
//     second offer into a duplicate receipt, never a second processing.

// outboxQueue is pull.Queue over the outbox.
type outboxQueue struct{ n *Node }

var _ pull.Queue = outboxQueue{}

func queued(r store.OutboxItem) pull.Queued {
	sum := sha256.Sum256(r.Envelope)
	return pull.Queued{JTI: r.JTI, CaseID: r.CaseID, SHA256: hex.EncodeToString(sum[:]), Raw: r.Envelope}
}

// Lease claims due rows for member in queue order (ClaimDue keeps per-case
// order); rows past the byte limit go back to the queue at once, uncounted
// (Outbox.Unclaim): they were never handed out, so never attempted.
func (q outboxQueue) Lease(ctx context.Context, member string, lim pull.Limit, now, until time.Time) ([]pull.Queued, bool, error) {
	// Only a member that pulls from this node is served: the envelopes of
	// others are delivered by push, and must not be leased away from it.
	if r, err := q.n.route(member); err != nil || !r.Pull {
		return nil, false, nil
	}
	rows, err := q.n.o.Store.ClaimDue(ctx, store.ClaimRequest{
		Worker: "pull/" + member, Now: now, Limit: lim.Count, Destination: member, Lease: until.Sub(now),
	})
	if err != nil {
		return nil, false, err
	}
	more := len(rows) == lim.Count
	var out []pull.Queued
	var size int64
	for i, r := range rows {
		if r.Envelope == nil {
			if err := q.n.o.Store.MarkDead(ctx, r.ID, r.Attempts, "erased: the envelope's data was erased"); err != nil && !errors.Is(err, store.ErrConflict) {
				return nil, false, err
			}
			continue
		}
		if len(out) > 0 && lim.Bytes > 0 && size+int64(len(r.Envelope)) > lim.Bytes {
			for _, back := range rows[i:] {
				if err := q.n.o.Store.Unclaim(ctx, back.ID, back.Attempts); err != nil && !errors.Is(err, store.ErrConflict) {
					return nil, false, err
				}
			}
			return out, true, nil
		}
		r, ok, err := q.n.forPull(ctx, r, until)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			continue
		}
		size += int64(len(r.Envelope))
		out = append(out, queued(r))
	}
	return out, more, nil
}

// forPull makes a leased row safe to hand to a puller, which may process
// it as late as the lease's end: an envelope that expires before then (plus
// Skew) would be refused as expired there (FLX-ENV-007). This member's own
// envelope is re-signed (renewExpiringBy); a relay.forward it signed around
// another member's chain is re-signed with an exp no later than the inner
// envelope's (FLX-RLY-007). An inner envelope of another origin that
// expires before then cannot be renewed here: the row is dead-lettered as
// expired, and its origin, which never got an end-to-end receipt, sends it
// again renewed (FLX-RLY-009). ok false: the row is not handed out.
func (n *Node) forPull(ctx context.Context, r store.OutboxItem, until time.Time) (store.OutboxItem, bool, error) {
	deadline := until.Add(n.o.Skew)
	c, err := federation.ClaimsOf(r.Envelope)
	if err != nil {
		return r, false, fmt.Errorf("node: outbox row %d: stored envelope unreadable: %w", r.ID, err)
	}
	if c.ExpiresAt.After(deadline) {
		return r, true, nil
	}
	if c.Issuer == n.o.Self && c.Kind != federation.KindRelayForward {
		r, err := n.renewExpiringBy(ctx, r, deadline)
		if errors.Is(err, store.ErrConflict) {
			return r, false, nil
		}
		return r, err == nil, err
	}
	if c.Issuer == n.o.Self {
		inner, err := federation.RelayInner(r.Envelope)
		if err != nil {
			return r, false, fmt.Errorf("node: outbox row %d: stored inner token unreadable: %w", r.ID, err)
		}
		tok, err := federation.PeekToken(inner)
		if err != nil {
			return r, false, fmt.Errorf("node: outbox row %d: stored inner token unreadable: %w", r.ID, err)
		}
		if tok.Receipt || tok.ExpiresAt.After(deadline) {
			now := n.o.Now()
			old := c.JTI
			c.JTI, c.IssuedAt, c.ExpiresAt = federation.NewJTI(), now, now.Add(n.o.EnvelopeTTL)
			if !tok.Receipt && tok.ExpiresAt.Before(c.ExpiresAt) {
				c.ExpiresAt = tok.ExpiresAt
			}
			raw, err := federation.Sign(c, n.signer())
			if err != nil {
				return r, false, fmt.Errorf("node: re-sign relay envelope: %w", err)
			}
			jti := r.JTI
			if jti == old {
				jti = c.JTI // the puller receipts the outer envelope
			}
			switch err := n.o.Store.ReplaceEnvelope(ctx, r.ID, r.Attempts, jti, raw); {
			case errors.Is(err, store.ErrConflict):
				return r, false, nil
			case err != nil:
				return r, false, fmt.Errorf("node: re-sign outbox row %d: %w", r.ID, err)
			}
			n.metrics.resigned.WithLabelValues(r.Destination).Inc()
			n.log.Info("re-signed an expiring relay envelope before a pull", "outbox_id", r.ID, "to", r.Destination, "old_jti", old, "jti", c.JTI)
			r.JTI, r.Envelope = jti, raw
			return r, true, nil
		}
	}
	err = n.o.Store.MarkDead(ctx, r.ID, r.Attempts, "http_400: expired (it expires before the puller could process it; its origin re-sends it)")
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return r, false, err
	}
	n.log.Warn("dead-lettered an envelope that expires before it could be pulled", "outbox_id", r.ID, "to", r.Destination, "jti", r.JTI)
	return r, false, nil
}

func (q outboxQueue) row(ctx context.Context, member, jti string) (store.OutboxItem, bool, error) {
	r, err := q.n.o.Store.GetOutboxByJTI(ctx, jti)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return r, false, nil
	case err != nil:
		return r, false, err
	}
	ok := r.Destination == member && r.Envelope != nil && (r.State == store.Queued || r.State == store.InFlight)
	return r, ok, nil
}

func (q outboxQueue) Lookup(ctx context.Context, member, jti string) (pull.Queued, bool, error) {
	r, ok, err := q.row(ctx, member, jti)
	if !ok || err != nil {
		return pull.Queued{}, false, err
	}
	return queued(r), true, nil
}

func (q outboxQueue) Delivered(ctx context.Context, member string, it pull.Queued, receipt *federation.Receipt) error {
	r, ok, err := q.row(ctx, member, it.JTI)
	if !ok || err != nil {
		return err
	}
	if err := q.n.o.Store.MarkDelivered(ctx, r.ID, receipt.Raw()); err != nil {
		return err
	}
	q.n.metrics.deliveredOne(member, r.Kind)
	return nil
}

func (q outboxQueue) Refused(ctx context.Context, member string, it pull.Queued, code federation.Code) error {
	r, ok, err := q.row(ctx, member, it.JTI)
	if !ok || err != nil {
		return err
	}
	err = q.n.o.Store.MarkDead(ctx, r.ID, 0, fmt.Sprintf("http_400: %s (refused by the puller)", code))
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}

// PullHandler serves GET /flx/v1/pull and POST /flx/v1/pull/ack; mount it
// behind the federation API's mTLS middleware.
func (n *Node) PullHandler() http.Handler {
	return &pull.Handler{Self: n.o.Self, Manifest: n.o.Trust, Queue: outboxQueue{n}, Lease: n.o.PullLease, Skew: n.o.Skew, Now: n.o.Now, Log: n.log}
}

// puller keeps one mTLS client per source.
type puller struct {
	mu      sync.Mutex
	clients map[string]*http.Client
}

func (n *Node) pullClient(src string) *http.Client {
	n.pullers.mu.Lock()
	defer n.pullers.mu.Unlock()
	if n.pullers.clients == nil {
		n.pullers.clients = map[string]*http.Client{}
	}
	c := n.pullers.clients[src]
	if c == nil {
		c = mtls.NewClient(n.o.TLS, n.o.Trust.Directory(), src, n.o.Delivery.RequestTimeout)
		n.pullers.clients[src] = c
	}
	return c
}

// runPull pulls every PullInterval while this member is pull_only.
func (n *Node) runPull(ctx context.Context) {
	tick := time.NewTicker(n.o.PullInterval)
	defer tick.Stop()
	for {
		if _, err := n.PullOnce(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("pull failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// PullOnce drains, when this member is pull_only, each member it pulls
// from (FLX-PUL-008) and returns what was done; errors of sources are
// joined, each source is tried.
func (n *Node) PullOnce(ctx context.Context) (pull.DrainStats, error) {
	var total pull.DrainStats
	m := n.o.Trust.Current()
	if m == nil {
		return total, nil
	}
	if self, ok := m.Member(n.o.Self); !ok || !self.PullOnly {
		return total, nil
	}
	var errs []error
	for _, src := range m.PullSources(n.o.Self) {
		mb, ok := m.Member(src)
		if !ok || mb.Endpoint == "" {
			continue
		}
		c := pull.Client{HTTP: n.pullClient(src), Endpoint: mb.Endpoint}
		st, err := c.Drain(ctx, 0, func(ctx context.Context, raw []byte) ([]byte, federation.Code, error) {
			res, err := n.Receive(ctx, src, raw)
			if err != nil {
				p := problem.As(err)
				if p.Code == problem.Internal {
					return nil, "", err
				}
				return nil, p.Code, nil
			}
			return res.Receipt, "", nil
		})
		total.Batches += st.Batches
		total.Envelopes += st.Envelopes
		total.Receipts += st.Receipts
		total.Refusals += st.Refusals
		total.Pending += st.Pending
		if err != nil {
			errs = append(errs, fmt.Errorf("pull from %s: %w", src, err))
		}
		if st.Envelopes > 0 {
			n.log.Info("pulled", "from", src, "envelopes", st.Envelopes, "receipts", st.Receipts, "refusals", st.Refusals, "pending", st.Pending)
		}
	}
	return total, errors.Join(errs...)
}
