package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/mediaclean/cleantest"
	"github.com/familylinks/flx/node/store"
)

// gatedReader is a recording that the sender reads up to gate bytes, then
// waits until open is closed: an upload under way, held in the middle.
type gatedReader struct {
	b       []byte
	gate    int64
	reached chan struct{}
	open    chan struct{}
	once    sync.Once
}

func (g *gatedReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > g.gate {
		g.once.Do(func() { close(g.reached) })
		<-g.open
	}
	if off >= int64(len(g.b)) {
		return 0, io.EOF
	}
	n := copy(p, g.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestEraseKeepsOtherUploads: XA-RC erases case A (a withdrawal), whose
// recording came from XC-RC, while XB-RC is uploading the same bytes over
// mTLS for a message about case B, and XA-RC's caseworker has the same file
// half uploaded for case B. The erasure takes the blob, the upload that
// built it and the caseworker's upload for case A; XB-RC's upload goes on
// to the end (before, it was deleted under it: the receiver answered
// not_found, which the sending node takes as a permanent failure, and the
// message for B was dead-lettered), its message is accepted with its media
// whole, and the caseworker's upload for B is still there.
func TestEraseKeepsOtherUploads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
	ln := nodetest.Listen(t, f.Member(t, "XA-RC"))
	f.Sign(t)
	disk, _ := tempDisk(t)
	const chunk = 64 << 10
	xa := nodetest.Start(t, f, "XA-RC", ln, nodetest.Options{NoRun: true,
		Media: &node.MediaOptions{Store: disk, ChunkBytes: chunk}})
	cw := node.Actor{Name: "cw", Role: "caseworker"}
	const caseA, caseB = "XA-RC:TR-2024-0117", "XA-RC:ERASE-B"
	createTracingCases(t, xa, cw, caseA, caseB)

	rec := make([]byte, 4*chunk+1000)
	rand.Read(rec)
	var list []byte
	for off := 0; off < len(rec); off += chunk {
		s := sha256.Sum256(rec[off:min(off+chunk, len(rec))])
		list = append(list, s[:]...)
	}
	whole, root := sha256.Sum256(rec), sha256.Sum256(list)
	mediaOf := map[string]any{"sha256": hex.EncodeToString(whole[:]), "media_type": "video/mp4", "size_bytes": len(rec),
		"duration_seconds": 3.5, "chunk_bytes": chunk, "chunks_sha256": hex.EncodeToString(root[:])}
	message := func(from, caseID, id string) []byte {
		return body(t, "message.video_message", func(m map[string]any) {
			m["case_id"], m["message_id"] = caseID, id
			delete(m, "reply_to")
			m["from"] = map[string]any{"member": from}
			m["to"] = map[string]any{"member": "XA-RC"}
			m["media"] = mediaOf
		})
	}
	rawA := f.Envelope(t, "XC-RC", "XA-RC", federation.KindMessageDeliver, caseA, message("XC-RC", caseA, "XC-RC:VID-A"))
	rawB := f.Envelope(t, "XB-RC", "XA-RC", federation.KindMessageDeliver, caseB, message("XB-RC", caseB, "XB-RC:VID-B"))
	envB, err := federation.ClaimsOf(rawB)
	if err != nil {
		t.Fatal(err)
	}
	ref, ok := media.AttachedRef(&federation.Envelope{Claims: envB})
	if !ok {
		t.Fatal("no media in the message for B")
	}
	hashes, err := media.ParseHashList(list, ref)
	if err != nil {
		t.Fatal(err)
	}

	// XA-RC's caseworker uploads half of the same file for each case.
	local := map[string]string{}
	for _, id := range []string{caseA, caseB} {
		up, err := xa.StartMediaUpload(ctx, cw, id, node.MediaUploadRequest{SHA256: ref.SHA256.String(), SizeBytes: ref.Size, MediaType: "video/mp4"})
		if err != nil {
			t.Fatal(err)
		}
		// The body ends there: the write says where to resume.
		if up, err = xa.WriteMediaUpload(ctx, cw, up.Upload, 0, bytes.NewReader(rec[:2*chunk]), nil); up.Offset != 2*chunk {
			t.Fatalf("local upload for %s: %+v %v", id, up, err)
		}
		local[id] = up.Upload
	}

	// Case A holds the recording, received whole from XC-RC.
	idC := media.UploadID("XC-RC", ref)
	if _, _, err := disk.CreateUpload(ctx, idC, "XC-RC", media.Expect{SHA256: ref.SHA256, Size: ref.Size}, []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	commitInStore(t, disk, idC, rec)
	if res, err := xa.Receive(ctx, "XC-RC", rawA); err != nil || res.Status != federation.ReceiptAccepted {
		t.Fatalf("the message for A: %+v %+v", res, problem.As(err))
	}
	if err := xa.ProcessInbox(ctx); err != nil {
		t.Fatal(err)
	}

	// XB-RC uploads the same bytes for B, held after two chunks.
	src := &gatedReader{b: rec, gate: 2 * chunk, reached: make(chan struct{}), open: make(chan struct{})}
	up := &media.Uploader{Client: nodetest.Client(t, f, "XB-RC", xa), Endpoint: xa.FedURL, RequestBytes: chunk,
		Backoff: func(int) time.Duration { return 10 * time.Millisecond }}
	type result struct {
		res media.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := up.Upload(ctx, rawB, ref, hashes, src)
		done <- result{res, err}
	}()
	select {
	case <-src.reached:
	case r := <-done:
		t.Fatalf("the upload ended before the gate: %+v %v", r.res, r.err)
	}
	idB := media.UploadID("XB-RC", ref)
	if st, err := disk.Upload(ctx, idB); err != nil || st.Complete || st.Offset != 2*chunk {
		t.Fatalf("XB-RC's upload before the erasure: %+v %v", st, err)
	}

	if _, err := xa.Withdraw(ctx, cw, caseA, "consent_withdrawn"); err != nil {
		t.Fatal(err)
	}
	// Case A's data is gone: the blob, the upload that built it, the
	// caseworker's upload for A.
	if _, err := disk.Stat(ctx, ref.SHA256); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("the withdrawal left the recording: %v", err)
	}
	if _, err := disk.Upload(ctx, idC); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("the withdrawal left the upload that built the recording: %v", err)
	}
	if _, err := xa.MediaUploadState(ctx, cw, local[caseA]); problem.CodeOf(err) != node.CodeNotFound {
		t.Errorf("the withdrawal left the caseworker's upload for A: %v", err)
	}
	// The uploads for B are not A's.
	if st, err := disk.Upload(ctx, idB); err != nil || st.Offset != 2*chunk {
		t.Errorf("the withdrawal of A took XB-RC's upload for B: %+v %v", st, err)
	}
	if st, err := xa.MediaUploadState(ctx, cw, local[caseB]); err != nil || st.Offset != 2*chunk {
		t.Errorf("the withdrawal of A took the caseworker's upload for B: %+v %v", st, err)
	}

	close(src.open)
	r := <-done
	if r.err != nil || r.res.Offset != ref.Size {
		t.Fatalf("XB-RC's upload for B after the erasure of A: %+v %v", r.res, r.err)
	}
	if res, err := xa.Receive(ctx, "XB-RC", rawB); err != nil || res.Status != federation.ReceiptAccepted {
		t.Fatalf("the message for B: %+v %+v", res, problem.As(err))
	}
	if err := xa.ProcessInbox(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := xa.Store.GetCaseMedia(ctx, caseB, ref.SHA256.String(), store.MediaReceived); err != nil {
		t.Fatalf("case B does not hold its recording: %v", err)
	}
	b, err := disk.Open(ctx, ref.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, _ := io.ReadAll(b); !bytes.Equal(got, rec) {
		t.Fatal("case B's recording differs from what XB-RC sent")
	}
}

// TestEraseDuringDelivery: two nodes over mTLS. XB-RC's caseworker sends a
// recording with a message about case B to XA-RC; while XB-RC's node is
// uploading it (its bandwidth capped), XA-RC withdraws case A, which holds
// the same bytes (received from XC-RC). The message for B is delivered
// with its media whole (before, XA-RC deleted the upload under way, XB-RC
// was answered not_found, a permanent failure, and dead-lettered it).
func TestEraseDuringDelivery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
	lnA := nodetest.Listen(t, f.Member(t, "XA-RC"))
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	const chunk = 64 << 10
	diskA, _ := tempDisk(t)
	diskB, _ := tempDisk(t)
	xa := nodetest.Start(t, f, "XA-RC", lnA, nodetest.Options{Media: &node.MediaOptions{Store: diskA, ChunkBytes: chunk}})
	// 128 KiB/s: the recording takes seconds to go, one chunk a request.
	xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{Media: &node.MediaOptions{Store: diskB, ChunkBytes: chunk,
		BandwidthPerPeer: 2 * chunk, RequestBytes: chunk}})
	cw := node.Actor{Name: "cw", Role: "caseworker"}
	const caseA, caseB = "XA-RC:TR-2024-0117", "XA-RC:ERASE-B"
	createTracingCases(t, xa, cw, caseA, caseB)
	if _, err := xa.Forward(ctx, cw, caseB, "XB-RC"); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, 60*time.Second, "case B at XB-RC", func() bool {
		_, err := xb.Store.GetCase(ctx, caseB)
		return err == nil
	})

	// XB-RC's caseworker uploads the recording (cleaned on completion).
	rec := cleantest.MP4Sized(1<<20, 7)
	sum := sha256.Sum256(rec)
	up, err := xb.StartMediaUpload(ctx, cw, caseB, node.MediaUploadRequest{SHA256: hex.EncodeToString(sum[:]), SizeBytes: int64(len(rec)), MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	if up, err = xb.WriteMediaUpload(ctx, cw, up.Upload, 0, bytes.NewReader(rec), nil); err != nil || !up.Complete {
		t.Fatalf("upload at XB-RC: %+v %v", up, err)
	}
	cleanSum, err := media.ParseDigest(up.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := diskB.Open(ctx, cleanSum)
	if err != nil {
		t.Fatal(err)
	}
	clean, err := io.ReadAll(blob)
	blob.Close()
	if err != nil {
		t.Fatal(err)
	}
	var list []byte
	for off := 0; off < len(clean); off += chunk {
		s := sha256.Sum256(clean[off:min(off+chunk, len(clean))])
		list = append(list, s[:]...)
	}
	root := sha256.Sum256(list)
	mediaOf := map[string]any{"sha256": up.SHA256, "media_type": "video/mp4", "size_bytes": len(clean),
		"duration_seconds": 3.5, "chunk_bytes": chunk, "chunks_sha256": hex.EncodeToString(root[:])}

	// Case A at XA-RC holds the same bytes, received whole from XC-RC.
	rawA := f.Envelope(t, "XC-RC", "XA-RC", federation.KindMessageDeliver, caseA, body(t, "message.video_message", func(m map[string]any) {
		m["case_id"], m["message_id"] = caseA, "XC-RC:VID-A"
		delete(m, "reply_to")
		m["from"] = map[string]any{"member": "XC-RC"}
		m["to"] = map[string]any{"member": "XA-RC"}
		m["media"] = mediaOf
	}))
	cA, _ := federation.ClaimsOf(rawA)
	ref, ok := media.AttachedRef(&federation.Envelope{Claims: cA})
	if !ok {
		t.Fatal("no media in the message for A")
	}
	idC := media.UploadID("XC-RC", ref)
	if _, _, err := diskA.CreateUpload(ctx, idC, "XC-RC", media.Expect{SHA256: ref.SHA256, Size: ref.Size}, []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	commitInStore(t, diskA, idC, clean)
	if res, err := xa.Receive(ctx, "XC-RC", rawA); err != nil || res.Status != federation.ReceiptAccepted {
		t.Fatalf("the message for A: %+v %+v", res, problem.As(err))
	}

	// XB-RC sends the message for B; XA-RC withdraws A mid-upload.
	msgB := body(t, "message.video_message", func(m map[string]any) {
		m["case_id"], m["message_id"] = caseB, "XB-RC:VID-B"
		delete(m, "reply_to")
		m["from"] = map[string]any{"member": "XB-RC"}
		m["to"] = map[string]any{"member": "XA-RC"}
		m["media"] = map[string]any{"sha256": up.SHA256, "media_type": "video/mp4", "size_bytes": len(clean), "duration_seconds": 3.5}
	})
	res, err := xb.SendMessage(ctx, cw, caseB, "XA-RC", msgB)
	if err != nil || res.State != "queued" {
		t.Fatalf("send: %v %+v", err, res)
	}
	idB := media.UploadID("XB-RC", ref)
	nodetest.WaitFor(t, 60*time.Second, "XB-RC's upload under way at XA-RC", func() bool {
		st, err := diskA.Upload(ctx, idB)
		return err == nil && st.Offset > 0
	})
	if st, err := diskA.Upload(ctx, idB); err != nil || st.Complete {
		t.Fatalf("XB-RC's upload is not under way: %+v %v", st, err)
	}
	nodetest.WaitFor(t, 60*time.Second, "the message for A processed", func() bool {
		_, err := xa.Store.GetCaseMedia(ctx, caseA, ref.SHA256.String(), store.MediaReceived)
		return err == nil
	})
	if _, err := xa.Withdraw(ctx, cw, caseA, "consent_withdrawn"); err != nil {
		t.Fatal(err)
	}
	if st, err := diskA.Upload(ctx, idB); err != nil || st.Complete {
		t.Errorf("the withdrawal of A took XB-RC's upload for B: %+v %v", st, err)
	}

	var it store.OutboxItem
	nodetest.WaitFor(t, 120*time.Second, "the message for B concluded", func() bool {
		it, err = xb.Store.GetOutbox(ctx, res.OutboxID)
		return err == nil && (it.State == store.Delivered || it.State == store.Dead)
	})
	if it.State != store.Delivered {
		t.Fatalf("the message for B was not delivered: %s, attempts %d, %q", it.State, it.Attempts, it.LastError)
	}
	nodetest.WaitFor(t, 60*time.Second, "case B's recording at XA-RC", func() bool {
		_, err := xa.Store.GetCaseMedia(ctx, caseB, ref.SHA256.String(), store.MediaReceived)
		return err == nil
	})
	b, err := diskA.Open(ctx, ref.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, _ := io.ReadAll(b); !bytes.Equal(got, clean) {
		t.Fatal("case B's recording at XA-RC differs from what XB-RC sent")
	}
}
