package conformance

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server-side faults of FLX-TLS-005: the candidate dials XD-PEER, whose
// manifest endpoint is the tester's listen port + 1, and finds there a
// server that fails one of the checks a sender must make. The tester
// counts ClientHellos and requests: a request means the candidate went on
// after the handshake it should have aborted.

// rogueServer answers at XD-PEER's endpoint with cfg.
type rogueServer struct {
	mu       sync.Mutex
	hellos   int
	requests int
	notify   chan struct{}
}

func (r *rogueServer) counts() (hellos, requests int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hellos, r.requests
}

func (r *rogueServer) bump(hello bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if hello {
		r.hellos++
	} else {
		r.requests++
	}
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// deliverToRogue starts a server at XD-PEER's endpoint with cfg, makes
// the candidate forward a new case to XD-PEER, and returns how many
// ClientHellos and requests the server saw: it waits for the first
// ClientHello (up to the patience), then a quiet period for a request.
func (t *T) deliverToRogue(cfg *tls.Config) (hellos, requests int) {
	t.Helper()
	peer, ok := t.id.Manifest.Member(MemberPeer)
	if !ok {
		t.Abortf("the conformance manifest has no %s", MemberPeer)
	}
	addr, err := endpointHostPort(peer.Endpoint)
	if err != nil {
		t.Abortf("%s endpoint: %v", MemberPeer, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Abortf("listen on %s's endpoint %s: %v", MemberPeer, addr, err)
	}
	r := &rogueServer{notify: make(chan struct{}, 1)}
	cfg = cfg.Clone()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		r.bump(true)
		return nil, nil
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r.bump(false)
		answerProblem(w, http.StatusServiceUnavailable, "unavailable")
	})}
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
	defer srv.Close()

	caseID := newCaseID(t.candidate)
	ans, err := t.trigger.createCase(outboundCase(t.candidate, caseID))
	if err != nil {
		t.Abortf("trigger: create case: %v", err)
	}
	if ans.Status != http.StatusCreated {
		t.Abortf("create case refused: %s", ans)
	}
	if ans, err = t.trigger.forward(caseID, MemberPeer); err != nil {
		t.Abortf("trigger: forward: %v", err)
	}
	if ans.Status != http.StatusAccepted {
		t.Abortf("forward to %s refused (the conformance case's consent covers it): %s", MemberPeer, ans)
	}
	deadline := time.After(t.patience)
	for h, _ := r.counts(); h == 0; h, _ = r.counts() {
		select {
		case <-r.notify:
		case <-deadline:
			t.Abortf("the candidate did not dial %s at %s within %s", MemberPeer, addr, t.patience)
		}
	}
	quiet := time.After(t.quiet)
	for _, q := r.counts(); q == 0; _, q = r.counts() {
		select {
		case <-r.notify:
		case <-quiet:
			return r.counts()
		}
	}
	return r.counts()
}

// checkServerOfAnotherMember checks that a candidate dialling XD-PEER
// aborts when the server presents XD-TESTER's valid certificate (chains,
// in validity, serverAuth; its pin is another member's).
func checkServerOfAnotherMember(t *T) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{t.id.Certs[certTester]}, ClientAuth: tls.RequestClientCert}
	hellos, requests := t.deliverToRogue(cfg)
	if requests > 0 {
		t.Errorf("%d request(s) sent to a server at %s's endpoint whose certificate is pinned for %s (%d handshakes)", requests, MemberPeer, MemberTester, hellos)
	}
}

// checkServerTLS12Only checks that a candidate dialling XD-PEER aborts
// when the server, with XD-PEER's own certificate, offers at most TLS 1.2.
func checkServerTLS12Only(t *T) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, Certificates: []tls.Certificate{t.id.Certs[certPeer]}, ClientAuth: tls.RequestClientCert}
	hellos, requests := t.deliverToRogue(cfg)
	if requests > 0 {
		t.Errorf("%d request(s) sent over TLS 1.2 to %s (%d handshakes)", requests, MemberPeer, hellos)
	}
}
