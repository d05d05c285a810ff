package pull_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/devca"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/federation/pull"
)

// These tests run pull end to end over real TLS 1.3 listeners on 127.0.0.1:
// XA-RC serves the envelopes queued for the pull-only members XB-RC and
// XD-RC; the pullers verify, store (a replay guard stands for the inbox) and
// acknowledge them with their own signed receipts.

type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

type fed struct {
	certs    map[string]*devca.Issued
	keys     map[string]*jose.PrivateKey
	manifest *federation.Manifest
	clock    *clock
}

func newFed(t *testing.T) *fed {
	t.Helper()
	ca, err := devca.New("FLX pull test CA", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := &fed{certs: map[string]*devca.Issued{}, keys: map[string]*jose.PrivateKey{}, clock: &clock{}}
	anchor := must(jose.GenerateKey(jose.EdDSA))
	now := time.Now()
	spec := &federation.Manifest{Federation: "flx-pull-test", Version: 1, IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(24 * time.Hour),
		TLSCAPEM: []string{string(ca.CertPEM())}}
	for _, id := range []string{"XA-RC", "XB-RC", "XD-RC"} {
		f.certs[id] = must(ca.IssueMember(id, nil, nil, 24*time.Hour))
		f.keys[id] = must(jose.GenerateKey(jose.EdDSA))
		mb := federation.Member{ID: id, Name: "Test " + id, Country: id[:2], Role: federation.RoleSociety,
			Endpoint: "https://" + strings.ToLower(id) + ".flx.test", JWKS: jose.KeySet{f.keys[id].Public()},
			TLSSPKISHA256: []string{f.certs[id].SPKIPin()}, Accepts: federation.Kinds, Status: federation.StatusActive}
		if id != "XA-RC" {
			mb.PullOnly, mb.Endpoint = true, ""
		}
		spec.Members = append(spec.Members, mb)
	}
	f.manifest = must(federation.VerifyManifest(must(federation.SignManifest(spec, anchor)), anchor.Public(), now, nil))
	return f
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// envelopes signs n envelopes from XA-RC to aud, of the given cases in turn,
// and queues them.
func (f *fed) queue(t *testing.T, mq *pull.MemoryQueue, aud string, cases ...string) []federation.Claims {
	t.Helper()
	var out []federation.Claims
	for _, c := range cases {
		now := f.clock.Now()
		cl := federation.Claims{Issuer: "XA-RC", Audience: aud, IssuedAt: now, ExpiresAt: now.Add(6 * time.Hour), JTI: federation.NewJTI(),
			Kind: federation.KindCaseCreate, CaseID: "XA-RC:" + c, Body: json.RawMessage(`{"case_id":"XA-RC:` + c + `"}`)}
		raw := must(federation.Sign(cl, f.keys["XA-RC"]))
		mq.Add(aud, cl.JTI, cl.CaseID, raw)
		out = append(out, cl)
	}
	return out
}

// faults aborts chosen requests: before the handler runs, after it ran
// (the answer is lost), or halfway through writing the answer.
type faults struct {
	mu     sync.Mutex
	before map[string]int // path -> how many next requests to abort before handling
	after  map[string]int // path -> abort after handling (answer lost)
	cut    map[string]int // path -> write half of the answer, then abort
}

func (fl *faults) take(m map[string]int, path string) bool {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if m[path] > 0 {
		m[path]--
		return true
	}
	return false
}

func (fl *faults) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case fl.take(fl.before, p):
			panic(http.ErrAbortHandler)
		case fl.take(fl.after, p):
			next.ServeHTTP(httptest.NewRecorder(), r)
			panic(http.ErrAbortHandler)
		case fl.take(fl.cut, p):
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Length", fmt.Sprint(rec.Body.Len()))
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		next.ServeHTTP(w, r)
	})
}

type server struct {
	*httptest.Server
	mq     *pull.MemoryQueue
	faults *faults
}

func (f *fed) serve(t *testing.T) *server {
	t.Helper()
	s := &server{mq: pull.NewMemoryQueue(), faults: &faults{before: map[string]int{}, after: map[string]int{}, cut: map[string]int{}}}
	h := &pull.Handler{Self: "XA-RC", Manifest: federation.StaticManifest(f.manifest), Queue: s.mq, Now: f.clock.Now, Poll: 20 * time.Millisecond}
	dir := f.manifest.TLSDirectory()
	srv := httptest.NewUnstartedServer(mtls.Middleware(dir)(s.faults.wrap(h)))
	srv.TLS = mtls.ServerConfig(f.certs["XA-RC"].TLS, dir)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.Server = srv
	return s
}

func (f *fed) client(s *server, member string) *pull.Client {
	return &pull.Client{HTTP: mtls.NewClient(f.certs[member].TLS, f.manifest.TLSDirectory(), "XA-RC", 10*time.Second), Endpoint: s.URL}
}

// receiver is a puller's receiving side: it verifies, remembers (jti, bytes)
// as the inbox would, and signs receipts; processed counts first
// acceptances per jti.
type receiver struct {
	f         *fed
	self      string
	v         *federation.Verifier
	guard     *federation.MemoryReplayGuard
	mu        sync.Mutex
	processed map[string]int
	failAfter int // >0: fail (as a database would) once this many were processed
}

func (f *fed) receiver(self string) *receiver {
	return &receiver{f: f, self: self, processed: map[string]int{},
		v:     &federation.Verifier{Manifest: federation.StaticManifest(f.manifest), Self: self, Now: f.clock.Now},
		guard: federation.NewMemoryReplayGuard(f.clock.Now, 0)}
}

func (r *receiver) process(ctx context.Context, raw []byte) ([]byte, federation.Code, error) {
	env, err := r.v.Verify(ctx, raw, "XA-RC")
	if err != nil {
		return nil, federation.CodeOf(err), nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.processed {
		n += c
	}
	if r.failAfter > 0 && n >= r.failAfter {
		return nil, "", errors.New("database unavailable")
	}
	dup, err := env.CheckReplay(ctx, r.guard)
	if err != nil {
		return nil, federation.CodeOf(err), nil
	}
	status := federation.ReceiptAccepted
	if dup {
		status = federation.ReceiptDuplicate
	} else {
		r.processed[env.JTI]++
	}
	rc, err := federation.SignReceipt(federation.ReceiptFor(env, status, r.f.clock.Now()), r.f.keys[r.self])
	return rc, "", err
}

// checkAllOnce: every queued envelope is done with a verified receipt, and
// the receiver processed each exactly once.
func checkAllOnce(t *testing.T, s *server, r *receiver, want []federation.Claims) {
	t.Helper()
	states := s.mq.States()
	if len(states) != len(want) {
		t.Fatalf("%d queued, want %d", len(states), len(want))
	}
	for _, st := range states {
		if !st.Done || st.Receipt == nil || st.Receipt.Issuer != r.self {
			t.Errorf("%s: not delivered (%+v)", st.JTI, st)
		}
	}
	for _, c := range want {
		if n := r.processed[c.JTI]; n != 1 {
			t.Errorf("%s processed %d times", c.JTI, n)
		}
	}
}

func TestDrainDeliversEverythingOnce(t *testing.T) {
	f := newFed(t)
	s := f.serve(t)
	want := f.queue(t, s.mq, "XB-RC", "c1", "c2", "c3", "c4", "c5", "c6", "c7")
	r := f.receiver("XB-RC")
	st, err := f.client(s, "XB-RC").Drain(context.Background(), 3, r.process)
	if err != nil {
		t.Fatal(err)
	}
	if st.Batches != 3 || st.Envelopes != 7 || st.Receipts != 7 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
	checkAllOnce(t, s, r, want)
	for _, s := range s.mq.States() {
		if s.Attempts != 1 || s.Receipt.Status != federation.ReceiptAccepted {
			t.Errorf("%+v", s)
		}
	}
}

// TestCutPullLosesNothing: the answer to a pull is cut halfway; its
// envelopes stay leased (others are served meanwhile), are offered again when
// the lease runs out, and each is processed once.
func TestCutPullLosesNothing(t *testing.T) {
	f := newFed(t)
	s := f.serve(t)
	want := f.queue(t, s.mq, "XB-RC", "c1", "c2", "c3", "c4", "c5")
	r := f.receiver("XB-RC")
	c := f.client(s, "XB-RC")
	s.faults.cut[pull.PathPull] = 1
	if _, err := c.Drain(context.Background(), 2, r.process); err == nil {
		t.Fatal("a cut answer was taken for a batch")
	}
	st, err := c.Drain(context.Background(), 2, r.process)
	if err != nil || st.Envelopes != 3 {
		t.Fatalf("the envelopes not leased to the cut pull: %+v, %v", st, err)
	}
	f.clock.Advance(pull.DefaultLease + time.Second)
	st, err = c.Drain(context.Background(), 2, r.process)
	if err != nil || st.Envelopes != 2 {
		t.Fatalf("after the lease ran out: %+v, %v", st, err)
	}
	checkAllOnce(t, s, r, want)
}

// TestCutAckLosesNothing: the acknowledgement never reaches the server; the
// same bytes come again after the lease, the receiver answers duplicate
// without processing them again.
func TestCutAckLosesNothing(t *testing.T) {
	f := newFed(t)
	s := f.serve(t)
	want := f.queue(t, s.mq, "XB-RC", "c1", "c2", "c3", "c4")
	r := f.receiver("XB-RC")
	c := f.client(s, "XB-RC")
	s.faults.before[pull.PathAck] = 1
	if _, err := c.Drain(context.Background(), 3, r.process); err == nil {
		t.Fatal("a lost acknowledgement went unnoticed")
	}
	if st, _ := c.Drain(context.Background(), 3, r.process); st.Envelopes != 1 {
		t.Fatalf("before the lease ran out: %+v", st)
	}
	f.clock.Advance(pull.DefaultLease + time.Second)
	if _, err := c.Drain(context.Background(), 3, r.process); err != nil {
		t.Fatal(err)
	}
	checkAllOnce(t, s, r, want)
	dups := 0
	for _, st := range s.mq.States() {
		if st.Receipt.Status == federation.ReceiptDuplicate {
			dups++
			if st.Attempts != 2 {
				t.Errorf("%s leased %d times", st.JTI, st.Attempts)
			}
		}
	}
	if dups != 3 {
		t.Fatalf("%d duplicate receipts, want the 3 whose acknowledgement was lost", dups)
	}
}

// TestAckAnswerLost: the server records the acknowledgement but its answer is
// lost: nothing is offered again.
func TestAckAnswerLost(t *testing.T) {
	f := newFed(t)
	s := f.serve(t)
	want := f.queue(t, s.mq, "XB-RC", "c1", "c2")
	r := f.receiver("XB-RC")
	c := f.client(s, "XB-RC")
	s.faults.after[pull.PathAck] = 1
	if _, err := c.Drain(context.Background(), 5, r.process); err == nil {
		t.Fatal("a lost answer went unnoticed")
	}
	f.clock.Advance(pull.DefaultLease + time.Second)
	if st, err := c.Drain(context.Background(), 5, r.process); err != nil || st.Envelopes != 0 {
		t.Fatalf("offered again: %+v, %v", st, err)
	}
	checkAllOnce(t, s, r, want)
}

// TestProcessorFailureStopsTheBatch: when the receiver fails mid-batch,
// what it processed is acknowledged, the rest waits for its lease (and is not
// overtaken by later envelopes of its case).
func TestProcessorFailureStopsTheBatch(t *testing.T) {
	f := newFed(t)
	s := f.serve(t)
	want := f.queue(t, s.mq, "XB-RC", "c1", "c1", "c1", "c2")
	r := f.receiver("XB-RC")
	r.failAfter = 1
	c := f.client(s, "XB-RC")
	st, err := c.Drain(context.Background(), 10, r.process)
	if err == nil || st.Receipts != 1 || st.Pending != 3 {
		t.Fatalf("stats %+v, err %v", st, err)
	}
	r.failAfter = 0
	if st, _ := c.Drain(context.Background(), 10, r.process); st.Envelopes != 0 {
		t.Fatalf("leased envelopes offered again before their lease ran out: %+v", st)
	}
	f.clock.Advance(pull.DefaultLease + time.Second)
	if _, err := c.Drain(context.Background(), 10, r.process); err != nil {
		t.Fatal(err)
	}
	checkAllOnce(t, s, r, want)
}

// TestPerCaseOrder: while an envelope of a case is leased, later envelopes of
// that case are not offered; other cases are.
func TestPerCaseOrder(t *testing.T) {
	f := newFed(t)
	s := f.serve(t)
	cl := f.queue(t, s.mq, "XB-RC", "c1", "c1", "c2")
	c := f.client(s, "XB-RC")
	b1 := must(c.Pull(context.Background(), 1, 0))
	if len(b1.Envelopes) != 1 || !b1.More || !strings.Contains(jtiOf(b1.Envelopes[0]), cl[0].JTI) {
		t.Fatalf("first pull %+v", b1)
	}
	b2 := must(c.Pull(context.Background(), 10, 0))
	if len(b2.Envelopes) != 1 || jtiOf(b2.Envelopes[0]) != cl[2].JTI || b2.More {
		t.Fatalf("second pull offered %d envelopes (the second of case c1 must wait behind the first)", len(b2.Envelopes))
	}
	f.clock.Advance(pull.DefaultLease + time.Second)
	b3 := must(c.Pull(context.Background(), 10, 0))
	if len(b3.Envelopes) != 3 || jtiOf(b3.Envelopes[0]) != cl[0].JTI || jtiOf(b3.Envelopes[1]) != cl[1].JTI {
		t.Fatalf("after the leases ran out: %d envelopes, in queue order expected", len(b3.Envelopes))
	}
}

func jtiOf(raw string) string {
	p := strings.Split(raw, ".")
	var c struct {
		JTI string `json:"jti"`
	}
	_ = json.Unmarshal(must(b64(p[1])), &c)
	return c.JTI
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// TestEachMemberPullsItsOwn: a member gets only the envelopes queued for it.
func TestEachMemberPullsItsOwn(t *testing.T) {
	f := newFed(t)
	s := f.serve(t)
	forB := f.queue(t, s.mq, "XB-RC", "c1", "c2")
	forD := f.queue(t, s.mq, "XD-RC", "c3")
	rb, rd := f.receiver("XB-RC"), f.receiver("XD-RC")
	if st, err := f.client(s, "XD-RC").Drain(context.Background(), 10, rd.process); err != nil || st.Envelopes != 1 {
		t.Fatalf("XD-RC: %+v %v", st, err)
	}
	if st, err := f.client(s, "XB-RC").Drain(context.Background(), 10, rb.process); err != nil || st.Envelopes != 2 {
		t.Fatalf("XB-RC: %+v %v", st, err)
	}
	if rd.processed[forB[0].JTI] != 0 || rd.processed[forD[0].JTI] != 1 || rb.processed[forD[0].JTI] != 0 {
		t.Fatal("an envelope reached another member")
	}
}

// TestAckAttacks: receipts and refusals that must not mark anything done.
func TestAckAttacks(t *testing.T) {
	f := newFed(t)
	s := f.serve(t)
	cl := f.queue(t, s.mq, "XB-RC", "c1", "c2", "c3")
	ctx := context.Background()
	cb, cd := f.client(s, "XB-RC"), f.client(s, "XD-RC")
	b := must(cb.Pull(ctx, 10, 0))
	if len(b.Envelopes) != 3 {
		t.Fatal(len(b.Envelopes))
	}
	env0 := []byte(b.Envelopes[0])
	receipt := func(signer string, key *jose.PrivateKey, edit func(*federation.ReceiptClaims)) string {
		c := federation.ReceiptClaims{Issuer: signer, Audience: "XA-RC", IssuedAt: f.clock.Now(), ReceiptFor: cl[0].JTI,
			SHA256: federation.ExpectReceipt(env0, cl[0]).SHA256, Status: federation.ReceiptAccepted}
		if edit != nil {
			edit(&c)
		}
		return string(must(federation.SignReceipt(c, key)))
	}
	tests := []struct {
		name   string
		c      *pull.Client
		ack    pull.Ack
		status string
		code   federation.Code
		refuse bool // the item is in Refusals
	}{
		{"another member's receipt for XB-RC's envelope", cd, pull.Ack{Receipts: []string{receipt("XD-RC", f.keys["XD-RC"], nil)}}, pull.StatusUnknown, "", false},
		{"a receipt signed by another member, sent by XB-RC", cb, pull.Ack{Receipts: []string{receipt("XD-RC", f.keys["XD-RC"], nil)}}, pull.StatusRefused, federation.CodeSenderMismatch, false},
		{"a receipt for other bytes", cb, pull.Ack{Receipts: []string{receipt("XB-RC", f.keys["XB-RC"], func(c *federation.ReceiptClaims) { c.SHA256 = strings.Repeat("0", 64) })}}, pull.StatusRefused, federation.CodeBadEnvelope, false},
		{"a receipt addressed to another member", cb, pull.Ack{Receipts: []string{receipt("XB-RC", f.keys["XB-RC"], func(c *federation.ReceiptClaims) { c.Audience = "XD-RC" })}}, pull.StatusRefused, federation.CodeWrongAudience, false},
		{"a forged receipt", cb, pull.Ack{Receipts: []string{receipt("XB-RC", must(jose.GenerateKey(jose.EdDSA)).WithKID(f.keys["XB-RC"].KID()), nil)}}, pull.StatusRefused, federation.CodeBadSignature, false},
		{"not a receipt", cb, pull.Ack{Receipts: []string{b.Envelopes[1]}}, pull.StatusRefused, federation.CodeBadEnvelope, false},
		{"a refusal with a retried code", cb, pull.Ack{Receipts: []string{}, Refusals: []pull.Refusal{{JTI: cl[1].JTI, SHA256: federation.ExpectReceipt([]byte(b.Envelopes[1]), cl[1]).SHA256, Code: federation.CodeUnknownKey}}}, pull.StatusRefused, federation.CodeBadEnvelope, true},
		{"a refusal for other bytes", cb, pull.Ack{Receipts: []string{}, Refusals: []pull.Refusal{{JTI: cl[1].JTI, SHA256: strings.Repeat("0", 64), Code: federation.CodeSchemaInvalid}}}, pull.StatusUnknown, "", true},
		{"another member refuses XB-RC's envelope", cd, pull.Ack{Receipts: []string{}, Refusals: []pull.Refusal{{JTI: cl[1].JTI, SHA256: federation.ExpectReceipt([]byte(b.Envelopes[1]), cl[1]).SHA256, Code: federation.CodeSchemaInvalid}}}, pull.StatusUnknown, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.c.Ack(ctx, tc.ack)
			if err != nil {
				t.Fatal(err)
			}
			it := res.Receipts
			if tc.refuse {
				it = res.Refusals
			}
			if len(it) != 1 || it[0].Status != tc.status || it[0].Code != tc.code {
				t.Fatalf("result %+v, want %s %s", it, tc.status, tc.code)
			}
			for _, st := range s.mq.States() {
				if st.Done {
					t.Fatalf("%s marked done", st.JTI)
				}
			}
		})
	}
	// The genuine ones do mark them done.
	res := must(cb.Ack(ctx, pull.Ack{
		Receipts: []string{receipt("XB-RC", f.keys["XB-RC"], nil)},
		Refusals: []pull.Refusal{{JTI: cl[1].JTI, SHA256: federation.ExpectReceipt([]byte(b.Envelopes[1]), cl[1]).SHA256, Code: federation.CodeSchemaInvalid}},
	}))
	if res.Receipts[0].Status != pull.StatusRecorded || res.Refusals[0].Status != pull.StatusRecorded {
		t.Fatalf("%+v", res)
	}
	st := s.mq.States()
	if !st[0].Done || st[0].Receipt == nil || !st[1].Done || st[1].Refusal != federation.CodeSchemaInvalid || st[2].Done {
		t.Fatalf("states %+v", st)
	}
}

// TestRequestsRefused: malformed pulls and acknowledgements, and an expired
// manifest, are refused with problem documents.
func TestRequestsRefused(t *testing.T) {
	f := newFed(t)
	s := f.serve(t)
	hc := f.client(s, "XB-RC").HTTP
	do := func(method, path, ctype string, body []byte) (*http.Response, map[string]any) {
		req := must(http.NewRequest(method, s.URL+path, bytes.NewReader(body)))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp := must(hc.Do(req))
		defer resp.Body.Close()
		var p map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return resp, p
	}
	big := append([]byte(`{"receipts":["`), bytes.Repeat([]byte("A"), pull.MaxAckBytes)...)
	for _, tc := range []struct {
		name, method, path, ctype string
		body                      []byte
		status                    int
		code                      string
	}{
		{"max=0", "GET", pull.PathPull + "?max=0", "", nil, 400, "bad_envelope"},
		{"max too large", "GET", pull.PathPull + "?max=501", "", nil, 400, "bad_envelope"},
		{"max not a number", "GET", pull.PathPull + "?max=ten", "", nil, 400, "bad_envelope"},
		{"max with a sign", "GET", pull.PathPull + "?max=+5", "", nil, 400, "bad_envelope"},
		{"wait too long", "GET", pull.PathPull + "?wait=31", "", nil, 400, "bad_envelope"},
		{"max twice", "GET", pull.PathPull + "?max=1&max=2", "", nil, 400, "bad_envelope"},
		{"unknown parameter", "GET", pull.PathPull + "?since=0", "", nil, 400, "bad_envelope"},
		{"POST pull", "POST", pull.PathPull, "", nil, 405, "method_not_allowed"},
		{"GET ack", "GET", pull.PathAck, "", nil, 405, "method_not_allowed"},
		{"ack as text", "POST", pull.PathAck, "text/plain", []byte(`{"receipts":[]}`), 400, "bad_envelope"},
		{"ack with an unknown member", "POST", pull.PathAck, "application/json", []byte(`{"receipts":[],"note":"x"}`), 400, "bad_envelope"},
		{"ack with receipts twice", "POST", pull.PathAck, "application/json", []byte(`{"receipts":[],"receipts":["x"]}`), 400, "bad_envelope"},
		{"ack without receipts", "POST", pull.PathAck, "application/json", []byte(`{}`), 400, "bad_envelope"},
		{"ack too large", "POST", pull.PathAck, "application/json", big, 413, "too_large"},
		{"unknown path", "GET", "/flx/v1/pull/", "", nil, 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, p := do(tc.method, tc.path, tc.ctype, tc.body)
			if resp.StatusCode != tc.status || p["code"] != tc.code || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %v %s", resp.StatusCode, p, resp.Header.Get("Content-Type"))
			}
		})
	}
	f.clock.Advance(25 * time.Hour)
	resp, p := do("GET", pull.PathPull, "", nil)
	if resp.StatusCode != 503 || p["code"] != "unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("expired manifest: %d %v", resp.StatusCode, p)
	}
	_, err := f.client(s, "XB-RC").Pull(context.Background(), 1, 0)
	if federation.CodeOf(err) != federation.CodeUnavailable || !federation.CodeOf(err).Retryable() {
		t.Fatalf("client error %v", err)
	}
}

// TestLongPoll: a pull with wait answers with an envelope queued while it
// waited.
func TestLongPoll(t *testing.T) {
	f := newFed(t)
	s := f.serve(t)
	go func() {
		time.Sleep(100 * time.Millisecond)
		f.queue(t, s.mq, "XB-RC", "late")
	}()
	b, err := f.client(s, "XB-RC").Pull(context.Background(), 5, 5*time.Second)
	if err != nil || len(b.Envelopes) != 1 {
		t.Fatalf("%+v %v", b, err)
	}
}

// TestAckNotStringsRefusedWhole: an acknowledgement whose receipts array
// holds anything but strings (a null, which encoding/json reads as "", a
// number, an object, an array, true) is refused whole with bad_envelope,
// as a batch is (FLX-BAT-003): the valid receipt beside it records nothing.
func TestAckNotStringsRefusedWhole(t *testing.T) {
	f := newFed(t)
	s := f.serve(t)
	f.queue(t, s.mq, "XB-RC", "c1")
	ctx := context.Background()
	c := f.client(s, "XB-RC")
	b := must(c.Pull(ctx, 10, 0))
	if len(b.Envelopes) != 1 {
		t.Fatal(len(b.Envelopes))
	}
	r := f.receiver("XB-RC")
	rc, _, err := r.process(ctx, []byte(b.Envelopes[0]))
	if err != nil || rc == nil {
		t.Fatalf("receipt: %v", err)
	}
	valid := must(json.Marshal(string(rc)))
	for _, other := range []string{`null`, `1`, `{}`, `["x"]`, `true`} {
		for _, body := range []string{
			`{"receipts":[` + string(valid) + `,` + other + `]}`,
			`{"receipts":[` + other + `,` + string(valid) + `]}`,
		} {
			req := must(http.NewRequest(http.MethodPost, s.URL+pull.PathAck, strings.NewReader(body)))
			req.Header.Set("Content-Type", pull.MediaType)
			resp := must(c.HTTP.Do(req))
			var p map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&p)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || p["code"] != "bad_envelope" {
				t.Errorf("receipts with %s beside a valid one: %d %v, want 400 bad_envelope", other, resp.StatusCode, p)
			}
			if st := s.mq.States(); st[0].Done {
				t.Fatalf("receipts with %s beside a valid one: the envelope was marked done", other)
			}
		}
	}
	res := must(c.Ack(ctx, pull.Ack{Receipts: []string{string(rc)}}))
	if res.Receipts[0].Status != pull.StatusRecorded || !s.mq.States()[0].Done {
		t.Fatalf("the valid receipt alone: %+v", res)
	}
}

// TestPullAnswerNotStrings: a pull answer whose envelopes array holds
// anything but strings is a failed pull: nothing of it is processed (the
// valid envelope beside the item neither), nothing acknowledged.
func TestPullAnswerNotStrings(t *testing.T) {
	f := newFed(t)
	mq := pull.NewMemoryQueue()
	cl := f.queue(t, mq, "XB-RC", "c1")
	q, _, _ := mq.Lookup(context.Background(), "XB-RC", cl[0].JTI)
	valid := string(must(json.Marshal(string(q.Raw))))
	var answer atomic.Pointer[string]
	var acks atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == pull.PathAck {
			acks.Add(1)
		}
		w.Header().Set("Content-Type", pull.MediaType)
		io.WriteString(w, *answer.Load())
	})
	dir := f.manifest.TLSDirectory()
	srv := httptest.NewUnstartedServer(mtls.Middleware(dir)(h))
	srv.TLS = mtls.ServerConfig(f.certs["XA-RC"].TLS, dir)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := f.client(&server{Server: srv}, "XB-RC")
	r := f.receiver("XB-RC")
	for _, other := range []string{`null`, `1`, `{}`, `["x"]`, `true`} {
		a := `{"envelopes":[` + valid + `,` + other + `],"lease_until":` + fmt.Sprint(time.Now().Add(time.Minute).Unix()) + `,"more":false}`
		answer.Store(&a)
		st, err := c.Drain(context.Background(), 10, r.process)
		if federation.CodeOf(err) != federation.CodeBadEnvelope || st.Envelopes != 0 {
			t.Errorf("envelopes with %s: %+v %v, want a failed pull (bad_envelope), nothing processed", other, st, err)
		}
	}
	if len(r.processed) != 0 || acks.Load() != 0 {
		t.Fatalf("processed %v, %d acknowledgements", r.processed, acks.Load())
	}
}
