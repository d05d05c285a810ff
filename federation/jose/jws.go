package jose

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"
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
	hdr     Header
	input   []byte // the signing input, header.payload, as received
	payload []byte
	sig     []byte
	sigBuf  [64]byte
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
	hdr, err := signedHeaders.encoded(k.alg, k.kid, typ)
	if err != nil {
		return nil, fmt.Errorf("jose: sign: %w", err)
	}
	hl, pl := len(hdr), b64.EncodedLen(len(payload))
	out := make([]byte, hl+1+pl, hl+1+pl+1+b64.EncodedLen(64))
	copy(out, hdr)
	out[hl] = '.'
	b64.Encode(out[hl+1:], payload)
	sig, err := k.sign(out)
	if err != nil {
		return nil, fmt.Errorf("jose: sign: %w", err)
	}
	out = append(out, '.')
	return b64.AppendEncode(out, sig), nil
}

// signedHeaders keeps the encoded protected headers Sign writes: a node
// signs with one or two keys and two or three typs, so the same few
// headers are marshalled and encoded once each. At most headerCacheSize
// are kept.
var signedHeaders = &headerEncodings{m: map[[3]string][]byte{}}

type headerEncodings struct {
	mu sync.RWMutex
	m  map[[3]string][]byte
}

// encoded returns the base64url form of {"alg","kid","typ"}; callers must
// not change it.
func (c *headerEncodings) encoded(alg Alg, kid, typ string) ([]byte, error) {
	key := [3]string{string(alg), kid, typ}
	c.mu.RLock()
	enc, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return enc, nil
	}
	hdr, err := json.Marshal(struct {
		Alg Alg    `json:"alg"`
		KID string `json:"kid"`
		Typ string `json:"typ"`
	}{alg, kid, typ})
	if err != nil {
		return nil, err
	}
	enc = b64.AppendEncode(nil, hdr)
	c.mu.Lock()
	if len(c.m) < headerCacheSize {
		c.m[key] = enc
	}
	c.mu.Unlock()
	return enc, nil
}

// sign signs a JWS signing input with the key's pinned algorithm: Ed25519,
// or ECDSA P-256 over SHA-256 as the fixed 64-byte R || S (RFC 7518 §3.4).
func (k *PrivateKey) sign(input []byte) ([]byte, error) {
	switch k.alg {
	case EdDSA:
		return ed25519.Sign(k.ed, input), nil
	case ES256:
		h := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, k.ec, h[:])
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	}
	return nil, ErrUnsupportedAlg
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
	payload, err := b64Canonical(parts[1])
	if err != nil || len(payload) == 0 {
		return nil, fmt.Errorf("%w: payload is empty or not canonical base64url", ErrMalformed)
	}
	// The signature (64 bytes for both algorithms) is decoded into the
	// token itself: one allocation less per parse.
	tok := &Token{payload: payload}
	var sig []byte
	if b64.DecodedLen(len(parts[2])) <= len(tok.sigBuf) {
		var n int
		n, err = b64.Decode(tok.sigBuf[:], parts[2])
		sig = tok.sigBuf[:n]
	} else {
		sig, err = b64Canonical(parts[2])
	}
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	hdr, err := headers.parse(parts[0])
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
	tok.hdr, tok.input, tok.sig = hdr, raw[:len(parts[0])+1+len(parts[1])], sig
	return tok, nil
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
	// The signature is checked here, on the parse above, with the key's
	// pinned algorithm: there is no second parser of the same bytes that
	// could read another header or payload.
	ok := false
	switch k.alg {
	case EdDSA:
		ok = len(t.sig) == ed25519.SignatureSize && ed25519.Verify(k.ed, t.input, t.sig)
	case ES256:
		if len(t.sig) == 64 {
			h := sha256.Sum256(t.input)
			ok = ecdsa.Verify(k.ec, h[:], new(big.Int).SetBytes(t.sig[:32]), new(big.Int).SetBytes(t.sig[32:]))
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s signature does not verify", ErrBadSignature, k.alg)
	}
	return t.payload, nil
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

// splitCompact splits header.payload.signature at its two dots. It does not
// test every byte against the base64url alphabet: Parse decodes the payload
// and the signature, and decoding refuses every byte outside the alphabet
// (padding included) but CR and LF, which encoding/base64 skips, so those
// two are refused here (one vectorised search each). The header is decoded
// unless its exact bytes are in headers, which holds only headers that
// decoded. A byte-by-byte check here read the whole envelope once more.
func splitCompact(raw []byte) ([3][]byte, bool) {
	var parts [3][]byte
	i := bytes.IndexByte(raw, '.')
	if i <= 0 {
		return parts, false
	}
	j := bytes.IndexByte(raw[i+1:], '.')
	if j < 0 {
		return parts, false
	}
	j += i + 1
	if bytes.IndexByte(raw[j+1:], '.') >= 0 || bytes.IndexByte(raw, '\n') >= 0 || bytes.IndexByte(raw, '\r') >= 0 {
		return parts, false
	}
	parts[0], parts[1], parts[2] = raw[:i], raw[i+1:j], raw[j+1:]
	return parts, true
}

// headerCache remembers the protected headers parsed most recently, keyed by
// their exact base64url bytes: a peer signs everything with one or two keys,
// so the same few headers come again and again. Only headers that parsed
// are kept, and at most headerCacheSize of them (then nothing more is
// added), so a peer sending many distinct headers costs a parse each.
type headerCache struct {
	mu sync.RWMutex
	m  map[string]Header
}

const headerCacheSize = 256

var headers = &headerCache{m: map[string]Header{}}

// parse returns the header whose base64url form is enc, decoding it only
// when it is not held.
func (c *headerCache) parse(enc []byte) (Header, error) {
	c.mu.RLock()
	h, ok := c.m[string(enc)]
	c.mu.RUnlock()
	if ok {
		return h, nil
	}
	dec, err := b64Canonical(enc)
	if err != nil {
		return h, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	h, err = parseHeader(dec)
	if err != nil {
		return h, err
	}
	c.mu.Lock()
	if len(c.m) < headerCacheSize {
		c.m[string(enc)] = h
	}
	c.mu.Unlock()
	return h, nil
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
