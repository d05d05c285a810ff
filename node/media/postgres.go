package media

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Postgres is the Store for node replicas that share one PostgreSQL
// database: every replica reads every blob and can continue any upload,
// because the bytes are rows (chunks of at most MaxChunkBytes in
// media_parts) and an upload's offset and running SHA-256 state are a row
// too, advanced with a compare-and-set in the transaction that inserts the
// chunk. A blob becomes visible when the transaction that re-labels an
// upload's chunks as the blob's and inserts its media_blobs row commits:
// never half-written. (Why the database rather than a shared directory: see
// the package documentation.)
//
// Its tables (media_blobs, media_uploads, media_parts) are created by the
// node's store migrations (node/store/migrations/postgres/0007_media.sql).
type Postgres struct {
	db        *sql.DB
	now       func() time.Time
	partBytes int // chunk size of Put
}

// NewPostgres returns a Postgres store on db (lib/pq or any driver that
// takes $n placeholders).
func NewPostgres(db *sql.DB) *Postgres {
	return &Postgres{db: db, now: time.Now, partBytes: DefaultChunkBytes}
}

func blobOwner(sum Digest) string  { return "b:" + sum.String() }
func uploadOwner(id Digest) string { return "u:" + id.String() }

// pgErr maps a full disk on the database server to ErrNoSpace.
func pgErr(err error) error {
	if err == nil {
		return nil
	}
	// SQLSTATE 53100 disk_full, 53200 out_of_memory, 54000 program_limit_exceeded.
	type sqlState interface{ SQLState() string }
	var s sqlState
	if errors.As(err, &s) && (s.SQLState() == "53100" || s.SQLState() == "53200") {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// Put implements Store: it is an upload of its own, committed at the end,
// so an interrupted Put leaves no blob (and its rows are deleted).
func (p *Postgres) Put(ctx context.Context, want Expect, r io.Reader) (Info, error) {
	var id Digest
	_, _ = rand.Read(id[:]) // never fails (Go 1.24+)
	if _, _, err := p.CreateUpload(ctx, id, "", want, nil); err != nil {
		return Info{}, err
	}
	defer p.DeleteUpload(context.WithoutCancel(ctx), id)
	buf := make([]byte, p.partBytes)
	var off int64
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if off+int64(n) > want.Size {
				return Info{}, fmt.Errorf("media: put %s: %w", want.SHA256, ErrMismatch)
			}
			if off, err = p.WriteUpload(ctx, id, off, buf[:n]); err != nil {
				return Info{}, err
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return Info{}, fmt.Errorf("media: put: %w", err)
		}
	}
	if off != want.Size {
		return Info{}, fmt.Errorf("media: put %s: %w", want.SHA256, ErrMismatch)
	}
	return p.CommitUpload(ctx, id)
}

// Stat implements Store.
func (p *Postgres) Stat(ctx context.Context, sum Digest) (Info, error) {
	in := Info{SHA256: sum}
	err := p.db.QueryRowContext(ctx, `SELECT size, created_at FROM media_blobs WHERE sha256 = $1`, sum.String()).Scan(&in.Size, &in.Created)
	if errors.Is(err, sql.ErrNoRows) {
		return Info{}, fmt.Errorf("media: blob %s: %w", sum, ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("media: stat: %w", err)
	}
	in.Created = in.Created.UTC()
	return in, nil
}

// Open implements Store. The blob reads one chunk row at a time.
func (p *Postgres) Open(ctx context.Context, sum Digest) (Blob, error) {
	in, err := p.Stat(ctx, sum)
	if err != nil {
		return nil, err
	}
	return &pgBlob{ctx: context.WithoutCancel(ctx), db: p.db, owner: blobOwner(sum), size: in.Size}, nil
}

// pgBlob reads a blob's chunks on demand, keeping the current one.
type pgBlob struct {
	ctx     context.Context
	db      *sql.DB
	owner   string
	size    int64
	pos     int64
	partOff int64
	part    []byte

	// ReadAt's last chunk, kept for its next calls: a reader through a
	// bufio.Reader (mediaclean's, 64 KiB) reads a chunk of 1 MiB in 16
	// calls, which fetched the whole chunk each. Parallel calls share it
	// under atMu; a blob's chunks never change.
	atMu   sync.Mutex
	atOff  int64
	atPart []byte
}

func (b *pgBlob) Size() int64 { return b.size }

func (b *pgBlob) Read(p []byte) (int, error) {
	if b.pos >= b.size {
		return 0, io.EOF
	}
	if b.part == nil || b.pos < b.partOff || b.pos >= b.partOff+int64(len(b.part)) {
		b.part = nil
		err := b.db.QueryRowContext(b.ctx,
			`SELECT off, data FROM media_parts WHERE owner = $1 AND off <= $2 ORDER BY off DESC LIMIT 1`,
			b.owner, b.pos).Scan(&b.partOff, &b.part)
		if err != nil {
			return 0, fmt.Errorf("media: read blob: %w", err)
		}
		if b.pos >= b.partOff+int64(len(b.part)) {
			return 0, fmt.Errorf("media: read blob: no chunk holds offset %d", b.pos)
		}
	}
	n := copy(p, b.part[b.pos-b.partOff:])
	b.pos += int64(n)
	return n, nil
}

// ReadAt reads without touching Read's position or chunk, so parallel
// calls are safe.
func (b *pgBlob) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("media: read blob: negative offset")
	}
	n := 0
	for n < len(p) && off < b.size {
		partOff, part, err := b.chunkAt(off)
		if err != nil {
			return n, err
		}
		k := copy(p[n:], part[off-partOff:])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (b *pgBlob) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += b.pos
	case io.SeekEnd:
		offset += b.size
	default:
		return 0, errors.New("media: seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("media: seek: negative position")
	}
	b.pos = offset
	return offset, nil
}

// chunkAt returns the chunk holding off and where it starts: ReadAt's
// last one when it holds off, or else the row.
func (b *pgBlob) chunkAt(off int64) (int64, []byte, error) {
	b.atMu.Lock()
	partOff, part := b.atOff, b.atPart
	b.atMu.Unlock()
	if part != nil && off >= partOff && off < partOff+int64(len(part)) {
		return partOff, part, nil
	}
	err := b.db.QueryRowContext(b.ctx,
		`SELECT off, data FROM media_parts WHERE owner = $1 AND off <= $2 ORDER BY off DESC LIMIT 1`,
		b.owner, off).Scan(&partOff, &part)
	if err != nil {
		return 0, nil, fmt.Errorf("media: read blob: %w", err)
	}
	if off >= partOff+int64(len(part)) {
		return 0, nil, fmt.Errorf("media: read blob: no chunk holds offset %d", off)
	}
	b.atMu.Lock()
	b.atOff, b.atPart = partOff, part
	b.atMu.Unlock()
	return partOff, part, nil
}

func (b *pgBlob) Close() error {
	b.part = nil
	b.atMu.Lock()
	b.atPart = nil
	b.atMu.Unlock()
	return nil
}

// Delete implements Store.
func (p *Postgres) Delete(ctx context.Context, sum Digest) error {
	return p.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM media_blobs WHERE sha256 = $1`, sum.String()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM media_parts WHERE owner = $1`, blobOwner(sum))
		return err
	})
}

func (p *Postgres) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("media: begin: %w", pgErr(err))
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("media: commit: %w", pgErr(err))
	}
	return nil
}

func emptyHashState() []byte {
	b, _ := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	return b
}

// CreateUpload implements Store.
func (p *Postgres) CreateUpload(ctx context.Context, id Digest, owner string, want Expect, meta []byte) (UploadState, bool, error) {
	if meta == nil {
		meta = []byte{}
	}
	now := p.now().UTC()
	res, err := p.db.ExecContext(ctx, `INSERT INTO media_uploads (id, owner, sha256, size, meta, hash_state, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING`,
		id.String(), owner, want.SHA256.String(), want.Size, meta, emptyHashState(), now)
	if err != nil {
		return UploadState{}, false, fmt.Errorf("media: create upload: %w", pgErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return UploadState{}, false, fmt.Errorf("media: create upload: %w", err)
	}
	st, err := p.Upload(ctx, id)
	return st, n == 1 && err == nil, err
}

const uploadCols = `id, owner, sha256, size, off, complete, created_at, updated_at`

func scanUpload(sc interface{ Scan(...any) error }, extra ...any) (UploadState, error) {
	var st UploadState
	var id, sum string
	err := sc.Scan(append([]any{&id, &st.Owner, &sum, &st.Size, &st.Offset, &st.Complete, &st.Created, &st.Updated}, extra...)...)
	if err != nil {
		return st, err
	}
	if st.ID, err = ParseDigest(id); err != nil {
		return st, err
	}
	if st.SHA256, err = ParseDigest(sum); err != nil {
		return st, err
	}
	st.Created, st.Updated = st.Created.UTC(), st.Updated.UTC()
	return st, nil
}

// Upload implements Store.
func (p *Postgres) Upload(ctx context.Context, id Digest) (UploadState, error) {
	var meta []byte
	st, err := scanUpload(p.db.QueryRowContext(ctx, `SELECT `+uploadCols+`, meta FROM media_uploads WHERE id = $1`, id.String()), &meta)
	if errors.Is(err, sql.ErrNoRows) {
		return UploadState{}, fmt.Errorf("media: upload %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return UploadState{}, fmt.Errorf("media: upload %s: %w", id, err)
	}
	st.Meta = meta
	return st, nil
}

// Uploads implements Store.
func (p *Postgres) Uploads(ctx context.Context, owner string) ([]UploadState, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT `+uploadCols+` FROM media_uploads WHERE $1 = '' OR owner = $1 ORDER BY created_at, id`, owner)
	if err != nil {
		return nil, fmt.Errorf("media: uploads: %w", err)
	}
	defer rows.Close()
	var out []UploadState
	for rows.Next() {
		st, err := scanUpload(rows)
		if err != nil {
			return nil, fmt.Errorf("media: uploads: %w", err)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// WriteUpload implements Store: the chunk row and the new offset and hash
// state commit together, after a row lock on the upload, so two replicas
// writing the same upload cannot both write at one offset.
func (p *Postgres) WriteUpload(ctx context.Context, id Digest, off int64, b []byte) (int64, error) {
	var newOff int64
	err := p.tx(ctx, func(tx *sql.Tx) error {
		var cur, size int64
		var complete bool
		var hs []byte
		err := tx.QueryRowContext(ctx, `SELECT off, size, complete, hash_state FROM media_uploads WHERE id = $1 FOR UPDATE`, id.String()).
			Scan(&cur, &size, &complete, &hs)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("media: upload %s: %w", id, ErrNotFound)
		case err != nil:
			return fmt.Errorf("media: write upload %s: %w", id, pgErr(err))
		case complete:
			newOff = cur
			return fmt.Errorf("media: upload %s: %w", id, ErrComplete)
		case off != cur:
			newOff = cur
			return &OffsetError{Offset: cur, Got: off}
		case off+int64(len(b)) > size:
			newOff = cur
			return fmt.Errorf("media: upload %s: %w", id, ErrTooLong)
		}
		h := sha256.New()
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(hs); err != nil {
			return fmt.Errorf("media: upload %s: bad hash state: %w", id, err)
		}
		h.Write(b)
		if hs, err = h.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
			return err
		}
		if len(b) > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO media_parts (owner, off, data) VALUES ($1, $2, $3)`, uploadOwner(id), off, b); err != nil {
				return fmt.Errorf("media: write upload %s: %w", id, pgErr(err))
			}
		}
		newOff = off + int64(len(b))
		_, err = tx.ExecContext(ctx, `UPDATE media_uploads SET off = $2, hash_state = $3, updated_at = $4 WHERE id = $1`,
			id.String(), newOff, hs, p.now().UTC())
		return pgErr(err)
	})
	return newOff, err
}

// SyncUpload implements Store: every write is committed already.
func (p *Postgres) SyncUpload(ctx context.Context, id Digest) error { return nil }

// CommitUpload implements Store.
func (p *Postgres) CommitUpload(ctx context.Context, id Digest) (Info, error) {
	var sum Digest
	err := p.tx(ctx, func(tx *sql.Tx) error {
		var off, size int64
		var complete bool
		var hs []byte
		var s string
		err := tx.QueryRowContext(ctx, `SELECT sha256, off, size, complete, hash_state FROM media_uploads WHERE id = $1 FOR UPDATE`, id.String()).
			Scan(&s, &off, &size, &complete, &hs)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("media: upload %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("media: commit upload %s: %w", id, err)
		}
		if sum, err = ParseDigest(s); err != nil {
			return err
		}
		if complete {
			return nil
		}
		if off != size {
			return fmt.Errorf("media: commit upload %s: %d of %d bytes: %w", id, off, size, ErrMismatch)
		}
		h := sha256.New()
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(hs); err != nil {
			return fmt.Errorf("media: upload %s: bad hash state: %w", id, err)
		}
		if Digest(h.Sum(nil)) != sum {
			return fmt.Errorf("media: commit upload %s: %w", id, ErrMismatch)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO media_blobs (sha256, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING`,
			sum.String(), size, p.now().UTC())
		if err != nil {
			return fmt.Errorf("media: commit upload %s: %w", id, pgErr(err))
		}
		if n, _ := res.RowsAffected(); n == 1 {
			_, err = tx.ExecContext(ctx, `UPDATE media_parts SET owner = $2 WHERE owner = $1`, uploadOwner(id), blobOwner(sum))
		} else { // the blob exists: same bytes, keep those
			_, err = tx.ExecContext(ctx, `DELETE FROM media_parts WHERE owner = $1`, uploadOwner(id))
		}
		if err != nil {
			return fmt.Errorf("media: commit upload %s: %w", id, pgErr(err))
		}
		_, err = tx.ExecContext(ctx, `UPDATE media_uploads SET complete = true, updated_at = $2 WHERE id = $1`, id.String(), p.now().UTC())
		return pgErr(err)
	})
	if err != nil {
		return Info{}, err
	}
	return p.Stat(ctx, sum)
}

// DeleteUpload implements Store.
func (p *Postgres) DeleteUpload(ctx context.Context, id Digest) error {
	return p.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM media_uploads WHERE id = $1`, id.String()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM media_parts WHERE owner = $1`, uploadOwner(id))
		return err
	})
}

// Close implements Store; the database handle belongs to the caller.
func (p *Postgres) Close() error { return nil }
