package pull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/mtls"
)

// Handler serves GET /flx/v1/pull and POST /flx/v1/pull/ack for the member
// Self, over Queue. Wrap it (or the router it is mounted on) with
// mtls.Middleware: it serves only requests whose authenticated peer is in the
// context, and each peer only its own queue.
type Handler struct {
	Self     string
	Manifest federation.ManifestSource
	Queue    Queue
	// Lease is how long pulled envelopes are held (0: DefaultLease).
	Lease time.Duration
	// BatchBytes bounds the envelope bytes of one batch (0: DefaultBatchSize).
	BatchBytes int64
	// Poll is how often a waiting pull looks at the queue again (0: 1 s).
	Poll time.Duration
	Skew time.Duration    // 0: federation.DefaultSkew
	Now  func() time.Time // nil: time.Now
	Log  *slog.Logger     // nil: discard
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

// ServeHTTP routes the two resources; the node may instead mount ServePull
// and ServeAck on its own router.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathPull:
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			writeProblem(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
			return
		}
		h.ServePull(w, r)
	case PathAck:
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeProblem(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
			return
		}
		h.ServeAck(w, r)
	default:
		writeProblem(w, http.StatusNotFound, "not_found", "no such resource")
	}
}

// peer returns the authenticated member, or answers 401 / 503 itself.
func (h *Handler) peer(w http.ResponseWriter, r *http.Request) (string, *federation.Manifest, bool) {
	peer, ok := mtls.PeerFromContext(r.Context())
	if !ok {
		writeProblem(w, http.StatusUnauthorized, string(federation.CodeUnauthenticatedPeer), "a client certificate of a federation member is required")
		return "", nil, false
	}
	m := h.Manifest.Current()
	if m == nil || m.ExpiredAt(h.now(), h.Skew) {
		w.Header().Set("Retry-After", "60")
		writeProblem(w, http.StatusServiceUnavailable, string(federation.CodeUnavailable), "this node holds no valid federation manifest")
		return "", nil, false
	}
	if mb, ok := m.Member(peer); !ok || mb.Status != federation.StatusActive {
		writeProblem(w, http.StatusForbidden, string(federation.CodeSuspendedMember), "the member is not active")
		return "", nil, false
	}
	return peer, m, true
}

// ServePull answers GET /flx/v1/pull?max=N&wait=S: up to N (1..MaxMax,
// default DefaultMax) envelopes queued for the peer, leased to it; when none
// is waiting, it waits up to S seconds (0..30, default 0) for one.
func (h *Handler) ServePull(w http.ResponseWriter, r *http.Request) {
	peer, _, ok := h.peer(w, r)
	if !ok {
		return
	}
	max, wait, err := pullParams(r)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, string(federation.CodeBadEnvelope), err.Error())
		return
	}
	lease := h.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	size := h.BatchBytes
	if size <= 0 {
		size = DefaultBatchSize
	}
	poll := h.Poll
	if poll <= 0 {
		poll = time.Second
	}
	ctx := r.Context()
	deadline := time.Now().Add(wait)
	var got []Queued
	var more bool
	var until time.Time
	for {
		now := h.now()
		until = now.Add(lease)
		got, more, err = h.Queue.Lease(ctx, peer, Limit{Count: max, Bytes: size}, now, until)
		if err != nil {
			h.log().Error("pull: lease failed", "peer", peer, "err", err)
			writeProblem(w, http.StatusInternalServerError, "internal_error", "internal error")
			return
		}
		if len(got) > 0 || !time.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(poll, time.Until(deadline))):
		}
	}
	b := Batch{Envelopes: make([]string, 0, len(got)), LeaseUntil: until.Unix(), More: more}
	for _, q := range got {
		b.Envelopes = append(b.Envelopes, string(q.Raw))
	}
	h.log().Info("pull served", "peer", peer, "envelopes", len(b.Envelopes), "more", b.More)
	writeJSON(w, http.StatusOK, b)
}

func pullParams(r *http.Request) (max int, wait time.Duration, err error) {
	q := r.URL.Query()
	max = DefaultMax
	for name, vals := range q {
		if len(vals) != 1 {
			return 0, 0, fmt.Errorf("query parameter %q given %d times", name, len(vals))
		}
		n, err := strconv.Atoi(vals[0])
		if err != nil || n < 0 || vals[0] != strconv.Itoa(n) {
			return 0, 0, fmt.Errorf("query parameter %q is not a non-negative integer", name)
		}
		switch name {
		case "max":
			if n < 1 || n > MaxMax {
				return 0, 0, fmt.Errorf("max must be 1 to %d", MaxMax)
			}
			max = n
		case "wait":
			if time.Duration(n)*time.Second > MaxWait {
				return 0, 0, fmt.Errorf("wait must be 0 to %d seconds", int(MaxWait/time.Second))
			}
			wait = time.Duration(n) * time.Second
		default:
			return 0, 0, fmt.Errorf("unknown query parameter %q", name)
		}
	}
	return max, wait, nil
}

// ServeAck answers POST /flx/v1/pull/ack: each receipt is verified against
// the envelope it names among those queued for the peer (FLX-RCP-005: signed
// by the peer, for this member, for that jti and those exact bytes) and, if
// it holds, the envelope is done; each refusal with a code that is not
// retried dead-letters its envelope.
func (h *Handler) ServeAck(w http.ResponseWriter, r *http.Request) {
	peer, m, ok := h.peer(w, r)
	if !ok {
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != MediaType {
		writeProblem(w, http.StatusBadRequest, string(federation.CodeBadEnvelope), "the acknowledgement must be application/json")
		return
	}
	if r.ContentLength > MaxAckBytes {
		writeProblem(w, http.StatusRequestEntityTooLarge, string(federation.CodeTooLarge), fmt.Sprintf("an acknowledgement is at most %d bytes", MaxAckBytes))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxAckBytes+1))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, string(federation.CodeBadEnvelope), "the acknowledgement could not be read")
		return
	}
	if int64(len(body)) > MaxAckBytes {
		writeProblem(w, http.StatusRequestEntityTooLarge, string(federation.CodeTooLarge), fmt.Sprintf("an acknowledgement is at most %d bytes", MaxAckBytes))
		return
	}
	a, err := parseAck(body)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, string(federation.CodeBadEnvelope), `the acknowledgement is not {"receipts":[…],"refusals":[…]} with receipts an array of strings`)
		return
	}
	if len(a.Receipts)+len(a.Refusals) > MaxAckItems {
		writeProblem(w, http.StatusRequestEntityTooLarge, string(federation.CodeTooLarge), fmt.Sprintf("at most %d receipts and refusals in one acknowledgement", MaxAckItems))
		return
	}
	ctx := r.Context()
	res := AckResult{Receipts: make([]ItemResult, 0, len(a.Receipts)), Refusals: make([]ItemResult, 0, len(a.Refusals))}
	for _, raw := range a.Receipts {
		it, err := h.ackReceipt(ctx, m, peer, []byte(raw))
		if err != nil {
			h.log().Error("pull: recording a receipt failed", "peer", peer, "err", err)
			writeProblem(w, http.StatusInternalServerError, "internal_error", "internal error")
			return
		}
		res.Receipts = append(res.Receipts, it)
	}
	for _, rf := range a.Refusals {
		it, err := h.ackRefusal(ctx, peer, rf)
		if err != nil {
			h.log().Error("pull: recording a refusal failed", "peer", peer, "err", err)
			writeProblem(w, http.StatusInternalServerError, "internal_error", "internal error")
			return
		}
		res.Refusals = append(res.Refusals, it)
	}
	writeJSON(w, http.StatusOK, res)
}

// parseAck reads an acknowledgement strictly: exactly the members of Ack,
// each once, receipts an array of strings (FLX-PUL-007). An item that is
// not a string refuses the whole acknowledgement, as it refuses a batch
// (FLX-BAT-003): a null, which encoding/json would read as "", included.
func parseAck(body []byte) (Ack, error) {
	// Pointers, so that a null item is told from a string.
	var w struct {
		Receipts []*string `json:"receipts"`
		Refusals []Refusal `json:"refusals,omitempty"`
	}
	if err := federation.DecodeStrict(body, &w); err != nil {
		return Ack{}, fmt.Errorf("pull: acknowledgement: %w", err)
	}
	if w.Receipts == nil {
		return Ack{}, errors.New("pull: acknowledgement: receipts is not an array")
	}
	a := Ack{Receipts: make([]string, len(w.Receipts)), Refusals: w.Refusals}
	for i, r := range w.Receipts {
		if r == nil {
			return Ack{}, fmt.Errorf("pull: acknowledgement: receipt %d is null, not a string", i)
		}
		a.Receipts[i] = *r
	}
	return a, nil
}

func (h *Handler) ackReceipt(ctx context.Context, m *federation.Manifest, peer string, raw []byte) (ItemResult, error) {
	iss, jti, err := federation.PeekReceipt(raw)
	if err != nil {
		return ItemResult{Status: StatusRefused, Code: federation.CodeOf(err)}, nil
	}
	if iss != peer {
		return ItemResult{JTI: jti, Status: StatusRefused, Code: federation.CodeSenderMismatch}, nil
	}
	q, ok, err := h.Queue.Lookup(ctx, peer, jti)
	if err != nil {
		return ItemResult{}, err
	}
	if !ok {
		return ItemResult{JTI: jti, Status: StatusUnknown}, nil
	}
	rc, err := federation.VerifyReceipt(raw, m, federation.ExpectedReceipt{
		Issuer: peer, Audience: h.Self, ReceiptFor: q.JTI, SHA256: q.SHA256, Skew: h.Skew,
	}, h.now())
	if err != nil {
		code := federation.CodeOf(err)
		if code == "" {
			return ItemResult{}, err
		}
		h.log().Warn("pull: receipt refused", "peer", peer, "jti", jti, "code", code)
		return ItemResult{JTI: jti, Status: StatusRefused, Code: code}, nil
	}
	if err := h.Queue.Delivered(ctx, peer, q, rc); err != nil {
		return ItemResult{}, err
	}
	return ItemResult{JTI: jti, Status: StatusRecorded}, nil
}

func (h *Handler) ackRefusal(ctx context.Context, peer string, rf Refusal) (ItemResult, error) {
	if rf.Code.Retryable() || rf.JTI == "" {
		return ItemResult{JTI: rf.JTI, Status: StatusRefused, Code: federation.CodeBadEnvelope}, nil
	}
	q, ok, err := h.Queue.Lookup(ctx, peer, rf.JTI)
	if err != nil {
		return ItemResult{}, err
	}
	if !ok || q.SHA256 != rf.SHA256 {
		return ItemResult{JTI: rf.JTI, Status: StatusUnknown}, nil
	}
	if err := h.Queue.Refused(ctx, peer, q, rf.Code); err != nil {
		return ItemResult{}, err
	}
	h.log().Warn("pull: envelope refused by the puller", "peer", peer, "jti", rf.JTI, "code", rf.Code)
	return ItemResult{JTI: rf.JTI, Status: StatusRecorded}, nil
}

// problem is the RFC 9457 body (conformance/SPEC.md §8.1).
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	body, _ := json.Marshal(problem{Type: "urn:flx:problem:" + code, Title: http.StatusText(status), Status: status, Code: code, Detail: detail})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, "internal_error", "internal error")
		return
	}
	w.Header().Set("Content-Type", MediaType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
