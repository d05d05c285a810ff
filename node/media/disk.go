package media

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Disk is the Store of a single node: files under one directory (the node
// puts it at <data_dir>/media).
//
//	blobs/<2 hex>/<64 hex>   complete blobs, read-only
//	uploads/<64 hex>.state   an upload exists when this file does (JSON)
//	uploads/<64 hex>.meta    its metadata, written once
//	uploads/<64 hex>.part    its bytes so far
//	tmp/                     files being written; emptied on open
//
// Every name is the hex of a Digest: no name from outside reaches a path.
// A complete blob appears by rename(2) of a file written, fsynced and
// verified in tmp/ or uploads/, followed by an fsync of the directory, so a
// crash or a full disk never leaves a partial file under blobs/. State files
// are replaced the same way. One process owns the directory (the embedded
// node); replicas use Postgres.
type Disk struct {
	root string
	now  func() time.Time

	mu  sync.Mutex
	ups map[Digest]*diskUpload // open uploads
}

// diskUpload is an upload whose .part file is open for writing.
type diskUpload struct {
	mu     sync.Mutex
	st     UploadState // Offset: bytes written (maybe not synced yet)
	synced int64
	f      *os.File // nil once complete
	h      hash.Hash
	gone   bool // deleted while open
}

// diskState is the JSON of a .state file.
type diskState struct {
	Owner     string    `json:"owner"`
	SHA256    string    `json:"sha256"`
	Size      int64     `json:"size"`
	Offset    int64     `json:"offset"`
	HashState []byte    `json:"hash_state"` // SHA-256 state after Offset bytes
	Complete  bool      `json:"complete"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

// OpenDisk opens (creating if needed) a disk store at root. Leftovers of a
// crash are cleaned: temporary files, and upload files without a state file.
func OpenDisk(root string) (*Disk, error) {
	d := &Disk{root: root, now: time.Now, ups: map[Digest]*diskUpload{}}
	for _, sub := range []string{"", "blobs", "uploads", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, sub), 0o700); err != nil {
			return nil, fmt.Errorf("media: open disk store: %w", err)
		}
	}
	if err := d.clean(); err != nil {
		return nil, fmt.Errorf("media: open disk store: %w", err)
	}
	return d, nil
}

func (d *Disk) clean() error {
	tmp := filepath.Join(d.root, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return err
		}
	}
	ents, err = os.ReadDir(filepath.Join(d.root, "uploads"))
	if err != nil {
		return err
	}
	states := map[string]bool{}
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".state"); ok {
			states[id] = true
		}
	}
	for _, e := range ents {
		id, _, _ := strings.Cut(e.Name(), ".")
		if !states[id] {
			if err := os.Remove(filepath.Join(d.root, "uploads", e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *Disk) blobPath(sum Digest) string {
	h := sum.String()
	return filepath.Join(d.root, "blobs", h[:2], h)
}

func (d *Disk) upPath(id Digest, ext string) string {
	return filepath.Join(d.root, "uploads", id.String()+ext)
}

// syncDir fsyncs a directory, so that a rename or a new file in it survives
// a crash.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// writeAtomic replaces path with b: temp file, fsync, rename, fsync dir.
func (d *Disk) writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Join(d.root, "tmp"), "w-*")
	if err != nil {
		return noSpace(err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return noSpace(err)
	}
	return noSpace(syncDir(filepath.Dir(path)))
}

// Put implements Store.
func (d *Disk) Put(ctx context.Context, want Expect, r io.Reader) (Info, error) {
	f, err := os.CreateTemp(filepath.Join(d.root, "tmp"), "put-*")
	if err != nil {
		return Info{}, fmt.Errorf("media: put: %w", noSpace(err))
	}
	tmp := f.Name()
	published := false
	defer func() {
		if !published {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(ctxReader{ctx, r}, want.Size+1))
	if err != nil {
		return Info{}, fmt.Errorf("media: put: %w", noSpace(err))
	}
	if n != want.Size || Digest(h.Sum(nil)) != want.SHA256 {
		return Info{}, fmt.Errorf("media: put %s: %w", want.SHA256, ErrMismatch)
	}
	if err := f.Sync(); err != nil {
		return Info{}, fmt.Errorf("media: put: %w", noSpace(err))
	}
	if err := f.Close(); err != nil {
		return Info{}, fmt.Errorf("media: put: %w", noSpace(err))
	}
	if err := d.publish(tmp, want.SHA256); err != nil {
		return Info{}, fmt.Errorf("media: put: %w", err)
	}
	published = true
	return d.Stat(ctx, want.SHA256)
}

// publish moves a verified, fsynced file into place, unless the blob exists
// already (then the file is removed: the content is the same).
func (d *Disk) publish(path string, sum Digest) error {
	dst := d.blobPath(sum)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return noSpace(err)
	}
	if _, err := os.Stat(dst); err == nil {
		return os.Remove(path)
	}
	if err := os.Chmod(path, 0o400); err != nil {
		return err
	}
	if err := os.Rename(path, dst); err != nil {
		return noSpace(err)
	}
	return noSpace(syncDir(filepath.Dir(dst)))
}

// Stat implements Store.
func (d *Disk) Stat(ctx context.Context, sum Digest) (Info, error) {
	fi, err := os.Stat(d.blobPath(sum))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("media: blob %s: %w", sum, ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("media: stat: %w", err)
	}
	return Info{SHA256: sum, Size: fi.Size(), Created: fi.ModTime().UTC()}, nil
}

// Open implements Store.
func (d *Disk) Open(ctx context.Context, sum Digest) (Blob, error) {
	f, err := os.Open(d.blobPath(sum))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("media: blob %s: %w", sum, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("media: open: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("media: open: %w", err)
	}
	return fileBlob{f, fi.Size()}, nil
}

type fileBlob struct {
	*os.File
	size int64
}

func (b fileBlob) Size() int64 { return b.size }

// Delete implements Store.
func (d *Disk) Delete(ctx context.Context, sum Digest) error {
	p := d.blobPath(sum)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("media: delete: %w", err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("media: delete: %w", err)
	}
	return nil
}

// CreateUpload implements Store.
func (d *Disk) CreateUpload(ctx context.Context, id Digest, owner string, want Expect, meta []byte) (UploadState, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if u, err := d.loadLocked(id); err == nil {
		st := u.state()
		st.Meta, err = os.ReadFile(d.upPath(id, ".meta"))
		if err != nil {
			return UploadState{}, false, fmt.Errorf("media: upload %s: %w", id, err)
		}
		return st, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return UploadState{}, false, err
	}
	now := d.now().UTC()
	u := &diskUpload{st: UploadState{ID: id, Owner: owner, Expect: want, Created: now, Updated: now}, h: sha256.New()}
	fail := func(err error) (UploadState, bool, error) {
		os.Remove(d.upPath(id, ".state"))
		os.Remove(d.upPath(id, ".meta"))
		os.Remove(d.upPath(id, ".part"))
		return UploadState{}, false, fmt.Errorf("media: create upload: %w", noSpace(err))
	}
	if err := d.writeAtomic(d.upPath(id, ".meta"), meta); err != nil {
		return fail(err)
	}
	f, err := os.OpenFile(d.upPath(id, ".part"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fail(err)
	}
	u.f = f
	if err := d.saveState(u); err != nil { // the state file makes the upload exist
		f.Close()
		return fail(err)
	}
	d.ups[id] = u
	st := u.state()
	st.Meta = append([]byte(nil), meta...)
	return st, true, nil
}

func (u *diskUpload) state() UploadState {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.st
}

// saveState writes u's state as of its synced offset. u.mu held (or u not
// shared yet).
func (d *Disk) saveState(u *diskUpload) error {
	hs, err := u.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	b, err := json.Marshal(diskState{
		Owner: u.st.Owner, SHA256: u.st.SHA256.String(), Size: u.st.Size, Offset: u.st.Offset,
		HashState: hs, Complete: u.st.Complete, Created: u.st.Created, Updated: u.st.Updated,
	})
	if err != nil {
		return err
	}
	return d.writeAtomic(d.upPath(u.st.ID, ".state"), b)
}

// loadLocked returns the open upload id, opening it from its files if
// needed. d.mu held.
func (d *Disk) loadLocked(id Digest) (*diskUpload, error) {
	if u, ok := d.ups[id]; ok {
		return u, nil
	}
	b, err := os.ReadFile(d.upPath(id, ".state"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("media: upload %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("media: upload %s: %w", id, err)
	}
	var ds diskState
	if err := json.Unmarshal(b, &ds); err != nil {
		return nil, fmt.Errorf("media: upload %s: bad state file: %w", id, err)
	}
	sum, err := ParseDigest(ds.SHA256)
	if err != nil {
		return nil, fmt.Errorf("media: upload %s: bad state file: %w", id, err)
	}
	u := &diskUpload{
		st: UploadState{ID: id, Owner: ds.Owner, Expect: Expect{SHA256: sum, Size: ds.Size}, Offset: ds.Offset,
			Complete: ds.Complete, Created: ds.Created, Updated: ds.Updated},
		synced: ds.Offset, h: sha256.New(),
	}
	if err := u.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(ds.HashState); err != nil {
		return nil, fmt.Errorf("media: upload %s: bad hash state: %w", id, err)
	}
	if !u.st.Complete {
		f, err := os.OpenFile(d.upPath(id, ".part"), os.O_RDWR, 0o600)
		if errors.Is(err, fs.ErrNotExist) && u.st.Offset == u.st.Size {
			// Crashed between publishing the blob and recording it.
			if _, serr := d.Stat(context.Background(), sum); serr == nil {
				u.st.Complete = true
				d.ups[id] = u
				return u, nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("media: upload %s: %w", id, err)
		}
		// Bytes written after the last sync are not covered by the state:
		// drop them.
		if err := f.Truncate(u.st.Offset); err != nil {
			f.Close()
			return nil, fmt.Errorf("media: upload %s: %w", id, err)
		}
		u.f = f
	}
	d.ups[id] = u
	return u, nil
}

func (d *Disk) load(id Digest) (*diskUpload, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.loadLocked(id)
}

// Upload implements Store.
func (d *Disk) Upload(ctx context.Context, id Digest) (UploadState, error) {
	u, err := d.load(id)
	if err != nil {
		return UploadState{}, err
	}
	st := u.state()
	if st.Meta, err = os.ReadFile(d.upPath(id, ".meta")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return UploadState{}, fmt.Errorf("media: upload %s: %w", id, ErrNotFound)
		}
		return UploadState{}, fmt.Errorf("media: upload %s: %w", id, err)
	}
	return st, nil
}

// Uploads implements Store.
func (d *Disk) Uploads(ctx context.Context, owner string) ([]UploadState, error) {
	ents, err := os.ReadDir(filepath.Join(d.root, "uploads"))
	if err != nil {
		return nil, fmt.Errorf("media: uploads: %w", err)
	}
	var out []UploadState
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".state")
		if !ok {
			continue
		}
		id, err := ParseDigest(name)
		if err != nil {
			continue // not ours
		}
		u, err := d.load(id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		if st := u.state(); owner == "" || st.Owner == owner {
			out = append(out, st)
		}
	}
	return out, nil
}

// WriteUpload implements Store.
func (d *Disk) WriteUpload(ctx context.Context, id Digest, off int64, p []byte) (int64, error) {
	u, err := d.load(id)
	if err != nil {
		return 0, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.gone:
		return 0, fmt.Errorf("media: upload %s: %w", id, ErrNotFound)
	case u.st.Complete:
		return u.st.Offset, fmt.Errorf("media: upload %s: %w", id, ErrComplete)
	case off != u.st.Offset:
		return u.st.Offset, &OffsetError{Offset: u.st.Offset, Got: off}
	case off+int64(len(p)) > u.st.Size:
		return u.st.Offset, fmt.Errorf("media: upload %s: %w", id, ErrTooLong)
	}
	if _, err := u.f.WriteAt(p, off); err != nil {
		// Nothing past Offset counts; cut what may have been written.
		_ = u.f.Truncate(u.st.Offset)
		return u.st.Offset, fmt.Errorf("media: write upload %s: %w", id, noSpace(err))
	}
	u.h.Write(p)
	u.st.Offset += int64(len(p))
	u.st.Updated = d.now().UTC()
	return u.st.Offset, nil
}

// SyncUpload implements Store.
func (d *Disk) SyncUpload(ctx context.Context, id Digest) error {
	u, err := d.load(id)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return d.syncLocked(u)
}

func (d *Disk) syncLocked(u *diskUpload) error {
	if u.gone || u.st.Complete || u.synced == u.st.Offset {
		return nil
	}
	if err := u.f.Sync(); err != nil {
		return fmt.Errorf("media: sync upload %s: %w", u.st.ID, noSpace(err))
	}
	if err := d.saveState(u); err != nil {
		return fmt.Errorf("media: sync upload %s: %w", u.st.ID, noSpace(err))
	}
	u.synced = u.st.Offset
	return nil
}

// CommitUpload implements Store.
func (d *Disk) CommitUpload(ctx context.Context, id Digest) (Info, error) {
	u, err := d.load(id)
	if err != nil {
		return Info{}, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.gone:
		return Info{}, fmt.Errorf("media: upload %s: %w", id, ErrNotFound)
	case u.st.Complete:
		return d.Stat(ctx, u.st.SHA256)
	case u.st.Offset != u.st.Size:
		return Info{}, fmt.Errorf("media: commit upload %s: %d of %d bytes: %w", id, u.st.Offset, u.st.Size, ErrMismatch)
	}
	if Digest(u.h.Sum(nil)) != u.st.SHA256 {
		return Info{}, fmt.Errorf("media: commit upload %s: %w", id, ErrMismatch)
	}
	if err := d.syncLocked(u); err != nil {
		return Info{}, err
	}
	if err := u.f.Close(); err != nil {
		return Info{}, fmt.Errorf("media: commit upload %s: %w", id, err)
	}
	u.f = nil
	if err := d.publish(d.upPath(id, ".part"), u.st.SHA256); err != nil {
		f, oerr := os.OpenFile(d.upPath(id, ".part"), os.O_RDWR, 0o600)
		if oerr == nil {
			u.f = f
		}
		return Info{}, fmt.Errorf("media: commit upload %s: %w", id, err)
	}
	u.st.Complete = true
	u.st.Updated = d.now().UTC()
	if err := d.saveState(u); err != nil {
		// The blob is in place; on reopen the missing .part with a full
		// offset is read as complete.
		return Info{}, fmt.Errorf("media: commit upload %s: %w", id, noSpace(err))
	}
	return d.Stat(ctx, u.st.SHA256)
}

// DeleteUpload implements Store.
func (d *Disk) DeleteUpload(ctx context.Context, id Digest) error {
	d.mu.Lock()
	u := d.ups[id]
	delete(d.ups, id)
	d.mu.Unlock()
	if u != nil {
		u.mu.Lock()
		defer u.mu.Unlock()
		u.gone = true
		if u.f != nil {
			u.f.Close()
			u.f = nil
		}
	}
	// The state file goes first: without it the upload does not exist.
	for _, ext := range []string{".state", ".part", ".meta"} {
		if err := os.Remove(d.upPath(id, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("media: delete upload %s: %w", id, err)
		}
	}
	return syncDir(filepath.Join(d.root, "uploads"))
}

// Close implements Store.
func (d *Disk) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var first error
	for id, u := range d.ups {
		u.mu.Lock()
		if err := d.syncLocked(u); err != nil && first == nil {
			first = err
		}
		if u.f != nil {
			u.f.Close()
			u.f = nil
		}
		u.gone = true
		u.mu.Unlock()
		delete(d.ups, id)
	}
	return first
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
