package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/console"
)

// TestTokensPageInEveryLanguage: the admin's page to create, list and
// revoke personal tokens speaks each of the console's languages (Arabic
// right to left) and has no English left in the others; the new secret is
// shown once, and a revoked token shows as revoked.
func TestTokensPageInEveryLanguage(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	english := []string{"Personal tokens", "Create token", "Valid for", "Revoke", "Token created", "shown once", "active"}
	cases := []struct{ lang, dir, title, created string }{
		{"en", "ltr", "Users and tokens", "Token created for"},
		{"fr", "ltr", "Utilisateurs et jetons", "Jeton créé pour"},
		{"es", "ltr", "Usuarios y tokens", "Token creado para"},
		{"ru", "ltr", "Пользователи и токены", "Токен создан для"},
		{"ar", "rtl", "المستخدمون والرموز", "أُنشئ رمز لـ"},
	}
	secretRE := regexp.MustCompile(`id="new-secret">(flxp_[0-9a-f]+)<`)
	for _, tc := range cases {
		b := e.browser()
		b.lang = tc.lang
		p := b.post("/console/signin", url.Values{"token": {roleTokens[console.RoleAdmin]}})
		if loc := p.header.Get("Location"); p.status != http.StatusSeeOther || loc != "/console/admin/tokens" {
			t.Fatalf("%s: the admin's sign-in leads to %d %q", tc.lang, p.status, loc)
		}
		p = b.get("/console/admin/tokens")
		if p.status != http.StatusOK || !strings.Contains(p.body, `<html lang="`+tc.lang+`" dir="`+tc.dir+`">`) || !strings.Contains(p.body, "<h1>"+tc.title) {
			t.Fatalf("%s: %d\n%s", tc.lang, p.status, p.body)
		}
		if !strings.Contains(p.body, `href="/console/admin/tokens" aria-current="page">`+tc.title) {
			t.Errorf("%s: the menu does not offer the page", tc.lang)
		}
		person := "person-" + tc.lang
		p = b.post("/console/admin/tokens", url.Values{"csrf": {b.csrf("/console/admin/tokens")}, "person": {person}, "role": {"caseworker"}, "days": {"30"}})
		m := secretRE.FindStringSubmatch(p.body)
		if p.status != http.StatusOK || m == nil || !strings.Contains(p.body, tc.created+" "+person) {
			t.Fatalf("%s: create: %d\n%s", tc.lang, p.status, p.body)
		}
		created := p.body
		// Revoke every token listed with a revoke button: the page is
		// then one of revoked tokens.
		p = b.get("/console/admin/tokens")
		if strings.Contains(p.body, m[1]) {
			t.Fatalf("%s: the secret is shown again", tc.lang)
		}
		for _, id := range regexp.MustCompile(`/admin/tokens/(tok_[0-9a-f]+)/revoke`).FindAllStringSubmatch(p.body, -1) {
			if r := b.post("/console/admin/tokens/"+id[1]+"/revoke", url.Values{"csrf": {b.csrf("/console/admin/tokens")}}); r.status != http.StatusSeeOther {
				t.Fatalf("%s: revoke %s: %d", tc.lang, id[1], r.status)
			}
		}
		p = b.get("/console/admin/tokens?done=token_revoked")
		if !strings.Contains(p.body, person) || strings.Contains(p.body, "/revoke") || !strings.Contains(p.body, `class="notice"`) {
			t.Errorf("%s: after revoking, the list:\n%s", tc.lang, p.body)
		}
		bad := b.post("/console/admin/tokens", url.Values{"csrf": {b.csrf("/console/admin/tokens")}, "person": {"x"}, "role": {"caseworker"}, "days": {"0"}})
		if bad.status != http.StatusBadRequest {
			t.Errorf("%s: 0 days: %d", tc.lang, bad.status)
		}
		if tc.lang == "en" {
			continue
		}
		for _, body := range []string{created, p.body, bad.body} {
			for _, w := range english {
				if strings.Contains(body, w) {
					t.Errorf("%s: the page still says %q", tc.lang, w)
				}
			}
		}
	}
}
