package conformance

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
)

// checkPublishedJWK checks the candidate's signing key as the conformance
// manifest publishes it (FLX-KEY-002): each key of its jwks, as the signed
// manifest holds it, passes ParseCandidateJWK (exactly the public members,
// kid, alg, use "sig", no private member); a key its operator supplied
// (init --candidate-jwk) is the one published, with its kid; and the
// candidate signs with what is published: its receipt for a valid
// envelope verifies under the manifest's keys.
func checkPublishedJWK(t *T) {
	raw, err := os.ReadFile(filepath.Join(t.id.Dir, filepath.FromSlash(ManifestFile)))
	if err != nil {
		t.Abortf("the tester's manifest: %v", err)
	}
	parts := strings.Split(strings.TrimSpace(string(raw)), ".")
	var m struct {
		Members []struct {
			ID   string `json:"id"`
			JWKS struct {
				Keys []json.RawMessage `json:"keys"`
			} `json:"jwks"`
		} `json:"members"`
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[min(1, len(parts)-1)])
	if len(parts) != 3 || err != nil || json.Unmarshal(payload, &m) != nil {
		t.Abortf("the tester's manifest %s is not a compact JWS of a manifest", ManifestFile)
	}
	var published []*jose.PublicKey
	for _, mb := range m.Members {
		if mb.ID != t.candidate {
			continue
		}
		for i, kr := range mb.JWKS.Keys {
			k, err := ParseCandidateJWK(kr)
			if err != nil {
				t.Errorf("key %d the manifest publishes for the candidate, %s: %v", i, kr, err)
				continue
			}
			published = append(published, k)
		}
	}
	if len(published) == 0 {
		t.Fatalf("the manifest publishes no valid signing key for the candidate")
	}
	if b, err := os.ReadFile(filepath.Join(t.id.Dir, filepath.FromSlash(candidateSigningPub))); err == nil {
		supplied, err := ParseCandidateJWK(b)
		switch {
		case err != nil:
			t.Errorf("the JWK the candidate's operator supplied (%s): %v", candidateSigningPub, err)
		case !slices.ContainsFunc(published, func(k *jose.PublicKey) bool { return k.SameKey(supplied) && k.KID() == supplied.KID() }):
			t.Errorf("the manifest does not publish the key the candidate's operator supplied (kid %q)", supplied.KID())
		}
	}
	env, c := t.validCase()
	t.mustAccept(t, t.post(t, env), env, c, federation.ReceiptAccepted)
}
