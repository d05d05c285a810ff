package conformance

import (
	"crypto/tls"
	"time"
)

// Server-side faults of FLX-TLS-005: while the candidate delivers a new
// case to XD-TESTER, the tester's listener answers every new handshake
// with a faulty server configuration. A good sender aborts after the
// ClientHello; a request of the case that arrives meanwhile means the
// candidate went on after a handshake it should have aborted.

// deliverToRogue makes the candidate forward a new case to the tester
// while the listener answers handshakes with cfg, and returns how many
// ClientHellos cfg answered and how many envelopes of the case arrived.
// It waits for the first ClientHello (up to the patience), then a quiet
// period.
func (t *T) deliverToRogue(cfg *tls.Config) (hellos int64, arrived int) {
	t.Helper()
	l := t.listener
	// No resumption: a session of the real server, resumed, would carry
	// its certificate, which the candidate rightly accepts.
	cfg = cfg.Clone()
	cfg.SessionTicketsDisabled = true
	before := l.rogueHellos.Load()
	l.rogue.Store(cfg)
	// Connections made before keep going: close the idle ones so that the
	// case can only come over a new handshake.
	l.srv.SetKeepAlivesEnabled(false)
	defer func() {
		l.rogue.Store(nil)
		l.srv.SetKeepAlivesEnabled(true)
	}()
	caseID := t.sendCase(func(*Arrival) Action { return Action{} })
	deadline := time.Now().Add(t.patience)
	for l.rogueHellos.Load() == before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if l.rogueHellos.Load() == before {
		t.Abortf("the candidate made no new handshake with the tester within %s of the forward", t.patience)
	}
	arrived = len(l.Wait(forCase(caseID), 1, t.quiet))
	return l.rogueHellos.Load() - before, arrived
}

// checkServerOfAnotherMember checks that a candidate delivering to
// XD-TESTER aborts when the server presents XD-PEER's valid certificate
// (chains, in validity, serverAuth; its pin is another member's).
func checkServerOfAnotherMember(t *T) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{t.id.Certs[certPeer]}, ClientAuth: tls.RequestClientCert}
	hellos, arrived := t.deliverToRogue(cfg)
	if arrived > 0 {
		t.Errorf("the case was sent to a server at %s's endpoint whose certificate is pinned for %s (%d handshakes)", MemberTester, MemberPeer, hellos)
	}
}

// checkServerTLS12Only checks that a candidate delivering to XD-TESTER
// aborts when the server, with XD-TESTER's own certificate, offers at most
// TLS 1.2.
func checkServerTLS12Only(t *T) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, Certificates: []tls.Certificate{t.id.Certs[certTester]}, ClientAuth: tls.RequestClientCert}
	hellos, arrived := t.deliverToRogue(cfg)
	if arrived > 0 {
		t.Errorf("the case was sent over TLS 1.2 (%d handshakes)", hellos)
	}
}
