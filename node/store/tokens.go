package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Personal local API tokens (table person_tokens): a token belongs to a
// person, carries one role and an expiry, and is revoked by a row update
// that the authenticator sees on its next request. Only the SHA-256 of the
// secret is kept.

// TokenReader reads personal tokens.
type TokenReader interface {
	// ListTokens returns every personal token (no secrets: none are kept),
	// newest first.
	ListTokens(ctx context.Context) ([]PersonToken, error)
	// GetToken returns one token by id; ErrNotFound if none.
	GetToken(ctx context.Context, id string) (PersonToken, error)
	// LookupToken returns the token whose secret hashes to sum and that is
	// neither revoked nor expired at now; ErrNotFound otherwise.
	LookupToken(ctx context.Context, sum [sha256.Size]byte, now time.Time) (PersonToken, error)
}

// Tokens keeps personal tokens.
type Tokens interface {
	TokenReader
	// CreateToken keeps a new token (ID, Person, Role, SHA256 and ExpiresAt
	// required). ErrDuplicate if the id or the digest exists.
	CreateToken(ctx context.Context, t PersonToken) (PersonToken, error)
	// RevokeToken marks a token revoked; ErrNotFound if there is no such
	// token, ErrConflict if it was revoked already.
	RevokeToken(ctx context.Context, id, by string, at time.Time) (PersonToken, error)
}

// PersonToken is one personal token, without its secret.
type PersonToken struct {
	ID        string
	Person    string
	Role      string
	SHA256    string // hex digest of the secret
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time // zero: not revoked
	RevokedBy string
}

// ActiveAt reports whether the token may be used at t.
func (t PersonToken) ActiveAt(at time.Time) bool {
	return t.RevokedAt.IsZero() && at.Before(t.ExpiresAt)
}

const tokenCols = `id, person, role, sha256, created_by, created_at, expires_at, revoked_at, revoked_by`

func scanToken(r interface{ Scan(...any) error }) (PersonToken, error) {
	var t PersonToken
	err := r.Scan(&t.ID, &t.Person, &t.Role, &t.SHA256, &t.CreatedBy, tc(&t.CreatedAt), tc(&t.ExpiresAt), tc(&t.RevokedAt), sc(&t.RevokedBy))
	return t, err
}

func (q *queries) CreateToken(ctx context.Context, t PersonToken) (PersonToken, error) {
	b, err := hex.DecodeString(t.SHA256)
	if t.ID == "" || t.Person == "" || t.Role == "" || err != nil || len(b) != sha256.Size || t.ExpiresAt.IsZero() {
		return PersonToken{}, fmt.Errorf("store.CreateToken: id, person, role, a sha256 digest and an expiry are required: %w", ErrInvalid)
	}
	t.SHA256 = strings.ToLower(t.SHA256)
	t.CreatedAt = q.s.now(t.CreatedAt)
	t.ExpiresAt = t.ExpiresAt.UTC().Truncate(time.Microsecond)
	n, err := q.exec(ctx, `INSERT INTO person_tokens (id, person, role, sha256, created_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		t.ID, t.Person, t.Role, t.SHA256, t.CreatedBy, tv(t.CreatedAt), tv(t.ExpiresAt))
	if err != nil {
		return PersonToken{}, fmt.Errorf("store.CreateToken: %w", err)
	}
	if n == 0 {
		return PersonToken{}, fmt.Errorf("store.CreateToken: token %s: %w", t.ID, ErrDuplicate)
	}
	return t, nil
}

func (q *queries) RevokeToken(ctx context.Context, id, by string, at time.Time) (PersonToken, error) {
	t, err := scanToken(q.queryRow(ctx, `SELECT `+tokenCols+` FROM person_tokens WHERE id = ?`, id))
	if err != nil {
		return PersonToken{}, fmt.Errorf("store.RevokeToken: %w", notFound(err))
	}
	if !t.RevokedAt.IsZero() {
		return t, fmt.Errorf("store.RevokeToken: token %s was revoked at %s: %w", id, t.RevokedAt.Format(time.RFC3339), ErrConflict)
	}
	t.RevokedAt, t.RevokedBy = q.s.now(at), by
	n, err := q.exec(ctx, `UPDATE person_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL`,
		tv(t.RevokedAt), nv(by), id)
	if err != nil {
		return PersonToken{}, fmt.Errorf("store.RevokeToken: %w", err)
	}
	if n == 0 {
		return PersonToken{}, fmt.Errorf("store.RevokeToken: token %s: %w", id, ErrConflict)
	}
	return t, nil
}

func (q *queries) GetToken(ctx context.Context, id string) (PersonToken, error) {
	t, err := scanToken(q.queryRow(ctx, `SELECT `+tokenCols+` FROM person_tokens WHERE id = ?`, id))
	if err != nil {
		return PersonToken{}, fmt.Errorf("store.GetToken: %w", notFound(err))
	}
	return t, nil
}

func (q *queries) ListTokens(ctx context.Context) ([]PersonToken, error) {
	rows, err := q.query(ctx, `SELECT `+tokenCols+` FROM person_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("store.ListTokens: %w", err)
	}
	defer rows.Close()
	var out []PersonToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("store.ListTokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.ListTokens: %w", err)
	}
	return out, nil
}

func (q *queries) LookupToken(ctx context.Context, sum [sha256.Size]byte, now time.Time) (PersonToken, error) {
	// The row is found by the digest's index; the digest is then compared
	// again in constant time, so that nothing after the lookup depends on
	// how much of a guess matched.
	want := hex.EncodeToString(sum[:])
	t, err := scanToken(q.queryRow(ctx, `SELECT `+tokenCols+` FROM person_tokens WHERE sha256 = ?`, want))
	if err != nil {
		return PersonToken{}, fmt.Errorf("store.LookupToken: %w", notFound(err))
	}
	if subtle.ConstantTimeCompare([]byte(t.SHA256), []byte(want)) != 1 || !t.ActiveAt(q.s.now(now)) {
		return PersonToken{}, fmt.Errorf("store.LookupToken: %w", ErrNotFound)
	}
	return t, nil
}

func (s *sqlStore) ListTokens(ctx context.Context) ([]PersonToken, error) {
	return s.read().ListTokens(ctx)
}

func (s *sqlStore) LookupToken(ctx context.Context, sum [sha256.Size]byte, now time.Time) (PersonToken, error) {
	return s.read().LookupToken(ctx, sum, now)
}

func (s *sqlStore) CreateToken(ctx context.Context, t PersonToken) (PersonToken, error) {
	return write(ctx, s, func(q *queries) (PersonToken, error) { return q.CreateToken(ctx, t) })
}

func (s *sqlStore) RevokeToken(ctx context.Context, id, by string, at time.Time) (PersonToken, error) {
	return write(ctx, s, func(q *queries) (PersonToken, error) { return q.RevokeToken(ctx, id, by, at) })
}

func (r readOnly) ListTokens(ctx context.Context) ([]PersonToken, error) {
	return r.s.ListTokens(ctx)
}

func (r readOnly) LookupToken(ctx context.Context, sum [sha256.Size]byte, now time.Time) (PersonToken, error) {
	return r.s.LookupToken(ctx, sum, now)
}

func (s *sqlStore) GetToken(ctx context.Context, id string) (PersonToken, error) {
	return s.read().GetToken(ctx, id)
}

func (r readOnly) GetToken(ctx context.Context, id string) (PersonToken, error) {
	return r.s.GetToken(ctx, id)
}
