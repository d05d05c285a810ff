package console_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// matchCases makes, at XA-RC, a tracing request for Karo Hovsampelyan
// (Latin letters) and a detention notification of Կարո Հովսամփելյան
// (Armenian): the node holds them as a candidate match.
func matchCases(t *testing.T, e *env) (sought, held string) {
	t.Helper()
	ctx := context.Background()
	cw := node.Actor{Name: roleNames[console.RoleCaseworker], Role: console.RoleCaseworker}
	mk := func(id string, ct schema.CaseType, purpose string, p schema.Person) {
		doc, err := json.Marshal(map[string]any{
			"schema": "flx/v1/case", "case_id": id, "version": 1, "type": ct, "status": "open",
			"origin":  map[string]any{"member": "XA-RC", "created_at": "2024-05-01T10:00:00Z"},
			"purpose": purpose, "persons": []schema.Person{p},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.xa.Node.CreateCase(ctx, cw, doc); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
	}
	sought, held = "XA-RC:TR-MATCH-1", "XA-RC:DN-MATCH-1"
	mk(sought, schema.CaseTracingRequest, "tracing", schema.Person{ID: "p1", Roles: []schema.PersonRole{schema.PersonSought}, Sex: schema.SexMale,
		BirthDate: "1990-03-14", Names: []schema.Name{{Value: "Karo", Part: "given", Script: "Latn"}, {Value: "Hovsampelyan", Part: "family", Script: "Latn"}}})
	mk(held, schema.CaseDetentionNotification, "registration", schema.Person{ID: "d1", Roles: []schema.PersonRole{schema.PersonDetainee}, Sex: schema.SexMale,
		BirthDate: "1990", Names: []schema.Name{{Value: "Կարո", Part: "given", Script: "Armn", Lang: "hy"}, {Value: "Հովսամփելյան", Part: "family", Script: "Armn", Lang: "hy"}}})
	return sought, held
}

// browseMatches is the caseworker's search, inbox reading and match
// pages in the browser (a subtest of TestBrowser, after the answer from
// XB-RC arrived): search across scripts with the keyboard, read the
// answer in the inbox, compare a candidate side by side and confirm it
// (audited); the auditor sees the candidate without names and has no
// search box; the match page right to left in Arabic.
func browseMatches(t *testing.T, e *env, tb *tab, check func(string), other string) {
	sought, held := matchCases(t, e)
	var cand store.MatchCandidate
	waitFor(t, 10*time.Second, "the candidate match", func() bool {
		ms, _ := e.xa.Store.ListMatches(context.Background(), store.MatchFilter{CaseID: sought, State: store.MatchOpen})
		for _, m := range ms {
			if m.BCase == held {
				cand = m
				return true
			}
		}
		return false
	})
	tb.signIn(console.RoleCaseworker)

	// Search: typed in Armenian, submitted with Enter, finds the case
	// written in Latin letters (and the Armenian one), not the others.
	tb.open("/console/cases")
	tb.run(chromedp.SendKeys(chromedp.ID("f-name"), "Հովսամփելյան"+kb.Enter))
	tb.run(chromedp.WaitVisible(chromedp.CSS("main")))
	waitFor(t, 5*time.Second, "the search's answer", func() bool { return strings.Contains(tb.location(), "name=") })
	got := tb.text("main")
	if !strings.Contains(got, sought) || !strings.Contains(got, held) || strings.Contains(got, other) {
		t.Errorf("search by the Armenian family name lists:\n%s", got)
	}
	check("case search")
	tb.shot("cases-search")
	if rows, _ := e.xa.Store.ListAudit(context.Background(), store.AuditFilter{Action: "case.search"}); len(rows) == 0 {
		t.Error("the search was not audited")
	}

	// Inbox: the answer from XB-RC is readable.
	tb.open("/console/inbox?kind=case.response")
	tb.clickAndLoad(`table.list a[href*="/inbox/"]`)
	if got := tb.text("main"); !strings.Contains(got, "Youssef was visited and is well.") || !strings.Contains(got, "XB-RC") {
		t.Errorf("received answer page:\n%s", got)
	}
	check("received item")
	tb.shot("inbox-item")

	// Matches: listed, compared side by side, confirmed.
	tb.open("/console/matches")
	check("candidate matches")
	tb.clickAndLoad(`table.list a[href$="/matches/` + strconv.FormatInt(cand.ID, 10) + `"]`)
	sides := tb.text("div.side-by-side")
	for _, want := range []string{"Karo", "Hovsampelyan", "Կարո", "Հովսամփելյան", sought, held} {
		if !strings.Contains(sides, want) {
			t.Errorf("side by side lacks %q:\n%s", want, sides)
		}
	}
	if ex := tb.text("#why-h + .scroll table"); !strings.Contains(ex, "Name") || !strings.Contains(ex, "Birth date or age") {
		t.Errorf("explanation:\n%s", ex)
	}
	check("candidate match")
	tb.shot("match")
	tb.clickAndLoad("form.inline button.primary")
	if n := tb.text("p.notice"); !strings.Contains(n, "Confirmed. Nothing was sent.") {
		t.Errorf("after confirming: %q", n)
	}
	if m, _ := e.xa.Store.GetMatch(context.Background(), cand.ID); m.State != store.MatchConfirmed || m.DecidedBy != roleNames[console.RoleCaseworker] {
		t.Errorf("candidate after confirming: %+v", m)
	}
	if rows, _ := e.xa.Store.ListAudit(context.Background(), store.AuditFilter{Action: "match.confirm"}); len(rows) != 1 {
		t.Errorf("match.confirm audited %d times", len(rows))
	}

	// Arabic: the match page right to left.
	tb.open("/console/matches/" + strconv.FormatInt(cand.ID, 10) + "?lang=ar")
	var dir string
	tb.eval(`getComputedStyle(document.querySelector('div.side-by-side')).direction`, &dir)
	if dir != "rtl" {
		t.Errorf("Arabic match page direction %q", dir)
	}
	check("candidate match (ar)")
	tb.open("/console/matches?lang=en")

	// The auditor: metadata only.
	tb.signIn(console.RoleAuditor)
	tb.open("/console/matches/" + strconv.FormatInt(cand.ID, 10))
	if got := tb.text("main"); strings.Contains(got, "Karo") || strings.Contains(got, "Կարո") || !strings.Contains(got, "not the persons' data") {
		t.Errorf("auditor's match page:\n%s", got)
	}
	var boxes int
	tb.open("/console/cases?name=Karo")
	tb.eval(`document.querySelectorAll('#f-name').length`, &boxes)
	if got := tb.text("main"); boxes != 0 || !strings.Contains(got, other) || !strings.Contains(got, sought) {
		t.Errorf("auditor's cases page: %d search boxes, lists:\n%s", boxes, got)
	}
	if c := tb.textOf("/console/matches/"+strconv.FormatInt(cand.ID, 10), "main"); strings.Contains(c, "Confirm: same person") {
		t.Error("the auditor is offered to decide")
	}
	tb.signIn(console.RoleCaseworker)
}

// browseMatchesPast: the candidates of a case (reached from the case
// page) whose person's list was cut at the bound, with candidates past it that no list holds, say in the
// browser at least how many are not listed, in English and in Arabic
// right to left; a family whose 30 tied candidates are all listed says
// nothing of it.
func browseMatchesPast(t *testing.T, e *env, tb *tab, check func(string)) {
	cut, _, ahmed := tiedCases(t, e)
	tb.signIn(console.RoleCaseworker)
	tb.open("/console/cases/" + cut + "?lang=en")
	tb.clickAndLoad("#case-matches")
	var got string
	tb.eval(`Array.from(document.querySelectorAll('p.matches-past'), p => p.textContent).join('|')`, &got)
	if !strings.HasPrefix(got, "Person p1: more candidates with the same or a lower score are not listed (at least 4). Add details") {
		t.Fatalf("the cut family's candidates say %q:\n%s", got, tb.text("main"))
	}
	check("candidate matches past the bound")
	tb.shot("matches-past")
	tb.open("/console/matches?lang=ar&case=" + url.QueryEscape(cut))
	var dir string
	tb.eval(`getComputedStyle(document.querySelector('p.matches-past')).direction`, &dir)
	if got := tb.text("p.matches-past"); dir != "rtl" || !strings.Contains(got, "الشخص p1") {
		t.Errorf("Arabic (%s): %q", dir, got)
	}
	check("candidate matches past the bound (ar)")
	tb.open("/console/matches?lang=en&case=" + url.QueryEscape(ahmed))
	var n, rows int
	tb.eval(`document.querySelectorAll('p.matches-past').length`, &n)
	tb.eval(`document.querySelectorAll('table.list tbody tr').length`, &rows)
	if n != 0 || rows != 30 {
		t.Errorf("the Ahmed Ali family's candidates: %d lines past the bound, %d rows:\n%s", n, rows, tb.text("main"))
	}
	tb.open("/console/matches?lang=en")
}
