package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/media"
)

// fullDisk is a real disk store that answers as a full disk does while
// full is set: every write fails with ENOSPC, mapped to media.ErrNoSpace.
type fullDisk struct {
	media.Store
	full atomic.Bool
}

func (d *fullDisk) nospace() error {
	return fmt.Errorf("%w: write: no space left on device", media.ErrNoSpace)
}

func (d *fullDisk) WriteUpload(ctx context.Context, id media.Digest, off int64, p []byte) (int64, error) {
	if d.full.Load() {
		return off, d.nospace()
	}
	return d.Store.WriteUpload(ctx, id, off, p)
}

func (d *fullDisk) CommitUpload(ctx context.Context, id media.Digest) (media.Info, error) {
	if d.full.Load() {
		return media.Info{}, d.nospace()
	}
	return d.Store.CommitUpload(ctx, id)
}

func (d *fullDisk) CreateUpload(ctx context.Context, id media.Digest, owner string, want media.Expect, meta []byte) (media.UploadState, bool, error) {
	if d.full.Load() {
		return media.UploadState{}, false, d.nospace()
	}
	return d.Store.CreateUpload(ctx, id, owner, want, meta)
}

// TestMediaLocalFullDiskAndPathTricks: through the local API, a disk that
// fills up in the middle of an upload answers 507 insufficient_storage,
// keeps the bytes written before and every recording stored earlier, and
// the upload resumes and completes once there is space; names in paths and
// bodies (upload ids, sha256, case ids, media types) that try to leave their
// place are refused, and nothing is written outside the store.
func TestMediaLocalFullDiskAndPathTricks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	ln := nodetest.Listen(t, f.Member(t, "XA-RC"))
	f.Sign(t)
	root := t.TempDir()
	dir := filepath.Join(root, "media")
	disk, err := media.OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	fd := &fullDisk{Store: disk}
	xa := nodetest.Start(t, f, "XA-RC", ln, nodetest.Options{Media: &node.MediaOptions{Store: fd, ChunkBytes: 64 << 10}})
	url, tok := localAPI(t, xa)
	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	caseURL := url + "/api/v1/cases/" + demoCase
	start := func(b []byte) (string, int64) {
		t.Helper()
		sum := sha256.Sum256(b)
		resp, body := call(t, http.MethodPost, caseURL+"/media", tok, "application/json",
			strings.NewReader(fmt.Sprintf(`{"sha256":%q,"size_bytes":%d,"media_type":"video/mp4"}`, hex.EncodeToString(sum[:]), len(b))), nil)
		if resp == nil || resp.StatusCode/100 != 2 {
			t.Fatalf("start upload: %v %s", resp, body)
		}
		var up struct {
			URL    string `json:"url"`
			Offset int64  `json:"offset"`
		}
		json.Unmarshal(body, &up)
		return up.URL, up.Offset
	}
	write := func(u string, off int64, p []byte) (*http.Response, []byte) {
		return call(t, http.MethodPatch, url+u, tok, media.ContentTypeChunks, bytes.NewReader(p), map[string]string{"Upload-Offset": strconv.FormatInt(off, 10)})
	}

	// A recording stored before the disk fills up.
	before := recording(200 << 10)
	u, _ := start(before)
	if resp, body := write(u, 0, before); resp.StatusCode != 200 {
		t.Fatalf("first recording: %d %s", resp.StatusCode, body)
	}
	// The next one: 1 MiB written, then the disk is full.
	rec := recording(3 << 20)
	u, _ = start(rec)
	if resp, body := write(u, 0, rec[:1<<20]); resp.StatusCode == 507 || resp.StatusCode/100 == 5 {
		t.Fatalf("first MiB: %d %s", resp.StatusCode, body)
	}
	fd.full.Store(true)
	resp, body := write(u, 1<<20, rec[1<<20:])
	if resp.StatusCode != http.StatusInsufficientStorage || !strings.Contains(string(body), "insufficient_storage") {
		t.Fatalf("write on a full disk: %d %s", resp.StatusCode, body)
	}
	resp, body = call(t, http.MethodGet, url+u, tok, "", nil, nil)
	var st struct {
		Offset   int64 `json:"offset"`
		Complete bool  `json:"complete"`
	}
	json.Unmarshal(body, &st)
	if resp.StatusCode != 200 || st.Offset != 1<<20 || st.Complete {
		t.Fatalf("after the full disk: %d %s", resp.StatusCode, body)
	}
	// A new upload on a full disk is refused with 507 too.
	other := make([]byte, 1000)
	rand.Read(other)
	osum := sha256.Sum256(other)
	resp, body = call(t, http.MethodPost, caseURL+"/media", tok, "application/json",
		strings.NewReader(fmt.Sprintf(`{"sha256":%q,"size_bytes":1000,"media_type":"audio/ogg"}`, hex.EncodeToString(osum[:]))), nil)
	if resp.StatusCode != http.StatusInsufficientStorage {
		t.Fatalf("new upload on a full disk: %d %s", resp.StatusCode, body)
	}
	// Space again: the upload resumes where it stopped and completes.
	fd.full.Store(false)
	if resp, body := write(u, st.Offset, rec[st.Offset:]); resp.StatusCode != 200 || !strings.Contains(string(body), `"complete":true`) {
		t.Fatalf("resume after space: %d %s", resp.StatusCode, body)
	}
	for _, b := range [][]byte{before, rec} {
		sum := sha256.Sum256(b)
		resp, got := call(t, http.MethodGet, caseURL+"/media/"+hex.EncodeToString(sum[:]), tok, "", nil, nil)
		if resp.StatusCode != 200 || !bytes.Equal(got, b) {
			t.Fatalf("recording of %d bytes after the full disk: %d, %d bytes", len(b), resp.StatusCode, len(got))
		}
	}

	// Path tricks: every spelling that is not the name itself is refused.
	sum := sha256.Sum256(rec)
	hexSum := hex.EncodeToString(sum[:])
	uid := strings.TrimPrefix(u, "/api/v1/media/uploads/")
	for _, p := range []string{
		"/api/v1/media/uploads/..%2f..%2f..%2fetc%2fpasswd",
		"/api/v1/media/uploads/" + strings.ToUpper(uid),
		"/api/v1/media/uploads/" + uid + "%00",
		"/api/v1/media/uploads/" + uid[:63],
		"/api/v1/media/uploads/%2e%2e",
		"/api/v1/cases/" + demoCase + "/media/..%2f..%2f" + hexSum[6:],
		"/api/v1/cases/" + demoCase + "/media/" + strings.ToUpper(hexSum),
		"/api/v1/cases/" + demoCase + "/media/" + hexSum + "%2f..",
		"/api/v1/cases/" + demoCase + "/media/" + hexSum + "%00",
		"/api/v1/cases/..%2f" + demoCase + "/media/" + hexSum,
		"/api/v1/cases/XA-RC:..%2f..%2fDEMO-0001/media/" + hexSum,
	} {
		for _, m := range []string{http.MethodGet, http.MethodPatch} {
			resp, body := call(t, m, url+p, tok, media.ContentTypeChunks, bytes.NewReader([]byte("x")), map[string]string{"Upload-Offset": "0"})
			if resp == nil || resp.StatusCode/100 == 2 || resp.StatusCode/100 == 5 {
				t.Errorf("%s %s: %v %s", m, p, resp, body)
			}
		}
	}
	for _, b := range []string{
		`{"sha256":"../../../../etc/passwd","size_bytes":10,"media_type":"audio/ogg"}`,
		`{"sha256":"` + hexSum + `/..","size_bytes":10,"media_type":"audio/ogg"}`,
		`{"sha256":"` + hexSum[:60] + `%2e%2e","size_bytes":10,"media_type":"audio/ogg"}`,
		`{"sha256":"` + strings.Repeat("0", 64) + `","size_bytes":10,"media_type":"../../x"}`,
		`{"sha256":"` + strings.Repeat("0", 64) + `","size_bytes":10,"media_type":"video/mp4\r\nX-Evil: 1"}`,
	} {
		resp, body := call(t, http.MethodPost, caseURL+"/media", tok, "application/json", strings.NewReader(b), nil)
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("start %s: %v %s", b, resp, body)
		}
	}
	// Nothing was written outside the store's directory.
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if e.Name() != "media" {
			t.Errorf("a file appeared beside the store: %s", e.Name())
		}
	}
}
