package federation

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

var b64url = base64.RawURLEncoding

// t0 is the fixed "now" of every fixture.
var t0 = time.Date(2031, 3, 14, 9, 0, 0, 0, time.UTC)

// fixture is a small federation: XA-RC (EdDSA, rotating keys), XB-RC (ES256),
// XC-RC (suspended), ICRC-CTA (coordinator), a TLS CA and a trust anchor.
type fixture struct {
	now      time.Time
	anchor   *jose.PrivateKey
	keys     map[string]*jose.PrivateKey // current signing key per member
	xaNew    *jose.PrivateKey            // XA-RC's next key: nbf t0+30m
	ca       *x509.Certificate
	caKey    *ecdsa.PrivateKey
	spec     *Manifest // as built in code
	raw      []byte    // spec signed by anchor
	manifest *Manifest // raw, verified
}

// must unwraps a (value, error) pair from setup code that cannot fail in a
// correct test; it panics otherwise, which fails the test with a trace.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// spkiPin computes what mtls.SPKIPin computes: lowercase hex SHA-256 of the
// SubjectPublicKeyInfo DER.
func spkiPin(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	der := must(x509.MarshalPKIXPublicKey(pub))
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func newCA(t testing.TB) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	t.Helper()
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "FLX Test Federation CA"},
		NotBefore:             t0.Add(-24 * time.Hour),
		NotAfter:              t0.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key))
	cert := must(x509.ParseCertificate(der))
	return cert, key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func newKey(t testing.TB, alg jose.Alg) *jose.PrivateKey {
	t.Helper()
	return must(jose.GenerateKey(alg))
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{now: t0, anchor: newKey(t, jose.EdDSA), keys: map[string]*jose.PrivateKey{}}
	ca, caKey, caPEM := newCA(t)
	f.ca, f.caKey = ca, caKey

	type def struct {
		id, country string
		role        Role
		alg         jose.Alg
		status      Status
	}
	defs := []def{
		{"XA-RC", "XA", RoleSociety, jose.EdDSA, StatusActive},
		{"XB-RC", "XB", RoleSociety, jose.ES256, StatusActive},
		{"XC-RC", "XC", RoleSociety, jose.EdDSA, StatusSuspended},
		{"ICRC-CTA", "XD", RoleCoordinator, jose.EdDSA, StatusActive},
	}
	f.spec = &Manifest{
		Federation: "flx-test",
		Version:    5,
		IssuedAt:   t0.Add(-time.Hour),
		ExpiresAt:  t0.Add(24 * time.Hour),
		TLSCAPEM:   []string{caPEM},
	}
	for _, d := range defs {
		k := newKey(t, d.alg)
		f.keys[d.id] = k
		tlsKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
		mb := Member{
			ID: d.id, Name: "Test Society " + d.country, Country: d.country, Role: d.role,
			Endpoint:      "https://" + strings.ToLower(d.id) + ".flx.test:8443",
			JWKS:          jose.KeySet{k.Public()},
			TLSSPKISHA256: []string{spkiPin(t, tlsKey.Public())},
			Accepts:       Kinds,
			Status:        d.status,
		}
		if d.id == "XA-RC" {
			// Rotation: the old key verifies until t0+1h, the new one from t0+30m.
			f.xaNew = newKey(t, jose.EdDSA)
			mb.JWKS = jose.KeySet{
				k.Public().WithValidity(t0.Add(-30*24*time.Hour), t0.Add(time.Hour)),
				f.xaNew.Public().WithValidity(t0.Add(30*time.Minute), t0.Add(365*24*time.Hour)),
			}
		}
		f.spec.Members = append(f.spec.Members, mb)
	}
	f.raw = must(SignManifest(f.spec, f.anchor))
	f.manifest = must(VerifyManifest(f.raw, f.anchor.Public(), f.now, nil))
	return f
}

func (f *fixture) verifier(self string) *Verifier {
	return &Verifier{Manifest: StaticManifest(f.manifest), Self: self, Now: func() time.Time { return f.now }}
}

// body4K is a ~4 KiB JSON document.
func body4K() json.RawMessage {
	var sb strings.Builder
	sb.WriteString(`{"schema":"flx/v1/case","case_id":"XA-RC:bench-1","notes":[`)
	for i := 0; sb.Len() < 4000; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`{"text":"Amira Testova was last seen near the market of a town in XB, wearing a blue coat.","author_member":"XA-RC"}`)
	}
	sb.WriteString(`]}`)
	return json.RawMessage(sb.String())
}

func (f *fixture) claims(iss, aud string) Claims {
	return Claims{
		Issuer: iss, Audience: aud, IssuedAt: f.now.Add(-time.Minute), ExpiresAt: f.now.Add(time.Hour),
		JTI: NewJTI(), Kind: KindCaseCreate, CaseID: iss + ":case-1",
		Body: json.RawMessage(`{"schema":"flx/v1/case","case_id":"` + iss + `:case-1"}`),
	}
}

func (f *fixture) sign(t testing.TB, c Claims, k *jose.PrivateKey) []byte {
	t.Helper()
	raw, err := Sign(c, k)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return raw
}

// forge builds a compact JWS from a raw header and payload, signed by sign
// (which gets the signing input); for tokens the APIs refuse to make.
func forge(header string, payload []byte, sign func([]byte) []byte) []byte {
	in := b64url.EncodeToString([]byte(header)) + "." + b64url.EncodeToString(payload)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(in))
	}
	return []byte(in + "." + b64url.EncodeToString(sig))
}

// edSigner signs with an Ed25519 jose key through the standard library.
func edSigner(t testing.TB, k *jose.PrivateKey) func([]byte) []byte {
	t.Helper()
	der := must(jose.MarshalPrivateJWK(k))
	var m struct{ D string }
	if err := json.Unmarshal(der, &m); err != nil {
		t.Fatal(err)
	}
	seed := must(b64url.DecodeString(m.D))
	priv := ed25519.NewKeyFromSeed(seed)
	return func(in []byte) []byte { return ed25519.Sign(priv, in) }
}

func hmacSigner(secret []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		h := hmac.New(sha256.New, secret)
		h.Write(in)
		return h.Sum(nil)
	}
}

func wireJSON(t testing.TB, v any) []byte {
	t.Helper()
	return must(json.Marshal(v))
}

// independentlySigned checks, with the standard library only (no jwx, no
// jose verification code), that raw carries a valid signature by pub.
func independentlySigned(raw []byte, pub *jose.PublicKey) bool {
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 {
		return false
	}
	sig, err := b64url.DecodeString(parts[2])
	if err != nil {
		return false
	}
	in := []byte(parts[0] + "." + parts[1])
	switch k := pub.CryptoPublicKey().(type) {
	case ed25519.PublicKey:
		return pub.Alg() == jose.EdDSA && ed25519.Verify(k, in, sig)
	case *ecdsa.PublicKey:
		if pub.Alg() != jose.ES256 || len(sig) != 64 {
			return false
		}
		h := sha256.Sum256(in)
		return ecdsa.Verify(k, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	}
	return false
}

func wantCode(t testing.TB, err error, want Code) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("accepted; want %s", want)
	}
	if got := CodeOf(err); got != want {
		t.Fatalf("code %q (%v), want %q", got, err, want)
	}
}
