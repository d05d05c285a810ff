package conformance

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/familylinks/flx/federation"
)

// Media (SPEC.md §18): the tester offers a message.deliver whose signed
// reference attaches media, uploads it chunk by chunk, and tries what a
// careless or hostile peer would.

const (
	mediaUploads = "/flx/v1/media/uploads"
	chunkTest    = 64 << 10 // the smallest chunk: small media, several chunks
)

// testMedia is media the tester attaches: its bytes, chunk hashes and the
// signed envelope of the message that references it.
type testMedia struct {
	data   []byte
	hashes []byte // the 32-byte digests of the chunks, concatenated
	env    []byte
	claims Claims // env's claims
	caseID string
}

// newMedia builds size bytes of media in chunks of chunkTest and the
// message.deliver envelope (from key, to aud) whose media reference binds
// them; declared overrides the signed size_bytes when non-zero.
func (t *T) newMedia(size int, aud string, declared int64) *testMedia {
	return t.mediaFrom(MemberTester, keyTester, randBytes(size), aud, declared)
}

// mediaFrom is newMedia of the bytes given, in a message from member iss
// signed with key.
func (t *T) mediaFrom(iss, key string, data []byte, aud string, declared int64) *testMedia {
	size := len(data)
	m := &testMedia{data: data, caseID: newCaseID(iss)}
	for off := 0; off < size; off += chunkTest {
		s := sha256.Sum256(m.data[off:min(off+chunkTest, size)])
		m.hashes = append(m.hashes, s[:]...)
	}
	whole := sha256.Sum256(m.data)
	root := sha256.Sum256(m.hashes)
	if declared == 0 {
		declared = int64(size)
	}
	doc := setMembers(example("message.video_message"), map[string]any{
		"case_id": m.caseID, "message_id": iss + ":vid-" + hex.EncodeToString(randBytes(4)),
		"from": map[string]any{"member": iss}, "to": map[string]any{"member": aud}, "reply_to": nil,
		"media": map[string]any{"sha256": hex.EncodeToString(whole[:]), "media_type": "video/mp4", "size_bytes": declared,
			"duration_seconds": 12.5, "chunk_bytes": chunkTest, "chunks_sha256": hex.EncodeToString(root[:])},
	})
	c := t.claims(federation.KindMessageDeliver, doc)
	c.Iss, c.Aud = iss, aud
	m.claims = c
	m.env = t.sign(c, key)
	return m
}

// offer posts the offer of m with the hash list given, as cert.
func (t *T) offer(cert string, env, hashes []byte) *Answer {
	body, _ := json.Marshal(map[string]string{"envelope": string(env), "chunk_hashes": base64.RawURLEncoding.EncodeToString(hashes)})
	ans, err := t.request(cert, http.MethodPost, mediaUploads, body, "application/json")
	if err != nil {
		t.Fatalf("POST %s: %v", mediaUploads, err)
	}
	return ans
}

// mustOffer offers m as the tester and returns its upload path.
func (t *T) mustOffer(m *testMedia) string {
	ans := t.offer(certTester, m.env, m.hashes)
	if ans.Status != http.StatusCreated && ans.Status != http.StatusOK {
		t.Fatalf("offer of valid media: want 201, got %s", ans)
	}
	loc := ans.Header.Get("Location")
	if !strings.HasPrefix(loc, mediaUploads+"/") || ans.Header.Get("Upload-Offset") != "0" || ans.Header.Get("Upload-Length") != strconv.Itoa(len(m.data)) {
		t.Fatalf("offer answer: Location %q, Upload-Offset %q, Upload-Length %q", loc, ans.Header.Get("Upload-Offset"), ans.Header.Get("Upload-Length"))
	}
	return loc
}

// patch appends p at off to the upload at path, as cert.
func (t *T) patch(cert, path string, off int, p []byte) *Answer {
	req, err := http.NewRequestWithContext(t.ctx, http.MethodPatch, t.target.String()+path, strings.NewReader(string(p)))
	if err != nil {
		t.Fatalf("PATCH: %v", err)
	}
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.Itoa(off))
	return t.do(req, cert)
}

// head asks where the upload at path stands, as cert.
func (t *T) head(cert, path string) *Answer {
	req, err := http.NewRequestWithContext(t.ctx, http.MethodHead, t.target.String()+path, nil)
	if err != nil {
		t.Fatalf("HEAD: %v", err)
	}
	return t.do(req, cert)
}

func (t *T) do(req *http.Request, cert string) *Answer {
	resp, err := t.client(cert).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for b.Len() < 1<<20 {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: []byte(b.String())}
}

// checkMediaBeforeEnvelope checks that a message.deliver with attached
// media is refused with media_incomplete until the media is complete, the
// upload takes the chunks in order (204 with the new offset), and then the
// envelope is accepted with a receipt.
func checkMediaBeforeEnvelope(t *T) {
	m := t.newMedia(3*chunkTest+1000, t.candidate, 0)
	mustRefuse(t, t.post(t, m.env), "media_incomplete")
	loc := t.mustOffer(m)
	if ans := t.patch(certTester, loc, 0, m.data[:2*chunkTest]); ans.Status != http.StatusNoContent || ans.Header.Get("Upload-Offset") != strconv.Itoa(2*chunkTest) {
		t.Fatalf("PATCH of two good chunks: want 204 with Upload-Offset %d, got %s (offset %q)", 2*chunkTest, ans, ans.Header.Get("Upload-Offset"))
	}
	mustRefuse(t, t.post(t, m.env), "media_incomplete")
	if ans := t.head(certTester, loc); ans.Status != http.StatusOK || ans.Header.Get("Upload-Offset") != strconv.Itoa(2*chunkTest) {
		t.Fatalf("HEAD after two chunks: want 200 with Upload-Offset %d, got %d %q", 2*chunkTest, ans.Status, ans.Header.Get("Upload-Offset"))
	}
	if ans := t.patch(certTester, loc, 2*chunkTest, m.data[2*chunkTest:]); ans.Status != http.StatusNoContent || ans.Header.Get("Upload-Offset") != strconv.Itoa(len(m.data)) {
		t.Fatalf("PATCH of the rest: want 204 with Upload-Offset %d, got %s", len(m.data), ans)
	}
	ans := t.post(t, m.env)
	if ans.Status != http.StatusAccepted {
		t.Fatalf("envelope after its whole media: want 202, got %s", ans)
	}
}

// checkMediaOfferVerified checks that an offer is verified like an
// envelope: a hash list that is not the signed one, an envelope addressed
// to another member, and an envelope without attached media are refused.
func checkMediaOfferVerified(t *T) {
	m := t.newMedia(2*chunkTest, t.candidate, 0)
	bad := append([]byte{}, m.hashes...)
	bad[0] ^= 1
	if _, err := shouldRefuse(t.offer(certTester, m.env, bad), "media_mismatch"); err != nil {
		t.Errorf("hash list not the signed one: %v", err)
	}
	other := t.newMedia(2*chunkTest, MemberPeer, 0)
	if _, err := shouldRefuse(t.offer(certTester, other.env, other.hashes), "wrong_audience"); err != nil {
		t.Errorf("media of a message to another member: %v", err)
	}
	// A message whose case_id claim is not its body's: refused as on
	// POST /flx/v1/envelopes (FLX-ENV-010).
	c := m.claims
	c.JTI, c.CaseID = federation.NewJTI(), newCaseID(MemberTester)
	if _, err := shouldRefuse(t.offer(certTester, t.sign(c, keyTester), m.hashes), "bad_envelope"); err != nil {
		t.Errorf("a message whose case_id claim differs from its body's: %v", err)
	}
	plain, _ := t.envelope(federation.KindCaseCreate, caseDoc(newCaseID(MemberTester), MemberTester))
	if _, err := shouldRefuse(t.offer(certTester, plain, m.hashes), "bad_upload"); err != nil {
		t.Errorf("a case.create offered as media: %v", err)
	}
	// The valid offer in another content type, or none (§18.4: the offer
	// is application/json).
	body, _ := json.Marshal(map[string]string{"envelope": string(m.env), "chunk_hashes": base64.RawURLEncoding.EncodeToString(m.hashes)})
	for _, ct := range []string{"text/plain", ""} {
		ans, err := t.request(certTester, http.MethodPost, mediaUploads, body, ct)
		if err != nil {
			t.Fatalf("POST %s: %v", mediaUploads, err)
		}
		if _, err := shouldRefuse(ans, "bad_upload"); err != nil {
			t.Errorf("a valid offer with Content-Type %q: %v", ct, err)
		}
	}
}

// checkMediaChunkVerified checks that a chunk that does not hash to its
// entry is refused with media_mismatch and does not count.
func checkMediaChunkVerified(t *T) {
	m := t.newMedia(2*chunkTest, t.candidate, 0)
	loc := t.mustOffer(m)
	bad := append([]byte{}, m.data[:chunkTest]...)
	bad[17] ^= 0x40
	mustRefuse(t, t.patch(certTester, loc, 0, bad), "media_mismatch")
	if ans := t.head(certTester, loc); ans.Header.Get("Upload-Offset") != "0" {
		t.Fatalf("a refused chunk counted: Upload-Offset %q after it, want 0", ans.Header.Get("Upload-Offset"))
	}
	mustRefuse(t, t.post(t, m.env), "media_incomplete")
}

// checkMediaOffsetMismatch checks that a PATCH at another offset than the
// upload's (a replayed chunk, a gap) is refused with offset_mismatch and
// the offset to resume from.
func checkMediaOffsetMismatch(t *T) {
	m := t.newMedia(3*chunkTest, t.candidate, 0)
	loc := t.mustOffer(m)
	if ans := t.patch(certTester, loc, 0, m.data[:chunkTest]); ans.Status != http.StatusNoContent {
		t.Fatalf("first chunk: want 204, got %s", ans)
	}
	for _, off := range []int{0, 2 * chunkTest} {
		ans := t.patch(certTester, loc, off, m.data[off:off+chunkTest])
		mustRefuse(t, ans, "offset_mismatch")
		if ans.Header.Get("Upload-Offset") != strconv.Itoa(chunkTest) {
			t.Errorf("PATCH at %d: Upload-Offset %q, want %d", off, ans.Header.Get("Upload-Offset"), chunkTest)
		}
	}
}

// checkMediaOtherMember checks that another member's session does not
// exist for a member: HEAD and PATCH by XD-PEER on the tester's upload get
// 404, and the tester's offset is unchanged; XD-PEER offering the tester's
// message gets sender_mismatch.
func checkMediaOtherMember(t *T) {
	m := t.newMedia(2*chunkTest, t.candidate, 0)
	loc := t.mustOffer(m)
	if ans := t.head(certPeer, loc); ans.Status != http.StatusNotFound {
		t.Errorf("HEAD by another member: want 404, got %d", ans.Status)
	}
	if ans := t.patch(certPeer, loc, 0, m.data[:chunkTest]); ans.Status != http.StatusNotFound {
		t.Errorf("PATCH by another member: want 404, got %s", ans)
	}
	if ans := t.head(certTester, loc); ans.Header.Get("Upload-Offset") != "0" {
		t.Errorf("another member's PATCH counted: Upload-Offset %q", ans.Header.Get("Upload-Offset"))
	}
	// XD-PEER offering the tester's signed message: media only from iss.
	if _, err := shouldRefuse(t.offer(certPeer, m.env, m.hashes), "sender_mismatch"); err != nil {
		t.Errorf("XD-PEER offering XD-TESTER's message: %v", err)
	}
}

// checkMediaTooLarge checks that the node advertises max_media_bytes and
// refuses an offer of larger media with too_large.
func checkMediaTooLarge(t *T) {
	ans, err := t.request(certTester, http.MethodGet, "/.well-known/flx", nil, "")
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	var md struct {
		Limits struct {
			MaxMediaBytes int64 `json:"max_media_bytes"`
		} `json:"limits"`
	}
	if json.Unmarshal(ans.Body, &md) != nil || md.Limits.MaxMediaBytes < 1<<20 {
		t.Fatalf("limits.max_media_bytes missing or below 1 MiB in the metadata: %s", ans)
	}
	// The signed size is one byte over the limit; the hash list is what that
	// size needs (the bytes are never sent).
	m := t.newMedia(chunkTest, t.candidate, md.Limits.MaxMediaBytes+1)
	chunks := (md.Limits.MaxMediaBytes + chunkTest) / chunkTest
	if chunks > 1<<17 {
		t.Skipf("max_media_bytes %d needs more than 131072 chunks of 64 KiB", md.Limits.MaxMediaBytes)
	}
	hashes := make([]byte, 32*chunks)
	root := sha256.Sum256(hashes)
	var c Claims
	_ = json.Unmarshal(payloadOf(m.env), &c)
	c.Body = setMembers(c.Body, map[string]any{"media": map[string]any{"sha256": strings.Repeat("ab", 32), "media_type": "video/mp4",
		"size_bytes": md.Limits.MaxMediaBytes + 1, "duration_seconds": 12.5, "chunk_bytes": chunkTest, "chunks_sha256": hex.EncodeToString(root[:])}})
	env := t.sign(c, keyTester)
	if _, err := shouldRefuse(t.offer(certTester, env, hashes), "too_large"); err != nil {
		t.Errorf("media of max_media_bytes+1: %v", err)
	}
	// Media of max_media_bytes exactly is the largest taken: its offer
	// opens a session. XD-PEER offers it, so that the session left open
	// counts against its quota, not the tester's; a quota or a full disk
	// (429, 507) still answers for the node's state, not for the size.
	largest := t.mediaFrom(MemberPeer, keyPeer, make([]byte, chunkTest), t.candidate, md.Limits.MaxMediaBytes)
	hashes = make([]byte, 32*((md.Limits.MaxMediaBytes+chunkTest-1)/chunkTest))
	root = sha256.Sum256(hashes)
	c = largest.claims
	c.Body = setMembers(c.Body, map[string]any{"media": map[string]any{"sha256": strings.Repeat("ab", 32), "media_type": "video/mp4",
		"size_bytes": md.Limits.MaxMediaBytes, "duration_seconds": 12.5, "chunk_bytes": chunkTest, "chunks_sha256": hex.EncodeToString(root[:])}})
	ans = t.offer(certPeer, t.sign(c, keyPeer), hashes)
	var code string
	if p, err := ParseProblem(ans.Body); err == nil && ans.Status >= 400 {
		code = p.Code
	}
	switch {
	case ans.Status == http.StatusCreated || ans.Status == http.StatusOK:
	case code == "media_quota_exceeded" || code == "insufficient_storage":
		t.Logf("media of max_media_bytes: %s (quota or space, not the size)", code)
	default:
		t.Errorf("media of max_media_bytes exactly (the largest it takes): want 201 with a session, got %s", ans)
	}
}

// payloadOf decodes the payload of a compact JWS the tester made.
func payloadOf(raw []byte) []byte {
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 {
		return nil
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	return b
}
