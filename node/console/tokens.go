package console

import (
	"context"
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
	v := c.newView(q, "tokens.title")
	v.Problem = problem
	now := c.o.Now()
	d := tokensData{view: v, Created: created,
		Roles: []string{node.TokenRoleCaseworker, node.TokenRoleOperator, node.TokenRoleAuditor, node.TokenRoleAdmin}}
	for _, t := range ts {
		d.Tokens = append(d.Tokens, tokenRow{PersonToken: t, Active: t.ActiveAt(now), Expired: !now.Before(t.ExpiresAt)})
	}
	c.render(w, q, status, "tokens", d)
}

func (c *Console) createTokenForm(w http.ResponseWriter, q *req) {
	ta, ok := c.o.Backend.(tokenAdmin)
	if !ok {
		c.errorPage(w, q, http.StatusNotFound, "error.not_found")
		return
	}
	days, err := strconv.Atoi(strings.TrimSpace(q.PostForm.Get("days")))
	if err != nil || days < 1 || days > 366 {
		c.showTokens(w, q, http.StatusBadRequest, nil, q.lc.T("tokens.bad_days"))
		return
	}
	ct, err := ta.CreateToken(q.Context(), q.actor(), node.NewToken{Person: strings.TrimSpace(q.PostForm.Get("person")),
		Role: q.PostForm.Get("role"), TTL: time.Duration(days) * 24 * time.Hour})
	if err != nil {
		c.showTokens(w, q, http.StatusBadRequest, nil, q.lc.T("tokens.not_created", c.failText(q, err)))
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
		c.showTokens(w, q, http.StatusConflict, nil, q.lc.T("tokens.not_revoked", c.failText(q, err)))
		return
	}
	c.log.Info("console: token revoked", "actor", q.actor().Name, "token", q.PathValue("tid"))
	http.Redirect(w, q.Request, c.o.Prefix+"/admin/tokens?done=token_revoked", http.StatusSeeOther)
}

// failText is a node error in the reader's language (an internal one is
// logged, never shown).
func (c *Console) failText(q *req, err error) string {
	fl := failureOf(err)
	if fl.Code == string(node.CodeInternal) {
		c.log.Error("console: token operation failed", "route", q.Pattern, "err", err.Error())
	}
	return c.codeText(q.lc, fl)
}
