package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

func (q *queries) SaveManifest(ctx context.Context, m Manifest) error {
	if m.Version < 1 || len(m.Raw) == 0 {
		return fmt.Errorf("store.SaveManifest: version and raw bytes are required: %w", ErrInvalid)
	}
	sum := sha256Hex(m.Raw)
	if m.SHA256 != "" && !strings.EqualFold(m.SHA256, sum) {
		return fmt.Errorf("store.SaveManifest: sha256 does not match the bytes: %w", ErrInvalid)
	}
	if err := q.lock(ctx, lockManifest); err != nil {
		return fmt.Errorf("store.SaveManifest: lock: %w", err)
	}
	var held string
	err := q.queryRow(ctx, `SELECT sha256 FROM manifests WHERE version = ?`, m.Version).Scan(&held)
	switch {
	case err == nil && held == sum:
		return fmt.Errorf("store.SaveManifest: version %d: %w", m.Version, ErrDuplicate)
	case err == nil:
		return fmt.Errorf("store.SaveManifest: version %d held with other bytes: %w", m.Version, ErrConflict)
	case !errors.Is(notFound(err), ErrNotFound):
		return fmt.Errorf("store.SaveManifest: %w", err)
	}
	var latest intCol
	if err := q.queryRow(ctx, `SELECT MAX(version) FROM manifests`).Scan(&latest); err != nil {
		return fmt.Errorf("store.SaveManifest: %w", err)
	}
	if int64(latest) > m.Version {
		return fmt.Errorf("store.SaveManifest: version %d is below the held version %d: %w", m.Version, latest, ErrConflict)
	}
	if _, err := q.exec(ctx, `INSERT INTO manifests (version, raw, sha256, fetched_at) VALUES (?, ?, ?, ?)`,
		m.Version, m.Raw, sum, tv(q.s.now(m.FetchedAt))); err != nil {
		return fmt.Errorf("store.SaveManifest: %w", err)
	}
	return nil
}

func (q *queries) LatestManifest(ctx context.Context) (Manifest, error) {
	var m Manifest
	err := q.queryRow(ctx, `SELECT version, raw, sha256, fetched_at FROM manifests ORDER BY version DESC LIMIT 1`).
		Scan(&m.Version, &m.Raw, &m.SHA256, tc(&m.FetchedAt))
	if err != nil {
		return Manifest{}, fmt.Errorf("store.LatestManifest: %w", notFound(err))
	}
	return m, nil
}

func (q *queries) ListManifests(ctx context.Context, n int) ([]Manifest, error) {
	rows, err := q.query(ctx, `SELECT version, sha256, fetched_at FROM manifests ORDER BY version DESC`+
		fmt.Sprintf(` LIMIT %d`, limit(n, 100)))
	if err != nil {
		return nil, fmt.Errorf("store.ListManifests: %w", err)
	}
	defer rows.Close()
	var out []Manifest
	for rows.Next() {
		var m Manifest
		if err := rows.Scan(&m.Version, &m.SHA256, tc(&m.FetchedAt)); err != nil {
			return nil, fmt.Errorf("store.ListManifests: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.ListManifests: %w", err)
	}
	return out, nil
}
