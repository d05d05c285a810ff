package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/mediaclean/cleantest"
	"github.com/familylinks/flx/node/store"
)

// recording is a plain MP4 of size bytes (pseudo-random samples, no
// metadata): what the media tests move around. The node refuses bytes it
// cannot parse as the declared type, so random bytes no longer do.
func recording(size int) []byte { return cleantest.MP4Sized(size, mrand.Uint64()) }

// cleanUpload is the local API's answer to a finished upload.
type cleanUpload struct {
	URL            string `json:"url"`
	SHA256         string `json:"sha256"`
	DeclaredSHA256 string `json:"declared_sha256"`
	Offset         int64  `json:"offset"`
	Complete       bool   `json:"complete"`
	Cleaned        *struct {
		SizeBytes int64          `json:"size_bytes"`
		Removed   map[string]int `json:"removed"`
	} `json:"cleaned"`
	Code string `json:"code"`
}

// uploadMedia declares b (its sha256, size, mediaType) at case caseID and
// writes it whole; it returns the status of the write and the answer.
func uploadMedia(t *testing.T, url, token, caseID, mediaType string, b []byte) (int, cleanUpload) {
	t.Helper()
	sum := sha256.Sum256(b)
	resp, body := call(t, http.MethodPost, url+"/api/v1/cases/"+caseID+"/media", token, "application/json",
		strings.NewReader(fmt.Sprintf(`{"sha256":%q,"size_bytes":%d,"media_type":%q}`, hex.EncodeToString(sum[:]), len(b), mediaType)), nil)
	var up cleanUpload
	if json.Unmarshal(body, &up); resp.StatusCode != http.StatusCreated {
		return resp.StatusCode, up
	}
	resp, body = call(t, http.MethodPatch, url+up.URL, token, media.ContentTypeChunks, bytes.NewReader(b), map[string]string{"Upload-Offset": "0"})
	up = cleanUpload{}
	json.Unmarshal(body, &up)
	return resp.StatusCode, up
}

// canariesUnder lists the files under dir that hold a canary.
func canariesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var bad []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if found := cleantest.Found(b); len(found) > 0 {
			bad = append(bad, fmt.Sprintf("%s: %v", p, found))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bad
}

// TestMediaMetadataNeverLeaves: XA-RC's caseworker attaches a video, a
// voice message and a photo whose containers carry canaries in every
// metadata place (EXIF GPS, XMP, IPTC, comments, udta ©xyz, Apple keys,
// Opus tags, ...) and sends the recordings to XB-RC over mTLS. XB-RC
// stores the recordings whole, and no canary byte is in them or anywhere
// in its media store; XA-RC keeps no original either. Bytes the node
// cannot parse as their declared type are refused with
// media_not_cleanable and nothing of them is stored.
func TestMediaMetadataNeverLeaves(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, testMediaMetadataNeverLeaves)
}

func testMediaMetadataNeverLeaves(t *testing.T, d nodetest.Dialect) {
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	lnA := nodetest.Listen(t, f.Member(t, "XA-RC"))
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	diskA, err := media.OpenDisk(dirA)
	if err != nil {
		t.Fatal(err)
	}
	diskB, err := media.OpenDisk(dirB)
	if err != nil {
		t.Fatal(err)
	}
	xa := nodetest.Start(t, f, "XA-RC", lnA, nodetest.Options{Dialect: d, Media: &node.MediaOptions{Store: diskA, ChunkBytes: 64 << 10}})
	xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{Dialect: d, Media: &node.MediaOptions{Store: diskB, ChunkBytes: 64 << 10}})
	urlA, tokA := localAPI(t, xa)
	urlB, tokB := localAPI(t, xb)
	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := xa.Forward(ctx, cw, demoCase, "XB-RC"); err != nil {
		t.Fatal(err)
	}
	waitProcessed(t, xb.Store, demoCase, string(federation.KindCaseCreate), 1)

	samples := bytes.Repeat([]byte("video samples, copied as they are; "), 6000)
	attached := []struct {
		name, mediaType, kind string
		b                     []byte
	}{
		{"video", "video/mp4", "video_message", cleantest.MP4(samples).File},
		{"voice", "audio/ogg", "voice_message", cleantest.Opus(4)},
		{"photo", "image/jpeg", "", cleantest.JPEG()},
		{"png", "image/png", "", cleantest.PNG()},
	}
	var outbox []int64
	sent := map[string]string{} // sha256 sent -> what
	for i, a := range attached {
		if len(cleantest.Found(a.b)) == 0 {
			t.Fatalf("%s: the fixture carries no canary", a.name)
		}
		status, up := uploadMedia(t, urlA, tokA, demoCase, a.mediaType, a.b)
		if status != http.StatusOK || !up.Complete {
			t.Fatalf("%s: upload %d %+v", a.name, status, up)
		}
		if a.kind == "" {
			continue
		}
		// The message names the sha256 the node answered: the media it
		// stores and sends. The voice message names the sha256 of the file
		// as uploaded (a client that hashed it and did not read the
		// answer), with its size: the node sends the cleaned copy.
		named := up.SHA256
		if a.name == "voice" {
			named = up.DeclaredSHA256
		}
		doc, _ := json.Marshal(map[string]any{
			"schema": "flx/v1/message", "message_id": fmt.Sprintf("XA-RC:META-%d", i), "case_id": demoCase, "kind": a.kind,
			"channel": strings.TrimSuffix(a.kind, "_message"), "created_at": "2026-11-12T15:00:00Z",
			"from": map[string]any{"person": "p1", "member": "XA-RC"}, "to": map[string]any{"person": "p2", "member": "XB-RC"},
			"delivery": map[string]any{"state": "collected", "at": "2026-11-12T15:00:00Z"},
			"media":    map[string]any{"sha256": named, "media_type": a.mediaType, "size_bytes": len(a.b), "duration_seconds": 3},
		})
		res, err := xa.SendMessage(ctx, cw, demoCase, "XB-RC", doc)
		if err != nil || res.State != "queued" {
			t.Fatalf("%s: send %v %+v", a.name, err, res)
		}
		outbox = append(outbox, res.OutboxID)
		sent[up.SHA256] = a.name
	}
	nodetest.WaitFor(t, 60*time.Second, "the media messages delivered", func() bool {
		for _, id := range outbox {
			if it, err := xa.Store.GetOutbox(ctx, id); err != nil || it.State != store.Delivered {
				return false
			}
		}
		return true
	})
	waitProcessed(t, xb.Store, demoCase, string(federation.KindMessageDeliver), len(outbox))

	// What XB-RC holds: the recordings, whole, without a canary.
	resp, body := call(t, http.MethodGet, urlB+"/api/v1/cases/"+demoCase+"/media", tokB, "", nil, nil)
	var list struct {
		Media []node.CaseMedia `json:"media"`
	}
	if json.Unmarshal(body, &list); resp.StatusCode != 200 || len(list.Media) != len(outbox) {
		t.Fatalf("media at XB-RC: %d %s", resp.StatusCode, body)
	}
	for _, m := range list.Media {
		resp, got := call(t, http.MethodGet, urlB+"/api/v1/cases/"+demoCase+"/media/"+m.SHA256, tokB, "", nil, nil)
		if resp.StatusCode != 200 || fmt.Sprintf("%x", sha256.Sum256(got)) != m.SHA256 || sent[m.SHA256] == "" {
			t.Fatalf("media %s at XB-RC: %d, %d bytes", m.SHA256, resp.StatusCode, len(got))
		}
		if found := cleantest.Found(got); len(found) > 0 {
			t.Errorf("XB-RC received the %s with its metadata: %v", sent[m.SHA256], found)
		}
	}
	if bad := canariesUnder(t, dirB); len(bad) > 0 {
		t.Errorf("canaries in XB-RC's media store: %v", bad)
	}
	if bad := canariesUnder(t, dirA); len(bad) > 0 {
		t.Errorf("canaries in XA-RC's media store (the originals are not kept): %v", bad)
	}

	// The answers: what the caseworker sent and what was removed.
	for _, a := range attached {
		status, up := uploadMedia(t, urlA, tokA, "XA-RC:DEMO-0001", a.mediaType, a.b)
		orig := sha256.Sum256(a.b)
		if status != http.StatusOK || !up.Complete || up.DeclaredSHA256 != hex.EncodeToString(orig[:]) ||
			up.SHA256 == up.DeclaredSHA256 || up.Cleaned == nil || len(up.Cleaned.Removed) == 0 {
			t.Errorf("%s: the answer does not say what was removed: %d %+v", a.name, status, up)
			continue
		}
		for kind := range up.Cleaned.Removed {
			if strings.Contains(kind, "CANARY") {
				t.Errorf("%s: the answer carries values", a.name)
			}
		}
		if _, err := diskA.Stat(ctx, media.Digest(orig)); !errors.Is(err, media.ErrNotFound) {
			t.Errorf("%s: XA-RC kept the original: %v", a.name, err)
		}
		t.Logf("%s: removed %v", a.name, up.Cleaned.Removed)
	}

	// Refused: bytes that are not the declared type, truncated, or a type
	// the node cannot clean. Nothing of them is stored.
	jp := cleantest.JPEG()
	for _, bad := range []struct {
		name, mediaType string
		b               []byte
	}{
		{"truncated photo", "image/jpeg", jp[:len(jp)/2]},
		{"photo declared as video", "video/mp4", jp},
		{"avi", "video/x-msvideo", recording(4096)},
	} {
		status, up := uploadMedia(t, urlA, tokA, demoCase, bad.mediaType, bad.b)
		if status != http.StatusUnprocessableEntity || up.Code != "media_not_cleanable" {
			t.Errorf("%s: %d %+v, want 422 media_not_cleanable", bad.name, status, up)
		}
		if _, err := diskA.Stat(ctx, media.Sum(bad.b)); !errors.Is(err, media.ErrNotFound) {
			t.Errorf("%s: its blob is stored: %v", bad.name, err)
		}
	}
	ups, err := diskA.Uploads(ctx, "")
	if err != nil || len(ups) != 0 {
		t.Errorf("uploads left at XA-RC: %v %+v", err, ups)
	}
	resp, body = call(t, http.MethodGet, urlA+"/api/v1/cases/"+demoCase+"/media", tokA, "", nil, nil)
	if json.Unmarshal(body, &list); resp.StatusCode != 200 || len(list.Media) != len(attached) {
		t.Errorf("media of the case at XA-RC: %d %s", resp.StatusCode, body)
	}
}

// TestMediaWithMetadataNotSent: media linked to a case without going
// through the cleaner (attached before the node cleaned media, or put in
// its store by other means) is checked before it is pushed: it still
// carries metadata, so the message is dead-lettered with
// media_not_cleanable and XB-RC receives no byte of it.
func TestMediaWithMetadataNotSent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	lnA := nodetest.Listen(t, f.Member(t, "XA-RC"))
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	diskA, err := media.OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dirB := t.TempDir()
	diskB, err := media.OpenDisk(dirB)
	if err != nil {
		t.Fatal(err)
	}
	xa := nodetest.Start(t, f, "XA-RC", lnA, nodetest.Options{Media: &node.MediaOptions{Store: diskA, ChunkBytes: 64 << 10}})
	xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{Media: &node.MediaOptions{Store: diskB, ChunkBytes: 64 << 10}})
	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := xa.Forward(ctx, cw, demoCase, "XB-RC"); err != nil {
		t.Fatal(err)
	}
	waitProcessed(t, xb.Store, demoCase, string(federation.KindCaseCreate), 1)

	video := cleantest.MP4(bytes.Repeat([]byte("samples "), 20000)).File
	ref, hashes, err := media.Describe(bytes.NewReader(video), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := diskA.Put(ctx, media.Expect{SHA256: ref.SHA256, Size: ref.Size}, bytes.NewReader(video)); err != nil {
		t.Fatal(err)
	}
	if err := xa.Store.Tx(ctx, func(tx store.Tx) error {
		_, err := tx.AddMedia(ctx, store.MediaItem{CaseID: demoCase, SHA256: ref.SHA256.String(), MediaType: "video/mp4",
			SizeBytes: ref.Size, ChunkBytes: ref.ChunkBytes, ChunksSHA256: ref.ChunksRoot.String(), ChunkHashes: hashes.Bytes(),
			Direction: store.MediaAttached, AddedBy: cw.Name})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	res, err := xa.SendMessage(ctx, cw, demoCase, "XB-RC", videoMessage("XA-RC:VID-OLD-1", ref.SHA256.String(), len(video), 3))
	if err != nil || res.State != "queued" {
		t.Fatalf("send: %v %+v", err, res)
	}
	var last store.OutboxItem
	nodetest.WaitFor(t, 60*time.Second, "the message dead-lettered", func() bool {
		last, err = xa.Store.GetOutbox(ctx, res.OutboxID)
		return err == nil && last.State == store.Dead
	})
	if !strings.Contains(last.LastError, "media_not_cleanable") {
		t.Errorf("dead-lettered for %q, want media_not_cleanable", last.LastError)
	}
	if bad := canariesUnder(t, dirB); len(bad) > 0 {
		t.Errorf("canaries at XB-RC: %v", bad)
	}
	if _, err := diskB.Stat(ctx, ref.SHA256); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("XB-RC holds the recording: %v", err)
	}
}
