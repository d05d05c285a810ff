package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
)

func TestMatchCommandsOverLocalAPI(t *testing.T) {
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	tn := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})
	sum := sha256.Sum256([]byte("cw-token"))
	h := httpapi.LocalHandler(tn.Node, []config.Token{{Name: "cw", Role: "caseworker", SHA256: hex.EncodeToString(sum[:])}}, http.NotFoundHandler(), nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cw := node.Actor{Name: "cw", Role: "caseworker"}
	doc := func(id, typ, role, birth, names string) []byte {
		return []byte(`{"schema":"flx/v1/case","case_id":"` + id + `","version":1,"type":"` + typ + `","status":"open",
			"origin":{"member":"XA-RC","created_at":"2024-05-01T10:00:00Z"},"purpose":"tracing",
			"persons":[{"id":"p1","roles":["` + role + `"],"birth_date":"` + birth + `","sex":"female","names":` + names + `}]}`)
	}
	for _, d := range [][]byte{
		doc("XA-RC:TR-1", "tracing_request", "sought_person", "1984-07-02", `[{"value":"Nino","part":"given","script":"Latn"},{"value":"Beridze","part":"family","script":"Latn"}]`),
		doc("XA-RC:UM-1", "death_notification", "deceased", "1984", `[{"value":"ნინო ბერიძე","part":"full","script":"Geor"}]`),
	} {
		if _, err := tn.CreateCase(t.Context(), cw, d); err != nil {
			t.Fatal(err)
		}
	}
	api := []string{"match", "--api", srv.URL, "--token", "cw-token"}

	out, err := runCLI(t, append(api, "list", "--json")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 1 {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	var m struct {
		ID          int64          `json:"id"`
		Score       float64        `json:"score"`
		Explanation map[string]any `json:"explanation"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil || m.ID == 0 || m.Score < 0.5 || m.Explanation["fields"] == nil {
		t.Fatalf("list --json line %s: %v", lines[0], err)
	}
	var ab map[string]any
	json.Unmarshal([]byte(lines[0]), &ab)
	if a := ab["a"].(map[string]any); a["case_id"] != "XA-RC:TR-1" || a["person_id"] != "p1" || ab["b"].(map[string]any)["case_id"] != "XA-RC:UM-1" {
		t.Fatalf("persons in %s", lines[0])
	}
	out, err = runCLI(t, append(api, "list")...)
	if err != nil || !strings.Contains(out, "XA-RC:TR-1") || !strings.HasPrefix(out, "ID") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	out, err = runCLI(t, append(api, "confirm", id, "--json")...)
	if err != nil || !strings.Contains(out, `"state":"confirmed"`) {
		t.Fatalf("confirm: %v\n%s", err, out)
	}
	out, err = runCLI(t, append(api, "reject", id)...)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, `"code": "conflict"`) {
		t.Fatalf("reject after confirm: %v\n%s", err, out)
	}
	out, err = runCLI(t, append(api, "list", "--json", "--state", "confirmed")...)
	if err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("list confirmed: %v\n%s", err, out)
	}
	if out, err = runCLI(t, append(api, "list", "--json")...); err != nil || out != "" {
		t.Fatalf("open after confirming: %v\n%q", err, out)
	}
	// No matching secret on this node: ask is refused with the problem.
	out, err = runCLI(t, append(api, "ask", "XA-RC:TR-1", "--person", "p1", "--to", "XB-RC")...)
	if !errors.As(err, &ee) || !strings.Contains(out, `"code": "unavailable"`) {
		t.Fatalf("ask: %v\n%s", err, out)
	}
	if _, err := runCLI(t, append(api, "confirm", "x")...); err == nil {
		t.Fatal("confirm x accepted")
	}
}

// TestMatchRematchCommand: "flx match rematch" runs the bulk match job
// over the local API as an operator and prints its counts (text and
// --json); a caseworker's token is refused with the problem document.
func TestMatchRematchCommand(t *testing.T) {
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
			tn := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: d, NoRun: true})
			sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
			h := httpapi.LocalHandler(tn.Node, []config.Token{{Name: "cw", Role: "caseworker", SHA256: sum("cw-token")},
				{Name: "op", Role: "operator", SHA256: sum("op-token")}}, http.NotFoundHandler(), nil)
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			cw := node.Actor{Name: "cw", Role: "caseworker"}
			for _, d := range [][]byte{
				[]byte(`{"schema":"flx/v1/case","case_id":"XA-RC:TR-1","version":1,"type":"tracing_request","status":"open",
			"origin":{"member":"XA-RC","created_at":"2024-05-01T10:00:00Z"},"purpose":"tracing",
			"persons":[{"id":"p1","roles":["sought_person"],"birth_date":"1984-07-02","sex":"female","names":[{"value":"Nino","part":"given","script":"Latn"},{"value":"Beridze","part":"family","script":"Latn"}]}]}`),
				[]byte(`{"schema":"flx/v1/case","case_id":"XA-RC:UM-1","version":1,"type":"death_notification","status":"open",
			"origin":{"member":"XA-RC","created_at":"2024-05-01T10:00:00Z"},"purpose":"tracing",
			"persons":[{"id":"p1","roles":["deceased"],"birth_date":"1984","sex":"female","names":[{"value":"ნინო ბერიძე","part":"full","script":"Geor"}]}]}`),
			} {
				if _, err := tn.CreateCase(t.Context(), cw, d); err != nil {
					t.Fatal(err)
				}
			}
			out, err := runCLI(t, "match", "--api", srv.URL, "--token", "op-token", "rematch")
			if err != nil || !strings.Contains(out, "cases: 2\n") || !strings.Contains(out, "persons matched: 2\n") ||
				!strings.Contains(out, "candidates written: 1\n") || !strings.Contains(out, "duration: ") {
				t.Fatalf("rematch: %v\n%s", err, out)
			}
			out, err = runCLI(t, "match", "--api", srv.URL, "--token", "op-token", "rematch", "--json")
			var res map[string]any
			if err != nil || json.Unmarshal([]byte(out), &res) != nil || res["persons_matched"] != 2.0 || res["candidates_written"] != 1.0 {
				t.Fatalf("rematch --json: %v\n%s", err, out)
			}
			out, err = runCLI(t, "match", "--api", srv.URL, "--token", "cw-token", "rematch")
			var ee exitError
			if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, `"code": "forbidden"`) {
				t.Fatalf("rematch as caseworker: %v\n%s", err, out)
			}
		})
	}
}
