package federation

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

// cloneSpec deep-copies the fixture's manifest through JSON, so tests can
// edit it freely.
func cloneSpec(t testing.TB, m *Manifest) *Manifest {
	t.Helper()
	var c Manifest
	if err := json.Unmarshal(wireJSON(t, m), &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func TestManifestLookups(t *testing.T) {
	f := newFixture(t)
	m := f.manifest
	if string(m.Raw()) != string(f.raw) {
		t.Fatal("Raw is not the verified JWS")
	}
	xa, ok := m.Member("XA-RC")
	if !ok || xa.Country != "XA" || xa.Role != RoleSociety || !xa.AcceptsKind(KindCaseCreate) || xa.AcceptsKind("case.delete") {
		t.Fatalf("Member(XA-RC) = %+v, %v", xa, ok)
	}
	if _, ok := m.Member("XZ-RC"); ok {
		t.Fatal("unknown member found")
	}
	for _, mb := range m.Members {
		got, ok := m.MemberBySPKI(mb.TLSSPKISHA256[0])
		if !ok || got.ID != mb.ID {
			t.Fatalf("MemberBySPKI(%s) = %v, %v", mb.ID, got, ok)
		}
		for _, k := range mb.JWKS {
			owner, key, ok := m.KeyByKID(k.KID())
			if !ok || owner.ID != mb.ID || !key.SameKey(k) {
				t.Fatalf("KeyByKID(%s)", k.KID())
			}
		}
	}
	if _, ok := m.MemberBySPKI(strings.Repeat("0", 64)); ok {
		t.Fatal("unknown pin found")
	}

	// Rotation windows: old key until t0+1h, new key from t0+30m.
	old, next := f.keys["XA-RC"].KID(), f.xaNew.KID()
	kids := func(at time.Time) string {
		var s []string
		for _, k := range m.KeysAt("XA-RC", at) {
			s = append(s, k.KID())
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{t0, old},
		{t0.Add(45 * time.Minute), old + "," + next},
		{t0.Add(2 * time.Hour), next},
	} {
		if got := kids(tc.at); got != tc.want {
			t.Errorf("KeysAt(%v) = %s, want %s", tc.at, got, tc.want)
		}
	}
	if m.KeysAt("XZ-RC", t0) != nil {
		t.Error("keys for an unknown member")
	}

	// RootCAs verifies a member certificate issued by the manifest CA.
	leafKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "XA-RC"},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	leaf := must(x509.ParseCertificate(must(x509.CreateCertificate(rand.Reader, tmpl, f.ca, leafKey.Public(), f.caKey))))
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: m.RootCAs(), CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("leaf does not chain to RootCAs: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: x509.NewCertPool(), CurrentTime: t0}); err == nil {
		t.Fatal("sanity: leaf verified against an empty pool")
	}

	// A manifest built in code answers lookups too (without caching).
	if mb, ok := f.spec.Member("XB-RC"); !ok || mb.ID != "XB-RC" {
		t.Fatal("lookup on an unverified manifest")
	}
}

func TestManifestValidate(t *testing.T) {
	f := newFixture(t)
	_, _, caPEM := newCA(t)
	leafPEM := func() string {
		k := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "leaf"}, NotBefore: t0, NotAfter: t0.Add(time.Hour)}
		der := must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k))
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}()
	cases := map[string]func(m *Manifest){
		"empty federation":          func(m *Manifest) { m.Federation = " " },
		"version 0":                 func(m *Manifest) { m.Version = 0 },
		"expires before issued":     func(m *Manifest) { m.ExpiresAt = m.IssuedAt.Add(-time.Second) },
		"no issued_at":              func(m *Manifest) { m.IssuedAt = time.Time{} },
		"no CA":                     func(m *Manifest) { m.TLSCAPEM = nil },
		"CA not PEM":                func(m *Manifest) { m.TLSCAPEM = []string{"hello"} },
		"CA is a leaf":              func(m *Manifest) { m.TLSCAPEM = []string{leafPEM} },
		"CA with trailing junk":     func(m *Manifest) { m.TLSCAPEM = []string{caPEM + "junk"} },
		"no members":                func(m *Manifest) { m.Members = nil },
		"lowercase id":              func(m *Manifest) { m.Members[0].ID = "xa-rc" },
		"one-char id":               func(m *Manifest) { m.Members[0].ID = "X" },
		"id too long":               func(m *Manifest) { m.Members[0].ID = "X" + strings.Repeat("A", 32) },
		"id with leading dash":      func(m *Manifest) { m.Members[0].ID = "-XA" },
		"duplicate id":              func(m *Manifest) { m.Members[1].ID = m.Members[0].ID },
		"duplicate kid across":      func(m *Manifest) { m.Members[1].JWKS = append(m.Members[1].JWKS, m.Members[0].JWKS[0]) },
		"same kid other key":        func(m *Manifest) { m.Members[1].JWKS[0] = m.Members[1].JWKS[0].WithKID(m.Members[0].JWKS[0].KID()) },
		"duplicate pin across":      func(m *Manifest) { m.Members[1].TLSSPKISHA256 = m.Members[0].TLSSPKISHA256 },
		"uppercase pin":             func(m *Manifest) { m.Members[0].TLSSPKISHA256[0] = strings.ToUpper(m.Members[0].TLSSPKISHA256[0]) },
		"short pin":                 func(m *Manifest) { m.Members[0].TLSSPKISHA256[0] = "abcd" },
		"active without pins":       func(m *Manifest) { m.Members[0].TLSSPKISHA256 = nil },
		"active without keys":       func(m *Manifest) { m.Members[0].JWKS = nil },
		"nil key":                   func(m *Manifest) { m.Members[0].JWKS = jose.KeySet{nil} },
		"bad role":                  func(m *Manifest) { m.Members[0].Role = "observer" },
		"bad status":                func(m *Manifest) { m.Members[0].Status = "revoked" },
		"bad country":               func(m *Manifest) { m.Members[0].Country = "xa" },
		"empty name":                func(m *Manifest) { m.Members[0].Name = "" },
		"http endpoint":             func(m *Manifest) { m.Members[0].Endpoint = "http://xa-rc.flx.test" },
		"endpoint with credentials": func(m *Manifest) { m.Members[0].Endpoint = "https://u:p@xa-rc.flx.test" },
		"endpoint with query":       func(m *Manifest) { m.Members[0].Endpoint = "https://xa-rc.flx.test/?a=b" },
		"endpoint without host":     func(m *Manifest) { m.Members[0].Endpoint = "https:///path" },
		"unknown accepted kind":     func(m *Manifest) { m.Members[0].Accepts = []Kind{"case.delete"} },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			m := cloneSpec(t, f.spec)
			edit(m)
			err := m.Validate()
			wantCode(t, err, CodeBadManifest)
			if _, err := SignManifest(m, f.anchor); !errors.Is(err, ErrBadManifest) {
				t.Fatalf("SignManifest signed an invalid manifest: %v", err)
			}
		})
	}
	t.Run("every problem reported at once", func(t *testing.T) {
		m := cloneSpec(t, f.spec)
		m.Version = 0
		m.Members[0].Role = "observer"
		m.Members[2].Endpoint = "ftp://x"
		var e *Error
		if err := m.Validate(); !errors.As(err, &e) || strings.Count(e.Msg, ";") != 2 {
			t.Fatalf("want three problems, got %v", err)
		}
	})
	t.Run("suspended member may have no keys or pins", func(t *testing.T) {
		m := cloneSpec(t, f.spec)
		m.Members[2].JWKS, m.Members[2].TLSSPKISHA256 = nil, nil
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestVerifyManifestAttacks(t *testing.T) {
	f := newFixture(t)
	anchor := f.anchor.Public()
	notAnchor := newKey(t, jose.EdDSA)
	anchorEC := newKey(t, jose.ES256)
	payload := wireJSON(t, f.spec)
	p := strings.Split(string(f.raw), ".")
	hdr := func(alg, kid, extra string) string {
		return `{"alg":"` + alg + `","kid":"` + kid + `","typ":"` + TypManifest + `"` + extra + `}`
	}
	signed := func(edit func(m *Manifest), k *jose.PrivateKey) []byte {
		m := cloneSpec(t, f.spec)
		if edit != nil {
			edit(m)
		}
		raw, err := SignManifest(m, k)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	held := f.manifest // version 5

	cases := []struct {
		name   string
		raw    []byte
		anchor *jose.PublicKey
		now    time.Time
		held   *Manifest
		want   Code
	}{
		{name: "valid, first load", raw: f.raw, want: ""},
		{name: "valid ES256 anchor", raw: signed(nil, anchorEC), anchor: anchorEC.Public(), want: ""},
		{name: "signed by a non-anchor key", raw: signed(nil, notAnchor), want: CodeBadManifest},
		{name: "non-anchor key under the anchor's kid", raw: signed(nil, notAnchor.WithKID(f.anchor.KID())), want: CodeBadManifest},
		{name: "alg none", raw: forge(hdr("none", f.anchor.KID(), ""), payload, nil), want: CodeBadManifest},
		{name: "HS256 keyed with the anchor public key", raw: forge(hdr("HS256", f.anchor.KID(), ""), payload, hmacSigner([]byte(anchor.CryptoPublicKey().(ed25519.PublicKey)))), want: CodeBadManifest},
		{name: "header jwk of attacker key", raw: forge(hdr("EdDSA", notAnchor.KID(), `,"jwk":`+string(wireJSON(t, notAnchor.Public()))), payload, edSigner(t, notAnchor)), want: CodeBadManifest},
		{name: "header jku", raw: forge(hdr("EdDSA", f.anchor.KID(), `,"jku":"https://attacker.example/"`), payload, edSigner(t, f.anchor)), want: CodeBadManifest},
		{name: "envelope typ", raw: must(jose.Sign(payload, TypEnvelope, f.anchor)), want: CodeBadManifest},
		{name: "tampered payload", raw: []byte(p[0] + "." + b64url.EncodeToString(wireJSON(t, func() *Manifest {
			m := cloneSpec(t, f.spec)
			m.Members[2].Status = StatusActive
			return m
		}())) + "." + p[2]), want: CodeBadManifest},
		{name: "unknown top-level field", raw: must(jose.Sign([]byte(strings.Replace(string(payload), `{`, `{"extra":1,`, 1)), TypManifest, f.anchor)), want: CodeBadManifest},
		{name: "invalid content, validly signed", raw: must(jose.Sign([]byte(strings.Replace(string(payload), `"role":"society"`, `"role":"observer"`, 1)), TypManifest, f.anchor)), want: CodeBadManifest},
		{name: "private key in a member JWK", raw: must(jose.Sign([]byte(strings.Replace(string(payload), `"use":"sig"`, `"use":"sig","d":"AAAA"`, 1)), TypManifest, f.anchor)), want: CodeBadManifest},
		{name: "JSON serialization", raw: wireJSON(t, map[string]string{"protected": p[0], "payload": p[1], "signature": p[2]}), want: CodeBadManifest},
		{name: "expired", raw: f.raw, now: f.spec.ExpiresAt.Add(DefaultSkew), want: CodeManifestExpired},
		{name: "expired but within skew", raw: f.raw, now: f.spec.ExpiresAt.Add(DefaultSkew - time.Second), want: ""},
		{name: "issued in the future", raw: f.raw, now: f.spec.IssuedAt.Add(-DefaultSkew - time.Second), want: CodeManifestNotYetValid},
		{name: "issued in the future within skew", raw: f.raw, now: f.spec.IssuedAt.Add(-DefaultSkew), want: ""},
		{name: "rollback to a lower version", raw: signed(func(m *Manifest) { m.Version = 4 }, f.anchor), held: held, want: CodeManifestRollback},
		{name: "same version, other content", raw: signed(func(m *Manifest) { m.Members[2].Status = StatusActive }, f.anchor), held: held, want: CodeManifestRollback},
		{name: "same version, same content, signed again", raw: signed(nil, f.anchor), held: held, want: ""},
		{name: "higher version", raw: signed(func(m *Manifest) { m.Version = 6; m.Members[2].Status = StatusActive }, f.anchor), held: held, want: ""},
		{name: "another federation", raw: signed(func(m *Manifest) { m.Version = 9; m.Federation = "other" }, f.anchor), held: held, want: CodeBadManifest},
		{name: "empty", raw: nil, want: CodeBadManifest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.anchor
			if a == nil {
				a = anchor
			}
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			m, err := VerifyManifest(tc.raw, a, now, tc.held)
			wantCode(t, err, tc.want)
			if err == nil && !independentlySigned(tc.raw, a) {
				t.Fatal("accepted a manifest not signed by the anchor")
			}
			if err == nil && (m.Raw() == nil || m.idx == nil) {
				t.Fatal("verified manifest lacks raw bytes or index")
			}
		})
	}
	if _, err := VerifyManifest(f.raw, nil, t0, nil); err == nil || CodeOf(err) != "" {
		t.Fatalf("nil anchor: %v", err)
	}
	// The node's own SKEW (here 300 s) moves both edges (FLX-MAN-003).
	const skew = 300 * time.Second
	for _, tc := range []struct {
		name string
		now  time.Time
		want Code
	}{
		{"expired within the node's skew", f.spec.ExpiresAt.Add(skew - time.Second), ""},
		{"expired beyond the node's skew", f.spec.ExpiresAt.Add(skew), CodeManifestExpired},
		{"issued ahead within the node's skew", f.spec.IssuedAt.Add(-skew), ""},
		{"issued ahead beyond the node's skew", f.spec.IssuedAt.Add(-skew - time.Second), CodeManifestNotYetValid},
	} {
		_, err := VerifyManifestSkew(f.raw, anchor, tc.now, nil, skew)
		if CodeOf(err) != tc.want {
			t.Errorf("VerifyManifestSkew, %s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestManifestHolder(t *testing.T) {
	f := newFixture(t)
	h := NewManifestHolder(f.anchor.Public(), nil)
	if h.Current() != nil {
		t.Fatal("empty holder holds something")
	}
	if _, err := h.Update(f.raw, t0); err != nil {
		t.Fatal(err)
	}
	next := cloneSpec(t, f.spec)
	next.Version = 6
	next.Members[0].Status = StatusSuspended
	rawNext := must(SignManifest(next, f.anchor))

	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if m := h.Current(); m == nil || m.Version < 5 {
					t.Error("reader saw no manifest or a rollback")
					return
				}
			}
		}()
	}
	if m, err := h.Update(rawNext, t0); err != nil || m.Version != 6 {
		t.Fatalf("update to 6: %v", err)
	}
	wg.Wait()
	if _, err := h.Update(f.raw, t0); !errors.Is(err, ErrManifestRollback) {
		t.Fatalf("rollback to 5: %v", err)
	}
	same := h.Current()
	if m, err := h.Update(rawNext, t0); err != nil || m != same {
		t.Fatalf("re-applying the held version should keep it: %v", err)
	}
	if mb, _ := h.Current().Member("XA-RC"); mb.Status != StatusSuspended {
		t.Fatal("holder did not keep version 6")
	}
	// The verifier follows the holder: XA-RC is now suspended.
	v := &Verifier{Manifest: h, Self: "XB-RC", Now: func() time.Time { return t0 }}
	_, err := v.Verify(t.Context(), f.sign(t, f.claims("XA-RC", "XB-RC"), f.keys["XA-RC"]), "XA-RC")
	wantCode(t, err, CodeSuspendedMember)
}
