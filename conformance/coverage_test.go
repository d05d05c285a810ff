package conformance_test

import (
	"testing"

	"github.com/familylinks/flx/conformance"
)

// withoutVariant are the checks the teeth test gives no broken node, each
// with the reason. Every other check must be shown to fail against a node
// that breaks its requirement (SPEC.md §13.5).
var withoutVariant = map[string]string{
	"FLX-DLV-012/remembered": "slow mode (waits 60 s); FLX-DLV-009's variants break the same replay record",
}

// TestEveryCheckHasVariant keeps the teeth test complete: every registered
// check has a broken variant of the node that it must catch, or is listed
// in withoutVariant with a reason; every variant names a registered check.
func TestEveryCheckHasVariant(t *testing.T) {
	checks := map[string]bool{}
	for _, c := range conformance.Checks() {
		checks[c.ID] = true
	}
	caught := map[string]int{}
	for _, b := range brokenNodes {
		if !checks[b.check] {
			t.Errorf("variant %s names check %s, which is not registered", b.Name, b.check)
		}
		if b.broke == "" {
			t.Errorf("variant %s does not say what the node does wrong", b.Name)
		}
		caught[b.check]++
	}
	for id := range checks {
		_, exempt := withoutVariant[id]
		switch {
		case caught[id] == 0 && !exempt:
			t.Errorf("check %s has no broken variant in variants_test.go (or a reason in withoutVariant)", id)
		case caught[id] > 0 && exempt:
			t.Errorf("check %s has a variant and is listed in withoutVariant", id)
		}
	}
	for id := range withoutVariant {
		if !checks[id] {
			t.Errorf("withoutVariant names %s, which is not registered", id)
		}
	}
}
