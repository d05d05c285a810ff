package console_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/backoff"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// Test tokens, one per role; the config holds only their SHA-256.
var roleTokens = map[string]string{
	console.RoleCaseworker: "cw-5b1e-console-test-token",
	console.RoleOperator:   "op-9c2d-console-test-token",
	console.RoleAuditor:    "au-7f3a-console-test-token",
	console.RoleAdmin:      "ad-3e8b-console-test-token",
}

var roleNames = map[string]string{
	console.RoleCaseworker: "cw-amal",
	console.RoleOperator:   "op-boris",
	console.RoleAuditor:    "au-carmen",
	console.RoleAdmin:      "ad-dana",
}

func tokens() []config.Token {
	var out []config.Token
	for role, tok := range roleTokens {
		s := sha256.Sum256([]byte(tok))
		out = append(out, config.Token{Name: roleNames[role], Role: role, SHA256: hex.EncodeToString(s[:])})
	}
	return out
}

// env is a real XA-RC node (SQLite store, mTLS federation listener) with
// its local API and console on a real HTTP listener, and a real XB-RC peer
// that receives what XA-RC forwards. ICRC-CTA is in the manifest but not
// running.
type env struct {
	t    *testing.T
	xa   *nodetest.Node
	xb   *nodetest.Node
	base string // http://127.0.0.1:port (no prefix)
	srv  *httptest.Server
	// XB-RC's local API and console, at http://localhost:port: another
	// host name, so that a browser keeps the two nodes' cookies apart.
	xbBase string
	xbSrv  *httptest.Server
}

type envOptions struct {
	console  console.Options
	tls      bool
	delivery *node.DeliveryOptions // XA-RC's; default nodetest's
	dsn      string                // XA-RC's database; default a fresh SQLite file
	// xbStore, when set, wraps XB-RC's store (a test holds XB-RC at a
	// chosen moment).
	xbStore func(store.Store) store.Store
}

func startEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "ICRC-CTA:XC:coordinator")
	f.Member(t, "ICRC-CTA").Endpoint = "https://127.0.0.1:1"
	lnA := nodetest.Listen(t, f.Member(t, "XA-RC"))
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	// XB-RC witnesses XA-RC's audit heads (sent when a test asks:
	// Node.SendAuditHead), so that both sides of the audit page show.
	xbm := f.Member(t, "XB-RC")
	xbm.Accepts = append(xbm.Accepts, federation.KindAuditHead)
	f.Sign(t)
	xa := nodetest.Start(t, f, "XA-RC", lnA, nodetest.Options{Delivery: o.delivery, DSN: o.dsn,
		Tune: func(no *node.Options) { no.AuditHead = node.AuditHeadOptions{Witnesses: []string{"XB-RC"}} }})
	xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{WrapStore: o.xbStore})
	co := o.console
	h := httpapi.NewLocalHandler(xa.Node, httpapi.LocalOptions{Tokens: tokens(), Logger: slog.New(slog.DiscardHandler), Console: &co})
	var srv *httptest.Server
	if o.tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	xbh := httpapi.NewLocalHandler(xb.Node, httpapi.LocalOptions{Tokens: tokens(), Logger: slog.New(slog.DiscardHandler), Console: &console.Options{}})
	xbSrv := httptest.NewServer(xbh)
	t.Cleanup(xbSrv.Close)
	return &env{t: t, xa: xa, xb: xb, base: srv.URL, srv: srv, xbSrv: xbSrv, xbBase: strings.Replace(xbSrv.URL, "127.0.0.1", "localhost", 1)}
}

// browser is an HTTP client with a cookie jar that behaves like a browser
// on the console's own origin (Sec-Fetch-Site: same-origin on posts).
type browser struct {
	t    *testing.T
	e    *env
	c    *http.Client
	lang string
	base string // the console's origin
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := *e.srv.Client() // a copy: each browser has its own cookie jar
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: e.t, e: e, c: &c, base: e.base}
}

// xbBrowser is a browser on XB-RC's console.
func (e *env) xbBrowser() *browser {
	b := e.browser()
	b.base = e.xbBase
	return b
}

type page struct {
	status int
	body   string
	header http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(body), header: resp.Header}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	return b.do(req)
}

// post sends a form as a same-origin browser would.
func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// postBytes sends raw bytes as a same-origin script would, the
// synchronizer token in the X-Flx-Csrf header.
func (b *browser) postBytes(path string, body []byte, csrf string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Origin", b.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if csrf != "" {
		req.Header.Set("X-Flx-Csrf", csrf)
	}
	return b.do(req)
}

// signIn signs in with role's token and checks the redirect.
func (b *browser) signIn(role string) {
	b.t.Helper()
	p := b.post("/console/signin", url.Values{"token": {roleTokens[role]}})
	if p.status != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s: %d\n%s", role, p.status, p.body)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the synchronizer token from a page's form.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	p := b.get(path)
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no csrf token on %s (%d)", path, p.status)
	}
	return m[1]
}

// waitFor polls cond.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	nodetest.WaitFor(t, d, what, cond)
}

// fastDeadLetters gives up after two attempts, so that a forward to the
// member that is not running (ICRC-CTA) is dead-lettered within a second.
var fastDeadLetters = &node.DeliveryOptions{Workers: 2, MaxAttempts: 2, Backoff: backoff.Policy{Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond},
	RequestTimeout: 2 * time.Second, Lease: 10 * time.Second, PollInterval: 100 * time.Millisecond}
