package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SentDocument is a message or response sent (or held for review) to a
// member, by the document's own id: the record that makes a second
// submission of the same document one send.
type SentDocument struct {
	DocID       string // message_id or response_id
	Destination string
	Kind        string
	CaseID      string
	SHA256      string // of the document as submitted
	DecisionID  int64
	OutboxID    int64 // 0 while held for review
	JTI         string
	State       string // queued | needs_review
	CreatedAt   time.Time
}

func (q *queries) RecordSentDocument(ctx context.Context, d SentDocument) error {
	if d.DocID == "" || d.Destination == "" || d.Kind == "" || d.SHA256 == "" || d.State == "" {
		return fmt.Errorf("store.RecordSentDocument: doc id, destination, kind, sha256 and state are required: %w", ErrInvalid)
	}
	if _, err := q.SentDocument(ctx, d.DocID, d.Destination, d.Kind); err == nil {
		return fmt.Errorf("store.RecordSentDocument: %w", ErrDuplicate)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	d.CreatedAt = q.s.now(d.CreatedAt)
	_, err := q.exec(ctx, `INSERT INTO sent_documents (doc_id, destination, kind, case_id, sha256, decision_id, outbox_id, jti, state, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.DocID, d.Destination, d.Kind, d.CaseID, d.SHA256, d.DecisionID, d.OutboxID, d.JTI, d.State, tv(d.CreatedAt))
	if err != nil {
		return fmt.Errorf("store.RecordSentDocument: %w", err)
	}
	return nil
}

func (q *queries) SentDocument(ctx context.Context, docID, destination, kind string) (SentDocument, error) {
	d := SentDocument{DocID: docID, Destination: destination, Kind: kind}
	err := q.queryRow(ctx, `SELECT case_id, sha256, decision_id, outbox_id, jti, state, created_at
		FROM sent_documents WHERE doc_id = ? AND destination = ? AND kind = ?`, docID, destination, kind).
		Scan(&d.CaseID, &d.SHA256, &d.DecisionID, &d.OutboxID, &d.JTI, &d.State, tc(&d.CreatedAt))
	if err != nil {
		return SentDocument{}, fmt.Errorf("store.SentDocument: %w", notFound(err))
	}
	return d, nil
}

func (s *sqlStore) RecordSentDocument(ctx context.Context, d SentDocument) error {
	_, err := write(ctx, s, func(q *queries) (struct{}, error) { return struct{}{}, q.RecordSentDocument(ctx, d) })
	return err
}

func (s *sqlStore) SentDocument(ctx context.Context, docID, destination, kind string) (SentDocument, error) {
	return s.read().SentDocument(ctx, docID, destination, kind)
}

func (q *queries) UpdateSentDocument(ctx context.Context, d SentDocument) error {
	n, err := q.exec(ctx, `UPDATE sent_documents SET decision_id = ?, outbox_id = ?, jti = ?, state = ?
		WHERE doc_id = ? AND destination = ? AND kind = ?`, d.DecisionID, d.OutboxID, d.JTI, d.State, d.DocID, d.Destination, d.Kind)
	if err != nil {
		return fmt.Errorf("store.UpdateSentDocument: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store.UpdateSentDocument: %w", ErrNotFound)
	}
	return nil
}

func (q *queries) DeleteSentDocument(ctx context.Context, docID, destination, kind string) error {
	if _, err := q.exec(ctx, `DELETE FROM sent_documents WHERE doc_id = ? AND destination = ? AND kind = ?`, docID, destination, kind); err != nil {
		return fmt.Errorf("store.DeleteSentDocument: %w", err)
	}
	return nil
}

func (s *sqlStore) UpdateSentDocument(ctx context.Context, d SentDocument) error {
	_, err := write(ctx, s, func(q *queries) (struct{}, error) { return struct{}{}, q.UpdateSentDocument(ctx, d) })
	return err
}

func (s *sqlStore) DeleteSentDocument(ctx context.Context, docID, destination, kind string) error {
	_, err := write(ctx, s, func(q *queries) (struct{}, error) {
		return struct{}{}, q.DeleteSentDocument(ctx, docID, destination, kind)
	})
	return err
}
