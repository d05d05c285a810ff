package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/store"
)

// tokenAuth checks bearer tokens against the configured SHA-256 digests.
// Only digests are held, so a memory dump or the config file gives no
// usable token.
//
// Personal tokens (node.CreateToken: per person, with an expiry, kept as
// digests in the database) are looked up in the database on every request
// when no configured token matches, so that a revoked or expired one is
// refused at once; the person is the request's actor.
type tokenAuth struct {
	tokens []tokenEntry
	// people looks personal tokens up; nil: configured tokens only.
	people personTokens
	log    *slog.Logger
}

// personTokens is what tokenAuth asks of the node (*node.Node has it).
type personTokens interface {
	LookupToken(ctx context.Context, secret string) (store.PersonToken, bool, error)
	ActiveToken(ctx context.Context, id, person, role string) (bool, error)
}

// dbPrincipal prefixes the console principal id of a personal token, so
// that it never collides with a configured token's name.
const dbPrincipal = "token:"

type tokenEntry struct {
	sum  [sha256.Size]byte
	name string
	role string
}

// newTokenAuth keeps the well-formed tokens (config.Verify refuses the
// others before a node starts; here they are skipped and logged).
func newTokenAuth(ts []config.Token, log *slog.Logger, n *node.Node) *tokenAuth {
	a := &tokenAuth{log: log}
	if n != nil {
		a.people = n
	}
	for i, t := range ts {
		b, err := hex.DecodeString(strings.ToLower(t.SHA256))
		switch {
		case err != nil || len(b) != sha256.Size:
			log.Warn("local api token skipped: sha256 is not 64 hex digits", "index", i, "name", t.Name)
			continue
		case t.Name == "":
			log.Warn("local api token skipped: no name", "index", i)
			continue
		case t.Role != RoleCaseworker && t.Role != RoleOperator && t.Role != RoleAuditor && t.Role != RoleAdmin:
			log.Warn("local api token skipped: unknown role", "index", i, "name", t.Name, "role", t.Role)
			continue
		}
		e := tokenEntry{name: t.Name, role: t.Role}
		copy(e.sum[:], b)
		a.tokens = append(a.tokens, e)
	}
	return a
}

// authenticateID returns the actor named by the request's bearer token
// and its credential: a configured token's name, or a personal token's id.
func (a *tokenAuth) authenticateID(r *http.Request) (node.Actor, string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return node.Actor{}, "", false
	}
	return a.lookupID(r.Context(), strings.TrimSpace(tok))
}

// lookup returns the actor a token belongs to. Every configured digest is
// compared, in constant time, whatever matches.
func (a *tokenAuth) lookup(ctx context.Context, tok string) (node.Actor, bool) {
	act, _, ok := a.lookupID(ctx, tok)
	return act, ok
}

// lookupID is lookup that also names the credential (console sessions).
func (a *tokenAuth) lookupID(ctx context.Context, tok string) (node.Actor, string, bool) {
	if tok == "" {
		return node.Actor{}, "", false
	}
	sum := sha256.Sum256([]byte(tok))
	found := -1
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].sum[:]) == 1 && found < 0 {
			found = i
		}
	}
	if found >= 0 {
		return node.Actor{Name: a.tokens[found].name, Role: a.tokens[found].role}, a.tokens[found].name, true
	}
	if a.people == nil {
		return node.Actor{}, "", false
	}
	t, ok, err := a.people.LookupToken(ctx, tok)
	if err != nil { // fail closed: a database that does not answer admits no one
		a.log.Warn("local api: personal token lookup failed", "err", err)
		return node.Actor{}, "", false
	}
	if !ok {
		return node.Actor{}, "", false
	}
	return node.Actor{Name: t.Person, Role: t.Role}, dbPrincipal + t.ID, true
}

// consoleAuth signs people in to the web console with the same tokens:
// the console keeps a session, and checks on every request that the token
// it was opened with is still configured with the same role.
type consoleAuth struct{ a *tokenAuth }

func (c consoleAuth) Authenticate(ctx context.Context, token string) (console.Principal, error) {
	act, id, ok := c.a.lookupID(ctx, token)
	if !ok {
		return console.Principal{}, console.ErrBadCredential
	}
	return console.Principal{ID: id, Name: act.Name, Role: act.Role}, nil
}

func (c consoleAuth) Check(ctx context.Context, p console.Principal) error {
	if id, ok := strings.CutPrefix(p.ID, dbPrincipal); ok {
		if c.a.people == nil {
			return console.ErrBadCredential
		}
		if ok, err := c.a.people.ActiveToken(ctx, id, p.Name, p.Role); err != nil || !ok {
			return console.ErrBadCredential
		}
		return nil
	}
	for _, t := range c.a.tokens {
		if t.name == p.ID && t.role == p.Role {
			return nil
		}
	}
	return console.ErrBadCredential
}
