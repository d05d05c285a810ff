package console

import (
	"bytes"
	"context"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/store"
)

// The "Users and tokens" page (issue 9): people with the admin role list,
// create and revoke the personal local API tokens kept in the database.
// The secret of a new token is shown once, on the answer to the form; only
// its digest is kept. The admin role manages tokens and nothing else.
//
// Its texts are English only for now: the page has its own template here
// rather than keys in catalog/*.json.

// RoleAdmin manages personal tokens (the local API's admin role).
const RoleAdmin = node.TokenRoleAdmin

var admins = []string{RoleAdmin}

// tokenAdmin is what the page asks of the backend (NodeBackend has it).
type tokenAdmin interface {
	ListTokens(ctx context.Context) ([]store.PersonToken, error)
	CreateToken(ctx context.Context, a node.Actor, nt node.NewToken) (node.CreatedToken, error)
	RevokeToken(ctx context.Context, a node.Actor, id string) (store.PersonToken, error)
}

func (b nodeBackend) ListTokens(ctx context.Context) ([]store.PersonToken, error) {
	return b.n.ListTokens(ctx)
}

func (b nodeBackend) CreateToken(ctx context.Context, a node.Actor, nt node.NewToken) (node.CreatedToken, error) {
	return b.n.CreateToken(ctx, a, nt)
}

func (b nodeBackend) RevokeToken(ctx context.Context, a node.Actor, id string) (store.PersonToken, error) {
	return b.n.RevokeToken(ctx, a, id)
}

// tokenRoutes are the page's routes (added to routeTable).
func (c *Console) tokenRoutes() []route {
	return []route{
		{"GET", "/admin/tokens", admins, c.tokensPage},
		{"POST", "/admin/tokens", admins, c.createTokenForm},
		{"POST", "/admin/tokens/{tid}/revoke", admins, c.revokeTokenForm},
	}
}

const tokensContent = `{{define "content"}}
{{with .Created}}<section class="notice" role="status"><h2>Token created for {{.Person}} ({{.Role}})</h2>
<p>Copy it now and hand it to {{.Person}}: it is shown once, and only its digest is kept.</p>
<p><code dir="ltr" id="new-secret">{{.Secret}}</code></p><p>Expires {{$.When .ExpiresAt}}.</p></section>{{end}}
<h2>New token</h2>
<form method="post" action="{{.URL "/admin/tokens"}}" class="stack"><input type="hidden" name="csrf" value="{{.CSRF}}">
<p><label for="person">Person (account name)</label> <input id="person" name="person" required maxlength="128" pattern="[A-Za-z0-9][A-Za-z0-9._@-]*" autocomplete="off"></p>
<p><label for="role">Role</label> <select id="role" name="role">{{range .Roles}}<option value="{{.}}">{{.}}</option>{{end}}</select></p>
<p><label for="days">Valid for (days)</label> <input id="days" name="days" type="number" min="1" max="366" value="90"></p>
<p><button type="submit">Create token</button></p></form>
<table class="list"><caption>Personal tokens</caption>
<thead><tr><th scope="col">Id</th><th scope="col">Person</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">State</th><th scope="col"></th></tr></thead>
<tbody>{{range .Tokens}}<tr><td><code dir="ltr">{{.ID}}</code></td><td>{{.Person}}</td><td>{{.Role}}</td><td>{{$.When .CreatedAt}} <small>by {{.CreatedBy}}</small></td><td>{{$.When .ExpiresAt}}</td>
<td>{{if not .RevokedAt.IsZero}}<span class="state state-denied">revoked {{$.When .RevokedAt}} by {{.RevokedBy}}</span>{{else if .Expired}}<span class="state state-denied">expired</span>{{else}}<span class="state state-confirmed">active</span>{{end}}</td>
<td>{{if .Active}}<form method="post" action="{{$.URL (print "/admin/tokens/" .ID "/revoke")}}"><input type="hidden" name="csrf" value="{{$.CSRF}}"><button type="submit">Revoke</button></form>{{end}}</td></tr>
{{else}}<tr><td colspan="7">No personal tokens yet.</td></tr>{{end}}</tbody></table>
{{end}}`

var tokensTemplate = template.Must(template.Must(template.New("layout.html").Funcs(funcs).
	ParseFS(assetsFS, "assets/templates/layout.html", "assets/templates/partials.html")).Parse(tokensContent))

type tokenRow struct {
	store.PersonToken
	Active, Expired bool
}

type tokensData struct {
	*view
	Tokens  []tokenRow
	Roles   []string
	Created *node.CreatedToken
}

func (c *Console) tokensPage(w http.ResponseWriter, q *req) {
	c.showTokens(w, q, http.StatusOK, nil, "")
}

func (c *Console) showTokens(w http.ResponseWriter, q *req, status int, created *node.CreatedToken, problem string) {
	ta, ok := c.o.Backend.(tokenAdmin)
	if !ok {
		c.errorPage(w, q, http.StatusNotFound, "error.not_found")
		return
	}
	ts, err := ta.ListTokens(q.Context())
	if err != nil {
		c.log.Error("console: list tokens", "err", err.Error())
		c.errorPage(w, q, http.StatusInternalServerError, "error.status", http.StatusInternalServerError)
		return
	}
	v := c.newView(q, "Users and tokens")
	v.Problem = problem
	now := c.o.Now()
	d := tokensData{view: v, Created: created,
		Roles: []string{node.TokenRoleCaseworker, node.TokenRoleOperator, node.TokenRoleAuditor, node.TokenRoleAdmin}}
	for _, t := range ts {
		d.Tokens = append(d.Tokens, tokenRow{PersonToken: t, Active: t.ActiveAt(now), Expired: !now.Before(t.ExpiresAt)})
	}
	var buf bytes.Buffer
	if err := tokensTemplate.ExecuteTemplate(&buf, "layout", d); err != nil {
		c.log.Error("console: template failed", "page", "tokens", "err", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store") // a new secret may be on it
	h.Set("Content-Language", q.lc.code)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (c *Console) createTokenForm(w http.ResponseWriter, q *req) {
	ta, ok := c.o.Backend.(tokenAdmin)
	if !ok {
		c.errorPage(w, q, http.StatusNotFound, "error.not_found")
		return
	}
	days, err := strconv.Atoi(strings.TrimSpace(q.PostForm.Get("days")))
	if err != nil || days < 1 || days > 366 {
		c.showTokens(w, q, http.StatusBadRequest, nil, "Valid for: a number of days from 1 to 366.")
		return
	}
	ct, err := ta.CreateToken(q.Context(), q.actor(), node.NewToken{Person: strings.TrimSpace(q.PostForm.Get("person")),
		Role: q.PostForm.Get("role"), TTL: time.Duration(days) * 24 * time.Hour})
	if err != nil {
		c.showTokens(w, q, http.StatusBadRequest, nil, "The token was not created: "+err.Error())
		return
	}
	c.log.Info("console: token created", "actor", q.actor().Name, "token", ct.ID)
	c.showTokens(w, q, http.StatusOK, &ct, "")
}

func (c *Console) revokeTokenForm(w http.ResponseWriter, q *req) {
	ta, ok := c.o.Backend.(tokenAdmin)
	if !ok {
		c.errorPage(w, q, http.StatusNotFound, "error.not_found")
		return
	}
	if _, err := ta.RevokeToken(q.Context(), q.actor(), q.PathValue("tid")); err != nil {
		c.showTokens(w, q, http.StatusConflict, nil, "The token was not revoked: "+err.Error())
		return
	}
	c.log.Info("console: token revoked", "actor", q.actor().Name, "token", q.PathValue("tid"))
	http.Redirect(w, q.Request, c.o.Prefix+"/admin/tokens", http.StatusSeeOther)
}
