package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/node/trust"
	"github.com/familylinks/flx/policy"
)

// TestExchangeThroughLocalAPIs drives two real nodes only through their
// local APIs: A creates and forwards a case, B reads it and answers, A
// sees the answer, withdraws, and B's copy is erased and confirmed.
func TestExchangeThroughLocalAPIs(t *testing.T) {
	f, lns := newFederation(t, "XA-RC", "XB-RC")
	a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{})
	b := startLocal(t, f, "XB-RC", lns["XB-RC"], nodetest.Options{})

	expect(t, a.api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")
	var fwd struct {
		State string `json:"state"`
		Kind  string `json:"kind"`
	}
	expect(t, a.api.do("POST", casePth+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "SendResult").decode(t, &fwd)
	if fwd.State != "queued" || fwd.Kind != "case.create" {
		t.Fatalf("forward %+v", fwd)
	}

	var atB httpapi.CaseView
	waitFor(t, "the case at XB-RC", func() bool {
		r := b.api.do("GET", caseEsc, tokCaseworker, nil)
		if r.Status != 200 {
			return false
		}
		r.decode(t, &atB)
		return len(atB.Document) > 0
	})
	expect(t, b.api.do("GET", caseEsc, tokCaseworker, nil), 200, "CaseView")
	var doc struct {
		CaseID string `json:"case_id"`
		Origin struct {
			Member string `json:"member"`
		} `json:"origin"`
	}
	if err := json.Unmarshal(atB.Document, &doc); err != nil || doc.CaseID != caseID || doc.Origin.Member != "XA-RC" || atB.Origin != "XA-RC" {
		t.Fatalf("case at B: %+v %v", atB.CaseSummary, err)
	}
	if len(atB.Received) != 1 || atB.Received[0].Kind != "case.create" || atB.Received[0].Iss != "XA-RC" || atB.Received[0].State != "processed" {
		t.Fatalf("received at B: %+v", atB.Received)
	}
	var inB httpapi.InboxList
	expect(t, b.api.do("GET", "/api/v1/inbox?case_id=XA-RC:TR-2024-0117&iss=XA-RC", tokCaseworker, nil), 200, "InboxList").decode(t, &inB)
	if len(inB.Items) != 1 || inB.Items[0].JTI == "" {
		t.Fatalf("inbox at B: %+v", inB)
	}
	// B cannot forward or edit A's case
	expectProblem(t, b.api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"XC-RC"}`), 409, "not_origin")

	// B answers; A receives the response
	resp := map[string]any{
		"schema": "flx/v1/response", "case_id": caseID, "responder": "XB-RC", "outcome": "not_found",
		"responded_at": time.Now().UTC().Format(time.RFC3339), "in_reply_to_version": 3,
	}
	var sent struct {
		State string `json:"state"`
		Kind  string `json:"kind"`
		To    string `json:"to"`
	}
	expect(t, b.api.do("POST", caseEsc+"/responses", tokCaseworker, resp), 202, "SendResult").decode(t, &sent)
	if sent.State != "queued" || sent.Kind != "case.response" || sent.To != "XA-RC" {
		t.Fatalf("respond %+v", sent)
	}
	var atA httpapi.CaseView
	waitFor(t, "the response at XA-RC and B as recipient", func() bool {
		expect(t, a.api.do("GET", caseEsc, tokCaseworker, nil), 200, "CaseView").decode(t, &atA)
		got := false
		for _, it := range atA.Received {
			got = got || (it.Kind == "case.response" && it.Iss == "XB-RC")
		}
		return got && len(atA.Recipients) == 1
	})
	if atA.Recipients[0].Member != "XB-RC" || atA.Recipients[0].Withdrawal != "none" || atA.Recipients[0].LastVersion != 3 {
		t.Fatalf("recipients at A: %+v", atA.Recipients)
	}
	var peers httpapi.PeerList
	expect(t, a.api.do("GET", "/api/v1/outbox/peers", tokOperator, nil), 200, "PeerList").decode(t, &peers)
	if len(peers.Peers) != 1 || peers.Peers[0].Delivered != 1 {
		t.Fatalf("peers at A: %+v", peers)
	}

	// A sends family news about the case to B
	msg := map[string]any{
		"schema": "flx/v1/message", "message_id": "XA-RC:FN-2024-0001", "case_id": caseID,
		"kind": "family_news", "channel": "verbal", "created_at": time.Now().UTC().Format(time.RFC3339),
		"from": map[string]any{"person": "p1", "member": "XA-RC"}, "to": map[string]any{"person": "p2", "member": "XB-RC"},
		"body": "All well at home (invented test text).",
	}
	expectProblem(t, a.api.do("POST", caseEsc+"/messages", tokCaseworker, map[string]any{"to": "XB-RC", "message": map[string]any{"schema": "flx/v1/message"}}), 422, "schema_invalid")
	expect(t, a.api.do("POST", caseEsc+"/messages", tokCaseworker, map[string]any{"to": "XB-RC", "message": msg}), 202, "SendResult").decode(t, &sent)
	if sent.State != "queued" || sent.Kind != "message.deliver" || sent.To != "XB-RC" {
		t.Fatalf("message %+v", sent)
	}
	waitFor(t, "the message at XB-RC", func() bool {
		var l httpapi.InboxList
		expect(t, b.api.do("GET", "/api/v1/inbox?kind=message.deliver&state=processed", tokOperator, nil), 200, "InboxList").decode(t, &l)
		return len(l.Items) == 1 && l.Items[0].CaseID == caseID
	})

	// A withdraws: B erases and confirms
	var wr node.WithdrawResult
	expect(t, a.api.do("POST", casePth+"/withdraw", tokCaseworker, `{"reason":"consent_withdrawn"}`), 202, "WithdrawResult").decode(t, &wr)
	if len(wr.SentTo) != 1 || wr.SentTo[0] != "XB-RC" {
		t.Fatalf("withdraw %+v", wr)
	}
	waitFor(t, "erasure at XB-RC", func() bool {
		var v httpapi.CaseView
		expect(t, b.api.do("GET", caseEsc, tokCaseworker, nil), 200, "CaseView").decode(t, &v)
		return v.Erased && len(v.Document) == 0
	})
	waitFor(t, "XB-RC's confirmation at XA-RC", func() bool {
		var v httpapi.CaseView
		expect(t, a.api.do("GET", caseEsc, tokAuditor, nil), 200, "CaseView").decode(t, &v)
		return len(v.Recipients) == 1 && v.Recipients[0].Withdrawal == "confirmed"
	})
}

// TestReadyzExpiredManifest builds a node whose trust clock can be moved
// past the manifest's expiry: /readyz turns 503 unavailable, forwards are
// refused the same way, and the manifest status says it is not usable.
func TestReadyzExpiredManifest(t *testing.T) {
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	st, err := store.Open(ctx, nodetest.DSN(t, nodetest.SQLite))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mpath := filepath.Join(t.TempDir(), "manifest.jws")
	if err := os.WriteFile(mpath, f.Raw, 0o644); err != nil {
		t.Fatal(err)
	}
	var ahead atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	tr, err := trust.New(ctx, trust.Options{Anchor: f.Anchor.Public(), Source: mpath, Store: st, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := policy.Default("XA-RC", "XA")
	if err != nil {
		t.Fatal(err)
	}
	m := f.Member(t, "XA-RC")
	n, err := node.New(node.Options{Self: "XA-RC", Store: st, Trust: tr, Signer: m.Key, Policy: policy.New(rules), TLS: m.TLS})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.LocalHandler(n, testTokens(), nil, nil))
	t.Cleanup(srv.Close)
	api := &client{t: t, base: srv.URL, c: srv.Client()}

	expect(t, api.do("GET", "/readyz", "", nil), 200, "HealthStatus")
	expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")

	ahead.Store(int64(48 * time.Hour)) // fedtest manifests expire after 24 h
	r := api.do("GET", "/readyz", "", nil)
	expectProblem(t, r, 503, "unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	expect(t, api.do("GET", "/healthz", "", nil), 200, "HealthStatus")
	expectProblem(t, api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 503, "unavailable")
	var ms httpapi.ManifestStatus
	expect(t, api.do("GET", "/api/v1/manifest", tokOperator, nil), 200, "ManifestStatus").decode(t, &ms)
	if ms.Usable {
		t.Fatalf("expired manifest reported usable: %+v", ms)
	}
	expectProblem(t, api.do("GET", "/metrics", "", nil), 404, "not_found")
}
