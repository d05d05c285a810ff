package conformance

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
)

// Media (SPEC.md §18), the requirements a careless or hostile peer tests
// one fault at a time: every upload these checks open is completed, so the
// suite leaves the candidate few sessions of the tester's (FLX-MED-012's
// bounds).

// offerRaw posts an offer body as it is, as the tester.
func (t *T) offerRaw(body []byte) *Answer {
	ans, err := t.request(certTester, http.MethodPost, mediaUploads, body, "application/json")
	if err != nil {
		t.Fatalf("POST %s: %v", mediaUploads, err)
	}
	return ans
}

// patchWith sends a PATCH of p to path as the tester with the headers
// given; an empty value leaves the header out.
func (t *T) patchWith(path, contentType, offset string, p []byte) *Answer {
	req, err := http.NewRequestWithContext(t.ctx, http.MethodPatch, t.target.String()+path, strings.NewReader(string(p)))
	if err != nil {
		t.Fatalf("PATCH: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if offset != "" {
		req.Header.Set("Upload-Offset", offset)
	}
	return t.do(req, certTester)
}

// offsetIs checks, with HEAD as cert, that the upload at path is at off.
func (t *T) offsetIs(cert, path string, off int) error {
	ans := t.head(cert, path)
	if ans.Status != http.StatusOK || ans.Header.Get("Upload-Offset") != strconv.Itoa(off) {
		return fmt.Errorf("HEAD: want 200 with Upload-Offset %d, got %d with %q", off, ans.Status, ans.Header.Get("Upload-Offset"))
	}
	return nil
}

// mustPatch appends m's bytes from off to its end as the tester and
// requires 204 with the new offset.
func (t *T) mustPatch(cert, path string, m *testMedia, off int) {
	ans := t.patch(cert, path, off, m.data[off:])
	if ans.Status != http.StatusNoContent || ans.Header.Get("Upload-Offset") != strconv.Itoa(len(m.data)) {
		t.Fatalf("PATCH of the media from %d: want 204 with Upload-Offset %d, got %s (Upload-Offset %q)", off, len(m.data), ans, ans.Header.Get("Upload-Offset"))
	}
}

// offerAnswerIs checks an offer's answer: its status, Location, offset and
// body.
func offerAnswerIs(ans *Answer, status int, loc string, off, length int, complete bool) error {
	if ans.Status != status {
		return fmt.Errorf("want %d, got %s", status, ans)
	}
	h := ans.Header
	if (loc != "" && h.Get("Location") != loc) || h.Get("Upload-Offset") != strconv.Itoa(off) || h.Get("Upload-Length") != strconv.Itoa(length) {
		return fmt.Errorf("want Location %q, Upload-Offset %d, Upload-Length %d; got %q, %q, %q", loc, off, length, h.Get("Location"), h.Get("Upload-Offset"), h.Get("Upload-Length"))
	}
	var b struct {
		Upload   string `json:"upload"`
		Offset   *int64 `json:"offset"`
		Length   *int64 `json:"length"`
		Complete *bool  `json:"complete"`
	}
	if err := json.Unmarshal(ans.Body, &b); err != nil || b.Offset == nil || b.Length == nil || b.Complete == nil {
		return fmt.Errorf("the answer is not {upload, offset, length, complete}: %s", ans)
	}
	if b.Upload != h.Get("Location") || *b.Offset != int64(off) || *b.Length != int64(length) || *b.Complete != complete {
		return fmt.Errorf("want upload %q, offset %d, length %d, complete %t; got %s", h.Get("Location"), off, length, complete, ans.Body)
	}
	return nil
}

// checkMediaBadOffers checks the offer faults of FLX-MED-003 one offer
// each: members unknown, repeated or not strings, padded or non-canonical
// base64url, a hash list that is not 32·N bytes, and messages without
// attached media.
func checkMediaBadOffers(t *T) {
	m := t.newMedia(2*chunkTest, t.candidate, 0)
	env, _ := json.Marshal(string(m.env))
	list := base64.RawURLEncoding.EncodeToString(m.hashes) // 64 bytes: 86 characters, 4 spare bits
	// The last character with its spare bits set decodes to the same bytes
	// in a lenient decoder.
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, list[len(list)-1])
	nonCanonical := list[:len(list)-1] + string(alphabet[last|0x0f])
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	for _, f := range []struct{ name, body string }{
		{"an unknown member", `{"envelope":` + string(env) + `,"chunk_hashes":` + q(list) + `,"note":"x"}`},
		{"the envelope twice", `{"envelope":` + string(env) + `,"envelope":` + string(env) + `,"chunk_hashes":` + q(list) + `}`},
		{"chunk_hashes not a string", `{"envelope":` + string(env) + `,"chunk_hashes":["` + list + `"]}`},
		{"no chunk_hashes", `{"envelope":` + string(env) + `}`},
		{"padded base64url", `{"envelope":` + string(env) + `,"chunk_hashes":` + q(base64.URLEncoding.EncodeToString(m.hashes)) + `}`},
		{"non-canonical base64url (spare bits set)", `{"envelope":` + string(env) + `,"chunk_hashes":` + q(nonCanonical) + `}`},
		{"standard base64 with padding", `{"envelope":` + string(env) + `,"chunk_hashes":` + q(base64.StdEncoding.EncodeToString(m.hashes)) + `}`},
	} {
		if _, err := shouldRefuse(t.offerRaw([]byte(f.body)), "bad_upload"); err != nil {
			t.Errorf("an offer with %s: %v", f.name, err)
		}
	}
	if _, err := shouldRefuse(t.offer(certTester, m.env, append(append([]byte{}, m.hashes...), 0)), "media_mismatch"); err != nil {
		t.Errorf("a hash list of 65 bytes: %v", err)
	}
	if _, err := shouldRefuse(t.offer(certTester, m.env, m.hashes[:32]), "media_mismatch"); err != nil {
		t.Errorf("a hash list of one chunk for media of two: %v", err)
	}
	// A message without media (family news), and one whose media is a
	// reference only (the schema's example: an https uri, no chunk_bytes):
	// nothing to transfer.
	for name, doc := range map[string][]byte{
		"no media":                              messageDoc(newCaseID(MemberTester)),
		"a media reference without chunk_bytes": setMembers(example("message.video_message"), map[string]any{"case_id": newCaseID(MemberTester)}),
	} {
		raw, _ := t.envelope(federation.KindMessageDeliver, doc)
		if _, err := shouldRefuse(t.offer(certTester, raw, m.hashes), "bad_upload"); err != nil {
			t.Errorf("an offer of a message with %s: %v", name, err)
		}
	}
}

// checkMediaResumeNewJTI checks that a session belongs to the sender and
// the media, not to the envelope: after one chunk, the same media offered
// with a re-signed envelope (new jti) finds the same session (200, same
// Location, offset one chunk), which then completes, and the new envelope
// is accepted.
func checkMediaResumeNewJTI(t *T) {
	m := t.newMedia(2*chunkTest+500, t.candidate, 0)
	first := t.offer(certTester, m.env, m.hashes)
	if err := offerAnswerIs(first, http.StatusCreated, "", 0, len(m.data), false); err != nil {
		t.Fatalf("first offer: %v", err)
	}
	loc := first.Header.Get("Location")
	if ans := t.patch(certTester, loc, 0, m.data[:chunkTest]); ans.Status != http.StatusNoContent {
		t.Fatalf("PATCH of the first chunk: want 204, got %s", ans)
	}
	c := m.claims
	c.JTI, c.Iat = federation.NewJTI(), t.now().Unix()
	again := t.sign(c, keyTester)
	if err := offerAnswerIs(t.offer(certTester, again, m.hashes), http.StatusOK, loc, chunkTest, len(m.data), false); err != nil {
		t.Fatalf("the same media offered with a new jti: %v", err)
	}
	t.mustPatch(certTester, loc, m, chunkTest)
	if err := offerAnswerIs(t.offer(certTester, again, m.hashes), http.StatusOK, loc, len(m.data), len(m.data), true); err != nil {
		t.Errorf("the media offered again once complete: %v", err)
	}
	t.mustAccept(t, t.post(t, again), again, c, federation.ReceiptAccepted)
}

// checkMediaNotServed checks that a session is not readable: GET on it,
// its bytes complete, is 405 method_not_allowed.
func checkMediaNotServed(t *T) {
	m := t.newMedia(chunkTest, t.candidate, 0)
	loc := t.mustOffer(m)
	t.mustPatch(certTester, loc, m, 0)
	ans, err := t.request(certTester, http.MethodGet, loc, nil, "")
	if err != nil {
		t.Fatalf("GET %s: %v", loc, err)
	}
	if _, err := shouldRefuse(ans, "method_not_allowed"); err != nil {
		t.Errorf("GET on a complete session: %v", err)
	}
	if strings.Contains(string(ans.Body), string(m.data[:32])) {
		t.Errorf("GET on a session answered media bytes")
	}
}

// checkMediaOwnOffset checks that one member's media says nothing of
// another's: after the tester uploaded media whole, XD-PEER offering the
// same bytes gets a session of its own at 0, not complete; its message is
// refused with media_incomplete until it has sent every byte itself.
func checkMediaOwnOffset(t *T) {
	m := t.newMedia(2*chunkTest, t.candidate, 0)
	loc := t.mustOffer(m)
	t.mustPatch(certTester, loc, m, 0)
	p := t.mediaFrom(MemberPeer, keyPeer, m.data, t.candidate, 0)
	ans := t.offer(certPeer, p.env, p.hashes)
	if err := offerAnswerIs(ans, http.StatusCreated, "", 0, len(m.data), false); err != nil {
		t.Fatalf("XD-PEER offering the media XD-TESTER uploaded: %v", err)
	}
	ploc := ans.Header.Get("Location")
	if ploc == loc {
		t.Fatalf("XD-PEER's offer answered XD-TESTER's session %s", loc)
	}
	if err := t.offsetIs(certPeer, ploc, 0); err != nil {
		t.Errorf("XD-PEER's session: %v", err)
	}
	if _, err := shouldRefuse(t.postAs(t, certPeer, p.env, "application/jose"), "media_incomplete"); err != nil {
		t.Errorf("XD-PEER's message before XD-PEER sent its media (XD-TESTER sent the same bytes): %v", err)
	}
	if ans := t.patch(certPeer, ploc, 0, m.data[:chunkTest]); ans.Status != http.StatusNoContent || ans.Header.Get("Upload-Offset") != strconv.Itoa(chunkTest) {
		t.Fatalf("XD-PEER's first chunk: want 204 with Upload-Offset %d, got %s (Upload-Offset %q)", chunkTest, ans, ans.Header.Get("Upload-Offset"))
	}
	t.mustPatch(certPeer, ploc, m, chunkTest)
	t.mustAccept(t, t.postAs(t, certPeer, p.env, "application/jose"), p.env, p.claims, federation.ReceiptAccepted)
}

// checkMediaHeadAnswer checks HEAD on a session: 200 with Upload-Offset
// (the bytes verified), Upload-Length, Cache-Control: no-store and no body,
// before and after the last chunk.
func checkMediaHeadAnswer(t *T) {
	m := t.newMedia(2*chunkTest+100, t.candidate, 0)
	loc := t.mustOffer(m)
	if ans := t.patch(certTester, loc, 0, m.data[:chunkTest+10]); ans.Status != http.StatusNoContent {
		t.Fatalf("PATCH of a chunk and 10 bytes: want 204, got %s", ans)
	}
	want := chunkTest
	for range 2 {
		ans := t.head(certTester, loc)
		h := ans.Header
		if ans.Status != http.StatusOK || h.Get("Upload-Offset") != strconv.Itoa(want) || h.Get("Upload-Length") != strconv.Itoa(len(m.data)) {
			t.Errorf("HEAD at %d: want 200 with Upload-Offset %d and Upload-Length %d, got %d with %q and %q", want, want, len(m.data), ans.Status, h.Get("Upload-Offset"), h.Get("Upload-Length"))
		}
		if !hasDirective(h.Values("Cache-Control"), "no-store") {
			t.Errorf("HEAD at %d: Cache-Control %q, want no-store", want, h.Values("Cache-Control"))
		}
		if len(ans.Body) != 0 {
			t.Errorf("HEAD at %d: a body of %d bytes", want, len(ans.Body))
		}
		if want == len(m.data) {
			break
		}
		t.mustPatch(certTester, loc, m, chunkTest)
		want = len(m.data)
	}
}

// hasDirective reports whether a Cache-Control header names directive.
func hasDirective(values []string, directive string) bool {
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), directive) {
				return true
			}
		}
	}
	return false
}

// checkMediaBadPatches checks the PATCH faults of FLX-MED-008 one PATCH
// each after a first chunk: another content type or none, malformed
// Upload-Offset values, an offset inside a chunk, and a body past
// Upload-Length; after each the offset is still one chunk, and the media
// then completes.
func checkMediaBadPatches(t *T) {
	m := t.newMedia(3*chunkTest, t.candidate, 0)
	loc := t.mustOffer(m)
	if ans := t.patch(certTester, loc, 0, m.data[:chunkTest]); ans.Status != http.StatusNoContent {
		t.Fatalf("first chunk: want 204, got %s", ans)
	}
	next := m.data[chunkTest : 2*chunkTest]
	at := strconv.Itoa(chunkTest)
	faults := []struct {
		name, ct, off, code string
		body                []byte
	}{
		{"Content-Type application/octet-stream", "application/octet-stream", at, "bad_upload", next},
		{"no Content-Type", "", at, "bad_upload", next},
		{"no Upload-Offset", "application/offset+octet-stream", "", "bad_upload", next},
		{"Upload-Offset with a leading zero", "application/offset+octet-stream", "0" + at, "bad_upload", next},
		{"Upload-Offset with a sign", "application/offset+octet-stream", "+" + at, "bad_upload", next},
		{"Upload-Offset in hexadecimal", "application/offset+octet-stream", "0x" + strconv.FormatInt(chunkTest, 16), "bad_upload", next},
		{"Upload-Offset with a fraction", "application/offset+octet-stream", at + ".0", "bad_upload", next},
		{"Upload-Offset inside a chunk", "application/offset+octet-stream", strconv.Itoa(chunkTest + 1), "offset_mismatch", next[1:]},
		{"a body one byte past Upload-Length", "application/offset+octet-stream", at, "too_large", append(append([]byte{}, m.data[chunkTest:]...), 0)},
	}
	for _, f := range faults {
		ans := t.patchWith(loc, f.ct, f.off, f.body)
		if _, err := shouldRefuse(ans, f.code); err != nil {
			t.Errorf("PATCH with %s: %v", f.name, err)
		}
		if f.code == "offset_mismatch" && ans.Header.Get("Upload-Offset") != at {
			t.Errorf("PATCH with %s: Upload-Offset %q in the answer, want %s", f.name, ans.Header.Get("Upload-Offset"), at)
		}
		if err := t.offsetIs(certTester, loc, chunkTest); err != nil {
			t.Fatalf("after a PATCH with %s: %v", f.name, err)
		}
	}
	t.mustPatch(certTester, loc, m, chunkTest)
}

// checkMediaBadChunks checks the chunk faults of FLX-MED-009: after a
// first chunk, a good chunk followed by one with a bit flipped in one body,
// a chunk of other media, and the media's own first chunk again at the
// second's place are refused with media_mismatch, each leaving the offset
// at the start of the bad chunk; the media then completes and its message
// is accepted. Media whose chunks match the signed hash list but whose
// whole does not hash to the signed sha256 is refused at its last chunk
// and never counts as received.
func checkMediaBadChunks(t *T) {
	m := t.newMedia(4*chunkTest, t.candidate, 0)
	loc := t.mustOffer(m)
	if ans := t.patch(certTester, loc, 0, m.data[:chunkTest]); ans.Status != http.StatusNoContent {
		t.Fatalf("first chunk: want 204, got %s", ans)
	}
	flipped := append([]byte{}, m.data[chunkTest:3*chunkTest]...)
	flipped[chunkTest+chunkTest/2] ^= 0x08 // in the third chunk
	for _, f := range []struct {
		name     string
		body     []byte
		stays    int
		atOffset int
	}{
		{"a good chunk, then one with a bit flipped", flipped, 2 * chunkTest, chunkTest},
		{"a chunk of other media", randBytes(chunkTest), 2 * chunkTest, 2 * chunkTest},
		{"the media's first chunk at the third's place", m.data[:chunkTest], 2 * chunkTest, 2 * chunkTest},
	} {
		ans := t.patch(certTester, loc, f.atOffset, f.body)
		if _, err := shouldRefuse(ans, "media_mismatch"); err != nil {
			t.Errorf("%s: %v", f.name, err)
		}
		if err := t.offsetIs(certTester, loc, f.stays); err != nil {
			t.Fatalf("after %s: %v", f.name, err)
		}
	}
	mustRefuse(t, t.post(t, m.env), "media_incomplete")
	t.mustPatch(certTester, loc, m, 2*chunkTest)
	t.mustAccept(t, t.post(t, m.env), m.env, m.claims, federation.ReceiptAccepted)

	// Chunks and hash list agree; the signed sha256 is of other bytes.
	w := t.newMedia(2*chunkTest, t.candidate, 0)
	other := sha256.Sum256(randBytes(16))
	c := w.claims
	c.JTI = federation.NewJTI()
	var body map[string]any
	_ = json.Unmarshal(c.Body, &body)
	body["media"].(map[string]any)["sha256"] = hex.EncodeToString(other[:])
	c.Body, _ = json.Marshal(body)
	w.env, w.claims = t.sign(c, keyTester), c
	wloc := t.mustOffer(w)
	if ans := t.patch(certTester, wloc, 0, w.data[:chunkTest]); ans.Status != http.StatusNoContent {
		t.Fatalf("first chunk of media whose sha256 is wrong: want 204 (the chunk matches its entry), got %s", ans)
	}
	if _, err := shouldRefuse(t.patch(certTester, wloc, chunkTest, w.data[chunkTest:]), "media_mismatch"); err != nil {
		t.Errorf("the last chunk of media that does not hash to its signed sha256: %v", err)
	}
	if ans := t.head(certTester, wloc); ans.Status == http.StatusOK && ans.Header.Get("Upload-Offset") != "0" {
		t.Errorf("media that does not hash to its signed sha256 was kept: HEAD answers Upload-Offset %q (want 404 or 0: the session discarded)", ans.Header.Get("Upload-Offset"))
	}
	if _, err := shouldRefuse(t.post(t, w.env), "media_incomplete"); err != nil {
		t.Errorf("the message of media that did not hash to its signed sha256: %v", err)
	}
}

// checkMediaDuplicateAfterAccept checks that a message with attached media,
// once accepted, is answered duplicate when the same bytes come again
// (FLX-DLV-009), also after the candidate had time to process it, and after
// the tester withdrew the case and the candidate confirmed its erasure (the
// media erased with it): media_incomplete then would have the sender upload
// the erased recording again.
func checkMediaDuplicateAfterAccept(t *T) {
	id := newCaseID(MemberTester)
	craw, cc := t.envelope(federation.KindCaseCreate, caseDoc(id, MemberTester))
	t.mustAccept(t, t.post(t, craw), craw, cc, federation.ReceiptAccepted)
	m := t.newMedia(chunkTest+300, t.candidate, 0)
	c := m.claims
	c.CaseID, c.Body = id, setMembers(c.Body, map[string]any{"case_id": id})
	m.env, m.claims, m.caseID = t.sign(c, keyTester), c, id
	loc := t.mustOffer(m)
	t.mustPatch(certTester, loc, m, 0)
	t.mustAccept(t, t.post(t, m.env), m.env, m.claims, federation.ReceiptAccepted)
	for i := range 5 {
		if i > 0 {
			time.Sleep(400 * time.Millisecond)
		}
		if _, err := t.checkReceipt(t.post(t, m.env), m.env, m.claims, federation.ReceiptDuplicate); err != nil {
			t.Fatalf("the same message sent again (%d ms after it was accepted): %v", 400*i, err)
		}
	}
	wbody, _ := json.Marshal(map[string]any{"schema": "flx/v1/withdrawal", "case_id": id, "reason": "erasure_request",
		"withdrawn_at": t.now().UTC().Truncate(time.Second).Format(time.RFC3339)})
	wraw, wc := t.envelope(federation.KindCaseWithdraw, wbody)
	t.mustAccept(t, t.post(t, wraw), wraw, wc, federation.ReceiptAccepted)
	if len(t.waitConfirmation(id, wc.JTI, t.patience)) == 0 {
		t.Fatalf("no confirmation of withdrawal %s arrived within %s", wc.JTI, t.patience)
	}
	if _, err := t.checkReceipt(t.post(t, m.env), m.env, m.claims, federation.ReceiptDuplicate); err != nil {
		t.Errorf("the same message sent again after its case was withdrawn and erased: %v", err)
	}
}
