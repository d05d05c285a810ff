package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/match"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
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

// tiedCases makes, at XA-RC, 25 tracing requests for "Youssef Haddad",
// born 1975, all alike (sought persons are candidates of each other):
// each list holds the first 20 others by case id, so the pairs among the
// last 5 are listed by neither; and a tracing request for "Ahmed Ali",
// born 1980, with 30 tied detainees, who each list it (node
// TestMatchingTiesPastTheBound): all 30 candidates are listed, 10 past
// the family's own bound. It waits until matching is done and returns the
// last Youssef Haddad family (4 candidates not listed), the first (its 4
// past the bound are listed by the others) and the Ahmed Ali family.
func tiedCases(t *testing.T, e *env) (cut, first, ahmed string) {
	t.Helper()
	ctx := context.Background()
	cw := node.Actor{Name: roleNames[console.RoleCaseworker], Role: console.RoleCaseworker}
	mk := func(id string, ct schema.CaseType, purpose string, role schema.PersonRole, given, family, birth string) {
		doc, err := json.Marshal(map[string]any{
			"schema": "flx/v1/case", "case_id": id, "version": 1, "type": ct, "status": "open",
			"origin":  map[string]any{"member": "XA-RC", "created_at": "2024-05-01T10:00:00Z"},
			"purpose": purpose, "persons": []schema.Person{{ID: "p1", Roles: []schema.PersonRole{role}, Sex: schema.SexMale, BirthDate: schema.PartialDate(birth),
				Names: []schema.Name{{Value: given, Part: "given", Script: "Latn"}, {Value: family, Part: "family", Script: "Latn"}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.xa.Node.CreateCase(ctx, cw, doc); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
	}
	for i := range 25 {
		mk(fmt.Sprintf("XA-RC:TR-YH-%02d", i), schema.CaseTracingRequest, "tracing", schema.PersonSought, "Youssef", "Haddad", "1975")
	}
	ahmed = "XA-RC:TR-AA"
	mk(ahmed, schema.CaseTracingRequest, "tracing", schema.PersonSought, "Ahmed", "Ali", "1980")
	for i := range 30 {
		mk(fmt.Sprintf("XA-RC:DN-AA-%02d", i), schema.CaseDetentionNotification, "registration", schema.PersonDetainee, "Ahmed", "Ali", "1980")
	}
	cut, first = "XA-RC:TR-YH-24", "XA-RC:TR-YH-00"
	waitFor(t, 10*time.Second, "matching the tied cases", func() bool {
		p1, _ := e.xa.Store.MatchesPast(ctx, cut)
		p2, _ := e.xa.Store.MatchesPast(ctx, ahmed)
		ms, _ := e.xa.Store.ListMatches(ctx, store.MatchFilter{CaseID: ahmed, State: store.MatchOpen})
		if fmt.Sprint(p1) != "map[p1:4]" || fmt.Sprint(p2) != fmt.Sprintf("map[p1:%d]", 30-match.DefaultMaxCandidates) || len(ms) != 30 {
			return false
		}
		// And what the page shows: matching writes the candidates of many
		// cases at once, in the background.
		n1, _ := console.NodeBackend(e.xa.Node).MatchesNotListed(ctx, cw, cut)
		n2, _ := console.NodeBackend(e.xa.Node).MatchesNotListed(ctx, cw, first)
		return fmt.Sprint(n1) == "map[p1:4]" && len(n2) == 0
	})
	return cut, first, ahmed
}

// TestMatchesPastTheBound: the candidates of a case whose person's list
// was cut at the bound, with candidates past it that no list holds, say in
// every language at least how many are not listed and what narrows them;
// a case whose candidates past its bound are listed by the other side,
// a family whose 30 tied candidates are all listed, and the unfiltered
// list say nothing of it. The case page links to its candidates, which
// name the case, and the state filter keeps it.
func TestMatchesPastTheBound(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	cw := e.browser()
	cw.signIn(console.RoleCaseworker)
	cut, first, ahmed := tiedCases(t, e)
	const line = "Person p1: more candidates with the same or a lower score are not listed (at least 4). Add details to the case"
	p := cw.get("/console/matches?lang=en&case=" + url.QueryEscape(cut))
	if p.status != 200 || strings.Count(p.body, "matches-past") != 1 || !strings.Contains(p.body, line) {
		t.Fatalf("the cut family's candidates %d:\n%s", p.status, p.body)
	}
	if c := cw.get("/console/cases/" + cut + "?lang=en"); !strings.Contains(c.body, `/console/matches?case=XA-RC%3aTR-YH-24" id="case-matches">Candidate matches of this case`) {
		t.Errorf("the case page does not link to its candidates:\n%s", c.body)
	}
	if !strings.Contains(p.body, "Only the candidates naming this case:") || !strings.Contains(p.body, `name="case" value="`+cut+`"`) {
		t.Errorf("the state filter drops the case:\n%s", p.body)
	}
	for lang, want := range map[string]string{"fr": "Personne p1 :", "es": "Persona p1:", "ru": "Лицо p1:", "ar": "الشخص p1:"} {
		if p := cw.get("/console/matches?lang=" + lang + "&case=" + url.QueryEscape(cut)); !strings.Contains(p.body, want) || strings.Contains(p.body, "are not listed") {
			t.Errorf("%s: the cut family's candidates lack %q:\n%s", lang, want, p.body)
		}
	}
	for _, id := range []string{first, ahmed, ""} {
		p := cw.get("/console/matches?lang=en&case=" + url.QueryEscape(id))
		if p.status != 200 || strings.Contains(p.body, "matches-past") || strings.Contains(p.body, "are not listed") || (id == ahmed && strings.Count(p.body, ">XA-RC:DN-AA-") != 30) {
			t.Errorf("%q %d:\n%s", id, p.status, p.body)
		}
	}
}
