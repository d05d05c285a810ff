package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/schema"
)

// Roles of local API tokens.
const (
	RoleCaseworker = "caseworker"
	RoleOperator   = "operator"
	RoleAuditor    = "auditor"
	RoleAdmin      = node.TokenRoleAdmin // manages personal tokens only (tokens.go)
)

// DefaultLocalMaxBodyBytes bounds local API request bodies.
const DefaultLocalMaxBodyBytes = 2 << 20

// LocalOptions configure NewLocalHandler.
type LocalOptions struct {
	// Tokens are the bearer tokens and their roles; none: every /api/v1
	// call but the OpenAPI document is refused.
	Tokens []config.Token
	// Metrics serves GET /metrics (Prometheus); nil answers 404.
	Metrics http.Handler
	// Logger receives one line per request (no personal data).
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies; default DefaultLocalMaxBodyBytes.
	MaxBodyBytes int64
	// Console, when set, serves the web console under /console/ with
	// these options (Backend and Auth are filled in: the node and the
	// tokens above). Nil: no console.
	Console *console.Options
}

// LocalHandler serves the local API of n (see NewLocalHandler).
func LocalHandler(n *node.Node, tokens []config.Token, metrics http.Handler, log *slog.Logger) http.Handler {
	return NewLocalHandler(n, LocalOptions{Tokens: tokens, Metrics: metrics, Logger: log})
}

// NewLocalHandler serves the local API of n. The local API serves caseworker systems, operators and auditors on its own
// plain-HTTP listener (loopback by default; put the Society's TLS front end
// before it if it must be reached from elsewhere). It is never served on the
// federation listener (FLX-OUT-006).
//
// Every /api/v1 route but the OpenAPI document needs "Authorization: Bearer
// <token>"; the token's SHA-256 is compared in constant time with the
// configured tokens (config.Token). What each role may call:
//
//	route                                              caseworker  operator  auditor
//	GET  /healthz, /readyz, /metrics, /api/v1/openapi.json    (no token)
//	POST /api/v1/cases                                      x
//	GET  /api/v1/cases                                      x          x         x (no search by person)
//	POST /api/v1/import/cases                               x
//	GET  /api/v1/cases/{id}                                 x          x         x (no document)
//	PUT  /api/v1/cases/{id}                                 x
//	POST /api/v1/cases/{id}/forward                         x
//	POST /api/v1/cases/{id}/policy-check                    x          x
//	POST /api/v1/cases/{id}/responses                       x
//	POST /api/v1/cases/{id}/messages                        x
//	POST /api/v1/cases/{id}/withdraw                        x
//	POST /api/v1/cases/{id}/media (start an upload)         x
//	GET  /api/v1/cases/{id}/media, .../media/{sha256}       x
//	GET, PATCH /api/v1/media/uploads/{uid}                  x
//	POST /api/v1/cases/{id}/match-query                     x
//	GET  /api/v1/cases/{id}/decisions                       x          x         x
//	GET  /api/v1/cases/{id}/thread                          x          x         x (no documents)
//	POST /api/v1/cases/{id}/decisions/{did}/approve                    x
//	POST /api/v1/cases/{id}/decisions/{did}/reject                     x
//	GET  /api/v1/review (what waits for review)                        x
//	GET  /api/v1/matches, /api/v1/matches/{mid}             x          x         x
//	POST /api/v1/matches/{mid}/confirm, .../reject          x
//	POST /api/v1/matches/rematch (the bulk match job)                  x
//	GET  /api/v1/inbox, /api/v1/inbox/{iid}                 x          x
//	GET  /api/v1/outbox, /api/v1/outbox/peers                          x
//	POST /api/v1/outbox/{oid}/requeue                                  x
//	POST /api/v1/outbox/peers/{member}/retry                           x
//	GET  /api/v1/withdrawals (not confirmed)                           x         x
//	GET  /api/v1/audit, /api/v1/audit/verify                           x         x
//	GET  /api/v1/manifest                                              x
//
// Caseworkers hold the cases: they alone create, change, send and withdraw
// them. Operators run the node: they read what caseworkers read, approve or
// reject what the policy held for review, watch and requeue the outbox and check
// the manifest, but cannot author or send a case (separation of duties).
// Auditors check the record: the audit log and its hash chain, policy
// decisions, and case metadata (who received what, when, and the
// withdrawal state) without the case documents, which hold the personal
// data. Candidate matches hold ids, scores and field levels, no names:
// everyone may list them; only caseworkers confirm or reject them, and a
// confirmation sends nothing (forwarding stays a separate, policy-checked
// step). Operators run the bulk match job that computes every candidate
// again (decisions kept).
//
// Conventions: JSON in and out; request bodies need Content-Type
// application/json (or a +json type) else 415 unsupported_media_type; bodies
// over the limit (default 2 MiB) get 413 too_large before parsing; unknown
// members of the request wrappers ({"to": ...}, {"reason": ...}, ...) and
// unknown query parameters get 400 bad_request. One rule for every body,
// wrapper or document: a body that is not one JSON object (invalid JSON,
// trailing data, an array or a scalar) is 400 bad_request, a member given
// twice 400 duplicate_key; a wrapper whose members are wrong is 400
// bad_request, a document (case, response, message) that breaks schema v1
// is 422 schema_invalid with JSON pointers. Case ids
// in paths may carry the ':' raw or as %3A. Every error, 404 and 405
// included, is an RFC 9457 problem document with a stable code. Every call
// that changes data is audited by package node in the same transaction.
// Request logs carry the method, the route template, the status, the token
// name and the duration: never a path, a query or a body.
//
// The whole router (404 and 405 included) is wrapped so that every answer
// is logged and every error is a problem document. 404 and 405 are decided
// before authentication; the OpenAPI document lists every route anyway.
func NewLocalHandler(n *node.Node, o LocalOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultLocalMaxBodyBytes
	}
	l := &localAPI{n: n, log: o.Logger, auth: newTokenAuth(o.Tokens, o.Logger, n), metrics: o.Metrics, maxBody: o.MaxBodyBytes}
	r := l.router()
	if o.Console != nil {
		co := *o.Console
		co.Backend, co.Auth, co.Logger = console.NodeBackend(n), consoleAuth{l.auth}, o.Logger
		con, err := console.New(co)
		if err != nil { // embedded assets: a build defect
			panic(err)
		}
		r.PathPrefix(con.Prefix()).Handler(con)
	}
	return l.wrap(r)
}

// NewLocalServer returns an http.Server for the local API handler h with
// timeouts that bound slow clients.
func NewLocalServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

type localAPI struct {
	n       *node.Node
	log     *slog.Logger
	auth    *tokenAuth
	metrics http.Handler
	maxBody int64
}

// access lists the roles allowed on a route; nil means no token needed.
type access []string

var (
	public     access
	caseworker = access{RoleCaseworker}
	operator   = access{RoleOperator}
	readers    = access{RoleCaseworker, RoleOperator}
	everyone   = access{RoleCaseworker, RoleOperator, RoleAuditor}
	auditors   = access{RoleOperator, RoleAuditor}
)

func (a access) allows(role string) bool {
	for _, r := range a {
		if r == role {
			return true
		}
	}
	return false
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, a node.Actor)

type localRoute struct {
	method string
	path   string
	access access
	h      handlerFunc
}

func (l *localAPI) routes() []localRoute {
	return append([]localRoute{
		{http.MethodGet, "/healthz", public, l.healthz},
		{http.MethodGet, "/readyz", public, l.readyz},
		{http.MethodGet, "/metrics", public, l.serveMetrics},
		{http.MethodGet, "/api/v1/openapi.json", public, l.openapi},

		{http.MethodPost, "/api/v1/cases", caseworker, l.createCase},
		{http.MethodGet, "/api/v1/cases", everyone, l.listCases},
		{http.MethodPost, "/api/v1/import/cases", caseworker, l.importCases},
		{http.MethodGet, "/api/v1/cases/{id}", everyone, l.getCase},
		{http.MethodPut, "/api/v1/cases/{id}", caseworker, l.updateCase},
		{http.MethodPost, "/api/v1/cases/{id}/forward", caseworker, l.forward},
		{http.MethodPost, "/api/v1/cases/{id}/policy-check", readers, l.policyCheck},
		{http.MethodPost, "/api/v1/cases/{id}/responses", caseworker, l.respond},
		{http.MethodPost, "/api/v1/cases/{id}/messages", caseworker, l.message},
		{http.MethodPost, "/api/v1/cases/{id}/withdraw", caseworker, l.withdraw},
		{http.MethodPost, "/api/v1/cases/{id}/media", caseworker, l.startMediaUpload},
		{http.MethodGet, "/api/v1/cases/{id}/media", caseworker, l.listCaseMedia},
		{http.MethodGet, "/api/v1/cases/{id}/media/{sha256}", caseworker, l.streamCaseMedia},
		{http.MethodGet, "/api/v1/media/uploads/{uid}", caseworker, l.mediaUploadState},
		{http.MethodPatch, "/api/v1/media/uploads/{uid}", caseworker, l.writeMediaUpload},
		{http.MethodPost, "/api/v1/cases/{id}/match-query", caseworker, l.matchQuery},
		{http.MethodGet, "/api/v1/cases/{id}/decisions", everyone, l.decisions},
		{http.MethodGet, "/api/v1/cases/{id}/thread", everyone, l.thread},
		{http.MethodPost, "/api/v1/cases/{id}/decisions/{did}/approve", operator, l.approve},
		{http.MethodPost, "/api/v1/cases/{id}/decisions/{did}/reject", operator, l.reject},
		{http.MethodGet, "/api/v1/review", operator, l.reviewQueue},

		{http.MethodGet, "/api/v1/matches", everyone, l.listMatches},
		{http.MethodPost, "/api/v1/matches/rematch", operator, l.rematch},
		{http.MethodGet, "/api/v1/matches/{mid}", everyone, l.getMatch},
		{http.MethodPost, "/api/v1/matches/{mid}/confirm", caseworker, l.confirmMatch},
		{http.MethodPost, "/api/v1/matches/{mid}/reject", caseworker, l.rejectMatch},

		{http.MethodGet, "/api/v1/inbox", readers, l.inbox},
		{http.MethodGet, "/api/v1/inbox/{iid}", readers, l.received},
		{http.MethodGet, "/api/v1/outbox", operator, l.outbox},
		{http.MethodGet, "/api/v1/outbox/peers", operator, l.peers},
		{http.MethodPost, "/api/v1/outbox/{oid}/requeue", operator, l.requeue},
		{http.MethodPost, "/api/v1/outbox/peers/{member}/retry", operator, l.retryPeer},
		{http.MethodGet, "/api/v1/withdrawals", auditors, l.withdrawals},

		{http.MethodGet, "/api/v1/audit", auditors, l.audit},
		{http.MethodGet, "/api/v1/audit/verify", auditors, l.verifyAudit},
		{http.MethodGet, "/api/v1/manifest", operator, l.manifest},
		{http.MethodGet, "/api/v1/stats", everyone, l.stats},
		{http.MethodPost, "/api/v1/stats/send", readers, l.sendStats},
		{http.MethodPost, "/api/v1/bundles/export", caseworker, l.exportBundle},
		{http.MethodPost, "/api/v1/bundles/import", caseworker, l.importBundle},
	}, l.accountabilityRoutes()...)
}

func (l *localAPI) router() *mux.Router {
	r := mux.NewRouter()
	// Match on the escaped path so that a %2F in a case id cannot split a
	// segment; handlers unescape their variables. No cleaning redirects.
	r.UseEncodedPath()
	r.SkipClean(true)
	for _, rt := range l.routes() {
		r.Handle(rt.path, l.guard(rt)).Methods(rt.method)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, problem.NotFound, "no such resource")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		allow := allowedMethods(r, req)
		w.Header().Set("Allow", allow)
		writeProblem(w, problem.MethodNotAllowed, "allowed: "+allow)
	})
	return r
}

// allowedMethods lists the methods the router would accept for req's path.
func allowedMethods(r *mux.Router, req *http.Request) string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := req.Clone(req.Context())
		probe.Method = m
		var match mux.RouteMatch
		if r.Match(probe, &match) && match.MatchErr == nil {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}

// guard authenticates and authorises before a route's handler runs, and
// records the route template and the actor for the request log.
func (l *localAPI) guard(rt localRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := reqInfoFrom(r.Context())
		if info != nil {
			info.route = rt.path
		}
		var a node.Actor
		var principal string
		if rt.access != nil {
			var ok bool
			a, principal, ok = l.auth.authenticateID(r)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="flx"`)
				writeProblem(w, problem.Unauthenticated, "a valid bearer token is required")
				return
			}
			if info != nil {
				info.actor = a.Name
			}
			if !rt.access.allows(a.Role) {
				writeProblem(w, problem.Forbidden, fmt.Sprintf("role %q may not call %s %s", a.Role, rt.method, rt.path))
				return
			}
		}
		// POST and PUT (a case update: a retry after a lost answer would
		// otherwise be a version conflict) take an Idempotency-Key.
		if (rt.method == http.MethodPost || rt.method == http.MethodPut) && principal != "" && r.Header.Get(IdempotencyKeyHeader) != "" {
			l.idempotent(w, r, principal, a, rt.h)
			return
		}
		rt.h(w, r, a)
	})
}

type ctxKey struct{}

// reqInfo is filled while a request is served, for its log line.
type reqInfo struct {
	route string
	actor string
}

func reqInfoFrom(ctx context.Context) *reqInfo {
	i, _ := ctx.Value(ctxKey{}).(*reqInfo)
	return i
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// wrap logs every request and turns a panic into a 500 problem.
func (l *localAPI) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &reqInfo{route: "(unmatched)"}
		sw := &statusWriter{ResponseWriter: w}
		sw.Header().Set("X-Content-Type-Options", "nosniff")
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				l.log.Error("local api panic", "method", r.Method, "route", info.route, "panic", fmt.Sprint(p))
				if sw.status == 0 {
					writeProblem(sw, problem.Internal, "")
				}
			}
			l.log.Info("local api", "method", r.Method, "route", info.route, "status", sw.status,
				"actor", info.actor, "duration_ms", time.Since(start).Milliseconds())
		}()
		h.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, info)))
	})
}

// fail writes err as a problem document: a *node.Error keeps its code,
// message, violations and decision; anything else is a 500 whose cause goes
// only to the log.
func (l *localAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	ne := problem.As(err)
	if ne.Code.HTTPStatus() >= 500 {
		route := ""
		if i := reqInfoFrom(r.Context()); i != nil {
			route = i.route
		}
		l.log.Error("local api failure", "method", r.Method, "route", route, "code", ne.Code, "err", ne)
	}
	ne.Problem().Write(w) // an internal error's cause stays in the log
}

// reply writes v with status, or err as a problem document (see fail).
func (l *localAPI) reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

func badRequest(format string, args ...any) *problem.Error {
	return problem.Errorf(problem.BadRequest, format, args...)
}

// readBody reads a JSON request body within the limit, writing the problem
// itself (415, 413, 400) when it returns false.
func (l *localAPI) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if !isJSON(r.Header.Get("Content-Type")) {
		writeProblem(w, problem.UnsupportedMediaType, "Content-Type must be application/json")
		return nil, false
	}
	if r.ContentLength > l.maxBody {
		writeProblem(w, problem.TooLarge, "body larger than "+strconv.FormatInt(l.maxBody, 10)+" bytes")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, l.maxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeProblem(w, problem.TooLarge, "body larger than "+strconv.FormatInt(l.maxBody, 10)+" bytes")
		return nil, false
	case err != nil:
		writeProblem(w, problem.BadRequest, "could not read the body")
		return nil, false
	case len(strings.TrimSpace(string(body))) == 0:
		writeProblem(w, problem.BadRequest, "the body is empty")
		return nil, false
	case !strings.HasPrefix(strings.TrimSpace(string(body)), "{") || !json.Valid(body):
		// One rule for wrappers and documents: what is not one JSON object
		// is 400 bad_request; an object with wrong content is 400 for a
		// wrapper and 422 schema_invalid for a document.
		writeProblem(w, problem.BadRequest, "the body is not one JSON object (invalid JSON, trailing data, or not an object)")
		return nil, false
	}
	// Every JSON body, wrapper or document, at any depth: which of two
	// members wins depends on the parser (schema.CheckDuplicateKeys).
	var dup *schema.DuplicateKeyError
	if errors.As(schema.CheckDuplicateKeys(body), &dup) {
		writeProblem(w, problem.DuplicateKey, dup.Error())
		return nil, false
	}
	return body, true
}

// wrapper is a request wrapper object ({"to": ...}, {"reason": ...}, ...)
// that checks its members once decoded.
type wrapper interface {
	check() error
}

// readWrapper decodes a request wrapper object strictly (unknown members
// and trailing data are refused) and checks it, writing the problem itself
// (415, 413, 400) when it returns false.
func (l *localAPI) readWrapper(w http.ResponseWriter, r *http.Request, v wrapper) bool {
	body, ok := l.readBody(w, r)
	if !ok {
		return false
	}
	if err := decodeStrict(body, v); err != nil {
		writeProblem(w, problem.BadRequest, err.Error())
		return false
	}
	if err := v.check(); err != nil {
		l.fail(w, r, err)
		return false
	}
	return true
}

// readOptionalWrapper is readWrapper for bodies that may be left out.
func (l *localAPI) readOptionalWrapper(w http.ResponseWriter, r *http.Request, v wrapper) bool {
	if r.ContentLength == 0 {
		return true
	}
	return l.readWrapper(w, r, v)
}

func decodeStrict(body []byte, v any) error {
	trimmed := strings.TrimSpace(string(body))
	if !strings.HasPrefix(trimmed, "{") {
		return errors.New("the body must be a JSON object")
	}
	dec := json.NewDecoder(strings.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &ute):
			return fmt.Errorf("member %q has the wrong type", ute.Field)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("unknown member %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return errors.New("the body is not valid JSON")
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	mt = strings.ToLower(mt)
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// caseID returns the {id} path variable, unescaped and checked.
func caseID(r *http.Request) (string, error) {
	id, err := url.PathUnescape(mux.Vars(r)["id"])
	if err != nil || !federation.ValidCaseID(id) {
		return "", badRequest("the path does not carry a case id (ORIGIN:LOCAL-ID)")
	}
	return id, nil
}

// pathCaseID is caseID for handlers: it writes the problem itself when it
// returns false.
func (l *localAPI) pathCaseID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, err := caseID(r)
	if err != nil {
		l.fail(w, r, err)
		return "", false
	}
	return id, true
}

// caseBody reads the case id from the path, then the JSON body; it writes
// the problem itself when it returns false.
func (l *localAPI) caseBody(w http.ResponseWriter, r *http.Request) (string, []byte, bool) {
	id, ok := l.pathCaseID(w, r)
	if !ok {
		return "", nil, false
	}
	body, ok := l.readBody(w, r)
	return id, body, ok
}

// intVar returns a positive integer path variable; what names it in errors.
func intVar(r *http.Request, name, what string) (int64, error) {
	v, err := strconv.ParseInt(mux.Vars(r)[name], 10, 64)
	if err != nil || v <= 0 {
		return 0, problem.New(problem.NotFound, "no such "+what)
	}
	return v, nil
}

// query checks the query parameters against the allowed names and gives
// typed access to them.
type query struct {
	v   url.Values
	err error
}

func parseQuery(r *http.Request, allowed ...string) *query {
	q := &query{v: r.URL.Query()}
	for k, vs := range q.v {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
			}
		}
		switch {
		case !ok:
			q.fail("unknown query parameter %q (allowed: %s)", k, strings.Join(allowed, ", "))
		case len(vs) > 1:
			q.fail("query parameter %q given more than once", k)
		}
	}
	return q
}

// noQuery refuses any query parameter, writing the problem itself when it
// returns false.
func (l *localAPI) noQuery(w http.ResponseWriter, r *http.Request) bool {
	if q := parseQuery(r); q.err != nil {
		l.fail(w, r, q.err)
		return false
	}
	return true
}

func (q *query) fail(format string, args ...any) {
	if q.err == nil {
		q.err = badRequest(format, args...)
	}
}

func (q *query) str(name string) string { return q.v.Get(name) }

func (q *query) enum(name string, values ...string) string {
	s := q.v.Get(name)
	if s == "" {
		return ""
	}
	for _, v := range values {
		if s == v {
			return s
		}
	}
	q.fail("%s must be one of %s", name, strings.Join(values, ", "))
	return ""
}

func (q *query) int(name string, def, lo, hi int64) int64 {
	s := q.v.Get(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < lo || v > hi {
		q.fail("%s must be an integer from %d to %d", name, lo, hi)
		return def
	}
	return v
}

func (q *query) boolean(name string) bool {
	s := q.v.Get(name)
	if s == "" {
		return false
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		q.fail("%s must be true or false", name)
	}
	return v
}

func (q *query) time(name string) time.Time {
	s := q.v.Get(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		q.fail("%s must be an RFC 3339 date-time", name)
	}
	return t
}

// maxPage is the largest page of any listing.
const maxPage = 1000
