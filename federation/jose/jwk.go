package jose

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/familylinks/flx/federation/keyfile"
)

// publicJWK is the complete list of members FLX publishes for a key. It has
// no field for private material, so marshalling one cannot leak it.
type publicJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	KID string `json:"kid"`
	Alg Alg    `json:"alg"`
	Use string `json:"use"`
	NBF int64  `json:"nbf,omitempty"` // unix seconds
	EXP int64  `json:"exp,omitempty"` // unix seconds
}

// privateJWK is what SavePrivateKey writes: the public members plus "d".
type privateJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	D   string `json:"d"`
	KID string `json:"kid"`
	Alg Alg    `json:"alg"`
	Use string `json:"use"`
}

// privateMembers are JWK members that carry secret material (RFC 7518 §6).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

func (k *PublicKey) jwk() publicJWK {
	j := publicJWK{KID: k.kid, Alg: k.alg, Use: "sig"}
	switch k.alg {
	case EdDSA:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64.EncodeToString(k.ed)
	case ES256:
		x, y := ecXY(k.ec)
		j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", b64.EncodeToString(x), b64.EncodeToString(y)
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
// y (EC only), kid, alg, use ("sig") and, when set, FLX's nbf and exp (unix
// seconds).
func (k PublicKey) MarshalJSON() ([]byte, error) {
	if !k.alg.Supported() {
		return nil, fmt.Errorf("jose: marshal JWK: %w %q", ErrUnsupportedAlg, k.alg)
	}
	return json.Marshal(k.jwk())
}

// UnmarshalJSON parses a public JWK with the rules of ParsePublicJWK.
func (k *PublicKey) UnmarshalJSON(data []byte) error {
	p, err := ParsePublicJWK(data)
	if err != nil {
		return err
	}
	*k = *p
	return nil
}

// ErrJWK marks every JWK and JWKS parse failure.
var ErrJWK = errors.New("jose: invalid JWK")

func jwkErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrJWK, fmt.Sprintf(format, args...))
}

// ParsePublicJWK parses one public JWK. It requires "alg" (EdDSA with kty OKP
// and crv Ed25519, or ES256 with kty EC and crv P-256), validates the point,
// refuses any private member ("d", ...), requires "use" to be "sig" and
// "key_ops" to be ["verify"] when present, and reads FLX's optional nbf/exp
// (integer unix seconds). A missing "kid" defaults to the RFC 7638
// thumbprint. Other members are ignored (RFC 7517 §4); member names are
// case-sensitive ("KID" is an unknown member, not "kid"), and a member name
// twice is refused.
//
// A key published in a JWKS (a manifest's jwks) must carry its kid
// explicitly: see ParsePublishedJWK.
func ParsePublicJWK(data []byte) (*PublicKey, error) {
	return parsePublic(data, false)
}

// ParsePublishedJWK is ParsePublicJWK for a key published in a federation
// manifest: it also requires an explicit, non-empty "kid" (FLX-KEY-002), so
// that no verifier ever has to derive a key's id. ParseKeySet, and so the
// manifest's jwks, parses every key with it.
func ParsePublishedJWK(data []byte) (*PublicKey, error) {
	return parsePublic(data, true)
}

func parsePublic(data []byte, requireKID bool) (*PublicKey, error) {
	m, err := jwkMembers(data)
	if err != nil {
		return nil, err
	}
	for _, name := range privateMembers {
		if _, ok := m[name]; ok {
			return nil, jwkErr("public JWK carries private member %q", name)
		}
	}
	if _, ok := m["kid"]; requireKID && !ok {
		return nil, jwkErr(`a published key needs an explicit "kid"`)
	}
	return publicFromMembers(m, "verify")
}

func jwkMembers(data []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, jwkErr("not a JSON object")
	}
	if name, dup := DuplicateMember(data); dup {
		return nil, jwkErr("member %q appears twice", name)
	}
	return m, nil
}

// DuplicateMember reports a member name that appears twice in the top-level
// object of data, which must be valid JSON. (encoding/json keeps the last
// one, so two parsers could read two different keys.)
func DuplicateMember(data []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		name, _ := t.(string)
		if seen[name] {
			return name, true
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

func memberString(m map[string]json.RawMessage, name string, required bool) (string, error) {
	raw, ok := m[name]
	if !ok {
		if required {
			return "", jwkErr("missing %q", name)
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", jwkErr("%q is not a string", name)
	}
	if required && s == "" {
		return "", jwkErr("empty %q", name)
	}
	return s, nil
}

func memberTime(m map[string]json.RawMessage, name string) (time.Time, error) {
	raw, ok := m[name]
	if !ok {
		return time.Time{}, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil || n <= 0 {
		return time.Time{}, jwkErr("%q must be a positive integer (unix seconds)", name)
	}
	return time.Unix(n, 0).UTC(), nil
}

func memberBytes(m map[string]json.RawMessage, name string, size int) ([]byte, error) {
	s, err := memberString(m, name, true)
	if err != nil {
		return nil, err
	}
	b, err := b64.DecodeString(s)
	if err != nil || len(b) != size {
		return nil, jwkErr("%q must be %d bytes of unpadded base64url", name, size)
	}
	return b, nil
}

func publicFromMembers(m map[string]json.RawMessage, op string) (*PublicKey, error) {
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
	kid, err := memberString(m, "kid", false)
	if err != nil {
		return nil, err
	}
	if _, ok := m["kid"]; ok && kid == "" {
		return nil, jwkErr(`empty "kid"`)
	}
	use, err := memberString(m, "use", false)
	if err != nil {
		return nil, err
	}
	if _, ok := m["use"]; ok && use != "sig" {
		return nil, jwkErr(`"use" must be "sig", got %q`, use)
	}
	if raw, ok := m["key_ops"]; ok {
		var ops []string
		if err := json.Unmarshal(raw, &ops); err != nil {
			return nil, jwkErr(`"key_ops" is not an array of strings`)
		}
		for _, o := range ops {
			if o != op && o != "verify" {
				return nil, jwkErr(`"key_ops" member %q not allowed`, o)
			}
		}
	}
	k := &PublicKey{alg: Alg(alg), kid: kid}
	switch {
	case k.alg == EdDSA && kty == "OKP" && crv == "Ed25519":
		x, err := memberBytes(m, "x", ed25519.PublicKeySize)
		if err != nil {
			return nil, err
		}
		k.ed = ed25519.PublicKey(x)
	case k.alg == ES256 && kty == "EC" && crv == "P-256":
		x, err := memberBytes(m, "x", 32)
		if err != nil {
			return nil, err
		}
		y, err := memberBytes(m, "y", 32)
		if err != nil {
			return nil, err
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, jwkErr("EC point is not on P-256")
		}
		k.ec = pub
	case !k.alg.Supported():
		return nil, fmt.Errorf("%w: %w %q", ErrJWK, ErrUnsupportedAlg, alg)
	default:
		return nil, jwkErr("alg %q does not fit kty %q crv %q", alg, kty, crv)
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
	if k.kid == "" {
		k.kid = k.Thumbprint()
	}
	return k, nil
}

// KeySet is a JWKS: a list of public keys, encoded as {"keys":[...]}.
type KeySet []*PublicKey

// MarshalJSON encodes the set as {"keys":[...]} with each key as in
// PublicKey.MarshalJSON.
func (s KeySet) MarshalJSON() ([]byte, error) {
	keys := make([]publicJWK, 0, len(s))
	for _, k := range s {
		if k == nil || !k.alg.Supported() {
			return nil, fmt.Errorf("jose: marshal JWKS: %w", ErrUnsupportedAlg)
		}
		keys = append(keys, k.jwk())
	}
	return json.Marshal(struct {
		Keys []publicJWK `json:"keys"`
	}{keys})
}

// UnmarshalJSON parses a JWKS with ParseKeySet.
func (s *KeySet) UnmarshalJSON(data []byte) error {
	ks, err := ParseKeySet(data)
	if err != nil {
		return err
	}
	*s = ks
	return nil
}

// ParseKeySet parses a JWKS as FLX publishes it in the manifest: exactly
// {"keys":[...]} (the member "keys", spelt so, once, and nothing else), each
// key parsed with ParsePublishedJWK (an explicit kid is required), no kid
// twice.
func ParseKeySet(data []byte) (KeySet, error) {
	return parseKeySet(data, "JWKS", ParsePublishedJWK)
}

// parseKeySet parses exactly {"keys":[...]} (the member "keys", spelt so,
// once, and nothing else), each key with parse, no kid twice; what names the
// set in a key's error.
func parseKeySet[K interface{ KID() string }](data []byte, what string, parse func([]byte) (K, error)) ([]K, error) {
	var set map[string]json.RawMessage
	if err := json.Unmarshal(data, &set); err != nil || set == nil {
		return nil, jwkErr("JWKS is not {\"keys\":[...]}")
	}
	if name, dup := DuplicateMember(data); dup {
		return nil, jwkErr("JWKS member %q appears twice", name)
	}
	rawKeys, ok := set["keys"]
	if !ok || len(set) != 1 {
		return nil, jwkErr("JWKS is not {\"keys\":[...]} (exactly one member, \"keys\")")
	}
	var keys []json.RawMessage
	if err := json.Unmarshal(rawKeys, &keys); err != nil || keys == nil {
		return nil, jwkErr("JWKS \"keys\" is not an array")
	}
	out := make([]K, 0, len(keys))
	seen := make(map[string]bool, len(keys))
	for i, raw := range keys {
		k, err := parse(raw)
		if err != nil {
			return nil, fmt.Errorf("jose: %s key %d: %w", what, i, err)
		}
		if seen[k.KID()] {
			return nil, jwkErr("JWKS has kid %q twice", k.KID())
		}
		seen[k.KID()] = true
		out = append(out, k)
	}
	return out, nil
}

// Key returns the key with the given kid, or nil.
func (s KeySet) Key(kid string) *PublicKey {
	for _, k := range s {
		if k != nil && k.kid == kid {
			return k
		}
	}
	return nil
}

// MarshalPrivateJWK encodes k as a private JWK (public members plus "d").
// Treat the result as a secret.
func MarshalPrivateJWK(k *PrivateKey) ([]byte, error) {
	pub := k.Public().jwk()
	j := privateJWK{Kty: pub.Kty, Crv: pub.Crv, X: pub.X, Y: pub.Y, KID: k.kid, Alg: k.alg, Use: "sig"}
	switch k.alg {
	case EdDSA:
		j.D = b64.EncodeToString(k.ed.Seed())
	case ES256:
		d, err := k.ec.Bytes()
		if err != nil {
			return nil, fmt.Errorf("jose: encode P-256 private key: %w", err)
		}
		j.D = b64.EncodeToString(d)
	default:
		return nil, fmt.Errorf("jose: marshal private JWK: %w %q", ErrUnsupportedAlg, k.alg)
	}
	return json.Marshal(j)
}

// ParsePrivateJWK parses a private JWK written by MarshalPrivateJWK (or any
// Ed25519 / P-256 private JWK with "alg"), checking that "d" matches the
// public members.
func ParsePrivateJWK(data []byte) (*PrivateKey, error) {
	m, err := jwkMembers(data)
	if err != nil {
		return nil, err
	}
	pub, err := publicFromMembers(m, "sign")
	if err != nil {
		return nil, err
	}
	k := &PrivateKey{alg: pub.alg, kid: pub.kid}
	switch pub.alg {
	case EdDSA:
		seed, err := memberBytes(m, "d", ed25519.SeedSize)
		if err != nil {
			return nil, err
		}
		k.ed = ed25519.NewKeyFromSeed(seed)
	case ES256:
		d, err := memberBytes(m, "d", 32)
		if err != nil {
			return nil, err
		}
		if k.ec, err = ecdsa.ParseRawPrivateKey(elliptic.P256(), d); err != nil {
			return nil, jwkErr("invalid P-256 private scalar")
		}
	}
	if !k.Public().SameKey(pub) {
		return nil, jwkErr(`"d" does not match the public key`)
	}
	return k, nil
}

// SavePrivateKey writes k as a private JWK to a new file with mode 0600. It
// refuses to overwrite an existing file, so a key is never lost by accident.
func SavePrivateKey(path string, k *PrivateKey) error {
	data, err := MarshalPrivateJWK(k)
	if err != nil {
		return err
	}
	return writeSecret(path, data, "save private key")
}

// writeSecret writes data and a newline to a new file, mode 0600 (see
// keyfile.WriteNew). op names the operation in errors.
func writeSecret(path string, data []byte, op string) error {
	if err := keyfile.WriteNew(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("jose: %s: %w", op, err)
	}
	return nil
}

// readSecret reads a private key file, trimmed, refusing one that group or
// others may access (see keyfile.ReadPrivate). op names the operation in
// errors.
func readSecret(path, op string) ([]byte, error) {
	data, err := keyfile.ReadPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("jose: %s: %w", op, err)
	}
	return bytes.TrimSpace(data), nil
}

// LoadPrivateKey reads a private JWK file. On Unix it refuses a file that
// group or others may access (like ssh does).
func LoadPrivateKey(path string) (*PrivateKey, error) {
	data, err := readSecret(path, "load private key")
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateJWK(data)
	if err != nil {
		return nil, fmt.Errorf("jose: load private key %s: %w", path, err)
	}
	return k, nil
}
