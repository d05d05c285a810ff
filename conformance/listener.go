package conformance

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/mtls"
)

// Arrival is one request the candidate made to the tester's listener.
type Arrival struct {
	At          time.Time
	Method      string
	Path        string
	ContentType string
	TLSVersion  uint16
	Peer        string // member authenticated by the client certificate ("" none)
	Raw         []byte
	CaseID      string               // case_id claim, read before verification
	JTI         string               // jti claim, read before verification
	Kind        string               // kind claim, read before verification
	Env         *federation.Envelope // nil when the envelope did not verify
	VerifyErr   error
	Attempt     int // 1 for the first arrival of these bytes, 2 for the next copy ...
	Batch       int // the batch it came in (1 the first batch of the run, ...); 0 alone
	Answered    string
	AnsweredAt  time.Time // just before the answer was written
}

// Action is how the listener answers one arrival.
type Action struct {
	Status     int    // HTTP status; 0 means 202 with a receipt (or a refusal if the envelope does not verify)
	Code       string // problem code when Status is an error
	Drop       bool   // close the connection without answering
	Receipt    string // with Status 0: "" a valid receipt, "empty", or one of badReceipts
	RetryAfter string
	Location   string // a Location header (for a 3xx)
	// Delay holds the answer back this long (the attempt completes late).
	Delay time.Duration
	// Release, with Delay, lets the held answer go as soon as it is closed:
	// the check decides when, Delay bounds it.
	Release <-chan struct{}
	// Hang never answers: the request is held until the candidate gives it
	// up (closes the connection) or the listener closes (FLX-DLV-007).
	Hang bool
}

// maxHang bounds how long the listener holds a request it never answers:
// beyond FLX-DLV-007's 120 s and the check's own wait.
const maxHang = 200 * time.Second

// BatchScript chooses how the listener answers a batch (POST
// /flx/v1/batches, SPEC.md §19) whose envelopes arrived as as: a zero
// Action answers 200 with one result per envelope, as each envelope's case
// script says (Status: that refusal; Receipt: that receipt fault, or
// "swapped", the valid receipt of the batch's next envelope); an Action
// with a Status answers the batch as a whole.
type BatchScript func(as []*Arrival) Action

// badReceipts are the faulty receipts the listener can answer with, each
// breaking one thing a sender checks (SPEC.md FLX-RCP-005), everything
// else valid.
var badReceipts = []string{
	"bad-sha256", "wrong-receipt-for", "wrong-aud", "wrong-iss", "other-signer", "bad-signature",
	"wrong-typ", "bad-status", "future-iat", "extra-claim", "expired-key", "other-member",
	"no-iat",
}

// faultyReceipt signs the receipt claims rc with the tester's key, broken
// in the way fault names.
func (l *Listener) faultyReceipt(rc federation.ReceiptClaims, fault string) []byte {
	claims := map[string]any{
		"iss": rc.Issuer, "aud": rc.Audience, "iat": rc.IssuedAt.Unix(), "receipt_for": rc.ReceiptFor,
		"sha256": rc.SHA256, "status": string(rc.Status),
	}
	s, typ := signerOf(l.id.Keys[keyTester]), "flx-receipt+jws"
	switch fault {
	case "bad-sha256":
		claims["sha256"] = sha256Hex([]byte("not " + rc.SHA256))
	case "wrong-receipt-for":
		claims["receipt_for"] = rc.ReceiptFor + "x"
	case "wrong-aud":
		claims["aud"] = MemberPeer
	case "wrong-iss":
		claims["iss"] = MemberPeer // signed by the tester, which is not XD-PEER
	case "other-signer":
		s = signerOf(l.id.Keys[keyPeer]) // iss the tester, signed by XD-PEER's key
	case "other-member":
		// A receipt valid in every way but that XD-PEER, not the
		// destination, issued and signed it: a sender that takes any
		// member's receipt, checking the signature against the keys of
		// the iss it reads, accepts it.
		claims["iss"] = MemberPeer
		s = signerOf(l.id.Keys[keyPeer])
	case "wrong-typ":
		typ = "JWT"
	case "bad-status":
		claims["status"] = "stored"
	case "future-iat":
		claims["iat"] = rc.IssuedAt.Add(time.Hour).Unix()
	case "no-iat":
		delete(claims, "iat") // no time to check the key's validity at
	case "extra-claim":
		claims["exp"] = rc.IssuedAt.Add(time.Hour).Unix()
	case "expired-key":
		s = signerOf(l.id.Keys[keyTesterExpired])
	}
	payload, _ := json.Marshal(claims)
	out := compact(header(s.alg, s.kid, typ), payload, s)
	if fault == "bad-signature" {
		i := strings.LastIndexByte(string(out), '.')
		sig, _ := b64.DecodeString(string(out[i+1:]))
		sig[0] ^= 0xff
		out = append(out[:i+1:i+1], b64.EncodeToString(sig)...)
	}
	return out
}

// Script chooses the answer for an arrival of a case.
type Script func(a *Arrival) Action

// Listener is the XD-TESTER member's federation listener, at its manifest
// endpoint: it records what the candidate sends and answers as the running
// check's script says (by default: 202 with a valid receipt).
type Listener struct {
	id       *Identity
	ln       net.Listener
	srv      *http.Server
	verifier *federation.Verifier

	mu       sync.Mutex
	arrivals []*Arrival
	scripts  map[string]Script // by case_id
	seen     map[string]int    // sha256 -> copies
	notify   chan struct{}
	pull     *pullServer // what a pulling candidate is served (nil: nothing)
	pulls    []time.Time // when the candidate pulled (GET /flx/v1/pull)

	// rogue, when set, is the TLS configuration every new handshake gets
	// instead of the listener's own (server-side faults of FLX-TLS-005);
	// rogueHellos counts the ClientHellos it answered.
	rogue       atomic.Pointer[tls.Config]
	rogueHellos atomic.Int64

	// batchScript, when set, makes the listener serve batches (otherwise
	// it answers them 404, as a peer without batches); batches counts the
	// batches received.
	batchScript atomic.Pointer[BatchScript]
	batches     atomic.Int64
	closing     chan struct{}

	// The candidate's media (listener_media.go), under mu.
	sessions    map[string]*recvSession // by id
	mediaTricks map[string]MediaTricks  // by case_id
	mediaEvents []*MediaEvent
}

func startListener(id *Identity, _ time.Duration) (*Listener, error) {
	cand := id.Candidate()
	pins := map[string]string{}
	for _, p := range cand.TLSSPKISHA256 {
		pins[p] = cand.ID
	}
	dir := mtls.NewStatic(id.Manifest.RootCAs(), pins)
	ln, err := net.Listen("tcp", id.Settings.TesterListen)
	if err != nil {
		return nil, fmt.Errorf("conformance: tester listener on %s: %w", id.Settings.TesterListen, err)
	}
	l := &Listener{
		id: id, ln: ln, scripts: map[string]Script{}, seen: map[string]int{}, notify: make(chan struct{}), closing: make(chan struct{}),
		sessions: map[string]*recvSession{}, mediaTricks: map[string]MediaTricks{},
		verifier: &federation.Verifier{Manifest: federation.StaticManifest(id.Manifest), Self: MemberTester},
	}
	cfg := mtls.ServerConfig(id.Certs[certTester], dir)
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		if r := l.rogue.Load(); r != nil {
			l.rogueHellos.Add(1)
			return r, nil
		}
		return nil, nil
	}
	l.srv = &http.Server{Handler: mtls.Middleware(dir)(http.HandlerFunc(l.serve)), TLSConfig: cfg,
		ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	l.srv.SetKeepAlivesEnabled(true)
	go func() { _ = l.srv.Serve(tls.NewListener(ln, cfg)) }() // HTTP/1.1 only, so that Drop can hijack
	return l, nil
}

// Close stops the listener, and lets go of the requests it holds.
func (l *Listener) Close() {
	close(l.closing)
	_ = l.srv.Close()
}

// ServeBatches makes the listener serve batches, answered as s says; nil
// goes back to answering them 404.
func (l *Listener) ServeBatches(s BatchScript) {
	if s == nil {
		l.batchScript.Store(nil)
		return
	}
	l.batchScript.Store(&s)
}

// Script sets the script for envelopes about caseID (nil removes it).
func (l *Listener) Script(caseID string, s Script) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s == nil {
		delete(l.scripts, caseID)
		return
	}
	l.scripts[caseID] = s
}

// Arrivals returns the arrivals that match (nil matches all).
func (l *Listener) Arrivals(match func(*Arrival) bool) []*Arrival {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*Arrival
	for _, a := range l.arrivals {
		if match == nil || match(a) {
			out = append(out, a)
		}
	}
	return out
}

// Wait waits until n arrivals match, or until timeout; it returns the
// matching arrivals either way.
func (l *Listener) Wait(match func(*Arrival) bool, n int, timeout time.Duration) []*Arrival {
	deadline := time.Now().Add(timeout)
	for {
		l.mu.Lock()
		ch := l.notify
		l.mu.Unlock()
		got := l.Arrivals(match)
		left := time.Until(deadline)
		if len(got) >= n || left <= 0 {
			return got
		}
		select {
		case <-ch:
		case <-time.After(left):
		}
	}
}

func forCase(caseID string) func(*Arrival) bool {
	return func(a *Arrival) bool { return a.CaseID == caseID }
}

func (l *Listener) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/.well-known/flx" {
		// What the tester declares, as every node does (SPEC §8.2): a
		// sender may read it before queueing. Not an arrival.
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"member": MemberTester, "protocol_versions": []string{"flx/1"}, "schema_versions": []string{"1"},
			"limits":  map[string]any{"max_body_bytes": 1 << 20, "clock_skew_seconds": 60, "max_media_bytes": testerMaxMedia},
			"accepts": []string{"case.create", "case.update", "case.response", "message.deliver", "case.withdraw"},
		})
		return
	}
	if peer, _ := mtls.PeerFromContext(r.Context()); l.servePull(w, r, peer) {
		return
	}
	if r.URL.Path == mediaUploads || strings.HasPrefix(r.URL.Path, mediaUploads+"/") {
		l.serveMedia(w, r)
		return
	}
	a := &Arrival{At: time.Now(), Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type")}
	if r.TLS != nil {
		a.TLSVersion = r.TLS.Version
	}
	a.Peer, _ = mtls.PeerFromContext(r.Context())
	a.Raw, _ = io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if bs := l.batchScript.Load(); bs != nil && r.Method == http.MethodPost && r.URL.Path == federation.BatchesPath {
		l.serveBatch(w, r, a, *bs)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/flx/v1/envelopes" {
		l.record(a, "404")
		answerProblem(w, http.StatusNotFound, "not_found")
		return
	}
	script := l.arrive(r, a)
	if a.Env != nil && !l.mediaHeld(a.Env, a.Peer) {
		l.record(a, "409 media_incomplete")
		answerProblem(w, http.StatusConflict, "media_incomplete")
		return
	}
	if a.Env != nil && l.loseMedia(a) {
		l.record(a, "409 media_incomplete (lost)")
		answerProblem(w, http.StatusConflict, "media_incomplete")
		return
	}
	act := Action{}
	if script != nil {
		act = script(a)
	}
	if act.Delay > 0 {
		select {
		case <-time.After(act.Delay):
		case <-act.Release:
		case <-r.Context().Done():
		case <-l.closing:
		}
	}
	switch {
	case act.Hang:
		l.record(a, "hang")
		select {
		case <-r.Context().Done():
		case <-l.closing:
		case <-time.After(maxHang):
		}
		return
	case act.Drop:
		l.record(a, "drop")
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // HTTP/2: reset the stream
	case act.Status != 0:
		l.record(a, fmt.Sprintf("%d %s", act.Status, act.Code))
		if act.RetryAfter != "" {
			w.Header().Set("Retry-After", act.RetryAfter)
		}
		if act.Location != "" {
			w.Header().Set("Location", act.Location)
		}
		if act.Status < 300 { // another 2xx: no receipt
			w.WriteHeader(act.Status)
			return
		}
		answerProblem(w, act.Status, act.Code)
		return
	case a.VerifyErr != nil:
		code := string(federation.CodeOf(a.VerifyErr))
		if code == "" {
			code = "bad_envelope"
		}
		l.record(a, "refused "+code)
		answerProblem(w, federation.Code(code).HTTPStatus(), code)
		return
	}
	rc := federation.ReceiptFor(a.Env, federation.ReceiptAccepted, time.Now())
	if a.Attempt > 1 {
		rc.Status = federation.ReceiptDuplicate
	}
	switch act.Receipt {
	case "":
	case "empty":
		l.record(a, "202 empty")
		w.Header().Set("Content-Type", "application/jose")
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if act.Receipt != "" {
		l.record(a, "202 "+act.Receipt)
		w.Header().Set("Content-Type", "application/jose")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(l.faultyReceipt(rc, act.Receipt))
		return
	}
	receipt, err := federation.SignReceipt(rc, l.id.Keys[keyTester])
	if err != nil {
		l.record(a, "500")
		answerProblem(w, http.StatusInternalServerError, "internal_error")
		return
	}
	l.record(a, "202 "+act.Receipt)
	w.Header().Set("Content-Type", "application/jose")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(receipt)
}

// arrive reads the claims of the envelope a carries (before verification),
// verifies it, counts its copies and returns the script of its case.
func (l *Listener) arrive(r *http.Request, a *Arrival) Script {
	var head struct {
		CaseID string `json:"case_id"`
		JTI    string `json:"jti"`
		Kind   string `json:"kind"`
	}
	if parts := strings.Split(string(a.Raw), "."); len(parts) == 3 {
		if p, err := b64.DecodeString(parts[1]); err == nil {
			_ = json.Unmarshal(p, &head)
		}
	}
	a.CaseID, a.JTI, a.Kind = head.CaseID, head.JTI, head.Kind
	a.Env, a.VerifyErr = l.verifier.Verify(r.Context(), a.Raw, a.Peer)

	l.mu.Lock()
	defer l.mu.Unlock()
	sum := sha256Hex(a.Raw)
	l.seen[sum]++
	a.Attempt = l.seen[sum]
	return l.scripts[a.CaseID]
}

// serveBatch answers a batch (SPEC.md §19) as bs and the envelopes' case
// scripts say; each envelope of it is an arrival of its own.
func (l *Listener) serveBatch(w http.ResponseWriter, r *http.Request, req *Arrival, bs BatchScript) {
	envs, err := federation.ParseBatchRequest(req.Raw, 1000)
	if err != nil {
		l.record(req, "400 bad batch")
		answerProblem(w, http.StatusBadRequest, "bad_envelope")
		return
	}
	n := int(l.batches.Add(1))
	as := make([]*Arrival, len(envs))
	scripts := make([]Script, len(envs))
	for i, e := range envs {
		a := *req
		a.Raw, a.Batch = e, n
		as[i] = &a
		scripts[i] = l.arrive(r, as[i])
	}
	whole := bs(as)
	if whole.Status != 0 {
		for _, a := range as {
			l.record(a, fmt.Sprintf("batch %d %s", whole.Status, whole.Code))
		}
		if whole.RetryAfter != "" {
			w.Header().Set("Retry-After", whole.RetryAfter)
		}
		answerProblem(w, whole.Status, whole.Code)
		return
	}
	type result struct {
		Status  int            `json:"status"`
		Receipt string         `json:"receipt,omitempty"`
		Problem map[string]any `json:"problem,omitempty"`
	}
	refusal := func(status int, code string) result {
		return result{Status: status, Problem: map[string]any{"type": "urn:flx:problem:" + code, "title": code, "status": status, "code": code}}
	}
	valid := func(a *Arrival) string {
		if a.Env == nil {
			return ""
		}
		rc := federation.ReceiptFor(a.Env, federation.ReceiptAccepted, time.Now())
		if a.Attempt > 1 {
			rc.Status = federation.ReceiptDuplicate
		}
		b, err := federation.SignReceipt(rc, l.id.Keys[keyTester])
		if err != nil {
			return ""
		}
		return string(b)
	}
	results := make([]result, len(as))
	answered := make([]string, len(as))
	for i, a := range as {
		act := Action{}
		if scripts[i] != nil {
			act = scripts[i](a)
		}
		switch {
		case act.Status != 0:
			results[i], answered[i] = refusal(act.Status, act.Code), fmt.Sprintf("%d %s", act.Status, act.Code)
		case a.VerifyErr != nil:
			code := string(federation.CodeOf(a.VerifyErr))
			if code == "" {
				code = "bad_envelope"
			}
			results[i], answered[i] = refusal(federation.Code(code).HTTPStatus(), code), "refused "+code
		case act.Receipt == "swapped":
			results[i], answered[i] = result{Status: http.StatusAccepted, Receipt: valid(as[(i+1)%len(as)])}, "202 swapped"
		case act.Receipt != "":
			rc := federation.ReceiptFor(a.Env, federation.ReceiptAccepted, time.Now())
			results[i], answered[i] = result{Status: http.StatusAccepted, Receipt: string(l.faultyReceipt(rc, act.Receipt))}, "202 "+act.Receipt
		default:
			results[i], answered[i] = result{Status: http.StatusAccepted, Receipt: valid(a)}, "202 "
		}
	}
	body, _ := json.Marshal(map[string]any{"results": results})
	for i, a := range as {
		l.record(a, answered[i])
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (l *Listener) record(a *Arrival, answered string) {
	a.Answered, a.AnsweredAt = answered, time.Now()
	l.mu.Lock()
	l.arrivals = append(l.arrivals, a)
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

func answerProblem(w http.ResponseWriter, status int, code string) {
	if code == "" {
		code = "internal_error"
	}
	b, _ := json.Marshal(map[string]any{"type": "urn:flx:problem:" + code, "title": code, "status": status, "code": code})
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
