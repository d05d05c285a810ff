package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/stats"
	"github.com/familylinks/flx/node/store"
)

// TestStatsRelayedToCoordinator: XB-RC is a second coordinator (a regional
// one, say) that names ICRC-CTA in relay_via, so XA-RC has no direct route
// to it. XA-RC's monthly reports reach it through ICRC-CTA, over real mTLS
// on each store: unchanged (the origin's signed report inside ICRC-CTA's
// relay envelope), kept at XB-RC as XA-RC's, aggregated there by member and
// by country, and delivered at XA-RC only by XB-RC's end-to-end receipt.
// ICRC-CTA records the relay and keeps no copy beyond the report XA-RC sent
// to it directly (FLX-STA-006).
func TestStatsRelayedToCoordinator(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, testStatsRelayed)
}

func testStatsRelayed(t *testing.T, d nodetest.Dialect) {
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:coordinator", "ICRC-CTA:XC:coordinator")
	f.Member(t, "XB-RC").RelayVia = []string{"ICRC-CTA"}
	xaLn := nodetest.Listen(t, f.Member(t, "XA-RC"))
	xbLn := nodetest.Listen(t, f.Member(t, "XB-RC"))
	ctaLn := nodetest.Listen(t, f.Member(t, "ICRC-CTA"))
	f.Sign(t)
	tune := func(o *node.Options) {
		o.Stats.Every = -1 // sent by the test
		o.RelayWait = 30 * time.Second
	}
	xa := nodetest.Start(t, f, "XA-RC", xaLn, nodetest.Options{Dialect: d, Tune: tune})
	xb := nodetest.Start(t, f, "XB-RC", xbLn, nodetest.Options{Dialect: d, Tune: tune})
	cta := nodetest.Start(t, f, "ICRC-CTA", ctaLn, nodetest.Options{Dialect: d, Tune: tune})

	const canary = "Canary-Relayed-Qzx"
	for i := range 6 {
		doc := patch(t, minimalCase(t, fmt.Sprintf("XA-RC:SR-%d", i)), map[string]any{"origin/created_at": "2025-01-20T11:00:00Z",
			"persons": []any{map[string]any{"id": "p1", "names": []any{map[string]any{"value": canary, "part": "full"}}}}})
		if _, err := xa.CreateCase(ctx, cw, doc); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := xa.SendStats(ctx); err != nil || n == 0 {
		t.Fatalf("SendStats queued %d (%v)", n, err)
	}
	caseJan := stats.CaseID("XA-RC", stats.Period{Year: 2025, Month: time.January})
	waitProcessed(t, xb.Store, caseJan, string(federation.KindStatsReport), 1)

	// XB-RC keeps XA-RC's own signed report, as XA-RC signed it for XB-RC.
	in := allInbox(t, xb.Store, store.InboxFilter{CaseID: caseJan})
	if len(in) != 1 || in[0].Iss != "XA-RC" || in[0].Kind != string(federation.KindStatsReport) {
		t.Fatalf("XB-RC inbox of %s = %+v, want XA-RC's stats.report", caseJan, in)
	}
	got, err := xb.Store.GetInbox(ctx, in[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if cl := decodeJWS(t, got.Envelope); cl.Iss != "XA-RC" || cl.Aud != "XB-RC" {
		t.Fatalf("stored report claims %+v, want XA-RC's for XB-RC", cl)
	}
	held, err := xb.Store.ListStatsReports(ctx, "2025-01")
	if err != nil || len(held) != 1 || held[0].Member != "XA-RC" || held[0].Country != "XA" {
		t.Fatalf("XB-RC holds January reports %+v (%v), want XA-RC's", held, err)
	}
	if bytes.Contains(held[0].Document, []byte(canary)) || bytes.Contains(held[0].Document, []byte("SR-")) {
		t.Fatalf("a relayed report carries personal data or case ids: %s", held[0].Document)
	}
	rep := reportCounts(t, held[0].Document)
	if rep["tracing_opened"] == nil || *rep["tracing_opened"] != 5 {
		t.Fatalf("January report %s: tracing_opened want 5 (6 rounded)", held[0].Document)
	}

	// The coordinator's overview at XB-RC, by member and by country.
	for _, by := range []stats.By{{Member: true}, {Country: true}} {
		rows, err := xb.StatsAggregate(ctx, "2025-01", by)
		if err != nil {
			t.Fatal(err)
		}
		var row *stats.Row
		for i := range rows {
			if rows[i].Member == "XA-RC" || (by.Country && rows[i].Country == "XA") {
				row = &rows[i]
			}
		}
		if row == nil || row.Cells[stats.Metric("tracing_opened")].Sum != 5 {
			t.Fatalf("XB-RC aggregate by %+v for 2025-01: %+v, want XA-RC/XA with tracing_opened 5", by, rows)
		}
	}

	// XA-RC sent it as a relay.forward to ICRC-CTA; the row is delivered
	// by XB-RC's end-to-end receipt.
	nodetest.WaitFor(t, 30*time.Second, "XA-RC's report row for XB-RC delivered end to end", func() bool {
		rows := allOutbox(t, xa.Store, store.OutboxFilter{CaseID: caseJan, Destination: "XB-RC", IncludeEnvelope: true})
		return len(rows) == 1 && rows[0].State == store.Delivered
	})
	row := allOutbox(t, xa.Store, store.OutboxFilter{CaseID: caseJan, Destination: "XB-RC", IncludeEnvelope: true})[0]
	if cl := decodeJWS(t, row.Envelope); cl.Kind != string(federation.KindRelayForward) || cl.Aud != "ICRC-CTA" {
		t.Fatalf("XA-RC sent %s to %s, want relay.forward to ICRC-CTA", cl.Kind, cl.Aud)
	}
	if rc := decodeJWS(t, row.Receipt); rc.Iss != "XB-RC" || rc.Aud != "XA-RC" {
		t.Fatalf("the receipt of XA-RC's row is from %s to %s, want XB-RC's end-to-end receipt", rc.Iss, rc.Aud)
	}

	// ICRC-CTA relayed it (recorded) and keeps only the report XA-RC sent
	// to it directly.
	acc, err := cta.Store.ListAudit(ctx, store.AuditFilter{Action: "relay.accept", Object: caseJan, Limit: 10})
	if err != nil || len(acc) != 1 {
		t.Fatalf("ICRC-CTA relay records of %s: %d (%v), want 1", caseJan, len(acc), err)
	}
	var det map[string]any
	_ = json.Unmarshal(acc[0].Details, &det)
	if det["origin"] != "XA-RC" || det["to"] != "XB-RC" || det["kind"] != string(federation.KindStatsReport) {
		t.Errorf("relay record %v", det)
	}
	ctaHeld, err := cta.Store.ListStatsReports(ctx, "2025-01")
	if err != nil || len(ctaHeld) != 1 || ctaHeld[0].Member != "XA-RC" || ctaHeld[0].Revision != 1 {
		t.Fatalf("ICRC-CTA holds January reports %+v (%v), want only the one XA-RC sent it", ctaHeld, err)
	}
	noProcessErrors(t, "XB-RC", xb.Store)
	noProcessErrors(t, "ICRC-CTA", cta.Store)

	// The CTA's overview per member and per country, through its local
	// API: XB-RC reports its own January (sent through the API's trigger)
	// to ICRC-CTA directly, next to XA-RC's.
	for i := range 11 {
		doc := patch(t, minimalCase(t, fmt.Sprintf("XB-RC:SR-%d", i)), map[string]any{"origin/created_at": "2025-01-21T11:00:00Z"})
		if _, err := xb.CreateCase(ctx, cw, doc); err != nil {
			t.Fatal(err)
		}
	}
	xbURL, xbTok := localAPI(t, xb)
	if resp, body := call(t, http.MethodPost, xbURL+"/api/v1/stats/send", xbTok, "", nil, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /api/v1/stats/send at XB-RC: %d %s", resp.StatusCode, body)
	}
	waitProcessed(t, cta.Store, stats.CaseID("XB-RC", stats.Period{Year: 2025, Month: time.January}), string(federation.KindStatsReport), 1)
	ctaURL, ctaTok := localAPI(t, cta)
	overview := func(by string) []statsRow {
		resp, body := call(t, http.MethodGet, ctaURL+"/api/v1/stats?period=2025-01&by="+by, ctaTok, "", nil, nil)
		var out struct {
			Rows []statsRow `json:"rows"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil {
			t.Fatalf("GET /api/v1/stats?by=%s at ICRC-CTA: %d %s", by, resp.StatusCode, body)
		}
		return out.Rows
	}
	got2 := map[string]int{}
	for _, r := range overview("member,country") {
		got2[r.Member+"/"+r.Country] = r.Counts["tracing_opened"].Sum
	}
	if len(got2) != 2 || got2["XA-RC/XA"] != 5 || got2["XB-RC/XB"] != 10 {
		t.Fatalf("ICRC-CTA overview by member and country for 2025-01: %v, want XA-RC/XA 5 (6 rounded) and XB-RC/XB 10 (11 rounded)", got2)
	}
	byCountry := overview("country")
	if len(byCountry) != 2 || byCountry[0].Country != "XA" || byCountry[1].Country != "XB" || byCountry[0].Member != "" {
		t.Fatalf("ICRC-CTA overview by country: %+v", byCountry)
	}
	all := overview("period")
	if len(all) != 1 || all[0].Reports != 2 || all[0].Counts["tracing_opened"].Sum != 15 {
		t.Fatalf("ICRC-CTA overview of 2025-01: %+v, want 2 reports and tracing_opened 15", all)
	}
	resp, csvBody := call(t, http.MethodGet, ctaURL+"/api/v1/stats?period=2025-01&by=member,country&format=csv", ctaTok, "", nil, nil)
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(csvBody, []byte("member,country,period,reports,")) ||
		!bytes.Contains(csvBody, []byte("\nXA-RC,XA,,1,")) || !bytes.Contains(csvBody, []byte("\nXB-RC,XB,,1,")) {
		t.Fatalf("CSV overview: %d\n%s", resp.StatusCode, csvBody)
	}
	if bytes.Contains(csvBody, []byte(canary)) || bytes.Contains(csvBody, []byte("SR-")) {
		t.Fatalf("the overview carries personal data or case ids:\n%s", csvBody)
	}
}

// statsRow is a row of GET /api/v1/stats, as a coordinator's operator
// reads it.
type statsRow struct {
	Member  string `json:"member"`
	Country string `json:"country"`
	Reports int    `json:"reports"`
	Counts  map[string]struct {
		Sum        int `json:"sum"`
		Suppressed int `json:"suppressed"`
	} `json:"counts"`
}

// reportCounts returns the counts of a statistics report document.
func reportCounts(t testing.TB, doc []byte) map[string]*int {
	t.Helper()
	var rep struct {
		Counts map[string]*int `json:"counts"`
	}
	if err := json.Unmarshal(doc, &rep); err != nil {
		t.Fatal(err)
	}
	return rep.Counts
}
