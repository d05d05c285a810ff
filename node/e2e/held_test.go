package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
	"github.com/familylinks/flx/schema"
)

// op is the operator who reviews what the policy held.
var op = node.Actor{Name: "op-ben", Role: "operator"}

// TestHeldDocuments holds a response and messages for review at XB-RC (its
// rules send everything to XA-RC through review), on each store: the
// approved response is judged again, queued and reaches XA-RC; the rejected
// message is never sent and its bytes are gone; a message still held when
// XA-RC withdraws the case is erased with it and can no longer be approved.
func TestHeldDocuments(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, testHeldDocuments)
}

func testHeldDocuments(t *testing.T, d nodetest.Dialect) {
	ctx := context.Background()
	rulesB, err := policy.Parse([]byte(`schema: flx/policy/v1
version: "test-held"
member: XB-RC
country: XB
review:
  destination_members: [XA-RC]
`), "test rules")
	if err != nil {
		t.Fatal(err)
	}
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	lnA, lnB := nodetest.Listen(t, f.Member(t, "XA-RC")), nodetest.Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	dsnB := nodetest.DSN(t, d)
	xa := nodetest.Start(t, f, "XA-RC", lnA, nodetest.Options{Dialect: d})
	xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{Dialect: d, DSN: dsnB, Rules: rulesB})
	notInFiles := func(what, value string) {
		t.Helper()
		if d == nodetest.SQLite {
			if where := goneFromFiles(t, strings.TrimPrefix(dsnB, "sqlite:"), value); where != "" {
				t.Errorf("%s: XB-RC's database files still hold it: %s", what, where)
			}
		}
	}

	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	if res, err := xa.Forward(ctx, cw, demoCase, "XB-RC"); err != nil || res.State != "queued" {
		t.Fatalf("forward: %v %+v", err, res.Decision)
	}
	waitProcessed(t, xb.Store, demoCase, string(federation.KindCaseCreate), 1)

	// 1. The response is held, kept, and sent once approved.
	resp := readTestdata(t, "response.json")
	held, err := xb.Respond(ctx, cw, demoCase, resp)
	if err != nil || held.State != "needs_review" || held.OutboxID != 0 {
		t.Fatalf("respond: %v %+v", err, held)
	}
	if h, err := xb.Store.HeldDocument(ctx, held.DecisionID); err != nil || h.State != store.HeldWaiting || !sameJSON(t, h.Document, resp) {
		t.Fatalf("held response: state %s, %d bytes, %v", h.State, len(h.Document), err)
	}
	if again, err := xb.Respond(ctx, cw, demoCase, resp); err != nil || again.DecisionID != held.DecisionID || again.State != "needs_review" {
		t.Fatalf("the same response again: %v %+v", err, again)
	}
	if held, err := xb.View().ListHeldDocuments(ctx, 0); err != nil || len(held) != 1 || held[0].Kind != "case.response" || held[0].Document != nil {
		t.Fatalf("review queue: %+v %v", held, err)
	}
	// Two operators approve at once: one send.
	type outcome struct {
		res node.SendResult
		err error
	}
	both := make(chan outcome, 2)
	for range 2 {
		go func() {
			res, err := xb.Review(ctx, op, demoCase, held.DecisionID, true, "checked with the DPO")
			both <- outcome{res, err}
		}()
	}
	var ok node.SendResult
	conflicts := 0
	for range 2 {
		o := <-both
		switch {
		case o.err == nil:
			ok = o.res
		case codeOf(o.err) == node.CodeConflict:
			conflicts++
		default:
			t.Fatalf("approve: %v", o.err)
		}
	}
	if conflicts != 1 || ok.State != "queued" || ok.OutboxID == 0 || ok.Decision.Review == nil || !ok.Decision.Review.Approved || ok.Decision.Review.By != op.Name {
		t.Fatalf("approve: %d conflicts, %+v", conflicts, ok)
	}
	if rows, err := xb.Store.ListOutbox(ctx, store.OutboxFilter{CaseID: demoCase, Limit: 1000}); err != nil || len(rows) != 1 || rows[0].Kind != string(federation.KindCaseResponse) {
		t.Fatalf("XB-RC's outbox after two approvals: %d rows (%v)", len(rows), err)
	}
	waitProcessed(t, xa.Store, demoCase, string(federation.KindCaseResponse), 1)
	if h, err := xb.Store.HeldDocument(ctx, held.DecisionID); err != nil || h.State != store.HeldSent || h.Document != nil || h.SHA256 == "" {
		t.Fatalf("held response after approval: state %s, %d bytes, %v", h.State, len(h.Document), err)
	}
	if _, err := xb.Review(ctx, op, demoCase, held.DecisionID, true, ""); codeOf(err) != node.CodeConflict {
		t.Fatalf("second approval: %v", err)
	}
	if again, err := xb.Respond(ctx, cw, demoCase, resp); err != nil || again.OutboxID != ok.OutboxID || again.State != "queued" {
		t.Fatalf("the approved response again: %v %+v", err, again)
	}

	// 2. A rejected message is never sent, and its bytes are dropped.
	const rejected = "Rejected-Canary-51c8e"
	rcm := patch(t, readTestdata(t, "rcm.json"), map[string]any{"body": "Mama, I am at " + rejected + "."})
	m, err := xb.SendMessage(ctx, cw, demoCase, "XA-RC", rcm)
	if err != nil || m.State != "needs_review" {
		t.Fatalf("message: %v %+v", err, m)
	}
	no, err := xb.Review(ctx, op, demoCase, m.DecisionID, false, "not this one")
	if err != nil || no.State != "denied" || no.Decision.Effect != policy.Deny {
		t.Fatalf("reject: %v %+v", err, no)
	}
	if h, err := xb.Store.HeldDocument(ctx, m.DecisionID); err != nil || h.State != store.HeldRejected || h.Document != nil {
		t.Fatalf("held message after rejection: state %s, %d bytes, %v", h.State, len(h.Document), err)
	}
	if _, err := xb.Review(ctx, op, demoCase, m.DecisionID, true, ""); codeOf(err) != node.CodeConflict {
		t.Fatalf("approval after rejection: %v", err)
	}
	noMessageQueued(t, xb)
	notInFiles("the rejected message", rejected)
	// Rejected, it may be submitted again: judged afresh, held again.
	if m2, err := xb.SendMessage(ctx, cw, demoCase, "XA-RC", rcm); err != nil || m2.State != "needs_review" || m2.DecisionID == m.DecisionID {
		t.Fatalf("the rejected message again: %v %+v", err, m2)
	} else if _, err := xb.Review(ctx, op, demoCase, m2.DecisionID, false, ""); err != nil {
		t.Fatal(err)
	}

	// 3. A message held when the case is withdrawn goes with the case.
	const erased = "Erased-Canary-0d93a"
	news := patch(t, readTestdata(t, "rcm.json"), map[string]any{"message_id": "XB-RC:RCM-HELD-2", "body": "We live at " + erased + " now."})
	w, err := xb.SendMessage(ctx, cw, demoCase, "XA-RC", news)
	if err != nil || w.State != "needs_review" {
		t.Fatalf("message: %v %+v", err, w)
	}
	if _, err := xa.Withdraw(ctx, cw, demoCase, schema.WithdrawalReason("consent_withdrawn")); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, 30*time.Second, "XB-RC erases the case", func() bool {
		c, err := xb.Store.GetCase(ctx, demoCase)
		return err == nil && c.Erased()
	})
	if h, err := xb.Store.HeldDocument(ctx, w.DecisionID); err != nil || h.State != store.HeldErased || h.Document != nil || h.SHA256 == "" {
		t.Fatalf("held message after the withdrawal: state %s, %d bytes, %v", h.State, len(h.Document), err)
	}
	if _, err := xb.Review(ctx, op, demoCase, w.DecisionID, true, ""); codeOf(err) != node.CodeErased {
		t.Fatalf("approval after the withdrawal: %v, want %s", err, node.CodeErased)
	}
	if held, err := xb.View().ListHeldDocuments(ctx, 0); err != nil || len(held) != 0 {
		t.Fatalf("review queue after the withdrawal: %+v %v", held, err)
	}
	notInFiles("the held message of the withdrawn case", erased)
	noMessageQueued(t, xb)
}

// codeOf is the node error code of err ("" for none).
func codeOf(err error) node.Code {
	var e *node.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// noMessageQueued fails when n's outbox holds a message about demoCase.
func noMessageQueued(t *testing.T, n *nodetest.Node) {
	t.Helper()
	rows, err := n.Store.ListOutbox(context.Background(), store.OutboxFilter{CaseID: demoCase, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Kind == string(federation.KindMessageDeliver) {
			t.Fatalf("%s queued a message that was not approved: outbox row %d", n.Member.ID, r.ID)
		}
	}
}
