package jose

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

const testTyp = "flx-test+jws"

var enc = base64.RawURLEncoding

func mustKey(t testing.TB, alg Alg) *PrivateKey {
	t.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		t.Fatalf("GenerateKey(%q): %v", alg, err)
	}
	return k
}

func mustSign(t testing.TB, payload string, typ string, k *PrivateKey) []byte {
	t.Helper()
	tok, err := Sign([]byte(payload), typ, k)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// handBuilt assembles a compact JWS from a raw header JSON, payload and
// signature bytes, for attacks the signing API would never produce.
func handBuilt(header, payload string, sig []byte) []byte {
	return []byte(enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sig))
}

// jwxSign signs with jwx directly and arbitrary protected headers, as an
// attacker with a JOSE library would.
func jwxSign(t testing.TB, payload string, alg jwa.SignatureAlgorithm, key any, hdrs map[string]any, opts ...jws.SignOption) []byte {
	t.Helper()
	h := jws.NewHeaders()
	for name, v := range hdrs {
		if err := h.Set(name, v); err != nil {
			t.Fatalf("set header %s: %v", name, err)
		}
	}
	opts = append(opts, jws.WithKey(alg, key, jws.WithProtectedHeaders(h)))
	out, err := jws.Sign([]byte(payload), opts...)
	if err != nil {
		t.Fatalf("jws.Sign: %v", err)
	}
	return out
}

func lookupOf(keys ...*PublicKey) func(string) (*PublicKey, error) {
	return func(kid string) (*PublicKey, error) {
		for _, k := range keys {
			if k.KID() == kid {
				return k, nil
			}
		}
		return nil, nil
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, alg := range []Alg{EdDSA, ES256, ""} {
		t.Run(string(alg), func(t *testing.T) {
			k := mustKey(t, alg)
			tok := mustSign(t, `{"hello":"world"}`, testTyp, k)
			payload, used, err := Verify(tok, testTyp, lookupOf(k.Public()))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if string(payload) != `{"hello":"world"}` || used.KID() != k.KID() {
				t.Fatalf("payload %q key %q", payload, used.KID())
			}
			parsed, err := Parse(tok, testTyp)
			if err != nil {
				t.Fatal(err)
			}
			want := Header{Alg: k.Alg(), KID: k.KID(), Typ: testTyp}
			if parsed.Header() != want {
				t.Fatalf("header %+v, want %+v", parsed.Header(), want)
			}
			hdr, _ := enc.DecodeString(strings.Split(string(tok), ".")[0])
			var m map[string]any
			if err := json.Unmarshal(hdr, &m); err != nil || len(m) != 3 {
				t.Fatalf("header %s: want exactly alg, kid, typ", hdr)
			}
		})
	}
}

func TestVerifyAttacks(t *testing.T) {
	victim := mustKey(t, EdDSA)
	victimEC := mustKey(t, ES256)
	attacker := mustKey(t, EdDSA)
	pub := victim.Public()
	good := mustSign(t, `{"iss":"XA-RC"}`, testTyp, victim)
	parts := strings.Split(string(good), ".")

	edPub := []byte(pub.CryptoPublicKey().(ed25519.PublicKey))
	attackerJWK, err := jwk.FromRaw(attacker.Public().CryptoPublicKey())
	if err != nil {
		t.Fatal(err)
	}
	std := map[string]any{"kid": victim.KID(), "typ": testTyp}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range std {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	// ES256 token claiming the Ed25519 key's kid: alg allowed, but not the key's.
	algSwap := jwxSign(t, `{"iss":"XA-RC"}`, jwa.ES256, victimEC.signer(), std)
	// Two signatures: JSON serialization, once by the attacker, once by the victim.
	twoSigs := jwxSign(t, `{"iss":"XA-RC"}`, jwa.EdDSA, attacker.signer(), map[string]any{"kid": attacker.KID(), "typ": testTyp},
		jws.WithJSON(), jws.WithKey(jwa.EdDSA, victim.signer(), jws.WithProtectedHeaders(func() jws.Headers {
			h := jws.NewHeaders()
			_ = h.Set("kid", victim.KID())
			_ = h.Set("typ", testTyp)
			return h
		}())))
	flattened := jwxSign(t, `{"iss":"XA-RC"}`, jwa.EdDSA, victim.signer(), std, jws.WithJSON())
	sigBytes, _ := enc.DecodeString(parts[2])
	// Non-canonical encodings of the same signature: padding would be
	// refused by the alphabet check; stray low bits in the last character
	// decode to the same bytes with a lenient decoder.
	lastSig := parts[2][len(parts[2])-1]
	flipped := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", lastSig) ^ 1
	stray := parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[flipped])

	cases := []struct {
		name string
		tok  []byte
		want error
	}{
		{"alg none hand-built", handBuilt(`{"alg":"none","kid":"`+victim.KID()+`","typ":"`+testTyp+`"}`, `{"iss":"XA-RC"}`, nil), ErrUnsupportedAlg}, // empty signature part, as RFC 7519 §6 builds it
		{"alg none with junk signature", handBuilt(`{"alg":"none","kid":"`+victim.KID()+`","typ":"`+testTyp+`"}`, `{"iss":"XA-RC"}`, []byte("x")), ErrUnsupportedAlg},
		{"alg None capitalised", handBuilt(`{"alg":"None","kid":"`+victim.KID()+`","typ":"`+testTyp+`"}`, `{"iss":"XA-RC"}`, []byte("x")), ErrUnsupportedAlg},
		{"HS256 with Ed25519 public key as secret", jwxSign(t, `{"iss":"XA-RC"}`, jwa.HS256, edPub, std), ErrUnsupportedAlg},
		{"HS512", jwxSign(t, `{"iss":"XA-RC"}`, jwa.HS512, edPub, std), ErrUnsupportedAlg},
		{"RS256 header", handBuilt(`{"alg":"RS256","kid":"`+victim.KID()+`","typ":"`+testTyp+`"}`, `{"iss":"XA-RC"}`, sigBytes), ErrUnsupportedAlg},
		{"PS256 header", handBuilt(`{"alg":"PS256","kid":"`+victim.KID()+`","typ":"`+testTyp+`"}`, `{"iss":"XA-RC"}`, sigBytes), ErrUnsupportedAlg},
		{"ES384 header", handBuilt(`{"alg":"ES384","kid":"`+victim.KID()+`","typ":"`+testTyp+`"}`, `{"iss":"XA-RC"}`, sigBytes), ErrUnsupportedAlg},
		{"lowercase eddsa", handBuilt(`{"alg":"eddsa","kid":"`+victim.KID()+`","typ":"`+testTyp+`"}`, `{"iss":"XA-RC"}`, sigBytes), ErrUnsupportedAlg},
		{"missing alg", handBuilt(`{"kid":"`+victim.KID()+`","typ":"`+testTyp+`"}`, `{"iss":"XA-RC"}`, sigBytes), ErrUnsupportedAlg},
		{"alg not a string", handBuilt(`{"alg":1,"kid":"`+victim.KID()+`","typ":"`+testTyp+`"}`, `{"iss":"XA-RC"}`, sigBytes), ErrMalformed},
		{"embedded jwk of attacker key", jwxSign(t, `{"iss":"XA-RC"}`, jwa.EdDSA, attacker.signer(), with(map[string]any{"jwk": attackerJWK})), ErrForbiddenHeader},
		{"jku", jwxSign(t, `{"iss":"XA-RC"}`, jwa.EdDSA, attacker.signer(), with(map[string]any{"jku": "https://attacker.example/jwks"})), ErrForbiddenHeader},
		{"x5u", jwxSign(t, `{"iss":"XA-RC"}`, jwa.EdDSA, attacker.signer(), with(map[string]any{"x5u": "https://attacker.example/cert"})), ErrForbiddenHeader},
		{"x5c", handBuilt(`{"alg":"EdDSA","kid":"`+victim.KID()+`","typ":"`+testTyp+`","x5c":["MIIB"]}`, `{"iss":"XA-RC"}`, sigBytes), ErrForbiddenHeader},
		{"x5t#S256", handBuilt(`{"alg":"EdDSA","kid":"`+victim.KID()+`","typ":"`+testTyp+`","x5t#S256":"abc"}`, `{"iss":"XA-RC"}`, sigBytes), ErrForbiddenHeader},
		{"crit", handBuilt(`{"alg":"EdDSA","crit":["exp"],"exp":1,"kid":"`+victim.KID()+`","typ":"`+testTyp+`"}`, `{"iss":"XA-RC"}`, sigBytes), ErrForbiddenHeader},
		{"b64 false", handBuilt(`{"alg":"EdDSA","b64":false,"kid":"`+victim.KID()+`","typ":"`+testTyp+`"}`, `{"iss":"XA-RC"}`, sigBytes), ErrForbiddenHeader},
		{"unknown header member", handBuilt(`{"alg":"EdDSA","kid":"`+victim.KID()+`","typ":"`+testTyp+`","zip":"DEF"}`, `{"iss":"XA-RC"}`, sigBytes), ErrForbiddenHeader},
		{"duplicate alg", handBuilt(`{"alg":"EdDSA","alg":"none","kid":"`+victim.KID()+`","typ":"`+testTyp+`"}`, `{"iss":"XA-RC"}`, sigBytes), ErrMalformed},
		{"header is an array", handBuilt(`["EdDSA"]`, `{"iss":"XA-RC"}`, sigBytes), ErrMalformed},
		{"header trailing data", handBuilt(`{"alg":"EdDSA","kid":"`+victim.KID()+`","typ":"`+testTyp+`"}{}`, `{"iss":"XA-RC"}`, sigBytes), ErrMalformed},
		{"wrong typ", mustSign(t, `{"iss":"XA-RC"}`, "flx-receipt+jws", victim), ErrWrongType},
		{"missing typ", jwxSign(t, `{"iss":"XA-RC"}`, jwa.EdDSA, victim.signer(), map[string]any{"kid": victim.KID()}), ErrWrongType},
		{"missing kid", jwxSign(t, `{"iss":"XA-RC"}`, jwa.EdDSA, victim.signer(), map[string]any{"typ": testTyp}), ErrMissingKID},
		{"unknown kid", mustSign(t, `{"iss":"XA-RC"}`, testTyp, attacker), ErrUnknownKey},
		{"attacker key under victim kid", mustSign(t, `{"iss":"XA-RC"}`, testTyp, attacker.WithKID(victim.KID())), ErrBadSignature},
		{"ES256 header against EdDSA-pinned key", algSwap, ErrAlgMismatch},
		{"tampered payload", []byte(parts[0] + "." + enc.EncodeToString([]byte(`{"iss":"XB-RC"}`)) + "." + parts[2]), ErrBadSignature},
		{"tampered signature", []byte(parts[0] + "." + parts[1] + "." + enc.EncodeToString(append(sigBytes[:63:63], sigBytes[63]^1))), ErrBadSignature},
		{"truncated signature", []byte(parts[0] + "." + parts[1] + "." + enc.EncodeToString(sigBytes[:32])), ErrBadSignature},
		{"two signatures JSON serialization", twoSigs, ErrMalformed},
		{"flattened JSON serialization", flattened, ErrMalformed},
		{"padded signature", []byte(string(good) + "=="), ErrMalformed},
		{"stray bits in signature encoding", []byte(stray), ErrMalformed},
		{"leading whitespace", []byte(" " + string(good)), ErrMalformed},
		{"trailing newline", []byte(string(good) + "\n"), ErrMalformed},
		{"four parts", []byte(string(good) + ".x"), ErrMalformed},
		// Base64 decoding skips CR and LF: Parse refuses them itself.
		{"newline inside the payload", []byte(parts[0] + "." + parts[1][:5] + "\n" + parts[1][5:] + "." + parts[2]), ErrMalformed},
		{"CR LF inside the header", []byte(parts[0][:5] + "\r\n" + parts[0][5:] + "." + parts[1] + "." + parts[2]), ErrMalformed},
		{"CR inside the signature", []byte(parts[0] + "." + parts[1] + "." + parts[2][:5] + "\r" + parts[2][5:]), ErrMalformed},
		{"padding inside the payload", []byte(parts[0] + "." + parts[1] + "=." + parts[2]), ErrMalformed},
		{"standard alphabet in the header", []byte(strings.ReplaceAll(parts[0], "J", "+") + "." + parts[1] + "." + parts[2]), ErrMalformed},
		{"space inside the payload", []byte(parts[0] + "." + parts[1][:5] + " " + parts[1][5:] + "." + parts[2]), ErrMalformed},
		{"empty payload", []byte(parts[0] + ".." + parts[2]), ErrMalformed},
		{"empty", nil, ErrMalformed},
		{"detached", []byte(parts[0] + "." + "." + parts[2]), ErrMalformed},
		{"EdDSA with empty signature", []byte(parts[0] + "." + parts[1] + "."), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Verify(tc.tok, testTyp, lookupOf(pub, victimEC.Public()))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("good token still verifies", func(t *testing.T) {
		if _, _, err := Verify(good, testTyp, lookupOf(pub)); err != nil {
			t.Fatal(err)
		}
	})
}

// Even below our header checks, verification is pinned to the key's
// algorithm: an HMAC token keyed with the public key bytes never verifies.
func TestPinnedAlgDefeatsHMACConfusion(t *testing.T) {
	victim := mustKey(t, EdDSA)
	edPub := victim.Public().CryptoPublicKey().(ed25519.PublicKey)
	hs := jwxSign(t, `{}`, jwa.HS256, []byte(edPub), map[string]any{"kid": victim.KID(), "typ": testTyp})
	if _, err := jws.Verify(hs, jws.WithKey(jwa.EdDSA, edPub)); err == nil {
		t.Fatal("jwx verified an HS256 token under an EdDSA-pinned key")
	}
	i := bytes.LastIndexByte(hs, '.')
	sig, err := b64.DecodeString(string(hs[i+1:]))
	if err != nil {
		t.Fatal(err)
	}
	tok := &Token{input: hs[:i], hdr: Header{Alg: "HS256", KID: victim.KID(), Typ: testTyp}, payload: []byte(`{}`), sig: sig}
	if _, err := tok.Verify(victim.Public()); !errors.Is(err, ErrAlgMismatch) {
		t.Fatalf("Token.Verify of forged HS256 token: %v, want ErrAlgMismatch", err)
	}
}

// Sign and Token.Verify do the JWS work themselves (one parse, the standard
// library's Ed25519 and ECDSA): what they sign verifies with jwx, and what
// jwx signs verifies here, for both algorithms.
func TestSignVerifyInteropWithJWX(t *testing.T) {
	for _, alg := range []Alg{EdDSA, ES256} {
		t.Run(string(alg), func(t *testing.T) {
			k := mustKey(t, alg)
			ours := mustSign(t, `{"iss":"XA-RC"}`, testTyp, k)
			msg := jws.NewMessage()
			got, err := jws.Verify(ours, jws.WithKey(jwa.SignatureAlgorithm(alg), k.Public().CryptoPublicKey()), jws.WithMessage(msg))
			if err != nil || string(got) != `{"iss":"XA-RC"}` {
				t.Fatalf("jwx verify of our token: %q, %v", got, err)
			}
			if ph := msg.Signatures()[0].ProtectedHeaders(); ph.KeyID() != k.KID() || ph.Type() != testTyp || string(ph.Algorithm()) != string(alg) {
				t.Fatalf("jwx reads our header as alg %q kid %q typ %q", ph.Algorithm(), ph.KeyID(), ph.Type())
			}
			theirs := jwxSign(t, `{"iss":"XB-RC"}`, jwa.SignatureAlgorithm(alg), k.signer(), map[string]any{"kid": k.KID(), "typ": testTyp})
			if p, _, err := Verify(theirs, testTyp, lookupOf(k.Public())); err != nil || string(p) != `{"iss":"XB-RC"}` {
				t.Fatalf("our verify of a jwx token: %q, %v", p, err)
			}
			// One flipped signature bit fails.
			bad := append([]byte(nil), ours...)
			bad[len(bad)-2] ^= 1
			if bad[len(bad)-2] == '.' {
				bad[len(bad)-2] = 'A'
			}
			if _, _, err := Verify(bad, testTyp, lookupOf(k.Public())); err == nil {
				t.Fatal("a token with a flipped signature bit verified")
			}
		})
	}
}

func TestVerifyLookupErrorIsWrapped(t *testing.T) {
	k := mustKey(t, EdDSA)
	sentinel := errors.New("member suspended")
	_, _, err := Verify(mustSign(t, `{}`, testTyp, k), testTyp, func(string) (*PublicKey, error) { return nil, sentinel })
	if !errors.Is(err, sentinel) {
		t.Fatalf("got %v, want the lookup's error", err)
	}
}

func TestTokenVerifyRefusesOtherKid(t *testing.T) {
	k := mustKey(t, EdDSA)
	tok, err := Parse(mustSign(t, `{}`, testTyp, k), testTyp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Verify(k.Public().WithKID("other")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("got %v, want ErrUnknownKey", err)
	}
	if _, err := tok.Verify(nil); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("nil key: got %v", err)
	}
}

func TestES256SignatureIsRaw64Bytes(t *testing.T) {
	k := mustKey(t, ES256)
	tok := mustSign(t, `{}`, testTyp, k)
	sig, err := enc.DecodeString(strings.Split(string(tok), ".")[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("ES256 signature: %d bytes, %v", len(sig), err)
	}
	_ = k.Public().CryptoPublicKey().(*ecdsa.PublicKey)
}

// jwx decodes base64 leniently (padding, stray low bits), so one signature
// has many encodings that all verify there. FLX hashes and deduplicates
// envelopes by their exact bytes, so it accepts only the canonical one.
func TestCanonicalEncodingClosesJWXMalleability(t *testing.T) {
	k := mustKey(t, EdDSA)
	good := mustSign(t, `{"a":1}`, testTyp, k)
	p := strings.Split(string(good), ".")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := p[2][len(p[2])-1]
	variants := map[string]string{
		"stray bits": p[0] + "." + p[1] + "." + p[2][:len(p[2])-1] + string(alphabet[strings.IndexByte(alphabet, last)^1]),
		"padding":    string(good) + "==",
	}
	for name, v := range variants {
		t.Run(name, func(t *testing.T) {
			if _, err := jws.Verify([]byte(v), jws.WithKey(jwa.EdDSA, k.Public().CryptoPublicKey())); err != nil {
				t.Logf("jwx now refuses this variant too: %v", err)
			}
			if _, _, err := Verify([]byte(v), testTyp, lookupOf(k.Public())); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}
