package console_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/store"
)

// wav is a short mono 8 kHz 16-bit recording (a tone): something a browser
// really plays.
func wav(seconds float64) []byte {
	const rate = 8000
	n := int(seconds * rate)
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + 2*n))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1)) // PCM
	w(uint16(1)) // mono
	w(uint32(rate))
	w(uint32(2 * rate))
	w(uint16(2))
	w(uint16(16))
	b.WriteString("data")
	w(uint32(2 * n))
	for i := range n {
		w(int16(8000 * math.Sin(2*math.Pi*440*float64(i)/rate)))
	}
	return b.Bytes()
}

// attach uploads a recording to a case through the node's resumable
// upload, as the local API does, and returns its sha256.
func attach(t *testing.T, n *node.Node, caseID string, body []byte, mediaType string) string {
	t.Helper()
	s := sha256.Sum256(body)
	sum := hex.EncodeToString(s[:])
	a := node.Actor{Name: "cw-amal", Role: console.RoleCaseworker}
	up, err := n.StartMediaUpload(context.Background(), a, caseID, node.MediaUploadRequest{SHA256: sum, SizeBytes: int64(len(body)), MediaType: mediaType})
	if err != nil {
		t.Fatal(err)
	}
	if !up.Complete {
		if up, err = n.WriteMediaUpload(context.Background(), a, up.Upload, up.Offset, bytes.NewReader(body[up.Offset:]), func() {}); err != nil || !up.Complete {
			t.Fatalf("upload: %v %+v", err, up)
		}
	}
	return sum
}

// TestCaseworkerPlaysARecording: a case's recordings are listed on its
// page with a player; the bytes stream from the console's origin with
// ranges, each read audited; other roles and other cases get nothing.
func TestCaseworkerPlaysARecording(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	cw := e.browser()
	cw.signIn(console.RoleCaseworker)
	id := cw.createCase()
	other := cw.createCase()
	rec := wav(0.5)
	sum := attach(t, e.xa.Node, id, rec, "audio/wav")

	p := cw.get("/console/cases/" + id)
	if !strings.Contains(p.body, "Voice message") || !strings.Contains(p.body, "/media/"+sum) {
		t.Fatalf("case page lists no recording:\n%s", p.body)
	}
	p = cw.get("/console/cases/" + id + "/media/" + sum)
	if p.status != http.StatusOK || !strings.Contains(p.body, `<audio class="player" controls`) {
		t.Fatalf("player: %d\n%s", p.status, p.body)
	}
	before := len(auditRows(t, e, "media.read"))
	req, _ := http.NewRequest(http.MethodGet, e.base+"/console/cases/"+id+"/media/"+sum+"/raw", nil)
	req.Header.Set("Range", "bytes=0-11")
	r := cw.do(req)
	if r.status != http.StatusPartialContent || r.body != string(rec[:12]) || r.header.Get("Content-Type") != "audio/wav" {
		t.Fatalf("range: %d %q %v", r.status, r.body, r.header)
	}
	if after := len(auditRows(t, e, "media.read")); after != before+1 {
		t.Errorf("media.read audited %d times for one read", after-before)
	}
	if r := cw.get("/console/cases/" + id + "/media/" + sum + "/raw"); r.status != http.StatusOK || r.body != string(rec) {
		t.Errorf("whole recording: %d, %d bytes", r.status, len(r.body))
	}
	for _, bad := range []string{
		"/console/cases/" + other + "/media/" + sum + "/raw", // another case
		"/console/cases/" + other + "/media/" + sum,
		"/console/cases/" + id + "/media/" + strings.Repeat("0", 64) + "/raw",
		"/console/cases/" + id + "/media/" + strings.ToUpper(sum) + "/raw",
	} {
		if r := cw.get(bad); r.status != http.StatusNotFound || strings.Contains(r.body, string(rec[44:60])) {
			t.Errorf("%s: %d", bad, r.status)
		}
	}
	tok := cw.csrf("/console/cases/" + id + "/media/" + sum)
	for _, f := range []url.Values{{"to": {"XB-RC"}, "duration": {"-1"}}, {"to": {"XB-RC"}, "duration": {"NaN"}}, {"to": {"xb"}, "duration": {"1"}}, {"duration": {"1"}}} {
		f.Set("csrf", tok)
		if r := cw.post("/console/cases/"+id+"/media/"+sum+"/send", f); r.status != http.StatusUnprocessableEntity {
			t.Errorf("send %v: %d", f, r.status)
		}
	}
	if sent, _ := e.xa.Store.ListOutbox(context.Background(), store.OutboxFilter{CaseID: id}); len(sent) != 0 {
		t.Errorf("refused sends queued %d envelopes", len(sent))
	}
	op := e.browser()
	op.signIn(console.RoleOperator)
	if r := op.get("/console/cases/" + id + "/media/" + sum + "/raw"); r.status != http.StatusForbidden {
		t.Errorf("an operator streams a recording: %d", r.status)
	}
	if r := op.get("/console/cases/" + id); strings.Contains(r.body, "/media/") {
		t.Error("an operator's case page lists recordings")
	}
}

// TestRecordingUploadsInPieces: the recorder's upload (the node's resumable
// upload behind two console routes): started with the form's token,
// written in pieces with the token in a header, refused without it or at
// the wrong offset, and attached to the case once its SHA-256 checks.
func TestRecordingUploadsInPieces(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	cw := e.browser()
	cw.signIn(console.RoleCaseworker)
	id := cw.createCase()
	other := cw.createCase()
	if p := cw.get("/console/cases/" + id + "/record"); p.status != 200 || !strings.Contains(p.header.Get("Permissions-Policy"), "camera=(self)") || !strings.Contains(p.body, "record.js") {
		t.Fatalf("record page: %d %v", p.status, p.header.Get("Permissions-Policy"))
	}
	if p := cw.get("/console/cases/" + id); strings.Contains(p.header.Get("Permissions-Policy"), "camera=(self)") {
		t.Error("the camera is allowed beyond the record page")
	}
	rec := wav(0.3)
	s := sha256.Sum256(rec)
	sum := hex.EncodeToString(s[:])
	tok := cw.csrf("/console/cases/" + id + "/record")
	p := cw.post("/console/cases/"+id+"/record/start", url.Values{"csrf": {tok}, "sha256": {sum}, "size": {strconv.Itoa(len(rec))}, "type": {"audio/wav"}})
	var a struct {
		Upload   string
		Offset   int64
		Complete bool
		Code     string
	}
	if err := json.Unmarshal([]byte(p.body), &a); err != nil || p.status != 200 || a.Upload == "" || a.Offset != 0 {
		t.Fatalf("start: %d %s", p.status, p.body)
	}
	piece := func(path string, off int, body []byte, tok string) page {
		return cw.postBytes(fmt.Sprintf("%s?offset=%d", path, off), body, tok)
	}
	up := "/console/cases/" + id + "/record/" + a.Upload
	if p := piece(up, 0, rec[:1000], ""); p.status != http.StatusForbidden {
		t.Errorf("a piece without the token: %d", p.status)
	}
	if p := piece("/console/cases/"+other+"/record/"+a.Upload, 0, rec[:1000], tok); p.status != http.StatusNotFound {
		t.Errorf("a piece under another case: %d %s", p.status, p.body)
	}
	if p := piece(up, 0, rec[:1000], tok); p.status != 200 || !strings.Contains(p.body, `"offset":1000`) {
		t.Fatalf("first piece: %d %s", p.status, p.body)
	}
	if p := piece(up, 0, rec[:1000], tok); p.status != http.StatusConflict || !strings.Contains(p.body, `"offset":1000`) {
		t.Errorf("a piece at a stale offset: %d %s", p.status, p.body)
	}
	if p := piece(up, 1000, rec[1000:], tok); p.status != 200 || !strings.Contains(p.body, `"complete":true`) {
		t.Fatalf("last piece: %d %s", p.status, p.body)
	}
	if p := cw.get("/console/cases/" + id); !strings.Contains(p.body, "/media/"+sum) {
		t.Error("the uploaded recording is not listed on the case")
	}
	if got := cw.get("/console/cases/" + id + "/media/" + sum + "/raw"); got.body != string(rec) {
		t.Error("the recording read back differs")
	}
}
