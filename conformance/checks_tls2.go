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
//
// A candidate that rightly aborted still holds the case, and rests the
// tester's endpoint after its failed attempts (FLX-DLV-004): the next
// check would find that rest, longer the more attempts failed here. So,
// the faulty server gone, the check waits until the case has reached the
// tester's real listener: the candidate's endpoint is healthy again when
// the check ends, whatever ran before and runs after.
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
	restored := false
	restore := func() {
		if !restored {
			restored = true
			l.rogue.Store(nil)
			l.srv.SetKeepAlivesEnabled(true)
		}
	}
	defer restore()
	caseID := t.sendCase(func(*Arrival) Action { return Action{} })
	deadline := time.Now().Add(t.patience)
	for l.rogueHellos.Load() == before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if l.rogueHellos.Load() == before {
		t.Abortf("the candidate made no new handshake with the tester within %s of the forward", t.patience)
	}
	arrived = len(l.Wait(forCase(caseID), 1, t.quiet))
	restore()
	hellos = l.rogueHellos.Load() - before
	if arrived == 0 {
		t.settleAfterRogue(caseID, hellos)
	}
	return hellos, arrived
}

// settleAfterRogue waits until the case that failed hellos handshakes
// with a faulty server arrives at the tester's real listener: the
// candidate's next attempt, after its backoff (FLX-DLV-004: after k
// failures at least 0.5 × 2^(k−1) s; this bound allows twice that, as
// the backoff checks do), on top of twice the patience: on a loaded
// machine a good candidate was seen to take over 30 s after two refused
// handshakes.
func (t *T) settleAfterRogue(caseID string, hellos int64) {
	t.Helper()
	backoff := time.Duration(1<<min(hellos, 7)) * time.Second
	wait := 2*t.patience + backoff
	if len(t.listener.Wait(forCase(caseID), 1, wait)) == 0 {
		t.Abortf("the faulty server gone, the case did not reach the tester's listener within %s (after %d refused handshakes): the candidate still rests the tester's endpoint, which would hold back the next check", wait, hellos)
	}
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
