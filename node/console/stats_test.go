package console_test

import (
	"encoding/csv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/node/console"
)

// TestStatisticsShowOnlyPublishableNumbers: the statistics page and its CSV
// show the counts as the node would publish them (a single case is
// "fewer than 5", eight are 10), never the raw count, and follow new cases
// once the cached figures are older than five minutes.
func TestStatisticsShowOnlyPublishableNumbers(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	e := startEnv(t, envOptions{console: console.Options{Now: now}})
	cw := e.browser()
	cw.signIn(console.RoleCaseworker)
	cw.createCase()
	op := e.browser()
	op.signIn(console.RoleOperator)

	p := op.get("/console/stats")
	if p.status != 200 {
		t.Fatalf("stats page: %d\n%s", p.status, p.body)
	}
	for _, want := range []string{"<svg", `class="bar bar-supp"`, "Tracing requests opened", "fewer than 5", "Download CSV"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("stats page lacks %q", want)
		}
	}
	if n := strings.Count(p.body, `<figure class="chart">`); n != 11 {
		t.Errorf("%d charts, want one per metric (11)", n)
	}
	opened := func() (string, string) {
		t.Helper()
		p := op.get("/console/stats.csv?months=6")
		if p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "text/csv") || !strings.Contains(p.header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("csv: %d %v", p.status, p.header)
		}
		recs, err := csv.NewReader(strings.NewReader(p.body)).ReadAll()
		if err != nil || len(recs) != 7 {
			t.Fatalf("csv: %d records (want a header and 6 months), %v\n%s", len(recs), err, p.body)
		}
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		last := recs[len(recs)-1]
		if last[col["member"]] != "XA-RC" || last[col["country"]] != "XA" || last[col["period"]] != now().UTC().Format("2006-01") {
			t.Fatalf("last csv row: %v", last)
		}
		return last[col["tracing_opened"]], last[col["tracing_opened_suppressed"]]
	}
	if v, s := opened(); v != "0" || s != "1" {
		t.Errorf("one case: tracing_opened %s, suppressed %s; want 0 and 1", v, s)
	}
	for range 7 {
		cw.createCase()
	}
	if v, s := opened(); v != "0" || s != "1" {
		t.Errorf("within five minutes the cached figures change: %s, %s", v, s)
	}
	skew.Store(int64(6 * time.Minute))
	if v, s := opened(); v != "10" || s != "0" {
		t.Errorf("eight cases: tracing_opened %s, suppressed %s; want 10 (rounded) and 0", v, s)
	}
	if p := op.get("/console/stats?lang=ar"); !strings.Contains(p.body, `dir="rtl"`) || strings.Count(p.body, "<svg") != 11 {
		t.Error("the Arabic statistics page is not right to left")
	}
}
