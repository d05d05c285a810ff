package e2e

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestPulledAndBundledExpiring: an envelope that waited for a pull-only
// member until past its exp is re-signed when it is pulled, and when it is
// exported in a bundle, so XB-RC accepts it instead of refusing it as
// expired. XA-RC signs envelopes for 3 s, and XB-RC tolerates 1 s of skew:
// the test waits until the first bytes' exp plus that skew has passed, so
// XB-RC would refuse them. XB-RC's pull loop pulls once when it starts: the
// test forwards only after that pull reached XA-RC, so the envelope is still
// queued when the test pulls or exports it.
func TestPulledAndBundledExpiring(t *testing.T) {
	t.Parallel()
	for _, via := range []string{"pull", "bundle"} {
		t.Run(via, func(t *testing.T) { testExpiring(t, via) })
	}
}

func testExpiring(t *testing.T, via string) {
	ctx := context.Background()
	f := fedtest.New(t, threeMembers...)
	xbm := f.Member(t, "XB-RC")
	xbm.PullOnly, xbm.Endpoint = true, "https://xb-rc.invalid:8443"
	lns := map[string]net.Listener{
		"XA-RC":    nodetest.Listen(t, f.Member(t, "XA-RC")),
		"ICRC-CTA": nodetest.Listen(t, f.Member(t, "ICRC-CTA")),
	}
	f.Sign(t)
	const skewB = time.Second
	var pulls atomic.Int32 // XB-RC's pulls served by XA-RC
	nodes := map[string]*nodetest.Node{}
	for _, id := range pullersLast(f) {
		key := f.Member(t, id).EncKey
		opts := nodetest.Options{Dialect: nodetest.SQLite, Tune: func(o *node.Options) {
			o.BundleKeys = []*jose.EncPrivateKey{key}
			o.PullInterval = time.Hour // the test pulls
			switch id {
			case "XA-RC":
				o.EnvelopeTTL = 3 * time.Second
			case "XB-RC":
				o.Skew = skewB
			}
		}}
		if id == "XA-RC" {
			opts.WrapStore = func(s store.Store) store.Store { return pullCounted{s, "pull/XB-RC", &pulls} }
		}
		nodes[id] = nodetest.Start(t, f, id, lns[id], opts)
	}
	xa, xb := nodes["XA-RC"], nodes["XB-RC"]
	// XB-RC's pull loop starts with a pull: were it to come after the
	// forward (a slow machine), it would take the envelope before its exp.
	nodetest.WaitFor(t, 30*time.Second, "XB-RC's first pull served by XA-RC", func() bool { return pulls.Load() > 0 })

	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	sent, err := xa.Forward(ctx, cw, demoCase, "XB-RC")
	if err != nil {
		t.Fatal(err)
	}
	first, err := xa.Store.GetOutbox(ctx, sent.OutboxID)
	if err != nil {
		t.Fatal(err)
	}
	c, err := federation.ClaimsOf(first.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	// Past what XB-RC would take of the first bytes (its clock is this one).
	nodetest.WaitFor(t, 30*time.Second, "the first envelope expired for XB-RC", func() bool {
		return time.Now().After(c.ExpiresAt.Add(skewB + 100*time.Millisecond))
	})
	if pulls.Load() != 1 {
		t.Fatalf("XA-RC served %d pulls of XB-RC before the test's, want the loop's first only", pulls.Load())
	}

	switch via {
	case "pull":
		st, err := xb.PullOnce(ctx)
		if err != nil || st.Envelopes != 1 || st.Receipts != 1 || st.Refusals != 0 {
			t.Fatalf("pull of an expired envelope: %+v %v (want it re-signed and receipted)", st, err)
		}
		o, _ := xa.Store.GetOutbox(ctx, sent.OutboxID)
		if o.State != store.Delivered || o.JTI == first.JTI {
			t.Fatalf("XA-RC row %s, jti %s (first %s): want delivered under a new jti", o.State, o.JTI, first.JTI)
		}
	case "bundle":
		exp, err := xa.ExportBundle(ctx, "XB-RC")
		if err != nil || exp.Envelopes != 1 {
			t.Fatalf("export: %+v %v", exp, err)
		}
		imp, err := xb.ImportBundle(ctx, exp.File)
		if err != nil || imp.Stored != 1 || imp.Refused != 0 {
			t.Fatalf("import of a bundle exported after exp: stored %d, refused %d, %v (want it re-signed and stored)", imp.Stored, imp.Refused, err)
		}
		back, err := xa.ImportBundle(ctx, imp.Return)
		if err != nil || back.Receipts != 1 {
			t.Fatalf("return import: %+v %v", back, err)
		}
		if o, _ := xa.Store.GetOutbox(ctx, sent.OutboxID); o.State != store.Delivered || o.JTI == first.JTI {
			t.Fatalf("XA-RC row %s, jti %s (first %s): want delivered under a new jti", o.State, o.JTI, first.JTI)
		}
	}
	waitProcessed(t, xb.Store, demoCase, string(federation.KindCaseCreate), 1)
}

// pullCounted counts the claims of worker (a pull by one member) once they
// returned: the claim happened, and the rows it took are leased.
type pullCounted struct {
	store.Store
	worker string
	n      *atomic.Int32
}

func (s pullCounted) ClaimDue(ctx context.Context, r store.ClaimRequest) ([]store.OutboxItem, error) {
	rows, err := s.Store.ClaimDue(ctx, r)
	if r.Worker == s.worker {
		s.n.Add(1)
	}
	return rows, err
}

// TestRelayedExpiringNotPulled: a relay cannot re-sign another origin's
// envelope. ICRC-CTA holds XA-RC's chain for XB-RC (pull_only behind it)
// past the inner envelope's exp: the pull hands XB-RC nothing expired, and
// the relay dead-letters the chain as expired (XA-RC, which never got an
// end-to-end receipt, still holds its envelope as not delivered).
func TestRelayedExpiringNotPulled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, lns := pullOnlyBehindCTA(t)
	var pulls atomic.Int32 // XB-RC's pulls served by ICRC-CTA
	nodes := map[string]*nodetest.Node{}
	for _, id := range pullersLast(f) {
		opts := nodetest.Options{Dialect: nodetest.SQLite, Tune: func(o *node.Options) {
			o.PullInterval = time.Hour // the test pulls
			switch id {
			case "XA-RC":
				// Re-signed at each attempt: ICRC-CTA must get it within
				// this plus its skew (1 s), or it refuses it as expired: 3 s in
				// all was too short for a loaded machine.
				o.EnvelopeTTL = 4 * time.Second
			case "XB-RC", "ICRC-CTA":
				o.Skew = time.Second
			}
		}}
		if id == "ICRC-CTA" {
			opts.WrapStore = func(s store.Store) store.Store { return pullCounted{s, "pull/XB-RC", &pulls} }
		}
		nodes[id] = nodetest.Start(t, f, id, lns[id], opts)
	}
	xa, xb, cta := nodes["XA-RC"], nodes["XB-RC"], nodes["ICRC-CTA"]
	// XB-RC's startup pull must not take the chain before its exp.
	nodetest.WaitFor(t, 30*time.Second, "XB-RC's first pull served by ICRC-CTA", func() bool { return pulls.Load() > 0 })
	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	sent, err := xa.Forward(ctx, cw, demoCase, "XB-RC")
	if err != nil {
		t.Fatal(err)
	}
	var row store.OutboxItem
	nodetest.WaitFor(t, 10*time.Second, "ICRC-CTA keeps the chain for XB-RC", func() bool {
		rows := allOutbox(t, cta.Store, store.OutboxFilter{Destination: "XB-RC", CaseID: demoCase, IncludeEnvelope: true})
		if len(rows) == 1 {
			row = rows[0]
		}
		return len(rows) == 1
	})
	// Until the inner envelope is past its exp by more than ICRC-CTA's skew.
	inner, err := federation.RelayInner(row.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := federation.PeekToken(inner)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(tok.ExpiresAt.Add(1500 * time.Millisecond)))
	st, err := xb.PullOnce(ctx)
	if err != nil || st.Envelopes != 0 {
		t.Fatalf("pull of a chain whose inner envelope expired: %+v %v (want nothing handed out)", st, err)
	}
	got, err := cta.Store.GetOutbox(ctx, row.ID)
	if err != nil || got.State != store.Dead || !strings.Contains(got.LastError, "expired") {
		t.Fatalf("ICRC-CTA row %s %q (%v): want dead as expired", got.State, got.LastError, err)
	}
	if o, _ := xa.Store.GetOutbox(ctx, sent.OutboxID); o.State == store.Delivered {
		t.Fatal("XA-RC counts the envelope delivered without an end-to-end receipt")
	}
}
