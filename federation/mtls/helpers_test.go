package mtls_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/devca"
	"github.com/familylinks/flx/federation/mtls"
)

// fixture is a federation CA, a second unrelated CA, and the certificates the
// attacks need. Certificates that must be refused for one reason only are
// pinned in the directories the tests build, so that the reason under test is
// the only one.
type fixture struct {
	fed, other *devca.CA

	xa, xb, xc *devca.Issued // good member certificates (XC-RC is not pinned unless a test says so)

	foreignXA, foreignXB *devca.Issued // same member ids, issued by the other CA
	expiredXA, expiredXB *devca.Issued
	serverOnlyXA         *devca.Issued // only the server-auth usage
	clientOnlyXB         *devca.Issued // only the client-auth usage
	noEKUXA              *devca.Issued // no extended key usage extension
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	newCA := func(cn string) *devca.CA {
		ca, err := devca.New(cn, 24*time.Hour)
		if err != nil {
			t.Fatalf("devca.New: %v", err)
		}
		return ca
	}
	f := &fixture{fed: newCA("XA-XB test federation CA"), other: newCA("Unrelated CA")}
	issue := func(ca *devca.CA, req devca.Request) *devca.Issued {
		if req.NotAfter.IsZero() {
			req.Validity = time.Hour
		}
		iss, err := ca.Issue(req)
		if err != nil {
			t.Fatalf("Issue %+v: %v", req, err)
		}
		return iss
	}
	past := time.Now().Add(-72 * time.Hour)
	expired := func(id string) devca.Request {
		return devca.Request{MemberID: id, NotBefore: past, NotAfter: past.Add(24 * time.Hour)}
	}
	f.xa = issue(f.fed, devca.Request{MemberID: "XA-RC"})
	f.xb = issue(f.fed, devca.Request{MemberID: "XB-RC"})
	f.xc = issue(f.fed, devca.Request{MemberID: "XC-RC"})
	f.foreignXA = issue(f.other, devca.Request{MemberID: "XA-RC"})
	f.foreignXB = issue(f.other, devca.Request{MemberID: "XB-RC"})
	f.expiredXA = issue(f.fed, expired("XA-RC"))
	f.expiredXB = issue(f.fed, expired("XB-RC"))
	f.serverOnlyXA = issue(f.fed, devca.Request{MemberID: "XA-RC", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	f.clientOnlyXB = issue(f.fed, devca.Request{MemberID: "XB-RC", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	f.noEKUXA = issue(f.fed, devca.Request{MemberID: "XA-RC", ExtKeyUsage: []x509.ExtKeyUsage{}})
	return f
}

// static returns a directory trusting the federation CA, with each certificate's
// key pinned for the member its common name names.
func (f *fixture) static(pinned ...*devca.Issued) *mtls.Static {
	return mtls.NewStatic(f.fed.Pool(), pinsFor(pinned...))
}

func pinsFor(pinned ...*devca.Issued) map[string]string {
	pins := make(map[string]string, len(pinned))
	for _, iss := range pinned {
		pins[iss.SPKIPin()] = iss.Cert.Subject.CommonName
	}
	return pins
}

// manifestDir stands for the root federation package's manifest-backed
// directory: members have a status, and suspended members are not answered.
type manifestDir struct {
	roots   *x509.CertPool
	members []manifestMember
}

type manifestMember struct {
	id        string
	pin       string
	suspended bool
}

func (m *manifestDir) RootCAs() *x509.CertPool { return m.roots }

func (m *manifestDir) MemberBySPKI(pin string) (string, bool) {
	for _, mm := range m.members {
		if mm.pin == pin {
			if mm.suspended {
				return "", false
			}
			return mm.id, true
		}
	}
	return "", false
}

// verifyLog records what a VerifyConnection callback decided.
type verifyLog struct {
	mu      sync.Mutex
	entries []verifyEntry
}

type verifyEntry struct {
	resumed bool
	err     error
}

// wrap makes cfg record every VerifyConnection decision in l.
func (l *verifyLog) wrap(cfg *tls.Config) {
	inner := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		err := inner(cs)
		l.mu.Lock()
		l.entries = append(l.entries, verifyEntry{resumed: cs.DidResume, err: err})
		l.mu.Unlock()
		return err
	}
}

func (l *verifyLog) all() []verifyEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]verifyEntry(nil), l.entries...)
}

func (l *verifyLog) last(t *testing.T) verifyEntry {
	t.Helper()
	e := l.all()
	if len(e) == 0 {
		t.Fatal("VerifyConnection was not called")
	}
	return e[len(e)-1]
}

// testServer is a federation listener on 127.0.0.1 whose handler answers with
// the authenticated member and, in X-Resumed, whether the TLS session was
// resumed.
type testServer struct {
	*httptest.Server
	verify *verifyLog
	mu     sync.Mutex
	calls  int
}

func (s *testServer) handlerCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func startServer(t *testing.T, cert tls.Certificate, dir mtls.Directory, adjust ...func(*tls.Config)) *testServer {
	t.Helper()
	s := &testServer{verify: &verifyLog{}}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls++
		s.mu.Unlock()
		member, ok := mtls.PeerFromContext(r.Context())
		if !ok {
			http.Error(w, "no peer in context", http.StatusInternalServerError)
			return
		}
		w.Header().Set("X-Resumed", strconv.FormatBool(r.TLS.DidResume))
		_, _ = io.WriteString(w, member)
	})
	srv := httptest.NewUnstartedServer(mtls.Middleware(dir)(handler))
	cfg := mtls.ServerConfig(cert, dir)
	for _, a := range adjust {
		a(cfg)
	}
	s.verify.wrap(cfg)
	srv.TLS = cfg
	// Refused handshakes are logged by net/http; the verify log is what the
	// tests look at.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.Server = srv
	return s
}

// httpClient returns a client using cfg that opens a new connection for every
// request (so that each request is a handshake, full or resumed).
func httpClient(cfg *tls.Config) *http.Client {
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true},
		Timeout:   10 * time.Second,
	}
}

// get does a GET and returns the body and whether the session was resumed.
func get(c *http.Client, url string) (member string, resumed bool, status int, err error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", false, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", false, 0, err
	}
	return string(b), resp.Header.Get("X-Resumed") == "true", resp.StatusCode, nil
}
