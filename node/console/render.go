package console

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/policy"
)

//go:embed assets
var assetsFS embed.FS

// assetVersion is a digest of the static files, appended to their URLs so
// that browsers may cache them for good.
var assetVersion = func() string {
	h := sha256.New()
	fs.WalkDir(assetsFS, "assets/static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := assetsFS.ReadFile(p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

var funcs = template.FuncMap{
	"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"pathEscape": url.PathEscape,
	"join":       strings.Join,
	"add":        func(a, b int) int { return a + b },
	"str":        func(v any) string { return fmt.Sprint(v) },
	"list": func(xs ...string) []string {
		var out []string
		for _, x := range xs {
			if x != "" {
				out = append(out, x)
			}
		}
		return out
	},
}

// parseTemplates parses layout.html with each page template.
func parseTemplates() (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(assetsFS, "assets/templates/layout.html", "assets/templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	names, err := fs.Glob(assetsFS, "assets/templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := path.Base(n)
		if name == "layout.html" || name == "partials.html" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(assetsFS, n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		out[strings.TrimSuffix(name, ".html")] = t
	}
	return out, nil
}

// staticHandler serves the CSS and JavaScript, gzip-compressed when the
// browser accepts it, cacheable for a year (URLs carry the version).
func staticHandler() http.Handler {
	sub, _ := fs.Sub(assetsFS, "assets/static")
	type asset struct {
		raw, gz []byte
		ctype   string
	}
	files := map[string]asset{}
	fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(sub, p)
		ct := "application/octet-stream"
		switch path.Ext(p) {
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".js":
			ct = "text/javascript; charset=utf-8"
		}
		files[p] = asset{raw: b, gz: gzipBytes(b), ctype: ct}
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("Vary", "Accept-Encoding")
		body := a.raw
		if acceptsGzip(r) {
			h.Set("Content-Encoding", "gzip")
			body = a.gz
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func acceptsGzip(r *http.Request) bool {
	for _, e := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		if strings.TrimSpace(strings.SplitN(e, ";", 2)[0]) == "gzip" {
			return true
		}
	}
	return false
}

// view is what every page template gets: the frame (language, direction,
// navigation, the signed-in person, a masked synchronizer token) and the
// helpers that depend on the language. Page data embeds it.
type view struct {
	lc      *locale
	q       *req
	Title   string
	Prefix  string
	Version string
	User    *Principal
	Nav     []navItem
	Langs   []langOption
	Notice  string // translated message shown on top (a result of the last action)
	Problem string // translated error shown on top
}

type navItem struct {
	Href, Label string
	Current     bool
}

type langOption struct {
	Code, Native string
	Selected     bool
}

// nav lists the pages the role may open; a new section is a line here.
var nav = []struct {
	path, key string
	roles     []string
}{
	{"/cases", "nav.cases", signedIn},
	{"/cases/new", "nav.new_case", caseworker},
	{"/inbox", "nav.inbox", readers},
	{"/matches", "nav.matches", signedIn},
	{"/operator/peers", "nav.peers", operator},
	{"/operator/outbox", "nav.outbox", operator},
	{"/operator/review", "nav.review", operator},
	{"/operator/manifest", "nav.manifest", operator},
	{"/operator/keys", "nav.keys", operator},
	{"/audit", "nav.audit", auditors},
	{"/stats", "nav.stats", auditors},
	{"/admin/tokens", "nav.tokens", admins},
}

func (c *Console) newView(q *req, titleKey string, args ...any) *view {
	v := &view{lc: q.lc, q: q, Title: q.lc.T(titleKey, args...), Prefix: c.o.Prefix, Version: assetVersion}
	if q.se != nil {
		p := q.se.principal
		v.User = &p
		for _, n := range nav {
			if slices.Contains(n.roles, p.Role) {
				href := c.o.Prefix + n.path
				v.Nav = append(v.Nav, navItem{Href: href, Label: q.lc.T(n.key), Current: q.URL.Path == href})
			}
		}
	}
	for _, l := range languages {
		v.Langs = append(v.Langs, langOption{Code: l.code, Native: l.native, Selected: l.code == q.lc.code})
	}
	switch q.URL.Query().Get("done") {
	case "":
	default:
		if k := "done." + q.URL.Query().Get("done"); q.lc.has(k) {
			v.Notice = q.lc.T(k)
		}
	}
	return v
}

// T translates a catalog key.
func (v *view) T(key string, args ...any) string { return v.lc.T(key, args...) }

// Has reports whether the catalog has key.
func (v *view) Has(key string) bool { return v.lc.has(key) }

// Lang and Dir are the html element's attributes.
func (v *view) Lang() string { return v.lc.code }
func (v *view) Dir() string  { return v.lc.Dir() }

// Time renders an instant (empty for zero).
func (v *view) Time(t time.Time) string { return v.lc.dateTime(t) }

// When renders an instant as a time element that console.js shows in the
// reader's time zone; empty for zero.
func (v *view) When(t time.Time) template.HTML {
	if t.IsZero() {
		return ""
	}
	return template.HTML(`<time datetime="` + t.UTC().Format(time.RFC3339) + `" data-ts>` + html.EscapeString(v.lc.dateTime(t)) + `</time>`)
}

// Date renders a partial date.
func (v *view) Date(s string) string { return v.lc.partialDate(s) }

// Num renders an integer with the language's grouping.
func (v *view) Num(n int64) string { return v.lc.number(n) }

// Bytes renders a size in KiB or MiB with the language's digits.
func (v *view) Bytes(n int64) string {
	switch {
	case n >= 1<<20:
		return v.lc.T("size.mib", v.lc.printer.Sprintf("%.1f", float64(n)/(1<<20)))
	case n >= 1<<10:
		return v.lc.T("size.kib", v.lc.number((n+512)>>10))
	}
	return v.lc.T("size.bytes", v.lc.number(n))
}

// URL joins the prefix and a path.
func (v *view) URL(p string) string { return v.Prefix + p }

// Link is the prefix, base, and each segment path-escaped, joined by "/":
// Link("/operator/review", id, 3) = /console/operator/review/XA-RC:1/3.
func (v *view) Link(base string, segs ...any) string {
	out := v.Prefix + base
	for _, s := range segs {
		out += "/" + url.PathEscape(fmt.Sprint(s))
	}
	return out
}

// CaseURL is the page of a case, plus an optional suffix (/edit, ...).
func (v *view) CaseURL(id string, suffix ...string) string {
	return v.Prefix + "/cases/" + url.PathEscape(id) + strings.Join(suffix, "")
}

// Static is the URL of a static file, with its version.
func (v *view) Static(name string) string { return v.Prefix + "/static/" + name + "?v=" + v.Version }

// Can reports whether the signed-in person has one of the roles.
func (v *view) Can(roles ...string) bool { return v.User != nil && slices.Contains(roles, v.User.Role) }

// CSRF is the session's synchronizer token, masked with a fresh pad on
// every page so that compressed answers do not leak it (BREACH).
func (v *view) CSRF() string {
	if v.q.se == nil {
		return ""
	}
	return maskToken(v.q.se.csrf)
}

// LangURL is the current page in another language.
func (v *view) LangURL(code string) string {
	u := *v.q.URL
	qs := u.Query()
	qs.Set("lang", code)
	u.RawQuery = qs.Encode()
	return u.RequestURI()
}

// Path is the current path and query (the switcher keeps the page).
func (v *view) Path() string { return v.q.URL.Path }

func maskToken(tok string) string {
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	pad := make([]byte, len(raw))
	rand.Read(pad)
	out := make([]byte, 0, 2*len(raw))
	out = append(out, pad...)
	for i := range raw {
		out = append(out, raw[i]^pad[i])
	}
	return base64.RawURLEncoding.EncodeToString(out)
}

// unmaskToken reverses maskToken; "" if malformed.
func unmaskToken(s string) string {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 || len(b)%2 != 0 {
		return ""
	}
	n := len(b) / 2
	raw := make([]byte, n)
	for i := 0; i < n; i++ {
		raw[i] = b[i] ^ b[n+i]
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// render executes a page template into a buffer (a template error never
// sends half a page), then writes it, gzip-compressed when accepted.
func (c *Console) render(w http.ResponseWriter, q *req, status int, page string, data any) {
	t, ok := c.pages[page]
	if !ok {
		c.log.Error("console: no such template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		c.log.Error("console: template failed", "page", page, "err", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Vary", "Accept-Encoding, Accept-Language, Cookie")
	h.Set("Content-Language", q.lc.code)
	body := buf.Bytes()
	if acceptsGzip(q.Request) && len(body) > 1024 {
		body = gzipBytes(body)
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// errorPage renders a page with a translated message and the status.
func (c *Console) errorPage(w http.ResponseWriter, q *req, status int, key string, args ...any) {
	v := c.newView(q, "error.title")
	v.Problem = q.lc.T(key, args...)
	c.render(w, q, status, "error", struct {
		*view
		Status int
	}{v, status})
}

// decisionView is a policy decision with the page's helpers, for the
// "decision" template.
type decisionView struct {
	*view
	D policy.Decision
}

// WithDecision pairs a decision with the view for the "decision" template.
func (v *view) WithDecision(d policy.Decision) decisionView { return decisionView{v, d} }

// RuleTitle is a rule's plain-words title ("" for a rule the catalog does
// not know: custom rules show their own reason only).
func (v *view) RuleTitle(id string) string {
	if v.lc.has("rule." + id) {
		return v.lc.T("rule." + id)
	}
	return ""
}

// Field names a JSON pointer of the case in words.
func (v *view) Field(ptr string) string { return fieldPath(v.lc, ptr) }

// Label translates a value with a catalog prefix, falling back to the value.
func (v *view) Label(prefix, value string) string {
	if v.lc.has(prefix + value) {
		return v.lc.T(prefix + value)
	}
	return value
}
