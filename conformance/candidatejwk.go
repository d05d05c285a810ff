package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/familylinks/flx/federation/jose"
)

// The candidate's own signing key (init --candidate-jwk): its operator
// supplies the public JWK of the key the candidate signs with, and init
// publishes it in the conformance manifest instead of generating one. The
// file is held to FLX-KEY-002 as written, before the manifest re-encodes
// it: exactly the public members, an explicit kid and alg, use "sig", no
// private member. A key that fails is refused with one of the codes below,
// stable for scripts and documentation.

// JWKCode names why a supplied JWK was refused.
type JWKCode string

const (
	JWKNotObject       JWKCode = "jwk_not_object"       // not one JSON object (or a JWKS, or trailing data)
	JWKDuplicateMember JWKCode = "jwk_duplicate_member" // a member name twice
	JWKPrivateMember   JWKCode = "jwk_private_member"   // d, p, q, dp, dq, qi, oth or k
	JWKUnknownMember   JWKCode = "jwk_unknown_member"   // a member FLX-KEY-002 does not list (y on an OKP key too)
	JWKMissingMember   JWKCode = "jwk_missing_member"   // kty, crv, x, y (EC), kid, alg or use absent or empty
	JWKBadUse          JWKCode = "jwk_bad_use"          // use is not "sig"
	JWKUnsupportedAlg  JWKCode = "jwk_unsupported_alg"  // alg is not EdDSA or ES256, or does not fit kty/crv
	JWKBadKey          JWKCode = "jwk_bad_key"          // the point, a member's type, or nbf/exp do not parse
)

// JWKError is a refusal of a supplied JWK: its code and what was wrong.
type JWKError struct {
	Code   JWKCode
	Detail string
	Err    error // the parser's error, when it found the fault
}

func (e *JWKError) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Detail) }
func (e *JWKError) Unwrap() error { return e.Err }

func jwkRefused(code JWKCode, err error, format string, args ...any) *JWKError {
	return &JWKError{Code: code, Detail: fmt.Sprintf(format, args...), Err: err}
}

// publicMembers are the members FLX-KEY-002 lets a published key have.
var publicMembers = []string{"kty", "crv", "x", "y", "kid", "alg", "use", "nbf", "exp"}

// privateJWKMembers carry secret material (RFC 7518 §6).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// ParseCandidateJWK reads the candidate's public signing JWK as its
// operator supplies it (one JSON object, optionally surrounded by
// whitespace) and checks it against FLX-KEY-002. Every refusal is a
// *JWKError.
func ParseCandidateJWK(data []byte) (*jose.PublicKey, error) {
	data = bytes.TrimSpace(data)
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, jwkRefused(JWKNotObject, err, "the file must hold one JSON object, the public JWK")
	}
	if dec.More() {
		return nil, jwkRefused(JWKNotObject, nil, "data after the JWK")
	}
	if name, dup := jose.DuplicateMember(data); dup {
		return nil, jwkRefused(JWKDuplicateMember, nil, "member %q appears twice", name)
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if slices.Contains(privateJWKMembers, name) {
			return nil, jwkRefused(JWKPrivateMember, nil, "private member %q: supply the public key only", name)
		}
	}
	for _, name := range names {
		if !slices.Contains(publicMembers, name) {
			return nil, jwkRefused(JWKUnknownMember, nil, "member %q is not one of %v", name, publicMembers)
		}
	}
	str := func(name string) (string, *JWKError) {
		raw, ok := m[name]
		if !ok {
			return "", jwkRefused(JWKMissingMember, nil, "member %q is required", name)
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", jwkRefused(JWKBadKey, err, "member %q must be a string", name)
		}
		if s == "" {
			return "", jwkRefused(JWKMissingMember, nil, "member %q is empty", name)
		}
		return s, nil
	}
	var kty, crv, alg, use string
	for _, f := range []struct {
		name string
		to   *string
	}{{"kty", &kty}, {"crv", &crv}, {"x", new(string)}, {"kid", new(string)}, {"alg", &alg}, {"use", &use}} {
		s, err := str(f.name)
		if err != nil {
			return nil, err
		}
		*f.to = s
	}
	if use != "sig" {
		return nil, jwkRefused(JWKBadUse, nil, `"use" must be "sig", not %q`, use)
	}
	switch {
	case alg == string(jose.EdDSA) && kty == "OKP" && crv == "Ed25519":
		if _, ok := m["y"]; ok {
			return nil, jwkRefused(JWKUnknownMember, nil, `an Ed25519 key has no "y"`)
		}
	case alg == string(jose.ES256) && kty == "EC" && crv == "P-256":
		if _, err := str("y"); err != nil {
			return nil, err
		}
	default:
		return nil, jwkRefused(JWKUnsupportedAlg, nil, "alg %q with kty %q and crv %q: want EdDSA (OKP, Ed25519) or ES256 (EC, P-256)", alg, kty, crv)
	}
	k, err := jose.ParsePublishedJWK(data)
	if err != nil {
		code := JWKBadKey
		if errors.Is(err, jose.ErrUnsupportedAlg) {
			code = JWKUnsupportedAlg
		}
		return nil, jwkRefused(code, err, "%v", err)
	}
	return k, nil
}
