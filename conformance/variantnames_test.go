package conformance_test

import "testing"

// TestVariantNamesUnique: a candidate runs as the variant its name picks
// (conformance/variant), so two variants must never share a name.
func TestVariantNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range brokenNodes {
		if seen[b.Name] {
			t.Errorf("variant name %s is used twice in variants_test.go", b.Name)
		}
		seen[b.Name] = true
	}
}
