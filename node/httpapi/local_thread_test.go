package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/schema"
)

// TestResponseReadAndThread drives two real nodes: XB-RC answers XA-RC's
// case with "located"; XA-RC's case moves to located_contact_restored in a
// new version whose source is the response; the caseworker reads the
// response in full and follows the case's thread in time order; the
// auditor sees the thread without documents and cannot read the response.
// A send to a member that never answers is dead-lettered and shows on the
// case's thread.
func TestResponseReadAndThread(t *testing.T) {
	f, lns := newFederation(t, "XA-RC", "XB-RC")
	a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{Delivery: &node.DeliveryOptions{MaxAttempts: 2}})
	b := startLocal(t, f, "XB-RC", lns["XB-RC"], nodetest.Options{})

	expect(t, a.api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")
	expect(t, a.api.do("POST", casePth+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "SendResult")
	waitFor(t, "the case at XB-RC", func() bool { return b.api.do("GET", caseEsc, tokCaseworker, nil).Status == 200 })

	resp := map[string]any{
		"schema": "flx/v1/response", "case_id": caseID, "responder": "XB-RC", "outcome": "located",
		"responded_at": time.Now().UTC().Format(time.RFC3339), "in_reply_to_version": 3, "sought_person": "p2",
		"message": "I am well (invented test text).",
	}
	var sent struct {
		State string `json:"state"`
	}
	expect(t, b.api.do("POST", caseEsc+"/responses", tokCaseworker, resp), 202, "SendResult").decode(t, &sent)
	if sent.State != "queued" {
		t.Fatalf("response not queued: %s", sent.State)
	}

	var v httpapi.CaseView
	waitFor(t, "the status moved at XA-RC", func() bool {
		expect(t, a.api.do("GET", caseEsc, tokCaseworker, nil), 200, "CaseView").decode(t, &v)
		return v.Status == "located_contact_restored"
	})
	if v.Version != 4 {
		t.Fatalf("version %d after the response, want 4", v.Version)
	}
	var doc schema.Case
	if err := json.Unmarshal(v.Document, &doc); err != nil || doc.Status != schema.StatusLocatedContactRestored || doc.Version != 4 {
		t.Fatalf("document after the response: status %s version %d (%v)", doc.Status, doc.Version, err)
	}
	var respItem httpapi.InboxSummary
	for _, it := range v.Received {
		if it.Kind == "case.response" {
			respItem = it
		}
	}
	if respItem.ID == 0 || respItem.State != "processed" {
		t.Fatalf("response in the case view: %+v", v.Received)
	}

	// The caseworker reads the response in full; the auditor may not.
	var got httpapi.ReceivedItem
	expect(t, a.api.do("GET", fmt.Sprintf("/api/v1/inbox/%d", respItem.ID), tokCaseworker, nil), 200, "ReceivedItem").decode(t, &got)
	var body schema.Response
	if err := json.Unmarshal(got.Body, &body); err != nil || body.Outcome != schema.OutcomeLocated || body.Message != "I am well (invented test text)." {
		t.Fatalf("response read: %+v (%v)", body, err)
	}
	expectProblem(t, a.api.do("GET", fmt.Sprintf("/api/v1/inbox/%d", respItem.ID), tokAuditor, nil), 403, "forbidden")
	expectProblem(t, a.api.do("GET", "/api/v1/inbox/999999", tokCaseworker, nil), 404, "not_found")
	expectProblem(t, a.api.do("GET", "/api/v1/inbox/x", tokCaseworker, nil), 404, "not_found")

	// A send to XC-RC, which refuses connections, is dead-lettered after
	// two attempts and shows on the thread.
	expect(t, a.api.do("POST", casePth+"/forward", tokCaseworker, `{"to":"XC-RC"}`), 202, "SendResult")
	var th node.Thread
	waitFor(t, "the dead letter on the thread", func() bool {
		expect(t, a.api.do("GET", casePth+"/thread", tokCaseworker, nil), 200, "Thread").decode(t, &th)
		return slices.ContainsFunc(th.Events, func(e node.ThreadEvent) bool { return e.Type == node.EventDeadLetter && e.Member == "XC-RC" })
	})
	var seq []string
	for i, e := range th.Events {
		if i > 0 && e.At.Before(th.Events[i-1].At) {
			t.Fatalf("events out of time order at %d: %+v", i, th.Events)
		}
		switch {
		case e.Type == node.EventVersion:
			seq = append(seq, fmt.Sprintf("version %d %s %s", e.Version, e.Status, strings.SplitN(e.Source, ":", 2)[0]))
		case e.Type == node.EventReceived:
			if len(e.Body) == 0 {
				t.Fatalf("received event without its document: %+v", e)
			}
			seq = append(seq, "received "+e.Kind+" from "+e.Member)
		case e.Type == node.EventDeadLetter:
			if e.Error == "" || e.Attempts != 2 {
				t.Fatalf("dead letter %+v", e)
			}
			seq = append(seq, e.Type+" "+e.Kind+" to "+e.Member)
		default:
			seq = append(seq, e.Type+" "+e.Kind+" "+e.Member)
		}
	}
	want := []string{
		"version 3 tracing_in_progress ",
		"decision case.create XB-RC",
		"queued case.create XB-RC",
		"delivered case.create XB-RC",
		"received case.response from XB-RC",
		"version 4 located_contact_restored inbox",
		"decision case.create XC-RC",
		"queued case.create XC-RC",
		"dead_letter case.create to XC-RC",
	}
	if !slices.Equal(seq, want) {
		t.Fatalf("thread:\n\t%s\nwant:\n\t%s", strings.Join(seq, "\n\t"), strings.Join(want, "\n\t"))
	}
	for _, e := range th.Events {
		if e.Type == node.EventVersion && e.Version == 4 && e.Source != "inbox:"+respItem.JTI {
			t.Fatalf("version 4 source %q, want the response %s", e.Source, respItem.JTI)
		}
	}
	// Auditors: the same events, no document.
	var ath node.Thread
	expect(t, a.api.do("GET", casePth+"/thread", tokAuditor, nil), 200, "Thread").decode(t, &ath)
	if len(ath.Events) != len(th.Events) {
		t.Fatalf("auditor sees %d events, caseworker %d", len(ath.Events), len(th.Events))
	}
	for _, e := range ath.Events {
		if len(e.Body) != 0 {
			t.Fatalf("auditor got a document: %+v", e)
		}
	}
	expectProblem(t, a.api.do("GET", "/api/v1/cases/XA-RC:NONE/thread", tokCaseworker, nil), 404, "not_found")
	expectProblem(t, a.api.do("GET", casePth+"/thread?x=1", tokCaseworker, nil), 400, "bad_request")

	// Reads are audited.
	var al httpapi.AuditList
	expect(t, a.api.do("GET", "/api/v1/audit?action=inbox.read", tokAuditor, nil), 200, "AuditList").decode(t, &al)
	if len(al.Items) != 1 || al.Items[0].Actor != "cw-anna" {
		t.Fatalf("inbox.read audit %+v", al.Items)
	}
	expect(t, a.api.do("GET", "/api/v1/audit?action=case.status", tokAuditor, nil), 200, "AuditList").decode(t, &al)
	if len(al.Items) != 1 || al.Items[0].Actor != "XB-RC" {
		t.Fatalf("case.status audit %+v", al.Items)
	}
}

// TestSearchThroughLocalAPI: names across scripts, dates, ages, places,
// free text, filters, sort and paging; parameter errors; auditors may not
// search by person.
func TestSearchThroughLocalAPI(t *testing.T) {
	f, lns := newFederation(t, "XA-RC")
	a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{NoRun: true})
	expect(t, a.api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")
	for i, n := range []string{"Հովհաննիսյան", "Оганесян", "Ovanesyan"} {
		expect(t, a.api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, func(m map[string]any) {
			withID(fmt.Sprintf("ARM-%d", i))(m)
			persons := m["persons"].([]any)
			p := persons[1].(map[string]any)
			p["names"] = []any{map[string]any{"value": n, "part": "family"}}
			p["birth_date"] = "1970-03"
			delete(p, "age")
			persons[0].(map[string]any)["names"] = []any{map[string]any{"value": "Anahit", "part": "given"}}
			persons[2].(map[string]any)["names"] = []any{map[string]any{"value": "Karen", "part": "given"}}
			persons[2].(map[string]any)["birth_date"] = "2001-02-03"
			if i == 2 {
				m["status"] = "open"
			}
		})), 201, "CaseSummary")
	}
	search := func(tok string, q url.Values) []string {
		t.Helper()
		var l httpapi.CaseList
		expect(t, a.api.do("GET", "/api/v1/cases?"+q.Encode(), tok, nil), 200, "CaseList").decode(t, &l)
		var out []string
		for _, c := range l.Cases {
			out = append(out, c.CaseID)
		}
		slices.Sort(out)
		return out
	}
	arm := []string{"XA-RC:ARM-0", "XA-RC:ARM-1", "XA-RC:ARM-2"}
	for _, tc := range []struct {
		q    url.Values
		want []string
	}{
		{url.Values{"name": {"Hovhannisyan"}}, arm},
		{url.Values{"name": {"Oganesyan"}}, arm},
		{url.Values{"name": {"Оганесян"}}, arm},
		{url.Values{"name": {"Samir"}}, []string{caseID}},
		{url.Values{"name": {"سامر"}}, []string{caseID}},
		{url.Values{"name": {"Oganesyan"}, "status": {"open"}}, []string{"XA-RC:ARM-2"}},
		{url.Values{"name": {"Oganesyan"}, "status": {"open,tracing_in_progress"}}, arm},
		{url.Values{"born": {"1970-03"}}, arm},
		{url.Values{"born": {"1986"}}, []string{caseID}},
		{url.Values{"born_from": {"1969"}, "born_to": {"1971"}}, arm},
		{url.Values{"age_min": {"8"}, "age_max": {"11"}}, []string{caseID}},
		{url.Values{"q": {"Namudhaji"}, "type": {"tracing_request"}}, []string{caseID}},
		{url.Values{"name": {"Nobody"}}, nil},
		{url.Values{"sort": {"case_id"}, "origin": {"XA-RC"}}, append(slices.Clone(arm), caseID)},
	} {
		if got := search(tokCaseworker, tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.q.Encode(), got, tc.want)
		}
	}
	// Paging in order, newest first by default.
	var p1, p2 httpapi.CaseList
	expect(t, a.api.do("GET", "/api/v1/cases?name=Oganesyan&limit=2", tokOperator, nil), 200, "CaseList").decode(t, &p1)
	if len(p1.Cases) != 2 || p1.Next == "" || p1.Cases[0].CaseID != "XA-RC:ARM-2" {
		t.Fatalf("page 1 %+v", p1)
	}
	expect(t, a.api.do("GET", "/api/v1/cases?name=Oganesyan&limit=2&cursor="+p1.Next, tokOperator, nil), 200, "CaseList").decode(t, &p2)
	if len(p2.Cases) != 1 || p2.Next != "" || p2.Cases[0].CaseID != "XA-RC:ARM-0" {
		t.Fatalf("page 2 %+v", p2)
	}
	for _, bad := range []string{"born=84", "born=1984-13", "age_min=x", "age_min=50&age_max=40", "sort=name", "status=lost",
		"type=x", "origin=xa", "name=---", "cursor=zz&name=a1", "name=a&updated_since=2024-01-01T00:00:00Z", "born_from=0"} {
		r := a.api.do("GET", "/api/v1/cases?"+bad, tokCaseworker, nil)
		if r.Status != 400 {
			t.Fatalf("%s: %d %s", bad, r.Status, r.Body)
		}
		p := expectProblem(t, r, 400, "bad_request")
		if p.Detail == "" {
			t.Errorf("%s: no detail", bad)
		}
	}
	expectProblem(t, a.api.do("GET", "/api/v1/cases?name=Oganesyan", tokAuditor, nil), 403, "forbidden")
	if got := search(tokAuditor, url.Values{"status": {"open"}, "sort": {"case_id"}}); !slices.Equal(got, []string{"XA-RC:ARM-2"}) {
		t.Fatalf("auditor filter: %v", got)
	}
	// Erasure empties the index.
	expect(t, a.api.do("POST", "/api/v1/cases/XA-RC:ARM-0/withdraw", tokCaseworker, `{"reason":"erasure_request"}`), 202, "WithdrawResult")
	if got := search(tokCaseworker, url.Values{"name": {"Oganesyan"}}); !slices.Equal(got, arm[1:]) {
		t.Fatalf("after erasure: %v", got)
	}
}

// TestImportThroughLocalAPI: a batch is all or nothing, its problems point
// into the request, unless skip_invalid refuses each invalid case alone; a
// re-run creates nothing twice, and only caseworkers import.
func TestImportThroughLocalAPI(t *testing.T) {
	f, lns := newFederation(t, "XA-RC")
	a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{NoRun: true})
	docs := []json.RawMessage{caseDoc(t, withID("IMP-1")), caseDoc(t, withID("IMP-2")), caseDoc(t, func(m map[string]any) {
		withID("IMP-3")(m)
		m["status"] = "lost"
	})}
	p := expectProblem(t, a.api.do("POST", "/api/v1/import/cases", tokCaseworker, map[string]any{"cases": docs}), 422, "schema_invalid")
	if len(p.Errors) == 0 || !strings.HasPrefix(p.Errors[0].Pointer, "/cases/2/") {
		t.Fatalf("problems %+v", p.Errors)
	}
	expectProblem(t, a.api.do("GET", caseEsc[:len("/api/v1/cases/")]+"XA-RC:IMP-1", tokCaseworker, nil), 404, "not_found")
	var res node.ImportResult
	expect(t, a.api.do("POST", "/api/v1/import/cases", tokCaseworker, map[string]any{"cases": docs[:2]}), 200, "ImportResult").decode(t, &res)
	if len(res.Created) != 2 || len(res.Existing) != 0 {
		t.Fatalf("import %+v", res)
	}
	expect(t, a.api.do("POST", "/api/v1/import/cases", tokCaseworker, map[string]any{"cases": docs[:2]}), 200, "ImportResult").decode(t, &res)
	if len(res.Created) != 0 || len(res.Existing) != 2 {
		t.Fatalf("re-run %+v", res)
	}

	// skip_invalid: an invalid case and one of another origin are refused
	// alone, with their index and code; the valid new case is stored, the
	// existing ones are left (the one edited since is not validated again:
	// nothing is written for it).
	other := caseDoc(t, func(m map[string]any) {
		m["case_id"] = "XB-RC:IMP-9"
		m["origin"].(map[string]any)["member"] = "XB-RC"
	})
	edited := caseDoc(t, func(m map[string]any) {
		withID("IMP-1")(m)
		m["status"] = "lost"
	})
	mixed := []json.RawMessage{edited, docs[1], docs[2], caseDoc(t, withID("IMP-4")), other}
	res = node.ImportResult{}
	expect(t, a.api.do("POST", "/api/v1/import/cases", tokCaseworker, map[string]any{"cases": mixed, "skip_invalid": true}), 200, "ImportResult").decode(t, &res)
	if !slices.Equal(res.Created, []string{"XA-RC:IMP-4"}) || !slices.Equal(res.Existing, []string{"XA-RC:IMP-1", "XA-RC:IMP-2"}) || len(res.Rejected) != 2 {
		t.Fatalf("skip_invalid %+v", res)
	}
	if r := res.Rejected[0]; r.Index != 2 || r.CaseID != "XA-RC:IMP-3" || r.Code != "schema_invalid" || len(r.Errors) == 0 || r.Errors[0].Pointer != "/status" {
		t.Fatalf("rejected %+v", r)
	}
	if r := res.Rejected[1]; r.Index != 4 || r.Code != "not_origin" {
		t.Fatalf("rejected %+v", r)
	}
	expectProblem(t, a.api.do("GET", caseEsc[:len("/api/v1/cases/")]+"XA-RC:IMP-3", tokCaseworker, nil), 404, "not_found")
	expectProblem(t, a.api.do("POST", "/api/v1/import/cases", tokOperator, map[string]any{"cases": docs[:1]}), 403, "forbidden")
	expectProblem(t, a.api.do("POST", "/api/v1/import/cases", tokCaseworker, map[string]any{"cases": []any{}}), 400, "bad_request")
	expectProblem(t, a.api.do("POST", "/api/v1/import/cases", tokCaseworker, map[string]any{"cases": docs[:1], "forward_to": "xb"}), 400, "bad_request")
}
