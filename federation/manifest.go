package federation

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

// TypManifest is the JWS "typ" of a federation manifest.
const TypManifest = "flx-manifest+jws"

// DefaultSkew is the clock skew tolerated by default on envelope, receipt and
// key validity times, and always on manifest times.
const DefaultSkew = 60 * time.Second

// Role is a member's role in the federation.
type Role string

// Member roles.
const (
	RoleSociety     Role = "society"
	RoleDelegation  Role = "delegation"
	RoleCoordinator Role = "coordinator"
)

// Status is a member's standing in the federation.
type Status string

// Member statuses. Nothing from a suspended member is accepted.
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
)

var (
	countryRe = regexp.MustCompile(`^[A-Z]{2}$`)
	pinRe     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidMemberID reports whether id has the member id form
// ^[A-Z0-9][A-Z0-9-]{1,31}$.
// (Read by hand rather than by regexp: it is checked several times per
// envelope and receipt.)
func ValidMemberID(id string) bool {
	if len(id) < 2 || len(id) > 32 || !upperDigit(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		if !upperDigit(id[i]) && id[i] != '-' {
			return false
		}
	}
	return true
}

func upperDigit(c byte) bool { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') }

// Manifest is the federation's signed list of members, their keys and TLS
// identities. A Manifest returned by VerifyManifest is read-only: it carries
// lookup indexes built from its content.
type Manifest struct {
	Federation string    `json:"federation"`
	Version    int64     `json:"version"` // strictly increasing across changes
	IssuedAt   time.Time `json:"issued_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	TLSCAPEM   []string  `json:"tls_ca_pem"` // PEM CA certificates member TLS certificates chain to
	Members    []Member  `json:"members"`

	raw []byte
	idx *manifestIndex
}

// Member is one member of the federation.
type Member struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Country string `json:"country"`
	Role    Role   `json:"role"`
	// Endpoint is the https base URL of its federation API. A pull-only
	// member may have none (see PullOnly).
	Endpoint string `json:"endpoint,omitempty"`
	// JWKS holds its signing keys, each with a pinned alg and optional
	// nbf/exp so that rotation can overlap.
	JWKS jose.KeySet `json:"jwks"`
	// TLSSPKISHA256 pins its TLS client/server certificates: lowercase hex
	// SHA-256 of the SubjectPublicKeyInfo DER.
	TLSSPKISHA256 []string `json:"tls_spki_sha256"`
	Accepts       []Kind   `json:"accepts"` // envelope kinds it takes
	Status        Status   `json:"status"`

	// The fields below are optional and omitted when empty, so a manifest
	// that uses none of them encodes as it did before they existed
	// (coordination.go, conformance/SPEC.md §14-§16).

	// RelayVia names, in order of preference, the members through which
	// envelopes for this member travel (relay.forward): a sender that is not
	// itself one of them sends to the first one it can reach instead of
	// dialling this member. Each named member may relay (Manifest.MayRelay).
	RelayVia []string `json:"relay_via,omitempty"`
	// PullOnly: the member accepts no inbound connections (behind NAT, on a
	// satellite link). Nobody dials it; envelopes for it wait at their
	// sender, or at its relays when RelayVia is set, and it fetches them
	// with GET /flx/v1/pull (federation/pull).
	PullOnly bool `json:"pull_only,omitempty"`
	// EncJWKS holds its encryption keys (ECDH-ES+A256KW on X25519 or
	// P-256, "use":"enc"): what carried bundles for it are encrypted to
	// (federation/bundle).
	EncJWKS jose.EncKeySet `json:"enc_jwks,omitempty"`
}

// AcceptsKind reports whether k is among the kinds the member accepts.
func (mb *Member) AcceptsKind(k Kind) bool {
	for _, a := range mb.Accepts {
		if a == k {
			return true
		}
	}
	return false
}

// KeysAt returns the member's keys valid at t (nbf <= t < exp, no skew).
func (mb *Member) KeysAt(t time.Time) []*jose.PublicKey {
	var out []*jose.PublicKey
	for _, k := range mb.JWKS {
		if k != nil && k.ValidAt(t, 0) {
			out = append(out, k)
		}
	}
	return out
}

type keyRef struct {
	member int
	key    *jose.PublicKey
}

type manifestIndex struct {
	members map[string]int
	pins    map[string]int
	kids    map[string]keyRef
	roots   *x509.CertPool
}

// index returns the cached index of a verified manifest, or builds one for a
// manifest assembled in code (without caching it, so that such a manifest
// stays safe to read concurrently and to edit).
func (m *Manifest) index() *manifestIndex {
	if m.idx != nil {
		return m.idx
	}
	return buildIndex(m)
}

func buildIndex(m *Manifest) *manifestIndex {
	ix := &manifestIndex{
		members: make(map[string]int, len(m.Members)),
		pins:    make(map[string]int),
		kids:    make(map[string]keyRef),
		roots:   x509.NewCertPool(),
	}
	for i := range m.Members {
		mb := &m.Members[i]
		if _, dup := ix.members[mb.ID]; !dup {
			ix.members[mb.ID] = i
		}
		for _, p := range mb.TLSSPKISHA256 {
			if _, dup := ix.pins[p]; !dup {
				ix.pins[p] = i
			}
		}
		for _, k := range mb.JWKS {
			if k == nil {
				continue
			}
			if _, dup := ix.kids[k.KID()]; !dup {
				ix.kids[k.KID()] = keyRef{member: i, key: k}
			}
		}
	}
	for _, p := range m.TLSCAPEM {
		if certs, err := parseCAs(p); err == nil {
			for _, c := range certs {
				ix.roots.AddCert(c)
			}
		}
	}
	return ix
}

// Member returns the member with the given id.
func (m *Manifest) Member(id string) (*Member, bool) {
	i, ok := m.index().members[id]
	if !ok {
		return nil, false
	}
	return &m.Members[i], true
}

// MemberBySPKI returns the member one of whose TLS pins is pin (lowercase
// hex SHA-256 of a certificate's SubjectPublicKeyInfo, as mtls.SPKIPin).
func (m *Manifest) MemberBySPKI(pin string) (*Member, bool) {
	i, ok := m.index().pins[pin]
	if !ok {
		return nil, false
	}
	return &m.Members[i], true
}

// KeyByKID returns a signing key and the member it belongs to. kids are
// unique across a valid manifest.
func (m *Manifest) KeyByKID(kid string) (*Member, *jose.PublicKey, bool) {
	r, ok := m.index().kids[kid]
	if !ok {
		return nil, nil, false
	}
	return &m.Members[r.member], r.key, true
}

// KeysAt returns the keys of member id valid at t (nbf <= t < exp).
// During a rotation both the old and the new key may be returned.
func (m *Manifest) KeysAt(id string, t time.Time) []*jose.PublicKey {
	mb, ok := m.Member(id)
	if !ok {
		return nil
	}
	return mb.KeysAt(t)
}

// ExpiredAt reports whether the manifest has expired at now, allowing skew
// (0 or less means DefaultSkew): expires_at is at or before now - skew
// (FLX-MAN-003, FLX-MAN-006). A node holding an expired manifest, with no
// newer one adopted, refuses every envelope with unavailable (503) and sends
// nothing; Verifier.Verify and VerifyReceipt refuse with CodeUnavailable.
func (m *Manifest) ExpiredAt(now time.Time, skew time.Duration) bool {
	if skew <= 0 {
		skew = DefaultSkew
	}
	return !now.Add(-skew).Before(m.ExpiresAt)
}

// RootCAs returns a new pool holding the manifest's TLS CA certificates.
func (m *Manifest) RootCAs() *x509.CertPool { return m.index().roots.Clone() }

// Raw returns the signed JWS the manifest was verified from (nil for a
// manifest built in code). Store these bytes to reload the manifest later.
func (m *Manifest) Raw() []byte { return m.raw }

func parseCAs(p string) ([]*x509.Certificate, error) {
	rest := []byte(p)
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q is not a CERTIFICATE", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		if !c.IsCA || !c.BasicConstraintsValid {
			return nil, fmt.Errorf("certificate %q is not a CA", c.Subject)
		}
		out = append(out, c)
	}
	if len(out) == 0 || len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("not a sequence of PEM CERTIFICATE blocks")
	}
	return out, nil
}

// Validate checks the manifest's content and reports every problem at once
// as one bad_manifest error: ids of the member-id form and unique, kids
// unique across members, pins unique across members, roles, statuses,
// accepted kinds, https endpoints, CA certificates, times.
func (m *Manifest) Validate() error {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	if strings.TrimSpace(m.Federation) == "" {
		add("federation name is empty")
	}
	if m.Version < 1 {
		add("version %d: must be >= 1", m.Version)
	}
	if m.IssuedAt.IsZero() || m.ExpiresAt.IsZero() {
		add("issued_at and expires_at are required")
	} else if !m.ExpiresAt.After(m.IssuedAt) {
		add("expires_at %s is not after issued_at %s", m.ExpiresAt.Format(time.RFC3339), m.IssuedAt.Format(time.RFC3339))
	}
	if len(m.TLSCAPEM) == 0 {
		add("tls_ca_pem: at least one CA certificate is required")
	}
	for i, p := range m.TLSCAPEM {
		if _, err := parseCAs(p); err != nil {
			add("tls_ca_pem[%d]: %v", i, err)
		}
	}
	if len(m.Members) == 0 {
		add("members: none")
	}
	ids := map[string]bool{}
	kids := map[string]string{}
	pins := map[string]string{}
	for i := range m.Members {
		mb := &m.Members[i]
		where := fmt.Sprintf("members[%d] (%s)", i, mb.ID)
		if !ValidMemberID(mb.ID) {
			add("%s: id %q is not of the form ^[A-Z0-9][A-Z0-9-]{1,31}$", where, mb.ID)
		} else if ids[mb.ID] {
			add("%s: duplicate member id", where)
		}
		ids[mb.ID] = true
		if strings.TrimSpace(mb.Name) == "" {
			add("%s: name is empty", where)
		}
		if !countryRe.MatchString(mb.Country) {
			add("%s: country %q is not two capital letters", where, mb.Country)
		}
		switch mb.Role {
		case RoleSociety, RoleDelegation, RoleCoordinator:
		default:
			add("%s: role %q is not society, delegation or coordinator", where, mb.Role)
		}
		switch mb.Status {
		case StatusActive, StatusSuspended:
		default:
			add("%s: status %q is not active or suspended", where, mb.Status)
		}
		if mb.Endpoint != "" || !mb.PullOnly {
			if err := checkEndpoint(mb.Endpoint); err != nil {
				add("%s: endpoint: %v", where, err)
			}
		}
		if len(mb.JWKS) == 0 && mb.Status == StatusActive {
			add("%s: an active member needs at least one signing key", where)
		}
		for j, k := range mb.JWKS {
			switch {
			case k == nil || !k.Alg().Supported():
				add("%s: jwks[%d]: not an EdDSA or ES256 key", where, j)
			case k.KID() == "":
				add("%s: jwks[%d]: empty kid", where, j)
			case kids[k.KID()] != "":
				add("%s: kid %q already used by %s", where, k.KID(), kids[k.KID()])
			default:
				kids[k.KID()] = mb.ID
			}
		}
		if len(mb.TLSSPKISHA256) == 0 && mb.Status == StatusActive {
			add("%s: an active member needs at least one TLS SPKI pin", where)
		}
		for _, p := range mb.TLSSPKISHA256 {
			switch {
			case !pinRe.MatchString(p):
				add("%s: TLS pin %q is not 64 lowercase hex digits", where, p)
			case pins[p] != "":
				add("%s: TLS pin %s already used by %s", where, p, pins[p])
			default:
				pins[p] = mb.ID
			}
		}
		for _, k := range mb.Accepts {
			if !k.Known() {
				add("%s: accepts unknown kind %q", where, k)
			}
		}
		for j, k := range mb.EncJWKS {
			switch {
			case k == nil || !k.Curve().Supported():
				add("%s: enc_jwks[%d]: not an X25519 or P-256 encryption key", where, j)
			case k.KID() == "":
				add("%s: enc_jwks[%d]: empty kid", where, j)
			case kids[k.KID()] != "":
				add("%s: kid %q already used by %s", where, k.KID(), kids[k.KID()])
			default:
				kids[k.KID()] = mb.ID
			}
		}
	}
	probs = append(probs, validateRoutes(m)...)
	if len(probs) == 0 {
		return nil
	}
	return newErr(CodeBadManifest, "invalid manifest: "+strings.Join(probs, "; "), nil)
}

func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Scheme != "https":
		return fmt.Errorf("%q is not an https URL", s)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%q has no host", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return fmt.Errorf("%q must not carry user info, query or fragment", s)
	}
	return nil
}

// SignManifest validates m and signs it with the trust anchor's key as a
// compact JWS with typ flx-manifest+jws.
func SignManifest(m *Manifest, anchor *jose.PrivateKey) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("federation: encode manifest: %w", err)
	}
	return jose.Sign(payload, TypManifest, anchor)
}

// VerifyManifest checks a signed manifest against the pinned trust anchor
// key and returns it, indexed and read-only. It refuses:
//
//   - bad_manifest: anything but a canonical compact JWS with typ
//     flx-manifest+jws, alg EdDSA/ES256 and only alg/kid/typ in its header;
//     a kid or signature not of the anchor key; content that does not decode
//     strictly (unknown members; a member name spelt in other case, at any
//     depth; a member name twice in one object, at any depth, JWKs
//     included; a JWK without an explicit kid, FLX-KEY-002; a JWKS with
//     members other than "keys") or fails Validate; a held manifest of
//     another federation;
//   - manifest_not_yet_valid: issued_at later than now + DefaultSkew;
//   - manifest_expired: expires_at at or before now - DefaultSkew
//     (VerifyManifestSkew takes the node's SKEW instead);
//   - manifest_rollback: a version lower than held's, or held's version with
//     other content (the same version with the same content is accepted).
//
// held may be nil (first load).
func VerifyManifest(raw []byte, anchorPub *jose.PublicKey, now time.Time, held *Manifest) (*Manifest, error) {
	return VerifyManifestSkew(raw, anchorPub, now, held, DefaultSkew)
}

// VerifyManifestSkew is VerifyManifest with the clock tolerance a node
// advertises (SPEC.md SKEW; 0 or less means DefaultSkew) for issued_at and
// expires_at (FLX-MAN-003).
func VerifyManifestSkew(raw []byte, anchorPub *jose.PublicKey, now time.Time, held *Manifest, skew time.Duration) (*Manifest, error) {
	if skew <= 0 {
		skew = DefaultSkew
	}
	if anchorPub == nil {
		return nil, errors.New("federation: no trust anchor key configured")
	}
	tok, err := jose.Parse(raw, TypManifest)
	if err != nil {
		return nil, newErr(CodeBadManifest, "manifest is not a valid FLX JWS", err)
	}
	payload, err := tok.Verify(anchorPub)
	if err != nil {
		return nil, newErr(CodeBadManifest, "manifest is not signed by the trust anchor", err)
	}
	m := new(Manifest)
	if err := decodeStrict(payload, manifestShape, m); err != nil {
		return nil, newErr(CodeBadManifest, "manifest content does not decode", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if m.IssuedAt.After(now.Add(skew)) {
		return nil, newErr(CodeManifestNotYetValid, fmt.Sprintf("manifest issued at %s, in the future", m.IssuedAt.Format(time.RFC3339)), nil)
	}
	if m.ExpiredAt(now, skew) {
		return nil, newErr(CodeManifestExpired, fmt.Sprintf("manifest expired at %s", m.ExpiresAt.Format(time.RFC3339)), nil)
	}
	if held != nil {
		if m.Federation != held.Federation {
			return nil, newErr(CodeBadManifest, fmt.Sprintf("manifest is for federation %q, not %q", m.Federation, held.Federation), nil)
		}
		if m.Version < held.Version {
			return nil, newErr(CodeManifestRollback, fmt.Sprintf("manifest version %d is lower than held version %d", m.Version, held.Version), nil)
		}
		if m.Version == held.Version {
			a, errA := json.Marshal(m)
			b, errB := json.Marshal(held)
			if errA != nil || errB != nil || !bytes.Equal(a, b) {
				return nil, newErr(CodeManifestRollback, fmt.Sprintf("manifest version %d differs from the held manifest of the same version", m.Version), nil)
			}
		}
	}
	m.raw = append([]byte(nil), raw...)
	m.idx = buildIndex(m)
	return m, nil
}

// ManifestSource gives the manifest currently trusted.
type ManifestSource interface {
	Current() *Manifest
}

type staticManifest struct{ m *Manifest }

func (s staticManifest) Current() *Manifest { return s.m }

// StaticManifest is a ManifestSource that always returns m.
func StaticManifest(m *Manifest) ManifestSource { return staticManifest{m} }

// ManifestHolder keeps the current manifest and replaces it only with one
// that VerifyManifest accepts against it. It is safe for concurrent use.
type ManifestHolder struct {
	anchor *jose.PublicKey
	skew   time.Duration // 0: DefaultSkew
	mu     sync.Mutex    // serialises Update
	cur    atomic.Pointer[Manifest]
}

// NewManifestHolder returns a holder for manifests signed by anchor, holding
// initial (which may be nil; it should come from VerifyManifest).
func NewManifestHolder(anchor *jose.PublicKey, initial *Manifest) *ManifestHolder {
	h := &ManifestHolder{anchor: anchor}
	if initial != nil {
		h.cur.Store(initial)
	}
	return h
}

// WithSkew sets the clock tolerance Update applies (the node's SKEW) and
// returns h; call it before the first Update.
func (h *ManifestHolder) WithSkew(skew time.Duration) *ManifestHolder {
	h.skew = skew
	return h
}

// Current returns the held manifest (nil before the first Update).
func (h *ManifestHolder) Current() *Manifest { return h.cur.Load() }

// Update verifies raw against the anchor and the held manifest and, when it
// is accepted, holds it. It returns the manifest now held.
func (h *ManifestHolder) Update(raw []byte, now time.Time) (*Manifest, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m, err := VerifyManifestSkew(raw, h.anchor, now, h.cur.Load(), h.skew)
	if err != nil {
		return nil, err
	}
	if held := h.cur.Load(); held != nil && held.Version == m.Version {
		return held, nil
	}
	h.cur.Store(m)
	return m, nil
}

// TLSDirectory answers the two questions the TLS layer asks of the manifest
// (it satisfies federation/mtls.Directory without this package importing
// it): which CAs to trust, and which active member a pinned key belongs to.
type TLSDirectory struct{ m *Manifest }

// TLSDirectory returns m's answers for the TLS layer. Pass a verified
// manifest: its CA pool is built once and shared.
func (m *Manifest) TLSDirectory() TLSDirectory { return TLSDirectory{m} }

// RootCAs returns the manifest's CA pool, shared: callers must not modify it.
func (d TLSDirectory) RootCAs() *x509.CertPool { return d.m.index().roots }

// MemberBySPKI returns the id of the ACTIVE member pinning pin; a suspended
// member's pins authenticate no one.
func (d TLSDirectory) MemberBySPKI(pin string) (string, bool) {
	mb, ok := d.m.MemberBySPKI(pin)
	if !ok || mb.Status != StatusActive {
		return "", false
	}
	return mb.ID, true
}
