package fedadmin

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/devca"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/policy"
)

// firstLocalAPIPort is where local API ports are allocated from
// (127.0.0.1:8080, :8081, ... one per member on one host).
const firstLocalAPIPort = 8080

// TokenRoles are the local API roles a member gets one bearer token for.
var TokenRoles = []string{"caseworker", "operator", "auditor"}

// memberMaterial is what createMember needs besides the spec.
type memberMaterial struct {
	federation   string
	settings     MemberSettings
	ca           *devca.CA
	anchorPub    *jose.PublicKey
	alg          jose.Alg
	certValidity time.Duration
	now          time.Time
}

// createMember writes members/<ID>/ (everything but the manifest copy, which
// publish writes) and returns the member's manifest entry.
func createMember(dir string, spec MemberSpec, mm memberMaterial) (federation.Member, error) {
	mdir := MemberDir(dir, spec.ID)
	if _, err := os.Lstat(mdir); err == nil {
		return federation.Member{}, fmt.Errorf("member %s: %s already exists", spec.ID, mdir)
	}
	if err := os.MkdirAll(mdir, dirPerm); err != nil {
		return federation.Member{}, err
	}
	fail := func(what string, err error) (federation.Member, error) {
		return federation.Member{}, fmt.Errorf("member %s: %s: %w", spec.ID, what, err)
	}

	key, err := jose.GenerateKey(mm.alg)
	if err != nil {
		return fail("signing key", err)
	}
	if err := savePrivateKey(MemberPath(dir, spec.ID, MemberSigningKeyFile), key); err != nil {
		return fail("signing key", err)
	}

	// The encryption key for carried bundles (SPEC.md §16); its public
	// half is published in enc_jwks.
	enc, err := jose.GenerateEncKey(jose.X25519)
	if err != nil {
		return fail("bundle key", err)
	}
	if err := os.MkdirAll(filepath.Dir(MemberPath(dir, spec.ID, MemberBundleKeyFile)), dirPerm); err != nil {
		return fail("bundle key", err)
	}
	if err := jose.SaveEncKey(MemberPath(dir, spec.ID, MemberBundleKeyFile), enc); err != nil {
		return fail("bundle key", err)
	}

	dns, ips := certNames(spec)
	issued, err := mm.ca.IssueMember(spec.ID, dns, ips, mm.certValidity)
	if err != nil {
		return fail("certificate", err)
	}
	if err := writeNew(MemberPath(dir, spec.ID, MemberKeyFile), issued.KeyPEM, 0o600); err != nil {
		return fail("TLS key", err)
	}
	if err := writeNew(MemberPath(dir, spec.ID, MemberCertFile), issued.CertPEM, 0o644); err != nil {
		return fail("certificate", err)
	}

	anchorJWK, err := publicJWK(mm.anchorPub)
	if err != nil {
		return fail("trust anchor", err)
	}
	if err := writeNew(MemberPath(dir, spec.ID, MemberAnchorFile), anchorJWK, 0o644); err != nil {
		return fail("trust anchor", err)
	}

	rules, err := policyFor(spec.ID, spec.Country)
	if err != nil {
		return fail("policy", err)
	}
	if err := writeNew(MemberPath(dir, spec.ID, MemberPolicyFile), rules, 0o644); err != nil {
		return fail("policy", err)
	}

	tokens, err := newTokens()
	if err != nil {
		return fail("tokens", err)
	}
	var tb strings.Builder
	for _, t := range tokens {
		fmt.Fprintf(&tb, "%s %s %s\n", t.role, t.name, t.token)
	}
	if err := writeNew(MemberPath(dir, spec.ID, MemberTokensFile), []byte(tb.String()), 0o600); err != nil {
		return fail("tokens", err)
	}

	cfg := configFor(mm.federation, spec, mm.settings, tokens)
	if err := checkConfig(cfg, mdir); err != nil {
		return fail("config.yaml", err)
	}
	if err := writeNew(MemberPath(dir, spec.ID, MemberConfigFile), cfg, 0o644); err != nil {
		return fail("config.yaml", err)
	}

	name := spec.Name
	if name == "" {
		name = spec.ID
	}
	return federation.Member{
		ID:            spec.ID,
		Name:          name,
		Country:       spec.Country,
		Role:          spec.Role,
		Endpoint:      spec.Endpoint,
		JWKS:          jose.KeySet{key.Public().WithValidity(mm.now, time.Time{})},
		TLSSPKISHA256: []string{issued.SPKIPin()},
		Accepts:       acceptsFor(spec.Role),
		Status:        federation.StatusActive,
		EncJWKS:       jose.EncKeySet{enc.Public().WithValidity(mm.now, time.Time{})},
	}, nil
}

// acceptsFor is what a new member accepts: every case kind and relay
// envelopes (SPEC.md §14); a coordinator also statistics reports (§17)
// and audit heads to witness (§20).
func acceptsFor(role federation.Role) []federation.Kind {
	k := append(append(slices.Clone(federation.Kinds), federation.MatchKinds...), federation.KindRelayForward)
	if role == federation.RoleCoordinator {
		k = append(k, federation.KindStatsReport, federation.KindAuditHead)
	}
	return k
}

// certNames returns the certificate SANs: the endpoint host, the spec's
// hosts, localhost, 127.0.0.1 and ::1.
func certNames(spec MemberSpec) (dns []string, ips []net.IP) {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if host, _, err := endpointHostPort(spec.Endpoint); err == nil {
		names = append(names, host)
	}
	names = append(names, spec.Hosts...)
	seen := map[string]bool{}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			if !seen[ip.String()] {
				seen[ip.String()] = true
				ips = append(ips, ip)
			}
			continue
		}
		n = strings.ToLower(n)
		if !seen[n] {
			seen[n] = true
			dns = append(dns, n)
		}
	}
	return dns, ips
}

// federationListen is where a member's federation listener binds: loopback
// when its endpoint is on loopback (a demo on one host), every interface
// otherwise, on the endpoint's port.
func federationListen(endpoint string) string {
	host, port, err := endpointHostPort(endpoint)
	if err != nil {
		return ""
	}
	if isLoopback(host) {
		if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
			return net.JoinHostPort("::1", port)
		}
		return net.JoinHostPort("127.0.0.1", port)
	}
	return net.JoinHostPort("0.0.0.0", port)
}

// portAllocator hands out local API ports, skipping those already taken by
// other members' local APIs and loopback federation listeners.
type portAllocator map[int]bool

func (p portAllocator) reserve(addr string) {
	if _, port, err := net.SplitHostPort(addr); err == nil {
		if n, err := strconv.Atoi(port); err == nil {
			p[n] = true
		}
	}
}

func (p portAllocator) reserveEndpoint(endpoint string) {
	if host, port, err := endpointHostPort(endpoint); err == nil && isLoopback(host) {
		p.reserve(net.JoinHostPort(host, port))
	}
}

func (p portAllocator) next() string {
	for n := firstLocalAPIPort; n < 65536; n++ {
		if !p[n] {
			p[n] = true
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(n))
		}
	}
	return ""
}

type bearerToken struct{ role, name, token string }

// newTokens makes one random bearer token per role in TokenRoles.
func newTokens() ([]bearerToken, error) {
	out := make([]bearerToken, 0, len(TokenRoles))
	for _, role := range TokenRoles {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		out = append(out, bearerToken{role: role, name: role + "-1", token: "flx_" + base64.RawURLEncoding.EncodeToString(b)})
	}
	return out, nil
}

func tokenHash(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

// configFor writes the node configuration of a member. Paths are written
// out although they are the defaults, so the file says where everything is.
func configFor(fed string, spec MemberSpec, ms MemberSettings, tokens []bearerToken) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `# FLX node configuration of member %s in federation %q,
# written by "flx federation". Fields not listed keep their defaults (see
# node/config/example.yaml). FLX_* environment variables override any field,
# e.g. FLX_STORE_DSN=postgres://... for production.

member: %s
# Relative paths below resolve against data_dir; data_dir against this file's folder.
data_dir: %s

federation:
  # mTLS listener; peers reach it at the manifest endpoint %s
  listen: %s
  tls_cert: tls/cert.pem
  tls_key: tls/key.pem
  # Private signing key (mode 0600). After "flx federation rotate-key" the
  # previous key is kept next to it as keys/signing.<kid>.jwk until its exp.
  signing_key: keys/signing.jwk
  trust_anchor: trust/anchor.jwk
  manifest: trust/manifest.jws

local_api:
  listen: %s
  # Bearer tokens: the tokens themselves are in tokens.txt (mode 0600), only
  # their SHA-256 is here.
  tokens:
`, spec.ID, fed, spec.ID, MemberDataDir, spec.Endpoint, ms.FederationListen, ms.LocalAPIListen)
	for _, t := range tokens {
		fmt.Fprintf(&b, "    - name: %s\n      role: %s\n      sha256: %s\n", t.name, t.role, tokenHash(t.token))
	}
	fmt.Fprintf(&b, `
policy:
  # The policy.yaml next to this file.
  rules: ../%s
`, MemberPolicyFile)
	return []byte(b.String())
}

// checkConfig parses a written configuration as the node will and verifies it.
func checkConfig(data []byte, memberDir string) error {
	c, err := config.Parse(data)
	if err != nil {
		return err
	}
	c.Resolve(memberDir)
	return c.Verify()
}

var (
	policyMemberLine  = regexp.MustCompile(`(?m)^member:.*$`)
	policyCountryLine = regexp.MustCompile(`(?m)^country:.*$`)
)

// policyFor returns policy's strict default rules file with the member's id
// and country filled in, checked with policy.Parse.
func policyFor(id, country string) ([]byte, error) {
	b := policy.ExampleRules()
	if !policyMemberLine.Match(b) || !policyCountryLine.Match(b) {
		return nil, fmt.Errorf("the default rules have no top-level member or country line")
	}
	b = policyMemberLine.ReplaceAllLiteral(b, []byte("member: "+id))
	b = policyCountryLine.ReplaceAllLiteral(b, []byte("country: "+country))
	r, err := policy.Parse(b, MemberPolicyFile)
	if err != nil {
		return nil, err
	}
	if r.Config.Member != id || r.Config.Country != country {
		return nil, fmt.Errorf("default rules: member %q country %q after filling in %s %s", r.Config.Member, r.Config.Country, id, country)
	}
	header := fmt.Sprintf("# Data-protection rules of %s, written by \"flx federation\" from FLX's strict\n# defaults. Have your data protection officer review them.\n#\n", id)
	return append([]byte(header), b...), nil
}
