package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"time"

	"github.com/familylinks/flx/node/store"
)

// Personal tokens: a local API token belongs to a person, carries one role
// and an expiry, and is kept in the database as a SHA-256 digest. The
// secret is returned once, by CreateToken. Tokens are created, listed and
// revoked while the node runs (flx token, or the admin routes of the local
// API); the authenticator looks each request's token up in the database,
// so a revocation or an expiry holds from the next request.

// Token roles. Admin manages personal tokens and nothing else: an operator
// cannot make itself a caseworker token (separation of duties).
const (
	TokenRoleCaseworker = "caseworker"
	TokenRoleOperator   = "operator"
	TokenRoleAuditor    = "auditor"
	TokenRoleAdmin      = "admin"
)

// Token lifetimes: DefaultTokenTTL when none is asked, at most MaxTokenTTL.
const (
	DefaultTokenTTL = 90 * 24 * time.Hour
	MaxTokenTTL     = 366 * 24 * time.Hour
)

// TokenPrefix starts every personal token secret (so that secret scanners
// and people recognise one).
const TokenPrefix = "flxp_"

var personRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$`)

// NewToken asks for a personal token.
type NewToken struct {
	Person string        // who holds it: the audit actor of its requests
	Role   string        // caseworker, operator, auditor or admin
	TTL    time.Duration // 0: DefaultTokenTTL
}

// CreatedToken is a new token with its secret (shown once).
type CreatedToken struct {
	store.PersonToken
	Secret string
}

// CreateToken makes a personal token for a person; by is the actor
// creating it (audited as token.create, without the secret).
func CreateToken(ctx context.Context, st store.Store, by string, nt NewToken, now time.Time) (CreatedToken, error) {
	switch nt.Role {
	case TokenRoleCaseworker, TokenRoleOperator, TokenRoleAuditor, TokenRoleAdmin:
	default:
		return CreatedToken{}, errf(CodeBadRequest, "role %q is not caseworker, operator, auditor or admin", nt.Role)
	}
	if !personRe.MatchString(nt.Person) {
		return CreatedToken{}, errf(CodeBadRequest, "person must be 1-128 of A-Z a-z 0-9 . _ @ - (an account name, not a full name)")
	}
	if nt.TTL == 0 {
		nt.TTL = DefaultTokenTTL
	}
	if nt.TTL < time.Minute || nt.TTL > MaxTokenTTL {
		return CreatedToken{}, errf(CodeBadRequest, "expiry must be between 1 minute and %s", MaxTokenTTL)
	}
	if now.IsZero() {
		now = time.Now()
	}
	var id [8]byte
	var key [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return CreatedToken{}, internal("token id", err)
	}
	if _, err := rand.Read(key[:]); err != nil {
		return CreatedToken{}, internal("token secret", err)
	}
	sec := TokenPrefix + hex.EncodeToString(key[:])
	sum := sha256.Sum256([]byte(sec))
	t := store.PersonToken{
		ID: "tok_" + hex.EncodeToString(id[:]), Person: nt.Person, Role: nt.Role, SHA256: hex.EncodeToString(sum[:]),
		CreatedBy: by, CreatedAt: now, ExpiresAt: now.Add(nt.TTL),
	}
	err := st.Tx(ctx, func(tx store.Tx) error {
		var err error
		if t, err = tx.CreateToken(ctx, t); err != nil {
			return err
		}
		return appendAudit(ctx, tx, by, "token.create", t.ID, map[string]any{"person": t.Person, "role": t.Role, "expires_at": t.ExpiresAt}, now)
	})
	if err != nil {
		return CreatedToken{}, internal("create token", err)
	}
	return CreatedToken{PersonToken: t, Secret: sec}, nil
}

// RevokeToken revokes a personal token (audited as token.revoke).
func RevokeToken(ctx context.Context, st store.Store, by, id string, now time.Time) (store.PersonToken, error) {
	if now.IsZero() {
		now = time.Now()
	}
	var t store.PersonToken
	err := st.Tx(ctx, func(tx store.Tx) error {
		var err error
		if t, err = tx.RevokeToken(ctx, id, by, now); err != nil {
			return err
		}
		return appendAudit(ctx, tx, by, "token.revoke", t.ID, map[string]any{"person": t.Person, "role": t.Role}, now)
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return t, errf(CodeNotFound, "no token %q", id)
	case errors.Is(err, store.ErrConflict):
		return t, errf(CodeConflict, "token %q is revoked already", id)
	case err != nil:
		return t, internal("revoke token", err)
	}
	return t, nil
}

// LookupToken returns the active personal token whose secret this is; ok
// is false for an unknown, revoked or expired one.
func LookupToken(ctx context.Context, v store.TokenReader, secret string, now time.Time) (store.PersonToken, bool, error) {
	if len(secret) <= len(TokenPrefix) || secret[:len(TokenPrefix)] != TokenPrefix {
		return store.PersonToken{}, false, nil
	}
	if now.IsZero() {
		now = time.Now()
	}
	t, err := v.LookupToken(ctx, sha256.Sum256([]byte(secret)), now)
	if errors.Is(err, store.ErrNotFound) {
		return store.PersonToken{}, false, nil
	}
	if err != nil {
		return store.PersonToken{}, false, err
	}
	return t, true, nil
}

func appendAudit(ctx context.Context, q store.Queries, actor, action, object string, details map[string]any, at time.Time) error {
	raw, err := json.Marshal(details)
	if err != nil {
		return err
	}
	_, err = q.AppendAudit(ctx, store.AuditEntry{Actor: actor, Action: action, Object: object, Details: raw, At: at})
	return err
}

// CreateToken makes a personal token (see the package function); a is the
// admin asking.
func (n *Node) CreateToken(ctx context.Context, a Actor, nt NewToken) (CreatedToken, error) {
	return CreateToken(ctx, n.o.Store, a.Name, nt, n.o.Now())
}

// RevokeToken revokes a personal token; a is the admin asking.
func (n *Node) RevokeToken(ctx context.Context, a Actor, id string) (store.PersonToken, error) {
	return RevokeToken(ctx, n.o.Store, a.Name, id, n.o.Now())
}

// ListTokens lists the personal tokens (no secrets: none are kept).
func (n *Node) ListTokens(ctx context.Context) ([]store.PersonToken, error) {
	ts, err := n.o.Store.ListTokens(ctx)
	if err != nil {
		return nil, internal("list tokens", err)
	}
	return ts, nil
}

// LookupToken returns the actor of an active personal token secret.
func (n *Node) LookupToken(ctx context.Context, secret string) (store.PersonToken, bool, error) {
	return LookupToken(ctx, n.o.Store, secret, n.o.Now())
}

// ActiveToken reports whether the personal token id is still active for
// person and role (the console checks its sessions with it).
func (n *Node) ActiveToken(ctx context.Context, id, person, role string) (bool, error) {
	t, err := n.o.Store.GetToken(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return t.Person == person && t.Role == role && t.ActiveAt(n.o.Now()), nil
}
