package e2e

import (
	"context"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

var threeMembers = []fedtest.Spec{"XA-RC:XA:society", "XB-RC:XB:society", "ICRC-CTA:XC:coordinator"}

// startThree starts XA-RC, XB-RC and ICRC-CTA on real mTLS listeners.
func startThree(t *testing.T, d nodetest.Dialect) (f *fedtest.Federation, nodes map[string]*nodetest.Node) {
	t.Helper()
	f = fedtest.New(t, threeMembers...)
	lns := map[string]net.Listener{}
	for id := range f.Members {
		lns[id] = nodetest.Listen(t, f.Member(t, id))
	}
	f.Sign(t)
	nodes = map[string]*nodetest.Node{}
	for id, ln := range lns {
		nodes[id] = nodetest.Start(t, f, id, ln, nodetest.Options{Dialect: d})
	}
	return f, nodes
}

// TestThreeNodes plays a whole case over real mTLS between XA-RC (origin),
// XB-RC and ICRC-CTA, on each store: forward with redactions, response and
// messages back, an update, then withdrawal with erasure and confirmations.
func TestThreeNodes(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, testThreeNodes)
}

func testThreeNodes(t *testing.T, d nodetest.Dialect) {
	ctx := context.Background()
	_, nodes := startThree(t, d)
	xa, xb := nodes["XA-RC"], nodes["XB-RC"]
	peers := []string{"ICRC-CTA", "XB-RC"}

	// 1. XA creates the case and forwards it to both; the policy redacts.
	original := readTestdata(t, "case.json")
	if _, err := xa.CreateCase(ctx, cw, original); err != nil {
		t.Fatal(err)
	}
	for _, to := range peers {
		res, err := xa.Forward(ctx, cw, demoCase, to)
		if err != nil {
			t.Fatalf("forward to %s: %v (%+v)", to, err, res.Decision)
		}
		if res.State != "queued" || res.Kind != federation.KindCaseCreate {
			t.Fatalf("forward to %s: state %s kind %s", to, res.State, res.Kind)
		}
		if len(res.Decision.Redactions) == 0 {
			t.Fatalf("forward to %s: the policy redacted nothing (effect %s); the test needs a redaction", to, res.Decision.Effect)
		}
		n := nodes[to]
		waitProcessed(t, n.Store, demoCase, string(federation.KindCaseCreate), 1)
		c, err := n.Store.GetCase(ctx, demoCase)
		if err != nil {
			t.Fatalf("%s: %v", to, err)
		}
		if c.Document == nil || c.Origin != "XA-RC" || c.Version != 1 {
			t.Fatalf("%s holds origin %s version %d document %t", to, c.Origin, c.Version, c.Document != nil)
		}
		if !sameJSON(t, c.Document, res.Document) {
			t.Errorf("%s: the stored document is not the redacted document that was sent", to)
		}
		for _, p := range res.Decision.Redactions {
			if !pointerPresent(t, original, p) {
				t.Errorf("%s: redacted pointer %s is not in the original either", to, p)
			}
			// A removed array item lets the next one move into its index:
			// what must be gone is the original value at that pointer.
			want, _ := pointerValue(t, original, p)
			if got, ok := pointerValue(t, c.Document, p); ok && reflect.DeepEqual(got, want) {
				t.Errorf("%s: redacted value at %s is present in the stored case", to, p)
			}
		}
	}

	// 2. XB answers and sends a Red Cross message and a video reference back.
	if res, err := xb.Respond(ctx, cw, demoCase, readTestdata(t, "response.json")); err != nil || res.State != "queued" {
		t.Fatalf("respond: %v %+v", err, res.Decision)
	}
	for _, m := range []string{"rcm.json", "video.json"} {
		if res, err := xb.SendMessage(ctx, cw, demoCase, "XA-RC", readTestdata(t, m)); err != nil || res.State != "queued" {
			t.Fatalf("message %s: %v %+v", m, err, res.Decision)
		}
	}
	waitProcessed(t, xa.Store, demoCase, string(federation.KindCaseResponse), 1)
	waitProcessed(t, xa.Store, demoCase, string(federation.KindMessageDeliver), 2)
	view, err := xa.GetCase(ctx, demoCase)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range view.Received {
		if r.Iss != "XB-RC" || r.ProcessedAt.IsZero() || r.ProcessError != "" {
			t.Errorf("XA inbox row %d: iss %s processed %v error %q", r.ID, r.Iss, r.ProcessedAt, r.ProcessError)
		}
		kinds = append(kinds, r.Kind)
	}
	slices.Sort(kinds)
	if want := []string{"case.response", "message.deliver", "message.deliver"}; !slices.Equal(kinds, want) {
		t.Errorf("XA received %v, want %v", kinds, want)
	}

	// The located response moved XA's case to located_contact_restored in
	// version 2, whose source is the response.
	cur, err := xa.Store.GetCase(ctx, demoCase)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Version != 2 || cur.Status != "located_contact_restored" {
		t.Fatalf("XA's case after the located response: version %d status %s", cur.Version, cur.Status)
	}
	if v, err := xa.Store.GetCaseVersion(ctx, demoCase, 2); err != nil || !strings.HasPrefix(v.Source, "inbox:") {
		t.Fatalf("version 2 source %q (%v)", v.Source, err)
	}

	// 3. XA updates the case and forwards the new version: case.update.
	v2 := patch(t, cur.Document, map[string]any{"version": 3, "status": "tracing_in_progress", "updated_at": "2026-11-12T10:00:00Z"})
	if _, err := xa.UpdateCase(ctx, cw, demoCase, v2); err != nil {
		t.Fatal(err)
	}
	for _, to := range peers {
		res, err := xa.Forward(ctx, cw, demoCase, to)
		if err != nil || res.Kind != federation.KindCaseUpdate {
			t.Fatalf("forward v2 to %s: %v kind %s", to, err, res.Kind)
		}
	}
	for _, to := range peers {
		waitProcessed(t, nodes[to].Store, demoCase, string(federation.KindCaseUpdate), 1)
		c, err := nodes[to].Store.GetCase(ctx, demoCase)
		if err != nil || c.Version != 3 || c.Status != "tracing_in_progress" || versionOf(t, c.Document) != 3 {
			t.Fatalf("%s after the update: version %d status %s err %v", to, c.Version, c.Status, err)
		}
	}

	// 4. Withdrawal: XA erases, both peers erase and confirm.
	wr, err := xa.Withdraw(ctx, cw, demoCase, schema.WithdrawalReason("consent_withdrawn"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(wr.SentTo, peers) {
		t.Fatalf("withdrawal sent to %v, want %v", wr.SentTo, peers)
	}
	for _, to := range peers {
		st := nodes[to].Store
		nodetest.WaitFor(t, 30*time.Second, to+" erases "+demoCase, func() bool {
			c, err := st.GetCase(ctx, demoCase)
			return err == nil && c.Erased()
		})
		c, _ := st.GetCase(ctx, demoCase)
		if c.Document != nil || c.EraseReason != "consent_withdrawn" {
			t.Errorf("%s tombstone: document %t reason %q", to, c.Document != nil, c.EraseReason)
		}
		vs, err := st.ListCaseVersions(ctx, demoCase)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if v.Document != nil {
				t.Errorf("%s: version %d keeps its document after erasure", to, v.Version)
			}
		}
		for _, r := range allInbox(t, st, store.InboxFilter{CaseID: demoCase, IncludeEnvelope: true}) {
			if r.Envelope != nil && r.Kind != string(federation.KindCaseWithdraw) {
				t.Errorf("%s: inbox row %d (%s) keeps its envelope after erasure", to, r.ID, r.Kind)
			}
		}
	}
	nodetest.WaitFor(t, 30*time.Second, "both erasures confirmed at XA-RC", func() bool {
		rs, err := xa.Store.ListRecipients(ctx, demoCase)
		if err != nil {
			t.Fatal(err)
		}
		confirmed := 0
		for _, r := range rs {
			if !r.WithdrawalSentAt.IsZero() && !r.WithdrawalConfirmedAt.IsZero() {
				confirmed++
			}
		}
		return confirmed == len(peers)
	})
	rs, _ := xa.Store.ListRecipients(ctx, demoCase)
	var who []string
	for _, r := range rs {
		who = append(who, r.Member)
		if r.LastVersion != 3 {
			t.Errorf("recipient %s: last version %d, want 3", r.Member, r.LastVersion)
		}
	}
	if !slices.Equal(who, peers) {
		t.Errorf("recipients %v, want %v", who, peers)
	}
	if c, err := xa.Store.GetCase(ctx, demoCase); err != nil || !c.Erased() || c.Document != nil {
		t.Errorf("XA-RC: the withdrawn case is not a tombstone: erased %t document %t err %v", c.Erased(), c.Document != nil, err)
	}

	// Nothing failed, nothing is stuck, and every audit chain verifies.
	for id, n := range nodes {
		nodetest.WaitFor(t, 30*time.Second, id+" outbox drained", func() bool {
			stats, err := n.Store.OutboxStats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range stats {
				if s.Queued+s.InFlight+s.Dead > 0 {
					return false
				}
			}
			return true
		})
		noProcessErrors(t, id, n.Store)
		processed := processCounts(t, n.Store, "")
		for _, r := range allInbox(t, n.Store, store.InboxFilter{}) {
			if processed[r.ID] != 1 {
				t.Errorf("%s: inbox row %d (%s) processed %d times", id, r.ID, r.Kind, processed[r.ID])
			}
		}
		auditIntact(t, id, n.Store)
	}
}
