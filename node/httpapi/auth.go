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
)

// tokenAuth checks bearer tokens against the configured SHA-256 digests.
// Only digests are held, so a memory dump or the config file gives no
// usable token.
type tokenAuth struct {
	tokens []tokenEntry
}

type tokenEntry struct {
	sum  [sha256.Size]byte
	name string
	role string
}

// newTokenAuth keeps the well-formed tokens (config.Verify refuses the
// others before a node starts; here they are skipped and logged).
func newTokenAuth(ts []config.Token, log *slog.Logger) *tokenAuth {
	a := &tokenAuth{}
	for i, t := range ts {
		b, err := hex.DecodeString(strings.ToLower(t.SHA256))
		switch {
		case err != nil || len(b) != sha256.Size:
			log.Warn("local api token skipped: sha256 is not 64 hex digits", "index", i, "name", t.Name)
			continue
		case t.Name == "":
			log.Warn("local api token skipped: no name", "index", i)
			continue
		case t.Role != RoleCaseworker && t.Role != RoleOperator && t.Role != RoleAuditor:
			log.Warn("local api token skipped: unknown role", "index", i, "name", t.Name, "role", t.Role)
			continue
		}
		e := tokenEntry{name: t.Name, role: t.Role}
		copy(e.sum[:], b)
		a.tokens = append(a.tokens, e)
	}
	return a
}

// authenticate returns the actor named by the request's bearer token.
func (a *tokenAuth) authenticate(r *http.Request) (node.Actor, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return node.Actor{}, false
	}
	return a.lookup(strings.TrimSpace(tok))
}

// lookup returns the actor a token belongs to. Every configured digest is
// compared, in constant time, whatever matches.
func (a *tokenAuth) lookup(tok string) (node.Actor, bool) {
	if tok == "" {
		return node.Actor{}, false
	}
	sum := sha256.Sum256([]byte(tok))
	found := -1
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].sum[:]) == 1 && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return node.Actor{}, false
	}
	return node.Actor{Name: a.tokens[found].name, Role: a.tokens[found].role}, true
}

// consoleAuth signs people in to the web console with the same tokens:
// the console keeps a session, and checks on every request that the token
// it was opened with is still configured with the same role.
type consoleAuth struct{ a *tokenAuth }

func (c consoleAuth) Authenticate(_ context.Context, token string) (console.Principal, error) {
	act, ok := c.a.lookup(token)
	if !ok {
		return console.Principal{}, console.ErrBadCredential
	}
	return console.Principal{ID: act.Name, Name: act.Name, Role: act.Role}, nil
}

func (c consoleAuth) Check(_ context.Context, p console.Principal) error {
	for _, t := range c.a.tokens {
		if t.name == p.ID && t.role == p.Role {
			return nil
		}
	}
	return console.ErrBadCredential
}
