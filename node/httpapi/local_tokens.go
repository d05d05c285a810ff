package httpapi

import (
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/mux"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/store"
)

// Accountability routes (issue 9): personal tokens, managed by the admin
// role only, and the per-person disclosure log of a case.
//
//	route                                   caseworker  operator  auditor  admin
//	GET    /api/v1/tokens                                                   x
//	POST   /api/v1/tokens                                                   x
//	DELETE /api/v1/tokens/{tid}                                             x
//	GET    /api/v1/cases/{id}/disclosures       x          x         x
//	GET    /api/v1/audit/witnessed                         x         x
var admins = access{RoleAdmin}

func (l *localAPI) accountabilityRoutes() []localRoute {
	return []localRoute{
		{http.MethodGet, "/api/v1/tokens", admins, l.listTokens},
		{http.MethodPost, "/api/v1/tokens", admins, l.createToken},
		{http.MethodDelete, "/api/v1/tokens/{tid}", admins, l.revokeToken},
		{http.MethodGet, "/api/v1/cases/{id}/disclosures", everyone, l.disclosures},
		{http.MethodGet, "/api/v1/audit/witnessed", auditors, l.witnessed},
	}
}

// TokenInfo is a personal token as listed (never its secret).
type TokenInfo struct {
	ID        string     `json:"id"`
	Person    string     `json:"person"`
	Role      string     `json:"role"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	RevokedBy string     `json:"revoked_by,omitempty"`
	Active    bool       `json:"active"`
}

// CreatedTokenInfo is the answer to POST /api/v1/tokens: the only time the
// secret is shown.
type CreatedTokenInfo struct {
	TokenInfo
	Secret string `json:"secret"`
}

func tokenInfo(t store.PersonToken, now time.Time) TokenInfo {
	ti := TokenInfo{ID: t.ID, Person: t.Person, Role: t.Role, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, RevokedBy: t.RevokedBy, Active: t.ActiveAt(now)}
	if !t.RevokedAt.IsZero() {
		r := t.RevokedAt
		ti.RevokedAt = &r
	}
	return ti
}

// TokenRequest is the body of POST /api/v1/tokens.
type TokenRequest struct {
	Person string `json:"person"`
	Role   string `json:"role"`
	// ExpiresIn is a Go duration ("720h"); empty: 90 days.
	ExpiresIn string `json:"expires_in,omitempty"`
	ttl       time.Duration
}

func (req *TokenRequest) check() error {
	if req.Person == "" || req.Role == "" {
		return badRequest("person and role are required")
	}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil {
			return badRequest("expires_in: %v", err)
		}
		req.ttl = d
	}
	return nil
}

func (l *localAPI) listTokens(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	if !l.noQuery(w, r) {
		return
	}
	ts, err := l.n.ListTokens(r.Context())
	if err != nil {
		l.fail(w, r, err)
		return
	}
	now := time.Now()
	out := make([]TokenInfo, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenInfo(t, now))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

func (l *localAPI) createToken(w http.ResponseWriter, r *http.Request, a node.Actor) {
	var req TokenRequest
	if !l.noQuery(w, r) || !l.readWrapper(w, r, &req) {
		return
	}
	t, err := l.n.CreateToken(r.Context(), a, node.NewToken{Person: req.Person, Role: req.Role, TTL: req.ttl})
	if err != nil {
		l.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, CreatedTokenInfo{TokenInfo: tokenInfo(t.PersonToken, time.Now()), Secret: t.Secret})
}

func (l *localAPI) revokeToken(w http.ResponseWriter, r *http.Request, a node.Actor) {
	if !l.noQuery(w, r) {
		return
	}
	id, err := url.PathUnescape(mux.Vars(r)["tid"])
	if err != nil || id == "" {
		l.fail(w, r, badRequest("bad token id"))
		return
	}
	t, err := l.n.RevokeToken(r.Context(), a, id)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenInfo(t, time.Now()))
}

// disclosures is GET /api/v1/cases/{id}/disclosures: the per-person
// disclosure log (node.DisclosureLog) as JSON, or ?format=text for a
// readable Markdown report.
func (l *localAPI) disclosures(w http.ResponseWriter, r *http.Request, a node.Actor) {
	id, ok := l.pathCaseID(w, r)
	if !ok {
		return
	}
	q := parseQuery(r, "format")
	format := q.enum("format", "json", "text")
	if q.err != nil {
		l.fail(w, r, q.err)
		return
	}
	log, err := l.n.DisclosureLog(r.Context(), a, id)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	if format == "text" {
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(log.Markdown()))
		return
	}
	writeJSON(w, http.StatusOK, log)
}

// WitnessedHead is an audit head this node witnesses for a member: what
// `flx audit verify --witness-head` of that member takes.
type WitnessedHead struct {
	Member     string    `json:"member"`
	Count      int64     `json:"count"`
	Head       string    `json:"head"`
	SignedAt   time.Time `json:"signed_at"`
	ReceivedAt time.Time `json:"received_at"`
	JTI        string    `json:"jti"`
	// Envelope is the member's signed audit.head envelope, as received.
	Envelope string `json:"envelope"`
}

// witnessed is GET /api/v1/audit/witnessed[?member=ID]: the latest audit
// head witnessed for each member (SPEC.md §20).
func (l *localAPI) witnessed(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	q := parseQuery(r, "member")
	member := q.str("member")
	if q.err != nil {
		l.fail(w, r, q.err)
		return
	}
	hs, err := l.n.WitnessedHeads(r.Context(), member)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	out := make([]WitnessedHead, 0, len(hs))
	for _, h := range hs {
		out = append(out, WitnessedHead{Member: h.Member, Count: h.Count, Head: h.Head, SignedAt: h.SignedAt,
			ReceivedAt: h.ReceivedAt, JTI: h.JTI, Envelope: string(h.Envelope)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"heads": out})
}
