package httpapi_test

import (
	"context"
	"crypto/sha256"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/nodetest"
)

// TestPersonalTokens: an admin creates a person's token with the API; the
// secret is shown once and never listed; the token works for its role and
// only its role, its person is the audit actor; revoked and expired tokens
// are refused at once; near misses and the stored digest itself are
// refused. On both databases.
func TestPersonalTokens(t *testing.T) {
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			f, _ := newFederation(t)
			a := startLocal(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, Dialect: d})
			api := a.api

			create := func(tok string, body any) reply {
				return api.do("POST", "/api/v1/tokens", tok, body)
			}
			// only the admin role manages tokens
			for _, tok := range []string{tokCaseworker, tokOperator, tokAuditor} {
				expectProblem(t, create(tok, map[string]string{"person": "eva", "role": "caseworker"}), 403, "forbidden")
				expectProblem(t, api.do("GET", "/api/v1/tokens", tok, nil), 403, "forbidden")
			}
			expectProblem(t, create(tokAdmin, map[string]string{"person": "eva", "role": "root"}), 400, "bad_request")
			expectProblem(t, create(tokAdmin, map[string]string{"person": "eva", "role": "caseworker", "expires_in": "9000h"}), 400, "bad_request")

			var eva, finn httpapi.CreatedTokenInfo
			expect(t, create(tokAdmin, map[string]string{"person": "eva", "role": "caseworker", "expires_in": "1h"}), 201, "").decode(t, &eva)
			expect(t, create(tokAdmin, map[string]string{"person": "finn", "role": "auditor"}), 201, "").decode(t, &finn)
			if !strings.HasPrefix(eva.Secret, node.TokenPrefix) || eva.Person != "eva" || !eva.Active ||
				eva.ExpiresAt.Sub(eva.CreatedAt) != time.Hour || finn.ExpiresAt.Sub(finn.CreatedAt) != node.DefaultTokenTTL {
				t.Fatalf("created %+v / %+v", eva.TokenInfo, finn.TokenInfo)
			}
			// the secret is shown once: never in the list, never in the database
			l := expect(t, api.do("GET", "/api/v1/tokens", tokAdmin, nil), 200, "")
			if strings.Contains(string(l.Body), eva.Secret) || !strings.Contains(string(l.Body), eva.ID) {
				t.Fatalf("token list shows a secret or misses a token: %s", l.Body)
			}
			held, err := a.Store.GetToken(context.Background(), eva.ID)
			if err != nil || held.SHA256 != sum(eva.Secret) {
				t.Fatalf("stored token %+v %v: want only the digest", held, err)
			}

			// the person's token works for its role, and only its role
			doc := caseDoc(t, nil)
			expect(t, api.do("POST", "/api/v1/cases", eva.Secret, doc), 201, "")
			expectProblem(t, api.do("GET", "/api/v1/outbox", eva.Secret, nil), 403, "forbidden")
			expectProblem(t, api.do("GET", "/api/v1/tokens", eva.Secret, nil), 403, "forbidden")
			expectProblem(t, api.do("POST", "/api/v1/cases", finn.Secret, doc), 403, "forbidden")
			expect(t, api.do("GET", "/api/v1/audit?action=case.create", finn.Secret, nil), 200, "")

			// near misses and the digest itself (pass-the-hash) are refused
			for _, bad := range []string{eva.Secret + "x", eva.Secret[:len(eva.Secret)-1], strings.ToUpper(eva.Secret),
				sum(eva.Secret), node.TokenPrefix, eva.ID} {
				expectProblem(t, api.do("GET", "/api/v1/cases", bad, nil), 401, "unauthenticated")
			}

			// revoked: refused from the next request
			expect(t, api.do("DELETE", "/api/v1/tokens/"+url.PathEscape(eva.ID), tokAdmin, nil), 200, "")
			expectProblem(t, api.do("GET", "/api/v1/cases", eva.Secret, nil), 401, "unauthenticated")
			expectProblem(t, api.do("DELETE", "/api/v1/tokens/"+eva.ID, tokAdmin, nil), 409, "conflict")
			expectProblem(t, api.do("DELETE", "/api/v1/tokens/tok_nope", tokAdmin, nil), 404, "not_found")

			// expired: made with a clock two minutes back and a one-minute life
			old, err := node.CreateToken(context.Background(), a.Store, "test", node.NewToken{Person: "gus", Role: "caseworker", TTL: time.Minute},
				time.Now().Add(-2*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			expectProblem(t, api.do("GET", "/api/v1/cases", old.Secret, nil), 401, "unauthenticated")

			// the person is the audit actor; the admin is the actor of token changes
			var al httpapi.AuditList
			expect(t, api.do("GET", "/api/v1/audit?limit=1000", tokAuditor, nil), 200, "AuditList").decode(t, &al)
			var actions []string
			for _, e := range al.Items {
				actions = append(actions, e.Actor+":"+e.Action)
			}
			want := "ad-dora:token.create,ad-dora:token.create,eva:case.create,ad-dora:token.revoke,test:token.create"
			if got := strings.Join(actions, ","); !strings.HasPrefix(got, want) {
				t.Fatalf("audit %s\nwant prefix %s", got, want)
			}
		})
	}
}

// TestTokenLookupNeedsExactDigest: the store finds a token only by its
// exact digest, and not once it expired or was revoked.
func TestTokenLookupNeedsExactDigest(t *testing.T) {
	f, _ := newFederation(t)
	a := startLocal(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})
	ctx := context.Background()
	now := time.Now()
	ct, err := node.CreateToken(ctx, a.Store, "test", node.NewToken{Person: "hana", Role: "operator", TTL: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256([]byte(ct.Secret))
	if got, err := a.Store.LookupToken(ctx, s, now); err != nil || got.Person != "hana" {
		t.Fatalf("lookup %+v %v", got, err)
	}
	near := s
	near[31] ^= 1
	if _, err := a.Store.LookupToken(ctx, near, now); err == nil {
		t.Fatal("a digest one bit off found a token")
	}
	if _, err := a.Store.LookupToken(ctx, s, now.Add(time.Hour)); err == nil {
		t.Fatal("an expired token was found")
	}
	if _, err := node.RevokeToken(ctx, a.Store, "test", ct.ID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.LookupToken(ctx, s, now); err == nil {
		t.Fatal("a revoked token was found")
	}
}

// TestConsoleSessionsFollowPersonalTokens: the console signs a person in
// with a personal token; a session is refused once the token is revoked,
// and a session naming one person cannot ride on another person's token.
func TestConsoleSessionsFollowPersonalTokens(t *testing.T) {
	f, _ := newFederation(t)
	a := startLocal(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})
	ctx := context.Background()
	auth := httpapi.ConsoleAuth(a.Node.Node, testTokens())
	mk := func(person string) node.CreatedToken {
		ct, err := node.CreateToken(ctx, a.Store, "test", node.NewToken{Person: person, Role: "caseworker", TTL: time.Hour}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return ct
	}
	eva, finn := mk("eva"), mk("finn")
	p, err := auth.Authenticate(ctx, eva.Secret)
	if err != nil || p.Name != "eva" || p.Role != "caseworker" {
		t.Fatalf("sign in: %+v %v", p, err)
	}
	if err := auth.Check(ctx, p); err != nil {
		t.Fatalf("live session refused: %v", err)
	}
	other := p
	other.ID = strings.Replace(p.ID, eva.ID, finn.ID, 1)
	if other.ID == p.ID || auth.Check(ctx, other) == nil {
		t.Fatalf("a session of eva rides on finn's token %q", other.ID)
	}
	escalated := p
	escalated.Role = "operator"
	if auth.Check(ctx, escalated) == nil {
		t.Fatal("a session changed its role and stayed valid")
	}
	if _, err := auth.Authenticate(ctx, sum(eva.Secret)); err == nil {
		t.Fatal("the digest signed in")
	}
	if _, err := node.RevokeToken(ctx, a.Store, "test", eva.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if auth.Check(ctx, p) == nil {
		t.Fatal("a session outlived its revoked token")
	}
	if _, err := auth.Authenticate(ctx, eva.Secret); err == nil {
		t.Fatal("a revoked token signed in")
	}
	// configured tokens still sign in
	if p, err := auth.Authenticate(ctx, tokOperator); err != nil || p.Name != "op-ben" || auth.Check(ctx, p) != nil {
		t.Fatalf("configured token: %+v %v", p, err)
	}
}
