package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/policy"
)

// TestReviewCommandsOverLocalAPI: a forward the rules hold is listed by
// "flx review list" (table and --json), approved by "flx review approve",
// and then the queue is empty; "flx case withdrawals" answers the list.
func TestReviewCommandsOverLocalAPI(t *testing.T) {
	rules, err := policy.Parse([]byte("schema: flx/policy/v1\nversion: \"t\"\nmember: XA-RC\ncountry: XA\nreview:\n  destination_members: [XB-RC]\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	tn := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, Rules: rules})
	tok := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	h := httpapi.LocalHandler(tn.Node, []config.Token{{Name: "op", Role: "operator", SHA256: tok("op-token")}}, http.NotFoundHandler(), nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cw := node.Actor{Name: "cw", Role: "caseworker"}
	doc := `{"schema":"flx/v1/case","case_id":"XA-RC:TR-9","version":1,"type":"tracing_request","status":"open",
		"origin":{"member":"XA-RC","created_at":"2024-05-01T10:00:00Z"},"purpose":"tracing",
		"legal_basis":{"type":"vital_interest","justification":"Cannot be asked yet.","documented_by":"officer","documented_at":"2024-05-01T10:00:00Z"},
		"persons":[{"id":"p1","roles":["sought_person"],"birth_date":"1984","names":[{"value":"Invented Name"}]}]}`
	if _, err := tn.CreateCase(t.Context(), cw, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	res, err := tn.Forward(t.Context(), cw, "XA-RC:TR-9", "XB-RC")
	if err != nil || res.State != "needs_review" {
		t.Fatalf("forward: %+v %v", res, err)
	}
	api := []string{"review", "--api", srv.URL, "--token", "op-token"}
	out, err := runCLI(t, append(api, "list")...)
	if err != nil || !strings.HasPrefix(out, "DECISION") || !strings.Contains(out, "XA-RC:TR-9") || !strings.Contains(out, "FLX-DP-REVIEW") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = runCLI(t, append(api, "list", "--json")...)
	if err != nil || !strings.Contains(out, `"decision_id"`) || !strings.Contains(out, `"held_since"`) {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	did := strings.Fields(strings.Split(mustRun(t, append(api, "list")...), "\n")[1])[0]
	out, err = runCLI(t, append(api, "approve", "XA-RC:TR-9", did, "--note", "checked")...)
	if err != nil || !strings.Contains(out, `"queued"`) {
		t.Fatalf("approve: %v\n%s", err, out)
	}
	if out := mustRun(t, append(api, "list")...); strings.Contains(out, "XA-RC:TR-9") {
		t.Fatalf("still listed after approval:\n%s", out)
	}
	out, err = runCLI(t, "case", "--api", srv.URL, "--token", "op-token", "withdrawals")
	if err != nil || !strings.Contains(out, `"withdrawals"`) {
		t.Fatalf("case withdrawals: %v\n%s", err, out)
	}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return out
}
