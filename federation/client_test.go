package federation_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/federation/problem"
)

// peer is XB-RC's federation listener, answering each request with what
// the test sets: the client under test is XA-RC's.
type peer struct {
	srv    *httptest.Server
	answer atomic.Pointer[func(w http.ResponseWriter, body []byte, peer string)]
	calls  atomic.Int32
	// batch answers POST /flx/v1/batches (nil: 404, as a peer without
	// batches); batches counts them.
	batch   atomic.Pointer[func(w http.ResponseWriter, body []byte, peer string)]
	batches atomic.Int32
}

// newClientFixture starts XB-RC's listener on a real TLS socket, signs a
// manifest naming its address, and returns XA-RC's client.
func newClientFixture(t *testing.T) (*integration, *peer, *federation.Client) {
	t.Helper()
	in := newIntegration(t)
	p := &peer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == federation.BatchesPath && r.Method == http.MethodPost && r.Header.Get("Content-Type") == federation.BatchMediaType {
			p.batches.Add(1)
			body, _ := io.ReadAll(r.Body)
			who, _ := mtls.PeerFromContext(r.Context())
			if b := p.batch.Load(); b != nil {
				(*b)(w, body, who)
				return
			}
			problem.Of(problem.NotFound, "no batches here").Write(w)
			return
		}
		p.calls.Add(1)
		if r.URL.Path != federation.EnvelopesPath || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/jose" {
			t.Errorf("request %s %s %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		body, _ := io.ReadAll(r.Body)
		who, _ := mtls.PeerFromContext(r.Context())
		(*p.answer.Load())(w, body, who)
	})
	holder := holderDirectory{in.holder}
	p.srv = httptest.NewUnstartedServer(mtls.Middleware(holder)(h))
	// The manifest names the listener's address as XB-RC's endpoint.
	pointAt(t, in, "XB-RC", p.srv.Listener.Addr().String())
	p.srv.TLS = mtls.ServerConfig(in.certs["XB-RC"].TLS, holder)
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	c := &federation.Client{Self: "XA-RC", Cert: in.certs["XA-RC"].TLS, Manifest: in.holder, Timeout: 2 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return in, p, c
}

func (p *peer) set(f func(w http.ResponseWriter, body []byte, peer string)) { p.answer.Store(&f) }

// receipt answers 202 with XB-RC's receipt for body, changed by edit.
func (in *integration) receipt(t *testing.T, edit func(*federation.ReceiptClaims)) func(http.ResponseWriter, []byte, string) {
	return func(w http.ResponseWriter, body []byte, _ string) {
		c, err := federation.ClaimsOf(body)
		if err != nil {
			t.Errorf("the peer got something that is no envelope: %v", err)
		}
		rc := federation.ReceiptClaims{Issuer: "XB-RC", Audience: c.Issuer, IssuedAt: time.Now(), ReceiptFor: c.JTI,
			SHA256: sha256Hex(body), Status: federation.ReceiptAccepted}
		if edit != nil {
			edit(&rc)
		}
		raw, err := federation.SignReceipt(rc, in.keys["XB-RC"])
		if err != nil {
			t.Fatal(err)
		}
		w.Header().Set("Content-Type", "application/jose")
		w.WriteHeader(http.StatusAccepted)
		w.Write(raw)
	}
}

func refuse(code problem.Code, status int, retryAfter string) func(http.ResponseWriter, []byte, string) {
	return func(w http.ResponseWriter, _ []byte, _ string) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		p := problem.Of(code, "refused by the test peer")
		p.Status = status
		p.Write(w)
	}
}

func TestClientSend(t *testing.T) {
	in, p, c := newClientFixture(t)
	tests := []struct {
		name    string
		answer  func(http.ResponseWriter, []byte, string)
		outcome federation.Outcome
		code    problem.Code
		after   time.Duration
		reason  string // prefix
	}{
		{"receipt", in.receipt(t, nil), federation.Delivered, "", 0, ""},
		{"duplicate receipt", in.receipt(t, func(r *federation.ReceiptClaims) { r.Status = federation.ReceiptDuplicate }), federation.Delivered, "", 0, ""},
		{"receipt for other bytes", in.receipt(t, func(r *federation.ReceiptClaims) { r.SHA256 = strings.Repeat("0", 64) }), federation.Retry, problem.BadEnvelope, 0, "bad_receipt"},
		{"receipt for another jti", in.receipt(t, func(r *federation.ReceiptClaims) { r.ReceiptFor = "other" }), federation.Retry, problem.BadEnvelope, 0, "bad_receipt"},
		{"receipt to another sender", in.receipt(t, func(r *federation.ReceiptClaims) { r.Audience = "XC-RC" }), federation.Retry, problem.WrongAudience, 0, "bad_receipt"},
		{"receipt signed by another member", func(w http.ResponseWriter, body []byte, _ string) {
			c, _ := federation.ClaimsOf(body)
			raw, _ := federation.SignReceipt(federation.ReceiptClaims{Issuer: "XB-RC", Audience: "XA-RC", IssuedAt: time.Now(),
				ReceiptFor: c.JTI, SHA256: sha256Hex(body), Status: federation.ReceiptAccepted}, in.keys["XA-RC"])
			w.WriteHeader(http.StatusAccepted)
			w.Write(raw)
		}, federation.Retry, problem.UnknownKey, 0, "bad_receipt"},
		{"empty 202", func(w http.ResponseWriter, _ []byte, _ string) { w.WriteHeader(http.StatusAccepted) }, federation.Retry, problem.BadEnvelope, 0, "bad_receipt"},
		{"200 without a receipt", func(w http.ResponseWriter, _ []byte, _ string) { w.WriteHeader(http.StatusOK) }, federation.Retry, problem.BadEnvelope, 0, "bad_receipt"},
		{"204", func(w http.ResponseWriter, _ []byte, _ string) { w.WriteHeader(http.StatusNoContent) }, federation.Retry, "", 0, "http_204"},
		{"redirect not followed", func(w http.ResponseWriter, _ []byte, _ string) {
			w.Header().Set("Location", "https://127.0.0.1:1/elsewhere")
			w.WriteHeader(http.StatusMovedPermanently)
		}, federation.Retry, "", 0, "http_301"},
		{"503 with Retry-After", refuse(problem.Unavailable, 503, "7"), federation.Retry, problem.Unavailable, 7 * time.Second, "http_503: unavailable"},
		{"429 with a date", refuse(problem.RateLimited, 429, time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat)), federation.Retry, problem.RateLimited, 89 * time.Second, "http_429"},
		{"500 without a problem", func(w http.ResponseWriter, _ []byte, _ string) { w.WriteHeader(500) }, federation.Retry, "", 0, "http_500: no problem code"},
		{"408", refuse(problem.BadEnvelope, 408, ""), federation.Retry, problem.BadEnvelope, 0, "http_408"},
		{"401 unauthenticated_peer", refuse(problem.UnauthenticatedPeer, 401, ""), federation.Retry, problem.UnauthenticatedPeer, 0, "http_401"},
		{"400 unknown_key", refuse(problem.UnknownKey, 400, ""), federation.Retry, problem.UnknownKey, 0, "http_400: unknown_key"},
		{"422 schema_invalid", refuse(problem.SchemaInvalid, 422, "5"), federation.Permanent, problem.SchemaInvalid, 0, "http_422: schema_invalid"},
		{"409 media_incomplete", refuse(problem.MediaIncomplete, 409, ""), federation.Retry, problem.MediaIncomplete, 0, "http_409: media_incomplete"},
		{"409 replay", refuse(problem.Replay, 409, ""), federation.Permanent, problem.Replay, 0, "http_409"},
		{"400 bad_envelope", refuse(problem.BadEnvelope, 400, ""), federation.Permanent, problem.BadEnvelope, 0, "http_400"},
		{"413 without a problem", func(w http.ResponseWriter, _ []byte, _ string) { w.WriteHeader(413) }, federation.Permanent, "", 0, "http_413: no problem code"},
		{"connection closed without an answer", func(w http.ResponseWriter, _ []byte, _ string) {
			// Over HTTP/2 (which the listener offers) a connection cannot
			// be hijacked: the stream is reset instead, as a cut link does.
			panic(http.ErrAbortHandler)
		}, federation.Retry, "", 0, "transport"},
		{"no answer within the timeout", func(w http.ResponseWriter, _ []byte, _ string) { time.Sleep(2500 * time.Millisecond) }, federation.Retry, "", 0, "transport"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p.set(tc.answer)
			raw := in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"])
			res := c.Send(t.Context(), "XB-RC", raw)
			if res.Outcome != tc.outcome || res.Code != tc.code || !strings.HasPrefix(res.Reason, tc.reason) {
				t.Fatalf("Send = %v code %q reason %q; want %v %q %q", res.Outcome, res.Code, res.Reason, tc.outcome, tc.code, tc.reason)
			}
			if d := res.RetryAfter - tc.after; d < -2*time.Second || d > time.Second || (tc.after == 0 && res.RetryAfter != 0) {
				t.Errorf("RetryAfter %v, want %v", res.RetryAfter, tc.after)
			}
			if tc.outcome == federation.Delivered {
				if res.Receipt == nil || res.Receipt.ReceiptFor != mustClaims(t, raw).JTI || res.Reason != "" || res.Status != 202 {
					t.Errorf("delivered without the verified receipt: %+v", res)
				}
			} else if res.Receipt != nil {
				t.Errorf("a receipt on %v", res.Outcome)
			}
		})
	}
}

func TestClientSendRefusesBeforeDialling(t *testing.T) {
	in, p, c := newClientFixture(t)
	p.set(in.receipt(t, nil))
	tests := []struct {
		name    string
		to      string
		raw     []byte
		outcome federation.Outcome
		code    problem.Code
	}{
		{"not addressed to the destination", "XB-RC", in.envelope(t, "XA-RC", "XC-RC", in.keys["XA-RC"]), federation.Permanent, problem.BadEnvelope},
		{"not from this member", "XB-RC", in.envelope(t, "XB-RC", "XB-RC", in.keys["XB-RC"]), federation.Permanent, problem.BadEnvelope},
		{"not an envelope", "XB-RC", []byte("a.b.c"), federation.Permanent, problem.BadEnvelope},
		{"suspended destination", "XC-RC", in.envelope(t, "XA-RC", "XC-RC", in.keys["XA-RC"]), federation.Retry, problem.SuspendedMember},
		{"no such member", "XD-RC", in.envelope(t, "XA-RC", "XD-RC", in.keys["XA-RC"]), federation.Permanent, problem.UnknownMember},
	}
	late := &federation.Client{Self: c.Self, Cert: c.Cert, Manifest: c.Manifest, Now: func() time.Time { return in.manifest.ExpiresAt }}
	tests = append(tests, struct {
		name    string
		to      string
		raw     []byte
		outcome federation.Outcome
		code    problem.Code
	}{"the manifest held has expired", "XB-RC", in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"]), federation.Retry, problem.Unavailable})
	clients := map[string]*federation.Client{"the manifest held has expired": late}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := c
			if x := clients[tc.name]; x != nil {
				c = x
			}
			before := p.calls.Load()
			res := c.Send(t.Context(), tc.to, tc.raw)
			if res.Outcome != tc.outcome || res.Code != tc.code {
				t.Errorf("Send = %v %q (%s), want %v %q", res.Outcome, res.Code, res.Reason, tc.outcome, tc.code)
			}
			if p.calls.Load() != before {
				t.Errorf("the peer was called")
			}
		})
	}
}

// TestClientPinsTheDestination: a listener with another member's valid
// certificate at XB-RC's endpoint is not talked to.
func TestClientPinsTheDestination(t *testing.T) {
	in, p, c := newClientFixture(t)
	p.set(in.receipt(t, nil))
	addr := p.srv.Listener.Addr().String()
	p.srv.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("cannot take the port back to put an impostor on it: %v", err)
	}
	var reached atomic.Bool
	impostor := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reached.Store(true) }))
	impostor.Listener.Close()
	impostor.Listener = ln
	impostor.TLS = mtls.ServerConfig(in.certs["XC-RC"].TLS, holderDirectory{in.holder})
	impostor.Config.ErrorLog = log.New(io.Discard, "", 0)
	impostor.StartTLS()
	t.Cleanup(impostor.Close)
	res := c.Send(t.Context(), "XB-RC", in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"]))
	if res.Outcome != federation.Retry || !strings.HasPrefix(res.Reason, "transport") || reached.Load() {
		t.Errorf("Send to an impostor = %v %q (handler reached %t)", res.Outcome, res.Reason, reached.Load())
	}
}

func mustClaims(t *testing.T, raw []byte) federation.Claims {
	t.Helper()
	c, err := federation.ClaimsOf(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClaimsOfAndRenew(t *testing.T) {
	in := newIntegration(t)
	raw := in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"])
	c := mustClaims(t, raw)
	if c.Issuer != "XA-RC" || c.Audience != "XB-RC" || c.Kind != federation.KindCaseCreate || c.CaseID != "XA-RC:int-1" {
		t.Fatalf("ClaimsOf = %+v", c)
	}
	now := time.Now().Add(time.Hour).Truncate(time.Second)
	renewed, rc, err := federation.Renew(raw, now, 2*time.Hour, in.keys["XA-RC"])
	if err != nil {
		t.Fatal(err)
	}
	if rc.JTI == c.JTI || !rc.IssuedAt.Equal(now) || !rc.ExpiresAt.Equal(now.Add(2*time.Hour)) ||
		rc.Issuer != c.Issuer || rc.Audience != c.Audience || rc.Kind != c.Kind || rc.CaseID != c.CaseID || string(rc.Body) != string(c.Body) {
		t.Errorf("Renew changed what it must keep, or kept what it must change: %+v from %+v", rc, c)
	}
	v := &federation.Verifier{Manifest: federation.StaticManifest(in.manifest), Self: "XB-RC", Now: func() time.Time { return now }}
	if _, err := v.Verify(t.Context(), renewed, "XA-RC"); err != nil {
		t.Errorf("the renewed envelope does not verify: %v", err)
	}
	parts := strings.Split(string(raw), ".")
	for name, bad := range map[string][]byte{
		"not a JWS":       []byte("not a jws"),
		"unknown claim":   []byte(parts[0] + "." + b64url(`{"iss":"XA-RC","extra":1}`) + "." + parts[2]),
		"receipt typ":     []byte(b64url(`{"alg":"EdDSA","kid":"k","typ":"flx-receipt+jws"}`) + "." + parts[1] + "." + parts[2]),
		"payload not obj": []byte(parts[0] + "." + b64url(`[1]`) + "." + parts[2]),
	} {
		if _, err := federation.ClaimsOf(bad); federation.CodeOf(err) != federation.CodeBadEnvelope {
			t.Errorf("ClaimsOf(%s) = %v, want bad_envelope", name, err)
		}
		if _, _, err := federation.Renew(bad, now, time.Hour, in.keys["XA-RC"]); err == nil {
			t.Errorf("Renew(%s) succeeded", name)
		}
	}
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		h    string
		want time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{"99999999999999999999999", 0},
		{"9999999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(72 * time.Hour).Format(http.TimeFormat), 24 * time.Hour},
	}
	for _, tc := range tests {
		if got := federation.ParseRetryAfter(tc.h, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.h, got, tc.want)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "120", "-1", "Sun, 06 Nov 1994 08:49:37 GMT", "1e9", fmt.Sprint(int64(1) << 62)} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, h string) {
		if d := federation.ParseRetryAfter(h, now); d < 0 || d > 24*time.Hour {
			t.Fatalf("ParseRetryAfter(%q) = %v, outside [0, 24h]", h, d)
		}
	})
}

// A second read of the same bytes comes from the memo: it must equal the
// first, and a caller changing the body it got must not change the next read.
func TestClaimsOfRepeatedReadsAreIndependent(t *testing.T) {
	in := newIntegration(t)
	raw := in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"])
	first := mustClaims(t, raw)
	want := string(first.Body)
	first.Body[0] = 'X'
	second := mustClaims(t, raw)
	if string(second.Body) != want || second.JTI != first.JTI || !second.ExpiresAt.Equal(first.ExpiresAt) {
		t.Fatalf("second read %+v differs from the first (body %q, want %q)", second, second.Body, want)
	}
	tok, err := federation.PeekToken(raw)
	if err != nil || tok.JTI != first.JTI || tok.Receipt || !tok.ExpiresAt.Equal(first.ExpiresAt) || tok.Kind != first.Kind {
		t.Fatalf("PeekToken = %+v, %v; want the claims %+v", tok, err, first)
	}
}

// An attempt that never got a connection (nothing listens, or the
// handshake fails) is not repeated at once: only a connection that broke
// under a request is (the backoff deals with a peer that is down).
func TestClientSendNoConnectionIsNotRepeated(t *testing.T) {
	in, p, c := newClientFixture(t)
	p.srv.Close()
	ln, err := net.Listen("tcp", p.srv.Listener.Addr().String())
	if err != nil {
		t.Skipf("the port was taken again: %v", err)
	}
	defer ln.Close()
	var accepts atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			conn.Close() // before any handshake
		}
	}()
	r := c.Send(t.Context(), "XB-RC", in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"]))
	if r.Outcome != federation.Retry || !strings.HasPrefix(r.Reason, "transport") || r.LinkCut {
		t.Fatalf("%v %s (broken %t), want a retried transport failure, the link not broken", r.Outcome, r.Reason, r.LinkCut)
	}
	if accepts.Load() != 1 {
		t.Fatalf("%d connections, want 1", accepts.Load())
	}
}

// A single envelope whose connection broke under it is sent again at once.
func TestClientSendBrokenConnectionRepeatedOnce(t *testing.T) {
	in, p, c := newClientFixture(t)
	var n atomic.Int32
	ok := in.receipt(t, nil)
	p.set(func(w http.ResponseWriter, body []byte, who string) {
		if n.Add(1) == 1 {
			panic(http.ErrAbortHandler)
		}
		ok(w, body, who)
	})
	r := c.Send(t.Context(), "XB-RC", in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"]))
	if r.Outcome != federation.Delivered || n.Load() != 2 {
		t.Fatalf("%v (%s) after %d requests, want delivered after 2", r.Outcome, r.Reason, n.Load())
	}
}

// When the new connection breaks under the envelope too, the Result says
// the link broke (the caller may send it again at once).
func TestClientSendCutTwiceIsLinkCut(t *testing.T) {
	in, p, c := newClientFixture(t)
	var n atomic.Int32
	p.set(func(http.ResponseWriter, []byte, string) {
		n.Add(1)
		panic(http.ErrAbortHandler)
	})
	r := c.Send(t.Context(), "XB-RC", in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"]))
	if r.Outcome != federation.Retry || !r.LinkCut || n.Load() != 2 {
		t.Fatalf("%v (%s, broken %t) after %d requests, want retry, broken, after 2", r.Outcome, r.Reason, r.LinkCut, n.Load())
	}
}
