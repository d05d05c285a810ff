package media

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/familylinks/flx/node/internal/dbtest"
)

// storeImpl makes a fresh store and can reopen one on the same storage, as
// after a restart or on another replica.
type storeImpl struct {
	name string
	open func(t *testing.T) (s Store, reopen func() Store)
}

func storeImpls() []storeImpl {
	return []storeImpl{
		{"disk", func(t *testing.T) (Store, func() Store) {
			dir := t.TempDir()
			open := func() Store {
				d, err := OpenDisk(dir)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { d.Close() })
				return d
			}
			return open(), open
		}},
		{"postgres", func(t *testing.T) (Store, func() Store) {
			db := openPostgres(t)
			migratePostgres(t, db)
			return NewPostgres(db), func() Store { return NewPostgres(openPostgresDSN(t, db)) }
		}},
	}
}

var pgDSNs sync.Map // *sql.DB -> dsn

// openPostgres opens a new database. Tests' sessions have
// synchronous_commit off, as node/store's tests have (a commit returns
// without waiting for the server's disk: no test here stops the server, and
// what a commit makes visible is the same); benchmarks keep the server's.
func openPostgres(t testing.TB) *sql.DB {
	t.Helper()
	dsn := dbtest.PostgresDSN(t)
	if _, bench := t.(*testing.B); !bench {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("synchronous_commit", "off")
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pgDSNs.Store(db, dsn)
	return db
}

// openPostgresDSN opens a second handle on db's database: another replica.
func openPostgresDSN(t testing.TB, db *sql.DB) *sql.DB {
	t.Helper()
	dsn, _ := pgDSNs.Load(db)
	db2, err := sql.Open("postgres", dsn.(string))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	return db2
}

// forEachStore runs f against every implementation.
func forEachStore(t *testing.T, f func(t *testing.T, s Store, reopen func() Store)) {
	for _, impl := range storeImpls() {
		t.Run(impl.name, func(t *testing.T) {
			s, reopen := impl.open(t)
			f(t, s, reopen)
		})
	}
}

// randomBytes is n pseudo-random bytes from seed: each 8 bytes are one
// PCG output, little-endian. The words are written whole (under the race
// detector a byte-by-byte fill costs one instrumented write per byte).
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := make([]uint64, (n+7)/8)
	for i := range w {
		w[i] = r.Uint64()
	}
	b := make([]byte, n)
	if n > 0 {
		wb := unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 8*len(w))
		if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 { // little-endian: the words are the bytes
			copy(b, wb)
		} else {
			for i := range b {
				b[i] = byte(w[i/8] >> (8 * (i % 8)))
			}
		}
	}
	return b
}

func expectOf(b []byte) Expect { return Expect{SHA256: Sum(b), Size: int64(len(b))} }

func readBlob(t *testing.T, s Store, sum Digest) []byte {
	t.Helper()
	b, err := s.Open(context.Background(), sum)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Sized from the blob, read to its end: one copy of the bytes, not
	// io.ReadAll's growing buffer. A blob that reads longer or shorter than
	// its Size still returns bytes that differ (or fails here).
	got := make([]byte, b.Size(), b.Size()+1)
	n, err := io.ReadFull(b, got)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		t.Fatal(err)
	}
	got = got[:n]
	if n == int(b.Size()) {
		rest, err := io.ReadAll(b)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rest...)
	}
	return got
}

func TestStorePut(t *testing.T) {
	ctx := context.Background()
	data := randomBytes(1, 3*DefaultChunkBytes+12345) // several Postgres chunks, a short last one
	// The refused Puts need two chunks, the last one short, not the ranges'
	// four: every byte a Put writes, the race detector checks several times.
	refused := data[:DefaultChunkBytes+12345]
	forEachStore(t, func(t *testing.T, s Store, reopen func() Store) {
		want, wantRefused := expectOf(data), expectOf(refused)
		for _, tc := range []struct {
			name string
			want Expect
			body []byte
		}{
			{"wrong hash", Expect{SHA256: Sum([]byte("other")), Size: wantRefused.Size}, refused},
			{"short", wantRefused, refused[:len(refused)-1]},
			{"long", wantRefused, append(append([]byte(nil), refused...), 0)},
			{"one byte changed", wantRefused, append([]byte{refused[0] ^ 1}, refused[1:]...)},
		} {
			if _, err := s.Put(ctx, tc.want, bytes.NewReader(tc.body)); !errors.Is(err, ErrMismatch) {
				t.Errorf("%s: Put = %v, want ErrMismatch", tc.name, err)
			}
			for _, sum := range []Digest{wantRefused.SHA256, tc.want.SHA256} {
				if _, err := s.Stat(ctx, sum); !errors.Is(err, ErrNotFound) {
					t.Fatalf("%s: after a refused Put, Stat = %v, want ErrNotFound", tc.name, err)
				}
			}
		}
		info, err := s.Put(ctx, want, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if info.SHA256 != want.SHA256 || info.Size != want.Size {
			t.Fatalf("Put = %+v", info)
		}
		if _, err := s.Put(ctx, want, bytes.NewReader(data)); err != nil {
			t.Fatalf("second Put of the same blob: %v", err)
		}
		if got := readBlob(t, reopen(), want.SHA256); !bytes.Equal(got, data) {
			t.Fatal("blob read back differs")
		}
		// Ranged reads, across chunk boundaries, as http.ServeContent does.
		b, err := s.Open(ctx, want.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if b.Size() != want.Size {
			t.Fatalf("Size = %d", b.Size())
		}
		for _, r := range [][2]int{{0, 1}, {DefaultChunkBytes - 3, 10}, {len(data) - 7, 7}, {12345, 2*DefaultChunkBytes + 5}} {
			if _, err := b.Seek(int64(r[0]), io.SeekStart); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, r[1])
			if _, err := io.ReadFull(b, got); err != nil {
				t.Fatalf("range %v: %v", r, err)
			}
			if !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
				t.Fatalf("range %v differs", r)
			}
		}
		for _, r := range [][2]int{{0, 10}, {DefaultChunkBytes - 5, DefaultChunkBytes + 10}, {len(data) - 3, 3}} {
			got := make([]byte, r[1])
			if n, err := b.ReadAt(got, int64(r[0])); n != r[1] || (err != nil && err != io.EOF) || !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
				t.Fatalf("ReadAt %v: %d, %v", r, n, err)
			}
		}
		if n, err := b.ReadAt(make([]byte, 10), int64(len(data)-4)); n != 4 || err != io.EOF {
			t.Fatalf("ReadAt past the end: %d, %v", n, err)
		}
		if end, _ := b.Seek(0, io.SeekEnd); end != want.Size {
			t.Fatalf("SeekEnd = %d", end)
		}
		if n, err := b.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("read at end = %d, %v", n, err)
		}
		if err := s.Delete(ctx, want.SHA256); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, want.SHA256); err != nil {
			t.Fatalf("second Delete: %v", err)
		}
		if _, err := s.Open(ctx, want.SHA256); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Open after Delete = %v", err)
		}
	})
}

func TestStoreUpload(t *testing.T) {
	ctx := context.Background()
	data := randomBytes(2, 5*MinChunkBytes+77)
	want := expectOf(data)
	id, other := Sum([]byte("upload-1")), Sum([]byte("upload-2"))
	forEachStore(t, func(t *testing.T, s Store, reopen func() Store) {
		st, created, err := s.CreateUpload(ctx, id, "XA-RC", want, []byte("meta-1"))
		if err != nil || !created || st.Offset != 0 || st.Owner != "XA-RC" || string(st.Meta) != "meta-1" {
			t.Fatalf("CreateUpload = %+v, %v, %v", st, created, err)
		}
		st, created, err = s.CreateUpload(ctx, id, "XB-RC", Expect{Size: 1}, []byte("meta-2"))
		if err != nil || created || st.Owner != "XA-RC" || string(st.Meta) != "meta-1" || st.Expect != want {
			t.Fatalf("second CreateUpload must return the stored upload unchanged: %+v, %v, %v", st, created, err)
		}
		if _, _, err := s.CreateUpload(ctx, other, "XB-RC", expectOf([]byte("x")), nil); err != nil {
			t.Fatal(err)
		}
		off := int64(0)
		for i := 0; i < 3; i++ {
			chunk := data[off : off+MinChunkBytes]
			if off, err = s.WriteUpload(ctx, id, off, chunk); err != nil {
				t.Fatal(err)
			}
		}
		// A replayed chunk, a chunk ahead, a chunk past the end.
		var oe *OffsetError
		if _, err := s.WriteUpload(ctx, id, off-MinChunkBytes, data[off-MinChunkBytes:off]); !errors.As(err, &oe) || oe.Offset != off {
			t.Fatalf("replayed write = %v, want OffsetError at %d", err, off)
		}
		if _, err := s.WriteUpload(ctx, id, off+MinChunkBytes, data[off:off+MinChunkBytes]); !errors.As(err, &oe) {
			t.Fatalf("write ahead = %v", err)
		}
		if _, err := s.WriteUpload(ctx, id, off, make([]byte, len(data)-int(off)+1)); !errors.Is(err, ErrTooLong) {
			t.Fatalf("write past the end = %v", err)
		}
		if _, err := s.CommitUpload(ctx, id); !errors.Is(err, ErrMismatch) {
			t.Fatalf("commit of a partial upload = %v", err)
		}
		if _, err := s.Stat(ctx, want.SHA256); !errors.Is(err, ErrNotFound) {
			t.Fatalf("partial upload visible as a blob: %v", err)
		}
		if err := s.SyncUpload(ctx, id); err != nil {
			t.Fatal(err)
		}
		// Restart (or another replica): the upload goes on from its offset.
		s2 := reopen()
		st, err = s2.Upload(ctx, id)
		if err != nil || st.Offset != off || st.Complete || string(st.Meta) != "meta-1" {
			t.Fatalf("after reopen: %+v, %v", st, err)
		}
		ups, err := s2.Uploads(ctx, "XA-RC")
		if err != nil || len(ups) != 1 || ups[0].ID != id {
			t.Fatalf("Uploads(XA-RC) = %+v, %v", ups, err)
		}
		if all, _ := s2.Uploads(ctx, ""); len(all) != 2 {
			t.Fatalf("Uploads() = %d uploads, want 2", len(all))
		}
		if off, err = s2.WriteUpload(ctx, id, off, data[off:]); err != nil || off != want.Size {
			t.Fatalf("last write: %d, %v", off, err)
		}
		info, err := s2.CommitUpload(ctx, id)
		if err != nil || info.SHA256 != want.SHA256 || info.Size != want.Size {
			t.Fatalf("commit = %+v, %v", info, err)
		}
		if _, err := s2.WriteUpload(ctx, id, off, []byte{1}); !errors.Is(err, ErrComplete) {
			t.Fatalf("write after commit = %v", err)
		}
		if st, err = s2.Upload(ctx, id); err != nil || !st.Complete || st.Offset != want.Size {
			t.Fatalf("after commit: %+v, %v", st, err)
		}
		if got := readBlob(t, s2, want.SHA256); !bytes.Equal(got, data) {
			t.Fatal("committed blob differs")
		}
		if _, err := s2.CommitUpload(ctx, id); err != nil {
			t.Fatalf("second commit: %v", err)
		}
		// Erasure takes the blob and the finished upload that built it.
		if err := Erase(ctx, s2, want.SHA256); err != nil {
			t.Fatal(err)
		}
		if _, err := s2.Upload(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("upload after erase: %v", err)
		}
		if _, err := s2.Stat(ctx, want.SHA256); !errors.Is(err, ErrNotFound) {
			t.Fatalf("blob after erase: %v", err)
		}
		if _, err := s2.Upload(ctx, other); err != nil {
			t.Fatalf("erase took another upload: %v", err)
		}
	})
}

// TestStoreCommitChecksWholeHash: bytes written in order but not those
// expected never become the blob.
func TestStoreCommitChecksWholeHash(t *testing.T) {
	ctx := context.Background()
	data := randomBytes(3, 2*MinChunkBytes)
	want := expectOf(data)
	forged := append([]byte(nil), data...)
	forged[len(forged)-1] ^= 0xff
	forEachStore(t, func(t *testing.T, s Store, reopen func() Store) {
		id := Sum([]byte("forged"))
		if _, _, err := s.CreateUpload(ctx, id, "XA-RC", want, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WriteUpload(ctx, id, 0, forged); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CommitUpload(ctx, id); !errors.Is(err, ErrMismatch) {
			t.Fatalf("commit of other bytes = %v, want ErrMismatch", err)
		}
		if _, err := s.Stat(ctx, want.SHA256); !errors.Is(err, ErrNotFound) {
			t.Fatalf("blob visible after a refused commit: %v", err)
		}
		if err := s.DeleteUpload(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUpload(ctx, id); err != nil {
			t.Fatalf("second DeleteUpload: %v", err)
		}
	})
}

// TestStoreConcurrentWriters: writers racing at one offset (a resumed
// transfer while the old connection still writes; two replicas) never both
// write there.
func TestStoreConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	data := randomBytes(4, 8*MinChunkBytes)
	want := expectOf(data)
	forEachStore(t, func(t *testing.T, s Store, reopen func() Store) {
		id := Sum([]byte("race"))
		if _, _, err := s.CreateUpload(ctx, id, "XA-RC", want, nil); err != nil {
			t.Fatal(err)
		}
		stores := []Store{s, reopen()}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(s Store) {
				defer wg.Done()
				for i := int64(0); i < 8; i++ {
					off := i * MinChunkBytes
					if _, err := s.WriteUpload(ctx, id, off, data[off:off+MinChunkBytes]); err == nil {
						mu.Lock()
						wins++
						mu.Unlock()
					} else if oe := (*OffsetError)(nil); !errors.As(err, &oe) {
						t.Error(err)
					}
				}
			}(stores[w%len(stores)])
		}
		wg.Wait()
		// The disk store is one process's: the second handle on the same
		// directory is a restart, not a replica, so only check Postgres'
		// exact count and every store's content.
		if _, ok := s.(*Postgres); ok && wins != 8 {
			t.Fatalf("%d writes succeeded, want exactly 8", wins)
		}
		if _, ok := s.(*Disk); ok {
			return
		}
		if _, err := s.CommitUpload(ctx, id); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(readBlob(t, s, want.SHA256), data) {
			t.Fatal("blob differs")
		}
	})
}

func TestDiskLayoutAndRecovery(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(5, 3*MinChunkBytes)
	want := expectOf(data)
	id := Sum([]byte("recover"))
	if _, _, err := d.CreateUpload(ctx, id, "XA-RC", want, []byte("m")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WriteUpload(ctx, id, 0, data[:MinChunkBytes]); err != nil {
		t.Fatal(err)
	}
	if err := d.SyncUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Written, not synced: lost in the "crash" below.
	if _, err := d.WriteUpload(ctx, id, MinChunkBytes, data[MinChunkBytes:2*MinChunkBytes]); err != nil {
		t.Fatal(err)
	}
	// Leftovers of a crash: a temp file and files of an upload whose state
	// was never written.
	os.WriteFile(filepath.Join(dir, "tmp", "put-123"), []byte("half"), 0o600)
	orphan := Sum([]byte("orphan")).String()
	os.WriteFile(filepath.Join(dir, "uploads", orphan+".part"), []byte("half"), 0o600)
	os.WriteFile(filepath.Join(dir, "uploads", orphan+".meta"), []byte("m"), 0o600)
	if blobs := filesUnder(t, filepath.Join(dir, "blobs")); len(blobs) != 0 {
		t.Fatalf("files under blobs/ before any commit: %v", blobs)
	}

	d2, err := OpenDisk(dir) // the restart
	if err != nil {
		t.Fatal(err)
	}
	st, err := d2.Upload(ctx, id)
	if err != nil || st.Offset != MinChunkBytes {
		t.Fatalf("after restart: offset %d (%v), want the synced %d", st.Offset, err, MinChunkBytes)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "uploads", id.String()+".part")); fi.Size() != MinChunkBytes {
		t.Fatalf(".part has %d bytes after restart, want %d", fi.Size(), MinChunkBytes)
	}
	for _, p := range []string{filepath.Join(dir, "tmp", "put-123"), filepath.Join(dir, "uploads", orphan+".part")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s not cleaned on open", p)
		}
	}
	if _, err := d2.WriteUpload(ctx, id, MinChunkBytes, data[MinChunkBytes:]); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.CommitUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	blobs := filesUnder(t, filepath.Join(dir, "blobs"))
	if len(blobs) != 1 || filepath.Base(blobs[0]) != want.SHA256.String() {
		t.Fatalf("blobs/ holds %v", blobs)
	}
	if fi, _ := os.Stat(blobs[0]); fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("blob mode %v: others may read media", fi.Mode())
	}
	if !bytes.Equal(readBlob(t, d2, want.SHA256), data) {
		t.Fatal("blob differs")
	}
}

func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestDiskFull runs the disk store on a real full file system: a 1 MiB
// tmpfs (needs root; skipped otherwise). Nothing half-written becomes
// visible, what was stored before stays intact, and after space is freed the
// same upload resumes.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	ctx := context.Background()
	d, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	small := randomBytes(6, 200<<10)
	if _, err := d.Put(ctx, expectOf(small), bytes.NewReader(small)); err != nil {
		t.Fatal(err)
	}
	big := randomBytes(7, 2<<20)
	if _, err := d.Put(ctx, expectOf(big), bytes.NewReader(big)); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Put on a full disk = %v, want ErrNoSpace", err)
	}
	if _, err := d.Stat(ctx, Sum(big)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("half-written blob visible: %v", err)
	}
	if files := filesUnder(t, filepath.Join(dir, "tmp")); len(files) != 0 {
		t.Fatalf("temporary files left: %v", files)
	}
	// An upload that hits the full disk keeps its offset.
	id := Sum([]byte("full"))
	if _, _, err := d.CreateUpload(ctx, id, "XA-RC", expectOf(big), nil); err != nil {
		t.Fatal(err)
	}
	off := int64(0)
	var werr error
	for off < int64(len(big)) {
		n := min(int64(MinChunkBytes), int64(len(big))-off)
		var next int64
		if next, werr = d.WriteUpload(ctx, id, off, big[off:off+n]); werr != nil {
			break
		}
		off = next
	}
	if !errors.Is(werr, ErrNoSpace) {
		t.Fatalf("upload on a full disk: %v, want ErrNoSpace", werr)
	}
	if err := d.SyncUpload(ctx, id); err != nil && !errors.Is(err, ErrNoSpace) {
		t.Fatal(err)
	}
	st, err := d.Upload(ctx, id)
	if err != nil || st.Offset != off {
		t.Fatalf("after ENOSPC: offset %d (%v), want %d", st.Offset, err, off)
	}
	if !bytes.Equal(readBlob(t, d, Sum(small)), small) {
		t.Fatal("blob stored before the disk filled up was damaged")
	}
	// Free space: the upload resumes where it stopped and completes.
	if err := d.Delete(ctx, Sum(small)); err != nil {
		t.Fatal(err)
	}
	exec.Command("mount", "-o", "remount,size=8m", dir).Run()
	if _, err := d.WriteUpload(ctx, id, off, big[off:]); err != nil {
		t.Fatalf("resume after freeing space: %v", err)
	}
	if _, err := d.CommitUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readBlob(t, d, Sum(big)), big) {
		t.Fatal("blob differs")
	}
}

func TestParseDigest(t *testing.T) {
	good := strings.Repeat("0123456789abcdef", 4)
	if d, err := ParseDigest(good); err != nil || d.String() != good {
		t.Fatalf("ParseDigest(good) = %v, %v", d, err)
	}
	for _, bad := range []string{
		"", good[:63], good + "0", strings.ToUpper(good), "../" + good[3:], good[:62] + "/.",
		good[:63] + "\x00", "sha256:" + good[7:], good[:63] + "g", " " + good[1:], good[:32] + "%2e" + good[35:],
	} {
		if _, err := ParseDigest(bad); !errors.Is(err, ErrBadDigest) {
			t.Errorf("ParseDigest(%q) = %v, want ErrBadDigest", bad, err)
		}
	}
}

// A PostgreSQL blob read with ReadAt in pieces smaller than a chunk (as
// mediaclean's 64 KiB reader reads) fetches each chunk once: with the
// blob's rows gone, the rest of the chunk just read still reads, and the
// next chunk does not. Before, every call fetched its whole chunk again.
func TestPostgresReadAtKeepsChunk(t *testing.T) {
	ctx := context.Background()
	db := openPostgres(t)
	migratePostgres(t, db)
	s := NewPostgres(db)
	data := randomBytes(2, 2*DefaultChunkBytes+100)
	info, err := s.Put(ctx, expectOf(data), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Open(ctx, info.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	buf := make([]byte, 64<<10)
	if _, err := b.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, data[:len(buf)]) {
		t.Fatalf("first read: %v", err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM media_parts WHERE owner = $1`, blobOwner(info.SHA256)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadAt(buf, int64(len(buf))); err != nil || !bytes.Equal(buf, data[len(buf):2*len(buf)]) {
		t.Fatalf("the rest of the first chunk, fetched again: %v", err)
	}
	if _, err := b.ReadAt(buf, DefaultChunkBytes); err == nil {
		t.Fatal("the next chunk read from rows deleted")
	}
}
