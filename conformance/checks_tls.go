package conformance

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"github.com/familylinks/flx/federation"
)

// Transport and peer identity (SPEC.md §2).

// mustNotAuthenticate requires that a request with the named certificate is
// refused with a failed handshake or 401 unauthenticated_peer.
func (t *T) mustNotAuthenticate(cert, method, path string, body []byte) {
	t.Helper()
	ct := ""
	if body != nil {
		ct = "application/jose"
	}
	ans, err := t.request(cert, method, path, body, ct)
	if err != nil {
		return // the handshake (or the connection) was refused
	}
	mustRefuse(t, ans, "unauthenticated_peer")
}

func (t *T) validCase() ([]byte, Claims) {
	return t.envelope(federation.KindCaseCreate, caseDoc(newCaseID(MemberTester), MemberTester))
}

// checkTLS12Refused checks that a client offering at most TLS 1.2 fails the
// handshake.
func checkTLS12Refused(t *T) {
	cfg := &tls.Config{MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true, Certificates: []tls.Certificate{t.id.Certs[certTester]}}
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", t.target.Host, cfg)
	if err == nil {
		v := c.ConnectionState().Version
		c.Close()
		t.Fatalf("handshake succeeded with TLS version %#x", v)
	}
}

// checkNoClientCert checks that a client without a certificate is refused, on
// a defined and an undefined path.
func checkNoClientCert(t *T) {
	raw, _ := t.validCase()
	t.mustNotAuthenticate("", http.MethodPost, "/flx/v1/envelopes", raw)
	t.mustNotAuthenticate("", http.MethodGet, "/.well-known/flx", nil)
	t.mustNotAuthenticate("", http.MethodDelete, "/no/such/path", nil)
}

// checkForeignCACert checks that a certificate from a CA not in the manifest
// (key pinned) is refused.
func checkForeignCACert(t *T) {
	raw, _ := t.validCase()
	t.mustNotAuthenticate(certForeignCA, http.MethodPost, "/flx/v1/envelopes", raw)
}

// checkExpiredCert checks that an expired certificate (key pinned) is
// refused.
func checkExpiredCert(t *T) {
	raw, _ := t.validCase()
	t.mustNotAuthenticate(certExpired, http.MethodPost, "/flx/v1/envelopes", raw)
}

// checkCertWithoutClientAuth checks that a certificate without the clientAuth
// usage (key pinned) is refused.
func checkCertWithoutClientAuth(t *T) {
	raw, _ := t.validCase()
	t.mustNotAuthenticate(certNoClientAuth, http.MethodPost, "/flx/v1/envelopes", raw)
}

// checkSelfSignedCert checks that a self-signed certificate whose key is
// pinned is refused.
func checkSelfSignedCert(t *T) {
	raw, _ := t.validCase()
	t.mustNotAuthenticate(certSelfSigned, http.MethodPost, "/flx/v1/envelopes", raw)
}

// checkUnpinnedKeyRefused checks that a certificate from the conformance CA
// whose key no member pins is refused.
func checkUnpinnedKeyRefused(t *T) {
	raw, _ := t.validCase()
	t.mustNotAuthenticate(certUnpinned, http.MethodPost, "/flx/v1/envelopes", raw)
}

// checkURISANMismatch checks that a certificate naming urn:flx:member:XD-PEER
// whose key XD-TESTER pins is refused.
func checkURISANMismatch(t *T) {
	raw, _ := t.validCase()
	t.mustNotAuthenticate(certWrongURI, http.MethodPost, "/flx/v1/envelopes", raw)
}

// checkIssNotPeer checks that an envelope whose iss is not the TLS peer is
// refused with sender_mismatch, even when signed by iss.
func checkIssNotPeer(t *T) {
	c := t.claims(federation.KindMessageDeliver, messageDoc(newCaseID(MemberPeer)))
	c.Iss = MemberPeer
	mustRefuse(t, t.post(t, t.sign(c, keyPeer)), "sender_mismatch")
}

// checkSuspendedMember checks that a suspended member is refused (handshake,
// 401 or 403 suspended_member), never 2xx.
func checkSuspendedMember(t *T) {
	c := t.claims(federation.KindMessageDeliver, messageDoc(newCaseID(MemberSuspended)))
	c.Iss = MemberSuspended
	ans, err := t.request(certSuspended, http.MethodPost, "/flx/v1/envelopes", t.sign(c, keySuspended), "application/jose")
	if err != nil {
		return
	}
	if ans.Status == http.StatusForbidden {
		mustRefuse(t, ans, "suspended_member")
		return
	}
	mustRefuse(t, ans, "unauthenticated_peer")
}
