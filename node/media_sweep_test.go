package node_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/mediaclean/cleantest"
)

// TestSweepMedia: the media sweep deletes a caseworker's partial upload for
// a case erased since (the erasure itself knows only attached media), keeps
// the upload of a live case, erases a blob received whole that no case
// links once its upload is past the TTL, keeps a received blob a case links,
// and expires old uploads.
func TestSweepMedia(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ids := []string{"XA-RC:SWEEP-ERASED", "XA-RC:SWEEP-LIVE"}
	sw := newSweepNode(t, ids...)
	xa, disk, cw := sw.node, sw.disk, sw.cw
	var seed uint64
	bytesOf := func(n int) ([]byte, media.Digest) {
		seed++
		b := cleantest.MP4Sized(n, seed) // a container the node can clean (it refuses others)
		return b, media.Digest(sha256.Sum256(b))
	}
	// Half of a recording uploaded for each case.
	uploads := map[string]string{}
	for _, id := range ids {
		rec, sum := bytesOf(300 << 10)
		up, err := xa.StartMediaUpload(ctx, cw, id, node.MediaUploadRequest{SHA256: sum.String(), SizeBytes: int64(len(rec)), MediaType: "video/mp4"})
		if err != nil {
			t.Fatal(err)
		}
		up, _ = xa.WriteMediaUpload(ctx, cw, up.Upload, 0, bytes.NewReader(rec[:150<<10]), nil)
		if up.Offset == 0 {
			t.Fatalf("nothing written for %s", id)
		}
		uploads[id] = up.Upload
	}
	if _, err := xa.Withdraw(ctx, cw, ids[0], "consent_withdrawn"); err != nil {
		t.Fatal(err)
	}
	// Two blobs received whole from XB-RC: one a case links, one whose
	// message never came.
	received := func(b []byte, sum media.Digest) media.Digest {
		id := media.Sum(append([]byte("test upload "), sum[:]...))
		if _, _, err := disk.CreateUpload(ctx, id, "XB-RC", media.Expect{SHA256: sum, Size: int64(len(b))}, []byte("{}\n")); err != nil {
			t.Fatal(err)
		}
		commitInStore(t, disk, id, b)
		return id
	}
	linked, linkedSum := bytesOf(100 << 10)
	received(linked, linkedSum)
	if up, err := xa.StartMediaUpload(ctx, cw, ids[1], node.MediaUploadRequest{SHA256: linkedSum.String(), SizeBytes: int64(len(linked)), MediaType: "video/mp4"}); err != nil || !up.Complete {
		t.Fatalf("link: %v %+v", err, up)
	}
	orphan, orphanSum := bytesOf(100 << 10)
	received(orphan, orphanSum)

	// Within the TTL: only the erased case's upload goes.
	r, err := xa.SweepMedia(ctx)
	if err != nil || r != (node.MediaSweepResult{Abandoned: 1}) {
		t.Fatalf("first sweep: %+v %v", r, err)
	}
	if _, err := xa.MediaUploadState(ctx, cw, uploads[ids[0]]); problem.CodeOf(err) != node.CodeNotFound {
		t.Errorf("the erased case's upload survived: %v", err)
	}
	if st, err := xa.MediaUploadState(ctx, cw, uploads[ids[1]]); err != nil || st.Offset == 0 {
		t.Errorf("the live case's upload was lost: %+v %v", st, err)
	}
	for _, s := range []media.Digest{linkedSum, orphanSum} {
		if _, err := disk.Stat(ctx, s); err != nil {
			t.Errorf("blob %s gone within the TTL: %v", s, err)
		}
	}

	// Past the TTL: the unclaimed blob is erased, the linked one stays.
	sw.pastTTL()
	r, err = xa.SweepMedia(ctx)
	if err != nil || r.Unclaimed != 1 || r.Expired < 2 {
		t.Fatalf("second sweep: %+v %v", r, err)
	}
	if _, err := disk.Stat(ctx, orphanSum); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("unclaimed blob kept: %v", err)
	}
	if _, err := disk.Stat(ctx, linkedSum); err != nil {
		t.Errorf("a blob a case links was erased: %v", err)
	}
	if ups, _ := disk.Uploads(ctx, ""); len(ups) != 0 {
		t.Errorf("%d uploads left after the TTL", len(ups))
	}
}

// TestSweepMediaUnfinished: a caseworker's upload complete in the media
// store but never cleaned and attached (the node stopped between the two)
// holds the file as uploaded, metadata and all, linked to no case. Past the
// TTL the sweep erases its bytes with the upload (before, the upload
// expired and the bytes stayed for good); an erased case's complete upload
// goes at once, bytes too; bytes a case links stay.
func TestSweepMediaUnfinished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ids := []string{"XA-RC:UNFIN-LIVE", "XA-RC:UNFIN-ERASED", "XA-RC:UNFIN-LINKED"}
	sw := newSweepNode(t, ids...)
	xa, disk, cw, dir := sw.node, sw.disk, sw.cw, sw.dir
	// Each upload declared through the node, its bytes written and
	// committed in the store directly: what a node that stopped right
	// after the commit leaves behind.
	crashed := func(caseID string, b []byte) media.Digest {
		t.Helper()
		sum := media.Sum(b)
		up, err := xa.StartMediaUpload(ctx, cw, caseID, node.MediaUploadRequest{SHA256: sum.String(), SizeBytes: int64(len(b)), MediaType: "image/jpeg"})
		if err != nil || up.Complete {
			t.Fatalf("start %s: %v %+v", caseID, err, up)
		}
		id, err := media.ParseDigest(up.Upload)
		if err != nil {
			t.Fatal(err)
		}
		commitInStore(t, disk, id, b)
		return sum
	}
	photo := cleantest.JPEG() // carries canaries in its metadata
	live := crashed(ids[0], photo)
	other := append(cleantest.JPEG(), "another photo"...) // bytes after EOI: a second file
	erased := crashed(ids[1], other)
	if _, err := xa.Withdraw(ctx, cw, ids[1], "consent_withdrawn"); err != nil {
		t.Fatal(err)
	}
	// A file whose very bytes a case links already (attached whole before
	// the crash by another upload): they stay.
	plain := cleantest.MP4Sized(64<<10, 7)
	if up, err := xa.StartMediaUpload(ctx, cw, ids[2], node.MediaUploadRequest{SHA256: media.Sum(plain).String(), SizeBytes: int64(len(plain)), MediaType: "video/mp4"}); err != nil {
		t.Fatal(err)
	} else if up, err = xa.WriteMediaUpload(ctx, cw, up.Upload, 0, bytes.NewReader(plain), nil); err != nil || !up.Complete {
		t.Fatalf("attach the plain recording: %v %+v", err, up)
	}
	linked := media.Sum(plain)

	r, err := xa.SweepMedia(ctx)
	if err != nil || r.Abandoned != 1 || r.Unfinished != 0 {
		t.Fatalf("first sweep: %+v %v", r, err)
	}
	if _, err := disk.Stat(ctx, erased); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("the erased case's uploaded file kept: %v", err)
	}
	if _, err := disk.Stat(ctx, live); err != nil {
		t.Errorf("a live case's complete upload erased within the TTL: %v", err)
	}

	sw.pastTTL()
	r, err = xa.SweepMedia(ctx)
	if err != nil || r.Unfinished != 1 {
		t.Fatalf("sweep past the TTL: %+v %v", r, err)
	}
	if _, err := disk.Stat(ctx, live); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("the unfinished upload's file kept past the TTL: %v", err)
	}
	if _, err := disk.Stat(ctx, linked); err != nil {
		t.Errorf("bytes a case links were erased: %v", err)
	}
	if ups, _ := disk.Uploads(ctx, ""); len(ups) != 0 {
		t.Errorf("%d uploads left", len(ups))
	}
	var bad []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); len(cleantest.Found(b)) > 0 {
				bad = append(bad, p)
			}
		}
		return nil
	})
	if len(bad) > 0 {
		t.Errorf("canaries left in the media store: %v", bad)
	}
}

// sweepNode is a node XA-RC (not running its loops) with a media store on
// disk and the given cases, whose clock the test moves past the upload TTL.
type sweepNode struct {
	node   *nodetest.Node
	disk   *media.Disk
	dir    string
	cw     node.Actor
	offset *atomic.Int64
}

const sweepTTL = time.Hour

func newSweepNode(t *testing.T, caseIDs ...string) sweepNode {
	t.Helper()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	ln := nodetest.Listen(t, f.Member(t, "XA-RC"))
	f.Sign(t)
	sw := sweepNode{cw: node.Actor{Name: "cw", Role: "caseworker"}, offset: new(atomic.Int64)}
	sw.disk, sw.dir = tempDisk(t)
	disk := sw.disk
	// The node's clock is the real one moved on by the test: the uploads
	// outlive the TTL when the test says so, and a loaded machine's delays
	// stay far within it until then.
	now := func() time.Time { return time.Now().Add(time.Duration(sw.offset.Load())) }
	sw.node = nodetest.Start(t, f, "XA-RC", ln, nodetest.Options{NoRun: true,
		Media: &node.MediaOptions{Store: disk, ChunkBytes: 64 << 10, Limits: media.Limits{UploadTTL: sweepTTL}},
		Tune:  func(o *node.Options) { o.Now = now }})
	createTracingCases(t, sw.node, sw.cw, caseIDs...)
	return sw
}

// tempDisk opens a media store in a new temporary folder, closed at the
// test's end, and returns it with its folder.
func tempDisk(t *testing.T) (*media.Disk, string) {
	t.Helper()
	dir := t.TempDir()
	disk, err := media.OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	return disk, dir
}

// createTracingCases creates a tracing request with each of the case ids.
func createTracingCases(t *testing.T, n *nodetest.Node, cw node.Actor, caseIDs ...string) {
	t.Helper()
	for _, id := range caseIDs {
		if _, err := n.CreateCase(context.Background(), cw, body(t, "case.tracing_request", func(m map[string]any) { m["case_id"] = id })); err != nil {
			t.Fatal(err)
		}
	}
}

// pastTTL moves the node's clock past the upload TTL.
func (sw sweepNode) pastTTL() { sw.offset.Add(int64(sweepTTL + time.Second)) }

// commitInStore writes, syncs and commits an upload's bytes in the media
// store directly, behind the node's back.
func commitInStore(t *testing.T, disk *media.Disk, id media.Digest, b []byte) {
	t.Helper()
	ctx := context.Background()
	if _, err := disk.WriteUpload(ctx, id, 0, b); err != nil {
		t.Fatal(err)
	}
	if err := disk.SyncUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := disk.CommitUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
}
