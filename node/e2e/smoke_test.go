package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

func TestSmokeForward(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	lnA := nodetest.Listen(t, f.Member(t, "XA-RC"))
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	a := nodetest.Start(t, f, "XA-RC", lnA, nodetest.Options{})
	b := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{})

	doc, _ := schema.ExampleNamed("case.tracing_request")
	actor := node.Actor{Name: "cw1", Role: "caseworker"}
	if _, err := a.CreateCase(ctx, actor, doc.Doc); err != nil {
		t.Fatal(err)
	}
	res, err := a.Forward(ctx, actor, "XA-RC:TR-2024-0117", "XB-RC")
	if err != nil {
		t.Fatalf("forward: %v (%+v)", err, res.Decision)
	}
	t.Logf("decision %s redactions %v", res.Decision.Effect, res.Decision.Redactions)
	nodetest.WaitFor(t, 10*time.Second, "case at XB-RC", func() bool {
		c, err := b.Store.GetCase(ctx, "XA-RC:TR-2024-0117")
		return err == nil && c.Document != nil
	})
	// The receiver may process the case before the sender has recorded
	// the receipt: wait for that too.
	nodetest.WaitFor(t, 10*time.Second, "the receipt recorded at XA-RC", func() bool {
		it, err := a.Store.GetOutbox(ctx, res.OutboxID)
		return err == nil && it.State == store.Delivered && len(it.Receipt) > 0
	})
}
