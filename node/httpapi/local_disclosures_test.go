package httpapi_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/nodetest"
)

// TestDisclosureLog: after a forward between two real nodes and a
// withdrawal, the origin's disclosure log of the case says who received
// which version when, under which decision (rules that fired), and that
// the recipient confirmed erasure; JSON and a readable report; the read is
// audited.
func TestDisclosureLog(t *testing.T) {
	f, lns := newFederation(t, "XA-RC", "XB-RC")
	a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{})
	b := startLocal(t, f, "XB-RC", lns["XB-RC"], nodetest.Options{})

	expect(t, a.api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "")
	var empty node.DisclosureLog
	expect(t, a.api.do("GET", caseEsc+"/disclosures", tokAuditor, nil), 200, "").decode(t, &empty)
	if len(empty.Disclosures) != 0 || len(empty.Recipients) != 0 || empty.CaseID != caseID {
		t.Fatalf("log before any forward: %+v", empty)
	}
	expect(t, a.api.do("POST", casePth+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "")
	waitFor(t, "the case at XB-RC", func() bool { return b.api.do("GET", caseEsc, tokCaseworker, nil).Status == 200 })

	var l node.DisclosureLog
	waitFor(t, "the disclosure at XA-RC", func() bool {
		expect(t, a.api.do("GET", caseEsc+"/disclosures", tokCaseworker, nil), 200, "").decode(t, &l)
		return len(l.Disclosures) == 1
	})
	d := l.Disclosures[0]
	if d.Member != "XB-RC" || d.Kind != "case.create" || d.CaseVersion != 3 || d.JTI == "" || d.DeliveredAt.IsZero() {
		t.Fatalf("disclosure %+v", d)
	}
	if d.Decision == nil || (d.Decision.Effect != "allow" && d.Decision.Effect != "allow_with_redactions") || d.Decision.PolicyHash == "" {
		t.Fatalf("decision of the disclosure %+v", d.Decision)
	}
	if len(l.Recipients) != 1 || l.Recipients[0].ErasureConfirmed || l.Recipients[0].WithdrawalSentAt != nil {
		t.Fatalf("recipients before withdrawal %+v", l.Recipients)
	}

	expect(t, a.api.do("POST", casePth+"/withdraw", tokCaseworker, `{"reason":"erasure_request"}`), 202, "")
	waitFor(t, "XB-RC's erasure confirmed in the log", func() bool {
		expect(t, a.api.do("GET", caseEsc+"/disclosures", tokOperator, nil), 200, "").decode(t, &l)
		return len(l.Recipients) == 1 && l.Recipients[0].ErasureConfirmed
	})
	if l.Recipients[0].WithdrawalSentAt == nil || l.Recipients[0].ErasureConfirmedAt == nil || len(l.Disclosures) < 1 {
		t.Fatalf("log after withdrawal %+v", l)
	}
	// The case is shown erased, with when and why, not under its last status.
	if l.Status != "erased" || l.ErasedAt == nil || l.ErasedAt.IsZero() || l.EraseReason != "erasure_request" {
		t.Fatalf("erased case shown as status %q erased_at %v reason %q", l.Status, l.ErasedAt, l.EraseReason)
	}

	r := expect(t, a.api.do("GET", caseEsc+"/disclosures?format=text", tokAuditor, nil), 200, "")
	rep := string(r.Body)
	erasedLine := "Case status: erased on " + l.ErasedAt.UTC().Format(time.RFC3339) + " (erasure_request)."
	for _, want := range []string{"# Disclosure log of case " + caseID, "| XB-RC | case.create | 3 |", d.Decision.Effect, "Erasure confirmed", "yes, ", erasedLine} {
		if !strings.Contains(rep, want) {
			t.Fatalf("report misses %q:\n%s", want, rep)
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/markdown") {
		t.Fatalf("report Content-Type %q", ct)
	}
	expectProblem(t, a.api.do("GET", caseEsc+"/disclosures?format=pdf", tokAuditor, nil), 400, "bad_request")
	expectProblem(t, a.api.do("GET", "/api/v1/cases/XA-RC%3ANOPE/disclosures", tokAuditor, nil), 404, "not_found")
	expectProblem(t, a.api.do("GET", caseEsc+"/disclosures", tokAdmin, nil), 403, "forbidden")

	// every read is audited, by who read
	var al struct {
		Items []struct{ Actor, Action, Object string }
	}
	expect(t, a.api.do("GET", "/api/v1/audit?action=case.disclosures.read&limit=100", tokAuditor, nil), 200, "").decode(t, &al)
	actors := map[string]int{}
	for _, e := range al.Items {
		if e.Object == caseID {
			actors[e.Actor]++
		}
	}
	if actors["au-chloe"] < 2 || actors["cw-anna"] < 1 || actors["op-ben"] < 1 {
		t.Fatalf("disclosure reads audited: %v", actors)
	}
}

// TestPersonalDataReadsAudited: every read of personal data through the
// local API (a case, its thread, a received item in full, a search by
// person, the disclosure log) writes one audit entry naming who read what;
// a list of metadata does not need one.
func TestPersonalDataReadsAudited(t *testing.T) {
	f, lns := newFederation(t, "XA-RC", "XB-RC")
	a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{})
	b := startLocal(t, f, "XB-RC", lns["XB-RC"], nodetest.Options{})
	expect(t, a.api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "")
	expect(t, a.api.do("POST", casePth+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "")
	var inbox struct{ Items []struct{ ID int64 } }
	waitFor(t, "the case at XB-RC", func() bool {
		expect(t, b.api.do("GET", "/api/v1/inbox?case_id="+caseID, tokCaseworker, nil), 200, "").decode(t, &inbox)
		return len(inbox.Items) == 1 && b.api.do("GET", caseEsc, tokCaseworker, nil).Status == 200
	})
	type entry struct{ Actor, Action, Object string }
	audit := func() []entry {
		var al struct{ Items []entry }
		expect(t, b.api.do("GET", "/api/v1/audit?limit=1000", tokAuditor, nil), 200, "").decode(t, &al)
		return al.Items
	}
	for _, tc := range []struct {
		path, tok, actor, action string
	}{
		{caseEsc, tokCaseworker, "cw-anna", "case.read"},
		{caseEsc, tokAuditor, "au-chloe", "case.read"},
		{caseEsc + "/thread", tokOperator, "op-ben", "case.thread"},
		{"/api/v1/inbox/" + strconv.FormatInt(inbox.Items[0].ID, 10), tokCaseworker, "cw-anna", "inbox.read"},
		{"/api/v1/cases?name=" + url.QueryEscape("Amina"), tokCaseworker, "cw-anna", "case.search"},
		{caseEsc + "/disclosures", tokAuditor, "au-chloe", "case.disclosures.read"},
	} {
		before := len(audit())
		expect(t, b.api.do("GET", tc.path, tc.tok, nil), 200, "")
		after := audit()
		if len(after) != before+1 {
			t.Fatalf("GET %s by %s: %d audit entries, want 1", tc.path, tc.actor, len(after)-before)
		}
		if e := after[len(after)-1]; e.Actor != tc.actor || e.Action != tc.action {
			t.Fatalf("GET %s: audited %+v, want %s by %s", tc.path, e, tc.action, tc.actor)
		}
	}
}
