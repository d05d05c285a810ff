package conformance

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCandidateSecrets: the forms FLX-KEY-010/not-exposed looks for hold
// the signing key's d and the TLS key's private scalar, and nothing public
// (the signing key's x, the TLS key's public point).
func TestCandidateSecrets(t *testing.T) {
	dir := t.TempDir()
	spec, err := ParseCandidate("XA-RC:XA:society:https://127.0.0.1:18443")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir, InitOptions{Candidate: spec}); err != nil {
		t.Fatal(err)
	}
	id, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	secrets, files, ok := (&T{Env: &Env{id: id}}).candidateSecrets()
	if !ok || len(files) != 3 {
		t.Fatalf("candidateSecrets found files %v (ok %t), want the signing, bundle and TLS keys", files, ok)
	}
	var jwk struct{ D, X string }
	b, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(candidateSigning)))
	if err := json.Unmarshal(b, &jwk); err != nil || jwk.D == "" {
		t.Fatalf("signing key %s: %v", b, err)
	}
	pb, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(candidateKey)))
	blk, _ := pem.Decode(pb)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ec, isEC := k.(*ecdsa.PrivateKey)
	if _, found := secrets[jwk.D]; !found {
		t.Error("the signing key's d is not looked for")
	}
	if isEC {
		if _, found := secrets[hex.EncodeToString(ec.D.FillBytes(make([]byte, 32)))]; !found {
			t.Error("the TLS key's private scalar (hex) is not looked for")
		}
	}
	for s := range secrets {
		if strings.Contains(s, jwk.X) || strings.Contains(jwk.X, s) {
			t.Errorf("%q is looked for, but it is (part of) the public x", s)
		}
		if isEC {
			pub, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
			if strings.Contains(hex.EncodeToString(pub), s) {
				t.Errorf("%q is looked for, but it is part of the TLS public key", s)
			}
		}
	}
}
