package node_test

import (
	"context"
	"strings"
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/schema"
)

func TestNextStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cur         schema.CaseStatus
		outcome     schema.Outcome
		allAnswered bool
		want        schema.CaseStatus
		move        bool
	}{
		{"tracing_in_progress", "located", false, "located_contact_restored", true},
		{"open", "located_pending_consent", false, "located_pending_consent", true},
		{"located_pending_consent", "located", false, "located_contact_restored", true},
		{"located_pending_consent", "declined_contact", false, "located_declined_contact", true},
		{"located_contact_restored", "declined_contact", false, "located_declined_contact", true},
		{"transmitted", "deceased", false, "deceased", true},
		{"acknowledged", "tracing_in_progress", false, "tracing_in_progress", true},
		{"tracing_in_progress", "not_found", false, "tracing_in_progress", false},
		{"tracing_in_progress", "not_found", true, "closed_negative", true},
		{"tracing_in_progress", "closed", true, "closed_negative", true},
		{"closed_negative", "located", false, "located_contact_restored", true},
		// never backwards, never over the caseworker's final statuses
		{"located_contact_restored", "tracing_in_progress", false, "located_contact_restored", false},
		{"located_contact_restored", "located_pending_consent", false, "located_contact_restored", false},
		{"located_declined_contact", "not_found", true, "located_declined_contact", false},
		{"reunified", "deceased", false, "reunified", false},
		{"closed_withdrawn", "located", false, "closed_withdrawn", false},
		{"located_contact_restored", "located", false, "located_contact_restored", false},
		{"open", "unknown_outcome", true, "open", false},
	} {
		got, move := node.NextStatus(tc.cur, tc.outcome, tc.allAnswered)
		if got != tc.want || move != tc.move {
			t.Errorf("%s + %s (all answered %v) = %s %v, want %s %v", tc.cur, tc.outcome, tc.allAnswered, got, move, tc.want, tc.move)
		}
	}
}

// TestResponseFromNonRecipient: a member that never received a case
// cannot move its status with a response (a forged "deceased" must not
// reach the family); the response is kept, marked failed with the reason.
func TestResponseFromNonRecipient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
	xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})
	if _, err := xa.CreateCase(ctx, node.Actor{Name: "cw"}, body(t, "case.tracing_request", nil)); err != nil {
		t.Fatal(err)
	}
	resp := body(t, "response.deceased", func(m map[string]any) { m["responder"] = "XC-RC"; m["case_id"] = "XA-RC:TR-2024-0117" })
	raw := f.Envelope(t, "XC-RC", "XA-RC", federation.KindCaseResponse, "XA-RC:TR-2024-0117", resp)
	res, err := xa.Receive(ctx, "XC-RC", raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := xa.ProcessInbox(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := xa.Store.GetCase(ctx, "XA-RC:TR-2024-0117")
	if err != nil || c.Status != "tracing_in_progress" || c.Version != 3 {
		t.Fatalf("case moved by a non-recipient: %+v %v", c, err)
	}
	it, err := xa.Store.GetInbox(ctx, res.InboxID)
	if err != nil || !strings.Contains(it.ProcessError, "never received the case") {
		t.Fatalf("inbox row %+v %v", it, err)
	}
}
