package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/familylinks/flx/node"
)

// Role sets of routes. They mirror the local API's table for the call each
// page makes (node/httpapi): a page never shows a role what its API call
// would refuse.
var (
	anyone     []string // no session needed
	signedIn   = []string{RoleCaseworker, RoleOperator, RoleAuditor}
	caseworker = []string{RoleCaseworker}
	operator   = []string{RoleOperator}
	readers    = []string{RoleCaseworker, RoleOperator}
	auditors   = []string{RoleOperator, RoleAuditor}
)

// route is one page or action. POST routes are actions: they check the
// session's synchronizer token, then redirect (303) or render a page.
type route struct {
	method string
	path   string // below the prefix, net/http pattern syntax
	roles  []string
	h      func(w http.ResponseWriter, q *req)
}

// binaryRoutes take a body that is not a form (a piece of a recording):
// their synchronizer token comes in the csrfHeader header instead.
var binaryRoutes = map[string]bool{"/cases/{id}/record/{uid}": true}

// csrfHeader carries the synchronizer token of a script's binary upload.
const csrfHeader = "X-Flx-Csrf"

// routeTable is every console route with the roles allowed. A new page is
// one line here, one handler and one template (see README in this folder).
func (c *Console) routeTable() []route {
	return append([]route{
		{"GET", "/{$}", signedIn, c.home},
		{"GET", "/signin", anyone, c.signinPage},
		{"POST", "/signin", anyone, c.signin},
		{"POST", "/signout", signedIn, c.signout},

		{"GET", "/cases", signedIn, c.casesPage},
		{"GET", "/cases/new", caseworker, c.newCasePage},
		{"POST", "/cases/new", caseworker, c.createCase},
		{"GET", "/cases/{id}", signedIn, c.casePage},
		{"GET", "/cases/{id}/edit", caseworker, c.editCasePage},
		{"POST", "/cases/{id}/edit", caseworker, c.updateCase},
		{"GET", "/cases/{id}/send", caseworker, c.sendPage},
		{"POST", "/cases/{id}/forward", caseworker, c.forward},
		{"GET", "/cases/{id}/media/{sha}", caseworker, c.playerPage},
		{"GET", "/cases/{id}/media/{sha}/raw", caseworker, c.mediaRaw},
		{"POST", "/cases/{id}/media/{sha}/send", caseworker, c.sendRecording},
		{"GET", "/cases/{id}/record", caseworker, c.recordPage},
		{"POST", "/cases/{id}/record/start", caseworker, c.startRecordingUpload},
		{"POST", "/cases/{id}/record/{uid}", caseworker, c.writeRecordingUpload},
		{"GET", "/cases/{id}/respond", caseworker, c.respondPage},
		{"POST", "/cases/{id}/respond", caseworker, c.respond},
		{"GET", "/cases/{id}/withdraw", caseworker, c.withdrawPage},
		{"POST", "/cases/{id}/withdraw", caseworker, c.withdraw},

		{"GET", "/inbox", readers, c.inboxPage},
		{"GET", "/inbox/{iid}", readers, c.inboxItemPage},
		{"GET", "/matches", signedIn, c.matchesPage},
		{"GET", "/matches/{mid}", signedIn, c.matchPage},
		{"POST", "/matches/{mid}/{decision}", caseworker, c.decideMatch},

		{"GET", "/operator/peers", operator, c.peersPage},
		{"GET", "/operator/outbox", operator, c.outboxPage},
		{"POST", "/operator/outbox/{oid}/requeue", operator, c.requeue},
		{"GET", "/operator/review", operator, c.reviewPage},
		{"POST", "/operator/review/{id}/{did}", operator, c.review},
		{"GET", "/operator/manifest", operator, c.manifestPage},
		{"GET", "/operator/keys", operator, c.keysPage},
		{"GET", "/audit", auditors, c.auditPage},
		{"GET", "/stats", auditors, c.statsPage},
		{"GET", "/stats.csv", auditors, c.statsCSV},
	}, c.tokenRoutes()...)
}

// req is one request being served: the session (nil when signed out), the
// language and what the page needs to render the frame.
type req struct {
	*http.Request
	c   *Console
	lc  *locale
	se  *session
	sid string
}

// actor is the person acting, as the node's operations and audit log know
// them.
func (q *req) actor() node.Actor {
	if q.se == nil {
		return node.Actor{}
	}
	return node.Actor{Name: q.se.principal.Name, Role: q.se.principal.Role}
}

func (q *req) role() string {
	if q.se == nil {
		return ""
	}
	return q.se.principal.Role
}

// newReq picks the language (and remembers a switcher choice).
func (c *Console) newReq(w http.ResponseWriter, r *http.Request) *req {
	lc, fromQuery := pickLocale(r)
	if fromQuery {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lc.code, Path: c.o.Prefix, MaxAge: 365 * 24 * 3600,
			Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	return &req{Request: r, c: c, lc: lc}
}

// guard authenticates, authorises and, for actions, checks the origin and
// the synchronizer token before a route's handler runs.
func (c *Console) guard(rt route) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := c.newReq(w, r)
		if sid := c.sessionID(r); sid != "" {
			if se, ok := c.sessions.get(sid); ok {
				if err := c.o.Auth.Check(r.Context(), se.principal); err != nil {
					c.sessions.close(sid)
					c.log.Info("console: session ended: credential no longer valid", "actor", se.principal.Name)
				} else {
					q.se, q.sid = se, sid
				}
			}
		}
		if rt.roles != nil {
			if q.se == nil {
				c.toSignin(w, q)
				return
			}
			if !slices.Contains(rt.roles, q.se.principal.Role) {
				c.log.Info("console: role refused", "route", rt.path, "role", q.se.principal.Role, "actor", q.se.principal.Name)
				c.errorPage(w, q, http.StatusForbidden, "error.forbidden")
				return
			}
		}
		if rt.method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			tok := r.Header.Get(csrfHeader) // script uploads of binary pieces
			if !binaryRoutes[rt.path] {
				if err := r.ParseForm(); err != nil {
					c.errorPage(w, q, http.StatusBadRequest, "error.bad_form")
					return
				}
				tok = r.PostForm.Get("csrf")
			}
			// Before sign-in there is no session to bind a token to; the
			// sign-in form is covered by the origin checks and SameSite.
			if q.se != nil && !q.se.validCSRF(unmaskToken(tok)) {
				c.log.Warn("console: form without a valid synchronizer token", "route", rt.path, "actor", q.se.principal.Name)
				c.errorPage(w, q, http.StatusForbidden, "error.csrf")
				return
			}
		}
		rt.h(w, q)
	})
	if rt.method == http.MethodPost {
		return c.cop.Handler(h)
	}
	return h
}

// toSignin sends a signed-out visitor to the sign-in page, remembering
// where they were going (only a path under the prefix is kept).
func (c *Console) toSignin(w http.ResponseWriter, q *req) {
	target := c.o.Prefix + "/signin"
	if q.Method == http.MethodGet && q.URL.Path != c.o.Prefix+"/" {
		target += "?next=" + url.QueryEscape(q.URL.RequestURI())
	}
	http.Redirect(w, q.Request, target, http.StatusSeeOther)
}

// safeNext keeps a redirect target only if it is a path under the prefix
// (no scheme, no host, no //).
func (c *Console) safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(next, "//") ||
		strings.Contains(next, "\\") || !strings.HasPrefix(u.Path, c.o.Prefix+"/") {
		return c.o.Prefix + "/"
	}
	return u.RequestURI()
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	q := c.newReq(w, r)
	if sid := c.sessionID(r); sid != "" {
		q.se, _ = c.sessions.get(sid)
	}
	c.errorPage(w, q, http.StatusNotFound, "error.not_found")
}

func (c *Console) home(w http.ResponseWriter, q *req) {
	target := "/cases"
	switch q.role() {
	case RoleOperator:
		target = "/operator/peers"
	case RoleAdmin:
		target = "/admin/tokens"
	}
	http.Redirect(w, q.Request, c.o.Prefix+target, http.StatusSeeOther)
}
