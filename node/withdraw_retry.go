package node

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/backoff"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// WithdrawalRetryOptions tune how a withdrawal that reached a member
// without coming back confirmed is sent again. Delivery already retries an
// undelivered withdrawal with backoff for as long as it takes (it is never
// dead-lettered); this covers the member that received it and never
// confirmed (its confirmation lost, its node restored from a backup, a
// bug): the withdrawal goes again, with backoff, until it confirms.
type WithdrawalRetryOptions struct {
	// Backoff is the wait after a delivery before the withdrawal is sent
	// again (doubling with each send); default 1 h to 24 h.
	Backoff backoff.Policy
	// Every is how often the node looks; default 1 minute, negative never.
	Every time.Duration
}

func (o *WithdrawalRetryOptions) defaults() {
	if o.Backoff.Initial <= 0 {
		o.Backoff.Initial = time.Hour
	}
	if o.Backoff.Max < o.Backoff.Initial {
		o.Backoff.Max = max(24*time.Hour, o.Backoff.Initial)
	}
	if o.Every == 0 {
		o.Every = time.Minute
	}
}

// Withdrawal states of PendingWithdrawal.
const (
	// WithdrawalUndelivered: the withdrawal is queued or in flight
	// (delivery retries it with backoff until the member receipts it).
	WithdrawalUndelivered = "undelivered"
	// WithdrawalUnconfirmed: the member receipted the withdrawal and has
	// not confirmed its erasure; it is sent again after NextSendAt.
	WithdrawalUnconfirmed = "unconfirmed"
)

// PendingWithdrawal is a member asked to erase one of this node's cases
// that has not confirmed it yet (UnconfirmedWithdrawals).
type PendingWithdrawal struct {
	CaseID string
	Member string
	State  string // WithdrawalUndelivered or WithdrawalUnconfirmed
	// Sends counts the withdrawals of the case delivered to the member;
	// LastSentAt is the last delivery.
	Sends      int
	LastSentAt time.Time
	// NextSendAt is when an unconfirmed withdrawal goes again.
	NextSendAt time.Time
	// Of the undelivered withdrawal: delivery attempts so far, the next
	// one, and why the last failed.
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
}

// pendingScanLimit bounds the rows UnconfirmedWithdrawals reads.
const pendingScanLimit = 10000

// UnconfirmedWithdrawals lists the members asked to erase one of this
// node's cases that have not confirmed: withdrawals on their way, and
// withdrawals delivered without a confirmation yet (with when they go
// again). Oldest case first. Names cases and members only.
func (n *Node) UnconfirmedWithdrawals(ctx context.Context) ([]PendingWithdrawal, error) {
	v := n.View()
	own := func(caseID string) bool { return strings.HasPrefix(caseID, n.o.Self+":") }
	type key struct{ caseID, member string }
	byKey := map[key]*PendingWithdrawal{}
	// One read of queued and in-flight rows: read state by state, a
	// withdrawal moving from one to the other in between is missed.
	var after int64
	for scanned := 0; scanned < pendingScanLimit; {
		rows, err := v.ListOutbox(ctx, store.OutboxFilter{Pending: true, AfterID: after, Limit: 1000})
		if err != nil {
			return nil, internal("outbox", err)
		}
		for _, r := range rows {
			after = r.ID
			if r.Kind != string(federation.KindCaseWithdraw) || !own(r.CaseID) {
				continue
			}
			k := key{r.CaseID, r.Destination}
			if byKey[k] == nil {
				byKey[k] = &PendingWithdrawal{CaseID: r.CaseID, Member: r.Destination, State: WithdrawalUndelivered,
					Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt, LastError: r.LastError}
			}
		}
		scanned += len(rows)
		if len(rows) < 1000 {
			break
		}
	}
	rs, err := v.ListPendingWithdrawals(ctx, 1000)
	if err != nil {
		return nil, internal("pending withdrawals", err)
	}
	for _, r := range rs {
		if !own(r.CaseID) {
			continue
		}
		k := key{r.CaseID, r.Member}
		p := byKey[k]
		if p == nil {
			p = &PendingWithdrawal{CaseID: r.CaseID, Member: r.Member, State: WithdrawalUnconfirmed}
			byKey[k] = p
		}
		p.LastSentAt = r.WithdrawalSentAt
	}
	out := make([]PendingWithdrawal, 0, len(byKey))
	for _, p := range byKey {
		sends, err := withdrawalsDelivered(ctx, v, p.CaseID, p.Member)
		if err != nil {
			return nil, internal("outbox", err)
		}
		p.Sends = sends
		if p.State == WithdrawalUnconfirmed {
			p.NextSendAt = p.LastSentAt.Add(n.resendWait(sends))
		}
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CaseID != out[j].CaseID {
			return out[i].CaseID < out[j].CaseID
		}
		return out[i].Member < out[j].Member
	})
	return out, nil
}

// resendWait is how long after its sends-th delivery an unconfirmed
// withdrawal waits before it goes again: the backoff's ceiling, without
// jitter, so the operator's listing and the sweep agree.
func (n *Node) resendWait(sends int) time.Duration {
	p := n.o.WithdrawalRetry.Backoff
	p.Rand = func() float64 { return 1 }
	return p.Delay(sends)
}

// withdrawalsDelivered counts the withdrawals of caseID delivered to member.
func withdrawalsDelivered(ctx context.Context, q store.OutboxReader, caseID, member string) (int, error) {
	sends := 0
	var after int64
	for {
		rows, err := q.ListOutbox(ctx, store.OutboxFilter{CaseID: caseID, Destination: member, State: store.Delivered, AfterID: after, Limit: 1000})
		if err != nil {
			return 0, err
		}
		for _, r := range rows {
			after = r.ID
			if r.Kind == string(federation.KindCaseWithdraw) {
				sends++
			}
		}
		if len(rows) < 1000 {
			return sends, nil
		}
	}
}

// ResendWithdrawals sends again every withdrawal of this node's cases that
// was delivered, is not confirmed, and whose wait (resendWait) is over;
// it returns how many it queued. Each goes in the case's lock, after
// checking again that the member has not confirmed and that no withdrawal
// to it is on its way, and is audited (case.withdraw.resend).
func (n *Node) ResendWithdrawals(ctx context.Context) (int, error) {
	pending, err := n.UnconfirmedWithdrawals(ctx)
	if err != nil {
		return 0, err
	}
	now := n.o.Now()
	queued := 0
	for _, p := range pending {
		if p.State != WithdrawalUnconfirmed || now.Before(p.NextSendAt) {
			continue
		}
		err := n.o.Store.Tx(ctx, func(tx store.Tx) error {
			c, err := tx.LockCase(ctx, p.CaseID)
			if err != nil {
				return err
			}
			if !c.Erased() || c.Origin != n.o.Self {
				return nil
			}
			members, err := unconfirmed(ctx, tx, p.CaseID, []string{p.Member})
			if err != nil || len(members) == 0 {
				return err
			}
			reason := schema.WithdrawalReason(c.EraseReason)
			if reason == "" {
				reason = "consent_withdrawn"
			}
			body, err := json.Marshal(schema.Withdrawal{Schema: "flx/v1/withdrawal", CaseID: p.CaseID, Reason: reason,
				WithdrawnAt: schema.DateTime(c.ErasedAt.UTC().Format(time.RFC3339))})
			if err != nil {
				return err
			}
			if _, err := n.enqueue(ctx, tx, p.Member, federation.KindCaseWithdraw, p.CaseID, 0, body); err != nil {
				return err
			}
			queued++
			return n.audit(ctx, tx, "system", "case.withdraw.resend", p.CaseID, map[string]any{"to": p.Member, "sends": p.Sends,
				"last_sent_at": p.LastSentAt.UTC().Format(time.RFC3339)})
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			return queued, internal("resend withdrawal", err)
		}
	}
	if queued > 0 {
		n.deliverer.Kick()
		n.log.Info("withdrawals sent again", "count", queued)
	}
	return queued, nil
}

// runWithdrawalRetry looks for unconfirmed withdrawals every interval.
func (n *Node) runWithdrawalRetry(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, err := n.ResendWithdrawals(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("resending unconfirmed withdrawals failed", "err", err)
		}
	}
}
