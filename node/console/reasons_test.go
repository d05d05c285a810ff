package console_test

import (
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/console"
)

// TestSendPageSaysWhichRuleWithheldWhat: on the dry run a caseworker reads,
// each rule that withheld fields lists them in words under its reason, and
// no reason cites a position in the rules file ("line 156").
func TestSendPageSaysWhichRuleWithheldWhat(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	b := e.browser()
	b.signIn(console.RoleCaseworker)
	// A caseworker's note: the rules' list for a National Society leaves
	// notes out (FLX-DP-MINIMISE).
	form := caseForm(b.csrf("/console/cases/new"))
	form.Set("n:/notes", "1")
	form.Set("/notes/0/text", "The mother last heard from him by phone.")
	p := b.post("/console/cases/new", form)
	m := caseIDRE.FindStringSubmatch(p.header.Get("Location"))
	if m == nil {
		t.Fatalf("create: %d\n%s", p.status, p.body)
	}
	id := m[1]
	body := b.get("/console/cases/" + id + "/send").body
	if m := regexp.MustCompile(`\bline \d+`).FindString(body); m != "" {
		t.Errorf("the send page cites a source position: %q", m)
	}
	items := regexp.MustCompile(`(?s)<li><strong>[^<]*</strong> <span class="rule-id">FLX-DP-MINIMISE</span>.*?</li>`).FindAllString(body, -1)
	if len(items) == 0 {
		t.Fatalf("no minimisation rule on the send page:\n%s", body)
	}
	for _, it := range items {
		m := regexp.MustCompile(`(?s)<span class="rule-withheld">Withheld by this rule: (.*?)</span>`).FindStringSubmatch(it)
		if m == nil || strings.Contains(m[1], "/") {
			t.Errorf("the minimisation rule does not say in words what it withheld: %s", html.UnescapeString(it))
			continue
		}
		t.Logf("%s", html.UnescapeString(it))
	}
}
