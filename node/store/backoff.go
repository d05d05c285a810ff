package store

import (
	"context"
	"fmt"
	"time"
)

func (q *queries) SavePeerBackoff(ctx context.Context, b PeerBackoff) error {
	if b.Destination == "" {
		return fmt.Errorf("store.SavePeerBackoff: destination is required: %w", ErrInvalid)
	}
	if b.Failures <= 0 {
		if _, err := q.exec(ctx, `DELETE FROM peer_backoff WHERE destination = ?`, b.Destination); err != nil {
			return fmt.Errorf("store.SavePeerBackoff: %w", err)
		}
		return nil
	}
	at := q.s.now(b.UpdatedAt)
	next := b.NextAttemptAt
	if next.IsZero() {
		next = at
	}
	if _, err := q.exec(ctx, `INSERT INTO peer_backoff (destination, failures, next_attempt_at, last_error, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (destination) DO UPDATE SET failures = excluded.failures,
		next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error, updated_at = excluded.updated_at`,
		b.Destination, b.Failures, tv(next), nv(b.LastError), tv(at)); err != nil {
		return fmt.Errorf("store.SavePeerBackoff: %w", err)
	}
	return nil
}

func (q *queries) ListPeerBackoff(ctx context.Context) ([]PeerBackoff, error) {
	rows, err := q.query(ctx, `SELECT destination, failures, next_attempt_at, last_error, updated_at
		FROM peer_backoff ORDER BY destination`)
	if err != nil {
		return nil, fmt.Errorf("store.ListPeerBackoff: %w", err)
	}
	defer rows.Close()
	var out []PeerBackoff
	for rows.Next() {
		var b PeerBackoff
		if err := rows.Scan(&b.Destination, &b.Failures, tc(&b.NextAttemptAt), sc(&b.LastError), tc(&b.UpdatedAt)); err != nil {
			return nil, fmt.Errorf("store.ListPeerBackoff: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.ListPeerBackoff: %w", err)
	}
	return out, nil
}

func (q *queries) RetryDestination(ctx context.Context, destination string) (int64, error) {
	at := tv(q.s.now(time.Time{}))
	n, err := q.exec(ctx, `UPDATE outbox SET next_attempt_at = ?, updated_at = ?
		WHERE destination = ? AND state = 'queued' AND next_attempt_at > ?`, at, at, destination, at)
	if err != nil {
		return 0, fmt.Errorf("store.RetryDestination: %w", err)
	}
	return n, nil
}
