package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Directions of a case's media (MediaItem.Direction).
const (
	// MediaAttached: a recording a caseworker uploaded here, to attach to
	// messages of the case; the row keeps the chunk hash list.
	MediaAttached = "attached"
	// MediaReceived: media that arrived from a peer with a message.deliver.
	MediaReceived = "received"
)

// MediaItem links a case to the blob of a recorded video or voice message
// (the blob itself is in the media store, named by SHA256).
type MediaItem struct {
	ID           int64
	CaseID       string
	SHA256       string // hex, of the bytes
	MediaType    string
	SizeBytes    int64
	ChunkBytes   int64
	ChunksSHA256 string // hex, of the chunk hash list
	// ChunkHashes is the hash list (32 bytes a chunk) of attached media;
	// nil for received media, in listings, and once erased.
	ChunkHashes []byte
	Direction   string // MediaAttached or MediaReceived
	Peer        string // received: the sending member
	MessageID   string // received: the message's id
	AddedBy     string // who uploaded or received it (token name, member id)
	// DeclaredSHA256, when AddMedia is given it for attached media, is the
	// sha256 of what was uploaded, of which SHA256 is the cleaned copy:
	// recorded so that GetCaseMediaByOrigin finds the copy by it. Not read
	// back by the other reads.
	DeclaredSHA256 string
	CreatedAt      time.Time
	ErasedAt       time.Time // zero unless erased
}

// Erased reports whether the link was erased with its case.
func (m MediaItem) Erased() bool { return !m.ErasedAt.IsZero() }

// MediaReader reads the media of cases.
type MediaReader interface {
	// ListCaseMedia returns the media linked to a case, erased links
	// included, oldest first, without hash lists.
	ListCaseMedia(ctx context.Context, caseID string) ([]MediaItem, error)
	// GetCaseMedia returns a link of the case to sha256 that is not erased,
	// of direction (any when empty), with its hash list; ErrNotFound if
	// there is none.
	GetCaseMedia(ctx context.Context, caseID, sha256, direction string) (MediaItem, error)
	// GetCaseMediaByOrigin returns the attached link of the case, not
	// erased, whose blob is the cleaned copy of an upload whose sha256 was
	// declared (AddMedia's DeclaredSHA256), with its hash list;
	// ErrNotFound if there is none.
	GetCaseMediaByOrigin(ctx context.Context, caseID, declared string) (MediaItem, error)
}

// Media keeps the links between cases and media blobs, and extends the
// lease of an outbox row while its media is on the wire.
type Media interface {
	MediaReader
	// AddMedia links a case to a blob. Adding the same link again (case,
	// sha256, direction, peer, message id) is not an error: it updates the
	// media type and hash list and undoes an erasure.
	AddMedia(ctx context.Context, m MediaItem) (MediaItem, error)
	// EraseCaseMedia marks every link of the case erased (dropping hash
	// lists) and returns the SHA-256 of each of its blobs that no link left
	// names: the blobs to delete.
	EraseCaseMedia(ctx context.Context, caseID string, at time.Time) ([]string, error)
	// MediaInUse reports whether a link that is not erased names sha256.
	MediaInUse(ctx context.Context, sha256 string) (bool, error)
	// ExtendLease moves the lease of the outbox row with jti, in flight for
	// worker with a lease not yet run out, to until: a delivery attempt that
	// pushes media for minutes keeps its row. ErrConflict otherwise.
	ExtendLease(ctx context.Context, jti, worker string, until time.Time) error
}

const mediaCols = `id, case_id, sha256, media_type, size_bytes, chunk_bytes, chunks_sha256, direction, peer, message_id, added_by, created_at, erased_at`

func scanMedia(sc interface{ Scan(...any) error }, m *MediaItem, extra ...any) error {
	return sc.Scan(append([]any{&m.ID, &m.CaseID, &m.SHA256, &m.MediaType, &m.SizeBytes, &m.ChunkBytes, &m.ChunksSHA256,
		&m.Direction, &m.Peer, &m.MessageID, &m.AddedBy, tc(&m.CreatedAt), tc(&m.ErasedAt)}, extra...)...)
}

func (q *queries) AddMedia(ctx context.Context, m MediaItem) (MediaItem, error) {
	if m.CaseID == "" || len(m.SHA256) != 64 || m.MediaType == "" || m.ChunkBytes <= 0 || len(m.ChunksSHA256) != 64 ||
		(m.Direction != MediaAttached && m.Direction != MediaReceived) {
		return MediaItem{}, fmt.Errorf("store.AddMedia: case, sha256, media type, chunk fields and direction are required: %w", ErrInvalid)
	}
	m.CreatedAt = q.s.now(m.CreatedAt)
	var hashes any
	if m.ChunkHashes != nil {
		hashes = m.ChunkHashes
	}
	err := q.queryRow(ctx, `INSERT INTO case_media (case_id, sha256, media_type, size_bytes, chunk_bytes, chunks_sha256,
			chunk_hashes, direction, peer, message_id, added_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (case_id, sha256, direction, peer, message_id) DO UPDATE SET media_type = excluded.media_type,
			chunk_hashes = excluded.chunk_hashes, erased_at = NULL
		RETURNING id, created_at`,
		m.CaseID, m.SHA256, m.MediaType, m.SizeBytes, m.ChunkBytes, m.ChunksSHA256, hashes, m.Direction, m.Peer, m.MessageID,
		m.AddedBy, tv(m.CreatedAt)).Scan(&m.ID, tc(&m.CreatedAt))
	if err != nil {
		return MediaItem{}, fmt.Errorf("store.AddMedia: %w", err)
	}
	if m.Direction == MediaAttached && len(m.DeclaredSHA256) == 64 && m.DeclaredSHA256 != m.SHA256 {
		if _, err := q.exec(ctx, `INSERT INTO case_media_origins (case_id, declared_sha256, sha256) VALUES (?, ?, ?)
			ON CONFLICT (case_id, declared_sha256) DO UPDATE SET sha256 = excluded.sha256`,
			m.CaseID, m.DeclaredSHA256, m.SHA256); err != nil {
			return MediaItem{}, fmt.Errorf("store.AddMedia: its origin: %w", err)
		}
	}
	m.ErasedAt = time.Time{}
	return m, nil
}

func (q *queries) ListCaseMedia(ctx context.Context, caseID string) ([]MediaItem, error) {
	rows, err := q.query(ctx, `SELECT `+mediaCols+` FROM case_media WHERE case_id = ? ORDER BY id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("store.ListCaseMedia: %w", err)
	}
	defer rows.Close()
	out := []MediaItem{}
	for rows.Next() {
		var m MediaItem
		if err := scanMedia(rows, &m); err != nil {
			return nil, fmt.Errorf("store.ListCaseMedia: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.ListCaseMedia: %w", err)
	}
	return out, nil
}

func (q *queries) GetCaseMedia(ctx context.Context, caseID, sha256, direction string) (MediaItem, error) {
	query := `SELECT ` + mediaCols + `, chunk_hashes FROM case_media WHERE case_id = ? AND sha256 = ? AND erased_at IS NULL`
	args := []any{caseID, sha256}
	if direction != "" {
		query += ` AND direction = ?`
		args = append(args, direction)
	}
	var m MediaItem
	var hashes []byte
	err := scanMedia(q.queryRow(ctx, query+` ORDER BY id LIMIT 1`, args...), &m, &hashes)
	if err != nil {
		return MediaItem{}, fmt.Errorf("store.GetCaseMedia: %w", notFound(err))
	}
	m.ChunkHashes = hashes
	return m, nil
}

func (q *queries) GetCaseMediaByOrigin(ctx context.Context, caseID, declared string) (MediaItem, error) {
	var sum string
	err := q.queryRow(ctx, `SELECT sha256 FROM case_media_origins WHERE case_id = ? AND declared_sha256 = ?`, caseID, declared).Scan(&sum)
	if err != nil {
		return MediaItem{}, fmt.Errorf("store.GetCaseMediaByOrigin: %w", notFound(err))
	}
	m, err := q.GetCaseMedia(ctx, caseID, sum, MediaAttached)
	if err != nil {
		return MediaItem{}, fmt.Errorf("store.GetCaseMediaByOrigin: %w", err)
	}
	return m, nil
}

func (q *queries) EraseCaseMedia(ctx context.Context, caseID string, at time.Time) ([]string, error) {
	at = q.s.now(at)
	rows, err := q.query(ctx, `SELECT DISTINCT sha256 FROM case_media WHERE case_id = ?`, caseID)
	if err != nil {
		return nil, fmt.Errorf("store.EraseCaseMedia: %w", err)
	}
	var sums []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store.EraseCaseMedia: %w", err)
		}
		sums = append(sums, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.EraseCaseMedia: %w", err)
	}
	if _, err := q.exec(ctx, `DELETE FROM case_media_origins WHERE case_id = ?`, caseID); err != nil {
		return nil, fmt.Errorf("store.EraseCaseMedia: %w", err)
	}
	if len(sums) == 0 {
		return nil, nil
	}
	if _, err := q.exec(ctx, `UPDATE case_media SET erased_at = ?, chunk_hashes = NULL WHERE case_id = ? AND erased_at IS NULL`, tv(at), caseID); err != nil {
		return nil, fmt.Errorf("store.EraseCaseMedia: %w", err)
	}
	q.erased = true
	var orphans []string
	for _, s := range sums {
		used, err := q.MediaInUse(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("store.EraseCaseMedia: %w", err)
		}
		if !used {
			orphans = append(orphans, s)
		}
	}
	return orphans, nil
}

func (q *queries) MediaInUse(ctx context.Context, sha256 string) (bool, error) {
	var one int
	err := q.queryRow(ctx, `SELECT 1 FROM case_media WHERE sha256 = ? AND erased_at IS NULL LIMIT 1`, sha256).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("store.MediaInUse: %w", err)
	}
	return true, nil
}

func (q *queries) ExtendLease(ctx context.Context, jti, worker string, until time.Time) error {
	now := q.s.now(time.Time{})
	n, err := q.exec(ctx, `UPDATE outbox SET lease_until = ? WHERE `+outboxByJTI+` AND state = 'in_flight' AND claimed_by = ? AND lease_until > ?`,
		tv(q.s.now(until)), jti, worker, tv(now))
	if err != nil {
		return fmt.Errorf("store.ExtendLease: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store.ExtendLease: row %s is not in flight for %s: %w", jti, worker, ErrConflict)
	}
	return nil
}

// The Store forms: reads on the pool, writes in their own transaction.

func (s *sqlStore) AddMedia(ctx context.Context, m MediaItem) (MediaItem, error) {
	return write(ctx, s, func(q *queries) (MediaItem, error) { return q.AddMedia(ctx, m) })
}

func (s *sqlStore) EraseCaseMedia(ctx context.Context, caseID string, at time.Time) ([]string, error) {
	return write(ctx, s, func(q *queries) ([]string, error) { return q.EraseCaseMedia(ctx, caseID, at) })
}

func (s *sqlStore) ExtendLease(ctx context.Context, jti, worker string, until time.Time) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.ExtendLease(ctx, jti, worker, until) })
	return err
}

func (s *sqlStore) ListCaseMedia(ctx context.Context, caseID string) ([]MediaItem, error) {
	return s.read().ListCaseMedia(ctx, caseID)
}

func (s *sqlStore) GetCaseMedia(ctx context.Context, caseID, sha256, direction string) (MediaItem, error) {
	return s.read().GetCaseMedia(ctx, caseID, sha256, direction)
}

func (s *sqlStore) GetCaseMediaByOrigin(ctx context.Context, caseID, declared string) (MediaItem, error) {
	return s.read().GetCaseMediaByOrigin(ctx, caseID, declared)
}

func (s *sqlStore) MediaInUse(ctx context.Context, sha256 string) (bool, error) {
	return s.read().MediaInUse(ctx, sha256)
}

func (r readOnly) ListCaseMedia(ctx context.Context, caseID string) ([]MediaItem, error) {
	return r.s.ListCaseMedia(ctx, caseID)
}

func (r readOnly) GetCaseMedia(ctx context.Context, caseID, sha256, direction string) (MediaItem, error) {
	return r.s.GetCaseMedia(ctx, caseID, sha256, direction)
}

func (r readOnly) GetCaseMediaByOrigin(ctx context.Context, caseID, declared string) (MediaItem, error) {
	return r.s.GetCaseMediaByOrigin(ctx, caseID, declared)
}

// SQLDB returns the database handle of a PostgreSQL store, for the media
// blob store that replicas share (node/media Postgres, whose tables the
// migrations create); false for SQLite, whose node keeps blobs on disk.
func SQLDB(s Store) (*sql.DB, bool) {
	ss, ok := s.(*sqlStore)
	if !ok || ss.dialect != Postgres {
		return nil, false
	}
	return ss.db.DB, true
}
