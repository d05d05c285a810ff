package console_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/console"
)

// signinOnlyBackend serves the sign-in page, which asks the node nothing.
type signinOnlyBackend struct{ console.Backend }

// answerAuth answers every token with err.
type answerAuth struct{ err error }

func (a answerAuth) Authenticate(context.Context, string) (console.Principal, error) {
	return console.Principal{}, a.err
}
func (answerAuth) Check(context.Context, console.Principal) error { return nil }

// TestSigninRefusalSaysWhatToDo: a refused token tells the person what to do
// next (check the copy, or ask for a new one), and a node that cannot check
// tokens at all (its database down) says so with 503 instead of blaming the
// token, in every language.
func TestSigninRefusalSaysWhatToDo(t *testing.T) {
	t.Parallel()
	signin := func(t *testing.T, authErr error, lang string) (int, string) {
		con, err := console.New(console.Options{Backend: signinOnlyBackend{}, Auth: answerAuth{authErr}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(con)
		defer srv.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/console/signin", strings.NewReader(url.Values{"token": {"flx_typed"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Language", lang)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	st, body := signin(t, console.ErrBadCredential, "en")
	if st != http.StatusUnauthorized || !strings.Contains(body, "copied it whole") || !strings.Contains(body, "for a new one") {
		t.Errorf("refused token: %d, the page does not say what to do next:\n%s", st, body)
	}
	st, body = signin(t, errors.New("store: connection refused"), "en")
	if st != http.StatusServiceUnavailable || !strings.Contains(body, "cannot check tokens right now") || strings.Contains(body, "not accepted") {
		t.Errorf("node failing to check tokens: %d, want 503 saying so:\n%s", st, body)
	}
	if strings.Contains(body, "connection refused") {
		t.Error("the page shows the internal error")
	}
	for _, lang := range []string{"fr", "es", "ru", "ar"} {
		_, refused := signin(t, console.ErrBadCredential, lang)
		st, failing := signin(t, errors.New("down"), lang)
		if st != http.StatusServiceUnavailable || problemText(refused) == problemText(failing) || problemText(failing) == "" {
			t.Errorf("%s: a failing node (%d) reads %q, a refused token %q", lang, st, problemText(failing), problemText(refused))
		}
	}
}

// problemText is the sign-in page's problem paragraph.
func problemText(body string) string {
	i := strings.Index(body, `role="alert"`)
	if i < 0 {
		return ""
	}
	rest := body[i:]
	if j := strings.Index(rest, "</"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
