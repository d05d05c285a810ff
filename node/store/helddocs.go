package store

import (
	"context"
	"fmt"
	"time"
)

// States of a held document.
const (
	HeldWaiting  = "held"       // waiting for an operator's review
	HeldSent     = "sent"       // approved, judged again and queued
	HeldRejected = "rejected"   // rejected by an operator
	HeldDenied   = "denied"     // approved, but the policy refused it when judged again
	HeldErased   = "erased"     // the case was erased while it waited
	HeldAgain    = "held_again" // approved, but held again for new reasons (under a new decision)
)

// HeldDocument is a response or message the policy held for review
// (decision DecisionID), kept until an operator approves or rejects it.
type HeldDocument struct {
	DecisionID  int64
	CaseID      string
	Destination string
	Kind        string
	DocID       string // message_id or response id (see SentDocument)
	SHA256      string // of the document as submitted
	Document    []byte // what would be sent; nil once resolved or erased
	State       string // HeldWaiting, HeldSent, ...
	CreatedAt   time.Time
	ResolvedAt  time.Time
}

func (q *queries) RecordHeldDocument(ctx context.Context, h HeldDocument) error {
	if h.DecisionID < 1 || h.CaseID == "" || h.Destination == "" || h.Kind == "" || h.DocID == "" || h.SHA256 == "" || len(h.Document) == 0 {
		return fmt.Errorf("store.RecordHeldDocument: decision, case, destination, kind, doc id, sha256 and document are required: %w", ErrInvalid)
	}
	h.CreatedAt = q.s.now(h.CreatedAt)
	_, err := q.exec(ctx, `INSERT INTO held_documents (decision_id, case_id, destination, kind, doc_id, sha256, document, state, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, h.DecisionID, h.CaseID, h.Destination, h.Kind, h.DocID, h.SHA256, h.Document, HeldWaiting, tv(h.CreatedAt))
	if err != nil {
		return fmt.Errorf("store.RecordHeldDocument: %w", err)
	}
	return nil
}

const heldCols = `decision_id, case_id, destination, kind, doc_id, sha256, document, state, created_at, resolved_at`

func scanHeld(sc interface{ Scan(...any) error }) (HeldDocument, error) {
	var h HeldDocument
	err := sc.Scan(&h.DecisionID, &h.CaseID, &h.Destination, &h.Kind, &h.DocID, &h.SHA256, &h.Document, &h.State, tc(&h.CreatedAt), tc(&h.ResolvedAt))
	return h, err
}

func (q *queries) HeldDocument(ctx context.Context, decisionID int64) (HeldDocument, error) {
	h, err := scanHeld(q.queryRow(ctx, `SELECT `+heldCols+` FROM held_documents WHERE decision_id = ?`, decisionID))
	if err != nil {
		return HeldDocument{}, fmt.Errorf("store.HeldDocument: %w", notFound(err))
	}
	return h, nil
}

func (q *queries) ListHeldDocuments(ctx context.Context, limit int) ([]HeldDocument, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := q.query(ctx, `SELECT `+heldCols+` FROM held_documents WHERE state = ? ORDER BY decision_id LIMIT ?`, HeldWaiting, limit)
	if err != nil {
		return nil, fmt.Errorf("store.ListHeldDocuments: %w", err)
	}
	defer rows.Close()
	var out []HeldDocument
	for rows.Next() {
		h, err := scanHeld(rows)
		if err != nil {
			return nil, fmt.Errorf("store.ListHeldDocuments: %w", err)
		}
		h.Document = nil
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.ListHeldDocuments: %w", err)
	}
	return out, nil
}

func (q *queries) ResolveHeldDocument(ctx context.Context, decisionID int64, state string, at time.Time) error {
	switch state {
	case HeldSent, HeldRejected, HeldDenied, HeldAgain:
	default:
		return fmt.Errorf("store.ResolveHeldDocument: state %q: %w", state, ErrInvalid)
	}
	q.erased = true // the bytes go (see tx)
	n, err := q.exec(ctx, `UPDATE held_documents SET document = NULL, state = ?, resolved_at = ? WHERE decision_id = ? AND state = ?`,
		state, tv(q.s.now(at)), decisionID, HeldWaiting)
	if err != nil {
		return fmt.Errorf("store.ResolveHeldDocument: %w", err)
	}
	if n == 0 {
		if _, err := q.HeldDocument(ctx, decisionID); err != nil {
			return fmt.Errorf("store.ResolveHeldDocument: %w", err)
		}
		return fmt.Errorf("store.ResolveHeldDocument: decision %d is no longer held: %w", decisionID, ErrConflict)
	}
	return nil
}

// eraseHeld drops the bytes of every held document of a case (EraseCase).
func (q *queries) eraseHeld(ctx context.Context, caseID string, at time.Time) (int64, error) {
	n, err := q.exec(ctx, `UPDATE held_documents SET document = NULL,
		state = CASE WHEN state = ? THEN ? ELSE state END,
		resolved_at = CASE WHEN state = ? THEN ? ELSE resolved_at END
		WHERE case_id = ? AND (document IS NOT NULL OR state = ?)`, HeldWaiting, HeldErased, HeldWaiting, tv(at), caseID, HeldWaiting)
	if err != nil {
		return 0, fmt.Errorf("held documents: %w", err)
	}
	return n, nil
}

func (s *sqlStore) RecordHeldDocument(ctx context.Context, h HeldDocument) error {
	_, err := write(ctx, s, func(q *queries) (struct{}, error) { return struct{}{}, q.RecordHeldDocument(ctx, h) })
	return err
}

func (s *sqlStore) HeldDocument(ctx context.Context, decisionID int64) (HeldDocument, error) {
	return s.read().HeldDocument(ctx, decisionID)
}

func (s *sqlStore) ListHeldDocuments(ctx context.Context, limit int) ([]HeldDocument, error) {
	return s.read().ListHeldDocuments(ctx, limit)
}

func (r readOnly) ListHeldDocuments(ctx context.Context, limit int) ([]HeldDocument, error) {
	return r.s.ListHeldDocuments(ctx, limit)
}

func (s *sqlStore) ResolveHeldDocument(ctx context.Context, decisionID int64, state string, at time.Time) error {
	_, err := write(ctx, s, func(q *queries) (struct{}, error) {
		return struct{}{}, q.ResolveHeldDocument(ctx, decisionID, state, at)
	})
	return err
}
