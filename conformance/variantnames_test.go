package conformance_test

import (
	"testing"

	"github.com/familylinks/flx/conformance/variant"
)

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

// TestVariantsApplyToTree: every broken variant's mutations still find their
// text in the node's source, exactly once. The teeth test would find a stale
// one only after minutes of building; this finds it in seconds, when the code
// a variant breaks is changed.
func TestVariantsApplyToTree(t *testing.T) {
	vs := make([]variant.Variant, 0, len(brokenNodes))
	for _, b := range brokenNodes {
		vs = append(vs, b.Variant)
	}
	if _, err := variant.Overlay("..", vs); err != nil {
		t.Fatalf("a variant no longer applies to the source (update its Old text in variants_test.go): %v", err)
	}
}
