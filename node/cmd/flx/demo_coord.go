package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/stats"
	"github.com/familylinks/flx/node/store"
)

// showRelay tells what the relay did for the case XA-RC sent to XB-RC
// through ICRC-CTA: its disclosure record, and the end-to-end receipt that
// made XA-RC count the case delivered.
func showRelay(ctx context.Context, tl *timeline, nodes map[string]*runningNode) error {
	acc, err := nodes["ICRC-CTA"].Store.ListAudit(ctx, store.AuditFilter{Action: "relay.accept", Object: demoCase, Limit: 10})
	if err != nil {
		return err
	}
	if len(acc) == 0 {
		return errors.New("demo: ICRC-CTA recorded no relay")
	}
	var d struct {
		Origin string `json:"origin"`
		To     string `json:"to"`
		Kind   string `json:"kind"`
		Hops   int    `json:"hops"`
		Effect string `json:"effect"`
	}
	_ = json.Unmarshal(acc[0].Details, &d)
	tl.say("ICRC-CTA", "relayed %s from %s to %s unchanged (its own policy: %s); disclosure recorded, hop %d added", d.Kind, d.Origin, d.To, d.Effect, d.Hops+1)
	rows, err := nodes["XA-RC"].Store.ListOutbox(ctx, store.OutboxFilter{CaseID: demoCase, Destination: "XB-RC", IncludeEnvelope: true})
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.State != store.Delivered || r.Kind != string(federation.KindCaseCreate) {
			continue
		}
		iss, _, err := federation.PeekReceipt(r.Receipt)
		if err != nil {
			return err
		}
		tl.say("XB-RC", "verified XA-RC's own signature inside the relay envelope and stored the case as XA-RC's")
		tl.say("XA-RC", "delivered to XB-RC on %s's end-to-end receipt, which came back through the relay chain", iss)
	}
	return nil
}

// showStats sends the members' monthly statistics to ICRC-CTA and shows
// what it aggregates: counts only, small ones suppressed.
func showStats(ctx context.Context, tl *timeline, nodes map[string]*runningNode) error {
	for _, id := range []string{"XA-RC", "XB-RC"} {
		n, err := nodes[id].Node.SendStats(ctx)
		if err != nil {
			return fmt.Errorf("demo: statistics of %s: %w", id, err)
		}
		tl.say(id, "monthly activity statistics: %d report(s) signed and sent to ICRC-CTA (counts only; 1 to 4 suppressed, others rounded to 5)", n)
	}
	period := "2026-11"
	want := map[string]bool{"XA-RC": true, "XB-RC": true}
	deadline := time.Now().Add(30 * time.Second)
	for {
		held, err := nodes["ICRC-CTA"].Store.ListStatsReports(ctx, period)
		if err != nil {
			return err
		}
		got := 0
		for _, r := range held {
			if want[r.Member] {
				got++
			}
		}
		if got >= len(want) {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("demo: statistics reports missing at ICRC-CTA after 30s")
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	rows, err := nodes["ICRC-CTA"].Node.StatsAggregate(ctx, period, stats.By{Country: true, Period: true})
	if err != nil {
		return err
	}
	for _, r := range rows {
		var parts []string
		for _, m := range []stats.Metric{"tracing_opened", "rcm_collected", "video_messages"} {
			c := r.Cells[m]
			switch {
			case c.Suppressed > 0:
				parts = append(parts, fmt.Sprintf("%s <5", m))
			default:
				parts = append(parts, fmt.Sprintf("%s %d", m, c.Sum))
			}
		}
		tl.say("ICRC-CTA", "statistics %s, country %s: %s", r.Period, r.Country, strings.Join(parts, ", "))
	}
	return nil
}
