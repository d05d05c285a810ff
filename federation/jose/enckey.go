package jose

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Encryption keys: the keys a member publishes so that others can encrypt to
// it (carried bundles). They are separate from signing keys: a key is used
// for one purpose only, and its JWK says which ("use":"enc").

// KeyAlgECDHESA256KW is the one JWE key management algorithm FLX uses:
// ECDH-ES with an ephemeral key, Concat KDF, and AES-256 key wrap of the
// content key (RFC 7518 §4.6).
const KeyAlgECDHESA256KW = "ECDH-ES+A256KW"

// ContentEncA256GCM is the one JWE content encryption FLX uses: AES-256-GCM
// (RFC 7518 §5.3).
const ContentEncA256GCM = "A256GCM"

// Curve is the curve of an encryption key.
type Curve string

// The curves FLX encrypts to. X25519 is the default; P-256 is there for
// members whose key custody (an HSM, a FIPS policy) cannot hold X25519.
const (
	X25519 Curve = "X25519"
	P256   Curve = "P-256"
)

// Supported reports whether c is one of the curves FLX uses.
func (c Curve) Supported() bool { return c == X25519 || c == P256 }

func (c Curve) ecdh() ecdh.Curve {
	if c == P256 {
		return ecdh.P256()
	}
	return ecdh.X25519()
}

// pointSize is the size of the public point's coordinate(s) in a JWK.
func (c Curve) coordSize() int { return 32 }

// EncPublicKey is a public encryption key (ECDH-ES+A256KW) with its key id and
// optional validity window. It is immutable; the With* methods return copies.
type EncPublicKey struct {
	crv Curve
	kid string
	nbf time.Time
	exp time.Time
	pub *ecdh.PublicKey
}

// EncPrivateKey is a private encryption key. Like PrivateKey it has no
// MarshalJSON: use MarshalPrivateEncJWK or SaveEncKey.
type EncPrivateKey struct {
	crv  Curve
	kid  string
	priv *ecdh.PrivateKey
}

// GenerateEncKey creates a new encryption key on crv ("" means X25519). Its
// key id is the RFC 7638 thumbprint of the public key.
func GenerateEncKey(crv Curve) (*EncPrivateKey, error) {
	if crv == "" {
		crv = X25519
	}
	if !crv.Supported() {
		return nil, fmt.Errorf("%w: cannot generate encryption keys on %q", ErrUnsupportedAlg, crv)
	}
	priv, err := crv.ecdh().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("jose: generate %s key: %w", crv, err)
	}
	k := &EncPrivateKey{crv: crv, priv: priv}
	k.kid = k.Public().Thumbprint()
	return k, nil
}

// Curve returns the key's curve.
func (k *EncPrivateKey) Curve() Curve { return k.crv }

// KID returns the key id.
func (k *EncPrivateKey) KID() string { return k.kid }

// WithKID returns a copy of k with another key id.
func (k *EncPrivateKey) WithKID(kid string) *EncPrivateKey {
	c := *k
	c.kid = kid
	return &c
}

// Public returns the public half, with the same kid and no validity window.
func (k *EncPrivateKey) Public() *EncPublicKey {
	return &EncPublicKey{crv: k.crv, kid: k.kid, pub: k.priv.PublicKey()}
}

// Curve returns the key's curve.
func (k *EncPublicKey) Curve() Curve { return k.crv }

// KID returns the key id.
func (k *EncPublicKey) KID() string { return k.kid }

// NotBefore returns the start of the validity window (zero: unbounded).
func (k *EncPublicKey) NotBefore() time.Time { return k.nbf }

// Expires returns the end of the validity window (zero: unbounded).
func (k *EncPublicKey) Expires() time.Time { return k.exp }

// ValidAt reports whether t falls inside [nbf, exp), widened by skew on both
// sides (as PublicKey.ValidAt).
func (k *EncPublicKey) ValidAt(t time.Time, skew time.Duration) bool {
	if !k.nbf.IsZero() && t.Add(skew).Before(k.nbf) {
		return false
	}
	if !k.exp.IsZero() && !t.Add(-skew).Before(k.exp) {
		return false
	}
	return true
}

// WithKID returns a copy of k with another key id.
func (k *EncPublicKey) WithKID(kid string) *EncPublicKey {
	c := *k
	c.kid = kid
	return &c
}

// WithValidity returns a copy of k valid from nbf until exp (zero values mean
// unbounded), truncated to whole seconds.
func (k *EncPublicKey) WithValidity(nbf, exp time.Time) *EncPublicKey {
	c := *k
	c.nbf, c.exp = truncSec(nbf), truncSec(exp)
	return &c
}

// SameKey reports whether k and o hold the same curve and point.
func (k *EncPublicKey) SameKey(o *EncPublicKey) bool {
	return k != nil && o != nil && k.crv == o.crv && k.pub.Equal(o.pub)
}

// coords returns the JWK coordinates: x for X25519, x and y for P-256.
func (k *EncPublicKey) coords() (x, y []byte) {
	raw := k.pub.Bytes()
	if k.crv == P256 { // 0x04 || X || Y
		return raw[1:33], raw[33:65]
	}
	return raw, nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint, base64url without
// padding: FLX's default kid.
func (k *EncPublicKey) Thumbprint() string {
	x, y := k.coords()
	var canon string
	if k.crv == P256 {
		canon = `{"crv":"P-256","kty":"EC","x":"` + b64.EncodeToString(x) + `","y":"` + b64.EncodeToString(y) + `"}`
	} else {
		canon = `{"crv":"X25519","kty":"OKP","x":"` + b64.EncodeToString(x) + `"}`
	}
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}

// encJWK is the complete list of members FLX publishes for an encryption
// key; it has no field for private material.
type encJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	KID string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	NBF int64  `json:"nbf,omitempty"`
	EXP int64  `json:"exp,omitempty"`
}

type encPrivateJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	D   string `json:"d"`
	KID string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

func (k *EncPublicKey) jwk() encJWK {
	x, y := k.coords()
	j := encJWK{Crv: string(k.crv), X: b64.EncodeToString(x), KID: k.kid, Alg: KeyAlgECDHESA256KW, Use: "enc"}
	if k.crv == P256 {
		j.Kty, j.Y = "EC", b64.EncodeToString(y)
	} else {
		j.Kty = "OKP"
	}
	if !k.nbf.IsZero() {
		j.NBF = k.nbf.Unix()
	}
	if !k.exp.IsZero() {
		j.EXP = k.exp.Unix()
	}
	return j
}

// MarshalJSON encodes k as a public JWK with exactly the members kty, crv, x,
// y (P-256 only), kid, alg ("ECDH-ES+A256KW"), use ("enc") and, when set,
// nbf and exp.
func (k EncPublicKey) MarshalJSON() ([]byte, error) {
	if !k.crv.Supported() || k.pub == nil {
		return nil, fmt.Errorf("jose: marshal encryption JWK: %w %q", ErrUnsupportedAlg, k.crv)
	}
	return json.Marshal(k.jwk())
}

// UnmarshalJSON parses a published encryption JWK (ParsePublishedEncJWK).
func (k *EncPublicKey) UnmarshalJSON(data []byte) error {
	p, err := ParsePublishedEncJWK(data)
	if err != nil {
		return err
	}
	*k = *p
	return nil
}

// ParsePublishedEncJWK parses one public encryption key as a manifest
// publishes it: "alg" exactly ECDH-ES+A256KW, "use" exactly "enc" (both
// required: a key is never used for two purposes), kty OKP with crv X25519 or
// kty EC with crv P-256 (the point is validated), an explicit non-empty
// "kid", optional nbf/exp, no private member, no member twice. Other members
// are ignored (RFC 7517 §4); member names are case-sensitive.
func ParsePublishedEncJWK(data []byte) (*EncPublicKey, error) {
	m, err := jwkMembers(data)
	if err != nil {
		return nil, err
	}
	for _, name := range privateMembers {
		if _, ok := m[name]; ok {
			return nil, jwkErr("public JWK carries private member %q", name)
		}
	}
	return encPublicFromMembers(m)
}

func encPublicFromMembers(m map[string]json.RawMessage) (*EncPublicKey, error) {
	kty, err := memberString(m, "kty", true)
	if err != nil {
		return nil, err
	}
	crv, err := memberString(m, "crv", true)
	if err != nil {
		return nil, err
	}
	alg, err := memberString(m, "alg", true)
	if err != nil {
		return nil, err
	}
	if alg != KeyAlgECDHESA256KW {
		return nil, fmt.Errorf("%w: %w: encryption key alg %q, want %q", ErrJWK, ErrUnsupportedAlg, alg, KeyAlgECDHESA256KW)
	}
	use, err := memberString(m, "use", true)
	if err != nil {
		return nil, err
	}
	if use != "enc" {
		return nil, jwkErr(`an encryption key needs "use":"enc", got %q`, use)
	}
	kid, err := memberString(m, "kid", true)
	if err != nil {
		return nil, err
	}
	if _, ok := m["key_ops"]; ok {
		return nil, jwkErr(`"key_ops" is not allowed on an encryption key (use "use":"enc")`)
	}
	k := &EncPublicKey{crv: Curve(crv), kid: kid}
	var point []byte
	switch {
	case kty == "OKP" && k.crv == X25519:
		if point, err = memberBytes(m, "x", 32); err != nil {
			return nil, err
		}
		if _, ok := m["y"]; ok {
			return nil, jwkErr(`an X25519 key has no "y"`)
		}
	case kty == "EC" && k.crv == P256:
		x, err := memberBytes(m, "x", 32)
		if err != nil {
			return nil, err
		}
		y, err := memberBytes(m, "y", 32)
		if err != nil {
			return nil, err
		}
		point = append(append([]byte{4}, x...), y...)
	default:
		return nil, jwkErr("encryption key kty %q crv %q: want OKP/X25519 or EC/P-256", kty, crv)
	}
	if k.pub, err = k.crv.ecdh().NewPublicKey(point); err != nil {
		return nil, jwkErr("%s point is not a valid public key", crv)
	}
	if k.crv == X25519 && isLowOrderX25519(point) {
		return nil, jwkErr("X25519 point of low order")
	}
	if k.nbf, err = memberTime(m, "nbf"); err != nil {
		return nil, err
	}
	if k.exp, err = memberTime(m, "exp"); err != nil {
		return nil, err
	}
	if !k.nbf.IsZero() && !k.exp.IsZero() && !k.nbf.Before(k.exp) {
		return nil, jwkErr(`"nbf" must be before "exp"`)
	}
	return k, nil
}

// isLowOrderX25519 reports whether an X25519 public value yields an all-zero
// shared secret with every private key (RFC 7748 §6.1): such a "key" would
// make the content key predictable.
func isLowOrderX25519(point []byte) bool {
	probe, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return true
	}
	pub, err := ecdh.X25519().NewPublicKey(point)
	if err != nil {
		return true
	}
	_, err = probe.ECDH(pub) // crypto/ecdh refuses an all-zero result
	return err != nil
}

// EncKeySet is a JWKS of encryption keys, encoded as {"keys":[...]}.
type EncKeySet []*EncPublicKey

// MarshalJSON encodes the set as {"keys":[...]}.
func (s EncKeySet) MarshalJSON() ([]byte, error) {
	keys := make([]encJWK, 0, len(s))
	for _, k := range s {
		if k == nil || !k.crv.Supported() || k.pub == nil {
			return nil, fmt.Errorf("jose: marshal encryption JWKS: %w", ErrUnsupportedAlg)
		}
		keys = append(keys, k.jwk())
	}
	return json.Marshal(struct {
		Keys []encJWK `json:"keys"`
	}{keys})
}

// UnmarshalJSON parses the set with ParseEncKeySet.
func (s *EncKeySet) UnmarshalJSON(data []byte) error {
	ks, err := ParseEncKeySet(data)
	if err != nil {
		return err
	}
	*s = ks
	return nil
}

// ParseEncKeySet parses a JWKS of encryption keys: exactly {"keys":[...]},
// each key parsed with ParsePublishedEncJWK, no kid twice.
func ParseEncKeySet(data []byte) (EncKeySet, error) {
	return parseKeySet(data, "encryption JWKS", ParsePublishedEncJWK)
}

// Key returns the key with the given kid, or nil.
func (s EncKeySet) Key(kid string) *EncPublicKey {
	for _, k := range s {
		if k != nil && k.kid == kid {
			return k
		}
	}
	return nil
}

// MarshalPrivateEncJWK encodes k as a private JWK (public members plus "d").
// Treat the result as a secret.
func MarshalPrivateEncJWK(k *EncPrivateKey) ([]byte, error) {
	pub := k.Public().jwk()
	return json.Marshal(encPrivateJWK{
		Kty: pub.Kty, Crv: pub.Crv, X: pub.X, Y: pub.Y, D: b64.EncodeToString(k.priv.Bytes()),
		KID: k.kid, Alg: KeyAlgECDHESA256KW, Use: "enc",
	})
}

// ParsePrivateEncJWK parses a private encryption JWK written by
// MarshalPrivateEncJWK, checking that "d" matches the public members.
func ParsePrivateEncJWK(data []byte) (*EncPrivateKey, error) {
	m, err := jwkMembers(data)
	if err != nil {
		return nil, err
	}
	pub, err := encPublicFromMembers(m)
	if err != nil {
		return nil, err
	}
	d, err := memberBytes(m, "d", pub.crv.coordSize())
	if err != nil {
		return nil, err
	}
	priv, err := pub.crv.ecdh().NewPrivateKey(d)
	if err != nil {
		return nil, jwkErr("invalid %s private key", pub.crv)
	}
	k := &EncPrivateKey{crv: pub.crv, kid: pub.kid, priv: priv}
	if !k.Public().SameKey(pub) {
		return nil, jwkErr(`"d" does not match the public key`)
	}
	return k, nil
}

// SaveEncKey writes k as a private JWK to a new file with mode 0600; it
// refuses to overwrite an existing file.
func SaveEncKey(path string, k *EncPrivateKey) error {
	data, err := MarshalPrivateEncJWK(k)
	if err != nil {
		return err
	}
	return writeSecret(path, data, "save encryption key")
}

// LoadEncKey reads a private encryption JWK file. On Unix it refuses a file
// that group or others may access.
func LoadEncKey(path string) (*EncPrivateKey, error) {
	data, err := readSecret(path, "load encryption key")
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateEncJWK(data)
	if err != nil {
		return nil, fmt.Errorf("jose: load encryption key %s: %w", path, err)
	}
	return k, nil
}

// ecdsaPublic converts a P-256 ECDH key to the form the JWE library takes.
func ecdsaPublic(pub *ecdh.PublicKey) (*ecdsa.PublicKey, error) {
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub.Bytes())
}

// errNotP256 cannot happen for keys built by this package.
var errNotP256 = errors.New("jose: not a P-256 key")

func ecdsaPrivate(priv *ecdh.PrivateKey) (*ecdsa.PrivateKey, error) {
	if priv.Curve() != ecdh.P256() {
		return nil, errNotP256
	}
	return ecdsa.ParseRawPrivateKey(elliptic.P256(), priv.Bytes())
}
