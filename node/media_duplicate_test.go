package node_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/schema"
)

// TestMediaDuplicateAfterErasure: a message with attached media, accepted
// and processed, is answered duplicate when its bytes come again
// (FLX-MED-010, FLX-DLV-009), also once a withdrawal erased the case's media:
// not media_incomplete, which would have the sender upload the erased
// recording again to a node that then holds it unlinked.
func TestMediaDuplicateAfterErasure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	disk, _ := tempDisk(t)
	const chunk = 64 << 10
	xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true,
		Media: &node.MediaOptions{Store: disk, ChunkBytes: chunk}})
	cw := node.Actor{Name: "cw", Role: "caseworker"}
	const caseID = "XA-RC:TR-2024-0117"
	if _, err := xa.CreateCase(ctx, cw, body(t, "case.tracing_request", nil)); err != nil {
		t.Fatal(err)
	}

	// XB-RC's recording, received whole in its upload.
	rec := make([]byte, chunk+1000)
	rand.Read(rec)
	var hashes []byte
	for off := 0; off < len(rec); off += chunk {
		s := sha256.Sum256(rec[off:min(off+chunk, len(rec))])
		hashes = append(hashes, s[:]...)
	}
	whole, root := sha256.Sum256(rec), sha256.Sum256(hashes)
	mref := schema.MediaRef{SHA256: hex.EncodeToString(whole[:]), MediaType: "video/mp4", SizeBytes: int64(len(rec)),
		ChunkBytes: chunk, ChunksSHA256: hex.EncodeToString(root[:])}
	ref, err := media.RefFromSchema(mref)
	if err != nil {
		t.Fatal(err)
	}
	id := media.UploadID("XB-RC", ref)
	if _, _, err := disk.CreateUpload(ctx, id, "XB-RC", media.Expect{SHA256: ref.SHA256, Size: ref.Size}, []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := disk.WriteUpload(ctx, id, 0, rec); err != nil {
		t.Fatal(err)
	}
	if err := disk.SyncUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := disk.CommitUpload(ctx, id); err != nil {
		t.Fatal(err)
	}

	msg := body(t, "message.video_message", func(m map[string]any) {
		m["case_id"], m["message_id"] = caseID, "XB-RC:VID-1"
		delete(m, "reply_to")
		m["from"] = map[string]any{"member": "XB-RC"}
		m["to"] = map[string]any{"member": "XA-RC"}
		m["media"] = map[string]any{"sha256": mref.SHA256, "media_type": mref.MediaType, "size_bytes": mref.SizeBytes,
			"duration_seconds": 3.5, "chunk_bytes": mref.ChunkBytes, "chunks_sha256": mref.ChunksSHA256}
	})
	raw := f.Envelope(t, "XB-RC", "XA-RC", federation.KindMessageDeliver, caseID, msg)
	receive := func(want federation.ReceiptStatus, when string) {
		t.Helper()
		res, err := xa.Receive(ctx, "XB-RC", raw)
		if err != nil || res.Status != want {
			t.Fatalf("the message %s: %+v %+v, want %s", when, res.Status, problem.As(err), want)
		}
	}
	receive(federation.ReceiptAccepted, "with its media whole")
	if err := xa.ProcessInbox(ctx); err != nil {
		t.Fatal(err)
	}
	receive(federation.ReceiptDuplicate, "again")

	if _, err := xa.Withdraw(ctx, cw, caseID, "consent_withdrawn"); err != nil {
		t.Fatal(err)
	}
	if _, err := disk.Stat(ctx, ref.SHA256); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("the withdrawal left the recording: %v", err)
	}
	receive(federation.ReceiptDuplicate, "again after the withdrawal erased its media")
	if _, err := disk.Stat(ctx, ref.SHA256); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("the recording is back after the duplicate: %v", err)
	}
}
