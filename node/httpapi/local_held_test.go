package httpapi_test

import (
	"strconv"
	"testing"

	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/policy"
)

// TestReviewHeldMessage: through the local API, a message the rules hold
// for review is approved once (queued), a rejected one may be submitted
// again, and one whose case was withdrawn while it waited answers 410
// erased. On both stores.
func TestReviewHeldMessage(t *testing.T) {
	rules, err := policy.Parse([]byte(`schema: flx/policy/v1
version: "test-review"
member: XA-RC
country: XA
review:
  destination_members: [XB-RC]
`), "test rules")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			f, lns := newFederation(t, "XA-RC")
			a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{Dialect: d, NoRun: true, Rules: rules})
			api := a.api
			expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")
			type sent struct {
				State      string `json:"state"`
				OutboxID   int64  `json:"outbox_id"`
				DecisionID int64  `json:"decision_id"`
			}
			send := func(id string) sent {
				t.Helper()
				var s sent
				expect(t, api.do("POST", caseEsc+"/messages", tokCaseworker, map[string]any{"to": "XB-RC", "message": map[string]any{
					"schema": "flx/v1/message", "message_id": id, "case_id": caseID,
					"kind": "family_news", "channel": "verbal", "created_at": "2026-01-02T03:04:05Z",
					"from": map[string]any{"person": "p1", "member": "XA-RC"}, "to": map[string]any{"person": "p2", "member": "XB-RC"},
					"body": "All well (invented).",
				}}), 202, "SendResult").decode(t, &s)
				if s.State != "needs_review" || s.OutboxID != 0 || s.DecisionID == 0 {
					t.Fatalf("send %s: %+v", id, s)
				}
				return s
			}
			path := func(s sent, verdict string) string {
				return caseEsc + "/decisions/" + strconv.FormatInt(s.DecisionID, 10) + "/" + verdict
			}

			held := send("XA-RC:FN-1")
			var ok sent
			expect(t, api.do("POST", path(held, "approve"), tokOperator, `{"note":"checked"}`), 202, "SendResult").decode(t, &ok)
			if ok.State != "queued" || ok.OutboxID == 0 {
				t.Fatalf("approve: %+v", ok)
			}
			expectProblem(t, api.do("POST", path(held, "approve"), tokOperator, nil), 409, "conflict")

			no := send("XA-RC:FN-2")
			expect(t, api.do("POST", path(no, "reject"), tokOperator, nil), 200, "SendResult")
			expectProblem(t, api.do("POST", path(no, "approve"), tokOperator, nil), 409, "conflict")
			if again := send("XA-RC:FN-2"); again.DecisionID == no.DecisionID {
				t.Fatal("the rejected message was answered with its old decision")
			}

			gone := send("XA-RC:FN-3")
			expect(t, api.do("POST", caseEsc+"/withdraw", tokCaseworker, `{"reason":"consent_withdrawn"}`), 202, "")
			expectProblem(t, api.do("POST", path(gone, "approve"), tokOperator, nil), 410, "erased")
			expectProblem(t, api.do("POST", path(gone, "reject"), tokOperator, nil), 410, "erased")
		})
	}
}
