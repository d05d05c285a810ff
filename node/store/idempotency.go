package store

import (
	"context"
	"fmt"
	"time"
)

// Idempotency keeps the first answer to a local API request sent with an
// Idempotency-Key, per caller, so that a retried request gets that answer
// instead of acting twice.
type Idempotency interface {
	// BeginIdempotent records r as running unless a record of its
	// (Scope, Key) exists, and then returns that record instead (fresh
	// false). Records created before r.ExpiredBefore are deleted first.
	BeginIdempotent(ctx context.Context, r IdempotentRequest) (rec IdempotentRecord, fresh bool, err error)
	// FinishIdempotent stores the answer of a running record.
	// ErrNotFound when there is none.
	FinishIdempotent(ctx context.Context, scope, key string, a IdempotentAnswer) error
	// AbandonIdempotent deletes a running record (its request ended
	// without an answer worth keeping), so the key may be used again.
	AbandonIdempotent(ctx context.Context, scope, key string) error
}

// IdempotentRequest is a request begun under an Idempotency-Key.
type IdempotentRequest struct {
	Scope, Key    string
	RequestHash   string // hex SHA-256 of what identifies the request
	At            time.Time
	ExpiredBefore time.Time
}

// IdempotentAnswer is the answer kept for a key.
type IdempotentAnswer struct {
	Status  int
	Headers string // JSON object of the headers kept
	Body    []byte
}

// IdempotentRecord is what a key holds: its request and, once it ran, its
// answer (Status 0 while it runs).
type IdempotentRecord struct {
	RequestHash string
	IdempotentAnswer
	CreatedAt time.Time
}

func (q *queries) BeginIdempotent(ctx context.Context, r IdempotentRequest) (IdempotentRecord, bool, error) {
	if r.Scope == "" || r.Key == "" || r.RequestHash == "" {
		return IdempotentRecord{}, false, fmt.Errorf("store.BeginIdempotent: scope, key and hash are required: %w", ErrInvalid)
	}
	if !r.ExpiredBefore.IsZero() {
		if _, err := q.exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, tv(r.ExpiredBefore)); err != nil {
			return IdempotentRecord{}, false, fmt.Errorf("store.BeginIdempotent: expire: %w", err)
		}
	}
	n, err := q.exec(ctx, `INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (scope, key) DO NOTHING`, r.Scope, r.Key, r.RequestHash, tv(q.s.now(r.At)))
	if err != nil {
		return IdempotentRecord{}, false, fmt.Errorf("store.BeginIdempotent: %w", err)
	}
	if n == 1 {
		return IdempotentRecord{}, true, nil
	}
	var rec IdempotentRecord
	var status *int64
	var headers *string
	if err := q.queryRow(ctx, `SELECT request_hash, status, headers, response, created_at FROM idempotency_keys WHERE scope = ? AND key = ?`,
		r.Scope, r.Key).Scan(&rec.RequestHash, &status, &headers, &rec.Body, tc(&rec.CreatedAt)); err != nil {
		return IdempotentRecord{}, false, fmt.Errorf("store.BeginIdempotent: %w", notFound(err))
	}
	if status != nil {
		rec.Status = int(*status)
	}
	if headers != nil {
		rec.Headers = *headers
	}
	return rec, false, nil
}

func (q *queries) FinishIdempotent(ctx context.Context, scope, key string, a IdempotentAnswer) error {
	if a.Status < 100 || a.Status > 599 {
		return fmt.Errorf("store.FinishIdempotent: status %d: %w", a.Status, ErrInvalid)
	}
	body := a.Body
	if body == nil {
		body = []byte{}
	}
	n, err := q.exec(ctx, `UPDATE idempotency_keys SET status = ?, headers = ?, response = ? WHERE scope = ? AND key = ? AND status IS NULL`,
		a.Status, a.Headers, body, scope, key)
	if err != nil {
		return fmt.Errorf("store.FinishIdempotent: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store.FinishIdempotent: no running request under this key: %w", ErrNotFound)
	}
	return nil
}

func (q *queries) AbandonIdempotent(ctx context.Context, scope, key string) error {
	if _, err := q.exec(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND status IS NULL`, scope, key); err != nil {
		return fmt.Errorf("store.AbandonIdempotent: %w", err)
	}
	return nil
}

func (s *sqlStore) BeginIdempotent(ctx context.Context, r IdempotentRequest) (IdempotentRecord, bool, error) {
	type res struct {
		rec   IdempotentRecord
		fresh bool
	}
	out, err := write(ctx, s, func(q *queries) (res, error) {
		rec, fresh, err := q.BeginIdempotent(ctx, r)
		return res{rec, fresh}, err
	})
	return out.rec, out.fresh, err
}

func (s *sqlStore) FinishIdempotent(ctx context.Context, scope, key string, a IdempotentAnswer) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.FinishIdempotent(ctx, scope, key, a) })
	return err
}

func (s *sqlStore) AbandonIdempotent(ctx context.Context, scope, key string) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.AbandonIdempotent(ctx, scope, key) })
	return err
}
