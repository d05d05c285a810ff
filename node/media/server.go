package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/schema"
)

// Limits of the receiving side (SPEC §18.7). Zero fields take the defaults.
type Limits struct {
	// MaxMediaBytes is the largest media per message (default 2 GiB).
	MaxMediaBytes int64
	// MaxOfferBytes bounds the offer body: the envelope and the base64 hash
	// list (default 8 MiB).
	MaxOfferBytes int64
	// MaxUploadsPerPeer is how many incomplete uploads one peer may hold
	// (default 16).
	MaxUploadsPerPeer int
	// MaxPendingBytesPerPeer bounds the sizes of one peer's incomplete
	// uploads, added up (default 8 GiB).
	MaxPendingBytesPerPeer int64
	// SyncBytes: within a PATCH, written bytes are made durable at least
	// this often (default 16 MiB), so a cut loses little.
	SyncBytes int64
	// UploadTTL: an upload untouched for this long is removed by Expire
	// (default 8 days: past any envelope's exp + skew).
	UploadTTL time.Duration
	// ChunkTimeout bounds the wait for each chunk of a PATCH body (default
	// 2 minutes): a long upload may run for hours, a stalled one is cut. It
	// replaces the listener's read timeout for PATCH bodies.
	ChunkTimeout time.Duration
}

// Default limits.
const (
	DefaultMaxMediaBytes          = 2 << 30
	DefaultMaxOfferBytes          = 8 << 20
	DefaultMaxUploadsPerPeer      = 16
	DefaultMaxPendingBytesPerPeer = 8 << 30
	DefaultSyncBytes              = 16 << 20
	DefaultUploadTTL              = 8 * 24 * time.Hour
	DefaultChunkTimeout           = 2 * time.Minute
)

func (l Limits) withDefaults() Limits {
	if l.MaxMediaBytes <= 0 {
		l.MaxMediaBytes = DefaultMaxMediaBytes
	}
	if l.MaxOfferBytes <= 0 {
		l.MaxOfferBytes = DefaultMaxOfferBytes
	}
	if l.MaxUploadsPerPeer <= 0 {
		l.MaxUploadsPerPeer = DefaultMaxUploadsPerPeer
	}
	if l.MaxPendingBytesPerPeer <= 0 {
		l.MaxPendingBytesPerPeer = DefaultMaxPendingBytesPerPeer
	}
	if l.SyncBytes <= 0 {
		l.SyncBytes = DefaultSyncBytes
	}
	if l.UploadTTL <= 0 {
		l.UploadTTL = DefaultUploadTTL
	}
	if l.ChunkTimeout <= 0 {
		l.ChunkTimeout = DefaultChunkTimeout
	}
	return l
}

// VerifyFunc verifies an offered envelope as the envelope endpoint would,
// without storing or processing it: signature and claims (iss must be peer,
// aud this node), the recipient's accepts, schema validation, the sender's
// role. Refusals are *federation.Error; anything else is an internal error.
// The node passes its own receive path's verification here.
type VerifyFunc func(ctx context.Context, peer string, envelope []byte) (*federation.Envelope, error)

// Server is the receiving side of the media wire: http.Handler for
// UploadsPath and below on the federation listener (behind
// mtls.Middleware). It holds no state of its own: everything is in Store, so
// replicas sharing a Postgres store serve the same uploads.
type Server struct {
	Store  Store
	Verify VerifyFunc
	// Peer returns the authenticated member of a request (default:
	// mtls.PeerFromContext, set by mtls.Middleware).
	Peer   func(*http.Request) (string, bool)
	Limits Limits
	Log    *slog.Logger
	Now    func() time.Time
}

func (s *Server) peer(r *http.Request) (string, bool) {
	if s.Peer != nil {
		return s.Peer(r)
	}
	return mtls.PeerFromContext(r.Context())
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// UploadID is the id of the upload of ref's bytes from iss: one per sender
// and media, so a sender that re-signs an envelope (new jti) resumes the same
// upload, and no member's upload is another's.
func UploadID(iss string, ref Ref) Digest {
	return Sum(fmt.Appendf(nil, "flx/1 media upload\x00%s\x00%s\x00%d\x00%d\x00%s", iss, ref.SHA256, ref.Size, ref.ChunkBytes, ref.ChunksRoot))
}

// uploadMeta is what an upload keeps beside its bytes: a JSON line, then the
// hash list.
type uploadMeta struct {
	Issuer     string `json:"iss"`
	SHA256     string `json:"sha256"`
	Size       int64  `json:"size"`
	ChunkBytes int64  `json:"chunk_bytes"`
	ChunksRoot string `json:"chunks_sha256"`
}

func encodeMeta(iss string, ref Ref, h HashList) []byte {
	b, _ := json.Marshal(uploadMeta{iss, ref.SHA256.String(), ref.Size, ref.ChunkBytes, ref.ChunksRoot.String()})
	return append(append(b, '\n'), h.Bytes()...)
}

func decodeMeta(b []byte) (string, Ref, HashList, error) {
	head, list, ok := bytes.Cut(b, []byte{'\n'})
	var m uploadMeta
	if !ok || json.Unmarshal(head, &m) != nil {
		return "", Ref{}, nil, errors.New("media: bad upload metadata")
	}
	ref, err := RefFromSchema(schema.MediaRef{SHA256: m.SHA256, SizeBytes: m.Size, ChunkBytes: m.ChunkBytes, ChunksSHA256: m.ChunksRoot})
	if err != nil {
		return "", Ref{}, nil, err
	}
	h, err := ParseHashList(list, ref)
	return m.Issuer, ref, h, err
}

// ServeHTTP routes the media wire. Paths are compared as sent (escaped), so
// no dot segment, encoded slash or other spelling reaches an upload.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	peer, ok := s.peer(r)
	if !ok {
		writeProblem(w, federation.CodeUnauthenticatedPeer, "a client certificate of a federation member is required")
		return
	}
	p := r.URL.EscapedPath()
	switch {
	case p == UploadsPath:
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeProblem(w, CodeMethodNotAllowed, "allowed: POST")
			return
		}
		s.offer(w, r, peer)
	case strings.HasPrefix(p, UploadsPath+"/"):
		id, err := ParseDigest(strings.TrimPrefix(p, UploadsPath+"/"))
		if err != nil {
			writeProblem(w, CodeNotFound, "no such upload")
			return
		}
		switch r.Method {
		case http.MethodHead:
			s.head(w, r, peer, id)
		case http.MethodPatch:
			s.patch(w, r, peer, id)
		default:
			w.Header().Set("Allow", "HEAD, PATCH")
			writeProblem(w, CodeMethodNotAllowed, "allowed: HEAD, PATCH")
		}
	default:
		writeProblem(w, CodeNotFound, "no such media resource")
	}
}

// refuse logs a refusal (codes and ids only) and answers it.
func (s *Server) refuse(w http.ResponseWriter, peer string, code federation.Code, detail string, err error) {
	if HTTPStatus(code) >= 500 && code != CodeInsufficientStorage {
		s.log().Error("media request failed", "peer", peer, "code", code, "err", err)
		detail = "internal error"
	} else {
		s.log().Info("media request refused", "peer", peer, "code", code)
	}
	writeProblem(w, code, detail)
}

func mediaTypeIs(r *http.Request, want string) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && strings.EqualFold(mt, want)
}

// offerOf checks an offered envelope and returns the attached media's
// reference. Exported as OfferOf for the node's envelope endpoint.
func offerOf(env *federation.Envelope) (schema.Message, Ref, *federation.Error) {
	var m schema.Message
	if env.Kind != federation.KindMessageDeliver {
		return m, Ref{}, &federation.Error{Code: CodeBadUpload, Msg: "only a message.deliver envelope carries media"}
	}
	if err := schema.Validate(schema.KindMessage, env.Body); err != nil {
		return m, Ref{}, &federation.Error{Code: federation.CodeSchemaInvalid, Msg: "body does not conform to schema v1 message", Err: err}
	}
	if err := json.Unmarshal(env.Body, &m); err != nil {
		return m, Ref{}, &federation.Error{Code: federation.CodeSchemaInvalid, Msg: "body does not decode", Err: err}
	}
	if m.CaseID != env.CaseID {
		return m, Ref{}, &federation.Error{Code: federation.CodeBadEnvelope, Msg: "the case_id claim differs from the body's case_id"}
	}
	if m.Media == nil {
		return m, Ref{}, &federation.Error{Code: CodeBadUpload, Msg: "the message has no media"}
	}
	ref, err := RefFromSchema(*m.Media)
	if err != nil {
		return m, Ref{}, &federation.Error{Code: CodeBadUpload, Msg: "the media reference has no chunk_bytes and chunks_sha256: nothing to transfer", Err: err}
	}
	return m, ref, nil
}

// AttachedRef returns the reference of the attached media of a verified
// message.deliver envelope, and false when it carries none (a reference
// only, or no media): what the node's envelope endpoint asks before Ready.
func AttachedRef(env *federation.Envelope) (Ref, bool) {
	if env.Kind != federation.KindMessageDeliver {
		return Ref{}, false
	}
	var m struct {
		Media *schema.MediaRef `json:"media"`
	}
	if json.Unmarshal(env.Body, &m) != nil || m.Media == nil || m.Media.ChunkBytes == 0 {
		return Ref{}, false
	}
	ref, err := RefFromSchema(*m.Media)
	return ref, err == nil
}

// offerAnswer is the JSON answer to an offer.
type offerAnswer struct {
	Upload   string `json:"upload"`
	Offset   int64  `json:"offset"`
	Length   int64  `json:"length"`
	Complete bool   `json:"complete"`
}

func (s *Server) offer(w http.ResponseWriter, r *http.Request, peer string) {
	lim := s.Limits.withDefaults()
	if !mediaTypeIs(r, "application/json") {
		s.refuse(w, peer, CodeBadUpload, "Content-Type must be application/json", nil)
		return
	}
	if r.ContentLength > lim.MaxOfferBytes {
		s.refuse(w, peer, federation.CodeTooLarge, "offer larger than "+strconv.FormatInt(lim.MaxOfferBytes, 10)+" bytes", nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, lim.MaxOfferBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		s.refuse(w, peer, federation.CodeTooLarge, "offer larger than "+strconv.FormatInt(lim.MaxOfferBytes, 10)+" bytes", nil)
		return
	case err != nil:
		s.refuse(w, peer, CodeBadUpload, "could not read the offer", nil)
		return
	}
	raw, hashBytes, err := parseOffer(body)
	if err != nil {
		s.refuse(w, peer, CodeBadUpload, err.Error(), nil)
		return
	}
	if s.Verify == nil {
		s.refuse(w, peer, CodeInternal, "", errors.New("media: Server.Verify is not set"))
		return
	}
	env, err := s.Verify(r.Context(), peer, raw)
	if err != nil {
		if c := federation.CodeOf(err); c != "" {
			var fe *federation.Error
			errors.As(err, &fe)
			s.refuse(w, peer, c, fe.Public(), nil)
			return
		}
		s.refuse(w, peer, CodeInternal, "", err)
		return
	}
	if env.Issuer != peer { // the verifier's job; never trust the wiring
		s.refuse(w, peer, federation.CodeSenderMismatch, "iss is not the authenticated peer", nil)
		return
	}
	var ref Ref
	msg, ferr := carried(raw, env)
	if ferr == nil {
		_, ref, ferr = offerOf(msg)
	}
	if ferr != nil {
		s.refuse(w, peer, ferr.Code, ferr.Public(), nil)
		return
	}
	if ref.Size > lim.MaxMediaBytes {
		s.refuse(w, peer, federation.CodeTooLarge, "media larger than "+strconv.FormatInt(lim.MaxMediaBytes, 10)+" bytes", nil)
		return
	}
	hashes, err := ParseHashList(hashBytes, ref)
	if err != nil {
		s.refuse(w, peer, CodeMediaMismatch, "the chunk hash list does not match chunks_sha256", nil)
		return
	}
	id := UploadID(peer, ref)
	ctx := r.Context()
	st, err := s.Store.Upload(ctx, id)
	created := false
	switch {
	case errors.Is(err, ErrNotFound):
		if code, msg := s.quota(ctx, peer, ref, lim); code != "" {
			s.refuse(w, peer, code, msg, nil)
			return
		}
		st, created, err = s.Store.CreateUpload(ctx, id, peer, Expect{SHA256: ref.SHA256, Size: ref.Size}, encodeMeta(peer, ref, hashes))
		if errors.Is(err, ErrNoSpace) {
			s.refuse(w, peer, CodeInsufficientStorage, "no space for this media now", err)
			return
		}
		if err != nil {
			s.refuse(w, peer, CodeInternal, "", err)
			return
		}
	case err != nil:
		s.refuse(w, peer, CodeInternal, "", err)
		return
	case st.Complete:
		// Complete, but the blob may have been erased since (Store.Delete
		// without Erase): then the sender must send it again.
		if _, serr := s.Store.Stat(ctx, ref.SHA256); errors.Is(serr, ErrNotFound) {
			if err := s.Store.DeleteUpload(ctx, id); err != nil {
				s.refuse(w, peer, CodeInternal, "", err)
				return
			}
			st, created, err = s.Store.CreateUpload(ctx, id, peer, Expect{SHA256: ref.SHA256, Size: ref.Size}, encodeMeta(peer, ref, hashes))
			if err != nil {
				code := CodeInternal
				if errors.Is(err, ErrNoSpace) {
					code = CodeInsufficientStorage
				}
				s.refuse(w, peer, code, "no space for this media now", err)
				return
			}
		}
	}
	if st.Owner != peer { // cannot happen: the id is derived from the peer
		s.refuse(w, peer, CodeNotFound, "no such upload", nil)
		return
	}
	loc := UploadsPath + "/" + id.String()
	h := w.Header()
	h.Set("Location", loc)
	h.Set(HeaderOffset, strconv.FormatInt(st.Offset, 10))
	h.Set(HeaderLength, strconv.FormatInt(st.Size, 10))
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	b, _ := json.Marshal(offerAnswer{Upload: loc, Offset: st.Offset, Length: st.Size, Complete: st.Complete})
	w.WriteHeader(status)
	w.Write(b)
	s.log().Info("media offer", "peer", peer, "upload", id.String(), "offset", st.Offset, "size", st.Size, "created", created)
}

// quota checks the per-peer limits before a new upload.
func (s *Server) quota(ctx context.Context, peer string, ref Ref, lim Limits) (federation.Code, string) {
	ups, err := s.Store.Uploads(ctx, peer)
	if err != nil {
		return CodeInternal, ""
	}
	open, pending := 0, ref.Size
	for _, u := range ups {
		if !u.Complete {
			open++
			pending += u.Size - u.Offset
		}
	}
	if open >= lim.MaxUploadsPerPeer {
		return CodeMediaQuota, "too many incomplete uploads from this member"
	}
	if pending > lim.MaxPendingBytesPerPeer {
		return CodeMediaQuota, "too many bytes pending from this member"
	}
	return "", ""
}

// ownUpload loads an upload and answers 404 unless it belongs to peer: an
// upload of another member does not exist for this one.
func (s *Server) ownUpload(w http.ResponseWriter, r *http.Request, peer string, id Digest) (UploadState, bool) {
	st, err := s.Store.Upload(r.Context(), id)
	if errors.Is(err, ErrNotFound) || (err == nil && st.Owner != peer) {
		s.refuse(w, peer, CodeNotFound, "no such upload", nil)
		return st, false
	}
	if err != nil {
		s.refuse(w, peer, CodeInternal, "", err)
		return st, false
	}
	return st, true
}

func (s *Server) head(w http.ResponseWriter, r *http.Request, peer string, id Digest) {
	st, ok := s.ownUpload(w, r, peer, id)
	if !ok {
		return
	}
	h := w.Header()
	h.Set(HeaderOffset, strconv.FormatInt(st.Offset, 10))
	h.Set(HeaderLength, strconv.FormatInt(st.Size, 10))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, peer string, id Digest) {
	st, ok := s.ownUpload(w, r, peer, id)
	if !ok {
		return
	}
	if !mediaTypeIs(r, ContentTypeChunks) {
		s.refuse(w, peer, CodeBadUpload, "Content-Type must be "+ContentTypeChunks, nil)
		return
	}
	off, err := ParseOffset(r.Header.Get(HeaderOffset))
	if err != nil {
		s.refuse(w, peer, CodeBadUpload, err.Error(), nil)
		return
	}
	mismatch := func(cur int64) {
		w.Header().Set(HeaderOffset, strconv.FormatInt(cur, 10))
		s.refuse(w, peer, CodeOffsetMismatch, "the upload is at offset "+strconv.FormatInt(cur, 10), nil)
	}
	if off != st.Offset {
		mismatch(st.Offset)
		return
	}
	if st.Complete {
		s.done(w, st.Size)
		return
	}
	if r.ContentLength > st.Size-off {
		w.Header().Set(HeaderOffset, strconv.FormatInt(off, 10))
		s.refuse(w, peer, federation.CodeTooLarge, "the body goes past Upload-Length", nil)
		return
	}
	iss, ref, hashes, err := decodeMeta(st.Meta)
	if err != nil || iss != peer || ref.SHA256 != st.SHA256 || off%ref.ChunkBytes != 0 {
		s.refuse(w, peer, CodeInternal, "", fmt.Errorf("media: upload %s: inconsistent metadata: %v", id, err))
		return
	}
	ctx := r.Context()
	lim := s.Limits.withDefaults()
	buf := make([]byte, ref.ChunkBytes)
	synced := off
	sync := func() error {
		if synced == off {
			return nil
		}
		// Sync with a context of its own: a client gone must not cost the
		// bytes already verified.
		err := s.Store.SyncUpload(context.WithoutCancel(ctx), id)
		if err == nil {
			synced = off
		}
		return err
	}
	var stop federation.Code
	var stopMsg string
	var stopErr error
	rc := http.NewResponseController(w)
read:
	for off < ref.Size {
		i := off / ref.ChunkBytes
		_, n := ref.Chunk(i)
		// A long upload outlives the listener's read and write timeouts;
		// a stalled one is cut per chunk (unsupported: the listener's own).
		_ = rc.SetReadDeadline(time.Now().Add(lim.ChunkTimeout))
		_ = rc.SetWriteDeadline(time.Now().Add(lim.ChunkTimeout))
		got, rerr := io.ReadFull(r.Body, buf[:n])
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			// The body ended, at a chunk boundary or inside a chunk. A
			// partial chunk cannot be verified: it is dropped, and the
			// sender resumes from the boundary.
			_ = got
			break read
		case rerr != nil:
			// Cut, timeout, or the connection is gone. Keep what was
			// verified; the sender resumes from Upload-Offset.
			if err := sync(); err != nil {
				s.log().Error("media sync failed", "peer", peer, "upload", id.String(), "err", err)
			}
			s.log().Info("media transfer interrupted", "peer", peer, "upload", id.String(), "offset", off)
			w.Header().Set(HeaderOffset, strconv.FormatInt(off, 10))
			writeProblem(w, CodeRequestTimeout, "the request body stopped before its end; resume from Upload-Offset")
			return
		}
		if Sum(buf[:n]) != hashes[i] {
			stop, stopMsg = CodeMediaMismatch, "chunk "+strconv.FormatInt(i, 10)+" does not match its signed hash"
			break read
		}
		next, werr := s.Store.WriteUpload(context.WithoutCancel(ctx), id, off, buf[:n])
		var oe *OffsetError
		switch {
		case errors.As(werr, &oe):
			// Another request (a retry while this one was slow) wrote
			// here first.
			if err := sync(); err != nil {
				stop, stopErr = CodeInternal, err
				break read
			}
			mismatch(oe.Offset)
			return
		case errors.Is(werr, ErrNoSpace):
			stop, stopMsg, stopErr = CodeInsufficientStorage, "no space for this media now", werr
			break read
		case errors.Is(werr, ErrComplete), errors.Is(werr, ErrNotFound):
			stop, stopMsg = CodeNotFound, "no such upload"
			break read
		case werr != nil:
			stop, stopErr = CodeInternal, werr
			break read
		}
		off = next
		if off-synced >= lim.SyncBytes {
			if err := sync(); err != nil {
				stop, stopMsg, stopErr = CodeInsufficientStorage, "no space for this media now", err
				if !errors.Is(err, ErrNoSpace) {
					stop = CodeInternal
				}
				break read
			}
		}
	}
	if stop == "" && off == ref.Size {
		// Everything verified: anything more in the body is a sender bug.
		var one [1]byte
		if n, _ := io.ReadFull(r.Body, one[:]); n > 0 {
			stop, stopMsg = federation.CodeTooLarge, "the body goes past Upload-Length"
		}
	}
	if err := sync(); err != nil && stop == "" {
		stop, stopMsg, stopErr = CodeInternal, "", err
		if errors.Is(err, ErrNoSpace) {
			stop, stopMsg = CodeInsufficientStorage, "no space for this media now"
		}
	}
	if off == ref.Size && (stop == "" || stop == federation.CodeTooLarge) {
		if _, err := s.Store.CommitUpload(context.WithoutCancel(ctx), id); err != nil {
			switch {
			case errors.Is(err, ErrMismatch):
				// Every chunk matched, the whole does not: the origin
				// signed a hash list and a sha256 that disagree.
				_ = s.Store.DeleteUpload(context.WithoutCancel(ctx), id)
				stop, stopMsg, off = CodeMediaMismatch, "the media does not hash to the signed sha256", 0
			case errors.Is(err, ErrNoSpace):
				stop, stopMsg, stopErr = CodeInsufficientStorage, "no space for this media now", err
			default:
				stop, stopErr = CodeInternal, err
			}
		} else {
			s.log().Info("media received", "peer", peer, "upload", id.String(), "sha256", ref.SHA256.String(), "size", ref.Size)
		}
	}
	w.Header().Set(HeaderOffset, strconv.FormatInt(off, 10))
	if stop != "" {
		s.refuse(w, peer, stop, stopMsg, stopErr)
		return
	}
	s.done(w, off)
}

func (s *Server) done(w http.ResponseWriter, off int64) {
	w.Header().Set(HeaderOffset, strconv.FormatInt(off, 10))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// Ready reports whether the media ref of a message from iss is here, whole
// and verified: nil, or a *federation.Error with CodeMediaIncomplete. The
// node's envelope endpoint calls it for a message.deliver with attached
// media (AttachedRef) after verifying the envelope and before storing it, and
// refuses the envelope with the error until the media is complete
// (FLX-MED-010): so a receipt always means the media arrived.
func (s *Server) Ready(ctx context.Context, iss string, ref Ref) error {
	st, err := s.Store.Upload(ctx, UploadID(iss, ref))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err == nil && st.Complete && st.Owner == iss {
		if _, err := s.Store.Stat(ctx, ref.SHA256); err == nil {
			return nil
		}
	}
	return &federation.Error{Code: CodeMediaIncomplete, Msg: "the media of this message has not been received and verified; upload it to " + UploadsPath + " first"}
}

// Expire removes uploads untouched for Limits.UploadTTL: incomplete ones
// with their bytes, complete ones as records (the blob stays; the node
// erases blobs that no stored message references). It returns how many.
func (s *Server) Expire(ctx context.Context) (int, error) {
	lim := s.Limits.withDefaults()
	ups, err := s.Store.Uploads(ctx, "")
	if err != nil {
		return 0, err
	}
	cut := s.now().Add(-lim.UploadTTL)
	n := 0
	for _, u := range ups {
		if u.Updated.Before(cut) {
			if err := s.Store.DeleteUpload(ctx, u.ID); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
