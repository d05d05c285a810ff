package node_test

import (
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/pull"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestNeverSentRowsUncounted: rows a node claims and then does not hand
// out go back queued with the attempts the operator saw before the claim
// (Outbox.Unclaim), not as a failed attempt: those past a puller's byte
// limit, and those an exported bundle cannot carry.
func TestNeverSentRowsUncounted(t *testing.T) {
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
		xb := f.Member(t, "XB-RC")
		xb.RelayVia, xb.PullOnly, xb.Endpoint = []string{"XA-RC"}, true, "https://xb-rc.invalid:8443"
		f.Sign(t)
		queue := func(t *testing.T, xa *nodetest.Node, iss, caseID string) store.OutboxItem {
			t.Helper()
			raw := f.Envelope(t, iss, "XB-RC", federation.KindCaseCreate, caseID, caseBody(t, caseID, 1))
			c, err := federation.ClaimsOf(raw)
			if err != nil {
				t.Fatal(err)
			}
			out, err := xa.Store.EnqueueAll(ctx, []store.NewOutboxItem{{Destination: "XB-RC", CaseID: caseID,
				Kind: string(federation.KindCaseCreate), JTI: c.JTI, Envelope: raw}})
			if err != nil {
				t.Fatal(err)
			}
			return out[0]
		}
		uncounted := func(t *testing.T, xa *nodetest.Node, rows ...store.OutboxItem) {
			t.Helper()
			for _, r := range rows {
				got, err := xa.Store.GetOutbox(ctx, r.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.State != store.Queued || got.Attempts != 0 {
					t.Errorf("row %d never sent is %s with %d attempts, want queued with 0", r.ID, got.State, got.Attempts)
				}
			}
		}
		t.Run("past a puller's byte limit", func(t *testing.T) {
			xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: d, NoRun: true})
			rows := []store.OutboxItem{queue(t, xa, "XA-RC", "XA-RC:PULL-1"), queue(t, xa, "XA-RC", "XA-RC:PULL-2"), queue(t, xa, "XA-RC", "XA-RC:PULL-3")}
			now := time.Now()
			got, more, err := xa.PullQueueForTest().Lease(ctx, "XB-RC",
				pull.Limit{Count: 10, Bytes: int64(len(rows[0].Envelope)) + 1}, now, now.Add(time.Minute))
			if err != nil || len(got) != 1 || !more || got[0].JTI != rows[0].JTI {
				t.Fatalf("lease: %d envelopes, more %t, %v", len(got), more, err)
			}
			uncounted(t, xa, rows[1:]...)
		})
		t.Run("not carried by a bundle", func(t *testing.T) {
			// Signed by another member and not a relay envelope of this
			// one: a bundle of XA-RC cannot carry it.
			xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: d, NoRun: true})
			r := queue(t, xa, "XC-RC", "XC-RC:BUNDLE-1")
			if _, err := xa.ExportBundle(ctx, "XB-RC"); err == nil {
				t.Fatal("a bundle was made of nothing it can carry")
			}
			uncounted(t, xa, r)
		})
	})
}
