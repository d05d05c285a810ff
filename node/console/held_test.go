package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/store"
)

// TestOperatorReviewsAHeldMessage: a family news message whose addressee is
// not a person of the case (FLX-DP-MESSAGE-PARTY) is held; it is listed in
// the review queue (also after a later send to the same member), and once
// approved it reaches XB-RC and leaves the queue.
func TestOperatorReviewsAHeldMessage(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	cw := e.browser()
	cw.signIn(console.RoleCaseworker)
	p := cw.post("/console/cases/new", caseForm(cw.csrf("/console/cases/new")))
	m := caseIDRE.FindStringSubmatch(p.header.Get("Location"))
	if m == nil {
		t.Fatalf("create: %d\n%s", p.status, p.body)
	}
	id := m[1]
	actor := node.Actor{Name: roleNames[console.RoleCaseworker], Role: console.RoleCaseworker}
	if res, err := e.xa.Forward(ctx, actor, id, "XB-RC"); err != nil || res.State != "queued" {
		t.Fatalf("forward: %v %+v", err, res)
	}
	msg, _ := json.Marshal(map[string]any{
		"schema": "flx/v1/message", "message_id": "XA-RC:FN-HELD-1", "case_id": id, "kind": "family_news", "channel": "verbal",
		"created_at": "2026-11-21T09:00:00Z", "from": map[string]any{"person": "p1", "member": "XA-RC"},
		"to":   map[string]any{"name": "A neighbour", "member": "XB-RC", "address": map[string]any{"country": "XB", "locality": "Sampletown"}},
		"body": "We are all well.", "lang": "en",
	})
	held, err := e.xa.SendMessage(ctx, actor, id, "XB-RC", msg)
	if err != nil || held.State != "needs_review" {
		t.Fatalf("message: %v %+v", err, held)
	}
	// A later send to the same member does not hide the held message.
	later, _ := json.Marshal(map[string]any{
		"schema": "flx/v1/message", "message_id": "XA-RC:FN-LATER-2", "case_id": id, "kind": "family_news", "channel": "verbal",
		"created_at": "2026-11-22T09:00:00Z", "from": map[string]any{"person": "p1", "member": "XA-RC"},
		"to": map[string]any{"person": "p2", "member": "XB-RC"}, "body": "We think of you.", "lang": "en",
	})
	if res, err := e.xa.SendMessage(ctx, actor, id, "XB-RC", later); err != nil || res.State != "queued" {
		t.Fatalf("later message: %v %+v", err, res)
	}
	op := e.browser()
	op.signIn(console.RoleOperator)
	q := op.get("/console/operator/review")
	did := regexp.MustCompile(`/console/operator/review/`+regexp.QuoteMeta(id)+`/(\d+)`).FindAllStringSubmatch(q.body, -1)
	if len(did) != 1 || !strings.Contains(q.body, "FLX-DP-MESSAGE-PARTY") {
		t.Fatalf("review queue lacks the held message (%d entries):\n%s", len(did), q.body)
	}
	p = op.post(did[0][0], url.Values{"csrf": {op.csrf("/console/operator/review")}, "verdict": {"approve"}, "note": {"the neighbour distributes it"}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "done=approved") {
		t.Fatalf("approve: %d %s\n%s", p.status, p.header.Get("Location"), p.body)
	}
	waitFor(t, 15*time.Second, "XB-RC receives the approved message", func() bool {
		rows, err := e.xb.Store.ListInbox(ctx, store.InboxFilter{CaseID: id, Kind: "message.deliver", Limit: 10})
		return err == nil && len(rows) == 2 && !rows[0].ProcessedAt.IsZero() && !rows[1].ProcessedAt.IsZero()
	})
	if strings.Contains(op.get("/console/operator/review").body, id) {
		t.Fatal("the approved message is still in the queue")
	}
}
