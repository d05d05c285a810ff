package main

import (
	"bytes"

	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/mediaclean/cleantest"
)

// TestCaseMediaCommands: attach a recording, list it, fetch it whole and
// resume a partial fetch; the fetched file is checked against its sha256.
func TestCaseMediaCommands(t *testing.T) {
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	tn := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})
	sum := sha256.Sum256([]byte("cw-token"))
	h := httpapi.LocalHandler(tn.Node, []config.Token{{Name: "cw", Role: "caseworker", SHA256: hex.EncodeToString(sum[:])}}, http.NotFoundHandler(), nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	api := []string{"case", "--api", srv.URL, "--token", "cw-token"}
	if out, err := runCLI(t, append(api, "create", filepath.Join("demodata", "case.json"))...); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	dir := t.TempDir()
	rec := cleantest.MP4Sized(3<<20+7, 7) // no metadata: kept as it is
	recSum := sha256.Sum256(rec)
	hexSum := hex.EncodeToString(recSum[:])
	file := filepath.Join(dir, "video.mp4")
	os.WriteFile(file, rec, 0o600)

	out, err := runCLI(t, append(api, "media", "attach", "XA-RC:DEMO-0001", file, "--type", "video/mp4")...)
	if err != nil || !strings.Contains(out, `"sha256": "`+hexSum) {
		t.Fatalf("attach: %v\n%s", err, out)
	}
	// A photo with metadata: the printed sha256 is the cleaned copy's.
	photo := cleantest.JPEG()
	photoSum := sha256.Sum256(photo)
	os.WriteFile(filepath.Join(dir, "photo.jpg"), photo, 0o600)
	out, err = runCLI(t, append(api, "media", "attach", "XA-RC:DEMO-0001", filepath.Join(dir, "photo.jpg"), "--type", "image/jpeg")...)
	if err != nil || !strings.Contains(out, `"declared_sha256": "`+hex.EncodeToString(photoSum[:])) || strings.Contains(out, `"sha256": "`+hex.EncodeToString(photoSum[:])) ||
		!strings.Contains(out, `"exif": 1`) {
		t.Fatalf("attach a photo: %v\n%s", err, out)
	}
	out, err = runCLI(t, append(api, "media", "list", "XA-RC:DEMO-0001")...)
	if err != nil || !strings.Contains(out, hexSum) || !strings.Contains(out, `"available": true`) || !strings.Contains(out, `"direction": "attached"`) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	// A partial file (a fetch cut earlier) is resumed with a range request.
	got := filepath.Join(dir, "got.ogg")
	os.WriteFile(got, rec[:1<<20], 0o600)
	out, err = runCLI(t, append(api, "media", "get", "XA-RC:DEMO-0001", hexSum, "--out", got)...)
	if b, _ := os.ReadFile(got); err != nil || !bytes.Equal(b, rec) {
		t.Fatalf("get: %v\n%s", err, out)
	}
	// A corrupt partial file is detected.
	bad := filepath.Join(dir, "bad.ogg")
	os.WriteFile(bad, bytes.Repeat([]byte{1}, 1<<20), 0o600)
	if _, err := runCLI(t, append(api, "media", "get", "XA-RC:DEMO-0001", hexSum, "--out", bad)...); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("a corrupt partial file went unnoticed: %v", err)
	}
	// Unknown media: the problem document, exit 1.
	if out, err := runCLI(t, append(api, "media", "get", "XA-RC:DEMO-0001", strings.Repeat("0", 64), "--out", filepath.Join(dir, "x"))...); err == nil || !strings.Contains(out, "not_found") {
		t.Fatalf("unknown media: %v\n%s", err, out)
	}
}
