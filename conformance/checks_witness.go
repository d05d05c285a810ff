package conformance

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
)

// Audit-head witnessing (SPEC.md §21): the tester sends its own audit heads
// to a candidate that lists audit.head in its accepts.

// auditHeadBody is a valid audit.head body of member with count entries.
func auditHeadBody(member string, count int64) map[string]any {
	return map[string]any{"member": member, "count": count, "head": strings.Repeat("ab", 32),
		"signed_at": time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)}
}

// auditHead returns an audit.head envelope from the tester with body and
// case_id.
func (t *T) auditHead(body map[string]any, caseID string) ([]byte, Claims) {
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	c := t.claims(federation.KindAuditHead, b)
	c.CaseID = caseID
	return t.sign(c, keyTester), c
}

// witnessing skips a check when the candidate does not witness heads.
func (t *T) witnessing() {
	if !t.accepts(federation.KindAuditHead) {
		t.Skipf("the manifest does not list audit.head for the candidate")
	}
}

// checkAuditHeadRefused checks that a witness refuses an audit.head whose
// body is not exactly the object of §21.1 (schema_invalid), whose member is
// not iss (sender_mismatch), or whose case_id is not <iss>:audit-head
// (bad_envelope).
func checkAuditHeadRefused(t *T) {
	t.witnessing()
	own := federation.AuditHeadCaseID(MemberTester)
	extra := auditHeadBody(MemberTester, 3)
	extra["note"] = "rewritten"
	noHead := auditHeadBody(MemberTester, 3)
	noHead["head"] = ""
	negative := auditHeadBody(MemberTester, -1)
	upper := auditHeadBody(MemberTester, 3)
	upper["head"] = strings.Repeat("AB", 32)
	cases := []struct {
		what   string
		body   map[string]any
		caseID string
		code   string
	}{
		{"an unknown member", extra, own, "schema_invalid"},
		{"an empty head with entries", noHead, own, "schema_invalid"},
		{"a negative count", negative, own, "schema_invalid"},
		{"an uppercase head", upper, own, "schema_invalid"},
		{"another member's head", auditHeadBody(MemberPeer, 3), own, "sender_mismatch"},
		{"a case_id of another form", auditHeadBody(MemberTester, 3), newCaseID(MemberTester), "bad_envelope"},
	}
	for _, tc := range cases {
		raw, _ := t.auditHead(tc.body, tc.caseID)
		if _, err := shouldRefuse(t.post(t, raw), tc.code); err != nil {
			t.Errorf("%s: %v", tc.what, err)
		}
	}
}

// checkAuditHeadWitnessed checks that a witness accepts a valid audit.head
// with a receipt for its bytes, and the same envelope again as a duplicate.
func checkAuditHeadWitnessed(t *T) {
	t.witnessing()
	raw, c := t.auditHead(auditHeadBody(MemberTester, 7), federation.AuditHeadCaseID(MemberTester))
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptDuplicate)
	empty := auditHeadBody(MemberTester, 0)
	empty["head"] = ""
	raw, c = t.auditHead(empty, federation.AuditHeadCaseID(MemberTester))
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
}
