package jose

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"math/big"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// stdVerify checks a compact JWS with the standard library only.
func stdVerify(raw []byte, k *PublicKey) bool {
	p := strings.Split(string(raw), ".")
	if len(p) != 3 {
		return false
	}
	sig, err := enc.DecodeString(p[2])
	if err != nil {
		return false
	}
	in := []byte(p[0] + "." + p[1])
	switch pub := k.CryptoPublicKey().(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(pub, in, sig)
	case *ecdsa.PublicKey:
		h := sha256.Sum256(in)
		return len(sig) == 64 && ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	}
	return false
}

// FuzzVerify: no panic; anything accepted verifies under the looked-up key
// with the standard library, with that key's alg in the header.
func FuzzVerify(f *testing.F) {
	ed, ec := mustKey(f, EdDSA), mustKey(f, ES256)
	keys := lookupOf(ed.Public(), ec.Public())
	good := mustSign(f, `{"iss":"XA-RC"}`, testTyp, ed)
	p := strings.Split(string(good), ".")
	for _, s := range [][]byte{
		good,
		mustSign(f, `{"iss":"XB-RC"}`, testTyp, ec),
		mustSign(f, `{}`, testTyp, ec.WithKID(ed.KID())),
		handBuilt(`{"alg":"none","kid":"`+ed.KID()+`","typ":"`+testTyp+`"}`, `{}`, nil),
		jwxSign(f, `{}`, jwa.HS256, []byte(ed.Public().CryptoPublicKey().(ed25519.PublicKey)), map[string]any{"kid": ed.KID(), "typ": testTyp}),
		[]byte(p[0] + "." + p[1] + "." + p[2] + "=="),
		[]byte(`{"payload":"` + p[1] + `","signatures":[{"protected":"` + p[0] + `","signature":"` + p[2] + `"}]}`),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		payload, k, err := Verify(raw, testTyp, keys)
		if err != nil {
			return
		}
		tok, perr := Parse(raw, testTyp)
		if perr != nil || tok.Header().Alg != k.Alg() || tok.Header().KID != k.KID() || string(payload) != string(tok.UnverifiedPayload()) {
			t.Fatalf("accepted token with inconsistent header: %v", perr)
		}
		if !stdVerify(raw, k) {
			t.Fatal("accepted a token whose signature does not verify")
		}
	})
}
