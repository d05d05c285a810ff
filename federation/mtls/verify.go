package mtls

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Reasons a peer is refused. Errors returned by [VerifyPeer] and by the
// VerifyConnection callbacks of [ServerConfig] and [ClientConfig] match one of
// them with errors.Is; the underlying crypto/x509 error, when there is one, is
// wrapped as well (errors.As with x509.CertificateInvalidError tells an expired
// certificate apart, for instance).
var (
	// ErrNoDirectory: no directory, or a directory without federation CA
	// certificates. Nothing is trusted then; the system roots are never used.
	ErrNoDirectory = errors.New("mtls: no federation CA certificates to verify the peer against")
	// ErrNoPeerCertificate: the peer presented no certificate.
	ErrNoPeerCertificate = errors.New("mtls: peer presented no certificate")
	// ErrKeyUsage: the leaf does not carry the extended key usage for its role
	// (client auth on the listener, server auth on outbound connections).
	ErrKeyUsage = errors.New("mtls: peer certificate lacks the required extended key usage")
	// ErrUntrustedCertificate: the chain does not verify against the federation
	// CA (other CA, expired, not yet valid, malformed chain ...).
	ErrUntrustedCertificate = errors.New("mtls: peer certificate does not verify against the federation CA")
	// ErrUnknownPeer: the certificate verifies but its key is not pinned for an
	// active member (never listed, removed, or the member is suspended).
	ErrUnknownPeer = errors.New("mtls: peer key is not pinned for an active federation member")
	// ErrWrongPeer: on an outbound connection, the server is a federation
	// member, but not the one that was dialled.
	ErrWrongPeer = errors.New("mtls: peer is not the expected federation member")
	// ErrMemberMismatch: the certificate names a member (URI SAN
	// urn:flx:member:ID) other than the one its key is pinned for.
	ErrMemberMismatch = errors.New("mtls: peer certificate names a different member than its pinned key")
)

// MemberURIPrefix starts the URI subject alternative name that names a member
// in its certificate: urn:flx:member:XA-RC.
const MemberURIPrefix = "urn:flx:member:"

// MemberURI returns the URI SAN naming memberID, e.g. "urn:flx:member:XA-RC".
func MemberURI(memberID string) string { return MemberURIPrefix + memberID }

// certMemberIDs returns the member ids named by urn:flx:member: URI SANs. URN
// scheme and namespace are compared case-insensitively (RFC 8141), the id
// exactly.
func certMemberIDs(cert *x509.Certificate) []string {
	var ids []string
	for _, u := range cert.URIs {
		if id, ok := memberFromURI(u); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

func memberFromURI(u *url.URL) (string, bool) {
	s := u.String()
	if len(s) < len(MemberURIPrefix) || !strings.EqualFold(s[:len(MemberURIPrefix)], MemberURIPrefix) {
		return "", false
	}
	return s[len(MemberURIPrefix):], true
}

// SPKIPin returns the pin of cert's public key as listed in the federation
// manifest (tls_spki_sha256): the lowercase hex SHA-256 of the DER
// SubjectPublicKeyInfo. The pin survives certificate renewal with the same key.
func SPKIPin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// VerifyPeer runs every check of a handshake on a peer's certificate chain
// (leaf first, as in tls.ConnectionState.PeerCertificates) and returns the
// member the leaf authenticates. usage is x509.ExtKeyUsageClientAuth for a
// client of the federation listener and x509.ExtKeyUsageServerAuth for a peer's
// listener; the leaf must list it explicitly (a leaf without an extended key
// usage extension is refused, although crypto/x509 would accept it for any
// use). If dir implements [Snapshotter], all checks use one snapshot.
func VerifyPeer(dir Directory, certs []*x509.Certificate, usage x509.ExtKeyUsage, now time.Time) (memberID string, err error) {
	dir = snapshot(dir)
	if dir == nil {
		return "", ErrNoDirectory
	}
	roots := dir.RootCAs()
	if roots == nil {
		// A nil pool would make crypto/x509 fall back to the system roots.
		return "", ErrNoDirectory
	}
	if len(certs) == 0 || certs[0] == nil {
		return "", ErrNoPeerCertificate
	}
	leaf := certs[0]
	if !slices.Contains(leaf.ExtKeyUsage, usage) {
		return "", fmt.Errorf("%w: want %s, certificate for %q has %s",
			ErrKeyUsage, usageName(usage), leaf.Subject.CommonName, usageNames(leaf.ExtKeyUsage))
	}
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUntrustedCertificate, err)
	}
	return resolve(dir, leaf, now)
}

// resolve maps a leaf whose chain was verified to its member: validity period,
// pin, and the consistency of a member URI SAN with the pin. It is what
// [Middleware] repeats on every request.
func resolve(dir Directory, leaf *x509.Certificate, now time.Time) (string, error) {
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return "", fmt.Errorf("%w: certificate for %q valid from %s to %s, now %s", ErrUntrustedCertificate,
			leaf.Subject.CommonName, leaf.NotBefore.UTC().Format(time.RFC3339),
			leaf.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	pin := SPKIPin(leaf)
	member, ok := dir.MemberBySPKI(pin)
	if !ok || member == "" {
		return "", fmt.Errorf("%w: certificate for %q, spki sha256 %s", ErrUnknownPeer, leaf.Subject.CommonName, pin)
	}
	for _, named := range certMemberIDs(leaf) {
		if named != member {
			return "", fmt.Errorf("%w: certificate names %q, key pinned for %q", ErrMemberMismatch, named, member)
		}
	}
	return member, nil
}

func usageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageClientAuth:
		return "client auth"
	case x509.ExtKeyUsageServerAuth:
		return "server auth"
	case x509.ExtKeyUsageAny:
		return "any"
	default:
		return fmt.Sprintf("usage %d", int(u))
	}
}

func usageNames(us []x509.ExtKeyUsage) string {
	if len(us) == 0 {
		return "none"
	}
	names := make([]string, len(us))
	for i, u := range us {
		names[i] = usageName(u)
	}
	return strings.Join(names, ", ")
}
