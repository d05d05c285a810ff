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

func init() {
	register(Check{
		ID: "FLX-TLS-001/tls12-refused", Requirements: []string{"FLX-TLS-001"},
		Title: "a client offering at most TLS 1.2 fails the handshake",
		Run: func(t *T) {
			cfg := &tls.Config{MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true, Certificates: []tls.Certificate{t.id.Certs[certTester]}}
			d := &net.Dialer{Timeout: 10 * time.Second}
			c, err := tls.DialWithDialer(d, "tcp", t.target.Host, cfg)
			if err == nil {
				v := c.ConnectionState().Version
				c.Close()
				t.Fatalf("handshake succeeded with TLS version %#x", v)
			}
		},
	})
	register(Check{
		ID: "FLX-TLS-002/no-client-cert", Requirements: []string{"FLX-TLS-002", "FLX-ID-005"},
		Title: "a client without a certificate is refused, on a defined and an undefined path",
		Run: func(t *T) {
			raw, _ := t.validCase()
			t.mustNotAuthenticate("", http.MethodPost, "/flx/v1/envelopes", raw)
			t.mustNotAuthenticate("", http.MethodGet, "/.well-known/flx", nil)
			t.mustNotAuthenticate("", http.MethodDelete, "/no/such/path", nil)
		},
	})
	for _, c := range []struct{ slug, cert, title string }{
		{"foreign-ca", certForeignCA, "a certificate from a CA not in the manifest (key pinned) is refused"},
		{"expired", certExpired, "an expired certificate (key pinned) is refused"},
		{"no-clientauth", certNoClientAuth, "a certificate without the clientAuth usage (key pinned) is refused"},
		{"self-signed", certSelfSigned, "a self-signed certificate whose key is pinned is refused"},
	} {
		register(Check{
			ID: "FLX-TLS-003/" + c.slug, Requirements: []string{"FLX-TLS-003"}, Title: c.title,
			Run: func(t *T) {
				raw, _ := t.validCase()
				t.mustNotAuthenticate(c.cert, http.MethodPost, "/flx/v1/envelopes", raw)
			},
		})
	}
	register(Check{
		ID: "FLX-ID-001/unpinned-key", Requirements: []string{"FLX-ID-001"},
		Title: "a certificate from the conformance CA whose key no member pins is refused",
		Run: func(t *T) {
			raw, _ := t.validCase()
			t.mustNotAuthenticate(certUnpinned, http.MethodPost, "/flx/v1/envelopes", raw)
		},
	})
	register(Check{
		ID: "FLX-ID-002/uri-san-mismatch", Requirements: []string{"FLX-ID-002"},
		Title: "a certificate naming urn:flx:member:XD-PEER whose key XD-TESTER pins is refused",
		Run: func(t *T) {
			raw, _ := t.validCase()
			t.mustNotAuthenticate(certWrongURI, http.MethodPost, "/flx/v1/envelopes", raw)
		},
	})
	register(Check{
		ID: "FLX-ID-003/iss-not-peer", Requirements: []string{"FLX-ID-003"},
		Title: "an envelope whose iss is not the TLS peer is refused with sender_mismatch, even when signed by iss",
		Run: func(t *T) {
			c := t.claims(federation.KindMessageDeliver, messageDoc(newCaseID(MemberPeer)))
			c.Iss = MemberPeer
			mustRefuse(t, t.post(t, t.sign(c, keyPeer)), "sender_mismatch")
		},
	})
	register(Check{
		ID: "FLX-ID-004/suspended-member", Requirements: []string{"FLX-ID-004"},
		Title: "a suspended member is refused (handshake, 401 or 403 suspended_member), never 2xx",
		Run: func(t *T) {
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
		},
	})
}
