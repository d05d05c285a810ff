package conformance

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

// publicJWKOf is k's public JWK as jose publishes it, as a member map.
func publicJWKOf(t testing.TB, alg jose.Alg) (*jose.PrivateKey, map[string]any) {
	t.Helper()
	k, err := jose.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return k, m
}

func jwkBytes(t testing.TB, m map[string]any, edit func(map[string]any)) []byte {
	t.Helper()
	c := map[string]any{}
	for k, v := range m {
		c[k] = v
	}
	if edit != nil {
		edit(c)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseCandidateJWK: the operator's public JWK is held to FLX-KEY-002
// as written: each fault refused with its stable code; Ed25519 and P-256
// keys as jose publishes them, with or without nbf and exp, accepted.
func TestParseCandidateJWK(t *testing.T) {
	ed, edm := publicJWKOf(t, jose.EdDSA)
	_, ecm := publicJWKOf(t, jose.ES256)
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	del := func(k string) func(map[string]any) { return func(m map[string]any) { delete(m, k) } }
	good := []struct {
		name string
		data []byte
	}{
		{"Ed25519", jwkBytes(t, edm, nil)},
		{"P-256", jwkBytes(t, ecm, nil)},
		{"with nbf and exp", jwkBytes(t, edm, func(m map[string]any) { m["nbf"], m["exp"] = 1700000000, 4000000000 })},
		{"surrounded by whitespace", append(append([]byte("\n  "), jwkBytes(t, edm, nil)...), '\n')},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseCandidateJWK(tc.data); err != nil {
				t.Fatalf("refused %s: %v", tc.data, err)
			}
		})
	}
	k, err := ParseCandidateJWK(jwkBytes(t, edm, nil))
	if err != nil || !k.SameKey(ed.Public()) || k.KID() != ed.Public().KID() {
		t.Fatalf("parsed %v, %v: not the key given", k, err)
	}
	edJSON := string(jwkBytes(t, edm, nil))
	bad := []struct {
		name string
		data []byte
		code JWKCode
	}{
		{"not JSON", []byte("kty=OKP"), JWKNotObject},
		{"an array", []byte("[" + edJSON + "]"), JWKNotObject},
		{"null", []byte("null"), JWKNotObject},
		{"two objects", []byte(edJSON + edJSON), JWKNotObject},
		{"a JWKS", []byte(`{"keys":[` + edJSON + `]}`), JWKUnknownMember},
		{"kid twice", []byte(strings.Replace(edJSON, `{`, `{"kid":"other",`, 1)), JWKDuplicateMember},
		{"private d", jwkBytes(t, edm, set("d", "AAAA")), JWKPrivateMember},
		{"private k", jwkBytes(t, edm, set("k", "AAAA")), JWKPrivateMember},
		{"private p", jwkBytes(t, ecm, set("p", "AAAA")), JWKPrivateMember},
		{"key_ops", jwkBytes(t, edm, set("key_ops", []string{"verify"})), JWKUnknownMember},
		{"x5c", jwkBytes(t, edm, set("x5c", []string{"AAAA"})), JWKUnknownMember},
		{"KID in capitals", jwkBytes(t, edm, set("KID", "k")), JWKUnknownMember},
		{"y on an Ed25519 key", jwkBytes(t, edm, set("y", ecm["y"])), JWKUnknownMember},
		{"no kid", jwkBytes(t, edm, del("kid")), JWKMissingMember},
		{"empty kid", jwkBytes(t, edm, set("kid", "")), JWKMissingMember},
		{"no alg", jwkBytes(t, edm, del("alg")), JWKMissingMember},
		{"no use", jwkBytes(t, edm, del("use")), JWKMissingMember},
		{"no x", jwkBytes(t, edm, del("x")), JWKMissingMember},
		{"no y on P-256", jwkBytes(t, ecm, del("y")), JWKMissingMember},
		{"use enc", jwkBytes(t, edm, set("use", "enc")), JWKBadUse},
		{"alg RS256", jwkBytes(t, edm, set("alg", "RS256")), JWKUnsupportedAlg},
		{"alg none", jwkBytes(t, edm, set("alg", "none")), JWKUnsupportedAlg},
		{"EdDSA on P-256", jwkBytes(t, ecm, set("alg", "EdDSA")), JWKUnsupportedAlg},
		{"X25519", jwkBytes(t, edm, set("crv", "X25519")), JWKUnsupportedAlg},
		{"x too short", jwkBytes(t, edm, set("x", "AAAA")), JWKBadKey},
		{"x not a string", jwkBytes(t, edm, set("x", 12)), JWKBadKey},
		{"P-256 point off the curve", jwkBytes(t, ecm, set("y", ecm["x"])), JWKBadKey},
		{"nbf a string", jwkBytes(t, edm, set("nbf", "yesterday")), JWKBadKey},
		{"nbf after exp", jwkBytes(t, edm, func(m map[string]any) { m["nbf"], m["exp"] = 4000000000, 1700000000 }), JWKBadKey},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCandidateJWK(tc.data)
			var je *JWKError
			if !errors.As(err, &je) || je.Code != tc.code {
				t.Fatalf("%s: %v, want code %s", tc.data, err, tc.code)
			}
			if !strings.HasPrefix(err.Error(), string(tc.code)+": ") {
				t.Errorf("message %q does not start with its code", err)
			}
		})
	}
}

// TestInitCandidateJWK: init --candidate-jwk publishes the operator's key,
// as given, as the candidate's only key, writes no private signing key, and
// refuses a private JWK, an expired one, or a faulty one with its code,
// writing nothing.
func TestInitCandidateJWK(t *testing.T) {
	spec, err := ParseCandidate("XA-RC:XA:society:https://127.0.0.1:18443")
	if err != nil {
		t.Fatal(err)
	}
	k, m := publicJWKOf(t, jose.EdDSA)
	dir := t.TempDir()
	supplied := jwkBytes(t, m, nil)
	if _, err := Init(dir, InitOptions{Candidate: spec, CandidateJWK: supplied}); err != nil {
		t.Fatal(err)
	}
	id, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	keys := id.Candidate().JWKS
	if len(keys) != 1 || !keys[0].SameKey(k.Public()) || keys[0].KID() != k.Public().KID() {
		t.Fatalf("the manifest publishes %v for the candidate, want the supplied key alone", keys)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(candidateSigning))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a private signing key was written for a candidate that holds its own: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(candidateSigningPub))); err != nil || strings.TrimSpace(string(b)) != string(supplied) {
		t.Fatalf("the supplied JWK kept as %q, %v", b, err)
	}

	priv, err := jose.MarshalPrivateJWK(k)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		code JWKCode
	}{
		{"the private JWK", priv, JWKPrivateMember},
		{"an expired key", jwkBytes(t, m, set2("exp", time.Now().Add(-time.Hour).Unix())), JWKBadKey},
		{"a key with key_ops", jwkBytes(t, m, set2("key_ops", []string{"verify"})), JWKUnknownMember},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Init(dir, InitOptions{Candidate: spec, CandidateJWK: tc.data})
			var je *JWKError
			if !errors.As(err, &je) || je.Code != tc.code {
				t.Fatalf("init: %v, want code %s", err, tc.code)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("init refused the key but wrote %d entries", len(entries))
			}
		})
	}
}

func set2(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
