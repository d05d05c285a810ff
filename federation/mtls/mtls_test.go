package mtls_test

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/devca"
	"github.com/familylinks/flx/federation/mtls"
)

func TestSPKIPin(t *testing.T) {
	f := newFixture(t)
	der, err := x509.MarshalPKIXPublicKey(f.xa.Cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	want := hex.EncodeToString(sum[:])
	if got := mtls.SPKIPin(f.xa.Cert); got != want {
		t.Errorf("SPKIPin = %s, want %s", got, want)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(want) {
		t.Errorf("pin %q is not 64 lowercase hex digits", want)
	}

	// A renewed certificate for the same key has the same pin; another key
	// has another.
	tmpl := *f.xa.Cert
	tmpl.NotAfter = tmpl.NotAfter.Add(time.Hour)
	renewedDER, err := x509.CreateCertificate(rand.Reader, &tmpl, f.fed.Cert, f.xa.Cert.PublicKey, f.fed.Key)
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := x509.ParseCertificate(renewedDER)
	if err != nil {
		t.Fatal(err)
	}
	if mtls.SPKIPin(renewed) != want {
		t.Error("renewed certificate with the same key has another pin")
	}
	if mtls.SPKIPin(f.xb.Cert) == want {
		t.Error("two keys share a pin")
	}
}

// TestServerRefusesAttacks drives the federation listener with real TLS
// clients: only a certificate of the federation CA, for client auth, in its
// validity period, whose key is pinned for an active member, gets through.
func TestServerRefusesAttacks(t *testing.T) {
	f := newFixture(t)
	// The client side trusts the server (XB-RC) in every case.
	clientDir := f.static(f.xb)

	type testCase struct {
		dir    mtls.Directory // the listener's directory
		client *tls.Config
		// wantMember is the member the handler sees; "" means refused.
		wantMember string
		// wantErr is the listener's VerifyConnection verdict; nil with
		// wantMember "" means crypto/tls refused before VerifyConnection.
		wantErr error
		// wantExpired: the x509 error says the certificate expired.
		wantExpired bool
	}
	clientWith := func(cert *devca.Issued) *tls.Config {
		return mtls.ClientConfig(cert.TLS, clientDir, "XB-RC")
	}
	tests := map[string]func() testCase{
		"federation member": func() testCase {
			return testCase{dir: f.static(f.xa), client: clientWith(f.xa), wantMember: "XA-RC"}
		},
		"no client certificate": func() testCase {
			cfg := clientWith(f.xa)
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return &tls.Certificate{}, nil
			}
			return testCase{dir: f.static(f.xa), client: cfg}
		},
		"certificate from another CA, key pinned": func() testCase {
			return testCase{dir: f.static(f.xa, f.foreignXA), client: clientWith(f.foreignXA), wantErr: mtls.ErrUntrustedCertificate}
		},
		"valid certificate, key not pinned": func() testCase {
			return testCase{dir: f.static(f.xa), client: clientWith(f.xc), wantErr: mtls.ErrUnknownPeer}
		},
		"suspended member": func() testCase {
			dir := &manifestDir{roots: f.fed.Pool(), members: []manifestMember{
				{id: "XA-RC", pin: f.xa.SPKIPin(), suspended: true},
				{id: "XB-RC", pin: f.xb.SPKIPin()},
			}}
			return testCase{dir: dir, client: clientWith(f.xa), wantErr: mtls.ErrUnknownPeer}
		},
		"expired certificate, key pinned": func() testCase {
			return testCase{dir: f.static(f.expiredXA), client: clientWith(f.expiredXA), wantErr: mtls.ErrUntrustedCertificate, wantExpired: true}
		},
		"server-auth only certificate as client, key pinned": func() testCase {
			return testCase{dir: f.static(f.serverOnlyXA), client: clientWith(f.serverOnlyXA), wantErr: mtls.ErrKeyUsage}
		},
		"certificate without extended key usage, key pinned": func() testCase {
			return testCase{dir: f.static(f.noEKUXA), client: clientWith(f.noEKUXA), wantErr: mtls.ErrKeyUsage}
		},
		"certificate naming another member than its pin": func() testCase {
			// XC-RC's certificate, its key listed under XA-RC.
			dir := mtls.NewStatic(f.fed.Pool(), map[string]string{f.xc.SPKIPin(): "XA-RC"})
			return testCase{dir: dir, client: clientWith(f.xc), wantErr: mtls.ErrMemberMismatch}
		},
		"directory without CA certificates": func() testCase {
			return testCase{dir: mtls.NewStatic(nil, pinsFor(f.xa)), client: clientWith(f.xa), wantErr: mtls.ErrNoDirectory}
		},
		"TLS 1.2 client": func() testCase {
			cfg := clientWith(f.xa)
			cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
			return testCase{dir: f.static(f.xa), client: cfg}
		},
	}
	for name, build := range tests {
		t.Run(name, func(t *testing.T) {
			tc := build()
			srv := startServer(t, f.xb.TLS, tc.dir)
			member, _, status, err := get(httpClient(tc.client), srv.URL)

			if tc.wantMember != "" {
				if err != nil || status != http.StatusOK || member != tc.wantMember {
					t.Fatalf("got member %q status %d err %v, want %q", member, status, err, tc.wantMember)
				}
				if e := srv.verify.last(t); e.err != nil {
					t.Errorf("VerifyConnection: %v", e.err)
				}
				return
			}
			if err == nil {
				t.Fatalf("request succeeded (status %d, member %q), want a refused handshake", status, member)
			}
			if n := srv.handlerCalls(); n != 0 {
				t.Errorf("handler called %d times", n)
			}
			entries := srv.verify.all()
			if tc.wantErr == nil {
				if len(entries) != 0 {
					t.Errorf("VerifyConnection called %d times, want refusal by crypto/tls before it", len(entries))
				}
				return
			}
			if len(entries) == 0 {
				t.Fatalf("VerifyConnection not called; client error: %v", err)
			}
			for _, e := range entries {
				if !errors.Is(e.err, tc.wantErr) {
					t.Errorf("VerifyConnection error %v, want %v", e.err, tc.wantErr)
				}
				var invalid x509.CertificateInvalidError
				if tc.wantExpired && (!errors.As(e.err, &invalid) || invalid.Reason != x509.Expired) {
					t.Errorf("VerifyConnection error %v, want an x509 expiry", e.err)
				}
			}
		})
	}
}

// TestClientRefusesAttacks dials listeners presenting various certificates with
// a client that expects member XB-RC.
func TestClientRefusesAttacks(t *testing.T) {
	f := newFixture(t)
	serverDir := f.static(f.xa) // the listener accepts the client, XA-RC

	type testCase struct {
		serverCert *devca.Issued
		clientDir  mtls.Directory
		tls12      bool // the listener speaks TLS 1.2 only
		wantErr    error
	}
	tests := map[string]testCase{
		"expected member": {
			serverCert: f.xb, clientDir: f.static(f.xb),
		},
		"valid certificate of another member": {
			serverCert: f.xa, clientDir: f.static(f.xa, f.xb), wantErr: mtls.ErrWrongPeer,
		},
		"server from another CA, key pinned": {
			serverCert: f.foreignXB, clientDir: f.static(f.xb, f.foreignXB), wantErr: mtls.ErrUntrustedCertificate,
		},
		"server key not pinned": {
			serverCert: f.xc, clientDir: f.static(f.xb), wantErr: mtls.ErrUnknownPeer,
		},
		"expired server certificate, key pinned": {
			serverCert: f.expiredXB, clientDir: f.static(f.expiredXB), wantErr: mtls.ErrUntrustedCertificate,
		},
		"client-auth only certificate as server, key pinned": {
			serverCert: f.clientOnlyXB, clientDir: f.static(f.clientOnlyXB), wantErr: mtls.ErrKeyUsage,
		},
		"suspended member": {
			serverCert: f.xb,
			clientDir: &manifestDir{roots: f.fed.Pool(), members: []manifestMember{
				{id: "XB-RC", pin: f.xb.SPKIPin(), suspended: true},
			}},
			wantErr: mtls.ErrUnknownPeer,
		},
		"client directory without CA certificates": {
			serverCert: f.xb, clientDir: mtls.NewStatic(nil, pinsFor(f.xb)), wantErr: mtls.ErrNoDirectory,
		},
		"TLS 1.2 server": {
			serverCert: f.xb, clientDir: f.static(f.xb), tls12: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var adjust []func(*tls.Config)
			if tc.tls12 {
				adjust = append(adjust, func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12 })
			}
			srv := startServer(t, tc.serverCert.TLS, serverDir, adjust...)
			client := mtls.NewClient(f.xa.TLS, tc.clientDir, "XB-RC", 10*time.Second)
			t.Cleanup(client.CloseIdleConnections)
			member, _, status, err := get(client, srv.URL)

			switch {
			case tc.wantErr == nil && !tc.tls12:
				if err != nil || status != http.StatusOK || member != "XA-RC" {
					t.Fatalf("got member %q status %d err %v", member, status, err)
				}
			case err == nil:
				t.Fatalf("request succeeded (status %d), want the client to refuse the server", status)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil || tc.tls12 {
				if n := srv.handlerCalls(); n != 0 {
					t.Errorf("handler called %d times", n)
				}
			}
		})
	}
}

// TestServerResumptionRechecked: a session resumed after the client's pin was
// dropped from the directory is refused. VerifyPeerCertificate would not have
// run on the resumed handshake; VerifyConnection does.
func TestServerResumptionRechecked(t *testing.T) {
	f := newFixture(t)
	dir := mtls.NewDynamic(f.static(f.xa))
	srv := startServer(t, f.xb.TLS, dir)
	client := httpClient(mtls.ClientConfig(f.xa.TLS, f.static(f.xb), "XB-RC")) // one session cache

	member, resumed, _, err := get(client, srv.URL)
	if err != nil || member != "XA-RC" || resumed {
		t.Fatalf("first request: member %q resumed %t err %v", member, resumed, err)
	}
	member, resumed, _, err = get(client, srv.URL)
	if err != nil || member != "XA-RC" {
		t.Fatalf("second request: member %q err %v", member, err)
	}
	if !resumed {
		t.Fatal("second connection did not resume the session; the test proves nothing")
	}

	dir.Store(f.static()) // XA-RC's pin removed from the manifest
	if _, _, status, err := get(client, srv.URL); err == nil {
		t.Fatalf("request after the pin was dropped succeeded (status %d)", status)
	}
	e := srv.verify.last(t)
	if !e.resumed {
		t.Error("the refused handshake was not a resumption")
	}
	if !errors.Is(e.err, mtls.ErrUnknownPeer) {
		t.Errorf("VerifyConnection error %v, want %v", e.err, mtls.ErrUnknownPeer)
	}
}

// TestClientResumptionRechecked: the client too re-checks a resumed session
// against its current directory.
func TestClientResumptionRechecked(t *testing.T) {
	f := newFixture(t)
	srv := startServer(t, f.xb.TLS, f.static(f.xa))
	dir := mtls.NewDynamic(f.static(f.xb))
	cfg := mtls.ClientConfig(f.xa.TLS, dir, "XB-RC")
	log := &verifyLog{}
	log.wrap(cfg)
	client := httpClient(cfg)

	for i := range 2 {
		if _, _, _, err := get(client, srv.URL); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if !log.last(t).resumed {
		t.Fatal("second connection did not resume the session; the test proves nothing")
	}
	dir.Store(f.static()) // XB-RC's pin removed (suspended, say)
	_, _, _, err := get(client, srv.URL)
	if !errors.Is(err, mtls.ErrUnknownPeer) {
		t.Fatalf("error %v, want %v", err, mtls.ErrUnknownPeer)
	}
	if e := log.last(t); !e.resumed || !errors.Is(e.err, mtls.ErrUnknownPeer) {
		t.Errorf("last verification: resumed %t err %v, want a refused resumption", e.resumed, e.err)
	}
}

// TestDirectoryChangesAtRunTime replaces the directory under a running
// listener: new handshakes and requests on established connections follow it.
func TestDirectoryChangesAtRunTime(t *testing.T) {
	f := newFixture(t)
	dir := mtls.NewDynamic(f.static(f.xa))
	srv := startServer(t, f.xb.TLS, dir)
	clientDir := f.static(f.xb)
	fresh := func(cert *devca.Issued) *http.Client {
		return httpClient(mtls.ClientConfig(cert.TLS, clientDir, "XB-RC"))
	}

	// A keep-alive client of XA-RC, holding its connection across changes.
	keepAlive := mtls.NewClient(f.xa.TLS, clientDir, "XB-RC", 10*time.Second)
	t.Cleanup(keepAlive.CloseIdleConnections)
	reqOnKeptConn := func(t *testing.T) (status int, contentType string, reused bool) {
		t.Helper()
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := keepAlive.Do(req)
		if err != nil {
			t.Fatalf("keep-alive request: %v", err)
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), reused
	}
	if status, _, _ := reqOnKeptConn(t); status != http.StatusOK {
		t.Fatalf("keep-alive request: status %d", status)
	}

	steps := []struct {
		name    string
		change  func()
		client  *devca.Issued
		want    string // member, or "" when refused
		wantErr error
	}{
		{"XC-RC not yet a member", func() {}, f.xc, "", mtls.ErrUnknownPeer},
		{"XC-RC joins", func() { dir.Store(f.static(f.xa, f.xc)) }, f.xc, "XC-RC", nil},
		{"XA-RC still accepted", func() {}, f.xa, "XA-RC", nil},
		{"XA-RC suspended", func() {
			dir.Store(&manifestDir{roots: f.fed.Pool(), members: []manifestMember{
				{id: "XA-RC", pin: f.xa.SPKIPin(), suspended: true},
				{id: "XC-RC", pin: f.xc.SPKIPin()},
			}})
		}, f.xa, "", mtls.ErrUnknownPeer},
		{"CA rotated to another CA", func() {
			dir.Store(mtls.NewStatic(f.other.Pool(), pinsFor(f.xc, f.foreignXA)))
		}, f.xc, "", mtls.ErrUntrustedCertificate},
		{"member certificate of the new CA", func() {}, f.foreignXA, "XA-RC", nil},
	}
	for _, st := range steps {
		st.change()
		member, _, status, err := get(fresh(st.client), srv.URL)
		if st.want != "" {
			if err != nil || member != st.want {
				t.Fatalf("%s: member %q status %d err %v, want %q", st.name, member, status, err, st.want)
			}
			continue
		}
		if err == nil {
			t.Fatalf("%s: request succeeded (status %d)", st.name, status)
		}
		if e := srv.verify.last(t); !errors.Is(e.err, st.wantErr) {
			t.Fatalf("%s: VerifyConnection error %v, want %v", st.name, e.err, st.wantErr)
		}
	}

	// XA-RC's connection from before the changes is still open, but XA-RC's
	// key is no longer pinned: the middleware refuses the request.
	status, contentType, reused := reqOnKeptConn(t)
	if !reused {
		t.Fatal("keep-alive connection was not reused; the test proves nothing")
	}
	if status != http.StatusUnauthorized || contentType != "application/problem+json" {
		t.Errorf("request on a connection of a suspended member: status %d %s, want 401 problem+json", status, contentType)
	}
}

func TestNewClient(t *testing.T) {
	f := newFixture(t)
	srv := startServer(t, f.xb.TLS, f.static(f.xa))
	mux := http.NewServeMux()
	mux.Handle("/", srv.Config.Handler)
	mux.Handle("/moved", mtls.Middleware(f.static(f.xa))(http.RedirectHandler("/", http.StatusFound)))
	srv.Config.Handler = mux

	client := mtls.NewClient(f.xa.TLS, f.static(f.xb), "XB-RC", 10*time.Second)
	t.Cleanup(client.CloseIdleConnections)

	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("status %d, TLS %+v", resp.StatusCode, resp.TLS)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2", resp.Proto)
	}
	resp, err = client.Get(srv.URL + "/moved")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("redirect: status %d, want 302 handed back", resp.StatusCode)
	}
}

func TestVerifyPeer(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	tests := []struct {
		name    string
		dir     mtls.Directory
		certs   []*x509.Certificate
		usage   x509.ExtKeyUsage
		now     time.Time
		want    string
		wantErr error
	}{
		{"client", f.static(f.xa), []*x509.Certificate{f.xa.Cert}, x509.ExtKeyUsageClientAuth, now, "XA-RC", nil},
		{"server", f.static(f.xb), []*x509.Certificate{f.xb.Cert}, x509.ExtKeyUsageServerAuth, now, "XB-RC", nil},
		{"upper-case pins folded", mtls.NewStatic(f.fed.Pool(), map[string]string{strings.ToUpper(f.xa.SPKIPin()): "XA-RC"}),
			[]*x509.Certificate{f.xa.Cert}, x509.ExtKeyUsageClientAuth, now, "XA-RC", nil},
		{"nil directory", nil, []*x509.Certificate{f.xa.Cert}, x509.ExtKeyUsageClientAuth, now, "", mtls.ErrNoDirectory},
		{"empty dynamic directory", &mtls.Dynamic{}, []*x509.Certificate{f.xa.Cert}, x509.ExtKeyUsageClientAuth, now, "", mtls.ErrNoDirectory},
		{"no certificates", f.static(f.xa), nil, x509.ExtKeyUsageClientAuth, now, "", mtls.ErrNoPeerCertificate},
		{"not yet valid", f.static(f.xa), []*x509.Certificate{f.xa.Cert}, x509.ExtKeyUsageClientAuth, now.Add(-time.Hour), "", mtls.ErrUntrustedCertificate},
		{"expired by the clock", f.static(f.xa), []*x509.Certificate{f.xa.Cert}, x509.ExtKeyUsageClientAuth, now.Add(2 * time.Hour), "", mtls.ErrUntrustedCertificate},
		{"CA certificate as leaf", mtls.NewStatic(f.fed.Pool(), map[string]string{mtls.SPKIPin(f.fed.Cert): "XA-RC"}),
			[]*x509.Certificate{f.fed.Cert}, x509.ExtKeyUsageClientAuth, now, "", mtls.ErrKeyUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mtls.VerifyPeer(tc.dir, tc.certs, tc.usage, tc.now)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("member %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDynamicSnapshot: one verification reads CA certificates and pins from
// the same directory even if it is replaced in between.
func TestDynamicSnapshot(t *testing.T) {
	f := newFixture(t)
	first := f.static(f.xa)
	dy := mtls.NewDynamic(first)
	if dy.Snapshot() != first {
		t.Fatal("Snapshot is not the stored directory")
	}
	nested := mtls.NewDynamic(dy)
	if nested.Snapshot() != first {
		t.Error("Snapshot of a Dynamic holding a Dynamic is not the innermost directory")
	}
	second := f.static(f.xb)
	dy.Store(second)
	if nested.Snapshot() != second {
		t.Error("nested Dynamic does not follow the inner one")
	}
	if m, ok := nested.MemberBySPKI(f.xb.SPKIPin()); !ok || m != "XB-RC" {
		t.Errorf("MemberBySPKI = %q %t", m, ok)
	}
	var zero mtls.Dynamic
	if zero.RootCAs() != nil || zero.Snapshot() != nil {
		t.Error("zero Dynamic is not empty")
	}
	if _, ok := zero.MemberBySPKI(f.xa.SPKIPin()); ok {
		t.Error("zero Dynamic knows a member")
	}
}

func TestMemberURI(t *testing.T) {
	if got := mtls.MemberURI("ICRC-CTA"); got != "urn:flx:member:ICRC-CTA" {
		t.Errorf("MemberURI = %q", got)
	}
}
