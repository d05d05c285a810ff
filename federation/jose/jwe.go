package jose

import (
	"bytes"
	"crypto/ecdh"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwe"
	"github.com/lestrrat-go/jwx/v2/x25519"
)

// ErrDecrypt: the JWE does not decrypt under the key (a tampered or
// truncated ciphertext, tag, IV, wrapped key or header, or another
// recipient's key). Deliberately one error for all of these: a decryption
// oracle learns nothing from which step failed.
var ErrDecrypt = errors.New("jose: JWE does not decrypt")

// JWEHeader is the protected header of a parsed JWE. FLX headers carry
// exactly alg, enc, epk, kid and typ, and optionally cty.
type JWEHeader struct {
	Alg string // always KeyAlgECDHESA256KW
	Enc string // always ContentEncA256GCM
	KID string // the recipient's encryption key
	Typ string
	Cty string // optional
	EPK Curve  // the curve of the ephemeral public key
}

// Encrypted is a compact JWE whose structure and header passed every check
// but which has NOT been decrypted yet.
type Encrypted struct {
	raw []byte
	hdr JWEHeader
	epk *ecdh.PublicKey
}

// Header returns the checked (unauthenticated until Decrypt) header.
func (e *Encrypted) Header() JWEHeader { return e.hdr }

// Encrypt encrypts plaintext to the public key to as a compact JWE with the
// protected header {"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":…,
// "kid":<to's kid>,"typ":typ[,"cty":cty]}. No compression: "zip" is never
// used (compressing before encrypting leaks through lengths, and inflating
// untrusted input is a bomb).
func Encrypt(plaintext []byte, typ, cty string, to *EncPublicKey) ([]byte, error) {
	if to == nil || !to.crv.Supported() || to.pub == nil {
		return nil, fmt.Errorf("jose: encrypt: %w", ErrUnsupportedAlg)
	}
	if to.kid == "" {
		return nil, fmt.Errorf("jose: encrypt: %w", ErrMissingKID)
	}
	if typ == "" || len(plaintext) == 0 {
		return nil, errors.New("jose: encrypt: typ and plaintext are required")
	}
	hdr := jwe.NewHeaders()
	for k, v := range map[string]string{jwe.KeyIDKey: to.kid, jwe.TypeKey: typ} {
		if err := hdr.Set(k, v); err != nil {
			return nil, fmt.Errorf("jose: encrypt: %w", err)
		}
	}
	if cty != "" {
		if err := hdr.Set(jwe.ContentTypeKey, cty); err != nil {
			return nil, fmt.Errorf("jose: encrypt: %w", err)
		}
	}
	var key any
	if to.crv == X25519 {
		key = x25519.PublicKey(to.pub.Bytes())
	} else {
		pk, err := ecdsaPublic(to.pub)
		if err != nil {
			return nil, fmt.Errorf("jose: encrypt: %w", err)
		}
		key = pk
	}
	out, err := jwe.Encrypt(plaintext,
		jwe.WithKey(jwa.ECDH_ES_A256KW, key),
		jwe.WithContentEncryption(jwa.A256GCM),
		jwe.WithProtectedHeaders(hdr),
		jwe.WithCompact())
	if err != nil {
		return nil, fmt.Errorf("jose: encrypt: %w", err)
	}
	// What we produce must pass our own parser: the header is exactly the
	// one documented, whatever the library chose to add.
	if _, err := ParseJWE(out, typ); err != nil {
		return nil, fmt.Errorf("jose: encrypt: the JWE library produced a header FLX refuses: %w", err)
	}
	return out, nil
}

// ParseJWE checks the structure and header of a compact JWE without
// decrypting it:
//
//   - exactly five parts of canonical unpadded base64url (the JSON
//     serializations, and so several recipients, are refused);
//   - a protected header that is a JSON object whose members are only alg,
//     enc, epk, kid, typ and cty, each once; zip, jku, jwk, x5u, x5c, crit,
//     apu, apv, p2s, p2c, iv, tag and anything else are refused;
//   - alg exactly ECDH-ES+A256KW and enc exactly A256GCM (ErrUnsupportedAlg
//     otherwise: no "dir", no RSA, no PBES2, no CBC);
//   - epk a public JWK of exactly kty, crv, x (and y for EC) on X25519 or
//     P-256, a valid point and, for X25519, not of low order;
//   - typ equal to typ (ErrWrongType), a non-empty kid (ErrMissingKID);
//   - a 40-byte wrapped key, a 12-byte IV, a non-empty ciphertext and a
//     16-byte tag.
func ParseJWE(raw []byte, typ string) (*Encrypted, error) {
	parts, ok := splitParts(raw, 5)
	if !ok {
		return nil, fmt.Errorf("%w: not a compact JWE of five canonical base64url parts", ErrMalformed)
	}
	var dec [5][]byte
	for i, p := range parts {
		b, err := b64Canonical(p)
		if err != nil {
			return nil, fmt.Errorf("%w: JWE part %d: %v", ErrMalformed, i, err)
		}
		dec[i] = b
	}
	hdr, epk, err := parseJWEHeader(dec[0])
	if err != nil {
		return nil, err
	}
	switch {
	case hdr.Alg != KeyAlgECDHESA256KW:
		return nil, fmt.Errorf("%w: JWE alg %q", ErrUnsupportedAlg, hdr.Alg)
	case hdr.Enc != ContentEncA256GCM:
		return nil, fmt.Errorf("%w: JWE enc %q", ErrUnsupportedAlg, hdr.Enc)
	case hdr.Typ != typ:
		return nil, fmt.Errorf("%w: %q, want %q", ErrWrongType, hdr.Typ, typ)
	case hdr.KID == "":
		return nil, ErrMissingKID
	case epk == nil:
		return nil, fmt.Errorf("%w: JWE header without epk", ErrMalformed)
	case len(dec[1]) != 40:
		return nil, fmt.Errorf("%w: wrapped key of %d bytes, want 40", ErrMalformed, len(dec[1]))
	case len(dec[2]) != 12:
		return nil, fmt.Errorf("%w: IV of %d bytes, want 12", ErrMalformed, len(dec[2]))
	case len(dec[3]) == 0:
		return nil, fmt.Errorf("%w: empty ciphertext", ErrMalformed)
	case len(dec[4]) != 16:
		return nil, fmt.Errorf("%w: tag of %d bytes, want 16", ErrMalformed, len(dec[4]))
	}
	return &Encrypted{raw: raw, hdr: hdr, epk: epk}, nil
}

// Decrypt decrypts with k, which must carry the header's kid and be on the
// curve of the ephemeral key (ErrUnknownKey otherwise). Any failure of the
// decryption itself is ErrDecrypt.
func (e *Encrypted) Decrypt(k *EncPrivateKey) ([]byte, error) {
	if k == nil || k.kid != e.hdr.KID {
		return nil, fmt.Errorf("%w: JWE is for key %q", ErrUnknownKey, e.hdr.KID)
	}
	if k.crv != e.hdr.EPK {
		return nil, fmt.Errorf("%w: JWE ephemeral key is on %s, the key on %s", ErrUnknownKey, e.hdr.EPK, k.crv)
	}
	var key any
	if k.crv == X25519 {
		sk, err := x25519.NewKeyFromSeed(k.priv.Bytes())
		if err != nil {
			return nil, ErrDecrypt
		}
		key = sk
	} else {
		sk, err := ecdsaPrivate(k.priv)
		if err != nil {
			return nil, ErrDecrypt
		}
		key = sk
	}
	// The shared secret must not be all zero (the ephemeral point was
	// checked in ParseJWE; this holds the line if the check is ever lost).
	if _, err := k.priv.ECDH(e.epk); err != nil {
		return nil, ErrDecrypt
	}
	out, err := jwe.Decrypt(e.raw, jwe.WithKey(jwa.ECDH_ES_A256KW, key))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	if len(out) == 0 {
		return nil, ErrDecrypt
	}
	return out, nil
}

// splitParts splits a compact serialization into n parts, allowing only the
// base64url alphabet and the separating dots.
func splitParts(raw []byte, n int) ([][]byte, bool) {
	parts := make([][]byte, 0, n)
	start := 0
	for i, c := range raw {
		switch {
		case c == '.':
			if len(parts) == n-1 {
				return nil, false
			}
			parts = append(parts, raw[start:i])
			start = i + 1
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return nil, false
		}
	}
	if len(parts) != n-1 {
		return nil, false
	}
	parts = append(parts, raw[start:])
	return parts, len(parts[0]) > 0
}

var allowedJWEHeader = map[string]bool{"alg": true, "enc": true, "epk": true, "kid": true, "typ": true, "cty": true}

// parseJWEHeader reads the protected header: a JSON object with unique member
// names among allowedJWEHeader; every member but epk a string.
func parseJWEHeader(b []byte) (JWEHeader, *ecdh.PublicKey, error) {
	var h JWEHeader
	var epk *ecdh.PublicKey
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return h, nil, fmt.Errorf("%w: JWE header is not a JSON object", ErrMalformed)
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return h, nil, fmt.Errorf("%w: JWE header: %v", ErrMalformed, err)
		}
		name, _ := t.(string)
		if seen[name] {
			return h, nil, fmt.Errorf("%w: JWE header member %q appears twice", ErrMalformed, name)
		}
		seen[name] = true
		if !allowedJWEHeader[name] {
			return h, nil, fmt.Errorf("%w: %q", ErrForbiddenHeader, name)
		}
		if name == "epk" {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return h, nil, fmt.Errorf("%w: JWE header epk: %v", ErrMalformed, err)
			}
			crv, pub, err := parseEPK(raw)
			if err != nil {
				return h, nil, err
			}
			h.EPK, epk = crv, pub
			continue
		}
		var v string
		if err := dec.Decode(&v); err != nil {
			return h, nil, fmt.Errorf("%w: JWE header member %q is not a string", ErrMalformed, name)
		}
		switch name {
		case "alg":
			h.Alg = v
		case "enc":
			h.Enc = v
		case "kid":
			h.KID = v
		case "typ":
			h.Typ = v
		case "cty":
			h.Cty = v
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return h, nil, fmt.Errorf("%w: JWE header is not a JSON object", ErrMalformed)
	}
	if _, err := dec.Token(); err != io.EOF {
		return h, nil, fmt.Errorf("%w: trailing data after the JWE header", ErrMalformed)
	}
	return h, epk, nil
}

// parseEPK reads an ephemeral public key: exactly kty, crv, x (and y for EC).
func parseEPK(raw []byte) (Curve, *ecdh.PublicKey, error) {
	m, err := jwkMembers(raw)
	if err != nil {
		return "", nil, fmt.Errorf("%w: JWE epk: %v", ErrMalformed, err)
	}
	kty, _ := memberString(m, "kty", true)
	crv, _ := memberString(m, "crv", true)
	want := 3
	var point []byte
	switch {
	case kty == "OKP" && Curve(crv) == X25519:
		x, err := memberBytes(m, "x", 32)
		if err != nil {
			return "", nil, fmt.Errorf("%w: JWE epk: %v", ErrMalformed, err)
		}
		point = x
	case kty == "EC" && Curve(crv) == P256:
		want = 4
		x, errX := memberBytes(m, "x", 32)
		y, errY := memberBytes(m, "y", 32)
		if errX != nil || errY != nil {
			return "", nil, fmt.Errorf("%w: JWE epk: coordinates must be 32 bytes of base64url", ErrMalformed)
		}
		point = append(append([]byte{4}, x...), y...)
	default:
		return "", nil, fmt.Errorf("%w: JWE epk kty %q crv %q", ErrUnsupportedAlg, kty, crv)
	}
	if len(m) != want {
		return "", nil, fmt.Errorf("%w: JWE epk must carry exactly kty, crv and its coordinates", ErrMalformed)
	}
	pub, err := Curve(crv).ecdh().NewPublicKey(point)
	if err != nil {
		return "", nil, fmt.Errorf("%w: JWE epk is not a valid %s point", ErrMalformed, crv)
	}
	if Curve(crv) == X25519 && isLowOrderX25519(point) {
		return "", nil, fmt.Errorf("%w: JWE epk is an X25519 point of low order", ErrMalformed)
	}
	return Curve(crv), pub, nil
}
