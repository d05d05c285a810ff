package conformance

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
)

// Media sent by the candidate (SPEC.md §18, FLX-MED-001 and FLX-MED-011):
// the optional media calls of §12 make it send a recording to the tester,
// whose listener plays the recipient (listener_media.go) and records every
// offer, HEAD and PATCH.

// sentRecordingSize is the size of the recordings the checks send: two
// chunks of the largest chunk_bytes and a bit, so that the media has a
// shorter last chunk and at least three chunks whatever the candidate
// chooses (SPEC.md §18.2).
const sentRecordingSize = 2*(4<<20) + 12345

// sentRecording is a recording the candidate was made to send the tester.
type sentRecording struct {
	caseID    string
	data      []byte
	sha256    string
	messageID string
}

// sendRecording makes the candidate send the tester a video message with
// an attached recording of size bytes, through the optional calls of §12:
// a case forwarded to the tester (its case.create waited for), the
// recording uploaded to the case, and the message sent. tricks are set on
// the listener before the message is sent. The check is skipped when the
// candidate does not offer the media calls.
func (t *T) sendRecording(size int, tricks MediaTricks) *sentRecording {
	id := t.createCases(1)[0]
	if ans, err := t.trigger.forward(id, MemberTester); err != nil || ans.Status/100 != 2 {
		t.Abortf("trigger: forward: %v %s", err, ans)
	}
	if got := t.listener.Wait(func(a *Arrival) bool { return a.CaseID == id && a.Kind == string(federation.KindCaseCreate) }, 1, t.patience); len(got) == 0 {
		t.Abortf("the case.create of %s did not arrive within %s", id, t.patience)
	}
	rec := &sentRecording{caseID: id, data: bareMP4(size), messageID: t.candidate + ":conf-vid-" + hex.EncodeToString(randBytes(4))}
	rec.sha256 = sha256Hex(rec.data)
	ans, err := t.trigger.startMedia(id, rec.sha256, size, "video/mp4")
	switch {
	case err != nil:
		t.Abortf("trigger: media: %v", err)
	case ans.Status == http.StatusNotFound || ans.Status == http.StatusMethodNotAllowed || ans.Status == http.StatusNotImplemented:
		t.Skipf("the candidate offers no media calls (SPEC.md §12): %s", ans)
	case ans.Status != http.StatusCreated && ans.Status != http.StatusOK:
		t.Abortf("POST /api/v1/cases/{id}/media: %s", ans)
	}
	var up struct {
		URL    string `json:"url"`
		Offset int64  `json:"offset"`
	}
	_ = json.Unmarshal(ans.Body, &up)
	loc := ans.Header.Get("Location")
	if loc == "" {
		loc = up.URL
	}
	if !strings.HasPrefix(loc, "/") || up.Offset < 0 || up.Offset > int64(size) {
		t.Abortf("the media call's answer names no upload path (Location or url) and offset: %s", ans)
	}
	if up.Offset < int64(size) {
		if ans, err = t.trigger.writeMedia(loc, up.Offset, rec.data[up.Offset:]); err != nil || ans.Status/100 != 2 {
			t.Abortf("trigger: writing the recording: %v %s", err, ans)
		}
	}
	t.listener.SetMediaTricks(id, tricks)
	msg := setMembers(example("message.video_message"), map[string]any{
		"case_id": id, "message_id": rec.messageID, "reply_to": nil,
		"from": map[string]any{"member": t.candidate, "person": "p1"}, "to": map[string]any{"member": MemberTester, "person": "p2"},
		"media": map[string]any{"sha256": rec.sha256, "media_type": "video/mp4", "size_bytes": size, "duration_seconds": 12.5},
	})
	ans, err = t.trigger.sendMessage(id, MemberTester, msg)
	switch {
	case err != nil:
		t.Abortf("trigger: message: %v", err)
	case ans.Status == http.StatusNotFound || ans.Status == http.StatusMethodNotAllowed || ans.Status == http.StatusNotImplemented:
		t.Skipf("the candidate offers no message call (SPEC.md §12): %s", ans)
	case ans.Status/100 != 2:
		t.Abortf("POST /api/v1/cases/{id}/messages refused (is the candidate's policy set to allow messages to %s?): %s", MemberTester, ans)
	}
	return rec
}

// isMessage matches the message.deliver envelopes of caseID.
func isMessage(caseID string) func(*Arrival) bool {
	return func(a *Arrival) bool { return a.CaseID == caseID && a.Kind == string(federation.KindMessageDeliver) }
}

// waitAccepted waits until the message of rec is accepted (202) by the
// tester, and returns the arrivals of its message.deliver; a failure
// describes what the candidate did on the media resources.
func (t *T) waitAccepted(rec *sentRecording, wait time.Duration) []*Arrival {
	accepted := func(a *Arrival) bool { return isMessage(rec.caseID)(a) && strings.HasPrefix(a.Answered, "202") }
	if got := t.listener.Wait(accepted, 1, wait); len(got) == 0 {
		t.Fatalf("the message with the recording was not delivered within %s: %s", wait.Round(time.Second), t.mediaStory(rec.caseID))
	}
	return t.listener.Arrivals(isMessage(rec.caseID))
}

// mediaStory tells what the candidate did with the media of caseID, for
// a failure's reason.
func (t *T) mediaStory(caseID string) string {
	var b strings.Builder
	for _, e := range t.listener.MediaEvents(caseID) {
		fmt.Fprintf(&b, "%s", e.Method)
		if e.Method == http.MethodPatch {
			fmt.Fprintf(&b, " at %d", e.Offset)
		}
		fmt.Fprintf(&b, " → %s", e.Answered)
		if e.Problem != "" {
			fmt.Fprintf(&b, " (%s)", e.Problem)
		}
		b.WriteString("; ")
	}
	for _, a := range t.listener.Arrivals(isMessage(caseID)) {
		fmt.Fprintf(&b, "message.deliver → %s; ", a.Answered)
	}
	if b.Len() == 0 {
		return "nothing arrived"
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// checkSentMediaBound checks FLX-MED-001: the recording the candidate
// sends is offered with a message.deliver whose signed reference and hash
// list describe exactly the bytes that arrive (the tester knows them: it
// uploaded them), and the envelope POSTed is the one offered.
func checkSentMediaBound(t *T) {
	rec := t.sendRecording(sentRecordingSize, MediaTricks{})
	accepted := func(a *Arrival) bool { return isMessage(rec.caseID)(a) && strings.HasPrefix(a.Answered, "202") }
	delivered := len(t.listener.Wait(accepted, 1, t.patience)) > 0
	// What was offered is judged first, delivered or not: a wrong reference
	// may be what kept the message from arriving.
	defer func() {
		if !delivered {
			t.Errorf("the message with the recording was not delivered within %s: %s", t.patience.Round(time.Second), t.mediaStory(rec.caseID))
		}
	}()
	msgs := t.listener.Arrivals(isMessage(rec.caseID))
	events := t.listener.MediaEvents(rec.caseID)
	var offers []MediaEvent
	for _, e := range events {
		if e.Method == http.MethodPost {
			offers = append(offers, e)
		}
		if strings.Contains(e.Answered, "media_mismatch") || strings.Contains(e.Answered, "schema_invalid") {
			t.Errorf("the tester refused the candidate's %s with %s: %s", e.Method, e.Answered, e.Problem)
		}
	}
	if len(offers) == 0 {
		t.Fatalf("the media of the message was never offered: %s", t.mediaStory(rec.caseID))
	}
	o := offers[len(offers)-1]
	var c struct {
		Body json.RawMessage `json:"body"`
	}
	_ = json.Unmarshal(payloadOf(o.Env), &c)
	ref, ok := attachedRef(c.Body)
	if !ok {
		t.Fatalf("the offered envelope has no attached-media reference")
	}
	var doc struct {
		MessageID string `json:"message_id"`
	}
	_ = json.Unmarshal(c.Body, &doc)
	if doc.MessageID != rec.messageID {
		t.Errorf("the offered message is %q, not the message sent (%q)", doc.MessageID, rec.messageID)
	}
	if ref.SHA256 != rec.sha256 {
		t.Errorf("signed sha256 %s, but the recording hashes to %s", ref.SHA256, rec.sha256)
	}
	if ref.SizeBytes != int64(len(rec.data)) {
		t.Errorf("signed size_bytes %d, but the recording has %d bytes", ref.SizeBytes, len(rec.data))
	}
	if ref.ChunkBytes < 64<<10 || ref.ChunkBytes > 4<<20 || ref.ChunkBytes%(64<<10) != 0 {
		t.Fatalf("signed chunk_bytes %d: not a multiple of 65536 from 65536 to 4194304", ref.ChunkBytes)
	}
	want := chunkHashes(rec.data, ref.ChunkBytes)
	if ref.ChunksSHA256 != sha256Hex(want) {
		t.Errorf("signed chunks_sha256 %s, but the recording's hash list in chunks of %d hashes to %s", ref.ChunksSHA256, ref.ChunkBytes, sha256Hex(want))
	}
	if !bytes.Equal(o.Hashes, want) {
		t.Errorf("the offered hash list (%d bytes) is not the recording's in chunks of %d (%d bytes)", len(o.Hashes), ref.ChunkBytes, len(want))
	}
	if s, ok := t.listener.MediaSession(o.Session); delivered && (!ok || !s.complete || !bytes.Equal(s.data, rec.data)) {
		t.Errorf("the bytes the tester received are not the recording: %s", t.mediaStory(rec.caseID))
	}
	for _, m := range msgs {
		if strings.HasPrefix(m.Answered, "202") && !bytes.Equal(m.Raw, o.Env) {
			t.Errorf("the message.deliver POSTed (jti %q) is not the envelope offered with the media", m.JTI)
		}
	}
}

// uploadedFirst requires every POST of the message to come after its
// media was complete at the tester (FLX-MED-011): a POST refused with
// media_incomplete for want of the media means the candidate did not
// upload first.
func uploadedFirst(t *T, rec *sentRecording) {
	for _, a := range t.listener.Arrivals(isMessage(rec.caseID)) {
		if a.Answered == "409 media_incomplete" {
			t.Errorf("the message.deliver was POSTed at %s before its media was complete at the tester: %s", a.At.Format("15:04:05.000"), t.mediaStory(rec.caseID))
			return
		}
	}
}

// checkSentMediaResumed checks FLX-MED-011: the tester cuts the connection
// of the first PATCH after one and a half chunks (it keeps the first
// chunk); the candidate must resume from the tester's offset (learnt with
// HEAD, a new offer or a 409), never from 0 while the session holds bytes,
// send only bytes that match its hash list, and POST the message only once
// the media is complete.
func checkSentMediaResumed(t *T) {
	rec := t.sendRecording(sentRecordingSize, MediaTricks{CutFirstPatch: true})
	t.waitAccepted(rec, t.patience)
	uploadedFirst(t, rec)
	cut := false
	for _, e := range t.listener.MediaEvents(rec.caseID) {
		switch {
		case e.Answered == "cut":
			cut = e.After > 0
		case strings.Contains(e.Answered, "media_mismatch"):
			t.Errorf("the candidate sent bytes that do not match its hash list: %s → %s (%s)", e.Method, e.Answered, e.Problem)
		case e.Method == http.MethodPatch && cut && e.Offset != e.Held:
			t.Errorf("after the cut the candidate PATCHed at offset %d while the session held %d verified bytes: %s", e.Offset, e.Held, t.mediaStory(rec.caseID))
		}
	}
	if !cut {
		t.Fatalf("the tester could not cut a PATCH after its first chunk (the candidate's chunks are too large for the recording?): %s", t.mediaStory(rec.caseID))
	}
}

// checkSentMediaReuploaded checks FLX-MED-011: the tester, holding the
// media, answers the message's first POST with 409 media_incomplete and
// forgets the media; the candidate must treat it as a failed attempt,
// upload the media again (a new session from 0) and POST the same bytes
// again once it is complete.
func checkSentMediaReuploaded(t *T) {
	rec := t.sendRecording(sentRecordingSize, MediaTricks{LoseOnce: true})
	// The retry waits the candidate's backoff (FLX-DLV-004) besides the
	// upload: patience on top.
	msgs := t.waitAccepted(rec, t.patience+10*time.Second)
	uploadedFirst(t, rec)
	var lost *Arrival
	for _, a := range msgs {
		if a.Answered == "409 media_incomplete (lost)" {
			lost = a
		}
	}
	if lost == nil {
		t.Fatalf("the tester never answered the message with media_incomplete after its media: %s", t.mediaStory(rec.caseID))
	}
	for _, a := range msgs {
		if a.At.After(lost.At) && !bytes.Equal(a.Raw, lost.Raw) {
			t.Errorf("the message.deliver sent again after media_incomplete is not the same bytes (jti %q, then %q)", lost.JTI, a.JTI)
		}
	}
	reoffered := false
	for _, e := range t.listener.MediaEvents(rec.caseID) {
		if e.At.After(lost.At) && e.Method == http.MethodPost && e.Answered == "201" {
			reoffered = true
		}
		if strings.Contains(e.Answered, "media_mismatch") {
			t.Errorf("the candidate sent bytes that do not match its hash list: %s → %s (%s)", e.Method, e.Answered, e.Problem)
		}
	}
	if !reoffered {
		t.Errorf("after media_incomplete the candidate did not offer the media again before its message was accepted: %s", t.mediaStory(rec.caseID))
	}
}

// bareMP4 is a recording of size bytes (at least 148) that any node can
// take as video/mp4: ftyp, a moov with only its mvhd (times zero), and an
// mdat of random bytes. A node that removes a recording's metadata before
// sending it (policy/RULES.md, "Media metadata") finds none here, so the
// bytes it signs and sends are these.
func bareMP4(size int) []byte {
	box := func(typ string, n int, body []byte) []byte {
		return append(append(binary.BigEndian.AppendUint32(nil, uint32(n)), typ...), body...)
	}
	b := box("ftyp", 16, []byte("isom\x00\x00\x02\x00"))
	b = append(b, box("moov", 116, box("mvhd", 108, make([]byte, 100)))...)
	mdat := len(b)
	b = binary.BigEndian.AppendUint64(append(b, box("mdat", 1, nil)...), uint64(size-mdat))
	return append(b, randBytes(size-len(b))...)
}
