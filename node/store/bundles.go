package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// BundleRecord is the replay record of an imported carried bundle
// (migration 0056): who exported it, its jti, the hex SHA-256 of its signed
// plaintext and until when the record is kept (the bundle's exp + SKEW).
type BundleRecord struct {
	Iss, JTI  string
	SHA256    string
	ExpiresAt time.Time
}

func (q *queries) RememberBundle(ctx context.Context, r BundleRecord) (bool, error) {
	if r.Iss == "" || r.JTI == "" || len(r.SHA256) != 64 || r.ExpiresAt.IsZero() {
		return false, fmt.Errorf("store.RememberBundle: iss, jti, a hex sha256 and an expiry are required: %w", ErrInvalid)
	}
	sum := strings.ToLower(r.SHA256)
	// Twice at most: a record purged between the two statements (it
	// expired meanwhile) is written anew.
	for range 2 {
		n, err := q.exec(ctx, `INSERT INTO bundle_replays (iss, jti, sha256, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (iss, jti) DO NOTHING`, r.Iss, r.JTI, sum, tv(r.ExpiresAt))
		if err != nil {
			return false, fmt.Errorf("store.RememberBundle: %w", err)
		}
		if n == 1 {
			return false, nil
		}
		// Recorded before (ON CONFLICT waited for a concurrent insert to
		// commit, and this statement's snapshot sees it).
		var stored string
		err = q.queryRow(ctx, `SELECT sha256 FROM bundle_replays WHERE iss = ? AND jti = ?`, r.Iss, r.JTI).Scan(&stored)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return false, fmt.Errorf("store.RememberBundle: %w", err)
		case stored != sum:
			return false, fmt.Errorf("store.RememberBundle: %w", &ReplayError{JTI: r.Iss + "/" + r.JTI, Stored: stored, Got: sum})
		}
		return true, nil
	}
	return false, fmt.Errorf("store.RememberBundle: bundle %s/%s: %w", r.Iss, r.JTI, ErrConflict)
}

func (q *queries) PurgeBundles(ctx context.Context, before time.Time) (int64, error) {
	if before.IsZero() {
		return 0, fmt.Errorf("store.PurgeBundles: a time is required: %w", ErrInvalid)
	}
	n, err := q.exec(ctx, `DELETE FROM bundle_replays WHERE expires_at < ?`, tv(before))
	if err != nil {
		return 0, fmt.Errorf("store.PurgeBundles: %w", err)
	}
	return n, nil
}
