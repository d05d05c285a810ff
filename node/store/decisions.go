package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
)

func (q *queries) RecordDecision(ctx context.Context, d Decision) (Decision, error) {
	if d.Destination == "" || d.Effect == "" || !json.Valid(d.Decision) {
		return Decision{}, fmt.Errorf("store.RecordDecision: destination, effect and a JSON decision are required: %w", ErrInvalid)
	}
	d.CreatedAt = q.s.now(d.CreatedAt)
	err := q.queryRow(ctx, `INSERT INTO policy_decisions (case_id, destination, effect, decision, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, d.CaseID, d.Destination, d.Effect, string(d.Decision), tv(d.CreatedAt)).Scan(&d.ID)
	if err != nil {
		return Decision{}, fmt.Errorf("store.RecordDecision: %w", err)
	}
	return d, nil
}

func (q *queries) ListDecisions(ctx context.Context, caseID string) ([]Decision, error) {
	rows, err := q.query(ctx, `SELECT id, case_id, destination, effect, decision, created_at
		FROM policy_decisions WHERE case_id = ? ORDER BY id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("store.ListDecisions: %w", err)
	}
	defer rows.Close()
	var out []Decision
	for rows.Next() {
		var d Decision
		var doc string
		if err := rows.Scan(&d.ID, &d.CaseID, &d.Destination, &d.Effect, &doc, tc(&d.CreatedAt)); err != nil {
			return nil, fmt.Errorf("store.ListDecisions: %w", err)
		}
		d.Decision = json.RawMessage(doc)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.ListDecisions: %w", err)
	}
	return out, nil
}

// ListReviewCases returns the cases, not erased, with at least one
// decision that held something for review (whether or not it is still
// waiting), by case id, at most limit (default 100, max 10000).
func (q *queries) ListReviewCases(ctx context.Context, limit int) ([]string, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 10000)
	// The literal effect lets the planner use the partial index
	// policy_decisions_review_idx (migration 0041).
	rows, err := q.query(ctx, `SELECT DISTINCT d.case_id FROM policy_decisions d JOIN cases c ON c.case_id = d.case_id
		WHERE d.effect = 'needs_review' AND c.erased_at IS NULL ORDER BY d.case_id LIMIT `+strconv.Itoa(limit))
	if err != nil {
		return nil, fmt.Errorf("store.ListReviewCases: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store.ListReviewCases: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.ListReviewCases: %w", err)
	}
	return out, nil
}

func (s *sqlStore) ListReviewCases(ctx context.Context, limit int) ([]string, error) {
	return s.read().ListReviewCases(ctx, limit)
}

func (r readOnly) ListReviewCases(ctx context.Context, limit int) ([]string, error) {
	return r.s.ListReviewCases(ctx, limit)
}
