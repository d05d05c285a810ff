package console_test

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/internal/nodetest"
)

// TestAuditPageShowsWitnessedHeads: XA-RC's audit head, witnessed by
// XB-RC, is on XA-RC's audit page with the local chain checked against it
// (as `flx audit verify` does), and on XB-RC's as a head it witnesses;
// once the log's tail is deleted the page reports the tampering although
// the remaining chain is intact.
func TestAuditPageShowsWitnessedHeads(t *testing.T) {
	t.Parallel()
	dsn := nodetest.DSN(t, nodetest.SQLite)
	e := startEnv(t, envOptions{dsn: dsn})
	ctx := context.Background()
	op := e.browser()
	op.signIn(console.RoleOperator)
	if p := op.get("/console/audit"); !strings.Contains(p.body, "No head of this log has been sent to a witness yet") {
		t.Fatalf("audit page before any head:\n%s", p.body)
	}
	cw := e.browser()
	cw.signIn(console.RoleCaseworker)
	id := cw.createCase()
	cw.get("/console/cases/" + id) // an audited read
	if n, err := e.xa.Node.SendAuditHead(ctx); err != nil || n != 1 {
		t.Fatalf("SendAuditHead: %d %v", n, err)
	}
	var head node.SentAuditHead
	waitFor(t, 15*time.Second, "XB-RC to acknowledge the head", func() bool {
		sent, _ := node.SentAuditHeads(ctx, e.xa.Store, "XA-RC", "XB-RC")
		if len(sent) == 1 && sent[0].Acknowledged {
			head = sent[0]
			return true
		}
		return false
	})
	for _, role := range []string{console.RoleOperator, console.RoleAuditor} {
		b := e.browser()
		b.signIn(role)
		p := b.get("/console/audit")
		for _, want := range []string{"is intact", "Witnessed heads of this log", "<th scope=\"row\">XB-RC</th>", head.Head,
			"The log holds this head", "The audit log holds every head its witnesses acknowledged."} {
			if !strings.Contains(p.body, want) {
				t.Errorf("%s: XA-RC's audit page lacks %q", role, want)
			}
		}
	}
	xbop := e.xbBrowser()
	xbop.signIn(console.RoleOperator)
	if p := xbop.get("/console/audit"); !strings.Contains(p.body, "Heads this node witnesses") || !strings.Contains(p.body, "<th scope=\"row\">XA-RC</th>") ||
		!strings.Contains(p.body, head.Head) {
		t.Errorf("XB-RC's audit page does not show the head it witnesses:\n%s", p.body)
	}

	// A later head not yet acknowledged shows as waiting (XB-RC is
	// stopped, so it does not answer).
	e.xb.Stop()
	cw.get("/console/cases/" + id)
	if n, err := e.xa.Node.SendAuditHead(ctx); err != nil || n != 1 {
		t.Fatalf("SendAuditHead, second: %d %v", n, err)
	}
	if p := op.get("/console/audit"); !strings.Contains(p.body, "waits for the witness&#39;s receipt") || !strings.Contains(p.body, head.Head) {
		t.Errorf("the audit page does not show the head waiting for XB-RC:\n%s", p.body)
	}

	// Delete the tail of XA-RC's log (the last witnessed entry and what
	// followed): the chain that remains is intact, the witness says not.
	db, err := sql.Open("sqlite", strings.TrimPrefix(dsn, "sqlite:")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_log_no_delete`, `DELETE FROM audit_log WHERE seq >= ` + strconv.FormatInt(head.Count, 10)} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	p := op.get("/console/audit")
	for _, want := range []string{"is intact", "AUDIT LOG TAMPERED", "Tampered: the log does not hold this head", "truncated tail"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("after the tail was deleted, the audit page lacks %q", want)
		}
	}
	if strings.Contains(p.body, "holds every head") {
		t.Error("after the tail was deleted, the page still says the log holds every head")
	}
}
