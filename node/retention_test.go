package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

func TestSweepRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	lnA, lnB := nodetest.Listen(t, f.Member(t, "XA-RC")), nodetest.Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	xa := nodetest.Start(t, f, "XA-RC", lnA, nodetest.Options{})
	xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{})
	cw := node.Actor{Name: "cw", Role: "caseworker"}
	const id = "XA-RC:TR-2024-0117"
	doc := body(t, "case.tracing_request", nil) // retention_until 2049-12-31
	if _, err := xa.CreateCase(ctx, cw, doc); err != nil {
		t.Fatal(err)
	}
	if _, err := xa.Forward(ctx, cw, id, "XB-RC"); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, 10*time.Second, "case at XB-RC", func() bool {
		c, err := xb.Store.GetCase(ctx, id)
		return err == nil && c.Document != nil
	})
	// Nothing is due: a sweep keeps everything.
	if r, err := xa.SweepRetention(ctx); err != nil || r != (node.RetentionResult{}) {
		t.Fatalf("early sweep: %+v %v", r, err)
	}
	// The caseworker records that retention ended (a new local version).
	past := body(t, "case.tracing_request", func(m map[string]any) {
		m["version"] = 4
		m["retention_until"] = "2020-01-31"
	})
	if _, err := xa.UpdateCase(ctx, cw, id, past); err != nil {
		t.Fatal(err)
	}
	r, err := xa.SweepRetention(ctx)
	if err != nil || r.Withdrawn != 1 {
		t.Fatalf("sweep at the origin: %+v %v", r, err)
	}
	if c, _ := xa.Store.GetCase(ctx, id); !c.Erased() || c.EraseReason != "retention_expired" {
		t.Fatalf("origin keeps %+v", c)
	}
	nodetest.WaitFor(t, 10*time.Second, "erasure confirmed by XB-RC", func() bool {
		rs, err := xa.Store.ListRecipients(ctx, id)
		return err == nil && len(rs) == 1 && !rs[0].WithdrawalConfirmedAt.IsZero()
	})
	if c, _ := xb.Store.GetCase(ctx, id); !c.Erased() {
		t.Fatal("recipient did not erase")
	}
	// A second sweep has nothing to do.
	if r, err := xa.SweepRetention(ctx); err != nil || r != (node.RetentionResult{}) {
		t.Fatalf("second sweep: %+v %v", r, err)
	}
}

// TestSweepRetentionReceived: a received case past retention is erased at
// the recipient by its own sweep.
func TestSweepRetentionReceived(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{NoRun: true})
	doc := body(t, "case.tracing_request", func(m map[string]any) { m["retention_until"] = "2021-06-30" })
	raw := f.Envelope(t, "XA-RC", "XB-RC", "case.create", "XA-RC:TR-2024-0117", doc)
	if _, err := xb.Receive(ctx, "XA-RC", raw); err != nil {
		t.Fatal(err)
	}
	if err := xb.ProcessInbox(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := xb.SweepRetention(ctx)
	if err != nil || r.Erased != 1 || r.Withdrawn != 0 {
		t.Fatalf("sweep: %+v %v", r, err)
	}
	c, err := xb.Store.GetCase(ctx, "XA-RC:TR-2024-0117")
	if err != nil || !c.Erased() || c.Document != nil {
		t.Fatalf("case %+v %v", c, err)
	}
	recs, _ := xb.Store.ListAudit(ctx, store.AuditFilter{Action: "case.erase"})
	if len(recs) != 1 || recs[0].Actor != "system:retention" {
		t.Fatalf("audit %+v", recs)
	}
}
