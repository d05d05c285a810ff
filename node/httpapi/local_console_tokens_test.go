package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/nodetest"
)

// TestConsoleUsersAndTokens: a person signs in to the web console with a
// personal admin token from the database, creates a caseworker token on
// the "Users and tokens" page (its secret shown once, then never again),
// which the local API accepts; revokes it there, and the API refuses it;
// a caseworker cannot open the page; revoking the admin's own token ends
// its console session.
func TestConsoleUsersAndTokens(t *testing.T) {
	f, _ := newFederation(t)
	tn := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})
	h := httpapi.NewLocalHandler(tn.Node, httpapi.LocalOptions{Tokens: testTokens(), Logger: slog.New(slog.DiscardHandler), Console: &console.Options{}})
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	admin, err := node.CreateToken(ctx, tn.Store, "test", node.NewToken{Person: "dora", Role: node.TokenRoleAdmin, TTL: time.Hour}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	browser := func() *http.Client {
		c := srv.Client()
		c.Jar, _ = cookiejar.New(nil)
		return c
	}
	csrfRe := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	get := func(c *http.Client, path string) (int, string) {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(c *http.Client, path string, form url.Values) (int, string) {
		resp, err := c.PostForm(srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	api := func(tok string) int {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/cases", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	b := browser()
	st, page := post(b, "/console/signin", url.Values{"token": {admin.Secret}})
	if st != 200 || !strings.Contains(page, "Personal tokens") || !strings.Contains(page, admin.ID) {
		t.Fatalf("admin sign-in lands on %d:\n%s", st, page)
	}
	csrf := csrfRe.FindStringSubmatch(page)[1]
	st, page = post(b, "/console/admin/tokens", url.Values{"csrf": {csrf}, "person": {"ida"}, "role": {"caseworker"}, "days": {"2"}})
	m := regexp.MustCompile(`id="new-secret">(flxp_[0-9a-f]+)<`).FindStringSubmatch(page)
	if st != 200 || m == nil {
		t.Fatalf("create token: %d\n%s", st, page)
	}
	secret := m[1]
	if api(secret) != 200 {
		t.Fatal("the token made in the console is refused by the API")
	}
	_, page = get(b, "/console/admin/tokens")
	if strings.Contains(page, secret) || !strings.Contains(page, "ida") {
		t.Fatal("the secret is shown again, or the token is not listed")
	}
	id := regexp.MustCompile(`(tok_[0-9a-f]+)</code></td><td>ida<`).FindStringSubmatch(page)[1]
	if st, _ := post(b, "/console/admin/tokens/"+id+"/revoke", url.Values{"csrf": {csrf}}); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if api(secret) != 401 {
		t.Fatal("the token revoked in the console still works on the API")
	}

	// a caseworker (signed in with a configured token) may not open the page
	cw := browser()
	post(cw, "/console/signin", url.Values{"token": {tokCaseworker}})
	if st, _ := get(cw, "/console/admin/tokens"); st != 403 {
		t.Fatalf("caseworker on the tokens page: %d, want 403", st)
	}

	// the admin's own token revoked: its session ends at the next request
	if _, err := node.RevokeToken(ctx, tn.Store, "test", admin.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, page := get(b, "/console/admin/tokens"); strings.Contains(page, "Personal tokens") {
		t.Fatal("a session outlived its revoked token")
	}
}
