package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
)

const (
	caseID  = "XA-RC:TR-2024-0117"
	casePth = "/api/v1/cases/XA-RC:TR-2024-0117"
	caseEsc = "/api/v1/cases/XA-RC%3ATR-2024-0117"
)

func TestHealthReadyMetricsOpenAPI(t *testing.T) {
	f, _ := newFederation(t)
	a := startLocal(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})

	expect(t, a.api.do("GET", "/healthz", "", nil), 200, "HealthStatus")
	expect(t, a.api.do("GET", "/readyz", "", nil), 200, "HealthStatus")

	m := expect(t, a.api.do("GET", "/metrics", "", nil), 200, "")
	if !strings.Contains(string(m.Body), "flx_test_up 1") {
		t.Fatalf("metrics: %s", m.Body)
	}

	o := expect(t, a.api.do("GET", "/api/v1/openapi.json", "", nil), 200, "")
	var doc map[string]any
	o.decode(t, &doc)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi version %q", v)
	}
}

// TestCaseLifecycle walks every case route on one node, as the roles that
// may call them, checking each answer against the OpenAPI schemas.
func TestCaseLifecycle(t *testing.T) {
	f, _ := newFederation(t)
	a := startLocal(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})
	api := a.api
	doc := caseDoc(t, nil)

	// create
	r := expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, doc), 201, "CaseSummary")
	var created httpapi.CaseSummary
	r.decode(t, &created)
	if created.CaseID != caseID || created.Version != 3 || created.Origin != "XA-RC" || created.Erased {
		t.Fatalf("created %+v", created)
	}
	if loc := r.Header.Get("Location"); loc != casePth {
		t.Fatalf("Location %q", loc)
	}
	expectProblem(t, api.do("POST", "/api/v1/cases", tokCaseworker, doc), 409, "conflict")

	// read, with the ':' raw and escaped, as each reading role
	for _, path := range []string{casePth, caseEsc, "/api/v1/cases/XA-RC%3aTR-2024-0117"} {
		var v httpapi.CaseView
		expect(t, api.do("GET", path, tokCaseworker, nil), 200, "CaseView").decode(t, &v)
		if v.CaseID != caseID || len(v.Document) == 0 || v.Received == nil || v.Recipients == nil || v.Decisions == nil {
			t.Fatalf("GET %s: %+v", path, v)
		}
	}
	var opView, audView httpapi.CaseView
	expect(t, api.do("GET", caseEsc, tokOperator, nil), 200, "CaseView").decode(t, &opView)
	expect(t, api.do("GET", caseEsc, tokAuditor, nil), 200, "CaseView").decode(t, &audView)
	if len(opView.Document) == 0 || len(audView.Document) != 0 || audView.Version != 3 {
		t.Fatalf("operator sees document: %v; auditor sees document: %v", len(opView.Document) > 0, len(audView.Document) > 0)
	}
	expectProblem(t, api.do("GET", "/api/v1/cases/XA-RC:NOPE-1", tokCaseworker, nil), 404, "not_found")
	expectProblem(t, api.do("GET", "/api/v1/cases/not-a-case-id", tokCaseworker, nil), 400, "bad_request")
	expectProblem(t, api.do("GET", "/api/v1/cases/XA-RC%2FTR-2024-0117", tokCaseworker, nil), 400, "bad_request")

	// update: version must be current + 1
	v4 := caseDoc(t, func(m map[string]any) { m["version"] = 4; m["status"] = "acknowledged" })
	var upd httpapi.CaseSummary
	expect(t, api.do("PUT", caseEsc, tokCaseworker, v4), 200, "CaseSummary").decode(t, &upd)
	if upd.Version != 4 {
		t.Fatalf("updated %+v", upd)
	}
	// An unchanged document at the next version makes no version 5.
	v5same := caseDoc(t, func(m map[string]any) { m["version"] = 5; m["status"] = "acknowledged" })
	expect(t, api.do("PUT", casePth, tokCaseworker, v5same), 200, "CaseSummary").decode(t, &upd)
	if upd.Version != 4 {
		t.Fatalf("unchanged update made version %d", upd.Version)
	}
	p := expectProblem(t, api.do("PUT", casePth, tokCaseworker, v4), 409, "conflict")
	if !strings.Contains(p.Detail, "version") {
		t.Fatalf("conflict detail %q", p.Detail)
	}
	other := caseDoc(t, func(m map[string]any) { m["version"] = 5; m["case_id"] = "XA-RC:OTHER-1" })
	expectProblem(t, api.do("PUT", casePth, tokCaseworker, other), 400, "bad_request")
	expectProblem(t, api.do("PUT", "/api/v1/cases/XA-RC:OTHER-1", tokCaseworker, other), 404, "not_found")

	// list, filters and pages
	second := caseDoc(t, func(m map[string]any) { m["case_id"] = "XA-RC:TR-2024-0200"; m["status"] = "open" })
	expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, second), 201, "CaseSummary")
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{caseID, "XA-RC:TR-2024-0200"}},
		{"?status=open", []string{"XA-RC:TR-2024-0200"}},
		{"?type=tracing_request&origin=XA-RC", []string{caseID, "XA-RC:TR-2024-0200"}},
		{"?type=death_notification", nil},
		{"?origin=XB-RC", nil},
		{"?updated_since=2999-01-01T00:00:00Z", nil},
	} {
		t.Run("list"+tc.query, func(t *testing.T) {
			var l httpapi.CaseList
			expect(t, api.do("GET", "/api/v1/cases"+tc.query, tokAuditor, nil), 200, "CaseList").decode(t, &l)
			var got []string
			for _, c := range l.Cases {
				got = append(got, c.CaseID)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	var page1, page2 httpapi.CaseList
	expect(t, api.do("GET", "/api/v1/cases?limit=1", tokCaseworker, nil), 200, "CaseList").decode(t, &page1)
	if len(page1.Cases) != 1 || page1.Next == "" {
		t.Fatalf("page 1 %+v", page1)
	}
	expect(t, api.do("GET", "/api/v1/cases?limit=1&cursor="+url.QueryEscape(page1.Next), tokCaseworker, nil), 200, "CaseList").decode(t, &page2)
	if len(page2.Cases) != 1 || page2.Cases[0].CaseID == page1.Cases[0].CaseID {
		t.Fatalf("page 2 %+v after %+v", page2, page1)
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?updated_since=yesterday", "?stauts=open", "?status=open&status=closed", "?include_erased=maybe", "?cursor=%21%21"} {
		expectProblem(t, api.do("GET", "/api/v1/cases"+q, tokCaseworker, nil), 400, "bad_request")
	}

	// policy check (nothing stored), forward, decisions
	var check struct {
		DecisionID int64  `json:"decision_id"`
		State      string `json:"state"`
		Kind       string `json:"kind"`
	}
	expect(t, api.do("POST", caseEsc+"/policy-check", tokOperator, `{"to":"XB-RC"}`), 200, "SendResult").decode(t, &check)
	if check.DecisionID != 0 || check.State != "queued" || check.Kind != "case.create" {
		t.Fatalf("policy check %+v", check)
	}
	var fwd struct {
		DecisionID int64  `json:"decision_id"`
		State      string `json:"state"`
		Kind       string `json:"kind"`
		JTI        string `json:"jti"`
		OutboxID   int64  `json:"outbox_id"`
	}
	expect(t, api.do("POST", casePth+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "SendResult").decode(t, &fwd)
	if fwd.State != "queued" || fwd.Kind != "case.create" || fwd.JTI == "" || fwd.OutboxID == 0 || fwd.DecisionID == 0 {
		t.Fatalf("forward %+v", fwd)
	}
	// Forwarding again a version XB-RC is being sent queues nothing new.
	var again struct {
		Kind     string
		OutboxID int64 `json:"outbox_id"`
	}
	expect(t, api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "SendResult").decode(t, &again)
	if again.Kind != "case.create" || again.OutboxID != fwd.OutboxID {
		t.Fatalf("second forward %+v, want the create already queued", again)
	}
	// A new version goes by itself to XB-RC, which is sent an earlier one
	// (FLX-COR-001); forwarding it after that answers the queued update.
	v5 := caseDoc(t, func(m map[string]any) { m["version"] = 5; m["status"] = "tracing_in_progress" })
	expect(t, api.do("PUT", caseEsc, tokCaseworker, v5), 200, "CaseSummary")
	expect(t, api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "SendResult").decode(t, &again)
	if again.Kind != "case.update" || again.OutboxID == fwd.OutboxID {
		t.Fatalf("forward after the update %+v, want the update queued by it", again)
	}
	expectProblem(t, api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"XZ-RC"}`), 404, "unknown_member")
	expectProblem(t, api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"not a member"}`), 400, "bad_request")
	expectProblem(t, api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"XA-RC"}`), 400, "bad_request")

	var ds httpapi.DecisionList
	expect(t, api.do("GET", caseEsc+"/decisions", tokAuditor, nil), 200, "DecisionList").decode(t, &ds)
	if len(ds.Decisions) != 2 || ds.Decisions[0].ID != fwd.DecisionID || ds.Decisions[0].Destination != "XB-RC" {
		t.Fatalf("decisions %+v", ds)
	}
	expectProblem(t, api.do("GET", "/api/v1/cases/XA-RC:NOPE-1/decisions", tokAuditor, nil), 404, "not_found")

	// outbox, peers, inbox
	var ob httpapi.OutboxList
	r = expect(t, api.do("GET", "/api/v1/outbox?destination=XB-RC&case_id="+url.QueryEscape(caseID), tokOperator, nil), 200, "OutboxList")
	r.decode(t, &ob)
	if len(ob.Items) != 2 || ob.Items[0].ID != fwd.OutboxID || ob.Items[0].JTI != fwd.JTI || ob.Items[0].State != "queued" {
		t.Fatalf("outbox %+v", ob)
	}
	if strings.Contains(string(r.Body), "envelope") || strings.Contains(string(r.Body), "Leila") {
		t.Fatalf("outbox listing carries envelope data: %s", r.Body)
	}
	expect(t, api.do("GET", "/api/v1/outbox?limit=1", tokOperator, nil), 200, "OutboxList").decode(t, &ob)
	if len(ob.Items) != 1 || ob.Next != ob.Items[0].ID {
		t.Fatalf("outbox page %+v", ob)
	}
	var ob2 httpapi.OutboxList
	expect(t, api.do("GET", "/api/v1/outbox?after="+strconv.FormatInt(ob.Next, 10)+"&state=queued", tokOperator, nil), 200, "OutboxList").decode(t, &ob2)
	if len(ob2.Items) != 1 || ob2.Next != 0 || ob2.Items[0].Kind != "case.update" {
		t.Fatalf("outbox page 2 %+v", ob2)
	}
	expectProblem(t, api.do("GET", "/api/v1/outbox?state=lost", tokOperator, nil), 400, "bad_request")
	var peers httpapi.PeerList
	expect(t, api.do("GET", "/api/v1/outbox/peers", tokOperator, nil), 200, "PeerList").decode(t, &peers)
	if len(peers.Peers) != 1 || peers.Peers[0].Destination != "XB-RC" || peers.Peers[0].Queued != 2 || peers.Peers[0].MemberStatus != "active" {
		t.Fatalf("peers %+v", peers)
	}
	var in httpapi.InboxList
	expect(t, api.do("GET", "/api/v1/inbox?kind=case.create&state=processed&limit=10", tokCaseworker, nil), 200, "InboxList").decode(t, &in)
	if len(in.Items) != 0 {
		t.Fatalf("inbox %+v", in)
	}
	expectProblem(t, api.do("GET", "/api/v1/inbox?kind=case.delete", tokCaseworker, nil), 400, "bad_request")

	// manifest
	var ms httpapi.ManifestStatus
	expect(t, api.do("GET", "/api/v1/manifest", tokOperator, nil), 200, "ManifestStatus").decode(t, &ms)
	if ms.Self != "XA-RC" || ms.Version != 2 || !ms.Usable || len(ms.Members) != 3 {
		t.Fatalf("manifest %+v", ms)
	}

	// withdraw
	expectProblem(t, api.do("POST", caseEsc+"/withdraw", tokCaseworker, `{"reason":"bored"}`), 400, "bad_request")
	expectProblem(t, api.do("POST", caseEsc+"/withdraw", tokCaseworker, `{}`), 400, "bad_request")
	expectProblem(t, api.do("POST", caseEsc+"/withdraw", tokCaseworker, `{"reason":"consent_withdrawn","person_ids":["p2"]}`), 400, "bad_request")
	var wr node.WithdrawResult
	expect(t, api.do("POST", caseEsc+"/withdraw", tokCaseworker, `{"reason":"consent_withdrawn","person_ids":[]}`), 202, "WithdrawResult").decode(t, &wr)
	// Nothing was ever attempted (this node runs no delivery loop here): the
	// queued envelopes are cancelled and XB-RC, which never saw the case, is
	// not told it exists.
	if wr.CaseID != caseID || len(wr.SentTo) != 0 || wr.Cancelled != 2 {
		t.Fatalf("withdraw %+v", wr)
	}
	var gone httpapi.CaseView
	expect(t, api.do("GET", caseEsc, tokCaseworker, nil), 200, "CaseView").decode(t, &gone)
	if !gone.Erased || gone.ErasedAt == nil || gone.EraseReason != "consent_withdrawn" || len(gone.Document) != 0 {
		t.Fatalf("after withdraw %+v", gone)
	}
	expectProblem(t, api.do("PUT", caseEsc, tokCaseworker, caseDoc(t, func(m map[string]any) { m["version"] = 5 })), 410, "erased")
	expectProblem(t, api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 410, "erased")
	// Withdrawing again is harmless: nobody holds it, nobody is asked.
	expect(t, api.do("POST", caseEsc+"/withdraw", tokCaseworker, `{"reason":"consent_withdrawn"}`), 202, "WithdrawResult").decode(t, &wr)
	if !wr.Again || len(wr.SentTo) != 0 || wr.Cancelled != 0 {
		t.Fatalf("withdraw again %+v", wr)
	}
	var listed httpapi.CaseList
	expect(t, api.do("GET", "/api/v1/cases", tokCaseworker, nil), 200, "CaseList").decode(t, &listed)
	if len(listed.Cases) != 1 {
		t.Fatalf("erased case listed by default: %+v", listed)
	}
	expect(t, api.do("GET", "/api/v1/cases?include_erased=true", tokCaseworker, nil), 200, "CaseList").decode(t, &listed)
	if len(listed.Cases) != 2 {
		t.Fatalf("include_erased: %+v", listed)
	}

	// the audit log holds every change and every read of a case, by token
	// name, and verifies
	var al httpapi.AuditList
	expect(t, api.do("GET", "/api/v1/audit?limit=1000", tokAuditor, nil), 200, "AuditList").decode(t, &al)
	var actions []string
	for _, e := range al.Items {
		actions = append(actions, e.Actor+":"+e.Action)
	}
	want := "cw-anna:case.create,cw-anna:case.read,cw-anna:case.read,cw-anna:case.read,op-ben:case.read,au-chloe:case.read," +
		"cw-anna:case.update,cw-anna:case.create,cw-anna:send.queued,cw-anna:case.update,cw-anna:send.queued,cw-anna:case.withdraw,cw-anna:case.read,cw-anna:case.withdraw"
	if strings.Join(actions, ",") != want {
		t.Fatalf("audit %v\nwant %s", actions, want)
	}
	expect(t, api.do("GET", "/api/v1/audit?action=case.create&actor=cw-anna&object="+url.QueryEscape(caseID), tokOperator, nil), 200, "AuditList").decode(t, &al)
	if len(al.Items) != 1 || al.Items[0].Object != caseID {
		t.Fatalf("audit filter %+v", al)
	}
	expect(t, api.do("GET", "/api/v1/audit?limit=2&after=1", tokOperator, nil), 200, "AuditList").decode(t, &al)
	if len(al.Items) != 2 || al.Items[0].Seq != 2 || al.Next != 3 {
		t.Fatalf("audit page %+v", al)
	}
	var ver httpapi.AuditVerification
	expect(t, api.do("GET", "/api/v1/audit/verify", tokAuditor, nil), 200, "AuditVerification").decode(t, &ver)
	if !ver.OK || ver.Rows != 14 || ver.FirstBadSeq != 0 || ver.Head == "" {
		t.Fatalf("verify %+v", ver)
	}

	// the request log names routes and token names, never ids, documents or tokens
	logs := a.logs.String()
	for _, leak := range []string{"TR-2024-0117", "TR-2024-0200", "Leila", tokCaseworker, tokOperator, tokAuditor} {
		if strings.Contains(logs, leak) {
			t.Errorf("request log contains %q", leak)
		}
	}
	for _, must := range []string{`"route":"/api/v1/cases/{id}/forward"`, `"actor":"cw-anna"`, `"status":202`, `"duration_ms"`} {
		if !strings.Contains(logs, must) {
			t.Errorf("request log lacks %s", must)
		}
	}
}

func TestErrors(t *testing.T) {
	f, _ := newFederation(t)
	a := startLocal(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})
	api := a.api
	expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")

	t.Run("schema_invalid carries pointers", func(t *testing.T) {
		bad := caseDoc(t, func(m map[string]any) {
			m["case_id"] = "XA-RC:BAD-1"
			m["persons"].([]any)[0].(map[string]any)["sex"] = "MARKER-zz9"
		})
		r := api.do("POST", "/api/v1/cases", tokCaseworker, bad)
		p := expectProblem(t, r, 422, "schema_invalid")
		found := false
		for _, e := range p.Errors {
			found = found || e.Pointer == "/persons/0/sex"
		}
		if !found {
			t.Fatalf("no /persons/0/sex in %+v", p.Errors)
		}
		if strings.Contains(string(r.Body), "MARKER-zz9") {
			t.Fatalf("problem echoes the document: %s", r.Body)
		}
	})
	t.Run("policy_denied carries the decision", func(t *testing.T) {
		deny := caseDoc(t, func(m map[string]any) { m["case_id"] = "XA-RC:GEN-1"; m["purpose"] = "genealogy" })
		expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, deny), 201, "CaseSummary")
		p := expectProblem(t, api.do("POST", "/api/v1/cases/XA-RC:GEN-1/forward", tokCaseworker, `{"to":"XB-RC"}`), 403, "policy_denied")
		if p.Decision == nil || p.Decision.Effect != "deny" || len(p.Decision.Fired) == 0 {
			t.Fatalf("decision %+v", p.Decision)
		}
		rule := false
		for _, fr := range p.Decision.Fired {
			rule = rule || fr.RuleID == "FLX-DP-PURPOSE"
		}
		if !rule {
			t.Fatalf("FLX-DP-PURPOSE did not fire: %+v", p.Decision.Fired)
		}
		// the refusal is recorded; the dry run answers 200 with state denied
		var ds httpapi.DecisionList
		expect(t, api.do("GET", "/api/v1/cases/XA-RC:GEN-1/decisions", tokCaseworker, nil), 200, "DecisionList").decode(t, &ds)
		if len(ds.Decisions) != 1 || ds.Decisions[0].Effect != "deny" {
			t.Fatalf("decisions %+v", ds)
		}
		var dry struct{ State string }
		expect(t, api.do("POST", "/api/v1/cases/XA-RC:GEN-1/policy-check", tokCaseworker, `{"to":"XB-RC"}`), 200, "SendResult").decode(t, &dry)
		if dry.State != "denied" {
			t.Fatalf("dry run state %q", dry.State)
		}
	})
	t.Run("not_origin", func(t *testing.T) {
		foreign := caseDoc(t, func(m map[string]any) {
			m["case_id"] = "XB-RC:TR-9"
			m["origin"].(map[string]any)["member"] = "XB-RC"
		})
		expectProblem(t, api.do("POST", "/api/v1/cases", tokCaseworker, foreign), 409, "not_origin")
	})

	big := `{"to":"XB-RC","pad":"` + strings.Repeat("x", httpapi.DefaultLocalMaxBodyBytes) + `"}`
	dupDoc := strings.Replace(string(caseDoc(t, nil)), "{", `{"case_id":"XA-RC:DUP-1",`, 1)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		hdr    []string
		status int
		code   string
	}{
		{"oversize", "POST", "/api/v1/cases", big, nil, 413, "too_large"},
		{"oversize wrapper", "POST", caseEsc + "/forward", big, nil, 413, "too_large"},
		{"wrong content type", "POST", "/api/v1/cases", caseDoc(t, nil), []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"no content type", "POST", caseEsc + "/forward", `{"to":"XB-RC"}`, []string{"Content-Type", ""}, 415, "unsupported_media_type"},
		{"unknown wrapper member", "POST", caseEsc + "/forward", `{"to":"XB-RC","urgent":true}`, nil, 400, "bad_request"},
		{"wrapper not an object", "POST", caseEsc + "/forward", `["XB-RC"]`, nil, 400, "bad_request"},
		{"wrapper wrong type", "POST", caseEsc + "/forward", `{"to":7}`, nil, 400, "bad_request"},
		{"trailing data", "POST", caseEsc + "/forward", `{"to":"XB-RC"} {}`, nil, 400, "bad_request"},
		{"document not JSON", "POST", "/api/v1/cases", `{"schema":`, nil, 400, "bad_request"},
		{"wrapper not JSON", "POST", caseEsc + "/withdraw", `{"reason":`, nil, 400, "bad_request"},
		{"duplicate wrapper member", "POST", caseEsc + "/forward", `{"to":"XB-RC","to":"XC-RC"}`, nil, 400, "duplicate_key"},
		{"duplicate document member", "POST", "/api/v1/cases", dupDoc, nil, 400, "duplicate_key"},
		{"duplicate member deep in a document", "POST", caseEsc + "/messages", `{"to":"XB-RC","document":{"a":{"b":[{"c":1,"c":1}]}}}`, nil, 400, "duplicate_key"},
		{"duplicate member in an import line", "POST", "/api/v1/import/cases", `{"cases":[{"x":1},{"x":1,"x":1}]}`, nil, 400, "duplicate_key"},
		{"empty body", "POST", "/api/v1/cases", "", []string{"Content-Type", "application/json"}, 400, "bad_request"},
		{"message without document", "POST", caseEsc + "/messages", `{"to":"XB-RC"}`, nil, 400, "bad_request"},
		{"unknown route", "GET", "/api/v1/nothing", nil, nil, 404, "not_found"},
		{"unknown route no token", "GET", "/nope", nil, nil, 404, "not_found"},
		{"unknown decision", "POST", caseEsc + "/decisions/999/approve", nil, nil, 404, "not_found"},
		{"decision id not a number", "POST", caseEsc + "/decisions/abc/reject", nil, nil, 404, "not_found"},
		{"unknown outbox row", "POST", "/api/v1/outbox/999/requeue", nil, nil, 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tokCaseworker
			if strings.Contains(tc.path, "/decisions/") || strings.Contains(tc.path, "/outbox/") {
				tok = tokOperator
			}
			p := expectProblem(t, api.do(tc.method, tc.path, tok, tc.body, tc.hdr...), tc.status, tc.code)
			if tc.code == "duplicate_key" && !strings.Contains(p.Detail, `"/`) {
				t.Errorf("detail %q names no JSON pointer", p.Detail)
			}
		})
	}

	t.Run("oversize chunked", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte(big))
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", api.base+"/api/v1/cases", pr)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tokCaseworker)
		expectProblem(t, api.send(req), 413, "too_large")
	})
	t.Run("wrong method", func(t *testing.T) {
		for _, tc := range []struct{ method, path, allow string }{
			{"DELETE", caseEsc, "GET, PUT"},
			{"PUT", "/api/v1/cases", "GET, POST"},
			{"GET", caseEsc + "/forward", "POST"},
			{"POST", "/healthz", "GET"},
		} {
			r := api.do(tc.method, tc.path, "", nil)
			expectProblem(t, r, 405, "method_not_allowed")
			if got := r.Header.Get("Allow"); got != tc.allow {
				t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
			}
		}
	})
}

// TestAuth checks every registered route against no token, a wrong token,
// a wrong scheme, and every role: roles the route does not list get 403
// forbidden, the others get past the guard.
func TestAuth(t *testing.T) {
	f, _ := newFederation(t)
	a := startLocal(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})
	routes, err := httpapi.RegisteredLocalRoutes()
	if err != nil {
		t.Fatal(err)
	}
	concrete := strings.NewReplacer("{id}", "XA-RC%3ANOPE-1", "{did}", "1", "{oid}", "1")
	for _, rt := range routes {
		path := concrete.Replace(rt.Path)
		var body any
		if rt.Method == "POST" || rt.Method == "PUT" {
			body = `{}`
		}
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			if rt.Roles == nil {
				r := a.api.do(rt.Method, path, "", body)
				if r.Status == 401 || r.Status == 403 {
					t.Fatalf("public route refused: %s", r)
				}
				return
			}
			for name, hdr := range map[string]string{
				"no token":     "",
				"wrong token":  "Bearer " + tokUnknown,
				"empty token":  "Bearer ",
				"basic scheme": "Basic " + tokCaseworker,
				"no scheme":    tokCaseworker,
				"token suffix": "Bearer " + tokCaseworker + "x",
			} {
				r := a.api.do(rt.Method, path, "", body, "Authorization", hdr)
				expectProblem(t, r, 401, "unauthenticated")
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: WWW-Authenticate %q", name, r.Header.Get("WWW-Authenticate"))
				}
			}
			for role, tok := range roleTokens {
				allowed := false
				for _, r := range rt.Roles {
					allowed = allowed || r == role
				}
				r := a.api.do(rt.Method, path, "", body, "Authorization", "bearer "+tok)
				if !allowed {
					expectProblem(t, r, 403, "forbidden")
					continue
				}
				if r.Status == 401 || r.Status == 403 {
					t.Errorf("role %s refused: %s", role, r)
				}
			}
		})
	}
	// a refused trigger call has no effect
	a.api.do("POST", "/api/v1/cases", tokUnknown, caseDoc(t, nil))
	a.api.do("POST", "/api/v1/cases", tokOperator, caseDoc(t, nil))
	if _, err := a.Store.GetCase(context.Background(), caseID); err == nil {
		t.Fatal("a refused create stored the case")
	}
	var al httpapi.AuditList
	expect(t, a.api.do("GET", "/api/v1/audit", tokAuditor, nil), 200, "AuditList").decode(t, &al)
	// The operator's rematch above needs no input and was allowed: its
	// entry is the one expected.
	al.Items = slices.DeleteFunc(al.Items, func(e httpapi.AuditEntry) bool {
		return e.Action == "match.rematch" && e.Actor == "op-ben"
	})
	if len(al.Items) != 0 {
		t.Fatalf("refused calls were audited as changes: %+v", al.Items)
	}
}

// TestReview holds a forward for review (the rules send everything to
// XC-RC through review), then approves and rejects as the operator.
func TestReview(t *testing.T) {
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
	f, _ := newFederation(t)
	a := startLocal(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, Rules: rules})
	api := a.api
	expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")

	type result struct {
		DecisionID int64  `json:"decision_id"`
		State      string `json:"state"`
		OutboxID   int64  `json:"outbox_id"`
		Decision   struct {
			Effect string `json:"effect"`
			Review *struct {
				Approved bool   `json:"approved"`
				By       string `json:"by"`
				Note     string `json:"note"`
			} `json:"review"`
		} `json:"decision"`
	}
	forward := func() result {
		var res result
		expect(t, api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "SendResult").decode(t, &res)
		if res.State != "needs_review" || res.OutboxID != 0 || res.DecisionID == 0 {
			t.Fatalf("forward %+v", res)
		}
		return res
	}
	held := forward()
	base := caseEsc + "/decisions/" + strconv.FormatInt(held.DecisionID, 10)
	expectProblem(t, api.do("POST", base+"/approve", tokCaseworker, nil), 403, "forbidden")
	expectProblem(t, api.do("POST", base+"/approve", tokOperator, `{"note":"ok","by":"me"}`), 400, "bad_request")

	var ok result
	expect(t, api.do("POST", base+"/approve", tokOperator, `{"note":"checked with the DPO"}`), 202, "SendResult").decode(t, &ok)
	if ok.State != "queued" || ok.OutboxID == 0 || ok.Decision.Review == nil || !ok.Decision.Review.Approved || ok.Decision.Review.By != "op-ben" || ok.Decision.Review.Note != "checked with the DPO" {
		t.Fatalf("approve %+v", ok)
	}
	expectProblem(t, api.do("POST", base+"/approve", tokOperator, nil), 409, "conflict")

	held2 := forward()
	var no result
	expect(t, api.do("POST", caseEsc+"/decisions/"+strconv.FormatInt(held2.DecisionID, 10)+"/reject", tokOperator, nil), 200, "SendResult").decode(t, &no)
	if no.State != "denied" || no.Decision.Effect != "deny" || no.Decision.Review == nil || no.Decision.Review.Approved {
		t.Fatalf("reject %+v", no)
	}
	var al httpapi.AuditList
	expect(t, api.do("GET", "/api/v1/audit?actor=op-ben", tokAuditor, nil), 200, "AuditList").decode(t, &al)
	if len(al.Items) != 2 || al.Items[0].Action != "review.approve" || al.Items[1].Action != "review.reject" {
		t.Fatalf("review audit %+v", al.Items)
	}
}

func TestRequeue(t *testing.T) {
	ctx := context.Background()
	f, _ := newFederation(t)
	a := startLocal(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})
	api := a.api
	expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")
	var fwd struct {
		OutboxID int64 `json:"outbox_id"`
	}
	expect(t, api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "SendResult").decode(t, &fwd)
	path := "/api/v1/outbox/" + strconv.FormatInt(fwd.OutboxID, 10) + "/requeue"

	expectProblem(t, api.do("POST", path, tokOperator, nil), 409, "conflict") // queued, not dead
	if err := a.Store.MarkDead(ctx, fwd.OutboxID, 0, "test: gave up"); err != nil {
		t.Fatal(err)
	}
	var dead httpapi.OutboxList
	expect(t, api.do("GET", "/api/v1/outbox?state=dead", tokOperator, nil), 200, "OutboxList").decode(t, &dead)
	if len(dead.Items) != 1 || dead.Items[0].LastError == "" {
		t.Fatalf("dead rows %+v", dead)
	}
	expectProblem(t, api.do("POST", path, tokCaseworker, nil), 403, "forbidden")
	var it httpapi.OutboxSummary
	expect(t, api.do("POST", path, tokOperator, nil), 202, "OutboxSummary").decode(t, &it)
	if it.ID != fwd.OutboxID || it.State != string(store.Queued) || it.Attempts != 0 {
		t.Fatalf("requeued %+v", it)
	}
	var al httpapi.AuditList
	expect(t, api.do("GET", "/api/v1/audit?action=outbox.requeue", tokAuditor, nil), 200, "AuditList").decode(t, &al)
	if len(al.Items) != 1 || al.Items[0].Actor != "op-ben" || al.Items[0].Object != strconv.FormatInt(fwd.OutboxID, 10) {
		t.Fatalf("requeue audit %+v", al.Items)
	}
	var details map[string]any
	if err := json.Unmarshal(al.Items[0].Details, &details); err != nil || details["destination"] != "XB-RC" {
		t.Fatalf("requeue audit details %s", al.Items[0].Details)
	}
}

// TestRetryPeer: a peer resting after failures, as the operator sees it,
// and "retry now": the saved backoff is cleared, its waiting rows are due
// now, and the call is audited.
func TestRetryPeer(t *testing.T) {
	ctx := context.Background()
	f, _ := newFederation(t)
	a := startLocal(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})
	api := a.api
	expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")
	expect(t, api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "SendResult")
	items, err := a.Store.ClaimDue(ctx, store.ClaimRequest{Worker: "test", Destination: "XB-RC", Limit: 1})
	if err != nil || len(items) != 1 {
		t.Fatalf("claim: %v %v", items, err)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if err := a.Store.MarkFailed(ctx, items[0].ID, items[0].Attempts, "transport: refused", until); err != nil {
		t.Fatal(err)
	}
	if err := a.Store.SavePeerBackoff(ctx, store.PeerBackoff{Destination: "XB-RC", Failures: 3, NextAttemptAt: until, LastError: "transport"}); err != nil {
		t.Fatal(err)
	}
	peer := func() httpapi.PeerStats {
		t.Helper()
		var pl httpapi.PeerList
		expect(t, api.do("GET", "/api/v1/outbox/peers", tokOperator, nil), 200, "PeerList").decode(t, &pl)
		if len(pl.Peers) != 1 {
			t.Fatalf("peers %+v", pl)
		}
		return pl.Peers[0]
	}
	if p := peer(); p.ConsecutiveFailures != 3 || p.BackoffUntil == nil || !p.BackoffUntil.Equal(until) || p.BackoffSecs < 3500 || p.LastError != "transport" {
		t.Fatalf("resting peer %+v", p)
	}
	path := "/api/v1/outbox/peers/XB-RC/retry"
	expectProblem(t, api.do("POST", path, tokCaseworker, nil), 403, "forbidden")
	expectProblem(t, api.do("POST", "/api/v1/outbox/peers/xb-rc/retry", tokOperator, nil), 404, "not_found")
	var pr httpapi.PeerRetry
	expect(t, api.do("POST", path, tokOperator, nil), 202, "PeerRetry").decode(t, &pr)
	if pr.Destination != "XB-RC" || pr.Rows != 1 {
		t.Fatalf("retry %+v", pr)
	}
	if p := peer(); p.ConsecutiveFailures != 0 || p.BackoffUntil != nil || p.BackoffSecs != 0 || p.LastError != "" {
		t.Fatalf("after retry now %+v", p)
	}
	if o, err := a.Store.GetOutbox(ctx, items[0].ID); err != nil || !o.NextAttemptAt.Before(until) {
		t.Fatalf("the waiting row is not due now: %v %v", o.NextAttemptAt, err)
	}
	var al httpapi.AuditList
	expect(t, api.do("GET", "/api/v1/audit?action=outbox.retry_peer", tokAuditor, nil), 200, "AuditList").decode(t, &al)
	if len(al.Items) != 1 || al.Items[0].Actor != "op-ben" || al.Items[0].Object != "XB-RC" {
		t.Fatalf("retry audit %+v", al.Items)
	}
}
