package fedtest

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/devca"
	"github.com/familylinks/flx/federation/jose"
)

// Member is one test member with its secrets.
type Member struct {
	ID      string
	Country string
	Role    federation.Role
	Key     *jose.PrivateKey // signing key
	TLS     tls.Certificate
	Pin     string
	// Endpoint is the member's federation base URL; tests that start a
	// listener set it with SetEndpoint before signing.
	Endpoint string
	Status   federation.Status
	// Accepts defaults to every kind carrying a case document and
	// relay.forward; a coordinator also takes stats.report.
	Accepts []federation.Kind
	// RelayVia and PullOnly are published as the manifest's relay_via and
	// pull_only (SPEC.md §14.1).
	RelayVia []string
	PullOnly bool
	// EncKey is its bundle encryption key, published in enc_jwks.
	EncKey *jose.EncPrivateKey
	extra  []*jose.PublicKey // older keys still published
}

// Federation is a test federation.
type Federation struct {
	Name    string
	Anchor  *jose.PrivateKey
	CA      *devca.CA
	Members map[string]*Member
	order   []string
	mu      sync.Mutex
	version int64
	// Raw is the current signed manifest; Manifest its verified form.
	Raw      []byte
	Manifest *federation.Manifest
	// Validity is how long a manifest signed from now on is valid (default
	// 24 h): a test that moves a node's clock by months extends it.
	Validity time.Duration
}

// Spec describes a member to create: "ID:COUNTRY:ROLE".
type Spec string

// New creates a federation with members given as "ID:COUNTRY:ROLE"
// (role society, delegation or coordinator) and signs version 1.
func New(t testing.TB, members ...Spec) *Federation {
	t.Helper()
	anchor, err := jose.GenerateKey(jose.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := devca.New("FLX test CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := &Federation{Name: "flx-test", Anchor: anchor, CA: ca, Members: map[string]*Member{}}
	for _, s := range members {
		parts := strings.Split(string(s), ":")
		if len(parts) != 3 {
			t.Fatalf("fedtest: bad member spec %q", s)
		}
		f.AddMember(t, parts[0], parts[1], federation.Role(parts[2]))
	}
	f.Sign(t)
	return f
}

// AddMember creates a member (not yet in the manifest until Sign).
func (f *Federation) AddMember(t testing.TB, id, country string, role federation.Role) *Member {
	t.Helper()
	key, err := jose.GenerateKey(jose.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := f.CA.IssueMember(id, []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := jose.GenerateEncKey(jose.X25519)
	if err != nil {
		t.Fatal(err)
	}
	accepts := append(append(slices.Clone(federation.Kinds), federation.MatchKinds...), federation.KindRelayForward)
	if role == federation.RoleCoordinator {
		accepts = append(accepts, federation.KindStatsReport, federation.KindAuditHead)
	}
	m := &Member{
		ID: id, Country: country, Role: role, Key: key, TLS: iss.TLS, Pin: iss.SPKIPin(),
		Endpoint: "https://" + strings.ToLower(id) + ".flx.test:8443",
		Status:   federation.StatusActive, Accepts: accepts, EncKey: enc,
	}
	f.mu.Lock()
	f.Members[id] = m
	f.order = append(f.order, id)
	f.mu.Unlock()
	return m
}

// Member returns a member or fails the test.
func (f *Federation) Member(t testing.TB, id string) *Member {
	t.Helper()
	m, ok := f.Members[id]
	if !ok {
		t.Fatalf("fedtest: no member %s", id)
	}
	return m
}

// RotateKey gives id a new signing key; the old one stays published until oldExp.
func (f *Federation) RotateKey(t testing.TB, id string, oldExp time.Time) {
	t.Helper()
	m := f.Member(t, id)
	key, err := jose.GenerateKey(jose.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	m.extra = append(m.extra, m.Key.Public().WithValidity(time.Time{}, oldExp))
	m.Key = key
}

// Sign issues the next manifest version from the current member list.
func (f *Federation) Sign(t testing.TB) []byte {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	now := time.Now()
	validity := f.Validity
	if validity <= 0 {
		validity = 24 * time.Hour
	}
	m := &federation.Manifest{
		Federation: f.Name,
		Version:    f.version,
		IssuedAt:   now.Add(-time.Minute).Truncate(time.Second),
		ExpiresAt:  now.Add(validity).Truncate(time.Second),
		TLSCAPEM:   []string{string(f.CA.CertPEM())},
	}
	for _, id := range f.order {
		mb := f.Members[id]
		keys := jose.KeySet{mb.Key.Public()}
		keys = append(keys, mb.extra...)
		m.Members = append(m.Members, federation.Member{
			ID: mb.ID, Name: "Test " + mb.ID, Country: mb.Country, Role: mb.Role,
			Endpoint: mb.Endpoint, JWKS: keys, TLSSPKISHA256: []string{mb.Pin},
			Accepts: mb.Accepts, Status: mb.Status, RelayVia: mb.RelayVia, PullOnly: mb.PullOnly,
			EncJWKS: jose.EncKeySet{mb.EncKey.Public()},
		})
	}
	raw, err := federation.SignManifest(m, f.Anchor)
	if err != nil {
		t.Fatalf("fedtest: sign manifest: %v", err)
	}
	vm, err := federation.VerifyManifest(raw, f.Anchor.Public(), now, nil)
	if err != nil {
		t.Fatalf("fedtest: verify manifest: %v", err)
	}
	f.Raw, f.Manifest = raw, vm
	return raw
}

// Envelope signs an envelope from iss to aud with iss's current key.
func (f *Federation) Envelope(t testing.TB, iss, aud string, kind federation.Kind, caseID string, body []byte) []byte {
	t.Helper()
	now := time.Now()
	raw, err := federation.Sign(federation.Claims{
		Issuer: iss, Audience: aud, IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		JTI: federation.NewJTI(), Kind: kind, CaseID: caseID, Body: body,
	}, f.Member(t, iss).Key)
	if err != nil {
		t.Fatalf("fedtest: sign envelope: %v", err)
	}
	return raw
}

// String names the federation in test output.
func (f *Federation) String() string { return fmt.Sprintf("%s v%d", f.Name, f.version) }
