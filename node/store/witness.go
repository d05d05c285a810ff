package store

import (
	"context"
	"fmt"
	"time"
)

// Audit-head witnessing (conformance/SPEC.md §20): the heads a witness
// received from other members (table audit_heads), and the hash of this
// node's own audit log at a given length, to compare with a witnessed head.

// WitnessReader reads witnessed audit heads and the own chain at a length.
type WitnessReader interface {
	// LatestAuditHeads returns, for each member (or only member when not
	// ""), the witnessed head with the highest count (the latest signed
	// among equal counts), ordered by member.
	LatestAuditHeads(ctx context.Context, member string) ([]AuditHead, error)
	// AuditHashAt returns the hash of this node's audit entry seq;
	// ErrNotFound when there is no such entry.
	AuditHashAt(ctx context.Context, seq int64) (string, error)
}

// Witness keeps the audit heads received.
type Witness interface {
	WitnessReader
	// SaveAuditHead keeps a received head; ErrDuplicate for a jti held.
	SaveAuditHead(ctx context.Context, h AuditHead) error
}

// AuditHead is one witnessed audit head of a member.
type AuditHead struct {
	Member     string
	JTI        string
	Count      int64
	Head       string
	SignedAt   time.Time
	ReceivedAt time.Time
	Envelope   []byte // the signed audit.head envelope, as received
}

func (q *queries) SaveAuditHead(ctx context.Context, h AuditHead) error {
	if h.Member == "" || h.JTI == "" || h.Count < 0 || len(h.Envelope) == 0 {
		return fmt.Errorf("store.SaveAuditHead: member, jti, count and envelope are required: %w", ErrInvalid)
	}
	n, err := q.exec(ctx, `INSERT INTO audit_heads (member, jti, count, head, signed_at, received_at, envelope)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		h.Member, h.JTI, h.Count, h.Head, tv(q.s.now(h.SignedAt)), tv(q.s.now(h.ReceivedAt)), h.Envelope)
	if err != nil {
		return fmt.Errorf("store.SaveAuditHead: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store.SaveAuditHead: %s %s: %w", h.Member, h.JTI, ErrDuplicate)
	}
	return nil
}

func (q *queries) LatestAuditHeads(ctx context.Context, member string) ([]AuditHead, error) {
	var w where
	w.addIf(member != "", `member = ?`, member)
	rows, err := q.query(ctx, `SELECT member, jti, count, head, signed_at, received_at, envelope FROM audit_heads`+
		w.String()+` ORDER BY member, count DESC, signed_at DESC, received_at DESC`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("store.LatestAuditHeads: %w", err)
	}
	defer rows.Close()
	var out []AuditHead
	for rows.Next() {
		var h AuditHead
		if err := rows.Scan(&h.Member, &h.JTI, &h.Count, &h.Head, tc(&h.SignedAt), tc(&h.ReceivedAt), &h.Envelope); err != nil {
			return nil, fmt.Errorf("store.LatestAuditHeads: %w", err)
		}
		if len(out) > 0 && out[len(out)-1].Member == h.Member {
			continue
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.LatestAuditHeads: %w", err)
	}
	return out, nil
}

func (q *queries) AuditHashAt(ctx context.Context, seq int64) (string, error) {
	var h string
	if err := q.queryRow(ctx, `SELECT hash FROM audit_log WHERE seq = ?`, seq).Scan(&h); err != nil {
		return "", fmt.Errorf("store.AuditHashAt: %w", notFound(err))
	}
	return h, nil
}

func (s *sqlStore) LatestAuditHeads(ctx context.Context, member string) ([]AuditHead, error) {
	return s.read().LatestAuditHeads(ctx, member)
}

func (s *sqlStore) AuditHashAt(ctx context.Context, seq int64) (string, error) {
	return s.read().AuditHashAt(ctx, seq)
}

func (s *sqlStore) SaveAuditHead(ctx context.Context, h AuditHead) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.SaveAuditHead(ctx, h) })
	return err
}

func (r readOnly) LatestAuditHeads(ctx context.Context, member string) ([]AuditHead, error) {
	return r.s.LatestAuditHeads(ctx, member)
}

func (r readOnly) AuditHashAt(ctx context.Context, seq int64) (string, error) {
	return r.s.AuditHashAt(ctx, seq)
}
