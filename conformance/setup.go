package conformance

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/devca"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/mtls"
)

// Tester member ids of the conformance federation (SPEC.md §13.1).
const (
	MemberTester    = "XD-TESTER"
	MemberPeer      = "XD-PEER"
	MemberSuspended = "XD-SUSPENDED"
	// MemberRemote names the tester in relay_via (SPEC.md §14): envelopes
	// for it travel through XD-TESTER, which may therefore relay.
	MemberRemote = "XD-REMOTE"
	// MemberPull is pull_only (SPEC.md §15): it is never dialled, and
	// fetches what is queued for it.
	MemberPull = "XD-PULL"
	// MemberCoord is a coordinator, pull_only, that names XD-TESTER in
	// relay_via (SPEC.md §17): the candidate's statistics reports reach
	// the tester as relay.forward envelopes.
	MemberCoord = "XD-COORD"
)

// Key names of the tester's signing keys (files tester/keys/<name>.jwk).
const (
	keyTester        = "tester-ed25519"
	keyTesterP256    = "tester-p256"
	keyTesterExpired = "tester-expired"
	keyTesterFuture  = "tester-future"
	keyPeer          = "peer-ed25519"
	keySuspended     = "suspended-ed25519"
	keyRemote        = "remote-ed25519"
	keyPull          = "pull-ed25519"
	keyCoord         = "coord-ed25519"
)

// Certificate names of the tester (files tester/tls/<name>.crt and .key).
const (
	certTester       = "tester"        // XD-TESTER, pinned: the listener and the good client
	certPeer         = "peer"          // XD-PEER, pinned
	certSuspended    = "suspended"     // XD-SUSPENDED, pinned (member suspended)
	certUnpinned     = "unpinned"      // conformance CA, key pinned for no one (FLX-ID-001)
	certExpired      = "expired"       // conformance CA, expired, pinned for XD-TESTER (FLX-TLS-003)
	certNoClientAuth = "no-clientauth" // conformance CA, server auth only, pinned for XD-TESTER
	certWrongURI     = "wrong-uri"     // URI SAN urn:flx:member:XD-PEER, key pinned for XD-TESTER (FLX-ID-002)
	certForeignCA    = "foreign-ca"    // another CA, key pinned for XD-TESTER (FLX-TLS-003)
	certSelfSigned   = "self-signed"   // self-signed with a key pinned for XD-TESTER (FLX-TLS-003)
	certRemote       = "remote"        // XD-REMOTE, pinned (reached through XD-TESTER)
	certPull         = "pull"          // XD-PULL, pinned (pull_only)
	certCoord        = "coord"         // XD-COORD, pinned (coordinator, pull_only)
)

// Files of a conformance directory, relative to it.
const (
	SettingsFile     = "tester/settings.json"
	TriggerTokenFile = "tester/trigger-token.txt" // the candidate's caseworker token (0600)
	ManifestFile     = "tester/manifest.jws"
	AnchorFile       = "tester/anchor.jwk" // private (0600)
	AnchorPubFile    = "tester/anchor.pub.jwk"
	ReportKeyPubFile = "tester/keys/" + keyTester + ".pub.jwk" // verifies signed reports
	CandidateDir     = "candidate"
	CandidateDataDir = "candidate/data"
	candidateCert    = "candidate/data/tls/cert.pem"
	candidateKey     = "candidate/data/tls/key.pem"
	candidateSigning = "candidate/data/keys/signing.jwk"
	// candidateSigningPub is the public JWK init --candidate-jwk was given.
	candidateSigningPub = "candidate/data/keys/signing.pub.jwk"
	candidateBundle     = "candidate/data/keys/bundle.jwk" // X25519, for carried bundles (§16)
	pullEncKey          = "tester/keys/pull-enc.jwk"       // XD-PULL's bundle key
	candidateAnchor     = "candidate/data/trust/anchor.jwk"
	candidateManifest   = "candidate/data/trust/manifest.jws"
)

// testerAccepts are the kinds the manifest lists for XD-TESTER: every case
// kind and the matching kinds, and audit.head when it is the candidate's
// witness.
func testerAccepts(witness bool) []federation.Kind {
	out := append(slices.Clone(federation.Kinds), federation.MatchKinds...)
	if witness {
		out = append(out, federation.KindAuditHead)
	}
	return out
}

// CandidateSpec describes the node under test as the manifest lists it.
type CandidateSpec struct {
	ID       string          `json:"id"`
	Country  string          `json:"country"`
	Role     federation.Role `json:"role"`
	Endpoint string          `json:"endpoint"` // https URL of its federation listener
}

// ParseCandidate parses ID:COUNTRY:ROLE:ENDPOINT.
func ParseCandidate(s string) (CandidateSpec, error) {
	p := strings.SplitN(s, ":", 4)
	if len(p) != 4 {
		return CandidateSpec{}, fmt.Errorf("candidate %q: want ID:COUNTRY:ROLE:ENDPOINT, e.g. XA-RC:XA:society:https://127.0.0.1:18443", s)
	}
	c := CandidateSpec{ID: p[0], Country: p[1], Role: federation.Role(p[2]), Endpoint: p[3]}
	if !federation.ValidMemberID(c.ID) {
		return c, fmt.Errorf("candidate id %q: want a member id (2 to 32 capital letters, digits and '-', not beginning with '-'), e.g. XA-RC", c.ID)
	}
	if strings.HasPrefix(c.ID, "XD-") {
		// The tester's own members (XD-TESTER, XD-PEER, ...) take the XD- ids.
		return c, fmt.Errorf("candidate id %q: ids beginning XD- belong to the tester's members (XD-TESTER, XD-PEER, ...); give the candidate another id, e.g. XA-RC (it names the node only in this throwaway federation)", c.ID)
	}
	if len(c.Country) != 2 || strings.ToUpper(c.Country) != c.Country {
		return c, fmt.Errorf("candidate country %q: want two capital letters", c.Country)
	}
	switch c.Role {
	case federation.RoleSociety, federation.RoleDelegation, federation.RoleCoordinator:
	default:
		return c, fmt.Errorf("candidate role %q: want society, delegation or coordinator", c.Role)
	}
	if _, err := endpointHostPort(c.Endpoint); err != nil {
		return c, err
	}
	return c, nil
}

func endpointHostPort(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.Port() == "" || u.Path != "" && u.Path != "/" {
		return "", fmt.Errorf("endpoint %q: want https://HOST:PORT", endpoint)
	}
	return u.Host, nil
}

// Settings is tester/settings.json: what Init chose, read back by Load.
type Settings struct {
	Suite      string        `json:"suite"`
	Spec       string        `json:"spec"`
	Federation string        `json:"federation"`
	Candidate  CandidateSpec `json:"candidate"`
	// CandidateListen is where the candidate's federation listener binds;
	// CandidateLocalAPI where its local API (trigger calls) listens.
	CandidateListen   string `json:"candidate_listen"`
	CandidateLocalAPI string `json:"candidate_local_api"`
	// TesterListen is the address of the XD-TESTER listener (its manifest
	// endpoint); candidates deliver confirmations and outbound envelopes there.
	TesterListen string `json:"tester_listen"`
	// CandidateRequestTimeoutSeconds is how long the candidate, as its
	// operator configured it, lets one delivery attempt run before it
	// abandons it (FLX-DLV-007: at most 120); 0 means 120. The check of
	// FLX-DLV-007 waits that long for a hung attempt to be given up.
	CandidateRequestTimeoutSeconds int `json:"candidate_request_timeout_seconds,omitempty"`
	// CandidatePullIntervalSeconds is how often a pull_only candidate, as
	// its operator configured it, pulls while it has nothing to fetch
	// (FLX-PUL-008: at most 300); 0 means 300. The check of FLX-PUL-008
	// waits that long for the next pull.
	CandidatePullIntervalSeconds int `json:"candidate_pull_interval_seconds,omitempty"`
	// CandidateAuditHeadSeconds is how often the candidate, as its operator
	// configured it, sends its audit head to its witnesses when it changed
	// (FLX-WIT-001); 0: not declared. The check of a changed head waits
	// that long, and is skipped when it is not declared or over 5 minutes.
	CandidateAuditHeadSeconds int `json:"candidate_audit_head_seconds,omitempty"`
}

// PullInterval is a pull_only candidate's pull interval as declared
// (SPEC.md FLX-PUL-008: 5 minutes when not declared).
func (s Settings) PullInterval() time.Duration {
	if s.CandidatePullIntervalSeconds > 0 && s.CandidatePullIntervalSeconds <= 300 {
		return time.Duration(s.CandidatePullIntervalSeconds) * time.Second
	}
	return 300 * time.Second
}

// RequestTimeout is the candidate's delivery request timeout as declared
// (SPEC.md FLX-DLV-007: 120 s when not declared).
func (s Settings) RequestTimeout() time.Duration {
	if s.CandidateRequestTimeoutSeconds > 0 && s.CandidateRequestTimeoutSeconds <= 120 {
		return time.Duration(s.CandidateRequestTimeoutSeconds) * time.Second
	}
	return 120 * time.Second
}

// InitOptions configure Init.
type InitOptions struct {
	Candidate         CandidateSpec
	CandidateLocalAPI string // default 127.0.0.1:18080
	TesterListen      string // default 127.0.0.1:18444
	Federation        string // default "FLX conformance"
	// Accepts are the kinds the manifest lists for the candidate; empty
	// means every case kind (federation.Kinds).
	Accepts []federation.Kind
	// Witness lists audit.head among XD-TESTER's accepts, for a candidate
	// that names XD-TESTER as the witness of its audit heads (FLX-WIT-001).
	Witness bool
	// RequestTimeout is the candidate's delivery request timeout, as its
	// operator configures it (at most 120 s; 0: not declared, 120 s).
	RequestTimeout time.Duration
	// PullOnly lists the candidate as pull_only (SPEC.md §15): it pulls
	// from the tester (FLX-PUL-005).
	PullOnly bool
	// PullInterval is how often a pull_only candidate pulls, as its
	// operator configures it (whole seconds, at most 5 minutes; 0: not
	// declared, 5 minutes).
	PullInterval time.Duration
	// AuditHeadEvery is how often a candidate set up with Witness sends
	// its audit head when it changed, as its operator configures it
	// (whole seconds; 0: not declared).
	AuditHeadEvery time.Duration
	// CandidateJWK, when set, is the public JWK of the candidate's own
	// signing key (init --candidate-jwk), published instead of a key init
	// generates; it must pass ParseCandidateJWK (FLX-KEY-002). No private
	// signing key is written then: the candidate's operator configures the
	// key it holds.
	CandidateJWK []byte
	Now          func() time.Time
}

// ParseAccepts reads the --accepts list of init: case kinds, separated by
// commas; empty means every case kind (nil).
func ParseAccepts(s string) ([]federation.Kind, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []federation.Kind
	for _, f := range strings.Split(s, ",") {
		k := federation.Kind(strings.TrimSpace(f))
		if !slices.Contains(federation.Kinds, k) {
			return nil, fmt.Errorf("conformance init: --accepts: %q is not a case kind (%v)", k, federation.Kinds)
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// InitResult is what the caller needs to finish the candidate's folder
// (config, policy and tokens are node matters, written by node/cmd/flx).
type InitResult struct {
	Settings Settings
	// CandidateDir is the candidate's folder; data/ inside holds its TLS
	// certificate and key, signing key, the anchor and the manifest, at the
	// paths a node configuration names tls/cert.pem, tls/key.pem,
	// keys/signing.jwk, trust/anchor.jwk and trust/manifest.jws.
	CandidateDir string
	// TriggerToken is a fresh bearer token for the candidate's local API,
	// which the candidate must accept with a role that may create, forward
	// and withdraw cases; TriggerTokenSHA256 is its lowercase hex SHA-256.
	TriggerToken       string
	TriggerTokenSHA256 string
}

// Init writes a conformance federation into dir, which must not exist or be
// empty: the trust anchor, the conformance CA, the tester members' keys and
// certificates (the faulty ones the checks need included), the candidate's
// identity and the signed manifest (SPEC.md §13.1).
func Init(dir string, o InitOptions) (*InitResult, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CandidateLocalAPI == "" {
		o.CandidateLocalAPI = "127.0.0.1:18080"
	}
	if o.TesterListen == "" {
		o.TesterListen = "127.0.0.1:18444"
	}
	if o.Federation == "" {
		o.Federation = "FLX conformance"
	}
	if o.Candidate.ID == "" {
		return nil, errors.New("conformance init: no candidate")
	}
	if o.RequestTimeout < 0 || o.RequestTimeout > 120*time.Second || o.RequestTimeout%time.Second != 0 {
		return nil, fmt.Errorf("conformance init: candidate request timeout %s: want whole seconds, at most 120 s (FLX-DLV-007)", o.RequestTimeout)
	}
	if o.AuditHeadEvery < 0 || o.AuditHeadEvery%time.Second != 0 {
		return nil, fmt.Errorf("conformance init: candidate audit head interval %s: want whole seconds (FLX-WIT-001)", o.AuditHeadEvery)
	}
	if o.PullInterval < 0 || o.PullInterval > 300*time.Second || o.PullInterval%time.Second != 0 {
		return nil, fmt.Errorf("conformance init: candidate pull interval %s: want whole seconds, at most 300 s (FLX-PUL-008)", o.PullInterval)
	}
	// The case kinds the candidate accepts (--accepts; all by default),
	// and the coordination kinds every candidate accepts (candidateAccepts).
	accepts := candidateAccepts(o.Candidate.Role)
	if len(o.Accepts) > 0 {
		accepts = append(slices.Clone(o.Accepts), accepts[len(federation.Kinds):]...)
	}
	host, port, err := net.SplitHostPort(o.TesterListen)
	if err != nil {
		return nil, fmt.Errorf("conformance init: tester listen %q: %w", o.TesterListen, err)
	}
	pn, err := strconv.Atoi(port)
	if err != nil || pn < 1 || pn > 65531 {
		return nil, fmt.Errorf("conformance init: tester listen port %q", port)
	}
	candHostPort, err := endpointHostPort(o.Candidate.Endpoint)
	if err != nil {
		return nil, err
	}
	var supplied *jose.PublicKey
	if len(o.CandidateJWK) > 0 {
		if supplied, err = ParseCandidateJWK(o.CandidateJWK); err != nil {
			return nil, fmt.Errorf("conformance init: candidate JWK: %w", err)
		}
		if !supplied.Expires().IsZero() && !supplied.Expires().After(o.Now()) {
			return nil, fmt.Errorf("conformance init: candidate JWK: %w", jwkRefused(JWKBadKey, nil, "it expired at %s", supplied.Expires().Format(time.RFC3339)))
		}
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("conformance init: %s is not empty", dir)
	}
	now := o.Now()
	w := &writer{dir: dir}

	anchor, err := jose.GenerateKey(jose.EdDSA)
	if err != nil {
		return nil, err
	}
	w.privateKey(AnchorFile, anchor)
	w.publicKey(AnchorPubFile, anchor.Public())

	ca, err := devca.New(o.Federation+" CA", 5*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	if err := ca.Save(filepath.Join(dir, "tester", "ca")); err != nil {
		return nil, err
	}
	foreign, err := devca.New("Foreign CA (not in the manifest)", 5*365*24*time.Hour)
	if err != nil {
		return nil, err
	}

	// Signing keys.
	keys := map[string]*jose.PrivateKey{}
	for name, alg := range map[string]jose.Alg{
		keyTester: jose.EdDSA, keyTesterP256: jose.ES256, keyTesterExpired: jose.EdDSA, keyTesterFuture: jose.EdDSA,
		keyPeer: jose.EdDSA, keySuspended: jose.EdDSA, keyRemote: jose.EdDSA, keyPull: jose.EdDSA, keyCoord: jose.EdDSA,
	} {
		k, err := jose.GenerateKey(alg)
		if err != nil {
			return nil, err
		}
		keys[name] = k
		w.privateKey("tester/keys/"+name+".jwk", k)
	}
	w.publicKey(ReportKeyPubFile, keys[keyTester].Public())
	start := now.Add(-time.Hour)
	var candPub *jose.PublicKey
	if len(o.CandidateJWK) > 0 {
		// The key the operator supplied, published as its file says
		// (its nbf, else from an hour ago, as a generated key).
		candPub = supplied
		if candPub.NotBefore().IsZero() {
			candPub = candPub.WithValidity(start, candPub.Expires())
		}
		w.file(candidateSigningPub, append(bytes.TrimSpace(o.CandidateJWK), '\n'), 0o644)
	} else {
		candKey, err := jose.GenerateKey(jose.EdDSA)
		if err != nil {
			return nil, err
		}
		w.privateKey(candidateSigning, candKey)
		candPub = candKey.Public().WithValidity(start, time.Time{})
	}
	// Encryption keys for carried bundles (SPEC.md §16): the candidate's
	// and XD-PULL's, the member bundles travel to and from.
	candEnc, err := jose.GenerateEncKey(jose.X25519)
	if err != nil {
		return nil, err
	}
	pullEnc, err := jose.GenerateEncKey(jose.X25519)
	if err != nil {
		return nil, err
	}
	w.encKey(candidateBundle, candEnc)
	w.encKey(pullEncKey, pullEnc)

	// Certificates.
	hosts := []string{"localhost"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if h, _, err := net.SplitHostPort(candHostPort); err == nil {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			hosts = append(hosts, h)
		}
	}
	if ip := net.ParseIP(host); ip != nil {
		ips = append(ips, ip)
	} else if host != "" {
		hosts = append(hosts, host)
	}
	year := 365 * 24 * time.Hour
	issue := func(c *devca.CA, r devca.Request) *devca.Issued {
		if err != nil {
			return nil
		}
		r.DNSNames, r.IPAddresses = hosts, ips
		if r.Validity == 0 && r.NotAfter.IsZero() {
			r.Validity = year
		}
		var is *devca.Issued
		is, err = c.Issue(r)
		return is
	}
	certs := map[string]*devca.Issued{
		certTester:       issue(ca, devca.Request{MemberID: MemberTester}),
		certPeer:         issue(ca, devca.Request{MemberID: MemberPeer}),
		certSuspended:    issue(ca, devca.Request{MemberID: MemberSuspended}),
		certRemote:       issue(ca, devca.Request{MemberID: MemberRemote}),
		certPull:         issue(ca, devca.Request{MemberID: MemberPull}),
		certCoord:        issue(ca, devca.Request{MemberID: MemberCoord}),
		certUnpinned:     issue(ca, devca.Request{MemberID: MemberTester}),
		certExpired:      issue(ca, devca.Request{MemberID: MemberTester, NotBefore: now.Add(-30 * 24 * time.Hour), NotAfter: now.Add(-10 * 24 * time.Hour)}),
		certNoClientAuth: issue(ca, devca.Request{MemberID: MemberTester, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}),
		certWrongURI:     issue(ca, devca.Request{MemberID: MemberPeer}),
		certForeignCA:    issue(foreign, devca.Request{MemberID: MemberTester}),
	}
	if err != nil {
		return nil, fmt.Errorf("conformance init: certificates: %w", err)
	}
	self, err := selfSigned(MemberTester, hosts, ips, now)
	if err != nil {
		return nil, err
	}
	certs[certSelfSigned] = self
	for name, c := range certs {
		w.file("tester/tls/"+name+".crt", c.CertPEM, 0o644)
		w.file("tester/tls/"+name+".key", c.KeyPEM, 0o600)
	}
	candCert := issue(ca, devca.Request{MemberID: o.Candidate.ID})
	if err != nil {
		return nil, err
	}
	w.file(candidateCert, candCert.CertPEM, 0o644)
	w.file(candidateKey, candCert.KeyPEM, 0o600)

	// The manifest.
	tport := func(n int) string { return "https://" + net.JoinHostPort(host, strconv.Itoa(n)) }
	pub := func(name string, nbf, exp time.Time) *jose.PublicKey {
		return keys[name].Public().WithValidity(nbf, exp)
	}
	pins := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, certs[n].SPKIPin())
		}
		return out
	}
	m := &federation.Manifest{
		Federation: o.Federation, Version: 1, IssuedAt: now.Add(-time.Minute).UTC().Truncate(time.Second),
		ExpiresAt: now.Add(30 * 24 * time.Hour).UTC().Truncate(time.Second),
		TLSCAPEM:  []string{string(ca.CertPEM())},
		Members: []federation.Member{
			{
				ID: o.Candidate.ID, Name: "Candidate " + o.Candidate.ID, Country: o.Candidate.Country, Role: o.Candidate.Role,
				Endpoint: o.Candidate.Endpoint, JWKS: jose.KeySet{candPub},
				TLSSPKISHA256: []string{candCert.SPKIPin()}, Accepts: accepts, Status: federation.StatusActive,
				EncJWKS: jose.EncKeySet{candEnc.Public().WithValidity(start, time.Time{})}, PullOnly: o.PullOnly,
			},
			{
				ID: MemberTester, Name: "Conformance tester", Country: "XD", Role: federation.RoleSociety, Endpoint: tport(pn),
				JWKS: jose.KeySet{
					pub(keyTester, start, time.Time{}), pub(keyTesterP256, start, time.Time{}),
					pub(keyTesterExpired, now.Add(-30*24*time.Hour), now.Add(-10*24*time.Hour)),
					pub(keyTesterFuture, now.Add(30*24*time.Hour), time.Time{}),
				},
				TLSSPKISHA256: pins(certTester, certExpired, certNoClientAuth, certWrongURI, certForeignCA, certSelfSigned),
				Accepts:       testerAccepts(o.Witness), Status: federation.StatusActive,
			},
			{
				ID: MemberPeer, Name: "Conformance peer", Country: "XD", Role: federation.RoleSociety, Endpoint: tport(pn + 1),
				JWKS: jose.KeySet{pub(keyPeer, start, time.Time{})}, TLSSPKISHA256: pins(certPeer),
				Accepts: []federation.Kind{federation.KindCaseResponse, federation.KindMessageDeliver}, Status: federation.StatusActive,
			},
			{
				ID: MemberSuspended, Name: "Conformance suspended member", Country: "XD", Role: federation.RoleSociety, Endpoint: tport(pn + 2),
				JWKS: jose.KeySet{pub(keySuspended, start, time.Time{})}, TLSSPKISHA256: pins(certSuspended),
				Accepts: slices.Clone(federation.Kinds), Status: federation.StatusSuspended,
			},
			{
				ID: MemberRemote, Name: "Conformance member behind the tester", Country: "XD", Role: federation.RoleSociety, Endpoint: tport(pn + 3),
				JWKS: jose.KeySet{pub(keyRemote, start, time.Time{})}, TLSSPKISHA256: pins(certRemote),
				Accepts:  append(slices.Clone(federation.Kinds), federation.KindRelayForward),
				RelayVia: []string{MemberTester}, Status: federation.StatusActive,
			},
			{
				ID: MemberPull, Name: "Conformance pull-only member", Country: "XD", Role: federation.RoleSociety, Endpoint: tport(pn + 4),
				JWKS: jose.KeySet{pub(keyPull, start, time.Time{})}, TLSSPKISHA256: pins(certPull),
				Accepts:  append(slices.Clone(federation.Kinds), federation.KindRelayForward),
				PullOnly: true, Status: federation.StatusActive, EncJWKS: jose.EncKeySet{pullEnc.Public().WithValidity(start, time.Time{})},
			},
			{
				ID: MemberCoord, Name: "Conformance coordinator", Country: "XD", Role: federation.RoleCoordinator,
				JWKS: jose.KeySet{pub(keyCoord, start, time.Time{})}, TLSSPKISHA256: pins(certCoord),
				Accepts:  []federation.Kind{federation.KindStatsReport},
				RelayVia: []string{MemberTester}, PullOnly: true, Status: federation.StatusActive,
			},
		},
	}
	raw, err := federation.SignManifest(m, anchor)
	if err != nil {
		return nil, fmt.Errorf("conformance init: manifest: %w", err)
	}
	w.file(ManifestFile, raw, 0o644)
	w.file(candidateManifest, raw, 0o644)
	w.publicKey(candidateAnchor, anchor.Public())

	tok := make([]byte, 32)
	_, _ = rand.Read(tok)
	token := "flx_conf_" + base64.RawURLEncoding.EncodeToString(tok)
	sum := sha256.Sum256([]byte(token))
	w.file(TriggerTokenFile, []byte(token+"\n"), 0o600)

	candListen := candHostPort
	s := Settings{
		Suite: SuiteVersion, Spec: SpecVersion, Federation: o.Federation, Candidate: o.Candidate,
		CandidateListen: candListen, CandidateLocalAPI: o.CandidateLocalAPI, TesterListen: o.TesterListen,
		CandidateRequestTimeoutSeconds: int(o.RequestTimeout / time.Second),
		CandidatePullIntervalSeconds:   int(o.PullInterval / time.Second),
		CandidateAuditHeadSeconds:      int(o.AuditHeadEvery / time.Second),
	}
	sj, _ := json.MarshalIndent(s, "", "  ")
	w.file(SettingsFile, append(sj, '\n'), 0o644)
	if w.err != nil {
		return nil, fmt.Errorf("conformance init: %w", w.err)
	}
	return &InitResult{
		Settings: s, CandidateDir: filepath.Join(dir, CandidateDir),
		TriggerToken: token, TriggerTokenSHA256: hex.EncodeToString(sum[:]),
	}, nil
}

// selfSigned makes a self-signed leaf for member (client and server auth),
// the kind of certificate FLX-TLS-003 refuses even when its key is pinned.
func selfSigned(member string, hosts []string, ips []net.IP, now time.Time) (*devca.Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	uri, _ := url.Parse(mtls.MemberURI(member))
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: member},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		DNSNames:    hosts, IPAddresses: ips, URIs: []*url.URL{uri},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &devca.Issued{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		Cert:    cert,
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: crypto.Signer(key), Leaf: cert},
	}, nil
}

// writer writes files under dir, keeping the first error.
type writer struct {
	dir string
	err error
}

func (w *writer) path(rel string) string { return filepath.Join(w.dir, filepath.FromSlash(rel)) }

func (w *writer) file(rel string, data []byte, perm os.FileMode) {
	if w.err != nil {
		return
	}
	p := w.path(rel)
	if w.err = os.MkdirAll(filepath.Dir(p), 0o700); w.err != nil {
		return
	}
	w.err = os.WriteFile(p, data, perm)
}

func (w *writer) privateKey(rel string, k *jose.PrivateKey) {
	if w.err != nil {
		return
	}
	p := w.path(rel)
	if w.err = os.MkdirAll(filepath.Dir(p), 0o700); w.err != nil {
		return
	}
	w.err = jose.SavePrivateKey(p, k)
}

func (w *writer) encKey(rel string, k *jose.EncPrivateKey) {
	if w.err != nil {
		return
	}
	p := w.path(rel)
	if w.err = os.MkdirAll(filepath.Dir(p), 0o700); w.err != nil {
		return
	}
	w.err = jose.SaveEncKey(p, k)
}

func (w *writer) publicKey(rel string, k *jose.PublicKey) {
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		w.err = err
		return
	}
	w.file(rel, append(b, '\n'), 0o644)
}

// Identity is the tester's material, loaded from a conformance directory.
type Identity struct {
	Dir      string
	Settings Settings
	Manifest *federation.Manifest
	Keys     map[string]*jose.PrivateKey // by key name
	Certs    map[string]tls.Certificate  // by certificate name
	// PullEnc is XD-PULL's private encryption key for carried bundles.
	PullEnc *jose.EncPrivateKey
	// TriggerToken is the candidate's local API token ("" if absent).
	TriggerToken string
}

// Load reads the tester's identity from a directory made by Init.
func Load(dir string) (*Identity, error) {
	id := &Identity{Dir: dir, Keys: map[string]*jose.PrivateKey{}, Certs: map[string]tls.Certificate{}}
	sj, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(SettingsFile)))
	if err != nil {
		return nil, fmt.Errorf("conformance: %w (run flx conformance init first)", err)
	}
	if err := json.Unmarshal(sj, &id.Settings); err != nil {
		return nil, fmt.Errorf("conformance: %s: %w", SettingsFile, err)
	}
	anchorJWK, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(AnchorPubFile)))
	if err != nil {
		return nil, err
	}
	anchor, err := jose.ParsePublicJWK(anchorJWK)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(ManifestFile)))
	if err != nil {
		return nil, err
	}
	if id.Manifest, err = federation.VerifyManifest(raw, anchor, time.Now(), nil); err != nil {
		return nil, fmt.Errorf("conformance: %s: %w", ManifestFile, err)
	}
	for _, name := range []string{keyTester, keyTesterP256, keyTesterExpired, keyTesterFuture, keyPeer, keySuspended, keyRemote, keyPull, keyCoord} {
		k, err := jose.LoadPrivateKey(filepath.Join(dir, "tester", "keys", name+".jwk"))
		if err != nil {
			return nil, err
		}
		id.Keys[name] = k
	}
	for _, name := range []string{certTester, certPeer, certSuspended, certUnpinned, certExpired, certNoClientAuth, certWrongURI, certForeignCA, certSelfSigned, certRemote, certPull, certCoord} {
		c, err := tls.LoadX509KeyPair(filepath.Join(dir, "tester", "tls", name+".crt"), filepath.Join(dir, "tester", "tls", name+".key"))
		if err != nil {
			return nil, err
		}
		id.Certs[name] = c
	}
	if id.PullEnc, err = jose.LoadEncKey(filepath.Join(dir, filepath.FromSlash(pullEncKey))); err != nil {
		return nil, err
	}
	if tok, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(TriggerTokenFile))); err == nil {
		id.TriggerToken = strings.TrimSpace(string(tok))
	}
	if _, ok := id.Manifest.Member(id.Settings.Candidate.ID); !ok {
		return nil, fmt.Errorf("conformance: candidate %s is not in the manifest", id.Settings.Candidate.ID)
	}
	return id, nil
}

// Candidate returns the candidate's manifest entry.
func (id *Identity) Candidate() *federation.Member {
	m, _ := id.Manifest.Member(id.Settings.Candidate.ID)
	return m
}
