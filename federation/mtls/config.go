package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"
)

// Option adjusts [ServerConfig], [ClientConfig], [NewTransport], [NewClient]
// and [Middleware].
type Option func(*options)

type options struct {
	now func() time.Time
}

func buildOptions(opts []Option) options {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithClock sets the clock certificate validity is checked against (default
// time.Now). It is also set as tls.Config.Time.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// ServerConfig returns the TLS configuration of the federation listener,
// presenting cert. It requires TLS 1.3 and a client certificate, and refuses
// the handshake unless [VerifyPeer] with x509.ExtKeyUsageClientAuth accepts the
// client's chain against dir, as it stands at that handshake. The check runs in
// VerifyConnection, so it also covers resumed sessions.
//
// No CA names are sent in the certificate request (the CA set may change under
// a running listener); clients present their federation certificate anyway.
// Use the result with http.Server.TLSConfig (ServeTLS adds the ALPN protocols;
// with Serve on a TLS listener, set NextProtos to offer HTTP/2) and wrap the
// handler with [Middleware].
func ServerConfig(cert tls.Certificate, dir Directory, opts ...Option) *tls.Config {
	o := buildOptions(opts)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// RequireAnyClientCert: crypto/tls only checks that a certificate was
		// sent and that the client holds its key; the chain and pin are
		// checked below against the directory of the moment.
		ClientAuth: tls.RequireAnyClientCert,
		Time:       o.now,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if _, err := VerifyPeer(dir, cs.PeerCertificates, x509.ExtKeyUsageClientAuth, o.now()); err != nil {
				return fmt.Errorf("mtls: refusing client (resumed=%t): %w", cs.DidResume, err)
			}
			return nil
		},
	}
}

// ClientConfig returns the TLS configuration for connections to the federation
// listener of member expectMember, presenting cert as client certificate. It
// requires TLS 1.3 and refuses the handshake unless [VerifyPeer] with
// x509.ExtKeyUsageServerAuth accepts the server's chain against dir and its
// pinned key belongs to expectMember: a valid certificate of another member is
// refused with [ErrWrongPeer].
//
// InsecureSkipVerify is set only to replace crypto/tls's verification, which
// insists on a host name and reads a fixed RootCAs pool, by VerifyPeer in
// VerifyConnection: the full chain is verified (to dir.RootCAs() at the time
// of the handshake, with the server-auth usage and validity period) and the
// pin must name expectMember. Host names are deliberately not checked; the pin
// identifies the member. VerifyConnection also runs on resumed sessions; the
// configuration has its own session cache, so build a new one when cert
// changes.
func ClientConfig(cert tls.Certificate, dir Directory, expectMember string, opts ...Option) *tls.Config {
	o := buildOptions(opts)
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Always offer the federation certificate, whatever CA names the
		// server hints at (a peer's hint may lag a CA rotation).
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		},
		InsecureSkipVerify: true, // replaced by the full verification below
		VerifyConnection: func(cs tls.ConnectionState) error {
			member, err := VerifyPeer(dir, cs.PeerCertificates, x509.ExtKeyUsageServerAuth, o.now())
			if err != nil {
				return fmt.Errorf("mtls: refusing server %q (resumed=%t): %w", cs.ServerName, cs.DidResume, err)
			}
			if member != expectMember {
				return fmt.Errorf("mtls: refusing server %q: %w: dialled %q, certificate key pinned for %q",
					cs.ServerName, ErrWrongPeer, expectMember, member)
			}
			return nil
		},
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
		Time:               o.now,
	}
}
