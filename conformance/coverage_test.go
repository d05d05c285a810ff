package conformance_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/familylinks/flx/conformance"
)

// withoutVariant are the checks the teeth test gives no broken node, each
// with the reason. Every other check must be shown to fail against a node
// that breaks its requirement (SPEC.md §13.5).
var withoutVariant = map[string]string{
	"FLX-DLV-012/remembered":    "slow mode (waits 60 s); FLX-DLV-012's variant (forgetatexp) is caught by FLX-DLV-012/past-exp",
	"FLX-KEY-002/published-jwk": "conformance init, the tester's own code, writes the key the manifest publishes; see reqWithoutVariant",
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

// coreAreas are the areas of SPEC.md §2 to §12, whose requirements the
// teeth test breaks one by one.
var coreAreas = []string{"TLS", "ID", "MAN", "KEY", "ENV", "RCP", "API", "ERR", "SCH", "LIM", "DLV", "WDR", "COR", "OUT"}

// reqWithoutVariant are the core requirements the suite checks but no
// variant breaks on its own, each with the reason; SPEC.md §13.5 lists
// them in a table of its own.
var reqWithoutVariant = map[string]string{
	"FLX-KEY-002": "the published key is written by conformance init (the tester's code), which refuses a faulty operator-supplied JWK itself; a node cannot change it",
}

// TestReqWithoutVariantInSpec keeps reqWithoutVariant and SPEC.md §13.5 in
// step: when a checked core requirement has no variant, the SPEC says so
// in a table "| requirement | why it has no variant |" naming exactly those.
func TestReqWithoutVariantInSpec(t *testing.T) {
	md, err := os.ReadFile("SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	if _, rest, ok := strings.Cut(string(md), "| requirement | why it has no variant |"); ok {
		for _, line := range strings.Split(rest, "\n")[2:] {
			if !strings.HasPrefix(line, "| FLX-") {
				break
			}
			listed[strings.TrimSpace(strings.Split(line, "|")[1])] = true
		}
	}
	for id := range reqWithoutVariant {
		if !listed[id] {
			t.Errorf("%s has no variant (reqWithoutVariant) but SPEC.md §13.5 does not say why", id)
		}
	}
	for id := range listed {
		if _, ok := reqWithoutVariant[id]; !ok {
			t.Errorf("SPEC.md §13.5 says %s has no variant, but reqWithoutVariant does not list it", id)
		}
	}
}

// TestEveryCheckedRequirementHasVariant keeps the teeth test complete by
// requirement: every core requirement the index marks as checked has a
// variant that breaks it, caught by a check covering it, or a reason in
// reqWithoutVariant.
func TestEveryCheckedRequirementHasVariant(t *testing.T) {
	covers := map[string][]string{}
	for _, c := range conformance.Checks() {
		covers[c.ID] = c.Requirements
	}
	broken := map[string]bool{}
	for _, b := range brokenNodes {
		if !slices.Contains(covers[b.check], b.breaks()) {
			t.Errorf("variant %s breaks %s, which its check %s does not cover", b.Name, b.breaks(), b.check)
		}
		broken[b.breaks()] = true
	}
	n, tried := 0, 0
	for _, r := range conformance.Requirements() {
		area := strings.Split(r.ID, "-")[1]
		if !slices.Contains(coreAreas, area) || !r.IsChecked() {
			continue
		}
		n++
		_, exempt := reqWithoutVariant[r.ID]
		switch {
		case broken[r.ID] && exempt:
			t.Errorf("%s has a variant and a reason in reqWithoutVariant", r.ID)
		case broken[r.ID]:
			tried++
		case !exempt:
			t.Errorf("%s is checked but no variant breaks it (or give a reason in reqWithoutVariant)", r.ID)
		}
	}
	t.Logf("%d of %d checked core requirements have a broken variant", tried, n)
}
