package mtls_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/mtls"
)

func TestMiddleware(t *testing.T) {
	f := newFixture(t)
	state := func(certs ...*x509.Certificate) *tls.ConnectionState {
		return &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true, PeerCertificates: certs}
	}
	tests := []struct {
		name       string
		dir        mtls.Directory
		tls        *tls.ConnectionState
		opts       []mtls.Option
		wantMember string // "" means 401
	}{
		{name: "member", dir: f.static(f.xa), tls: state(f.xa.Cert), wantMember: "XA-RC"},
		{name: "no TLS", dir: f.static(f.xa), tls: nil},
		{name: "TLS without client certificate", dir: f.static(f.xa), tls: state()},
		{name: "handshake not complete", dir: f.static(f.xa),
			tls: &tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{f.xa.Cert}}},
		{name: "pin no longer in the directory", dir: f.static(f.xb), tls: state(f.xa.Cert)},
		{name: "member suspended", dir: &manifestDir{roots: f.fed.Pool(), members: []manifestMember{
			{id: "XA-RC", pin: f.xa.SPKIPin(), suspended: true},
		}}, tls: state(f.xa.Cert)},
		{name: "certificate expired since the handshake", dir: f.static(f.xa), tls: state(f.xa.Cert),
			opts: []mtls.Option{mtls.WithClock(func() time.Time { return time.Now().Add(48 * time.Hour) })}},
		{name: "empty directory", dir: &mtls.Dynamic{}, tls: state(f.xa.Cert)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seen string
			called := false
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				seen, _ = mtls.PeerFromContext(r.Context())
			})
			req := httptest.NewRequest(http.MethodPost, "/flx/v1/envelopes", nil)
			req.TLS = tc.tls
			rec := httptest.NewRecorder()
			mtls.Middleware(tc.dir, tc.opts...)(next).ServeHTTP(rec, req)

			if tc.wantMember != "" {
				if !called || seen != tc.wantMember {
					t.Fatalf("handler called %t with member %q, want %q (status %d)", called, seen, tc.wantMember, rec.Code)
				}
				return
			}
			if called {
				t.Fatal("handler called")
			}
			checkUnauthenticated(t, rec)
		})
	}
}

func checkUnauthenticated(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var p map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	want := map[string]any{
		"type":   mtls.ProblemTypeUnauthenticatedPeer,
		"title":  "Unauthenticated peer",
		"status": float64(401),
		"code":   "unauthenticated_peer",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %v, want %v", k, p[k], v)
		}
	}
	if d, _ := p["detail"].(string); d == "" {
		t.Error("no detail")
	}
}

func TestPeerContext(t *testing.T) {
	if m, ok := mtls.PeerFromContext(context.Background()); ok || m != "" {
		t.Errorf("empty context: %q %t", m, ok)
	}
	if _, ok := mtls.PeerFromContext(mtls.ContextWithPeer(context.Background(), "")); ok {
		t.Error("empty member id accepted as a peer")
	}
	if m, ok := mtls.PeerFromContext(mtls.ContextWithPeer(context.Background(), "ICRC-CTA")); !ok || m != "ICRC-CTA" {
		t.Errorf("got %q %t", m, ok)
	}
}
