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

// tiedCases makes, at XA-RC, a family's tracing request for "Ahmed Ali",
// born 1980, and n detention notifications of that name and year, all
// alike (node TestMatchingTiesPastTheBound); it waits until the family's
// list is cut and returns the family's case and the first detainee's.
func tiedCases(t *testing.T, e *env, n int) (family, detainee string) {
	t.Helper()
	ctx := context.Background()
	cw := node.Actor{Name: roleNames[console.RoleCaseworker], Role: console.RoleCaseworker}
	mk := func(id string, ct schema.CaseType, purpose string, role schema.PersonRole) {
		doc, err := json.Marshal(map[string]any{
			"schema": "flx/v1/case", "case_id": id, "version": 1, "type": ct, "status": "open",
			"origin":  map[string]any{"member": "XA-RC", "created_at": "2024-05-01T10:00:00Z"},
			"purpose": purpose, "persons": []schema.Person{{ID: "p1", Roles: []schema.PersonRole{role}, Sex: schema.SexMale, BirthDate: "1980",
				Names: []schema.Name{{Value: "Ahmed", Part: "given", Script: "Latn"}, {Value: "Ali", Part: "family", Script: "Latn"}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.xa.Node.CreateCase(ctx, cw, doc); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
	}
	family = "XA-RC:TR-TIES"
	mk(family, schema.CaseTracingRequest, "tracing", schema.PersonSought)
	for i := range n {
		mk(fmt.Sprintf("XA-RC:DN-TIES-%02d", i), schema.CaseDetentionNotification, "registration", schema.PersonDetainee)
	}
	want := fmt.Sprint(map[string]int{"p1": n - match.DefaultMaxCandidates})
	waitFor(t, 10*time.Second, "the family's list cut at the bound", func() bool {
		past, _ := e.xa.Store.MatchesPast(ctx, family)
		return fmt.Sprint(past) == want
	})
	return family, "XA-RC:DN-TIES-00"
}

// TestMatchesPastTheBound: the candidates of a case whose person's list
// was cut at the bound (30 tied detainees, 20 listed) say, in every
// language, how many more candidates are not listed and what narrows
// them; a detainee's case, whose list was not cut, and the unfiltered
// list say nothing of it. The next page and the state filter keep the
// case.
func TestMatchesPastTheBound(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	cw := e.browser()
	cw.signIn(console.RoleCaseworker)
	family, detainee := tiedCases(t, e, 30)
	const line = "Person p1: more candidates with the same or a lower score are not listed: 10. Add details to the case"
	p := cw.get("/console/matches?lang=en&case=" + url.QueryEscape(family))
	if p.status != 200 || strings.Count(p.body, "matches-past") != 1 || !strings.Contains(p.body, line) {
		t.Fatalf("the family's candidates %d:\n%s", p.status, p.body)
	}
	if !strings.Contains(p.body, `name="case" value="`+family+`"`) {
		t.Errorf("the state filter drops the case:\n%s", p.body)
	}
	for lang, want := range map[string]string{"fr": "Personne p1 :", "es": "Persona p1:", "ru": "Лицо p1:", "ar": "الشخص p1:"} {
		if p := cw.get("/console/matches?lang=" + lang + "&case=" + url.QueryEscape(family)); !strings.Contains(p.body, want) || strings.Contains(p.body, "are not listed") {
			t.Errorf("%s: the family's candidates lack %q:\n%s", lang, want, p.body)
		}
	}
	for _, q := range []string{"/console/matches?lang=en&case=" + url.QueryEscape(detainee), "/console/matches?lang=en"} {
		if p := cw.get(q); p.status != 200 || strings.Contains(p.body, "matches-past") || strings.Contains(p.body, "are not listed") {
			t.Errorf("%s %d:\n%s", q, p.status, p.body)
		}
	}
}
