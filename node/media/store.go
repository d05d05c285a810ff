package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"
)

// Expect is what a blob must be: the SHA-256 of its bytes and its length.
type Expect struct {
	SHA256 Digest
	Size   int64
}

// Info describes a complete blob.
type Info struct {
	SHA256  Digest
	Size    int64
	Created time.Time
}

// Blob is an open complete blob: seekable, so that http.ServeContent can
// answer range requests from it without reading what it does not send.
// It is also an io.ReaderAt, which the Uploader reads a blob with.
type Blob interface {
	io.ReadSeeker
	io.ReaderAt
	io.Closer
	Size() int64
}

// UploadState is a resumable upload as the store holds it.
type UploadState struct {
	ID    Digest
	Owner string // who may write it (for the federation: the sending member)
	Expect
	// Meta is opaque to the store; the transfer layer keeps the signed
	// reference and the chunk hash list in it. It never changes.
	Meta []byte
	// Offset is the number of bytes written, in order, from 0. Bytes are
	// written only at Offset, never over earlier ones.
	Offset   int64
	Complete bool // committed: the blob Expect names is complete
	Created  time.Time
	Updated  time.Time
}

// Store keeps blobs named by the SHA-256 of their bytes, and uploads that
// build blobs piece by piece and survive restarts. A blob is visible (Stat,
// Open) only once every byte is stored durably and verified against its
// Expect: never half-written.
//
// Implementations: Disk (one node, under data_dir) and Postgres (chunks in
// the database, for replicas sharing it). TestStore runs the same suite on
// both.
type Store interface {
	// Put stores the blob read from r, which must yield exactly want.Size
	// bytes hashing to want.SHA256 (ErrMismatch otherwise; nothing is kept).
	// Putting a blob that exists already reads and checks r and changes
	// nothing.
	Put(ctx context.Context, want Expect, r io.Reader) (Info, error)
	// Stat describes a complete blob, or ErrNotFound.
	Stat(ctx context.Context, sum Digest) (Info, error)
	// Open opens a complete blob for reading, or ErrNotFound.
	Open(ctx context.Context, sum Digest) (Blob, error)
	// Delete erases a complete blob. Deleting a missing blob is not an
	// error. Uploads are not touched (see Erase).
	Delete(ctx context.Context, sum Digest) error

	// CreateUpload creates the upload id for want, owned by owner, with
	// meta; created is false (and nothing changes) when id exists already,
	// and the state returned is then the stored one, which the caller
	// compares with what it asked for.
	CreateUpload(ctx context.Context, id Digest, owner string, want Expect, meta []byte) (st UploadState, created bool, err error)
	// Upload returns the state of upload id, or ErrNotFound.
	Upload(ctx context.Context, id Digest) (UploadState, error)
	// Uploads lists every upload (Meta left out), or those of owner when
	// owner is not empty.
	Uploads(ctx context.Context, owner string) ([]UploadState, error)
	// WriteUpload appends p at off, which must be the upload's Offset
	// (*OffsetError otherwise: another writer got there first, or the
	// caller is behind), and returns the new offset. Writing past
	// Expect.Size is ErrTooLong. The bytes may not be durable until
	// SyncUpload; after a crash the upload resumes from its last sync.
	WriteUpload(ctx context.Context, id Digest, off int64, p []byte) (int64, error)
	// SyncUpload makes what was written durable.
	SyncUpload(ctx context.Context, id Digest) error
	// CommitUpload turns a fully written upload into its blob, atomically,
	// after checking the SHA-256 of every byte against Expect (ErrMismatch,
	// and the upload is left as it was, for the caller to delete). The
	// upload stays, Complete, until DeleteUpload.
	CommitUpload(ctx context.Context, id Digest) (Info, error)
	// DeleteUpload removes an upload and its bytes (not the blob a
	// completed upload made). Deleting a missing upload is not an error.
	DeleteUpload(ctx context.Context, id Digest) error

	Close() error
}

// Errors of a Store. Each is wrapped with context; test with errors.Is.
var (
	ErrNotFound = errors.New("media: not found")
	// ErrMismatch: the bytes are not what was expected (size or SHA-256).
	ErrMismatch = errors.New("media: bytes do not match the expected size and SHA-256")
	// ErrTooLong: a write past the expected size.
	ErrTooLong = errors.New("media: write past the expected size")
	// ErrNoSpace: the disk or database is full (or over quota); nothing
	// stored before is damaged, and the write can be retried later.
	ErrNoSpace = errors.New("media: no space left for media")
	// ErrComplete: a write to an upload that is already committed.
	ErrComplete = errors.New("media: upload already complete")
)

// OffsetError is a write at another offset than the upload's.
type OffsetError struct {
	Offset int64 // the upload's offset
	Got    int64 // the offset written at
}

func (e *OffsetError) Error() string {
	return fmt.Sprintf("media: write at offset %d, the upload is at %d", e.Got, e.Offset)
}

// noSpace maps the errors of a full disk to ErrNoSpace.
func noSpace(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// Erase removes a blob and the uploads that built it (the complete uploads
// of its bytes): what withdrawal and retention call to erase media (SPEC
// FLX-MED-014). Incomplete uploads of the same bytes are left: they are
// other messages' (another member, another case, another chain) still
// under way, which build the blob again when they finish (and are swept
// with it if no case links it then); deleting one would fail its sender's
// upload for good. EraseWith also takes the incomplete uploads it selects.
func Erase(ctx context.Context, s Store, sum Digest) error {
	return EraseWith(ctx, s, sum, nil)
}

// EraseWith is Erase that also deletes the incomplete uploads of sum for
// which also (given the upload's state with its Meta) is true: those of
// what is being erased.
func EraseWith(ctx context.Context, s Store, sum Digest, also func(UploadState) bool) error {
	ups, err := s.Uploads(ctx, "")
	if err != nil {
		return fmt.Errorf("media: erase: %w", err)
	}
	for _, u := range ups {
		if u.SHA256 != sum {
			continue
		}
		if !u.Complete {
			if also == nil {
				continue
			}
			full, err := s.Upload(ctx, u.ID)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("media: erase: %w", err)
			}
			if !full.Complete && !also(full) {
				continue
			}
		}
		if err := s.DeleteUpload(ctx, u.ID); err != nil {
			return fmt.Errorf("media: erase: %w", err)
		}
	}
	if err := s.Delete(ctx, sum); err != nil {
		return fmt.Errorf("media: erase: %w", err)
	}
	return nil
}
