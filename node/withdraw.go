package node

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// WithdrawResult says who is asked to erase.
type WithdrawResult struct {
	CaseID string   `json:"case_id"`
	SentTo []string `json:"sent_to"`
	// Cancelled counts queued envelopes with the case's data that will now
	// never be sent.
	Cancelled int64 `json:"cancelled"`
	// Again is set when the case was already withdrawn: the withdrawal was
	// sent again only to the members that have not confirmed it.
	Again bool `json:"again,omitempty"`
}

// Withdraw withdraws one of this Society's cases (consent withdrawn, case
// closed, retention expired, erasure request): in one transaction it
// erases the case's personal data here keeping a tombstone, cancels queued
// envelopes that carry it, queues a case.withdraw to every member that may
// hold anything about the case (delivered, in flight, or attempted:
// per-case ordering sends it after them), and audits. Each recipient
// confirms its erasure with a confirmation, recorded against the case
// (Recipients).
//
// The transaction first locks the case (store.LockCase), as every send
// does: a forward, response or message that read the case before the
// withdrawal cannot queue after it, and the members are listed after the
// cancellation, so a row claimed for delivery meanwhile counts (FLX-WDR-008).
//
// Withdrawing an erased case again is not an error: the withdrawal goes
// again to every member that may hold something and has not confirmed,
// unless one is still on its way to it.
func (n *Node) Withdraw(ctx context.Context, a Actor, caseID string, reason schema.WithdrawalReason) (WithdrawResult, error) {
	switch reason {
	case schema.WithdrawalReason("consent_withdrawn"), schema.WithdrawalReason("case_closed"),
		schema.WithdrawalReason("retention_expired"), schema.WithdrawalReason("erasure_request"):
	default:
		return WithdrawResult{}, errf(CodeBadRequest, "reason %q is not consent_withdrawn, case_closed, retention_expired or erasure_request", reason)
	}
	now := n.o.Now()
	w := schema.Withdrawal{Schema: "flx/v1/withdrawal", CaseID: caseID, Reason: reason, WithdrawnAt: schema.DateTime(now.UTC().Format(time.RFC3339))}
	body, err := json.Marshal(w)
	if err != nil {
		return WithdrawResult{}, internal("encode withdrawal", err)
	}
	res := WithdrawResult{CaseID: caseID, SentTo: []string{}}
	err = n.o.Store.Tx(ctx, func(tx store.Tx) error {
		c, err := tx.LockCase(ctx, caseID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return errf(CodeNotFound, "no case %s", caseID)
		case err != nil:
			return err
		case c.Origin != n.o.Self:
			return errf(CodeNotOrigin, "case %s belongs to %s: only the origin withdraws it", caseID, c.Origin)
		}
		res.Again = c.Erased()
		var versions int64
		if !res.Again {
			er, err := tx.EraseCase(ctx, caseID, store.Erasure{Reason: string(reason), At: now, KeepPendingKinds: keepOnErasure})
			if err != nil {
				return err
			}
			res.Cancelled, versions = er.OutboxCancelled, er.Versions
			if err := n.eraseCaseMedia(ctx, tx, a.Name, caseID); err != nil {
				return err
			}
		}
		members, err := holders(ctx, tx, caseID)
		if err != nil {
			return err
		}
		if res.Again {
			if members, err = unconfirmed(ctx, tx, caseID, members); err != nil {
				return err
			}
		}
		for _, m := range members {
			if _, err := n.enqueue(ctx, tx, m, federation.KindCaseWithdraw, caseID, 0, body); err != nil {
				return err
			}
		}
		res.SentTo = members
		return n.audit(ctx, tx, a.Name, "case.withdraw", caseID, map[string]any{"reason": reason, "sent_to": members,
			"cancelled": res.Cancelled, "versions_erased": versions, "again": res.Again})
	})
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return WithdrawResult{}, pe
		}
		return WithdrawResult{}, internal("withdraw", err)
	}
	n.unmatchCase(caseID)
	n.deliverer.Kick()
	n.log.Info("case withdrawn", "case_id", caseID, "recipients", len(res.SentTo), "again", res.Again)
	return res, nil
}

// unconfirmed keeps the members that have not confirmed the case's
// withdrawal and to which no withdrawal is queued or in flight.
func unconfirmed(ctx context.Context, q store.Queries, caseID string, members []string) ([]string, error) {
	rs, err := q.ListRecipients(ctx, caseID)
	if err != nil {
		return nil, err
	}
	confirmed := map[string]bool{}
	for _, r := range rs {
		if !r.WithdrawalConfirmedAt.IsZero() {
			confirmed[r.Member] = true
		}
	}
	out := []string{}
	for _, m := range members {
		if confirmed[m] {
			continue
		}
		underway, err := withdrawalUnderway(ctx, q, caseID, m)
		if err != nil {
			return nil, err
		}
		if !underway {
			out = append(out, m)
		}
	}
	return out, nil
}

// holders lists every member that may hold something about the case: a
// row delivered, in flight, or attempted at least once (a failed attempt
// may still have arrived). Withdrawals themselves do not count.
func holders(ctx context.Context, q store.Queries, caseID string) ([]string, error) {
	seen := map[string]bool{}
	var after int64
	for {
		rows, err := q.ListOutbox(ctx, store.OutboxFilter{CaseID: caseID, AfterID: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			after = r.ID
			// A row never attempted reached no one: its member is not told
			// the case exists (the erasure cancels the row). Any attempt
			// may have arrived, even one that failed on our side.
			if r.Kind != string(federation.KindCaseWithdraw) && (r.State == store.Delivered || r.Attempts > 0) {
				seen[r.Destination] = true
			}
		}
		if len(rows) < 1000 {
			break
		}
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out, nil
}
