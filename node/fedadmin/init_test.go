package fedadmin

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/policy"
)

func TestInitFiles(t *testing.T) {
	dir, _, ch := newFederation(t)
	now := time.Now()

	modes := map[string]os.FileMode{
		AnchorKeyFile:     0o600,
		AnchorPubFile:     0o644,
		CADir + "/ca.key": 0o600,
		CADir + "/ca.crt": 0o644,
		ManifestFile:      0o644,
		SettingsFile:      0o644,
	}
	for rel, want := range modes {
		if got := mode(t, fpath(dir, rel)); got != want {
			t.Errorf("%s: mode %04o, want %04o", rel, got, want)
		}
	}
	anchorKey, err := jose.LoadPrivateKey(fpath(dir, AnchorKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	pub := anchorPub(t, dir)
	if !anchorKey.Public().SameKey(pub) || anchorKey.KID() != pub.KID() {
		t.Error("anchor.pub.jwk is not the public half of anchor.jwk")
	}

	m, _ := readManifest(t, dir, now)
	if m.Version != 1 || m.Federation != "test-federation" {
		t.Errorf("manifest %q version %d, want test-federation version 1", m.Federation, m.Version)
	}
	if got := m.ExpiresAt.Sub(m.IssuedAt); got != DefaultManifestValidity {
		t.Errorf("manifest validity %s, want %s", got, DefaultManifestValidity)
	}
	if ch.Manifest.Version != 1 || len(ch.Distributed) != 3 || len(ch.Missing) != 0 {
		t.Errorf("change %+v", ch)
	}
	checkDistributed(t, dir, m)
	roots := m.RootCAs()

	specs := testSpecs(t)
	listens := map[string]string{}
	for _, spec := range specs {
		t.Run(spec.ID, func(t *testing.T) {
			mdir := MemberDir(dir, spec.ID)
			for rel, want := range map[string]os.FileMode{
				MemberSigningKeyFile: 0o600,
				MemberKeyFile:        0o600,
				MemberTokensFile:     0o600,
				MemberCertFile:       0o644,
				MemberConfigFile:     0o644,
				MemberPolicyFile:     0o644,
				MemberAnchorFile:     0o644,
				MemberManifestFile:   0o644,
			} {
				if got := mode(t, MemberPath(dir, spec.ID, rel)); got != want {
					t.Errorf("%s: mode %04o, want %04o", rel, got, want)
				}
			}

			mb, ok := m.Member(spec.ID)
			if !ok {
				t.Fatal("not in the manifest")
			}
			if mb.Name != spec.ID || mb.Country != spec.Country || mb.Role != spec.Role || mb.Endpoint != spec.Endpoint || mb.Status != federation.StatusActive {
				t.Errorf("member %+v does not match the spec %+v", mb, spec)
			}
			if want := acceptsWanted(mb.Role); !slices.Equal(mb.Accepts, want) {
				t.Errorf("accepts %v, want every kind", mb.Accepts)
			}

			// The signing key file is the key the manifest lists, with nbf.
			sk, err := jose.LoadPrivateKey(MemberPath(dir, spec.ID, MemberSigningKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			if len(mb.JWKS) != 1 || mb.JWKS[0].KID() != sk.KID() || !mb.JWKS[0].SameKey(sk.Public()) {
				t.Fatalf("jwks %v does not hold the signing key %s", mb.JWKS, sk.KID())
			}
			if k := mb.JWKS[0]; k.NotBefore().IsZero() || k.NotBefore().After(now) || !k.Expires().IsZero() || k.Alg() != jose.EdDSA {
				t.Errorf("key nbf %s exp %s alg %s: want nbf <= now, no exp, EdDSA", k.NotBefore(), k.Expires(), k.Alg())
			}

			// The certificate and key load, chain to the manifest CA, carry
			// the pinned key and the host names.
			pair, err := tls.LoadX509KeyPair(MemberPath(dir, spec.ID, MemberCertFile), MemberPath(dir, spec.ID, MemberKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(mb.TLSSPKISHA256, []string{mtls.SPKIPin(leaf)}) {
				t.Errorf("pins %v, want the certificate's %s", mb.TLSSPKISHA256, mtls.SPKIPin(leaf))
			}
			host, _, _ := endpointHostPort(spec.Endpoint)
			for _, name := range append([]string{host, "localhost", "127.0.0.1"}, spec.Hosts...) {
				for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
					if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
						t.Errorf("certificate for %s (usage %v): %v", name, usage, err)
					}
				}
			}
			if leaf.Subject.CommonName != spec.ID {
				t.Errorf("certificate CN %q", leaf.Subject.CommonName)
			}

			// config.yaml parses, resolves to the member's files and verifies.
			raw, err := os.ReadFile(MemberPath(dir, spec.ID, MemberConfigFile))
			if err != nil {
				t.Fatal(err)
			}
			c, err := config.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			c.Resolve(mdir)
			if err := c.Verify(); err != nil {
				t.Fatalf("config does not verify: %v", err)
			}
			if c.Member != spec.ID {
				t.Errorf("config member %q", c.Member)
			}
			for field, pair := range map[string][2]string{
				"tls_cert":     {c.Federation.TLSCert, MemberCertFile},
				"tls_key":      {c.Federation.TLSKey, MemberKeyFile},
				"signing_key":  {c.Federation.SigningKey, MemberSigningKeyFile},
				"trust_anchor": {c.Federation.TrustAnchor, MemberAnchorFile},
				"manifest":     {c.Federation.Manifest, MemberManifestFile},
				"policy.rules": {c.Policy.Rules, MemberPolicyFile},
			} {
				if filepath.Clean(pair[0]) != MemberPath(dir, spec.ID, pair[1]) {
					t.Errorf("config %s resolves to %s, want %s", field, pair[0], MemberPath(dir, spec.ID, pair[1]))
				}
			}
			wantListen := federationListen(spec.Endpoint)
			if c.Federation.Listen != wantListen {
				t.Errorf("federation.listen %q, want %q", c.Federation.Listen, wantListen)
			}
			for _, addr := range []string{c.Federation.Listen, c.LocalAPI.Listen} {
				if other, dup := listens[addr]; dup && !strings.HasPrefix(addr, "0.0.0.0:") {
					t.Errorf("%s listens on %s, as %s does", spec.ID, addr, other)
				}
				listens[addr] = spec.ID
			}
			if !strings.HasPrefix(c.LocalAPI.Listen, "127.0.0.1:") {
				t.Errorf("local_api.listen %q is not on loopback", c.LocalAPI.Listen)
			}

			// tokens.txt holds one token per role; config.yaml only their hashes.
			tokens := readTokens(t, MemberPath(dir, spec.ID, MemberTokensFile))
			if len(tokens) != len(TokenRoles) || len(c.LocalAPI.Tokens) != len(TokenRoles) {
				t.Fatalf("%d tokens in tokens.txt, %d in config; want %d", len(tokens), len(c.LocalAPI.Tokens), len(TokenRoles))
			}
			for i, tok := range tokens {
				sum := sha256.Sum256([]byte(tok[2]))
				ct := c.LocalAPI.Tokens[i]
				if tok[0] != TokenRoles[i] || ct.Role != tok[0] || ct.Name != tok[1] || ct.SHA256 != hex.EncodeToString(sum[:]) {
					t.Errorf("token %d: tokens.txt %s %s, config %+v", i, tok[0], tok[1], ct)
				}
				if strings.Contains(string(raw), tok[2]) {
					t.Errorf("config.yaml holds the plain %s token", tok[0])
				}
			}

			// policy.yaml is the default rules for this member and country.
			r, err := policy.Load(MemberPath(dir, spec.ID, MemberPolicyFile))
			if err != nil {
				t.Fatal(err)
			}
			if r.Config.Member != spec.ID || r.Config.Country != spec.Country {
				t.Errorf("policy member %q country %q", r.Config.Member, r.Config.Country)
			}

			// The pinned anchor is the federation's.
			ma, err := loadPublicKey(MemberPath(dir, spec.ID, MemberAnchorFile))
			if err != nil {
				t.Fatal(err)
			}
			if !ma.SameKey(pub) || ma.KID() != pub.KID() {
				t.Error("data/trust/anchor.jwk is not the federation's anchor")
			}
		})
	}

	// Nothing but the anchor and signing keys, the CA and TLS keys and
	// tokens.txt is private; no public file holds private JWK material.
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		private := strings.Contains(string(b), `"d":`) || strings.Contains(string(b), "PRIVATE KEY")
		if private && mode(t, p) != 0o600 {
			t.Errorf("%s holds private key material with mode %04o", p, mode(t, p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestInitES256(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fed")
	_, ch, err := Init(dir, InitConfig{Name: "es", Members: testSpecs(t)[:1], Alg: jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if k := ch.Manifest.Members[0].JWKS[0]; k.Alg() != jose.ES256 {
		t.Errorf("member key alg %s", k.Alg())
	}
	if anchorPub(t, dir).Alg() != jose.ES256 {
		t.Error("anchor is not ES256")
	}
}

func TestInitRefusesExisting(t *testing.T) {
	dir, _, _ := newFederation(t)
	before, err := os.ReadFile(fpath(dir, AnchorKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg := InitConfig{Name: "again", Members: testSpecs(t)}
	if _, _, err := Init(dir, cfg); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("re-init without force: %v, want a refusal naming --force", err)
	}
	after, _ := os.ReadFile(fpath(dir, AnchorKeyFile))
	if string(before) != string(after) {
		t.Fatal("a refused init changed the anchor key")
	}

	cfg.Force = true
	_, ch, err := Init(dir, cfg)
	if err != nil {
		t.Fatalf("re-init with force: %v", err)
	}
	if ch.Manifest.Federation != "again" || ch.Manifest.Version != 1 {
		t.Errorf("forced init made %q v%d", ch.Manifest.Federation, ch.Manifest.Version)
	}
	after, _ = os.ReadFile(fpath(dir, AnchorKeyFile))
	if string(before) == string(after) {
		t.Error("forced init kept the old anchor key")
	}

	// A non-empty directory that is not a federation is refused even with --force.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Init(other, cfg); err == nil || !strings.Contains(err.Error(), "holds no federation") {
		t.Errorf("forced init over a foreign directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(other, "notes.txt")); err != nil {
		t.Error("forced init removed a foreign file")
	}

	// An empty existing directory is fine.
	if _, _, err := Init(t.TempDir(), InitConfig{Name: "empty", Members: testSpecs(t)[:1]}); err != nil {
		t.Errorf("init into an empty directory: %v", err)
	}
}

func TestBadInputs(t *testing.T) {
	good := "XA-RC:XA:society:https://xa-rc.example:8443"
	specTests := []struct {
		name, spec, want string
	}{
		{"too few parts", "XA-RC:XA:society", "want ID:COUNTRY:ROLE:ENDPOINT"},
		{"lower-case id", "xa-rc:XA:society:https://xa-rc.example:8443", "is not a member id"},
		{"one-character id", "X:XA:society:https://xa-rc.example:8443", "is not a member id"},
		{"country", "XA-RC:Xa:society:https://xa-rc.example:8443", "is not two capital letters"},
		{"three-letter country", "XA-RC:XAA:society:https://xa-rc.example:8443", "is not two capital letters"},
		{"role", "XA-RC:XA:ngo:https://xa-rc.example:8443", "is not society, delegation or coordinator"},
		{"http endpoint", "XA-RC:XA:society:http://xa-rc.example:8443", "is not an https URL"},
		{"endpoint without host", "XA-RC:XA:society:https://:8443", "has no host"},
		{"endpoint with query", "XA-RC:XA:society:https://xa-rc.example:8443/?a=b", "must not carry"},
	}
	for _, tc := range specTests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMemberSpec(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseMemberSpec(%q) = %v, want an error containing %q", tc.spec, err, tc.want)
			}
		})
	}
	if _, err := ParseMemberSpec(good); err != nil {
		t.Fatalf("ParseMemberSpec(%q): %v", good, err)
	}

	hostTests := []struct {
		name  string
		hosts []string
		want  string
	}{
		{"no equals", []string{"XA-RC"}, "want ID=hostname"},
		{"empty host", []string{"XA-RC="}, "want ID=hostname"},
		{"bad id", []string{"xa=host"}, "is not a member id"},
		{"bad host", []string{"XA-RC=bad host"}, "neither a host name nor an IP address"},
	}
	for _, tc := range hostTests {
		t.Run("host "+tc.name, func(t *testing.T) {
			_, err := ParseHosts(tc.hosts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseHosts(%q) = %v, want %q", tc.hosts, err, tc.want)
			}
		})
	}
	hm, err := ParseHosts([]string{"XA-RC=xa-rc, XA-RC=xa-rc.example", "XB-RC=192.0.2.1"})
	if err != nil || !slices.Equal(hm["XA-RC"], []string{"xa-rc", "xa-rc.example"}) || !slices.Equal(hm["XB-RC"], []string{"192.0.2.1"}) {
		t.Errorf("ParseHosts: %v %v", hm, err)
	}
	spec := func(s string) MemberSpec {
		sp, err := ParseMemberSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	if err := AttachHosts([]MemberSpec{spec(good)}, map[string][]string{"XB-RC": {"xb"}}); err == nil || !strings.Contains(err.Error(), "no such --member") {
		t.Errorf("AttachHosts for an unknown member: %v", err)
	}

	initTests := []struct {
		name string
		cfg  InitConfig
		want string
	}{
		{"no name", InitConfig{Members: []MemberSpec{spec(good)}}, "federation name is empty"},
		{"no members", InitConfig{Name: "f"}, "no members"},
		{"duplicate id", InitConfig{Name: "f", Members: []MemberSpec{spec(good), spec("XA-RC:XB:society:https://other.example:8443")}}, "given twice"},
		{"same loopback port", InitConfig{Name: "f", Members: []MemberSpec{spec("XA-RC:XA:society:https://127.0.0.1:8443"), spec("XB-RC:XB:society:https://localhost:8443")}}, "same address"},
		{"bad alg", InitConfig{Name: "f", Members: []MemberSpec{spec(good)}, Alg: "HS256"}, "is not EdDSA or ES256"},
		{"invalid spec", InitConfig{Name: "f", Members: []MemberSpec{{ID: "XA-RC", Country: "XA", Role: "society", Endpoint: "ftp://x"}}}, "is not an https URL"},
		{"short manifest validity", InitConfig{Name: "f", Members: []MemberSpec{spec(good)}, ManifestValidity: time.Minute}, "under an hour"},
	}
	for _, tc := range initTests {
		t.Run("init "+tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "fed")
			_, _, err := Init(dir, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Init = %v, want an error containing %q", err, tc.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a refused init created %s", dir)
			}
		})
	}
}

func TestWriteSummary(t *testing.T) {
	_, a, _ := newFederation(t)
	var b strings.Builder
	if err := WriteSummary(&b, a.Manifest(), false, time.Now()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"federation test-federation, manifest version 1", "XA-RC", "ICRC-CTA", "ACTIVE", a.Manifest().Members[0].JWKS[0].KID(), a.Manifest().Members[0].TLSSPKISHA256[0], "case.withdraw"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "PRIVATE") || strings.Contains(out, `"d"`) {
		t.Error("summary shows private material")
	}
}

// acceptsWanted is every case kind and relay.forward, and stats.report for a
// coordinator.
func acceptsWanted(role federation.Role) []federation.Kind {
	k := append(append(slices.Clone(federation.Kinds), federation.MatchKinds...), federation.KindRelayForward)
	if role == federation.RoleCoordinator {
		k = append(k, federation.KindStatsReport, federation.KindAuditHead)
	}
	return k
}
