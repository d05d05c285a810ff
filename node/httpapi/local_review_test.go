package httpapi_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/policy"
)

// holdXB holds everything sent to XB-RC for an operator's review.
const holdXB = `schema: flx/policy/v1
version: "test-review"
member: XA-RC
country: XA
review:
  destination_members: [XB-RC]
`

type reviewQueue struct {
	Held []struct {
		DecisionID  int64  `json:"decision_id"`
		Kind        string `json:"kind"`
		CaseID      string `json:"case_id"`
		Destination string `json:"destination"`
		DocumentID  string `json:"document_id"`
		Rules       []struct {
			RuleID string `json:"rule_id"`
			Effect string `json:"effect"`
			Reason string `json:"reason"`
		} `json:"rules"`
		HeldSince string `json:"held_since"`
	} `json:"held"`
}

type sentResult struct {
	State      string `json:"state"`
	OutboxID   int64  `json:"outbox_id"`
	DecisionID int64  `json:"decision_id"`
}

func reviewList(t *testing.T, api *client) reviewQueue {
	t.Helper()
	var q reviewQueue
	expect(t, api.do("GET", "/api/v1/review", tokOperator, nil), 200, "ReviewQueue").decode(t, &q)
	return q
}

func parseRules(t *testing.T, src string) *policy.Rules {
	t.Helper()
	r, err := policy.Parse([]byte(src), "test rules")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestReviewQueueListsHeldItems: GET /api/v1/review lists a held forward
// and a held message (kind, case, destination, rules in plain words, held
// since), for operators only; an approved item leaves it, and a forward
// held on a case withdrawn since is not listed (approval could send
// nothing). On both stores.
func TestReviewQueueListsHeldItems(t *testing.T) {
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			f, lns := newFederation(t, "XA-RC")
			a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{Dialect: d, NoRun: true, Rules: parseRules(t, holdXB)})
			api := a.api
			if q := reviewList(t, api); len(q.Held) != 0 {
				t.Fatalf("empty node lists %+v", q)
			}
			expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")
			expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, withID("GONE-1"))), 201, "CaseSummary")
			var fw, msg, gone sentResult
			expect(t, api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "SendResult").decode(t, &fw)
			expect(t, api.do("POST", caseEsc+"/messages", tokCaseworker, familyNews(caseID, "XA-RC:FN-Q1")), 202, "SendResult").decode(t, &msg)
			expect(t, api.do("POST", "/api/v1/cases/XA-RC:GONE-1/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "SendResult").decode(t, &gone)
			for _, s := range []sentResult{fw, msg, gone} {
				if s.State != "needs_review" {
					t.Fatalf("send: %+v, want needs_review", s)
				}
			}
			expect(t, api.do("POST", "/api/v1/cases/XA-RC:GONE-1/withdraw", tokCaseworker, `{"reason":"consent_withdrawn"}`), 202, "")

			q := reviewList(t, api)
			if len(q.Held) != 2 {
				t.Fatalf("queue %+v, want the forward and the message (not the withdrawn case's forward)", q)
			}
			want := []struct {
				id        int64
				kind, doc string
			}{{fw.DecisionID, "case.create", ""}, {msg.DecisionID, "message.deliver", "XA-RC:FN-Q1"}}
			for i, h := range q.Held {
				w := want[i]
				if h.DecisionID != w.id || h.Kind != w.kind || h.CaseID != caseID || h.Destination != "XB-RC" || h.DocumentID != w.doc || h.HeldSince == "" {
					t.Errorf("item %d: %+v, want decision %d kind %s", i, h, w.id, w.kind)
				}
				fired := false
				for _, r := range h.Rules {
					if r.Effect == "needs_review" && r.RuleID != "" && len(strings.Fields(r.Reason)) > 3 {
						fired = true
					}
				}
				if !fired {
					t.Errorf("item %d names no review rule with its reason: %+v", i, h.Rules)
				}
			}
			for _, tok := range []string{tokCaseworker, tokAuditor} {
				expectProblem(t, api.do("GET", "/api/v1/review", tok, nil), 403, "forbidden")
			}
			expectProblem(t, api.do("GET", "/api/v1/review?all=1", tokOperator, nil), 400, "bad_request")

			expect(t, api.do("POST", caseEsc+"/decisions/"+strconv.FormatInt(msg.DecisionID, 10)+"/approve", tokOperator, nil), 202, "SendResult")
			if q := reviewList(t, api); len(q.Held) != 1 || q.Held[0].DecisionID != fw.DecisionID {
				t.Fatalf("after approving the message: %+v", q)
			}
		})
	}
}

// familyNews is a message request body about case id to XB-RC.
func familyNews(id, msgID string) map[string]any {
	return map[string]any{"to": "XB-RC", "message": map[string]any{
		"schema": "flx/v1/message", "message_id": msgID, "case_id": id,
		"kind": "family_news", "channel": "verbal", "created_at": "2026-01-02T03:04:05Z",
		"from": map[string]any{"person": "p1", "member": "XA-RC"}, "to": map[string]any{"person": "p2", "member": "XB-RC"},
		"body": "All well (invented).",
	}}
}

// TestApprovalThePolicyNowDenies: an item held for review, then the case
// changes (the enquirer withdraws consent; the sought person now fears
// XB) or the rules change (XB becomes a country the Society denies), so
// that the policy denies it. Approving it sends nothing, answers 403
// policy_denied with the new decision and a detail that says so, and the
// item leaves the review queue as denied (a deny decision is recorded; a
// held document's bytes are dropped): approving again is a conflict. What
// a DPO expects, written in policy/RULES.md ("Review").
func TestApprovalThePolicyNowDenies(t *testing.T) {
	withdrawConsent := func(m map[string]any) {
		for _, c := range m["consents"].([]any) {
			c.(map[string]any)["withdrawn_at"] = "2026-01-01T00:00:00Z"
		}
	}
	fearXB := func(m map[string]any) {
		for _, p := range m["persons"].([]any) {
			if p := p.(map[string]any); p["id"] == "p2" {
				p["feared_countries"] = []any{"XB"}
			}
		}
	}
	denyXB := holdXB + "risk:\n  countries: [XB]\n  action: deny\n"
	type sc struct {
		name    string
		message bool                   // hold a message (else a forward of the case)
		edit    func(m map[string]any) // the case changes (version 4)
		rules   string                 // or the rules change (restart)
	}
	for _, s := range []sc{
		{name: "forward/consent withdrawn", edit: withdrawConsent},
		{name: "forward/feared country", edit: fearXB},
		{name: "forward/rules now deny", rules: denyXB},
		{name: "message/consent withdrawn", message: true, edit: withdrawConsent},
		{name: "message/feared country", message: true, edit: fearXB},
		{name: "message/rules now deny", message: true, rules: denyXB},
	} {
		t.Run(s.name, func(t *testing.T) {
			f, lns := newFederation(t, "XA-RC")
			dsn := nodetest.DSN(t, nodetest.SQLite)
			a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{DSN: dsn, NoRun: true, Rules: parseRules(t, holdXB)})
			api := a.api
			expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")
			var held sentResult
			if s.message {
				expect(t, api.do("POST", caseEsc+"/messages", tokCaseworker, familyNews(caseID, "XA-RC:FN-D1")), 202, "SendResult").decode(t, &held)
			} else {
				expect(t, api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "SendResult").decode(t, &held)
			}
			if held.State != "needs_review" {
				t.Fatalf("send: %+v", held)
			}
			if s.edit != nil {
				expect(t, api.do("PUT", caseEsc, tokCaseworker, caseDoc(t, func(m map[string]any) {
					m["version"] = 4
					s.edit(m)
				})), 200, "CaseSummary")
			} else {
				a.Stop()
				a = startLocal(t, f, "XA-RC", nil, nodetest.Options{DSN: dsn, NoRun: true, Rules: parseRules(t, s.rules)})
				api = a.api
			}
			if q := reviewList(t, api); len(q.Held) != 1 || q.Held[0].DecisionID != held.DecisionID {
				t.Fatalf("before approval the item is held: %+v", q)
			}
			approve := caseEsc + "/decisions/" + strconv.FormatInt(held.DecisionID, 10) + "/approve"
			p := expectProblem(t, api.do("POST", approve, tokOperator, `{"note":"looked fine when held"}`), 403, "policy_denied")
			if !strings.Contains(p.Detail, "approval refused") || !strings.Contains(p.Detail, "nothing was sent") {
				t.Errorf("detail %q does not say the approval was refused and nothing sent", p.Detail)
			}
			var ob struct {
				Items []struct {
					Kind string `json:"kind"`
				} `json:"items"`
			}
			expect(t, api.do("GET", "/api/v1/outbox?case_id="+url.QueryEscape(caseID), tokOperator, nil), 200, "OutboxList").decode(t, &ob)
			if len(ob.Items) != 0 {
				t.Fatalf("approval of a denied item queued %+v", ob.Items)
			}
			if q := reviewList(t, api); len(q.Held) != 0 {
				t.Fatalf("the denied item is still in the review queue: %+v", q)
			}
			var ds struct {
				Decisions []struct {
					ID     int64  `json:"id"`
					Effect string `json:"effect"`
				} `json:"decisions"`
			}
			expect(t, api.do("GET", caseEsc+"/decisions", tokOperator, nil), 200, "DecisionList").decode(t, &ds)
			if n := len(ds.Decisions); n < 2 || ds.Decisions[n-1].Effect != "deny" || ds.Decisions[n-1].ID <= held.DecisionID {
				t.Fatalf("decisions %+v: want a deny recorded after the held one", ds.Decisions)
			}
			expectProblem(t, api.do("POST", approve, tokOperator, nil), 409, "conflict")
			if s.message {
				held, err := a.Store.HeldDocument(t.Context(), held.DecisionID)
				if err != nil || held.State != "denied" || held.Document != nil {
					t.Fatalf("held document after the refused approval: state %q, %d bytes kept, %v", held.State, len(held.Document), err)
				}
			}
		})
	}
}

// TestWithdrawalsListing: GET /api/v1/withdrawals lists a withdrawal that
// cannot reach its member (XB-RC refuses connections) as undelivered, with
// its attempts, for operators and auditors.
func TestWithdrawalsListing(t *testing.T) {
	f, lns := newFederation(t, "XA-RC")
	a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{})
	api := a.api
	var wl struct {
		Withdrawals []struct {
			CaseID   string `json:"case_id"`
			Member   string `json:"member"`
			State    string `json:"state"`
			Attempts int    `json:"attempts"`
		} `json:"withdrawals"`
	}
	expect(t, api.do("GET", "/api/v1/withdrawals", tokOperator, nil), 200, "WithdrawalList").decode(t, &wl)
	if len(wl.Withdrawals) != 0 {
		t.Fatalf("nothing withdrawn yet: %+v", wl)
	}
	expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")
	expect(t, api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "SendResult")
	waitFor(t, "a delivery attempt to XB-RC", func() bool {
		var ob struct {
			Items []struct {
				Attempts int `json:"attempts"`
			} `json:"items"`
		}
		api.do("GET", "/api/v1/outbox?destination=XB-RC", tokOperator, nil).decode(t, &ob)
		return len(ob.Items) == 1 && ob.Items[0].Attempts > 0
	})
	expect(t, api.do("POST", caseEsc+"/withdraw", tokCaseworker, `{"reason":"consent_withdrawn"}`), 202, "")
	waitFor(t, "the withdrawal attempted", func() bool {
		expect(t, api.do("GET", "/api/v1/withdrawals", tokAuditor, nil), 200, "WithdrawalList").decode(t, &wl)
		return len(wl.Withdrawals) == 1 && wl.Withdrawals[0].Attempts > 0
	})
	if w := wl.Withdrawals[0]; w.CaseID != caseID || w.Member != "XB-RC" || w.State != "undelivered" {
		t.Fatalf("withdrawal %+v", w)
	}
	expectProblem(t, api.do("GET", "/api/v1/withdrawals", tokCaseworker, nil), 403, "forbidden")
}

// TestApprovalDoesNotCoverNewReasons: a forward or message held for review
// (a review trigger on XB-RC), then the rules change so that it is also
// held for another reason (XB a risk country). Approving the old decision
// sends nothing: 409 conflict naming the new rule, and the item waits
// again under a new decision that lists it; approving that one sends it.
func TestApprovalDoesNotCoverNewReasons(t *testing.T) {
	for _, message := range []bool{false, true} {
		t.Run(map[bool]string{false: "forward", true: "message"}[message], func(t *testing.T) {
			f, lns := newFederation(t, "XA-RC")
			dsn := nodetest.DSN(t, nodetest.SQLite)
			a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{DSN: dsn, NoRun: true, Rules: parseRules(t, holdXB)})
			api := a.api
			expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")
			var held sentResult
			if message {
				expect(t, api.do("POST", caseEsc+"/messages", tokCaseworker, familyNews(caseID, "XA-RC:FN-R1")), 202, "SendResult").decode(t, &held)
			} else {
				expect(t, api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "SendResult").decode(t, &held)
			}
			a.Stop()
			a = startLocal(t, f, "XA-RC", nil, nodetest.Options{DSN: dsn, NoRun: true,
				Rules: parseRules(t, holdXB+"risk:\n  countries: [XB]\n  action: needs_review\n")})
			api = a.api
			approve := func(did int64) reply {
				return api.do("POST", caseEsc+"/decisions/"+strconv.FormatInt(did, 10)+"/approve", tokOperator, nil)
			}
			p := expectProblem(t, approve(held.DecisionID), 409, "conflict")
			if !strings.Contains(p.Detail, "FLX-DP-RISK-COUNTRY") || !strings.Contains(p.Detail, "nothing was sent") {
				t.Errorf("detail %q does not name the new reason or say nothing was sent", p.Detail)
			}
			q := reviewList(t, api)
			if len(q.Held) != 1 || q.Held[0].DecisionID <= held.DecisionID {
				t.Fatalf("queue %+v: want the item held again under a new decision", q)
			}
			named := false
			for _, r := range q.Held[0].Rules {
				named = named || r.RuleID == "FLX-DP-RISK-COUNTRY"
			}
			if !named {
				t.Errorf("the new decision does not show the new reason: %+v", q.Held[0].Rules)
			}
			var ok sentResult
			expect(t, approve(q.Held[0].DecisionID), 202, "SendResult").decode(t, &ok)
			if ok.State != "queued" || ok.OutboxID == 0 {
				t.Fatalf("approving the new decision: %+v", ok)
			}
			if q := reviewList(t, api); len(q.Held) != 0 {
				t.Fatalf("after approval: %+v", q)
			}
		})
	}
}
