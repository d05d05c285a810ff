package e2e

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/httpapi"
)

// checkCoordinatorConsole: the coordinator's statistics page breaks the
// received reports down by member and by country (published values, the
// suppressed ones counted apart), and its CSV download holds the members'
// rows per month. Nothing in either is a name or a case id.
func checkCoordinatorConsole(t *testing.T, n *node.Node, canary string) {
	t.Helper()
	const tok = "op-4e1f-coordinator-stats-token"
	sum := sha256.Sum256([]byte(tok))
	co := console.Options{}
	h := httpapi.NewLocalHandler(n, httpapi.LocalOptions{
		Tokens:  []config.Token{{Name: "operator", Role: console.RoleOperator, SHA256: hex.EncodeToString(sum[:])}},
		Logger:  slog.New(slog.DiscardHandler),
		Console: &co,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.PostForm(srv.URL+"/console/signin", url.Values{"token": {tok}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %v %v", resp, err)
	}
	resp.Body.Close()
	get := func(path string) string {
		t.Helper()
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	page := get("/console/stats")
	for _, want := range []string{`id="t-by-member"`, `id="t-by-country"`, "XA-RC (XA)", "1 withheld)"} {
		if !strings.Contains(page, want) {
			t.Errorf("the coordinator's stats page lacks %q", want)
		}
	}
	body := get("/console/stats.csv")
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("csv: %v\n%s", err, body)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	found := false
	for _, r := range recs[1:] {
		if r[col["member"]] == "XA-RC" && r[col["country"]] == "XA" && r[col["period"]] == "2025-01" && r[col["tracing_opened"]] == "5" {
			found = true
		}
	}
	if !found {
		t.Errorf("the coordinator's CSV has no XA-RC row for 2025-01 with tracing_opened 5:\n%s", body)
	}
	if strings.Contains(page+body, canary) || strings.Contains(page+body, "ST-") {
		t.Error("the coordinator's statistics show personal data or case ids")
	}
}
