package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/stats"
	"github.com/familylinks/flx/node/store"
)

// TestStatsThroughRelayNotResent: when the coordinator names a relay in
// relay_via, XA-RC's outbox row of a report holds the relay.forward around
// it once an attempt was made; sending again must still find that report
// and queue nothing (FLX-STA-001: a month again only as a higher revision,
// and only when its counts changed).
func TestStatsThroughRelayNotResent(t *testing.T) {
	t.Parallel()
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			f := fedtest.New(t, threeMembers...)
			f.Member(t, "ICRC-CTA").RelayVia = []string{"XB-RC"}
			xaLn := nodetest.Listen(t, f.Member(t, "XA-RC"))
			xbLn := nodetest.Listen(t, f.Member(t, "XB-RC"))
			f.Sign(t)
			tune := func(o *node.Options) { o.Stats.Every = -1 }
			xa := nodetest.Start(t, f, "XA-RC", xaLn, nodetest.Options{Dialect: d, Tune: tune})
			nodetest.Start(t, f, "XB-RC", xbLn, nodetest.Options{Dialect: d, Tune: tune})
			doc := patch(t, minimalCase(t, "XA-RC:STR-1"), map[string]any{"origin/created_at": "2025-01-20T11:00:00Z"})
			if _, err := xa.CreateCase(ctx, cw, doc); err != nil {
				t.Fatal(err)
			}
			if n, err := xa.SendStats(ctx); err != nil || n == 0 {
				t.Fatalf("SendStats queued %d (%v), want the reports since January 2025", n, err)
			}
			caseJan := stats.CaseID("XA-RC", stats.Period{Year: 2025, Month: time.January})
			nodetest.WaitFor(t, 30*time.Second, "the January report's row routed through XB-RC", func() bool {
				rows, err := xa.Store.ListOutbox(ctx, store.OutboxFilter{CaseID: caseJan, IncludeEnvelope: true, Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					if c, err := federation.ClaimsOf(r.Envelope); err == nil && c.Kind == federation.KindRelayForward {
						return true
					}
				}
				return false
			})
			if again, err := xa.SendStats(ctx); err != nil || again != 0 {
				t.Fatalf("sending again queued %d (%v), want 0: a report sent through a relay was not found", again, err)
			}
		})
	}
}
