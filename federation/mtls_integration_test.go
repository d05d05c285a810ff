package federation_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/devca"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/mtls"
)

// These tests run the trust layer end to end over real TLS listeners on
// 127.0.0.1: a manifest built with devca certificates, its TLSDirectory as
// the mtls.Directory of the listener (mtls.ServerConfig + mtls.Middleware),
// and a handler that passes the authenticated member to Verifier.Verify, as
// the node's envelope endpoint does. The question they answer is the one of
// FLX-ID-003: can member A's certificate carry an envelope with iss B?

// integration is a federation of XA-RC and XB-RC (active) and XC-RC
// (suspended), with a listener for XB-RC.
type integration struct {
	ca, other *devca.CA
	certs     map[string]*devca.Issued // member TLS certificates from the federation CA
	keys      map[string]*jose.PrivateKey
	anchor    *jose.PrivateKey

	// foreignPinnedXA is issued by another CA, but its key IS pinned for
	// XA-RC in the manifest: only the chain check refuses it.
	foreignPinnedXA *devca.Issued
	// foreignXA is issued by another CA for XA-RC and not pinned.
	foreignXA *devca.Issued

	spec     *federation.Manifest
	manifest *federation.Manifest
	holder   *federation.ManifestHolder
}

func newIntegration(t *testing.T) *integration {
	t.Helper()
	newCA := func(cn string) *devca.CA {
		ca, err := devca.New(cn, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return ca
	}
	in := &integration{
		ca: newCA("FLX integration test federation CA"), other: newCA("Unrelated CA"),
		certs: map[string]*devca.Issued{}, keys: map[string]*jose.PrivateKey{},
	}
	issue := func(ca *devca.CA, id string) *devca.Issued {
		c, err := ca.IssueMember(id, nil, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	genKey := func(alg jose.Alg) *jose.PrivateKey {
		k, err := jose.GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	in.anchor = genKey(jose.EdDSA)
	in.foreignPinnedXA = issue(in.other, "XA-RC")
	in.foreignXA = issue(in.other, "XA-RC")

	now := time.Now()
	in.spec = &federation.Manifest{
		Federation: "flx-integration",
		Version:    1,
		IssuedAt:   now.Add(-time.Hour),
		ExpiresAt:  now.Add(24 * time.Hour),
		TLSCAPEM:   []string{string(in.ca.CertPEM())},
	}
	for _, d := range []struct {
		id, country string
		alg         jose.Alg
		status      federation.Status
	}{
		{"XA-RC", "XA", jose.EdDSA, federation.StatusActive},
		{"XB-RC", "XB", jose.ES256, federation.StatusActive},
		{"XC-RC", "XC", jose.EdDSA, federation.StatusSuspended},
	} {
		in.certs[d.id] = issue(in.ca, d.id)
		in.keys[d.id] = genKey(d.alg)
		pins := []string{in.certs[d.id].SPKIPin()}
		if d.id == "XA-RC" {
			pins = append(pins, in.foreignPinnedXA.SPKIPin())
		}
		in.spec.Members = append(in.spec.Members, federation.Member{
			ID: d.id, Name: "Test Society " + d.country, Country: d.country, Role: federation.RoleSociety,
			Endpoint: "https://" + d.id + ".flx.test", JWKS: jose.KeySet{in.keys[d.id].Public()},
			TLSSPKISHA256: pins, Accepts: federation.Kinds, Status: d.status,
		})
	}
	raw, err := federation.SignManifest(in.spec, in.anchor)
	if err != nil {
		t.Fatal(err)
	}
	if in.manifest, err = federation.VerifyManifest(raw, in.anchor.Public(), now, nil); err != nil {
		t.Fatal(err)
	}
	in.holder = federation.NewManifestHolder(in.anchor.Public(), in.manifest)
	return in
}

// envelope signs an envelope from iss to aud with key.
func (in *integration) envelope(t *testing.T, iss, aud string, key *jose.PrivateKey) []byte {
	t.Helper()
	now := time.Now()
	raw, err := federation.Sign(federation.Claims{
		Issuer: iss, Audience: aud, IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		JTI: federation.NewJTI(), Kind: federation.KindCaseCreate, CaseID: iss + ":int-1",
		Body: json.RawMessage(`{"schema":"flx/v1/case","case_id":"` + iss + `:int-1"}`),
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// listener is XB-RC's federation listener.
type listener struct {
	*httptest.Server
	mu       sync.Mutex
	accepted []string // iss of every envelope Verify accepted
	calls    int      // requests that reached the handler (authenticated)
}

func (l *listener) stats() (calls int, accepted []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls, append([]string(nil), l.accepted...)
}

// answer is what the listener said.
type answer struct {
	Status int    `json:"-"`
	Reused bool   `json:"-"`
	Code   string `json:"code,omitempty"`
	Iss    string `json:"iss,omitempty"`
}

// startListener serves POST envelopes for self, with dir as the TLS
// directory and src as the verifier's manifest.
func startListener(t *testing.T, cert tls.Certificate, dir mtls.Directory, src federation.ManifestSource, self string) *listener {
	t.Helper()
	l := &listener{}
	v := &federation.Verifier{Manifest: src, Self: self}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.calls++
		l.mu.Unlock()
		peer, ok := mtls.PeerFromContext(r.Context())
		if !ok {
			t.Error("handler reached without an authenticated peer")
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		env, err := v.Verify(r.Context(), body, peer)
		if err != nil {
			code := federation.CodeOf(err)
			w.WriteHeader(code.HTTPStatus())
			_ = json.NewEncoder(w).Encode(answer{Code: string(code)})
			return
		}
		l.mu.Lock()
		l.accepted = append(l.accepted, env.Issuer)
		l.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(answer{Iss: env.Issuer})
	})
	srv := httptest.NewUnstartedServer(mtls.Middleware(dir)(handler))
	srv.TLS = mtls.ServerConfig(cert, dir)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	l.Server = srv
	return l
}

// post sends one envelope and returns the answer, or the transport error
// (a refused handshake). Reused says whether the request went over a
// connection already open.
func post(t *testing.T, c *http.Client, url string, body []byte) (answer, error) {
	t.Helper()
	var reused bool
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/flx/v1/envelopes", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/jose")
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	var a answer
	_ = json.NewDecoder(resp.Body).Decode(&a)
	_, _ = io.Copy(io.Discard, resp.Body) // drain, so the connection is kept
	a.Status, a.Reused = resp.StatusCode, reused
	return a, nil
}

// memberClient dials XB-RC presenting cert, checking XB-RC's server
// certificate against dir.
func memberClient(t *testing.T, cert tls.Certificate, dir mtls.Directory) *http.Client {
	t.Helper()
	c := mtls.NewClient(cert, dir, "XB-RC", 10*time.Second)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestMTLSIntegrationSenderIdentity(t *testing.T) {
	in := newIntegration(t)
	dir := in.manifest.TLSDirectory()
	l := startListener(t, in.certs["XB-RC"].TLS, dir, federation.StaticManifest(in.manifest), "XB-RC")
	xaClient := memberClient(t, in.certs["XA-RC"].TLS, dir)

	// refused asserts that a client is stopped at TLS or with 401, and that
	// the handler never runs.
	refused := func(t *testing.T, c *http.Client, body []byte) {
		t.Helper()
		before, _ := l.stats()
		a, err := post(t, c, l.URL, body)
		if err == nil && a.Status != http.StatusUnauthorized {
			t.Fatalf("answered %d %q; want a failed handshake or 401", a.Status, a.Code)
		}
		if err == nil && a.Code != "unauthenticated_peer" {
			t.Fatalf("401 with code %q", a.Code)
		}
		if after, _ := l.stats(); after != before {
			t.Fatal("the envelope handler ran for an unauthenticated client")
		}
		if err != nil {
			t.Logf("refused at TLS: %v", err)
		}
	}

	t.Run("XA-RC's certificate, iss XA-RC, signed by XA-RC: accepted", func(t *testing.T) {
		a, err := post(t, xaClient, l.URL, in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"]))
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != http.StatusAccepted || a.Iss != "XA-RC" {
			t.Fatalf("got %+v", a)
		}
	})

	t.Run("XA-RC's certificate, iss XB-RC validly signed by XB-RC: sender_mismatch", func(t *testing.T) {
		// An envelope XB-RC really signed, e.g. one it sent to XA-RC and that
		// XA-RC now replays, or one made with a stolen XB-RC signing key.
		for name, env := range map[string][]byte{
			"replayed XB-RC -> XA-RC envelope": in.envelope(t, "XB-RC", "XA-RC", in.keys["XB-RC"]),
			"XB-RC -> XB-RC (stolen key)":      in.envelope(t, "XB-RC", "XB-RC", in.keys["XB-RC"]),
		} {
			_, acceptedBefore := l.stats()
			a, err := post(t, xaClient, l.URL, env)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if a.Status != http.StatusForbidden || a.Code != string(federation.CodeSenderMismatch) {
				t.Fatalf("%s: got %+v, want 403 sender_mismatch", name, a)
			}
			if _, after := l.stats(); len(after) != len(acceptedBefore) {
				t.Fatalf("%s: accepted", name)
			}
		}
	})

	t.Run("control: the same XB-RC envelope over XB-RC's own certificate is accepted", func(t *testing.T) {
		xbClient := memberClient(t, in.certs["XB-RC"].TLS, dir)
		a, err := post(t, xbClient, l.URL, in.envelope(t, "XB-RC", "XB-RC", in.keys["XB-RC"]))
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != http.StatusAccepted || a.Iss != "XB-RC" {
			t.Fatalf("got %+v", a)
		}
	})

	t.Run("XA-RC's certificate, iss XA-RC, signed with XB-RC's key: unknown_key", func(t *testing.T) {
		a, err := post(t, xaClient, l.URL, in.envelope(t, "XA-RC", "XB-RC", in.keys["XB-RC"]))
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != http.StatusBadRequest || a.Code != string(federation.CodeUnknownKey) {
			t.Fatalf("got %+v", a)
		}
	})

	t.Run("no client certificate: handshake fails", func(t *testing.T) {
		c := &http.Client{
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: in.ca.Pool(), MinVersion: tls.VersionTLS13}},
			Timeout:   10 * time.Second,
		}
		t.Cleanup(c.CloseIdleConnections)
		before, _ := l.stats()
		a, err := post(t, c, l.URL, in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"]))
		if err == nil {
			t.Fatalf("a client without certificate got an answer: %+v", a)
		}
		t.Logf("refused at TLS: %v", err)
		if after, _ := l.stats(); after != before {
			t.Fatal("the handler ran")
		}
	})

	t.Run("suspended member's valid certificate: refused", func(t *testing.T) {
		c := memberClient(t, in.certs["XC-RC"].TLS, dir)
		refused(t, c, in.envelope(t, "XC-RC", "XB-RC", in.keys["XC-RC"]))
	})

	t.Run("certificate from another CA, its key pinned for XA-RC: refused", func(t *testing.T) {
		c := memberClient(t, in.foreignPinnedXA.TLS, dir)
		refused(t, c, in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"]))
	})

	t.Run("certificate from another CA, not pinned: refused", func(t *testing.T) {
		c := memberClient(t, in.foreignXA.TLS, dir)
		refused(t, c, in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"]))
	})

	t.Run("XA-RC's client refuses a server that is not XB-RC", func(t *testing.T) {
		// XA-RC dials "XB-RC" but the listener presents XA-RC's own
		// certificate: valid, from the federation CA, pinned for another
		// member than the one dialled.
		other := startListener(t, in.certs["XA-RC"].TLS, dir, federation.StaticManifest(in.manifest), "XA-RC")
		if a, err := post(t, xaClient, other.URL, in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"])); err == nil {
			t.Fatalf("sent to a server pinned for another member: %+v", a)
		}
		if calls, _ := other.stats(); calls != 0 {
			t.Fatal("a request reached the wrong server")
		}
	})

	if _, accepted := l.stats(); len(accepted) != 2 || accepted[0] != "XA-RC" || accepted[1] != "XB-RC" {
		t.Fatalf("accepted %v; want exactly XA-RC's own envelope and the XB-RC control", accepted)
	}
}

// holderDirectory is the TLS directory of whatever manifest the holder holds
// at the moment (the node's wiring): each handshake and request sees the
// manifest then current.
type holderDirectory struct{ h *federation.ManifestHolder }

func (d holderDirectory) Snapshot() mtls.Directory             { return d.h.Current().TLSDirectory() }
func (d holderDirectory) RootCAs() *x509.CertPool              { return d.Snapshot().RootCAs() }
func (d holderDirectory) MemberBySPKI(p string) (string, bool) { return d.Snapshot().MemberBySPKI(p) }

// TestMTLSIntegrationSuspensionWhileConnected: a newer manifest suspends
// XA-RC while it holds a connection to XB-RC. Its next request on that very
// connection is refused with 401 before any envelope processing, and a new
// handshake fails (FLX-ID-004, FLX-ID-005).
func TestMTLSIntegrationSuspensionWhileConnected(t *testing.T) {
	in := newIntegration(t)
	dir := holderDirectory{in.holder}
	l := startListener(t, in.certs["XB-RC"].TLS, dir, in.holder, "XB-RC")
	xaClient := memberClient(t, in.certs["XA-RC"].TLS, dir)

	a, err := post(t, xaClient, l.URL, in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"]))
	if err != nil || a.Status != http.StatusAccepted {
		t.Fatalf("before suspension: %+v %v", a, err)
	}

	next := *in.spec
	next.Members = append([]federation.Member(nil), in.spec.Members...)
	next.Version = 2
	next.Members[0].Status = federation.StatusSuspended // XA-RC
	raw, err := federation.SignManifest(&next, in.anchor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.holder.Update(raw, time.Now()); err != nil {
		t.Fatal(err)
	}

	callsBefore, _ := l.stats()
	a, err = post(t, xaClient, l.URL, in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"]))
	if err != nil || !a.Reused || a.Status != http.StatusUnauthorized || a.Code != "unauthenticated_peer" {
		t.Fatalf("after suspension, on the held connection: %+v %v; want 401 unauthenticated_peer on a reused connection", a, err)
	}
	xaClient.CloseIdleConnections()
	if a, err := post(t, xaClient, l.URL, in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"])); err == nil && a.Status != http.StatusUnauthorized {
		t.Fatalf("after suspension, new connection: %+v", a)
	}
	if calls, _ := l.stats(); calls != callsBefore {
		t.Fatal("the envelope handler ran for a suspended member")
	}

	// XB-RC is unaffected.
	xbClient := memberClient(t, in.certs["XB-RC"].TLS, dir)
	if a, err := post(t, xbClient, l.URL, in.envelope(t, "XB-RC", "XB-RC", in.keys["XB-RC"])); err != nil || a.Status != http.StatusAccepted {
		t.Fatalf("XB-RC after XA-RC's suspension: %+v %v", a, err)
	}
}
