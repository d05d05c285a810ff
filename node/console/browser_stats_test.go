package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/store"
)

// TestBrowserStatisticsShowAnExchange: after XA-RC forwards a case to XB-RC
// and sends five Red Cross messages over the federation, XA-RC's statistics
// page, in Chromium, charts them as XA-RC's reports publish them (5 messages
// collected this month, the one tracing request "fewer than 5"), not as
// zeros; XB-RC, which received them and recorded nothing of its own, says
// so in words instead of drawing eleven empty charts.
func TestBrowserStatisticsShowAnExchange(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	cw := e.browser()
	cw.signIn(console.RoleCaseworker)
	id := cw.createCase()
	actor := node.Actor{Name: roleNames[console.RoleCaseworker], Role: console.RoleCaseworker}
	if res, err := e.xa.Forward(ctx, actor, id, "XB-RC"); err != nil || res.State != "queued" {
		t.Fatalf("forward: %v %+v", err, res)
	}
	now := time.Now().UTC()
	for i := range 5 {
		msg, _ := json.Marshal(map[string]any{
			"schema": "flx/v1/message", "message_id": fmt.Sprintf("XA-RC:RCM-STATS-%d", i), "case_id": id,
			"kind": "red_cross_message", "channel": "rcm", "created_at": now.Format(time.RFC3339),
			"from": map[string]any{"person": "p1", "member": "XA-RC"},
			"to":   map[string]any{"person": "p2", "member": "XB-RC"}, "body": "We are all well.", "lang": "en",
		})
		if res, err := e.xa.SendMessage(ctx, actor, id, "XB-RC", msg); err != nil || res.State != "queued" {
			t.Fatalf("message %d: %v %+v", i, err, res)
		}
	}
	waitFor(t, 15*time.Second, "XB-RC receives the case and the five messages", func() bool {
		rows, err := e.xb.Store.ListInbox(ctx, store.InboxFilter{CaseID: id, Limit: 20})
		return err == nil && len(rows) == 6
	})

	tb := startBrowser(t, e.base)
	tb.signIn(console.RoleOperator)
	tb.open("/console/stats?months=6")
	var got struct {
		Empty     bool     `json:"empty"`
		Charts    int      `json:"charts"`
		Collected []string `json:"collected"` // the bars' titles
		Heights   []string `json:"heights"`
		Opened    []string `json:"opened"`
		Row       string   `json:"row"`
	}
	tb.eval(`(() => {
		const fig = id => document.getElementById('ch-' + id).closest('figure');
		const titles = id => Array.from(fig(id).querySelectorAll('rect.bar title')).map(t => t.textContent);
		const row = Array.from(document.querySelectorAll('table.stats tbody tr')).find(r => r.querySelector('th').textContent === 'Red Cross messages collected');
		return {empty: !!document.getElementById('stats-empty'), charts: document.querySelectorAll('figure.chart svg').length,
			collected: titles('rcm_collected'), opened: titles('tracing_opened'),
			heights: Array.from(fig('rcm_collected').querySelectorAll('rect.bar')).map(r => r.getAttribute('height')),
			row: row ? row.innerText.replace(/\s+/g, ' ').trim() : ''};
	})()`, &got)
	if got.Empty || got.Charts != 11 || len(got.Collected) != 6 {
		t.Fatalf("XA-RC's statistics page: %+v", got)
	}
	if last := got.Collected[5]; !strings.HasSuffix(last, ": 5") || got.Heights[5] == "0" {
		t.Errorf("this month's Red Cross messages collected: %q, bar height %s; want 5 drawn (bars %v)", last, got.Heights[5], got.Collected)
	}
	if last := got.Opened[5]; !strings.HasSuffix(last, ": fewer than 5") {
		t.Errorf("this month's tracing requests opened: %q; want fewer than 5", last)
	}
	if !strings.HasSuffix(got.Row, " 5") {
		t.Errorf("the table's row: %q", got.Row)
	}
	tb.shot("stats")

	tb.base = e.xbBase
	tb.signIn(console.RoleOperator)
	tb.open("/console/stats")
	var xb struct {
		Empty string `json:"empty"`
		SVGs  int    `json:"svgs"`
	}
	tb.eval(`({empty: (document.getElementById('stats-empty') || {}).textContent || '', svgs: document.querySelectorAll('svg').length})`, &xb)
	if !strings.Contains(xb.Empty, "Nothing to show for the last 12 months") || xb.SVGs != 0 {
		t.Errorf("XB-RC, with no activity of its own: empty state %q, %d charts; want the words and no chart", xb.Empty, xb.SVGs)
	}
	if v := tb.axe(); len(v) > 0 {
		t.Errorf("accessibility of the empty statistics page: %v", v)
	}
}
