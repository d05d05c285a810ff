package conformance

import (
	"encoding/json"
	"net/http"

	"github.com/familylinks/flx/federation"
)

// Corrections at the origin (SPEC.md §11.1): the candidate originates a
// case, delivers it to the tester, then stores a new version through the
// optional update call of §12; the tester forwards nothing again.

// correctedCase sends a new case to the tester, waits for its case.create,
// and stores doc (a later version) at the candidate. It returns the case
// id; it skips when the candidate offers no update call.
func (t *T) correctedCase(version func(caseID string) json.RawMessage) string {
	t.Helper()
	caseID := t.sendCase(func(*Arrival) Action { return Action{} })
	if len(t.listener.Wait(forCase(caseID), 1, t.patience)) == 0 {
		t.Fatalf("no case.create arrived within %s of the forward", t.patience)
	}
	ans, err := t.trigger.updateCase(caseID, version(caseID))
	switch {
	case err != nil:
		t.Abortf("trigger: update case: %v", err)
	case ans.Status == http.StatusNotFound || ans.Status == http.StatusMethodNotAllowed || ans.Status == http.StatusNotImplemented:
		t.Skipf("the candidate offers no update call (SPEC.md §12)")
	case ans.Status/100 != 2:
		t.Abortf("update case refused: %s", ans)
	}
	return caseID
}

// checkCorrectionReachesCopy checks that a new version stored at the
// origin reaches the tester, which holds version 1, as a case.update
// without a second forward (FLX-COR-001).
func checkCorrectionReachesCopy(t *T) {
	caseID := t.correctedCase(func(id string) json.RawMessage { return outboundCaseVersion(t.candidate, id, 2) })
	isUpdate := func(a *Arrival) bool { return a.CaseID == caseID && a.Kind == string(federation.KindCaseUpdate) }
	if len(t.listener.Wait(isUpdate, 1, t.patience)) == 0 {
		t.Errorf("version 2 of the case did not reach %s, which holds version 1, within %s (no second forward was made)", MemberTester, t.patience)
	}
}

// checkCorrectionRefusedWithdraws checks that when the new version's
// consent no longer covers the tester, which holds version 1, the origin
// sends it a case.withdraw of the case and not the new version
// (FLX-COR-002).
func checkCorrectionRefusedWithdraws(t *T) {
	caseID := t.correctedCase(func(id string) json.RawMessage {
		var doc map[string]any
		_ = json.Unmarshal(outboundCaseVersion(t.candidate, id, 2), &doc)
		c := doc["consents"].([]any)[0].(map[string]any)
		c["scope"].(map[string]any)["members"] = []string{MemberPeer}
		b, _ := json.Marshal(doc)
		return b
	})
	isWithdraw := func(a *Arrival) bool { return a.CaseID == caseID && a.Kind == string(federation.KindCaseWithdraw) }
	if len(t.listener.Wait(isWithdraw, 1, t.patience)) == 0 {
		t.Errorf("no case.withdraw reached %s within %s after a new version its consent no longer covers", MemberTester, t.patience)
	}
	for _, a := range t.listener.Arrivals(forCase(caseID)) {
		if a.Kind == string(federation.KindCaseUpdate) {
			t.Errorf("the new version, which the consent no longer covers for %s, was sent to it (jti %s)", MemberTester, a.JTI)
		}
	}
}
