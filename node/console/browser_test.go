package console_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/store"
)

var update = flag.Bool("update", false, "write the screenshots of docs/console/")

// chromiumPath finds Debian's Chromium. Without it the browser tests skip,
// unless FLX_REQUIRE_BROWSER=1 or CI is set (then they fail).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("FLX_REQUIRE_BROWSER") == "1" || os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (apt-get install chromium); FLX_REQUIRE_BROWSER=1 or CI makes this a failure")
	}
	t.Skip("chromium is not installed: browser tests skipped (apt-get install chromium)")
	return ""
}

// tab is one headless Chromium tab with what the page reported: Content
// Security Policy violations and uncaught script errors.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
	mu   sync.Mutex
	csp  []string
	errs []string
	// spent is the time taken by the accessibility checks and the
	// screenshots (logged: where a slow run goes).
	spent map[string]time.Duration
	// sessions are the session cookies of each sign-in (by base and role).
	sessions map[string][]*network.CookieParam
	typed    bool // a token was typed in the sign-in form
}

// took adds the time since start to what kind of work took.
func (tb *tab) took(kind string, start time.Time) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.spent == nil {
		tb.spent = map[string]time.Duration{}
	}
	tb.spent[kind] += time.Since(start)
}

func startBrowser(t *testing.T, base string) *tab {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// The recorder's camera and microphone: Chromium's fake devices,
		// granted without a prompt.
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 6*time.Minute) // a hang guard: the machine may be loaded
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	tb := &tab{t: t, ctx: ctx, base: base}
	// Subscribe before enabling the domains, so that nothing is missed.
	entries := chromedp.Events(ctx, log.EntryAdded)
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			if ev.Entry != nil && strings.Contains(ev.Entry.Text, "Content Security Policy") {
				tb.mu.Lock()
				tb.csp = append(tb.csp, ev.Entry.Text)
				tb.mu.Unlock()
			}
		}
	}()
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			tb.mu.Lock()
			if ev.ExceptionDetails != nil {
				tb.errs = append(tb.errs, ev.ExceptionDetails.Text)
			}
			tb.mu.Unlock()
		}
	}()
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	return tb
}

// stepTimeout bounds one step in the browser, so that a step that never
// ends fails at its line rather than at the whole test's hang guard.
const stepTimeout = 90 * time.Second

func (tb *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(tb.ctx, stepTimeout)
}

func (tb *tab) run(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatal(err)
	}
}

// clickAndLoad clicks and waits for the page the click loads.
func (tb *tab) clickAndLoad(sel string) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(cdppage.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		tb.t.Fatal(err)
	}
}

func (tb *tab) value(sel string) string {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatal(err)
	}
	return v
}

func (tb *tab) location() string {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		tb.t.Fatal(err)
	}
	return v
}

func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.run(chromedp.Navigate(tb.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatal(err)
	}
	return strings.TrimSpace(s)
}

// eval runs js in the page (awaiting a promise) and decodes its JSON
// result into out (nil: ignored).
func (tb *tab) eval(js string, out any) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			tb.t.Fatalf("eval result %s: %v", raw, err)
		}
	}
}

// media waits until the player sel knows its recording's metadata and
// returns its readyState and duration; it fails with the element's state
// after 30 s or on a media error.
func (tb *tab) media(sel string) (ready int, duration float64) {
	tb.t.Helper()
	var r struct {
		Ready    int     `json:"ready"`
		Duration float64 `json:"duration"`
	}
	tb.eval(fmt.Sprintf(`new Promise((ok, fail) => {
		const m = document.querySelector(%q);
		if (!m) return fail('no player');
		const done = () => ok({ready: m.readyState, duration: isFinite(m.duration) ? m.duration : -1});
		if (m.readyState >= 1) return done();
		m.addEventListener('loadedmetadata', done);
		m.addEventListener('error', () => fail('media error ' + (m.error && m.error.code)));
		setTimeout(() => fail('no metadata after 30 s: readyState ' + m.readyState + ', networkState ' + m.networkState), 30000);
		if (m.networkState === HTMLMediaElement.NETWORK_EMPTY) m.load();
	})`, sel), &r)
	return r.Ready, r.Duration
}

// signIn signs in to the console at tb.base with role's token, typed in
// the sign-in form the first time; later, the session that sign-in opened
// is put back in the cookie jar (sessions stay open until they expire),
// which spares the typing. The page is left as it was: open one next.
func (tb *tab) signIn(role string) {
	tb.t.Helper()
	defer tb.took("sign-in", time.Now())
	if _, err := chromedp.Call(tb.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		tb.t.Fatal(err)
	}
	key := tb.base + " " + role
	if jar, ok := tb.sessions[key]; ok {
		if _, err := chromedp.Call(tb.ctx, network.SetCookies, network.SetCookiesParams{Cookies: jar}); err != nil {
			tb.t.Fatal(err)
		}
		return
	}
	tb.open("/console/signin")
	fill := chromedp.SetValue(chromedp.ID("token"), roleTokens[role])
	if !tb.typed { // the first sign-in is typed key by key
		fill, tb.typed = chromedp.SendKeys(chromedp.ID("token"), roleTokens[role]), true
	}
	tb.run(fill,
		chromedp.Click(chromedp.CSS("form.signin button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("nav")),
	)
	got, err := chromedp.Call(tb.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{tb.base + "/console/"}})
	if err != nil {
		tb.t.Fatal(err)
	}
	var jar []*network.CookieParam
	for _, c := range got.Cookies {
		if c.HTTPOnly && c.Name != "flx_lang" {
			jar = append(jar, &network.CookieParam{Name: c.Name, Value: c.Value, URL: tb.base + "/", Path: c.Path,
				Secure: c.Secure, HTTPOnly: c.HTTPOnly, SameSite: c.SameSite})
		}
	}
	if len(jar) == 0 {
		tb.t.Fatalf("no session cookie after signing in as %s", role)
	}
	if tb.sessions == nil {
		tb.sessions = map[string][]*network.CookieParam{}
	}
	tb.sessions[key] = jar
}

// shot takes a screenshot of the viewport; with -update it is written to
// docs/console/<name>.png.
func (tb *tab) shot(name string) {
	tb.t.Helper()
	defer tb.took("screenshots", time.Now())
	buf, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatal(err)
	}
	if w, err := pngWidth(buf); err != nil || w < 800 {
		tb.t.Fatalf("screenshot %s: %d pixels wide, %v", name, w, err)
	}
	if *update {
		if _, err := png.Decode(bytes.NewReader(buf)); err != nil {
			tb.t.Fatalf("screenshot %s: %v", name, err)
		}
		dir := filepath.Join("..", "..", "docs", "console")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
			tb.t.Fatal(err)
		}
	}
}

// pngWidth checks that b is a whole PNG file (the signature, an IHDR
// first, every chunk's CRC, image data, IEND last) and returns its width.
// It reads no pixel: under the race detector image/png takes a second or
// more per screenshot, and the journey takes twenty.
func pngWidth(b []byte) (int, error) {
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		return 0, errors.New("not a PNG")
	}
	b = b[8:]
	width, idat := 0, false
	for i := 0; ; i++ {
		if len(b) < 12 {
			return 0, errors.New("truncated before IEND")
		}
		n := int(binary.BigEndian.Uint32(b))
		if n > len(b)-12 {
			return 0, fmt.Errorf("chunk %q of %d bytes past the end", b[4:8], n)
		}
		typ, data := string(b[4:8]), b[8:8+n]
		if crc32.ChecksumIEEE(b[4:8+n]) != binary.BigEndian.Uint32(b[8+n:]) {
			return 0, fmt.Errorf("chunk %q: bad CRC", typ)
		}
		b = b[12+n:]
		switch {
		case i == 0 && (typ != "IHDR" || n != 13):
			return 0, fmt.Errorf("first chunk %q, want IHDR", typ)
		case i == 0:
			width = int(binary.BigEndian.Uint32(data))
		case typ == "IDAT":
			idat = true
		case typ == "IEND":
			if len(b) != 0 || !idat {
				return 0, fmt.Errorf("IEND with %d bytes after it, image data %t", len(b), idat)
			}
			return width, nil
		}
	}
}

// axeSource is the vendored axe-core, read once.
var axeSource = sync.OnceValues(func() ([]byte, error) { return os.ReadFile("testdata/axe/axe.min.js") })

// axe runs the vendored axe-core (injected by the test only, never served)
// on the current page for WCAG 2.1 A and AA and returns the violations.
func (tb *tab) axe() []string {
	tb.t.Helper()
	defer tb.took("axe-core", time.Now())
	src, err := axeSource()
	if err != nil {
		tb.t.Fatal(err)
	}
	var loaded bool
	t0 := time.Now()
	tb.eval(string(src)+";typeof axe === 'object'", &loaded)
	tb.took("axe-inject", t0)
	if !loaded {
		tb.t.Fatal("axe-core did not load")
	}
	var res []struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Nodes  []struct {
			Target []any `json:"target"`
		} `json:"nodes"`
	}
	tb.eval(`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']}).then(r => r.violations)`, &res)
	var out []string
	for _, v := range res {
		var targets []string
		for _, n := range v.Nodes {
			targets = append(targets, fmt.Sprint(n.Target))
		}
		out = append(out, fmt.Sprintf("%s (%s) at %s", v.ID, v.Impact, strings.Join(targets, ", ")))
	}
	return out
}

func (tb *tab) takeCSP() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	out := tb.csp
	tb.csp = nil
	return out
}

// TestBrowser drives the console in Debian's headless Chromium against a
// real node: the caseworker's journey through the generated form, the
// dry run and the forward; roles; the operator's pages; Arabic right to
// left; accessibility (axe-core and keyboard focus); CSP and CSRF.
func TestBrowser(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{delivery: fastDeadLetters})
	tb := startBrowser(t, e.base)
	start := time.Now()
	a11y := map[string][]string{}
	check := func(name string) {
		if v := tb.axe(); len(v) > 0 {
			a11y[name] = v
		}
	}

	var caseID string
	t.Run("caseworker creates, checks and forwards a case", func(t *testing.T) {
		tb.t = t
		tb.signIn(console.RoleCaseworker)
		if h1 := tb.text("h1"); h1 != "Cases" {
			t.Fatalf("after sign-in: %q", h1)
		}
		tb.shot("signed-in-cases")
		tb.open("/console/cases/new")
		check("new case form")
		tb.run(
			chromedp.SendKeys(chromedp.ID("f-persons-0-names-0-value"), "Amira Haddad"),
			chromedp.SendKeys(chromedp.ID("f-persons-0-birth_date-y"), "1961"),
			chromedp.SendKeys(chromedp.ID("f-persons-1-names-0-value"), "يوسف حداد"),
			chromedp.SendKeys(chromedp.ID("f-persons-1-birth_date-y"), "1994"),
			chromedp.SetValue(chromedp.ID("f-persons-1-birth_date-m"), "3"),
		)
		script := tb.value("#f-persons-1-names-0-script")
		if script != "Arab" {
			t.Errorf("the script of an Arabic name was guessed as %q", script)
		}
		// Add a consent: a round trip that keeps what was typed.
		tb.clickAndLoad(`button[value="add:/consents"]`)
		kept := tb.value("#f-persons-1-names-0-value")
		if kept != "يوسف حداد" {
			t.Fatalf("adding a consent lost the name: %q", kept)
		}
		tb.run(
			chromedp.SetValue(chromedp.ID("f-legal_basis-type"), "consent"),
			chromedp.SetValue(chromedp.ID("f-consents-0-given_by"), "p1"),
			chromedp.SetValue(chromedp.ID("f-consents-0-capacity"), "self"),
			chromedp.SetValue(chromedp.ID("f-consents-0-given_at"), "2025-01-01T10:00"),
			chromedp.SetValue(chromedp.ID("f-consents-0-scope-uses"), "tracing\ntransfer"),
		)
		tb.shot("case-form")
		tb.clickAndLoad(`form.case-form button.primary`)
		loc := tb.location()
		m := caseIDRE.FindStringSubmatch(loc)
		if m == nil {
			t.Fatalf("after save: %s", loc)
		}
		caseID = m[1]
		first := tb.text("ul.dests li:first-child")
		if !strings.Contains(first, "XB-RC") || !strings.Contains(first, "Allowed") {
			t.Fatalf("dry run for XB-RC: %q", first)
		}
		check("send page")
		tb.shot("send-dry-run")
		tb.clickAndLoad("ul.dests li:first-child form button")
		if n := tb.text("p.notice"); !strings.Contains(n, "queued") {
			t.Fatalf("after forward: %q", n)
		}
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(tb.text("#deliveries"), "XB-RC") {
			if time.Now().After(deadline) {
				t.Fatal("XB-RC never shows as recipient")
			}
			time.Sleep(200 * time.Millisecond)
			tb.open("/console/cases/" + caseID)
		}
		// Times are shown by console.js in the reader's zone (the server's
		// UTC text moves to the title).
		var localized bool
		tb.eval(`(() => { const t = document.querySelector('time[data-ts]'); return !!t && t.title !== '' && t.textContent !== t.title })()`, &localized)
		if !localized {
			t.Error("times were not localized by console.js")
		}
		check("case page")
		tb.shot("case")
	})

	t.Run("the answer from the second node arrives in the case's thread", func(t *testing.T) {
		tb.t = t
		// XB-RC's caseworker answers in XB-RC's own console: the
		// response travels signed over mTLS back to XA-RC.
		waitFor(t, 15*time.Second, "XB-RC to hold the case", func() bool {
			_, err := e.xb.Store.GetCase(context.Background(), caseID)
			return err == nil
		})
		tb.base = e.xbBase
		tb.signIn(console.RoleCaseworker)
		tb.open("/console/cases/" + caseID)
		tb.clickAndLoad(`a[href$="/respond"]`)
		check("answer form (XB-RC)")
		tb.run(chromedp.SetValue(chromedp.ID("outcome"), "located"),
			chromedp.SendKeys(chromedp.ID("message"), "Youssef was visited and is well. He agreed that his mother be told where he is."))
		tb.shot("respond")
		tb.clickAndLoad("form.respond button.primary")
		if n := tb.text("p.notice"); !strings.Contains(n, "answer is queued") {
			t.Fatalf("after answering: %q", n)
		}
		tb.base = e.base
		tb.signIn(console.RoleCaseworker)
		deadline := time.Now().Add(20 * time.Second)
		for tb.open("/console/cases/" + caseID); !strings.Contains(tb.text("#h-thread + ol"), "response received from XB-RC"); tb.open("/console/cases/" + caseID) {
			if time.Now().After(deadline) {
				t.Fatalf("the response never shows in the thread: %q", tb.text("main"))
			}
			time.Sleep(200 * time.Millisecond)
		}
		th := tb.text("#h-thread + ol")
		for _, want := range []string{"Version 1 recorded", "Data-protection decision for XB-RC", "new case sent to XB-RC", "delivered", "signed receipt",
			"Outcome: located", "Youssef was visited and is well."} {
			if !strings.Contains(th, want) {
				t.Errorf("thread lacks %q:\n%s", want, th)
			}
		}
		if strings.Index(th, "new case sent to XB-RC") > strings.Index(th, "response received from XB-RC") {
			t.Errorf("thread is not in time order:\n%s", th)
		}
		check("case thread")
		tb.run(chromedp.ScrollIntoView(chromedp.ID("h-thread")))
		tb.shot("case-thread")
	})

	t.Run("search across scripts, the inbox's answer, a match compared and confirmed", func(t *testing.T) {
		tb.t = t
		browseMatches(t, e, tb, check, caseID)
	})

	t.Run("a recorded voice message plays in the browser", func(t *testing.T) {
		tb.t = t
		sum := attach(t, e.xa.Node, caseID, wav(1), "audio/wav")
		tb.open("/console/cases/" + caseID)
		tb.clickAndLoad(`a[href$="/media/` + sum + `"]`)
		_, dur := tb.media("audio")
		if dur < 0.9 || dur > 1.1 {
			t.Errorf("the browser reads a %v s recording, want 1 s", dur)
		}
		check("player")
		tb.shot("player")
		// Sent to XB-RC as a voice message: the recording travels first,
		// and XB-RC's caseworker plays it in XB-RC's console.
		if d := tb.value("#duration"); d != "1.0" {
			t.Errorf("duration filled in as %q", d)
		}
		tb.clickAndLoad("form.send-media button.primary")
		if n := tb.text("p.notice"); !strings.Contains(n, "message is queued") {
			t.Fatalf("after sending the recording: %q", n)
		}
		tb.base = e.xbBase
		tb.signIn(console.RoleCaseworker)
		deadline := time.Now().Add(20 * time.Second)
		for tb.open("/console/cases/" + caseID); !strings.Contains(tb.text("main"), "received from XA-RC"); tb.open("/console/cases/" + caseID) {
			if time.Now().After(deadline) {
				t.Fatalf("XB-RC never lists the recording: %q", tb.text("main"))
			}
			time.Sleep(300 * time.Millisecond)
		}
		tb.clickAndLoad(`a[href$="/media/` + sum + `"]`)
		_, dur = tb.media("audio")
		if dur < 0.9 || dur > 1.1 {
			t.Errorf("XB-RC's browser reads a %v s recording, want 1 s", dur)
		}
		tb.base = e.base
		tb.signIn(console.RoleCaseworker)
	})

	t.Run("a video message is recorded in the browser and kept on the case", func(t *testing.T) {
		tb.t = t
		tb.open("/console/cases/" + caseID + "/record")
		check("recorder")
		tb.run(chromedp.Click(chromedp.ID("rec-start")))
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(tb.text("#rec-status"), "Recording") {
			if time.Now().After(deadline) {
				t.Fatalf("recording never started: %q", tb.text("#rec-status"))
			}
			time.Sleep(100 * time.Millisecond)
		}
		tb.shot("record")
		time.Sleep(1500 * time.Millisecond)
		tb.run(chromedp.Click(chromedp.ID("rec-stop")))
		for !strings.Contains(tb.location(), "/media/") {
			if time.Now().After(deadline.Add(15 * time.Second)) {
				t.Fatalf("the recording was not kept: %q", tb.text("#rec-status"))
			}
			time.Sleep(200 * time.Millisecond)
		}
		tb.run(chromedp.WaitReady(chromedp.CSS("video.player")))
		ready, _ := tb.media("video.player")
		if ready < 1 || !strings.Contains(tb.text("main"), "Video message") {
			t.Errorf("the recorded video does not play (readyState %d): %q", ready, tb.text("main"))
		}
		// Sent to XB-RC as a video message, it arrives in XB-RC's inbox,
		// where XB-RC's caseworker plays it.
		tb.run(chromedp.SetValue(chromedp.ID("duration"), "1.5"))
		tb.clickAndLoad("form.send-media button.primary")
		if n := tb.text("p.notice"); !strings.Contains(n, "message is queued") {
			t.Fatalf("after sending the video: %q", n)
		}
		var video store.InboxItem
		waitFor(t, 20*time.Second, "the video message at XB-RC", func() bool {
			its, _ := e.xb.Store.ListInbox(context.Background(), store.InboxFilter{Kind: "message.deliver", State: "processed"})
			if len(its) < 2 { // the voice message, then the video
				return false
			}
			for _, it := range its {
				if it.ID > video.ID {
					video = it
				}
			}
			return true
		})
		tb.base = e.xbBase
		tb.signIn(console.RoleCaseworker)
		tb.open("/console/inbox")
		check("inbox (XB-RC)")
		tb.shot("inbox")
		tb.open("/console/inbox/" + strconv.FormatInt(video.ID, 10))
		ready, _ = tb.media("video.player")
		if got := tb.text("main"); ready < 1 || !strings.Contains(got, "Video message") || !strings.Contains(got, "XA-RC") {
			t.Errorf("XB-RC's inbox item does not play the video (readyState %d):\n%s", ready, got)
		}
		check("received video message")
		tb.shot("inbox-video")
		tb.base = e.base
		tb.signIn(console.RoleCaseworker)
	})

	t.Run("a caseworker cannot open operator pages", func(t *testing.T) {
		tb.t = t
		for _, p := range []string{"/console/operator/peers", "/console/operator/outbox", "/console/operator/review", "/console/operator/manifest", "/console/operator/keys", "/console/audit", "/console/stats", "/console/admin/tokens"} {
			tb.open(p)
			loc := tb.location()
			if !strings.HasSuffix(loc, p) || !strings.Contains(tb.text("main"), "Your role may not open this page") {
				t.Errorf("%s: at %s showing %q", p, loc, tb.text("main"))
			}
			var navHasOperator bool
			tb.eval(`!!document.querySelector('nav a[href$="/operator/peers"]')`, &navHasOperator)
			if navHasOperator {
				t.Errorf("%s: the caseworker's menu offers operator pages", p)
			}
		}
		tb.shot("forbidden")
	})

	t.Run("forms without the session's token are refused", func(t *testing.T) {
		tb.t = t
		tb.open("/console/cases/" + caseID)
		var status int
		tb.eval(`fetch('/console/cases/`+caseID+`/withdraw', {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'reason=consent_withdrawn&confirm=yes'}).then(r => r.status)`, &status)
		if status != http.StatusForbidden {
			t.Errorf("same-origin post without token: %d", status)
		}
		// A page of another site posts the withdrawal form: no session
		// cookie travels (SameSite=Strict), and the origin check refuses.
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, `<!doctype html><html lang="en"><title>x</title><form method="post" action="%s/console/cases/%s/withdraw"><input name="reason" value="consent_withdrawn"><input name="confirm" value="yes"><button id="go">go</button></form></html>`, e.base, caseID)
		}))
		defer evil.Close()
		evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
		tb.run(chromedp.Navigate(evilURL), chromedp.WaitReady(chromedp.ID("go")))
		tb.clickAndLoad("#go")
		c, err := e.xa.Store.GetCase(context.Background(), caseID)
		if err != nil || c.Erased() {
			t.Fatalf("a cross-site form withdrew the case (err %v)", err)
		}
	})

	t.Run("operator pages render", func(t *testing.T) {
		tb.t = t
		// XB-RC witnesses XA-RC's audit log: a head signed and
		// acknowledged before the audit page is opened.
		if n, err := e.xa.Node.SendAuditHead(context.Background()); err != nil || n != 1 {
			t.Fatalf("SendAuditHead: %d %v", n, err)
		}
		waitFor(t, 15*time.Second, "XB-RC to acknowledge the audit head", func() bool {
			sent, _ := node.SentAuditHeads(context.Background(), e.xa.Store, "XA-RC", "XB-RC")
			return len(sent) == 1 && sent[0].Acknowledged
		})
		// Give the operator something to do: a forward held for review
		// and one dead-lettered (ICRC-CTA is not running).
		cw := e.browser()
		cw.signIn(console.RoleCaseworker)
		held := cw.post("/console/cases/new", heldCaseForm(cw.csrf("/console/cases/new")))
		heldID := caseIDRE.FindStringSubmatch(held.header.Get("Location"))[1]
		cw.post("/console/cases/"+heldID+"/forward", url.Values{"csrf": {cw.csrf("/console/cases")}, "to": {"XB-RC"}})
		cw.post("/console/cases/"+caseID+"/forward", url.Values{"csrf": {cw.csrf("/console/cases")}, "to": {"ICRC-CTA"}})
		waitFor(t, 10*time.Second, "a dead letter", func() bool {
			rows, _ := e.xa.Store.ListOutbox(context.Background(), store.OutboxFilter{State: store.Dead})
			return len(rows) > 0
		})
		tb.signIn(console.RoleOperator)
		pages := []struct{ path, h1, shot string }{
			{"/console/operator/peers", "Peers and delivery", "operator-peers"},
			{"/console/operator/outbox", "Outbox", "operator-dead-letters"},
			{"/console/operator/review", "Transfers waiting for review", "operator-review"},
			{"/console/operator/manifest", "Federation manifest", "operator-manifest"},
			{"/console/operator/keys", "Certificates and keys", "operator-keys"},
			{"/console/audit", "Audit log", "operator-audit"},
			{"/console/stats", "Activity statistics", "stats"},
			{"/console/inbox", "Inbox", ""},
		}
		for _, p := range pages {
			tb.open(p.path)
			if h := tb.text("h1"); h != p.h1 {
				t.Errorf("%s: h1 %q, want %q", p.path, h, p.h1)
			}
			check(p.path)
			if p.shot != "" {
				tb.shot(p.shot)
			}
		}
		if !strings.Contains(tb.textOf("/console/operator/review", "main"), "FLX-DP-MINOR-GUARDIAN") {
			t.Error("review page does not show the held forward")
		}
		if !strings.Contains(tb.textOf("/console/operator/outbox", "main"), "ICRC-CTA") {
			t.Error("dead letters page does not show the forward to ICRC-CTA")
		}
		if !strings.Contains(tb.textOf("/console/operator/peers", "main"), "XB-RC") {
			t.Error("peers page does not list XB-RC")
		}
		if a := tb.textOf("/console/audit", "main"); !strings.Contains(a, "is intact") || !strings.Contains(a, "The log holds this head") {
			t.Errorf("audit page does not report an intact chain holding XB-RC's witnessed head:\n%s", a)
		}
		// The operator's journey: approve the held forward with a note,
		// see it delivered to XB-RC; put the dead letter back in the queue.
		tb.open("/console/operator/review")
		tb.run(chromedp.SendKeys(chromedp.CSS("ul.dests textarea"), "Guardian's consent checked by phone."))
		tb.clickAndLoad(`ul.dests button[value="approve"]`)
		if n := tb.text("p.notice"); !strings.Contains(n, "Approved") {
			t.Errorf("after approval: %q", n)
		}
		waitFor(t, 15*time.Second, "the approved case at XB-RC", func() bool {
			_, err := e.xb.Store.GetCase(context.Background(), heldID)
			return err == nil
		})
		tb.open("/console/operator/outbox?state=dead")
		tb.clickAndLoad("table.list form button")
		if n := tb.text("p.notice"); !strings.Contains(n, "back in the queue") {
			t.Errorf("after requeue: %q", n)
		}
	})

	t.Run("the admin creates and revokes a personal token", func(t *testing.T) {
		tb.t = t
		tb.signIn(console.RoleAdmin)
		tb.open("/console/admin/tokens")
		check("tokens page")
		tb.run(chromedp.SendKeys(chromedp.ID("person"), "cw-farah"), chromedp.SetValue(chromedp.ID("role"), "caseworker"))
		tb.clickAndLoad("form.stack button.primary")
		secret := tb.text("#new-secret")
		if !strings.HasPrefix(secret, "flxp_") {
			t.Fatalf("no new secret shown: %q", tb.text("main"))
		}
		check("tokens page with a new secret")
		// The screenshot does not show a working secret.
		tb.eval(`(() => { document.getElementById('new-secret').textContent = 'flxp_…'; return true })()`, nil)
		tb.shot("tokens")
		tb.open("/console/admin/tokens?lang=ar")
		check("tokens page (ar)")
		tb.clickAndLoad("table.list form button.danger")
		if got := tb.text("table.list"); !strings.Contains(got, "مُبطَل") {
			t.Errorf("after revoking, in Arabic: %q", got)
		}
		tb.open("/console/admin/tokens?lang=en")
	})

	t.Run("Arabic is laid out right to left", func(t *testing.T) {
		tb.t = t
		tb.signIn(console.RoleCaseworker)
		tb.open("/console/cases/" + caseID + "?lang=ar")
		var dir struct {
			Attr, Body string
			NavFirst   float64 `json:"navFirst"`
			NavLast    float64 `json:"navLast"`
		}
		tb.eval(`(() => { const a = document.querySelectorAll('nav li'); return {Attr: document.documentElement.dir, Body: getComputedStyle(document.body).direction,
			navFirst: a[0].getBoundingClientRect().left, navLast: a[a.length-1].getBoundingClientRect().left} })()`, &dir)
		if dir.Attr != "rtl" || dir.Body != "rtl" || !(dir.NavFirst > dir.NavLast) {
			t.Fatalf("Arabic page: %+v (first menu item must be right of the last)", dir)
		}
		if h := tb.text("h1"); !strings.HasPrefix(h, "الحالة") {
			t.Errorf("Arabic h1 %q", h)
		}
		check("case page (ar)")
		tb.shot("case-ar")
		tb.open("/console/cases/new")
		tb.shot("case-form-ar")
		// The charts run right to left too: the latest month is leftmost.
		tb.signIn(console.RoleOperator)
		tb.open("/console/stats?lang=ar")
		var bars struct{ First, Last float64 }
		tb.eval(`(() => { const r = document.querySelectorAll('figure.chart')[5].querySelectorAll('rect'); return {First: r[0].getBoundingClientRect().left, Last: r[r.length-1].getBoundingClientRect().left} })()`, &bars)
		if !(bars.First > bars.Last) {
			t.Errorf("Arabic chart bars: first month at %v, last at %v (want the first on the right)", bars.First, bars.Last)
		}
		check("statistics (ar)")
		tb.shot("stats-ar")
		tb.signIn(console.RoleCaseworker)
		tb.open("/console/cases?lang=en")
	})

	t.Run("keyboard: the first Tab reaches the skip link, focus is visible", func(t *testing.T) {
		tb.t = t
		tb.open("/console/cases")
		tb.run(chromedp.KeyEvent(kb.Tab))
		var f struct{ Class, Outline string }
		tb.eval(`(() => { const el = document.activeElement; return {Class: el.className, Outline: getComputedStyle(el).outlineStyle} })()`, &f)
		if f.Class != "skip" || f.Outline == "none" {
			t.Fatalf("first Tab: %+v", f)
		}
		tb.run(chromedp.KeyEvent(kb.Enter))
		var active string
		tb.eval(`document.activeElement.id`, &active)
		if active != "main" {
			t.Fatalf("the skip link moved focus to %q", active)
		}
		tb.open("/console/signin")
		check("sign-in page")
		// The checker is not vacuous: an unlabelled control is reported.
		tb.eval(`(() => { document.querySelector('main').insertAdjacentHTML('beforeend', '<input id="unlabelled">'); return true })()`, nil)
		found := false
		for _, v := range tb.axe() {
			found = found || strings.HasPrefix(v, "label ")
		}
		if !found {
			t.Fatal("axe-core did not report an input without a label")
		}
	})

	t.Run("no Content Security Policy violation, and the detector works", func(t *testing.T) {
		tb.t = t
		if v := tb.takeCSP(); len(v) > 0 {
			t.Fatalf("CSP violations on console pages: %v", v)
		}
		tb.mu.Lock()
		errs := tb.errs
		tb.mu.Unlock()
		if len(errs) > 0 {
			t.Errorf("script errors: %v", errs)
		}
		tb.open("/console/cases")
		tb.eval(`(() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1'; document.body.appendChild(s); return true })()`, nil)
		var injected bool
		tb.eval(`window.injected === 1`, &injected)
		deadline := time.Now().Add(5 * time.Second)
		var reported []string
		for len(reported) == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			reported = tb.takeCSP()
		}
		if injected || len(reported) == 0 {
			t.Fatalf("an injected inline script ran (%v) or was not reported", injected)
		}
	})

	t.Run("the caseworker withdraws and sees the confirmations arrive", func(t *testing.T) {
		tb.t = t
		tb.signIn(console.RoleCaseworker)
		tb.open("/console/cases/" + caseID + "/withdraw")
		check("withdraw page")
		tb.run(chromedp.SetValue(chromedp.ID("reason"), "consent_withdrawn"), chromedp.Click(chromedp.ID("confirm")))
		tb.clickAndLoad("form button.danger")
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(tb.text("#h-thread + ol"), "XB-RC confirmed the erasure") {
			if time.Now().After(deadline) {
				t.Fatalf("no confirmation from XB-RC: %q", tb.text("main"))
			}
			time.Sleep(300 * time.Millisecond)
			tb.open("/console/cases/" + caseID)
		}
		if p := tb.text("#progress"); !strings.Contains(p, "Erasure confirmed by 1 of 1 recipients") {
			t.Errorf("progress: %q", p)
		}
		th := tb.text("#h-thread + ol")
		for _, want := range []string{"Case withdrawn", "withdrawal sent to XB-RC"} {
			if !strings.Contains(th, want) {
				t.Errorf("thread lacks %q:\n%s", want, th)
			}
		}
		if _, err := e.xb.Store.GetCase(context.Background(), caseID); err == nil {
			if c, _ := e.xb.Store.GetCase(context.Background(), caseID); !c.Erased() {
				t.Error("XB-RC confirmed but still holds the case")
			}
		}
		check("withdrawn case")
		tb.shot("case-withdrawn")
	})

	t.Run("a case's candidates say how many more are past the bound", func(t *testing.T) {
		tb.t = t
		browseMatchesPast(t, e, tb, check)
	})

	if len(a11y) > 0 {
		b, _ := json.MarshalIndent(a11y, "", "  ")
		t.Errorf("accessibility violations (axe-core, WCAG 2.1 A/AA):\n%s", b)
	}
	if _, err := e.xa.Store.GetCase(context.Background(), caseID); err != nil {
		t.Fatal(err)
	}
	if rows, _ := e.xa.Store.ListAudit(context.Background(), store.AuditFilter{Action: "case.read"}); len(rows) == 0 {
		t.Error("the browser's case reads were not audited")
	}
	t.Logf("browser tests took %s; of which %v", time.Since(start).Round(time.Millisecond), tb.spent)
}

func (tb *tab) textOf(path, sel string) string {
	tb.t.Helper()
	tb.open(path)
	return tb.text(sel)
}

// pngWidth takes a screenshot of docs/console whole, and refuses it cut
// short, with a byte changed, or with anything after its end.
func TestPNGWidth(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "console", "case.png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if w, err := pngWidth(b); err != nil || w != img.Bounds().Dx() {
		t.Fatalf("pngWidth = %d, %v; want %d", w, err, img.Bounds().Dx())
	}
	flipped := bytes.Clone(b)
	flipped[len(b)/2] ^= 1
	for name, bad := range map[string][]byte{"cut short": b[:len(b)-20], "a byte changed": flipped,
		"bytes after IEND": append(bytes.Clone(b), 0), "not a PNG": []byte("GIF89a")} {
		if w, err := pngWidth(bad); err == nil {
			t.Errorf("%s: pngWidth = %d, no error", name, w)
		}
	}
}
