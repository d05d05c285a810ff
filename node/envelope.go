package node

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/store"
)

// enqueue signs an envelope of kind about caseID for member to and queues
// it in tx. Retries re-send these exact bytes, so the receiver can tell a
// re-sent envelope from a new one, until the envelope nears its exp
// (renewExpiring).
func (n *Node) enqueue(ctx context.Context, tx store.Tx, to string, kind federation.Kind, caseID string, caseVersion int64, body []byte) (store.OutboxItem, error) {
	discloses, withdraws := deliveryRecords(kind)
	return n.enqueueRecording(ctx, tx, to, kind, caseID, caseVersion, body, discloses, withdraws)
}

// enqueueRecording is enqueue with what delivering the row records given
// by the caller (a statistics report discloses no case).
func (n *Node) enqueueRecording(ctx context.Context, tx store.Tx, to string, kind federation.Kind, caseID string, caseVersion int64, body []byte, discloses, withdraws bool) (store.OutboxItem, error) {
	in, err := n.signedItem(to, kind, caseID, caseVersion, body, discloses, withdraws)
	if err != nil {
		return store.OutboxItem{}, err
	}
	item, err := tx.Enqueue(ctx, in)
	if err != nil {
		return store.OutboxItem{}, fmt.Errorf("node: enqueue: %w", err)
	}
	n.metrics.enqueued.WithLabelValues(string(kind)).Inc()
	return item, nil
}

// signedItem signs an envelope of kind about caseID for member to: the
// outbox row enqueue queues.
func (n *Node) signedItem(to string, kind federation.Kind, caseID string, caseVersion int64, body []byte, discloses, withdraws bool) (store.NewOutboxItem, error) {
	now := n.o.Now()
	jti := federation.NewJTI()
	exp := now.Add(n.o.EnvelopeTTL)
	raw, err := federation.Sign(federation.Claims{
		Issuer: n.o.Self, Audience: to, IssuedAt: now, ExpiresAt: exp,
		JTI: jti, Kind: kind, CaseID: caseID, Body: body,
	}, n.signer())
	if err != nil {
		return store.NewOutboxItem{}, fmt.Errorf("node: sign %s envelope: %w", kind, err)
	}
	return store.NewOutboxItem{
		Destination: to, CaseID: caseID, CaseVersion: caseVersion, Kind: string(kind), JTI: jti, Envelope: raw,
		Discloses: discloses, Withdraws: withdraws, OwnExpiresAt: wireExp(exp),
	}, nil
}

// deliveryRecords is what delivering an envelope of kind records, decided
// here and kept on the outbox row (the store does not read kinds): every
// envelope about a case discloses the case to its destination (at the least
// that the case exists), so it goes to the disclosure log and makes the
// destination one of the case's recipients, whom a withdrawal must reach;
// a case.withdraw is, in addition, the withdrawal sent to it, awaiting its
// confirmation.
func deliveryRecords(kind federation.Kind) (discloses, withdraws bool) {
	return true, kind == federation.KindCaseWithdraw
}

// renewExpiring re-signs a claimed envelope whose exp is within Skew of now,
// or past: a peer that was down for longer than EnvelopeTTL would refuse
// the old bytes as expired (FLX-ENV-007), and store and forward must
// outlast such outages (conformance/SPEC.md FLX-DLV-001). The claims stay
// (kind, case_id, body, aud); jti, iat and exp are new, and the row takes
// the new jti and bytes in place, keeping its seq, so per-case order holds.
// The row's attempt is audited as "outbox.resign" with both jtis.
//
// The jti must change: receivers key replay by (iss, jti), and the same jti
// with other bytes is refused as replay (FLX-DLV-010). The price is that a
// peer which did store the old envelope but whose receipt never reached us
// (a lost answer, a crash before we recorded it) receives the content a
// second time under a new jti, and cannot tell it is a copy:
// case.create/case.update are applied once anyway (the version is not
// newer the second time), a withdrawal erases again and a confirmation
// confirms again, but a case.response or message.deliver is shown twice.
// That is rare (it needs a lost answer and then an outage longer than the
// remaining lifetime) and better than never delivering.
//
// ErrConflict (wrapped) means the row is no longer ours at this attempt
// (its lease ran out and another worker has it, or an erasure cancelled
// it): nothing may be sent.
func (n *Node) renewExpiring(ctx context.Context, it store.OutboxItem) (store.OutboxItem, error) {
	return n.renewExpiringBy(ctx, it, n.o.Now().Add(n.o.Skew))
}

// renewExpiringBy is renewExpiring for an envelope that must stay valid
// until deadline: a pulled one until its lease ends, as the puller may
// process it that late (plus Skew).
func (n *Node) renewExpiringBy(ctx context.Context, it store.OutboxItem, deadline time.Time) (store.OutboxItem, error) {
	if it.Envelope == nil {
		return it, nil // erased: attempt refuses it
	}
	if !it.OwnExpiresAt.IsZero() && it.OwnExpiresAt.After(deadline) {
		return it, nil // the row says when its envelope expires: no parse
	}
	c, err := federation.ClaimsOf(it.Envelope)
	if err != nil {
		return it, fmt.Errorf("node: outbox row %d: stored envelope unreadable: %w", it.ID, err)
	}
	now := n.o.Now()
	if c.ExpiresAt.After(deadline) {
		return it, nil
	}
	if c.Issuer != n.o.Self || c.Audience != it.Destination || string(c.Kind) != it.Kind || c.CaseID != it.CaseID {
		return it, fmt.Errorf("node: outbox row %d: stored envelope does not match its row", it.ID)
	}
	raw, renewed, err := federation.Renew(it.Envelope, now, n.o.EnvelopeTTL, n.signer())
	if err != nil {
		return it, fmt.Errorf("node: re-sign %s envelope: %w", c.Kind, err)
	}
	jti := renewed.JTI
	// Only an envelope of ours as signed keeps its exp on the row (a
	// relay.forward or a receipt is parsed at each attempt); re-signing is
	// rare, so checking costs one parse here.
	own := time.Time{}
	if tok, err := federation.PeekToken(raw); err == nil && !tok.Receipt && c.Kind != federation.KindRelayForward {
		own = wireExp(renewed.ExpiresAt)
	}
	err = n.o.Store.Tx(ctx, func(tx store.Tx) error {
		var err error
		if own.IsZero() {
			err = tx.ReplaceEnvelope(ctx, it.ID, it.Attempts, jti, raw)
		} else {
			err = tx.ReplaceOwnEnvelope(ctx, it.ID, it.Attempts, jti, raw, own)
		}
		if err != nil {
			return err
		}
		return n.audit(ctx, tx, "system", "outbox.resign", strconv.FormatInt(it.ID, 10), map[string]any{
			"destination": it.Destination, "case_id": it.CaseID, "kind": it.Kind, "old_jti": it.JTI, "jti": jti,
			"expired_at": c.ExpiresAt.UTC().Format(time.RFC3339),
		})
	})
	if err != nil {
		return it, fmt.Errorf("node: re-sign outbox row %d: %w", it.ID, err)
	}
	n.metrics.resigned.WithLabelValues(it.Destination).Inc()
	n.log.Info("re-signed an expiring envelope", "outbox_id", it.ID, "to", it.Destination, "kind", it.Kind,
		"old_jti", it.JTI, "jti", jti, "exp", c.ExpiresAt.UTC())
	it.JTI, it.Envelope, it.OwnExpiresAt = jti, raw, own
	return it, nil
}

// wireExp is exp as an envelope carries it (whole seconds, rounded down),
// what a row keeps as its OwnExpiresAt: never later than the envelope's.
func wireExp(exp time.Time) time.Time {
	return exp.Truncate(time.Second)
}
