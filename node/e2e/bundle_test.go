package e2e

import (
	"bytes"
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestCarriedBundle: XB-RC has no network (pull_only, and it never pulls
// here); XA-RC's case goes to it in a bundle file and the receipt comes back
// in the return bundle, on each store. A bundle opened by the wrong member,
// a tampered file and a second import of the same file are refused or
// processed as nothing new.
func TestCarriedBundle(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, testCarriedBundle)
}

func testCarriedBundle(t *testing.T, d nodetest.Dialect) {
	ctx := context.Background()
	f := fedtest.New(t, threeMembers...)
	xbm := f.Member(t, "XB-RC")
	xbm.PullOnly = true
	xbm.Endpoint = "https://xb-rc.invalid:8443"
	lns := map[string]net.Listener{
		"XA-RC":    nodetest.Listen(t, f.Member(t, "XA-RC")),
		"ICRC-CTA": nodetest.Listen(t, f.Member(t, "ICRC-CTA")),
	}
	f.Sign(t)
	var pulls atomic.Int32 // XB-RC's pulls served by XA-RC
	nodes := map[string]*nodetest.Node{}
	for id := range f.Members {
		key := f.Member(t, id).EncKey
		opts := nodetest.Options{Dialect: d, Tune: func(o *node.Options) {
			o.BundleKeys = []*jose.EncPrivateKey{key}
			o.PullInterval = time.Hour // XB-RC has no network: it never pulls after its first try
		}}
		if id == "XA-RC" {
			opts.WrapStore = func(s store.Store) store.Store { return pullCounted{s, "pull/XB-RC", &pulls} }
		}
		nodes[id] = nodetest.Start(t, f, id, lns[id], opts)
	}
	xa, xb, cta := nodes["XA-RC"], nodes["XB-RC"], nodes["ICRC-CTA"]
	// XB-RC's pull loop pulls once when it starts: a pull after the forward
	// would lease the row away from the bundle (and from the claim below).
	nodetest.WaitFor(t, 30*time.Second, "XB-RC's first pull served by XA-RC", func() bool { return pulls.Load() > 0 })

	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	sent, err := xa.Forward(ctx, cw, demoCase, "XB-RC")
	if err != nil {
		t.Fatal(err)
	}
	// A push that failed put the row in backoff (a member without network
	// is typically one whose rows wait an hour): the bundle takes it anyway.
	claimed, err := xa.Store.ClaimDue(ctx, store.ClaimRequest{Worker: "test", Destination: "XB-RC"})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %d rows, %v", len(claimed), err)
	}
	if err := xa.Store.MarkFailed(ctx, claimed[0].ID, claimed[0].Attempts, "transport", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	exp, err := xa.ExportBundle(ctx, "XB-RC")
	if err != nil || exp.Envelopes != 1 {
		t.Fatalf("export: %+v %v", exp, err)
	}
	if bytes.Contains(exp.File, []byte("XA-RC:DEMO")) || bytes.Contains(exp.File, []byte("tracing")) {
		t.Fatal("the bundle file shows its content")
	}

	refusals := []struct {
		name string
		n    *nodetest.Node
		file []byte
		code problem.Code
	}{
		{"opened by another member", cta, exp.File, federation.CodeWrongAudience},
		{"tampered", xb, flip(exp.File, len(exp.File)/2), federation.CodeBadBundle},
		{"truncated", xb, exp.File[:len(exp.File)-40], federation.CodeBadBundle},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.n.ImportBundle(ctx, tc.file)
			if got := problem.As(err).Code; got != tc.code {
				t.Fatalf("import: %v (code %s), want %s", err, got, tc.code)
			}
		})
	}
	if n := len(allInbox(t, cta.Store, store.InboxFilter{CaseID: demoCase})); n != 0 {
		t.Fatalf("the wrong member stored %d envelopes", n)
	}

	imp, err := xb.ImportBundle(ctx, exp.File)
	if err != nil || imp.Stored != 1 || imp.From != "XA-RC" || imp.Return == nil {
		t.Fatalf("import: %+v %v", imp, err)
	}
	waitProcessed(t, xb.Store, demoCase, string(federation.KindCaseCreate), 1)
	if c, err := xb.Store.GetCase(ctx, demoCase); err != nil || c.Origin != "XA-RC" || !sameJSON(t, c.Document, sent.Document) {
		t.Fatalf("XB-RC holds %+v %v", c, err)
	}
	again, err := xb.ImportBundle(ctx, exp.File)
	if err != nil || again.Stored != 0 || again.Duplicates != 1 {
		t.Fatalf("second import: %+v %v", again, err)
	}
	if n := len(allInbox(t, xb.Store, store.InboxFilter{CaseID: demoCase})); n != 1 {
		t.Fatalf("XB-RC stored %d envelopes, want 1", n)
	}
	if counts := processCounts(t, xb.Store, demoCase); len(counts) != 1 {
		t.Fatalf("processed %v", counts)
	}

	// The receipt comes back in the return bundle.
	if o, _ := xa.Store.GetOutbox(ctx, sent.OutboxID); o.State == store.Delivered {
		t.Fatal("delivered before the receipt came back")
	}
	back, err := xa.ImportBundle(ctx, imp.Return)
	if err != nil || back.Receipts != 1 {
		t.Fatalf("return import: %+v %v", back, err)
	}
	o, _ := xa.Store.GetOutbox(ctx, sent.OutboxID)
	if o.State != store.Delivered || decodeJWS(t, o.Receipt).Iss != "XB-RC" {
		t.Fatalf("row %s, receipt from %s", o.State, decodeJWS(t, o.Receipt).Iss)
	}
	if ds, _ := xa.Store.ListDisclosures(ctx, demoCase); len(ds) != 1 || ds[0].Member != "XB-RC" {
		t.Fatalf("disclosures %+v", ds)
	}
	if _, err := xa.ExportBundle(ctx, "XB-RC"); problem.As(err).Code != problem.NotFound {
		t.Fatalf("export with nothing queued: %v", err)
	}
}

// flip returns a copy of b with the byte at i changed to another base64url
// character.
func flip(b []byte, i int) []byte {
	out := bytes.Clone(b)
	if out[i] == 'A' {
		out[i] = 'B'
	} else {
		out[i] = 'A'
	}
	return out
}
