package node_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/schema"
)

// TestMatchAnswerWithholdsWhomThePolicyWithholds: a match answer says
// that the holder knows a person. For a person whose identity the policy
// withholds from the asker (the carer of an unaccompanied child whose
// family is not verified), that is the disclosure the policy refuses: the
// holder leaves them out, as the asker leaves out a person whose names it
// may not send. A person the policy lets go is still answered (control).
func TestMatchAnswerWithholdsWhomThePolicyWithholds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, Match: node.MatchOptions{Secret: testSecret}})
	xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{NoRun: true, Match: node.MatchOptions{Secret: testSecret}})
	cwA := node.Actor{Name: "cw-anna", Role: "caseworker"}
	cwB := node.Actor{Name: "cw-bela", Role: "caseworker"}

	child := person("c1", schema.PersonRole("unaccompanied_child"), "2016", name("Lusine", "given", "Latn"), name("Petrosyanova", "family", "Latn"))
	// The carer has no role: the child's guardian field makes them one.
	carer := person("g1", schema.PersonRole("caregiver"), "1970", name("Karo", "given", "Latn"), name("Hovsampelyan", "family", "Latn"))
	carer.Roles = nil
	doc := withConsent(t, caseOf(t, "XB-RC:UAM-1", schema.CaseUnaccompaniedMinorRegistration, 1, child, carer))
	var m map[string]any
	json.Unmarshal(doc, &m)
	m["persons"].([]any)[0].(map[string]any)["guardian"] = "g1"
	m["persons"].([]any)[0].(map[string]any)["vulnerabilities"] = []any{"unaccompanied_minor"}
	m["best_interest_assessment"] = map[string]any{"done_at": "2024-05-01T10:00:00Z", "by": "XB-RC child protection", "outcome": "Tracing is in the child's best interest."}
	doc, _ = json.Marshal(m)
	if _, err := xb.CreateCase(ctx, cwB, doc); err != nil {
		t.Fatal(err)
	}
	dry, err := xb.DryRun(ctx, "XB-RC:UAM-1", "XA-RC")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the UAM case to XA-RC: %s, redactions %v", dry.Decision.Effect, dry.Decision.Redactions)

	ask := func(id string, p schema.Person) schema.MatchAnswer {
		t.Helper()
		if _, err := xa.CreateCase(ctx, cwA, withConsent(t, caseOf(t, id, schema.CaseTracingRequest, 1, p))); err != nil {
			t.Fatal(err)
		}
		if res, err := xa.SendMatchQuery(ctx, cwA, id, p.ID, "XB-RC"); err != nil {
			t.Fatalf("query: %v (%+v)", err, res.Decision.Fired)
		}
		carry(t, xa, xb, federation.KindMatchQuery)
		return answerOf(t, carry(t, xb, xa, federation.KindMatchAnswer)[0])
	}
	if a := ask("XA-RC:TR-CARER", person("p1", schema.PersonSought, "1970", name("Karo", "given", "Latn"), name("Hovsampelyan", "family", "Latn"))); len(a.Candidates) != 0 {
		t.Errorf("LEAK: the answer about the carer names %d candidate(s): XA-RC learns that XB-RC holds the carer of an unaccompanied child", len(a.Candidates))
	}
	if a := ask("XA-RC:TR-CHILD", person("p1", schema.PersonSought, "2016", name("Lusine", "given", "Latn"), name("Petrosyanova", "family", "Latn"))); len(a.Candidates) != 1 {
		t.Errorf("control: the answer about the child has %d candidates, want 1", len(a.Candidates))
	}
}
