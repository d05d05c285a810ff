package console_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/store"
)

// caseForm is what a caseworker types in the generated form for a tracing
// request: an enquirer, a sought person named in Arabic and Latin script
// with a partial birth date, consent as the legal basis.
func caseForm(csrf string) url.Values {
	return url.Values{"csrf": {csrf}, "/type": {"tracing_request"}, "/status": {"open"}, "/purpose": {"tracing"},
		"n:/persons": {"2"}, "/persons/0/roles": {"enquirer"}, "n:/persons/0/names": {"1"}, "/persons/0/names/0/value": {"Amira Haddad"},
		"/persons/0/birth_date#y": {"1961"},
		"/persons/1/roles":        {"sought_person"}, "n:/persons/1/names": {"2"},
		"/persons/1/names/0/value": {"يوسف حداد"}, "/persons/1/names/0/script": {"Arab"}, "/persons/1/names/0/part": {"full"},
		"/persons/1/names/1/value": {"Youssef Haddad"}, "/persons/1/names/1/script": {"Latn"}, "/persons/1/names/1/scheme": {"ad_hoc"},
		"/persons/1/birth_date#y": {"1994"}, "/persons/1/birth_date#m": {"3"},
		"/legal_basis/type": {"consent"}, "n:/consents": {"1"}, "/consents/0/given_by": {"p1"}, "/consents/0/given_at": {"2025-01-01T10:00"},
		"/consents/0/capacity": {"self"}, "/consents/0/scope/uses": {"tracing\ntransfer"},
	}
}

var caseIDRE = regexp.MustCompile(`/console/cases/(XA-RC:[A-Za-z0-9-]+)/send`)

// createCase posts the case form and returns the new case id.
func (b *browser) createCase() string {
	b.t.Helper()
	p := b.post("/console/cases/new", caseForm(b.csrf("/console/cases/new")))
	m := caseIDRE.FindStringSubmatch(p.header.Get("Location"))
	if p.status != http.StatusSeeOther || m == nil {
		b.t.Fatalf("create: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	return m[1]
}

func auditRows(t *testing.T, e *env, action string) []store.AuditRecord {
	t.Helper()
	rows, err := e.xa.Store.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestCaseworkerCreatesChecksForwardsAndWithdraws(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	b := e.browser()
	b.signIn(console.RoleCaseworker)
	id := b.createCase()

	// Stored as typed: names in two scripts, a partial date, p1/p2 given.
	c, err := e.xa.Store.GetCase(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.Unmarshal(c.Document, &doc)
	persons := doc["persons"].([]any)
	sought := persons[1].(map[string]any)
	if sought["id"] != "p2" || sought["birth_date"] != "1994-03" || len(sought["names"].([]any)) != 2 {
		t.Fatalf("stored person = %v", sought)
	}
	if o := doc["origin"].(map[string]any); o["member"] != "XA-RC" || doc["version"] != float64(1) {
		t.Fatalf("managed fields = %v %v", o, doc["version"])
	}

	// The dry run for each destination, before anything is sent.
	send := b.get("/console/cases/" + id + "/send")
	for _, want := range []string{"XB-RC", "ICRC-CTA", "effect-allow", `name="to" value="XB-RC"`} {
		if !strings.Contains(send.body, want) {
			t.Fatalf("send page lacks %q", want)
		}
	}
	if n, _ := e.xa.Store.ListOutbox(context.Background(), store.OutboxFilter{CaseID: id}); len(n) != 0 {
		t.Fatalf("the dry run queued %d envelopes", len(n))
	}

	p := b.post("/console/cases/"+id+"/forward", url.Values{"csrf": {b.csrf("/console/cases/" + id + "/send")}, "to": {"XB-RC"}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "done=queued") {
		t.Fatalf("forward: %d %s\n%s", p.status, p.header.Get("Location"), p.body)
	}
	waitFor(t, 15*time.Second, "XB-RC holds the case", func() bool {
		_, err := e.xb.Store.GetCase(context.Background(), id)
		return err == nil
	})
	waitFor(t, 15*time.Second, "the case page lists XB-RC as recipient", func() bool {
		return strings.Contains(b.get("/console/cases/"+id).body, "<td>XB-RC</td>")
	})

	// The case page is readable: both scripts, the partial date in words,
	// the decision with its plain-words title.
	cp := b.get("/console/cases/" + id)
	for _, want := range []string{"يوسف حداد", "Youssef Haddad", "March 1994", "Arabic", "Allowed"} {
		if !strings.Contains(cp.body, want) {
			t.Errorf("case page lacks %q", want)
		}
	}
	// Every read of the document is audited, with who read it.
	reads := auditRows(t, e, "case.read")
	if len(reads) == 0 || reads[len(reads)-1].Actor != roleNames[console.RoleCaseworker] || reads[len(reads)-1].Object != id {
		t.Fatalf("case.read audit rows = %+v", reads)
	}

	// Withdraw: refused without the confirmation, then done and confirmed.
	tok := b.csrf("/console/cases/" + id + "/withdraw")
	if p := b.post("/console/cases/"+id+"/withdraw", url.Values{"csrf": {tok}, "reason": {"consent_withdrawn"}}); p.status != http.StatusUnprocessableEntity {
		t.Fatalf("withdraw without confirmation: %d", p.status)
	}
	if _, err := e.xa.Store.GetCase(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	p = b.post("/console/cases/"+id+"/withdraw", url.Values{"csrf": {tok}, "reason": {"consent_withdrawn"}, "confirm": {"yes"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("withdraw: %d\n%s", p.status, p.body)
	}
	waitFor(t, 20*time.Second, "XB-RC confirms erasure", func() bool {
		return strings.Contains(b.get("/console/cases/"+id).body, `value="1">1/1</meter>`)
	})
}

func TestAuditorSeesRecordWithoutPersonalData(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	cw := e.browser()
	cw.signIn(console.RoleCaseworker)
	id := cw.createCase()
	au := e.browser()
	au.signIn(console.RoleAuditor)
	p := au.get("/console/cases/" + id)
	if p.status != http.StatusOK || strings.Contains(p.body, "Haddad") || strings.Contains(p.body, "حداد") {
		t.Fatalf("auditor case page: %d, holds a name: %v", p.status, strings.Contains(p.body, "Haddad"))
	}
	rows := auditRows(t, e, "case.read")
	last := rows[len(rows)-1]
	if last.Actor != roleNames[console.RoleAuditor] || !strings.Contains(string(last.Details), `"document":false`) {
		t.Fatalf("auditor read audited as %+v", last)
	}
	// The thread is there for the auditor: what happened, not who.
	if !strings.Contains(p.body, `id="h-thread"`) || !strings.Contains(p.body, "Version 1 recorded") {
		t.Errorf("the auditor's case page has no thread:\n%s", p.body)
	}
}

// TestRolesOnEveryRoute opens every route with every role: an allowed role
// is never refused, another gets the 403 page (no redirect), and a
// signed-out visitor is sent to sign in.
func TestRolesOnEveryRoute(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	cw := e.browser()
	cw.signIn(console.RoleCaseworker)
	id := cw.createCase()
	con, err := console.New(console.Options{Backend: console.NodeBackend(e.xa.Node), Auth: fixedAuth{}})
	if err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{id}", url.PathEscape(id), "{oid}", "1", "{did}", "1", "{$}", "", "{sha}", strings.Repeat("a", 64), "{uid}", strings.Repeat("b", 64), "{iid}", "1", "{mid}", "1", "{decision}", "confirm")
	sessions := map[string]*browser{}
	for _, role := range []string{console.RoleCaseworker, console.RoleOperator, console.RoleAuditor, console.RoleAdmin} {
		b := e.browser()
		b.signIn(role)
		sessions[role] = b
	}
	routes := con.Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, rt := range routes {
		if strings.HasSuffix(rt.Path, "/signout") || strings.HasSuffix(rt.Path, "/signin") {
			continue
		}
		path := fill.Replace(rt.Path)
		for role, b := range sessions {
			var p page
			switch {
			case rt.Method == http.MethodGet:
				p = b.get(path)
			case strings.HasSuffix(rt.Path, "/record/{uid}"): // a binary piece: the token in a header
				p = b.postBytes(path, []byte("x"), b.csrf("/console/cases"))
			default:
				p = b.post(path, url.Values{"csrf": {b.csrf("/console/cases")}})
			}
			allowed := false
			for _, r := range rt.Roles {
				allowed = allowed || r == role
			}
			switch {
			case allowed && (p.status == http.StatusForbidden || strings.Contains(p.header.Get("Location"), "/signin")):
				t.Errorf("%s %s as %s: refused (%d)", rt.Method, path, role, p.status)
			case !allowed && (p.status != http.StatusForbidden || !strings.Contains(p.body, "Your role may not open this page")):
				t.Errorf("%s %s as %s: %d, want the 403 page", rt.Method, path, role, p.status)
			}
		}
		anon := e.browser()
		var p page
		if rt.Method == http.MethodGet {
			p = anon.get(path)
		} else {
			p = anon.post(path, url.Values{})
		}
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/console/signin") {
			t.Errorf("%s %s signed out: %d %s, want to sign in", rt.Method, path, p.status, p.header.Get("Location"))
		}
	}
	// Nothing in the matrix changed the case.
	if c, _ := e.xa.Store.GetCase(context.Background(), id); c.Erased() || c.Version != 1 {
		t.Fatalf("the role matrix changed the case: %+v", c)
	}
}

type fixedAuth struct{}

func (fixedAuth) Authenticate(context.Context, string) (console.Principal, error) {
	return console.Principal{}, console.ErrBadCredential
}
func (fixedAuth) Check(context.Context, console.Principal) error { return nil }

func TestFormsNeedTheSessionsToken(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	b := e.browser()
	b.signIn(console.RoleCaseworker)
	id := b.createCase()
	other := e.browser()
	other.signIn(console.RoleCaseworker)
	foreign := other.csrf("/console/cases")
	good := b.csrf("/console/cases")
	withdraw := func(tok string, hdr map[string]string) int {
		form := url.Values{"reason": {"consent_withdrawn"}, "confirm": {"yes"}}
		if tok != "" {
			form.Set("csrf", tok)
		}
		req, _ := http.NewRequest(http.MethodPost, e.base+"/console/cases/"+id+"/withdraw", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return b.do(req).status
	}
	cases := []struct {
		name string
		tok  string
		hdr  map[string]string
	}{
		{"no token", "", map[string]string{"Sec-Fetch-Site": "same-origin"}},
		{"garbage token", "AAAA", map[string]string{"Sec-Fetch-Site": "same-origin"}},
		{"another session's token", foreign, map[string]string{"Sec-Fetch-Site": "same-origin"}},
		{"cross-site fetch", good, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"foreign origin", good, map[string]string{"Origin": "https://evil.example"}},
	}
	for _, tc := range cases {
		if st := withdraw(tc.tok, tc.hdr); st != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tc.name, st)
		}
	}
	if c, _ := e.xa.Store.GetCase(context.Background(), id); c.Erased() {
		t.Fatal("a refused form withdrew the case")
	}
	if st := withdraw(good, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": e.base}); st != http.StatusSeeOther {
		t.Fatalf("the session's own token: %d", st)
	}
}

func TestSessionCookieSignOutAndExpiry(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := startEnv(t, envOptions{console: console.Options{Now: clock, IdleTimeout: 30 * time.Minute, MaxAge: 2 * time.Hour}})
	b := e.browser()
	p := b.post("/console/signin", url.Values{"token": {roleTokens[console.RoleCaseworker]}})
	ck := p.header.Get("Set-Cookie")
	for _, want := range []string{"flx_session=", "Path=/", "HttpOnly", "Secure", "SameSite=Strict", "Max-Age=7200"} {
		if !strings.Contains(ck, want) {
			t.Errorf("session cookie %q lacks %q", ck, want)
		}
	}
	signedIn := func() bool { return b.get("/console/cases").status == http.StatusOK }
	if !signedIn() {
		t.Fatal("not signed in")
	}
	// Used every 20 minutes, the session lives until its absolute end.
	for i := 0; i < 5; i++ {
		advance(20 * time.Minute)
		if !signedIn() {
			t.Fatalf("session ended after %d min of activity", (i+1)*20)
		}
	}
	advance(21 * time.Minute) // 121 min after sign-in
	if signedIn() {
		t.Fatal("session outlived its absolute expiry")
	}
	b.signIn(console.RoleCaseworker)
	advance(31 * time.Minute)
	if signedIn() {
		t.Fatal("session outlived its idle expiry")
	}
	b.signIn(console.RoleCaseworker)
	jar := b.c.Jar
	old := jar.Cookies(mustURL(e.base + "/console/"))
	b.post("/console/signout", url.Values{"csrf": {b.csrf("/console/cases")}})
	replay := e.browser()
	replay.c.Jar.SetCookies(mustURL(e.base+"/console/"), old)
	if replay.get("/console/cases").status != http.StatusSeeOther {
		t.Fatal("the cookie of a signed-out session still works")
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestHTTPSCookieHasHostPrefix(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{tls: true})
	b := e.browser()
	p := b.post("/console/signin", url.Values{"token": {roleTokens[console.RoleOperator]}})
	if ck := p.header.Get("Set-Cookie"); !strings.HasPrefix(ck, "__Host-flx_session=") || !strings.Contains(ck, "Secure") {
		t.Fatalf("cookie over HTTPS = %q", ck)
	}
	if b.get("/console/operator/peers").status != http.StatusOK {
		t.Fatal("the __Host- session does not work")
	}
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	cases := []struct {
		name, token, host, next string
		status                  int
		location                string
	}{
		{"unknown token", "nope", "", "", http.StatusUnauthorized, ""},
		{"empty token", "", "", "", http.StatusUnauthorized, ""},
		{"oversized token", strings.Repeat("x", 600), "", "", http.StatusUnauthorized, ""},
		{"plain HTTP from another machine", roleTokens[console.RoleCaseworker], "flx.xa-rc.example:8080", "", http.StatusForbidden, ""},
		{"good, back where they were going", roleTokens[console.RoleCaseworker], "", "/console/inbox?kind=case.response", http.StatusSeeOther, "/console/inbox?kind=case.response"},
		{"next to another site", roleTokens[console.RoleCaseworker], "", "//evil.example/x", http.StatusSeeOther, "/console/"},
		{"next with a scheme", roleTokens[console.RoleCaseworker], "", "https://evil.example/", http.StatusSeeOther, "/console/"},
		{"next outside the console", roleTokens[console.RoleCaseworker], "", "/api/v1/cases", http.StatusSeeOther, "/console/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			form := url.Values{"token": {tc.token}, "next": {tc.next}}
			req, _ := http.NewRequest(http.MethodPost, e.base+"/console/signin", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.host != "" {
				req.Host = tc.host
			}
			p := b.do(req)
			if p.status != tc.status || p.header.Get("Location") != tc.location {
				t.Fatalf("%d %q, want %d %q", p.status, p.header.Get("Location"), tc.status, tc.location)
			}
			if tc.status != http.StatusSeeOther && p.header.Get("Set-Cookie") != "" {
				t.Fatalf("a refused sign-in set %q", p.header.Get("Set-Cookie"))
			}
		})
	}
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	b := e.browser()
	b.signIn(console.RoleOperator)
	for _, path := range []string{"/console/signin", "/console/operator/peers", "/console/operator/manifest", "/console/audit", "/console/no-such-page", "/console/cases/new"} {
		p := b.get(path)
		if got := p.header.Get("Content-Security-Policy"); got != console.ContentSecurityPolicy {
			t.Errorf("%s: CSP %q", path, got)
		}
		for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store"} {
			if p.header.Get(h) != want {
				t.Errorf("%s: %s = %q", path, h, p.header.Get(h))
			}
		}
		if strings.Contains(p.body, "ZgotmplZ") {
			t.Errorf("%s: a value was refused by html/template (ZgotmplZ)", path)
		}
		if strings.Contains(p.body, "<script>") || strings.Contains(p.body, " style=") || strings.Contains(p.body, "<style") || strings.Contains(p.body, " on") && regexp.MustCompile(` on[a-z]+=`).MatchString(p.body) {
			t.Errorf("%s has inline script or style", path)
		}
	}
}

func TestLanguageChoice(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	b := e.browser()
	cases := []struct{ accept, query, lang, dir, title string }{
		{"fr-CH, en;q=0.5", "", "fr", "ltr", "Connexion"},
		{"es-419", "", "es", "ltr", "Iniciar sesión"},
		{"ru", "", "ru", "ltr", "Вход"},
		{"ar-EG", "", "ar", "rtl", "تسجيل الدخول"},
		{"de", "", "en", "ltr", "Sign in"},
		{"fr", "ar", "ar", "rtl", "تسجيل الدخول"},
	}
	for _, tc := range cases {
		b.lang = tc.accept
		path := "/console/signin"
		if tc.query != "" {
			path += "?lang=" + tc.query
		}
		p := b.get(path)
		want := `<html lang="` + tc.lang + `" dir="` + tc.dir + `">`
		if !strings.Contains(p.body, want) || !strings.Contains(p.body, "<h1>"+tc.title+"</h1>") {
			t.Errorf("Accept-Language %q ?lang=%q: want %s and %q", tc.accept, tc.query, want, tc.title)
		}
		if tc.query != "" {
			b.c.Jar.SetCookies(mustURL(e.base+"/console/"), nil)
		}
	}
}

// heldCaseForm is a case where the enquirer's age is not recorded: the
// rules cannot establish that they are an adult, so forwarding it is held
// for an operator's review.
func heldCaseForm(csrf string) url.Values {
	v := caseForm(csrf)
	v.Del("/persons/0/birth_date#y")
	return v
}

func TestOperatorReviewsAHeldForward(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	cw := e.browser()
	cw.signIn(console.RoleCaseworker)
	p := cw.post("/console/cases/new", heldCaseForm(cw.csrf("/console/cases/new")))
	m := caseIDRE.FindStringSubmatch(p.header.Get("Location"))
	if m == nil {
		t.Fatalf("create: %d\n%s", p.status, p.body)
	}
	id := m[1]
	send := cw.get("/console/cases/" + id + "/send")
	if !strings.Contains(send.body, "effect-needs_review") || !strings.Contains(send.body, "FLX-DP-MINOR-GUARDIAN") {
		t.Fatalf("send page does not show the hold:\n%s", send.body)
	}
	p = cw.post("/console/cases/"+id+"/forward", url.Values{"csrf": {cw.csrf("/console/cases")}, "to": {"XB-RC"}})
	if !strings.Contains(p.header.Get("Location"), "done=needs_review") {
		t.Fatalf("forward: %d %s", p.status, p.header.Get("Location"))
	}
	op := e.browser()
	op.signIn(console.RoleOperator)
	q := op.get("/console/operator/review")
	did := regexp.MustCompile(`/console/operator/review/` + regexp.QuoteMeta(id) + `/(\d+)`).FindStringSubmatch(q.body)
	if did == nil {
		t.Fatalf("review queue lacks the held forward:\n%s", q.body)
	}
	p = op.post(did[0], url.Values{"csrf": {op.csrf("/console/operator/review")}, "verdict": {"approve"}, "note": {"checked with the caseworker"}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "done=approved") {
		t.Fatalf("approve: %d %s\n%s", p.status, p.header.Get("Location"), p.body)
	}
	waitFor(t, 15*time.Second, "XB-RC holds the approved case", func() bool {
		_, err := e.xb.Store.GetCase(context.Background(), id)
		return err == nil
	})
	if strings.Contains(op.get("/console/operator/review").body, id) {
		t.Fatal("the approved forward is still in the queue")
	}
	if rows := auditRows(t, e, "review.approve"); len(rows) != 1 || rows[0].Actor != roleNames[console.RoleOperator] {
		t.Fatalf("review.approve audit = %+v", rows)
	}
}

func TestOperatorRequeuesADeadLetter(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{delivery: fastDeadLetters})
	cw := e.browser()
	cw.signIn(console.RoleCaseworker)
	id := cw.createCase()
	if p := cw.post("/console/cases/"+id+"/forward", url.Values{"csrf": {cw.csrf("/console/cases")}, "to": {"ICRC-CTA"}}); !strings.Contains(p.header.Get("Location"), "done=queued") {
		t.Fatalf("forward: %d %s\n%s", p.status, p.header.Get("Location"), p.body)
	}
	op := e.browser()
	op.signIn(console.RoleOperator)
	requeue := regexp.MustCompile(`/console/operator/outbox/(\d+)/requeue`)
	var m []string
	waitFor(t, 15*time.Second, "the forward to ICRC-CTA is dead-lettered", func() bool {
		m = requeue.FindStringSubmatch(op.get("/console/operator/outbox").body)
		return m != nil
	})
	peers := op.get("/console/operator/peers")
	if !strings.Contains(peers.body, "state=dead&amp;destination=ICRC-CTA") {
		t.Fatalf("peers page does not point at the dead letter:\n%s", peers.body)
	}
	p := op.post(m[0], url.Values{"csrf": {op.csrf("/console/operator/outbox")}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("requeue: %d\n%s", p.status, p.body)
	}
	if rows := auditRows(t, e, "outbox.requeue"); len(rows) != 1 || rows[0].Actor != roleNames[console.RoleOperator] || rows[0].Object != m[1] {
		t.Fatalf("outbox.requeue audit = %+v", rows)
	}
	// Requeuing a row that is not dead is refused, not hidden.
	if p := op.post(m[0], url.Values{"csrf": {op.csrf("/console/operator/outbox")}}); p.status != http.StatusConflict && p.status != http.StatusSeeOther {
		t.Fatalf("second requeue: %d", p.status)
	}
}

// pageBudget is the most a console page may weigh on the wire (gzip), so
// that it opens over a slow link; the case form, the largest, is well
// under it.
const pageBudget = 24 << 10

// TestPageWeights measures each main page as sent (gzip) and as HTML, with
// the CSS and JavaScript (cached for a year after the first visit).
func TestPageWeights(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	cw := e.browser()
	cw.signIn(console.RoleCaseworker)
	id := cw.createCase()
	op := e.browser()
	op.signIn(console.RoleOperator)
	measure := func(b *browser, path string) (raw, gz int) {
		req, _ := http.NewRequest(http.MethodGet, e.base+path, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		p := b.do(req)
		if p.status != http.StatusOK {
			t.Fatalf("%s: %d", path, p.status)
		}
		gz = len(p.body)
		if p.header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(strings.NewReader(p.body))
			if err != nil {
				t.Fatal(err)
			}
			all, _ := io.ReadAll(zr)
			raw = len(all)
		} else {
			raw = gz
		}
		return raw, gz
	}
	pages := []struct {
		b    *browser
		path string
	}{
		{e.browser(), "/console/signin"}, {cw, "/console/cases"}, {cw, "/console/cases/new"}, {cw, "/console/cases/" + id},
		{cw, "/console/cases/" + id + "/send"}, {cw, "/console/cases/" + id + "/withdraw"}, {cw, "/console/inbox"},
		{op, "/console/operator/peers"}, {op, "/console/operator/outbox"}, {op, "/console/operator/review"},
		{op, "/console/operator/manifest"}, {op, "/console/operator/keys"}, {op, "/console/audit"}, {op, "/console/stats"},
	}
	for _, pg := range pages {
		raw, gz := measure(pg.b, pg.path)
		t.Logf("%-48s %6d B HTML, %5d B gzip", strings.Replace(pg.path, id, "{id}", 1), raw, gz)
		if gz > pageBudget {
			t.Errorf("%s weighs %d B gzip, over the %d B budget", pg.path, gz, pageBudget)
		}
	}
	for _, a := range []string{"console.css", "console.js"} {
		raw, gz := measure(cw, "/console/static/"+a)
		t.Logf("%-48s %6d B, %5d B gzip (cached: immutable, versioned URL)", "/console/static/"+a, raw, gz)
	}
}

func TestEditKeepsIdentityAndRefusesAStaleVersion(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	b := e.browser()
	b.signIn(console.RoleCaseworker)
	id := b.createCase()
	edit := b.get("/console/cases/" + id + "/edit")
	if edit.status != http.StatusOK || !strings.Contains(edit.body, `name="base_version" value="1"`) || !strings.Contains(edit.body, "Youssef Haddad") {
		t.Fatalf("edit form: %d", edit.status)
	}
	form := caseForm(b.csrf("/console/cases/" + id + "/edit"))
	form.Set("base_version", "1")
	form.Set("/status", "tracing_in_progress")
	// Fields the console manages cannot be set from the form.
	form.Set("/case_id", "XB-RC:forged")
	form.Set("/origin/member", "XB-RC")
	form.Set("/version", "99")
	p := b.post("/console/cases/"+id+"/edit", form)
	if p.status != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", p.status, p.body)
	}
	c, err := e.xa.Store.GetCase(context.Background(), id)
	if err != nil || c.Version != 2 || c.Status != "tracing_in_progress" || c.Origin != "XA-RC" {
		t.Fatalf("after edit: %+v %v", c, err)
	}
	// A second edit from the same (now stale) form is a conflict, shown on
	// the form; nothing is stored.
	p = b.post("/console/cases/"+id+"/edit", form)
	if p.status != http.StatusConflict || !strings.Contains(p.body, "Someone changed this case meanwhile") {
		t.Fatalf("stale edit: %d", p.status)
	}
	if c, _ := e.xa.Store.GetCase(context.Background(), id); c.Version != 2 {
		t.Fatalf("a stale edit stored version %d", c.Version)
	}
	// A schema violation is shown next to its control.
	form.Set("base_version", "2")
	form.Set("/persons/1/nationalities", "xa")
	p = b.post("/console/cases/"+id+"/edit", form)
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, `id="f-persons-1-nationalities-err"`) {
		t.Fatalf("invalid edit: %d\n%s", p.status, p.body)
	}
}

// revocable is an Authenticator whose credentials can be revoked while
// sessions are open (what per-person tokens will do).
type revocable struct {
	mu      sync.Mutex
	revoked map[string]bool
}

func (r *revocable) Authenticate(_ context.Context, tok string) (console.Principal, error) {
	for role, t := range roleTokens {
		if t == tok {
			return console.Principal{ID: roleNames[role], Name: roleNames[role], Role: role, ExpiresAt: time.Now().Add(time.Hour)}, nil
		}
	}
	return console.Principal{}, console.ErrBadCredential
}

func (r *revocable) Check(_ context.Context, p console.Principal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.revoked[p.ID] {
		return console.ErrBadCredential
	}
	return nil
}

func TestARevokedCredentialEndsItsSessions(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	auth := &revocable{revoked: map[string]bool{}}
	con, err := console.New(console.Options{Backend: console.NodeBackend(e.xa.Node), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(con)
	t.Cleanup(srv.Close)
	b := (&env{t: t, xa: e.xa, base: srv.URL, srv: srv}).browser()
	p := b.post("/console/signin", url.Values{"token": {roleTokens[console.RoleOperator]}})
	if !strings.Contains(p.header.Get("Set-Cookie"), "Max-Age=3") { // capped by the credential's expiry (~3600 s)
		t.Fatalf("session not capped by the credential's expiry: %q", p.header.Get("Set-Cookie"))
	}
	if b.get("/console/operator/peers").status != http.StatusOK {
		t.Fatal("not signed in")
	}
	auth.mu.Lock()
	auth.revoked[roleNames[console.RoleOperator]] = true
	auth.mu.Unlock()
	if p := b.get("/console/operator/peers"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/console/signin") {
		t.Fatalf("after revocation: %d %s", p.status, p.header.Get("Location"))
	}
}
