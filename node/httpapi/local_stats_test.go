package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/stats"
	"github.com/familylinks/flx/node/store"
)

// TestStatsAPI serves the aggregates of received statistics reports as JSON
// (schema StatsList) and CSV, to every role, summing only published values
// and counting suppressed ones; the latest revision replaces an earlier one.
func TestStatsAPI(t *testing.T) {
	ctx := context.Background()
	f, lns := newFederation(t)
	ln := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{NoRun: true})
	jan := stats.Period{Year: 2026, Month: 1}
	save := func(member, country string, rev int, opened int) {
		r, err := stats.DefaultProtection.Report(member, country, jan, rev, stats.Counts{"tracing_opened": opened, "phone_calls": 2})
		if err != nil {
			t.Fatal(err)
		}
		body, err := stats.Body(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := ln.Store.SaveStatsReport(ctx, store.StatsReport{Member: member, Period: jan.String(), Revision: int64(rev), Country: country, Document: body, JTI: member}); err != nil {
			t.Fatal(err)
		}
	}
	save("XB-RC", "XB", 1, 3)  // suppressed
	save("XB-RC", "XB", 2, 12) // replaces it: 10
	save("XC-RC", "XC", 1, 7)  // 5

	var out struct {
		By   []string `json:"by"`
		Rows []struct {
			Member  string `json:"member"`
			Country string `json:"country"`
			Reports int    `json:"reports"`
			Counts  map[string]struct {
				Sum        int `json:"sum"`
				Suppressed int `json:"suppressed"`
			} `json:"counts"`
		} `json:"rows"`
	}
	for _, tok := range roleTokens {
		expect(t, ln.api.do(http.MethodGet, "/api/v1/stats?by=period", tok, nil), http.StatusOK, "StatsList").decode(t, &out)
	}
	if len(out.Rows) != 1 || out.Rows[0].Reports != 2 || out.Rows[0].Counts["tracing_opened"].Sum != 15 || out.Rows[0].Counts["phone_calls"].Suppressed != 2 {
		t.Fatalf("by period: %+v", out)
	}
	expect(t, ln.api.do(http.MethodGet, "/api/v1/stats?by=member,country&period=2026-01", tokOperator, nil), http.StatusOK, "StatsList").decode(t, &out)
	if len(out.Rows) != 2 || out.Rows[0].Member != "XB-RC" || out.Rows[0].Counts["tracing_opened"].Sum != 10 {
		t.Fatalf("by member: %+v", out)
	}
	r := ln.api.do(http.MethodGet, "/api/v1/stats?by=country&format=csv", tokAuditor, nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") || !strings.Contains(string(r.Body), "XB") {
		t.Fatalf("csv: %s", r)
	}
	expectProblem(t, ln.api.do(http.MethodGet, "/api/v1/stats?by=name", tokOperator, nil), http.StatusBadRequest, "bad_request")
	expectProblem(t, ln.api.do(http.MethodGet, "/api/v1/stats?period=January", tokOperator, nil), http.StatusBadRequest, "bad_request")
	expectProblem(t, ln.api.do(http.MethodGet, "/api/v1/stats", "", nil), http.StatusUnauthorized, "unauthenticated")
}
