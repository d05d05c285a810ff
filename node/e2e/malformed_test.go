package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestMalformedBodyRefusedOnEveryPath: an envelope whose signature and
// claims are good but whose body breaks schema v1 is refused, and nothing of
// it is stored, on every way an envelope enters a node: a single POST, a
// batch (refused alone, its neighbour stored), a relay chain (at the last
// hop and at the relay), a pull and a carried bundle. Parsing once must
// never mean that a path skips the check.
func TestMalformedBodyRefusedOnEveryPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, lns := pullOnlyBehindCTA(t)
	var pulls atomic.Int32 // XB-RC's pulls served by ICRC-CTA
	nodes := map[string]*nodetest.Node{}
	for _, id := range pullersLast(f) {
		key := f.Member(t, id).EncKey
		opts := nodetest.Options{Dialect: nodetest.SQLite, Tune: func(o *node.Options) {
			o.BundleKeys = []*jose.EncPrivateKey{key}
			o.PullInterval = time.Hour // the test pulls
		}}
		switch id {
		case "ICRC-CTA":
			opts.WrapStore = func(s store.Store) store.Store { return pullCounted{s, "pull/XB-RC", &pulls} }
		case "XA-RC":
			// XA-RC only exports a bundle: were its delivery loop running, it
			// would send the row the test queues for the bundle through
			// ICRC-CTA before the export (it did, under load).
			opts.NoRun = true
		}
		nodes[id] = nodetest.Start(t, f, id, lns[id], opts)
	}
	xa, xb, cta := nodes["XA-RC"], nodes["XB-RC"], nodes["ICRC-CTA"]
	// XB-RC's pull loop pulls once when it starts: that pull must be over
	// before the test queues the chain its own pull checks (under load it
	// came later and took the chain, and the test's pull found nothing).
	nodetest.WaitFor(t, 30*time.Second, "XB-RC's first pull served by ICRC-CTA", func() bool { return pulls.Load() > 0 })

	good := readTestdata(t, "case.json")
	bad := patch(t, good, map[string]any{"status": "not-a-status"}) // well-formed JSON, not schema v1
	envelope := func(iss, aud string, body []byte) []byte {
		return f.Envelope(t, iss, aud, federation.KindCaseCreate, demoCase, body)
	}
	var refused [][]byte // every malformed envelope offered to XB-RC
	wantCode := func(t *testing.T, err error, want problem.Code) {
		t.Helper()
		if got := problem.As(err).Code; got != want {
			t.Fatalf("code %q, want %q (err %v)", got, want, err)
		}
	}
	queue := func(t *testing.T, st store.Store, to string, raw []byte) {
		t.Helper()
		c, err := federation.ClaimsOf(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.EnqueueAll(ctx, []store.NewOutboxItem{{Destination: to, CaseID: c.CaseID, CaseVersion: 1,
			Kind: string(c.Kind), JTI: c.JTI, Envelope: raw}}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("single", func(t *testing.T) {
		raw := envelope("XA-RC", "XB-RC", bad)
		refused = append(refused, raw)
		_, err := xb.Receive(ctx, "XA-RC", raw)
		wantCode(t, err, federation.CodeSchemaInvalid)
	})
	t.Run("batch", func(t *testing.T) {
		raw := envelope("XA-RC", "XB-RC", bad)
		refused = append(refused, raw)
		out, err := xb.ReceiveBatch(ctx, "XA-RC", [][]byte{envelope("XA-RC", "XB-RC", good), raw})
		if err != nil || len(out) != 2 {
			t.Fatalf("batch: %d outcomes, %v", len(out), err)
		}
		if out[0].Err != nil || out[0].Status != federation.ReceiptAccepted {
			t.Fatalf("the valid neighbour: %+v", out[0])
		}
		if out[1].Err == nil {
			t.Fatal("the malformed envelope of the batch was accepted")
		}
		wantCode(t, out[1].Err, federation.CodeSchemaInvalid)
	})
	h := relayHarness{t: t, f: f}
	t.Run("relay, last hop", func(t *testing.T) {
		inner := envelope("XA-RC", "XB-RC", bad)
		refused = append(refused, inner)
		_, err := xb.Receive(ctx, "ICRC-CTA", h.chain(inner, "XA-RC", "XB-RC"))
		wantCode(t, err, federation.CodeSchemaInvalid)
	})
	t.Run("relay, at the relay", func(t *testing.T) {
		inner := envelope("XA-RC", "XB-RC", bad)
		first, _, err := federation.Originate(inner, federation.Wrap{Self: "XA-RC", To: "ICRC-CTA", Signer: f.Member(t, "XA-RC").Key, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cta.Receive(ctx, "XA-RC", first)
		wantCode(t, err, federation.CodeRelayRefused)
		if rows := allOutbox(t, cta.Store, store.OutboxFilter{Destination: "XB-RC"}); len(rows) != 0 {
			t.Fatalf("the relay queued %d rows for XB-RC", len(rows))
		}
	})
	t.Run("pull", func(t *testing.T) {
		inner := envelope("XA-RC", "XB-RC", bad)
		refused = append(refused, inner)
		queue(t, cta.Store, "XB-RC", h.chain(inner, "XA-RC", "XB-RC"))
		st, err := xb.PullOnce(ctx)
		if err != nil || st.Envelopes != 1 || st.Refusals != 1 || st.Receipts != 0 {
			t.Fatalf("pull: %+v %v", st, err)
		}
	})
	t.Run("bundle", func(t *testing.T) {
		raw := envelope("XA-RC", "XB-RC", bad)
		refused = append(refused, raw)
		queue(t, xa.Store, "XB-RC", raw)
		exp, err := xa.ExportBundle(ctx, "XB-RC")
		if err != nil || exp.Envelopes != 1 {
			t.Fatalf("export: %+v %v", exp, err)
		}
		imp, err := xb.ImportBundle(ctx, exp.File)
		if err != nil || imp.Refused != 1 || imp.Stored != 0 {
			t.Fatalf("import: %+v %v", imp, err)
		}
	})

	// Only the valid neighbour of the batch was stored, and it alone
	// created a case.
	rows := allInbox(t, xb.Store, store.InboxFilter{})
	for _, r := range rows {
		for _, raw := range refused {
			if sum := sha256.Sum256(raw); r.SHA256 == hex.EncodeToString(sum[:]) {
				t.Fatalf("a refused envelope was stored (inbox row %d)", r.ID)
			}
		}
	}
	if len(rows) != 1 {
		t.Fatalf("XB-RC holds %d inbox rows, want 1 (the batch's valid envelope)", len(rows))
	}
	if err := xb.ProcessInbox(ctx); err != nil {
		t.Fatal(err)
	}
	noProcessErrors(t, "XB-RC", xb.Store)
}
