package jose

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwe"
	"github.com/lestrrat-go/jwx/v2/x25519"
)

const testJWETyp = "flx-test+jwe"

func mustEncKey(t testing.TB, crv Curve) *EncPrivateKey {
	t.Helper()
	k, err := GenerateEncKey(crv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustEncrypt(t testing.TB, plaintext string, to *EncPublicKey) []byte {
	t.Helper()
	out, err := Encrypt([]byte(plaintext), testJWETyp, "flx-test+jws", to)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// jwePart returns the decoded part i of a compact JWE.
func jwePart(t testing.TB, raw []byte, i int) []byte {
	t.Helper()
	p := strings.Split(string(raw), ".")
	b, err := enc.DecodeString(p[i])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withPart replaces part i of a compact JWE by b (base64url-encoded).
func withPart(raw []byte, i int, b []byte) []byte {
	p := strings.Split(string(raw), ".")
	p[i] = enc.EncodeToString(b)
	return []byte(strings.Join(p, "."))
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	for _, crv := range []Curve{X25519, P256} {
		t.Run(string(crv), func(t *testing.T) {
			k := mustEncKey(t, crv)
			raw := mustEncrypt(t, "the signed bundle", k.Public())
			e, err := ParseJWE(raw, testJWETyp)
			if err != nil {
				t.Fatal(err)
			}
			h := e.Header()
			if h.Alg != "ECDH-ES+A256KW" || h.Enc != "A256GCM" || h.KID != k.KID() || h.Typ != testJWETyp || h.Cty != "flx-test+jws" || h.EPK != crv {
				t.Fatalf("header %+v", h)
			}
			// The header carries exactly these members, nothing the library
			// might add on its own.
			if got := strings.Join(memberNames(t, jwePart(t, raw, 0)), " "); got != "alg cty enc epk kid typ" {
				t.Fatalf("header members %q", got)
			}
			pt, err := e.Decrypt(k)
			if err != nil || string(pt) != "the signed bundle" {
				t.Fatalf("Decrypt = %q, %v", pt, err)
			}
			// Two encryptions of the same plaintext share nothing: a fresh
			// ephemeral key, content key and IV each time.
			again := mustEncrypt(t, "the signed bundle", k.Public())
			for i := 1; i < 5; i++ {
				if bytes.Equal(jwePart(t, raw, i), jwePart(t, again, i)) {
					t.Errorf("part %d repeats across encryptions", i)
				}
			}
		})
	}
}

func TestDecryptAttacks(t *testing.T) {
	k := mustEncKey(t, X25519)
	other := mustEncKey(t, X25519)
	p256 := mustEncKey(t, P256)
	good := mustEncrypt(t, "secret family news", k.Public())
	hdr := jwePart(t, good, 0)

	flip := func(i int) []byte {
		b := jwePart(t, good, i)
		b[len(b)/2] ^= 1
		return withPart(good, i, b)
	}
	withHeader := func(mut func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(hdr, &m); err != nil {
			t.Fatal(err)
		}
		mut(m)
		return withPart(good, 0, must(json.Marshal(m)))
	}
	jwxMade := func(alg jwa.KeyEncryptionAlgorithm, encAlg jwa.ContentEncryptionAlgorithm, key any, extra map[string]any, opts ...jwe.EncryptOption) []byte {
		h := jwe.NewHeaders()
		_ = h.Set("kid", k.KID())
		_ = h.Set("typ", testJWETyp)
		for n, v := range extra {
			_ = h.Set(n, v)
		}
		opts = append(opts, jwe.WithKey(alg, key), jwe.WithContentEncryption(encAlg), jwe.WithProtectedHeaders(h), jwe.WithCompact())
		out, err := jwe.Encrypt([]byte("x"), opts...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	xpub := x25519.PublicKey(k.Public().pub.Bytes())
	lowOrder := make([]byte, 32) // the all-zero point has order 1... of the twist
	lowOrder[0] = 1              // u = 1 is a point of order 4 on Curve25519

	tests := []struct {
		name string
		raw  []byte
		key  *EncPrivateKey
		want error
	}{
		{"good", good, k, nil},
		{"another member's key", good, other, ErrUnknownKey},
		{"another key under the right kid", good, other.WithKID(k.KID()), ErrDecrypt},
		{"P-256 key under the right kid", good, p256.WithKID(k.KID()), ErrUnknownKey},
		{"tampered header (signature of the AAD)", withHeader(func(m map[string]any) { m["cty"] = "other" }), k, ErrDecrypt},
		{"tampered wrapped key", flip(1), k, ErrDecrypt},
		{"tampered IV", flip(2), k, ErrDecrypt},
		{"tampered ciphertext", flip(3), k, ErrDecrypt},
		{"tampered tag", flip(4), k, ErrDecrypt},
		{"truncated: four parts", []byte(strings.Join(strings.Split(string(good), ".")[:4], ".")), k, ErrMalformed},
		{"truncated: last part cut", good[:len(good)-5], k, ErrMalformed},
		{"truncated ciphertext", withPart(good, 3, jwePart(t, good, 3)[:4]), k, ErrDecrypt},
		{"trailing newline", append(append([]byte(nil), good...), '\n'), k, ErrMalformed},
		{"JSON serialization", []byte(`{"protected":"` + strings.Split(string(good), ".")[0] + `","ciphertext":"AA"}`), k, ErrMalformed},
		{"zip", withHeader(func(m map[string]any) { m["zip"] = "DEF" }), k, ErrForbiddenHeader},
		{"jku", withHeader(func(m map[string]any) { m["jku"] = "https://evil.invalid/jwks" }), k, ErrForbiddenHeader},
		{"apu", withHeader(func(m map[string]any) { m["apu"] = "QQ" }), k, ErrForbiddenHeader},
		{"wrong typ", withHeader(func(m map[string]any) { m["typ"] = "flx-other+jwe" }), k, ErrWrongType},
		{"no kid", withHeader(func(m map[string]any) { delete(m, "kid") }), k, ErrMissingKID},
		{"no epk", withHeader(func(m map[string]any) { delete(m, "epk") }), k, ErrMalformed},
		{"epk with a private member", withHeader(func(m map[string]any) { m["epk"].(map[string]any)["d"] = enc.EncodeToString(make([]byte, 32)) }), k, ErrMalformed},
		{"epk of low order", withHeader(func(m map[string]any) { m["epk"].(map[string]any)["x"] = enc.EncodeToString(lowOrder) }), k, ErrMalformed},
		{"epk off the P-256 curve (invalid curve attack)", withHeader(func(m map[string]any) {
			m["epk"] = map[string]any{"kty": "EC", "crv": "P-256", "x": enc.EncodeToString(bytes.Repeat([]byte{1}, 32)), "y": enc.EncodeToString(bytes.Repeat([]byte{2}, 32))}
		}), k, ErrMalformed},
		{"epk on P-384", withHeader(func(m map[string]any) {
			m["epk"] = map[string]any{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}
		}), k, ErrUnsupportedAlg},
		{"alg ECDH-ES (direct)", jwxMade(jwa.ECDH_ES, jwa.A256GCM, xpub, nil), k, ErrUnsupportedAlg},
		{"alg ECDH-ES+A128KW", jwxMade(jwa.ECDH_ES_A128KW, jwa.A256GCM, xpub, nil), k, ErrUnsupportedAlg},
		{"enc A256CBC-HS512", jwxMade(jwa.ECDH_ES_A256KW, jwa.A256CBC_HS512, xpub, nil), k, ErrUnsupportedAlg},
		// Refused on its p2s/p2c members, before any key derivation runs.
		{"alg PBES2", jwxMade(jwa.PBES2_HS256_A128KW, jwa.A256GCM, []byte("password"), nil), k, ErrForbiddenHeader},
		{"alg dir", jwxMade(jwa.DIRECT, jwa.A256GCM, bytes.Repeat([]byte{7}, 32), nil), k, ErrUnsupportedAlg},
		{"zip made by the library", jwxMade(jwa.ECDH_ES_A256KW, jwa.A256GCM, xpub, nil, jwe.WithCompress(jwa.Deflate)), k, ErrForbiddenHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseJWE(tc.raw, testJWETyp)
			if err == nil {
				_, err = e.Decrypt(tc.key)
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestEncryptRefuses(t *testing.T) {
	k := mustEncKey(t, X25519)
	if _, err := Encrypt([]byte("x"), "", "", k.Public()); err == nil {
		t.Error("empty typ accepted")
	}
	if _, err := Encrypt(nil, testJWETyp, "", k.Public()); err == nil {
		t.Error("empty plaintext accepted")
	}
	if _, err := Encrypt([]byte("x"), testJWETyp, "", k.Public().WithKID("")); !errors.Is(err, ErrMissingKID) {
		t.Errorf("no kid: %v", err)
	}
	if _, err := Encrypt([]byte("x"), testJWETyp, "", nil); err == nil {
		t.Error("nil key accepted")
	}
	if _, err := GenerateEncKey("P-384"); !errors.Is(err, ErrUnsupportedAlg) {
		t.Errorf("P-384: %v", err)
	}
}

func TestEncJWK(t *testing.T) {
	nbf := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		crv  Curve
		want string
	}{
		{X25519, "alg crv exp kid kty nbf use x"},
		{P256, "alg crv exp kid kty nbf use x y"},
	} {
		t.Run(string(tc.crv), func(t *testing.T) {
			k := mustEncKey(t, tc.crv)
			pub := k.Public().WithValidity(nbf, nbf.Add(time.Hour))
			data := must(json.Marshal(pub))
			if got := strings.Join(memberNames(t, data), " "); got != tc.want {
				t.Fatalf("members %q (%s)", got, data)
			}
			if !strings.Contains(string(data), `"use":"enc"`) || !strings.Contains(string(data), `"alg":"ECDH-ES+A256KW"`) {
				t.Fatalf("use/alg: %s", data)
			}
			back, err := ParsePublishedEncJWK(data)
			if err != nil || !back.SameKey(pub) || back.KID() != k.KID() || !back.NotBefore().Equal(nbf) {
				t.Fatalf("round trip: %v", err)
			}
			set := must(json.Marshal(EncKeySet{pub}))
			var s EncKeySet
			if err := json.Unmarshal(set, &s); err != nil || len(s) != 1 || s.Key(k.KID()) == nil {
				t.Fatalf("set round trip: %v", err)
			}
			priv := must(MarshalPrivateEncJWK(k))
			pk, err := ParsePrivateEncJWK(priv)
			if err != nil || !pk.Public().SameKey(k.Public()) {
				t.Fatalf("private round trip: %v", err)
			}
			// The parsed private key decrypts what was encrypted to the
			// original's public key.
			raw := mustEncrypt(t, "x", k.Public())
			e := must(ParseJWE(raw, testJWETyp))
			if _, err := e.Decrypt(pk); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseEncJWKRefuses(t *testing.T) {
	k := mustEncKey(t, X25519)
	good := string(must(json.Marshal(k.Public())))
	sig := mustKey(t, EdDSA)
	sigJWK := string(must(json.Marshal(sig.Public())))
	p := mustEncKey(t, P256)
	pGood := string(must(json.Marshal(p.Public())))
	x, _ := p.Public().coords()
	for name, data := range map[string]string{
		"signing key (use sig, alg EdDSA)": sigJWK,
		"use sig":                          strings.Replace(good, `"use":"enc"`, `"use":"sig"`, 1),
		"no use":                           strings.Replace(good, `,"use":"enc"`, ``, 1),
		"alg ECDH-ES":                      strings.Replace(good, `"alg":"ECDH-ES+A256KW"`, `"alg":"ECDH-ES"`, 1),
		"no kid":                           strings.Replace(good, `"kid":"`+k.KID()+`",`, ``, 1),
		"private member":                   strings.Replace(good, `{`, `{"d":"AAAA",`, 1),
		"member twice":                     strings.Replace(good, `{`, `{"kid":"a",`, 1),
		"key_ops":                          strings.Replace(good, `{`, `{"key_ops":["deriveKey"],`, 1),
		"X25519 with y":                    strings.Replace(good, `{`, `{"y":"`+enc.EncodeToString(x)+`",`, 1),
		"low-order X25519":                 strings.Replace(good, `"x":"`+enc.EncodeToString(k.Public().pub.Bytes())+`"`, `"x":"`+enc.EncodeToString(append([]byte{1}, make([]byte, 31)...))+`"`, 1),
		"P-256 point off the curve":        strings.Replace(pGood, `"x":"`+enc.EncodeToString(x)+`"`, `"x":"`+enc.EncodeToString(bytes.Repeat([]byte{1}, 32))+`"`, 1),
		"nbf after exp":                    strings.Replace(good, `{`, `{"nbf":20,"exp":10,`, 1),
		"not an object":                    `[]`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParsePublishedEncJWK([]byte(data)); err == nil {
				t.Fatalf("accepted %s", data)
			}
		})
	}
	for name, data := range map[string]string{
		"two members":  `{"keys":[],"x":1}`,
		"kid twice":    `{"keys":[` + good + `,` + good + `]}`,
		"keys not set": `{"keys":{}}`,
	} {
		if _, err := ParseEncKeySet([]byte(data)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestEncKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "enc.jwk")
	k := mustEncKey(t, P256)
	if err := SaveEncKey(path, k); err != nil {
		t.Fatal(err)
	}
	if err := SaveEncKey(path, k); err == nil {
		t.Fatal("overwrote an existing key file")
	}
	if runtime.GOOS != "windows" {
		fi := must(os.Stat(path))
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %o", fi.Mode().Perm())
		}
	}
	back, err := LoadEncKey(path)
	if err != nil || !back.Public().SameKey(k.Public()) || back.KID() != k.KID() {
		t.Fatalf("load: %v", err)
	}
	if runtime.GOOS != "windows" {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadEncKey(path); err == nil {
			t.Fatal("loaded a world-readable key")
		}
	}
}

// TestP256KeyInterop: a P-256 key decrypts what jwx encrypts to the
// equivalent ecdsa key (no home-made conversion slips in).
func TestP256KeyInterop(t *testing.T) {
	k := mustEncKey(t, P256)
	pub := must(ecdsaPublic(k.Public().pub))
	if pub.Curve != elliptic.P256() {
		t.Fatal("curve")
	}
	h := jwe.NewHeaders()
	_ = h.Set("kid", k.KID())
	_ = h.Set("typ", testJWETyp)
	raw, err := jwe.Encrypt([]byte("interop"), jwe.WithKey(jwa.ECDH_ES_A256KW, (*ecdsa.PublicKey)(pub)), jwe.WithContentEncryption(jwa.A256GCM), jwe.WithProtectedHeaders(h), jwe.WithCompact())
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseJWE(raw, testJWETyp)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := e.Decrypt(k); err != nil || string(pt) != "interop" {
		t.Fatalf("%q %v", pt, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// FuzzDecrypt: no panic; a JWE is only ever decrypted when it is exactly the
// bytes the sender produced (one key, canonical encoding, GCM): every
// mutation the fuzzer finds is refused.
func FuzzDecrypt(f *testing.F) {
	k := mustEncKey(f, X25519)
	good := mustEncrypt(f, "bundle", k.Public())
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(withPart(good, 3, []byte("x")))
	f.Add([]byte("...."))
	f.Add([]byte(`{"protected":"e30"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := ParseJWE(raw, testJWETyp)
		if err != nil {
			return
		}
		if h := e.Header(); h.Alg != KeyAlgECDHESA256KW || h.Enc != ContentEncA256GCM || h.Typ != testJWETyp || h.KID == "" {
			t.Fatalf("parsed a header FLX refuses: %+v", h)
		}
		pt, err := e.Decrypt(k)
		if err != nil {
			return
		}
		if !bytes.Equal(raw, good) || string(pt) != "bundle" {
			t.Fatalf("decrypted bytes other than the ones encrypted: %q", raw)
		}
	})
}
