package devca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"regexp"
	"time"

	"github.com/familylinks/flx/federation/mtls"
)

// backdate is subtracted from "now" in NotBefore to tolerate clock skew
// between nodes.
const backdate = 5 * time.Minute

var memberIDRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,31}$`)

// CA is a development certificate authority.
type CA struct {
	// Cert is the self-signed CA certificate.
	Cert *x509.Certificate
	// Key is the CA private key (ECDSA P-256 when made by New).
	Key crypto.Signer

	certPEM []byte
}

// Issued is a member certificate with its private key.
type Issued struct {
	CertPEM []byte            // the leaf certificate, PEM "CERTIFICATE"
	KeyPEM  []byte            // the private key, PEM PKCS #8 "PRIVATE KEY"
	Cert    *x509.Certificate // the parsed leaf
	TLS     tls.Certificate   // ready for mtls.ServerConfig / mtls.ClientConfig
}

// SPKIPin returns the pin of the certificate's key, as listed in the manifest.
func (i *Issued) SPKIPin() string { return mtls.SPKIPin(i.Cert) }

// New makes a CA with a fresh ECDSA P-256 key, valid from five minutes ago for
// validity.
func New(commonName string, validity time.Duration) (*CA, error) {
	if commonName == "" {
		return nil, errors.New("devca.New: empty common name")
	}
	if validity <= 0 {
		return nil, fmt.Errorf("devca.New: validity %s is not positive", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devca.New: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, fmt.Errorf("devca.New: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"FLX development CA"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // issues leaves only
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("devca.New: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devca.New: %w", err)
	}
	return &CA{Cert: cert, Key: key, certPEM: encodeCert(der)}, nil
}

// CertPEM returns the CA certificate in PEM, as published in the manifest.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// Pool returns a new pool holding the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Request describes a certificate for [CA.Issue].
type Request struct {
	// MemberID names the member: subject common name and URI SAN
	// urn:flx:member:MemberID. It must match ^[A-Z0-9][A-Z0-9-]{1,31}$.
	MemberID string
	// DNSNames and IPAddresses are the host SANs. When both are empty the
	// certificate is for localhost, 127.0.0.1 and ::1.
	DNSNames    []string
	IPAddresses []net.IP
	// NotBefore defaults to five minutes ago (clock skew). NotAfter defaults
	// to Validity after NotBefore, or after now when NotBefore is defaulted.
	// Either may be in the past (for tests of expired certificates). NotAfter
	// is clamped to the CA's.
	NotBefore time.Time
	NotAfter  time.Time
	Validity  time.Duration
	// ExtKeyUsage defaults (when nil) to client auth and server auth. A
	// non-nil empty slice issues a certificate without the extension (for
	// tests of its refusal).
	ExtKeyUsage []x509.ExtKeyUsage
}

// IssueMember issues a certificate for memberID with a fresh ECDSA P-256 key,
// for both the federation listener and dialling peers (client-auth and
// server-auth usages), valid from five minutes ago for validity. With no
// dnsNames and no ips it is for localhost, 127.0.0.1 and ::1.
func (ca *CA) IssueMember(memberID string, dnsNames []string, ips []net.IP, validity time.Duration) (*Issued, error) {
	if validity <= 0 {
		return nil, fmt.Errorf("devca.IssueMember: validity %s is not positive", validity)
	}
	return ca.Issue(Request{MemberID: memberID, DNSNames: dnsNames, IPAddresses: ips, Validity: validity})
}

// Issue issues a member certificate as described by req, with a fresh ECDSA
// P-256 key.
func (ca *CA) Issue(req Request) (*Issued, error) {
	if !memberIDRE.MatchString(req.MemberID) {
		return nil, fmt.Errorf("devca.Issue: member id %q does not match %s", req.MemberID, memberIDRE)
	}
	uri, err := url.Parse(mtls.MemberURI(req.MemberID))
	if err != nil {
		return nil, fmt.Errorf("devca.Issue: %w", err)
	}
	dnsNames, ips := req.DNSNames, req.IPAddresses
	if len(dnsNames) == 0 && len(ips) == 0 {
		dnsNames = []string{"localhost"}
		ips = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	now := time.Now()
	notBefore, start := req.NotBefore, req.NotBefore
	if notBefore.IsZero() {
		notBefore, start = now.Add(-backdate), now
	}
	notAfter := req.NotAfter
	if notAfter.IsZero() {
		if req.Validity <= 0 {
			return nil, errors.New("devca.Issue: neither NotAfter nor a positive Validity")
		}
		notAfter = start.Add(req.Validity)
	}
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("devca.Issue: NotAfter %s not after NotBefore %s", notAfter, notBefore)
	}
	eku := req.ExtKeyUsage
	if eku == nil {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devca.Issue: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, fmt.Errorf("devca.Issue: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.MemberID},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
		DNSNames:              dnsNames,
		IPAddresses:           ips,
		URIs:                  []*url.URL{uri},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("devca.Issue: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devca.Issue: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, fmt.Errorf("devca.Issue: %w", err)
	}
	return &Issued{
		CertPEM: encodeCert(der),
		KeyPEM:  keyPEM,
		Cert:    cert,
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
	}, nil
}

// serialNumber returns a random positive 128-bit serial number.
func serialNumber() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
