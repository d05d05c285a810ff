package console_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/store"
)

// TestRemoteCandidateShowsMemberAndHandle: a candidate another member
// answered to a match query shows the member and its handle, no case link
// and no field table; the caseworker may confirm it; a POST of another
// decision word is refused.
func TestRemoteCandidateShowsMemberAndHandle(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	cw := e.browser()
	cw.signIn(console.RoleCaseworker)
	id := cw.createCase()
	ctx := context.Background()
	expl, _ := json.Marshal(map[string]any{"method": "pprl", "responder": "XB-RC", "handle": "h-0123abcd", "in_reply_to": "j1", "fields": []any{}})
	if err := e.xa.Store.RecordRemoteMatches(ctx, []store.NewMatchCandidate{{ACase: id, APerson: "p1", BCase: "XB-RC", BPerson: "h-0123abcd",
		Score: 0.91, Explanation: expl, Remote: "XB-RC"}}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	ms, _ := e.xa.Store.ListMatches(ctx, store.MatchFilter{CaseID: id})
	if len(ms) != 1 {
		t.Fatalf("candidates %+v", ms)
	}
	mid := strconv.FormatInt(ms[0].ID, 10)
	list := cw.get("/console/matches")
	if !strings.Contains(list.body, "held by XB-RC") || !strings.Contains(list.body, "h-0123abcd") || strings.Contains(list.body, `/cases/XB-RC"`) {
		t.Fatalf("list:\n%s", list.body)
	}
	p := cw.get("/console/matches/" + mid)
	if p.status != 200 || !strings.Contains(p.body, "no name or case crossed the border") || strings.Contains(p.body, "Weight (bits)") {
		t.Fatalf("page %d:\n%s", p.status, p.body)
	}
	if r := cw.post("/console/matches/"+mid+"/maybe", map[string][]string{"csrf": {cw.csrf("/console/matches")}}); r.status != 400 {
		t.Fatalf("an unknown decision: %d", r.status)
	}
	if r := cw.post("/console/matches/"+mid+"/reject", map[string][]string{"csrf": {cw.csrf("/console/matches")}}); r.status != 303 {
		t.Fatalf("reject: %d", r.status)
	}
	if m, _ := e.xa.Store.GetMatch(ctx, ms[0].ID); m.State != store.MatchRejected {
		t.Fatalf("after rejecting: %+v", m)
	}
}
