package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/stats"
)

// TestStatsReportReachesCoordinator: XA-RC opens seven tracing requests in
// January 2025 and one in February; its monthly reports reach ICRC-CTA
// over mTLS as stats.report envelopes, protected (7 rounds to 5, 1 is
// suppressed), without any personal data, and the coordinator aggregates
// them. Sending again queues nothing new.
func TestStatsReportReachesCoordinator(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, testStats)
}

func testStats(t *testing.T, d nodetest.Dialect) {
	ctx := context.Background()
	f := fedtest.New(t, threeMembers...)
	xaLn := nodetest.Listen(t, f.Member(t, "XA-RC"))
	ctaLn := nodetest.Listen(t, f.Member(t, "ICRC-CTA"))
	f.Sign(t)
	tune := func(o *node.Options) { o.Stats.Every = -1 } // sent by the test, not the timer
	xa := nodetest.Start(t, f, "XA-RC", xaLn, nodetest.Options{Dialect: d, Tune: tune})
	cta := nodetest.Start(t, f, "ICRC-CTA", ctaLn, nodetest.Options{Dialect: d, Tune: tune})

	const canary = "Canary-Person-Qzx"
	for i := 0; i < 8; i++ {
		id := fmt.Sprintf("XA-RC:ST-%d", i)
		at := "2025-01-20T11:00:00Z"
		if i == 7 {
			at = "2025-02-03T11:00:00Z"
		}
		doc := patch(t, minimalCase(t, id), map[string]any{"origin/created_at": at,
			"persons": []any{map[string]any{"id": "p1", "names": []any{map[string]any{"value": canary, "part": "full"}}}}})
		if _, err := xa.CreateCase(ctx, cw, doc); err != nil {
			t.Fatal(err)
		}
	}
	n, err := xa.SendStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	months := int((time.Now().Year()-2025)*12 + int(time.Now().Month()) - 1) // Jan 2025 up to the last settled month
	if n < months-1 || n > months {
		t.Fatalf("queued %d reports, want one per month since January 2025 (%d or %d)", n, months-1, months)
	}
	if again, err := xa.SendStats(ctx); err != nil || again != 0 {
		t.Fatalf("sending again queued %d (%v), want 0", again, err)
	}
	caseJan := stats.CaseID("XA-RC", stats.Period{Year: 2025, Month: time.January})
	waitProcessed(t, cta.Store, caseJan, string(federation.KindStatsReport), 1)
	held, err := cta.Store.ListStatsReports(ctx, "2025-01")
	if err != nil || len(held) != 1 {
		t.Fatalf("ICRC-CTA holds %d January reports (%v)", len(held), err)
	}
	if bytes.Contains(held[0].Document, []byte(canary)) || bytes.Contains(held[0].Document, []byte("ST-")) {
		t.Fatalf("a report carries personal data or case ids: %s", held[0].Document)
	}
	var rep struct {
		Member string          `json:"member"`
		Counts map[string]*int `json:"counts"`
	}
	if err := json.Unmarshal(held[0].Document, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Member != "XA-RC" || rep.Counts["tracing_opened"] == nil || *rep.Counts["tracing_opened"] != 5 {
		t.Fatalf("January report %s: tracing_opened want 5 (7 rounded)", held[0].Document)
	}
	caseFeb := stats.CaseID("XA-RC", stats.Period{Year: 2025, Month: time.February})
	waitProcessed(t, cta.Store, caseFeb, string(federation.KindStatsReport), 1)
	rows, err := cta.StatsAggregate(ctx, "", stats.By{Member: true})
	if err != nil || len(rows) != 1 {
		t.Fatalf("aggregate by member: %+v (%v)", rows, err)
	}
	c := rows[0].Cells[stats.Metric("tracing_opened")]
	if c.Sum != 5 || c.Suppressed != 1 {
		t.Fatalf("aggregate tracing_opened = %+v, want sum 5 and one suppressed (February's 1)", c)
	}
	// The reports were not recorded as disclosures of any case.
	if ds, _ := xa.Store.ListDisclosures(ctx, caseJan); len(ds) != 0 {
		t.Fatalf("a statistics report was recorded as a case disclosure: %+v", ds)
	}
	noProcessErrors(t, "ICRC-CTA", cta.Store)
	checkCoordinatorConsole(t, cta.Node, canary)
}
