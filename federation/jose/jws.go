package jose

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Verification failures. Callers map them to their own error codes with
// errors.Is; a failure returned by a caller's key lookup is wrapped as is.
var (
	// ErrMalformed: not a canonical compact JWS with one signature, a header
	// that is not a JSON object, duplicate header members, an empty payload.
	ErrMalformed = errors.New("jose: malformed JWS")
	// ErrForbiddenHeader: a header member other than alg, kid and typ
	// (notably jku, jwk, x5u, x5c, x5t, crit, b64).
	ErrForbiddenHeader = errors.New("jose: forbidden JWS header parameter")
	// ErrUnsupportedAlg: "alg" is not EdDSA or ES256.
	ErrUnsupportedAlg = errors.New("jose: unsupported algorithm")
	// ErrAlgMismatch: "alg" is allowed but is not the algorithm pinned on
	// the key the kid names.
	ErrAlgMismatch = errors.New("jose: algorithm does not match the key")
	// ErrWrongType: "typ" is missing or not the expected one.
	ErrWrongType = errors.New("jose: unexpected JWS type")
	// ErrMissingKID: no "kid" header.
	ErrMissingKID = errors.New("jose: missing kid")
	// ErrUnknownKey: the lookup found no key for the kid, or the key given
	// to Token.Verify has another kid.
	ErrUnknownKey = errors.New("jose: unknown key")
	// ErrBadSignature: the signature does not verify under the key.
	ErrBadSignature = errors.New("jose: bad signature")
)

// Header is the protected header of a parsed token. FLX headers carry
// exactly these three members.
type Header struct {
	Alg Alg
	KID string
	Typ string
}

// Token is a compact JWS whose structure and header passed every check but
// whose signature has NOT been verified yet.
type Token struct {
	raw     []byte
	hdr     Header
	payload []byte
}

// Header returns the (checked, unauthenticated) protected header.
func (t *Token) Header() Header { return t.hdr }

// UnverifiedPayload returns the payload before any signature check. Use it
// only to choose which key to verify with (e.g. read "iss"), never to accept
// anything.
func (t *Token) UnverifiedPayload() []byte { return t.payload }

// Sign signs payload as a compact JWS with the protected header
// {"alg":<key alg>,"kid":<key kid>,"typ":typ}.
func Sign(payload []byte, typ string, k *PrivateKey) ([]byte, error) {
	if k == nil || !k.alg.Supported() {
		return nil, fmt.Errorf("jose: sign: %w", ErrUnsupportedAlg)
	}
	if k.kid == "" {
		return nil, fmt.Errorf("jose: sign: %w", ErrMissingKID)
	}
	if typ == "" || len(payload) == 0 {
		return nil, fmt.Errorf("jose: sign: typ and payload are required")
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, k.kid); err != nil {
		return nil, fmt.Errorf("jose: sign: %w", err)
	}
	if err := hdr.Set(jws.TypeKey, typ); err != nil {
		return nil, fmt.Errorf("jose: sign: %w", err)
	}
	out, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(k.alg), k.signer(), jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return nil, fmt.Errorf("jose: sign: %w", err)
	}
	return out, nil
}

// Parse checks the structure and header of a compact JWS without verifying
// its signature: exactly three canonical base64url parts (so exactly one
// signature; the JSON serializations are refused), a header with only
// alg/kid/typ, alg in the allow-list, typ equal to typ, a non-empty kid, a
// non-empty payload and signature.
func Parse(raw []byte, typ string) (*Token, error) {
	parts, ok := splitCompact(raw)
	if !ok {
		return nil, fmt.Errorf("%w: not a compact JWS of three canonical base64url parts", ErrMalformed)
	}
	hdrJSON, err := b64Canonical(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	payload, err := b64Canonical(parts[1])
	if err != nil || len(payload) == 0 {
		return nil, fmt.Errorf("%w: payload is empty or not canonical base64url", ErrMalformed)
	}
	sig, err := b64Canonical(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	hdr, err := parseHeader(hdrJSON)
	if err != nil {
		return nil, err
	}
	if !hdr.Alg.Supported() {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlg, hdr.Alg)
	}
	if len(sig) == 0 {
		return nil, fmt.Errorf("%w: empty signature", ErrMalformed)
	}
	if hdr.Typ != typ {
		return nil, fmt.Errorf("%w: %q, want %q", ErrWrongType, hdr.Typ, typ)
	}
	if hdr.KID == "" {
		return nil, ErrMissingKID
	}
	return &Token{raw: raw, hdr: hdr, payload: payload}, nil
}

// Verify checks the token's signature with k and returns the payload. k must
// carry the token's kid and its pinned algorithm must equal the header alg;
// the signature is then checked with that pinned algorithm only.
func (t *Token) Verify(k *PublicKey) ([]byte, error) {
	if k == nil {
		return nil, ErrUnknownKey
	}
	if k.kid != t.hdr.KID {
		return nil, fmt.Errorf("%w: token kid %q, key kid %q", ErrUnknownKey, t.hdr.KID, k.kid)
	}
	if !k.alg.Supported() {
		return nil, fmt.Errorf("%w: key pinned to %q", ErrUnsupportedAlg, k.alg)
	}
	if k.alg != t.hdr.Alg {
		return nil, fmt.Errorf("%w: header %q, key %q", ErrAlgMismatch, t.hdr.Alg, k.alg)
	}
	msg := jws.NewMessage()
	payload, err := jws.Verify(t.raw, jws.WithCompact(), jws.WithMessage(msg),
		jws.WithKey(jwa.SignatureAlgorithm(k.alg), k.CryptoPublicKey()))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	// Cross-check the library's own parse against ours, so that what it
	// verified is what we checked: one signature, same alg, kid, typ and
	// payload. (A parser differential here would be a library bug.)
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return nil, fmt.Errorf("%w: %d signatures, want exactly 1", ErrMalformed, len(sigs))
	}
	ph := sigs[0].ProtectedHeaders()
	if Alg(ph.Algorithm()) != t.hdr.Alg || ph.KeyID() != t.hdr.KID || ph.Type() != t.hdr.Typ || !bytes.Equal(payload, t.payload) {
		return nil, fmt.Errorf("%w: header or payload read differently by the JWS library", ErrMalformed)
	}
	return payload, nil
}

// Verify parses raw (see Parse), looks up the verification key by the
// header kid — the only place a key may come from — and verifies with it
// (see Token.Verify). It returns the payload and the key used. An error
// from lookup is returned wrapped, so callers can recognise their own errors;
// a nil key with a nil error becomes ErrUnknownKey.
func Verify(raw []byte, typ string, lookup func(kid string) (*PublicKey, error)) ([]byte, *PublicKey, error) {
	tok, err := Parse(raw, typ)
	if err != nil {
		return nil, nil, err
	}
	k, err := lookup(tok.hdr.KID)
	if err != nil {
		return nil, nil, fmt.Errorf("jose: key lookup for kid %q: %w", tok.hdr.KID, err)
	}
	if k == nil {
		return nil, nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, tok.hdr.KID)
	}
	payload, err := tok.Verify(k)
	if err != nil {
		return nil, nil, err
	}
	return payload, k, nil
}

// splitCompact splits header.payload.signature, allowing only the base64url
// alphabet (no whitespace, padding or other characters).
func splitCompact(raw []byte) ([3][]byte, bool) {
	var parts [3][]byte
	n, start := 0, 0
	for i, c := range raw {
		switch {
		case c == '.':
			if n == 2 {
				return parts, false
			}
			parts[n] = raw[start:i]
			n++
			start = i + 1
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return parts, false
		}
	}
	if n != 2 {
		return parts, false
	}
	parts[2] = raw[start:]
	return parts, len(parts[0]) > 0
}

// b64Canonical decodes unpadded base64url and refuses non-canonical
// encodings (stray bits in the last character), so that each value has
// exactly one encoding.
func b64Canonical(s []byte) ([]byte, error) {
	out := make([]byte, b64.DecodedLen(len(s)))
	n, err := b64.Decode(out, s)
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}

var allowedHeader = map[string]bool{"alg": true, "kid": true, "typ": true}

// parseHeader reads the protected header: a JSON object with unique member
// names, only alg/kid/typ, each a string.
func parseHeader(b []byte) (Header, error) {
	var h Header
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return h, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	seen := make(map[string]bool, 3)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return h, fmt.Errorf("%w: header: %v", ErrMalformed, err)
		}
		name, _ := t.(string)
		if seen[name] {
			return h, fmt.Errorf("%w: header member %q appears twice", ErrMalformed, name)
		}
		seen[name] = true
		if !allowedHeader[name] {
			return h, fmt.Errorf("%w: %q", ErrForbiddenHeader, name)
		}
		var v string
		if err := dec.Decode(&v); err != nil {
			return h, fmt.Errorf("%w: header member %q is not a string", ErrMalformed, name)
		}
		switch name {
		case "alg":
			h.Alg = Alg(v)
		case "kid":
			h.KID = v
		case "typ":
			h.Typ = v
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return h, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	if _, err := dec.Token(); err != io.EOF {
		return h, fmt.Errorf("%w: trailing data after header", ErrMalformed)
	}
	return h, nil
}
