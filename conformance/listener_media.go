package conformance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/mtls"
)

// The tester's listener as the recipient of the candidate's media (SPEC.md
// §18.3 to §18.6): it takes offers, HEADs and PATCHes as a node must,
// verifies every chunk against the offered hash list, records each request
// for the outbound media checks, and refuses a message.deliver whose
// attached media it does not hold, complete, from the sender (409
// media_incomplete, FLX-MED-010).

// testerMaxMedia is the largest media the tester takes (advertised in its
// metadata): far more than the checks make the candidate send.
const testerMaxMedia = 64 << 20

// sentRef is the attached-media reference of a message the candidate sent.
type sentRef struct {
	SHA256       string `json:"sha256"`
	SizeBytes    int64  `json:"size_bytes"`
	ChunkBytes   int64  `json:"chunk_bytes"`
	ChunksSHA256 string `json:"chunks_sha256"`
}

// attachedRef reads the attached-media reference of a message body; ok is
// false for a reference only (no chunk_bytes), or no media.
func attachedRef(body []byte) (sentRef, bool) {
	var m struct {
		Media *sentRef `json:"media"`
	}
	if json.Unmarshal(body, &m) != nil || m.Media == nil || (m.Media.ChunkBytes == 0 && m.Media.ChunksSHA256 == "") {
		return sentRef{}, false
	}
	return *m.Media, true
}

// offeredRef reads the attached-media reference of an offered message
// body and checks it and the offered hash list as a recipient must
// (SPEC.md §18.2, §18.4); a non-zero status is the refusal.
func offeredRef(body, hashes []byte) (ref sentRef, status int, code, why string) {
	ref, ok := attachedRef(body)
	switch {
	case !ok:
		return ref, http.StatusBadRequest, "bad_upload", "no attached-media reference"
	case ref.ChunkBytes < 64<<10 || ref.ChunkBytes > 4<<20 || ref.ChunkBytes%(64<<10) != 0 || ref.SizeBytes < 1 || ref.chunks() > 131072:
		return ref, http.StatusUnprocessableEntity, "schema_invalid", fmt.Sprintf("chunk_bytes %d, size_bytes %d", ref.ChunkBytes, ref.SizeBytes)
	case ref.SizeBytes > testerMaxMedia:
		return ref, http.StatusRequestEntityTooLarge, "too_large", "larger than the tester's max_media_bytes"
	case int64(len(hashes)) != 32*ref.chunks() || sha256Hex(hashes) != ref.ChunksSHA256:
		return ref, http.StatusUnprocessableEntity, "media_mismatch", "the hash list is not 32·N bytes hashing to chunks_sha256"
	}
	return ref, 0, "", ""
}

// key is what a session belongs to besides its member (FLX-MED-004).
func (r sentRef) key() string {
	return fmt.Sprintf("%s/%d/%d/%s", r.SHA256, r.SizeBytes, r.ChunkBytes, r.ChunksSHA256)
}

// chunks is N = ⌈S / C⌉.
func (r sentRef) chunks() int64 { return (r.SizeBytes + r.ChunkBytes - 1) / r.ChunkBytes }

// chunkHashes is the hash list of data in chunks of c bytes (SPEC.md §18.2).
func chunkHashes(data []byte, c int64) []byte {
	var out []byte
	for off := int64(0); off < int64(len(data)); off += c {
		s := sha256.Sum256(data[off:min(off+c, int64(len(data)))])
		out = append(out, s[:]...)
	}
	return out
}

// recvSession is an upload the candidate opened at the tester.
type recvSession struct {
	id       string
	peer     string
	caseID   string
	env      []byte
	ref      sentRef
	hashes   []byte
	data     []byte // the verified bytes, from 0
	complete bool
	patches  int // PATCHes received
}

// MediaEvent is one request of the candidate on the tester's media
// resources.
type MediaEvent struct {
	At       time.Time
	Method   string // POST (an offer), HEAD or PATCH
	Session  string // the session's id ("" when none was found or made)
	CaseID   string
	Env      []byte // an offer's envelope
	Hashes   []byte // an offer's hash list, decoded
	Offset   int64  // a PATCH's Upload-Offset (-1 malformed)
	Held     int64  // the session's offset when the request came
	After    int64  // the session's offset after it
	Answered string
	Problem  string // why the tester refused it, for the report
}

// MediaTricks are what the tester does to the candidate's
// media of one case.
type MediaTricks struct {
	// CutFirstPatch closes the connection of the session's first PATCH
	// once one and a half chunks of its body arrived: the first chunk is
	// kept, the half discarded (a link cut mid-transfer).
	CutFirstPatch bool
	// LoseOnce answers the first message.deliver whose media is complete
	// with 409 media_incomplete and forgets the media, as a recipient that
	// lost it: the sender must upload it again before it re-sends.
	LoseOnce bool
}

// SetMediaTricks sets the tricks played on the media of caseID.
func (l *Listener) SetMediaTricks(caseID string, f MediaTricks) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mediaTricks[caseID] = f
}

// MediaEvents returns the media requests about caseID, in order.
func (l *Listener) MediaEvents(caseID string) []MediaEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []MediaEvent
	for _, e := range l.mediaEvents {
		if e.CaseID == caseID {
			out = append(out, *e)
		}
	}
	return out
}

// MediaSession returns a copy of the session id (ok false: none).
func (l *Listener) MediaSession(id string) (recvSession, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.sessions[id]
	if !ok {
		return recvSession{}, false
	}
	c := *s
	c.data = bytes.Clone(s.data)
	return c, true
}

func (l *Listener) recordMedia(e *MediaEvent, answered string) {
	e.Answered = answered
	l.mu.Lock()
	l.mediaEvents = append(l.mediaEvents, e)
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

// mediaProblem answers a refusal, with the session's offset when it has
// one.
func (l *Listener) mediaProblem(w http.ResponseWriter, e *MediaEvent, status int, code, why string) {
	e.Problem = why
	if code == "offset_mismatch" {
		w.Header().Set("Upload-Offset", strconv.FormatInt(e.Held, 10))
	}
	l.recordMedia(e, fmt.Sprintf("%d %s", status, code))
	answerProblem(w, status, code)
}

// serveMedia serves the media resources: POST mediaUploads, HEAD and PATCH
// mediaUploads/{id}.
func (l *Listener) serveMedia(w http.ResponseWriter, r *http.Request) {
	peer, _ := mtls.PeerFromContext(r.Context())
	e := &MediaEvent{At: time.Now(), Method: r.Method, Offset: -1}
	if r.URL.Path == mediaUploads {
		if r.Method != http.MethodPost {
			l.mediaProblem(w, e, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" on the offer resource")
			return
		}
		l.offerMedia(w, r, peer, e)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, mediaUploads+"/")
	l.mu.Lock()
	s, ok := l.sessions[id]
	if ok && s.peer == peer {
		e.Session, e.CaseID, e.Held, e.After = s.id, s.caseID, int64(len(s.data)), int64(len(s.data))
	}
	l.mu.Unlock()
	if !ok || s.peer != peer {
		l.mediaProblem(w, e, http.StatusNotFound, "not_found", "no such session")
		return
	}
	switch r.Method {
	case http.MethodHead:
		w.Header().Set("Upload-Offset", strconv.FormatInt(e.Held, 10))
		w.Header().Set("Upload-Length", strconv.FormatInt(s.ref.SizeBytes, 10))
		w.Header().Set("Cache-Control", "no-store")
		l.recordMedia(e, "200")
		w.WriteHeader(http.StatusOK)
	case http.MethodPatch:
		l.patchMedia(w, r, s, e)
	default:
		w.Header().Set("Allow", "HEAD, PATCH")
		l.mediaProblem(w, e, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" on a session")
	}
}

func (l *Listener) offerMedia(w http.ResponseWriter, r *http.Request, peer string, e *MediaEvent) {
	e.Offset = 0
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		l.mediaProblem(w, e, http.StatusBadRequest, "bad_upload", fmt.Sprintf("offer sent as %q", ct))
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	var body struct {
		Envelope    string `json:"envelope"`
		ChunkHashes string `json:"chunk_hashes"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Envelope == "" {
		l.mediaProblem(w, e, http.StatusBadRequest, "bad_upload", "the offer is not {envelope, chunk_hashes}")
		return
	}
	e.Env = []byte(body.Envelope)
	var c struct {
		CaseID string `json:"case_id"`
	}
	_ = json.Unmarshal(payloadOf(e.Env), &c)
	e.CaseID = c.CaseID
	hashes, err := b64.Strict().DecodeString(body.ChunkHashes)
	if err != nil {
		l.mediaProblem(w, e, http.StatusBadRequest, "bad_upload", "chunk_hashes is not base64url without padding")
		return
	}
	e.Hashes = hashes
	env, err := l.verifier.Verify(r.Context(), e.Env, peer)
	if err != nil {
		code := string(federation.CodeOf(err))
		if code == "" {
			code = "bad_envelope"
		}
		l.mediaProblem(w, e, federation.Code(code).HTTPStatus(), code, "the offered envelope: "+err.Error())
		return
	}
	if env.Kind != federation.KindMessageDeliver {
		l.mediaProblem(w, e, http.StatusBadRequest, "bad_upload", "not a message.deliver")
		return
	}
	ref, status, code, why := offeredRef(env.Body, hashes)
	if status != 0 {
		l.mediaProblem(w, e, status, code, why)
		return
	}
	sum := sha256.Sum256([]byte(peer + "\x00" + ref.key()))
	id := hex.EncodeToString(sum[:])
	l.mu.Lock()
	s, found := l.sessions[id]
	if !found {
		s = &recvSession{id: id, peer: peer, caseID: env.CaseID, env: e.Env, ref: ref, hashes: hashes}
		l.sessions[id] = s
	}
	s.env = e.Env // the envelope of the latest offer (a re-signed one resumes the session)
	e.Session, e.Held, e.After = id, int64(len(s.data)), int64(len(s.data))
	complete := s.complete
	l.mu.Unlock()
	status = http.StatusCreated
	if found {
		status = http.StatusOK
	}
	loc := mediaUploads + "/" + id
	w.Header().Set("Location", loc)
	w.Header().Set("Upload-Offset", strconv.FormatInt(e.Held, 10))
	w.Header().Set("Upload-Length", strconv.FormatInt(ref.SizeBytes, 10))
	w.Header().Set("Content-Type", "application/json")
	l.recordMedia(e, strconv.Itoa(status))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"upload": loc, "offset": e.Held, "length": ref.SizeBytes, "complete": complete})
}

func (l *Listener) patchMedia(w http.ResponseWriter, r *http.Request, s *recvSession, e *MediaEvent) {
	if ct := r.Header.Get("Content-Type"); ct != "application/offset+octet-stream" {
		l.mediaProblem(w, e, http.StatusBadRequest, "bad_upload", fmt.Sprintf("PATCH sent as %q", ct))
		return
	}
	h := r.Header.Get("Upload-Offset")
	off, err := strconv.ParseInt(h, 10, 64)
	if err != nil || off < 0 || h != strconv.FormatInt(off, 10) {
		l.mediaProblem(w, e, http.StatusBadRequest, "bad_upload", fmt.Sprintf("Upload-Offset %q", h))
		return
	}
	e.Offset = off
	l.mu.Lock()
	s.patches++
	first := s.patches == 1
	cut := first && l.mediaTricks[s.caseID].CutFirstPatch
	l.mu.Unlock()
	if off != e.Held {
		l.mediaProblem(w, e, http.StatusConflict, "offset_mismatch", fmt.Sprintf("PATCH at %d while the session holds %d bytes", off, e.Held))
		return
	}
	if r.ContentLength > s.ref.SizeBytes-off {
		l.mediaProblem(w, e, http.StatusRequestEntityTooLarge, "too_large", "the body goes past Upload-Length")
		return
	}
	body := io.Reader(r.Body)
	if cut {
		body = io.LimitReader(r.Body, s.ref.ChunkBytes*3/2)
	}
	buf := make([]byte, s.ref.ChunkBytes)
	for off < s.ref.SizeBytes {
		i := off / s.ref.ChunkBytes
		n := min(s.ref.ChunkBytes, s.ref.SizeBytes-off)
		k, rerr := io.ReadFull(body, buf[:n])
		if int64(k) < n {
			if cut {
				e.After = off
				l.recordMedia(e, "cut")
				if hj, ok := w.(http.Hijacker); ok {
					if c, _, err := hj.Hijack(); err == nil {
						_ = c.Close()
						return
					}
				}
				panic(http.ErrAbortHandler)
			}
			if !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
				e.After = off
				l.recordMedia(e, "broken")
				return
			}
			break // an incomplete chunk at the end of the body: discarded
		}
		if !bytes.Equal(sha256Sum(buf[:n]), s.hashes[32*i:32*i+32]) {
			e.Held = off
			l.mediaProblem(w, e, http.StatusUnprocessableEntity, "media_mismatch", fmt.Sprintf("chunk %d does not match its entry of the hash list", i))
			return
		}
		l.mu.Lock()
		s.data = append(s.data, buf[:n]...)
		l.mu.Unlock()
		off += n
	}
	e.After = off
	if off == s.ref.SizeBytes {
		l.mu.Lock()
		whole := sha256Hex(s.data) == s.ref.SHA256
		if whole {
			s.complete = true
		} else {
			delete(l.sessions, s.id)
		}
		l.mu.Unlock()
		if !whole {
			e.Held = 0
			l.mediaProblem(w, e, http.StatusUnprocessableEntity, "media_mismatch", "the whole media does not hash to sha256")
			return
		}
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(off, 10))
	l.recordMedia(e, "204")
	w.WriteHeader(http.StatusNoContent)
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// mediaHeld says whether the tester holds, complete, the media env
// attaches, from its sender; true for a message without attached media.
func (l *Listener) mediaHeld(env *federation.Envelope, peer string) bool {
	ref, ok := attachedRef(env.Body)
	if env.Kind != federation.KindMessageDeliver || !ok {
		return true
	}
	sum := sha256.Sum256([]byte(peer + "\x00" + ref.key()))
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.sessions[hex.EncodeToString(sum[:])]
	return ok && s.complete
}

// loseMedia forgets the media of caseID that a's sender uploaded, once,
// when its tricks say so: it reports whether it did.
func (l *Listener) loseMedia(a *Arrival) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.mediaTricks[a.CaseID]
	if !f.LoseOnce || a.Env == nil || a.Env.Kind != federation.KindMessageDeliver {
		return false
	}
	ref, ok := attachedRef(a.Env.Body)
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(a.Peer + "\x00" + ref.key()))
	delete(l.sessions, hex.EncodeToString(sum[:]))
	f.LoseOnce = false
	l.mediaTricks[a.CaseID] = f
	return true
}
