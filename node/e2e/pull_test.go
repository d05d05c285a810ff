package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/federation/pull"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestPullCut: XB-RC is pull_only behind ICRC-CTA. A pull whose answer is
// lost leaves the envelope leased, not lost: it is offered again when the
// lease runs out, processed once, acknowledged with XB-RC's receipt, and a
// copy of the same bytes is only a duplicate. On each store.
//
// ICRC-CTA's clock is the test's (an offset on the real one): the lease
// outlasts any delay of a loaded machine between the lost pull and the
// pull during the lease, and the test runs the clock past it instead of
// sleeping through it.
func TestPullCut(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, testPullCut)
}

func testPullCut(t *testing.T, d nodetest.Dialect) {
	ctx := context.Background()
	f, lns := pullOnlyBehindCTA(t)
	const lease = 30 * time.Second // less than the nodes' 60 s skew
	var clock offsetClock
	var pulls atomic.Int32 // XB-RC's pulls served by ICRC-CTA
	nodes := map[string]*nodetest.Node{}
	for _, id := range pullersLast(f) {
		opts := nodetest.Options{Dialect: d, Tune: func(o *node.Options) {
			o.PullInterval = time.Hour // the test pulls
			o.PullLease = lease
		}}
		if id == "ICRC-CTA" {
			opts.WrapStore = func(s store.Store) store.Store { return pullCounted{s, "pull/XB-RC", &pulls} }
			tune := opts.Tune
			opts.Tune = func(o *node.Options) { tune(o); o.Now = clock.Now }
		}
		nodes[id] = nodetest.Start(t, f, id, lns[id], opts)
	}
	xa, xb, cta := nodes["XA-RC"], nodes["XB-RC"], nodes["ICRC-CTA"]
	// XB-RC's pull loop pulls once when it starts: the chain must still be
	// queued for the test's own pulls.
	nodetest.WaitFor(t, 30*time.Second, "XB-RC's first pull served by ICRC-CTA", func() bool { return pulls.Load() > 0 })

	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := xa.Forward(ctx, cw, demoCase, "XB-RC"); err != nil {
		t.Fatal(err)
	}
	var row store.OutboxItem
	nodetest.WaitFor(t, 30*time.Second, "ICRC-CTA keeps the chain for XB-RC", func() bool {
		rows := allOutbox(t, cta.Store, store.OutboxFilter{Destination: "XB-RC", CaseID: demoCase})
		if len(rows) == 1 {
			row = rows[0]
		}
		return len(rows) == 1
	})

	// A pull by XB-RC whose answer never arrives.
	hc := mtls.NewClient(f.Member(t, "XB-RC").TLS, f.Manifest.TLSDirectory(), "ICRC-CTA", 5*time.Second)
	resp, err := hc.Get(cta.FedURL + pull.PathPull)
	if err != nil {
		t.Fatal(err)
	}
	var b pull.Batch
	err = json.NewDecoder(resp.Body).Decode(&b)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(b.Envelopes) != 1 {
		t.Fatalf("pull: %d %+v %v", resp.StatusCode, b, err)
	}
	lost := []byte(b.Envelopes[0])

	// Leased: not offered again before lease_until.
	if st, err := xb.PullOnce(ctx); err != nil || st.Envelopes != 0 {
		t.Fatalf("pull during the lease: %+v %v", st, err)
	}
	clock.Advance(lease + time.Second)
	st, err := xb.PullOnce(ctx)
	if err != nil || st.Envelopes != 1 || st.Receipts != 1 {
		t.Fatalf("pull after the lease: %+v %v", st, err)
	}
	got, err := cta.Store.GetOutbox(ctx, row.ID)
	if err != nil || got.State != store.Delivered || decodeJWS(t, got.Receipt).Iss != "XB-RC" {
		t.Fatalf("ICRC-CTA row %s (%v)", got.State, err)
	}
	// The copy of the lost answer is a duplicate, not a second processing.
	res, err := xb.Receive(ctx, "ICRC-CTA", lost)
	if err != nil || res.Status != federation.ReceiptDuplicate {
		t.Fatalf("the lost copy: %+v %v", res, err)
	}
	if st, err := xb.PullOnce(ctx); err != nil || st.Envelopes != 0 {
		t.Fatalf("pull after the acknowledgement: %+v %v", st, err)
	}
	waitProcessed(t, xb.Store, demoCase, string(federation.KindCaseCreate), 1)
	if counts := processCounts(t, xb.Store, demoCase); len(counts) != 1 {
		t.Fatalf("XB-RC processed %v", counts)
	}
	// XA-RC counts it delivered on XB-RC's end-to-end receipt.
	nodetest.WaitFor(t, 30*time.Second, "XA-RC's row delivered end to end", func() bool {
		rows := allOutbox(t, xa.Store, store.OutboxFilter{Destination: "XB-RC", CaseID: demoCase})
		return len(rows) == 1 && rows[0].State == store.Delivered
	})
}

// offsetClock is the real clock moved on by what Advance added: a node
// given its Now sees a lease or a backoff run out at once.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *offsetClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// pullOnlyBehindCTA is the federation of the pull tests: XB-RC is pull-only
// behind ICRC-CTA (its endpoint cannot be reached), XA-RC and ICRC-CTA
// listen. The members are signed into the federation.
func pullOnlyBehindCTA(t *testing.T) (*fedtest.Federation, map[string]net.Listener) {
	t.Helper()
	f := fedtest.New(t, threeMembers...)
	xbm := f.Member(t, "XB-RC")
	xbm.RelayVia, xbm.PullOnly, xbm.Endpoint = []string{"ICRC-CTA"}, true, "https://xb-rc.invalid:8443"
	lns := map[string]net.Listener{
		"XA-RC":    nodetest.Listen(t, f.Member(t, "XA-RC")),
		"ICRC-CTA": nodetest.Listen(t, f.Member(t, "ICRC-CTA")),
	}
	f.Sign(t)
	return f, lns
}
