package jose

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

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
		[]byte(p[0] + "." + p[1][:4] + "\n" + p[1][4:] + "." + p[2]),
		[]byte(p[0][:4] + "\r\n" + p[0][4:] + "." + p[1] + "." + p[2]),
		[]byte(p[0] + "." + p[1] + "." + p[2][:8] + "\n" + p[2][8:]),
		[]byte(p[0] + "." + p[1] + "=." + p[2]),
		[]byte(p[0] + "." + p[1] + "." + p[2] + "."),
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
		// Only the canonical form: three non-empty parts of the base64url
		// alphabet, no padding, no CR/LF (which base64 decoding skips).
		if strings.Count(string(raw), ".") != 2 || strings.Trim(string(raw), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != "" {
			t.Fatalf("accepted a token outside the compact alphabet: %q", raw)
		}
	})
}

// FuzzParseKeySet: no panic; an accepted JWKS is exactly {"keys":[...]},
// repeats no member name in it or in its keys, and every key carries an
// explicit kid equal to the parsed one (FLX-KEY-002).
func FuzzParseKeySet(f *testing.F) {
	ed, ec := mustKey(f, EdDSA), mustKey(f, ES256)
	good, _ := json.Marshal(KeySet{ed.Public(), ec.Public().WithValidity(time.Unix(1900000000, 0), time.Time{})})
	edJWK, _ := json.Marshal(ed.Public())
	noKID := strings.Replace(string(edJWK), `,"kid":"`+ed.KID()+`"`, "", 1)
	for _, s := range []string{
		string(good),
		`{"keys":[]}`,
		`{"keys":[` + noKID + `]}`,
		`{"Keys":[` + string(edJWK) + `]}`,
		`{"keys":[],"keys":[` + string(edJWK) + `]}`,
		`{"keys":[` + strings.Replace(string(edJWK), `"kid":`, `"kid":"a","kid":`, 1) + `]}`,
		`{"keys":[` + strings.Replace(string(edJWK), `"kid":`, `"KID":`, 1) + `]}`,
		`{"keys":[` + string(edJWK) + `],"x":1}`,
		`{"keys":null}`, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := ParseKeySet(data)
		if err != nil {
			if !errors.Is(err, ErrJWK) {
				t.Fatalf("error %v is not ErrJWK", err)
			}
			return
		}
		var set map[string][]map[string]json.RawMessage
		if err := json.Unmarshal(data, &set); err != nil || len(set) != 1 || set["keys"] == nil {
			t.Fatalf("accepted %q, not exactly {\"keys\":[...]}", data)
		}
		if name, dup := DuplicateMember(data); dup {
			t.Fatalf("accepted %q with %q twice", data, name)
		}
		raws := set["keys"]
		if len(raws) != len(ks) {
			t.Fatalf("accepted %q: %d keys parsed from %d", data, len(ks), len(raws))
		}
		for i, k := range raws {
			var kid string
			if err := json.Unmarshal(k["kid"], &kid); err != nil || kid == "" || kid != ks[i].KID() {
				t.Fatalf("accepted %q: key %d has no explicit kid matching %q", data, i, ks[i].KID())
			}
		}
	})
}
