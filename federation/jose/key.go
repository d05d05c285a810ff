package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"
)

// Alg is a JWS signature algorithm FLX accepts.
type Alg string

// The only algorithms FLX signs or verifies with. Everything else ("none",
// HS*, RS*, PS*, ES384, ...) is refused with ErrUnsupportedAlg.
const (
	EdDSA Alg = "EdDSA" // Ed25519; the default
	ES256 Alg = "ES256" // ECDSA over P-256 with SHA-256
)

// Supported reports whether a is one of the allowed algorithms.
func (a Alg) Supported() bool { return a == EdDSA || a == ES256 }

var b64 = base64.RawURLEncoding.Strict()

// PublicKey is a public signing key with its pinned algorithm, key id and
// optional validity window. It is immutable; the With* methods return copies.
type PublicKey struct {
	alg Alg
	kid string
	nbf time.Time // zero: no lower bound
	exp time.Time // zero: no upper bound
	ed  ed25519.PublicKey
	ec  *ecdsa.PublicKey
}

// PrivateKey is a signing key with its pinned algorithm and key id.
// It deliberately has no MarshalJSON: use MarshalPrivateJWK or SavePrivateKey,
// so that private material is never encoded by accident.
type PrivateKey struct {
	alg Alg
	kid string
	ed  ed25519.PrivateKey
	ec  *ecdsa.PrivateKey
}

// GenerateKey creates a new signing key. alg "" means EdDSA. The key id is
// the RFC 7638 thumbprint of the public key.
func GenerateKey(alg Alg) (*PrivateKey, error) {
	if alg == "" {
		alg = EdDSA
	}
	k := &PrivateKey{alg: alg}
	switch alg {
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("jose: generate Ed25519 key: %w", err)
		}
		k.ed = priv
	case ES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("jose: generate P-256 key: %w", err)
		}
		k.ec = priv
	default:
		return nil, fmt.Errorf("%w: cannot generate %q keys", ErrUnsupportedAlg, alg)
	}
	k.kid = k.Public().Thumbprint()
	return k, nil
}

// Alg returns the key's pinned algorithm.
func (k *PrivateKey) Alg() Alg { return k.alg }

// KID returns the key id placed in the "kid" header of what this key signs.
func (k *PrivateKey) KID() string { return k.kid }

// WithKID returns a copy of k with another key id.
func (k *PrivateKey) WithKID(kid string) *PrivateKey {
	c := *k
	c.kid = kid
	return &c
}

// Public returns the public half, with the same alg and kid and no validity
// window (set one with WithValidity before publishing it in a manifest).
func (k *PrivateKey) Public() *PublicKey {
	p := &PublicKey{alg: k.alg, kid: k.kid}
	switch k.alg {
	case EdDSA:
		p.ed = k.ed.Public().(ed25519.PublicKey)
	case ES256:
		p.ec = &k.ec.PublicKey
	}
	return p
}

// signer returns the raw key (the tests sign with jwx through it).
func (k *PrivateKey) signer() crypto.Signer {
	if k.alg == EdDSA {
		return k.ed
	}
	return k.ec
}

// Alg returns the key's pinned algorithm.
func (k *PublicKey) Alg() Alg { return k.alg }

// KID returns the key id.
func (k *PublicKey) KID() string { return k.kid }

// NotBefore returns the start of the validity window (zero: unbounded).
func (k *PublicKey) NotBefore() time.Time { return k.nbf }

// Expires returns the end of the validity window (zero: unbounded). The key
// is no longer valid at that instant.
func (k *PublicKey) Expires() time.Time { return k.exp }

// ValidAt reports whether t falls inside [nbf, exp), widened by skew on both
// sides so that a peer whose clock is slightly off can still use a freshly
// published key and an about-to-expire one.
func (k *PublicKey) ValidAt(t time.Time, skew time.Duration) bool {
	if !k.nbf.IsZero() && t.Add(skew).Before(k.nbf) {
		return false
	}
	if !k.exp.IsZero() && !t.Add(-skew).Before(k.exp) {
		return false
	}
	return true
}

// WithKID returns a copy of k with another key id.
func (k *PublicKey) WithKID(kid string) *PublicKey {
	c := *k
	c.kid = kid
	return &c
}

// WithValidity returns a copy of k valid from nbf until exp (zero values mean
// unbounded). JWK nbf/exp carry whole seconds, so both are truncated.
func (k *PublicKey) WithValidity(nbf, exp time.Time) *PublicKey {
	c := *k
	c.nbf, c.exp = truncSec(nbf), truncSec(exp)
	return &c
}

func truncSec(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.Unix(t.Unix(), 0).UTC()
}

// CryptoPublicKey returns the standard-library key: ed25519.PublicKey or
// *ecdsa.PublicKey.
func (k *PublicKey) CryptoPublicKey() crypto.PublicKey {
	if k.alg == EdDSA {
		return k.ed
	}
	return k.ec
}

// SameKey reports whether k and o hold the same algorithm and key material
// (kid and validity are not compared).
func (k *PublicKey) SameKey(o *PublicKey) bool {
	if k == nil || o == nil || k.alg != o.alg {
		return false
	}
	if k.alg == EdDSA {
		return k.ed.Equal(o.ed)
	}
	return k.ec.Equal(o.ec)
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint, base64url without
// padding. FLX uses it as the default kid.
func (k *PublicKey) Thumbprint() string {
	var canon string
	switch k.alg {
	case EdDSA:
		canon = `{"crv":"Ed25519","kty":"OKP","x":"` + b64.EncodeToString(k.ed) + `"}`
	case ES256:
		x, y := ecXY(k.ec)
		canon = `{"crv":"P-256","kty":"EC","x":"` + b64.EncodeToString(x) + `","y":"` + b64.EncodeToString(y) + `"}`
	}
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}

// ecXY returns the fixed-length (32-byte) big-endian coordinates of a P-256 key.
func ecXY(pub *ecdsa.PublicKey) (x, y []byte) {
	raw, err := pub.Bytes() // 0x04 || X || Y
	if err != nil || len(raw) != 65 {
		return nil, nil
	}
	return raw[1:33], raw[33:]
}
