package console

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/stats"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// Roles known to the console (the local API's token roles).
const (
	RoleCaseworker = "caseworker"
	RoleOperator   = "operator"
	RoleAuditor    = "auditor"
)

// Principal is who signed in: the name written to the audit log, the role
// that decides what they may open, and when their credential stops being
// valid (zero: it does not expire by itself).
type Principal struct {
	// ID names the credential (not the secret), so that Check can find it
	// again, e.g. a token id. It is never shown.
	ID        string
	Name      string
	Role      string
	ExpiresAt time.Time
}

// ErrBadCredential is what an Authenticator returns for a token it does not
// accept (unknown, malformed, expired or revoked).
var ErrBadCredential = errors.New("console: credential not accepted")

// Authenticator checks the token typed at sign-in, and on every later
// request whether the credential a session was opened with still holds
// (revoked or expired tokens end their sessions at once). Today the local
// API's configured bearer tokens implement it; per-person tokens with expiry
// replace that one value.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
	Check(ctx context.Context, p Principal) error
}

// Backend is what the console asks of the node: the operations and read
// views the local API uses, each given the person acting. NodeBackend is
// the implementation over a *node.Node; nothing else reaches the store.
type Backend interface {
	Self() string
	Manifest() *federation.Manifest
	// Certificate is this node's TLS certificate (nil: none);
	// SigningKeyID the kid it signs with now.
	Certificate() *x509.Certificate
	SigningKeyID() string

	// ListCases pages through case summaries (no documents).
	ListCases(ctx context.Context, a node.Actor, f store.CaseFilter) (store.CasePage, error)
	// ReadCase returns a case and what happened to it; the document only
	// when withDocument. The read is audited.
	ReadCase(ctx context.Context, a node.Actor, caseID string, withDocument bool) (node.CaseView, error)
	// CaseThread is ReadCase (audited) with the case's versions (without
	// documents) and what this node queued about it (without envelopes):
	// the case page's thread.
	CaseThread(ctx context.Context, a node.Actor, caseID string, withDocument bool) (Thread, error)
	CreateCase(ctx context.Context, a node.Actor, doc []byte) (store.Case, error)
	UpdateCase(ctx context.Context, a node.Actor, caseID string, doc []byte) (store.Case, error)
	DryRun(ctx context.Context, a node.Actor, caseID, to string) (node.SendResult, error)
	Forward(ctx context.Context, a node.Actor, caseID, to string) (node.SendResult, error)
	// SendMessage sends a message about a case (a voice or video
	// message referencing a recording) to a member.
	SendMessage(ctx context.Context, a node.Actor, caseID, to string, doc []byte) (node.SendResult, error)
	// Respond sends a case.response about a received case to its origin.
	Respond(ctx context.Context, a node.Actor, caseID string, doc []byte) (node.SendResult, error)
	Withdraw(ctx context.Context, a node.Actor, caseID string, reason schema.WithdrawalReason) (node.WithdrawResult, error)
	Review(ctx context.Context, a node.Actor, caseID string, decisionID int64, approve bool, note string) (node.SendResult, error)
	ListDecisions(ctx context.Context, a node.Actor, caseID string) ([]store.Decision, error)
	// ReviewQueue lists the forwards, responses and messages waiting for
	// review (node.ReviewQueue).
	ReviewQueue(ctx context.Context, a node.Actor) ([]node.HeldItem, error)

	ListInbox(ctx context.Context, a node.Actor, f store.InboxFilter) ([]store.InboxItem, error)
	// The search, inbox reading and candidate matches (backend_more.go).
	moreBackend
	ListOutbox(ctx context.Context, a node.Actor, f store.OutboxFilter) ([]store.OutboxItem, error)
	OutboxStats(ctx context.Context, a node.Actor) ([]store.DestinationStats, error)
	// PeerBackoff lists the peers delivery rests after failures.
	PeerBackoff(ctx context.Context, a node.Actor) ([]store.PeerBackoff, error)
	Requeue(ctx context.Context, a node.Actor, outboxID int64) (store.OutboxItem, error)
	ListAudit(ctx context.Context, a node.Actor, f store.AuditFilter) ([]store.AuditRecord, error)
	VerifyAudit(ctx context.Context, a node.Actor) (store.AuditVerification, error)
	// The heads of the audit log witnesses hold (audit.go).
	auditHeads
	// ListCaseMedia lists a case's recordings (metadata only);
	// ServeCaseMedia streams one with HTTP ranges, the read audited.
	ListCaseMedia(ctx context.Context, a node.Actor, caseID string) ([]node.CaseMedia, error)
	ServeCaseMedia(w http.ResponseWriter, r *http.Request, a node.Actor, caseID, sha256 string) error
	// StartMediaUpload and WriteMediaUpload are the node's resumable
	// upload of a recording for a case (attached once complete).
	StartMediaUpload(ctx context.Context, a node.Actor, caseID string, r node.MediaUploadRequest) (node.MediaUpload, error)
	MediaUploadState(ctx context.Context, a node.Actor, uploadID string) (node.MediaUpload, error)
	WriteMediaUpload(ctx context.Context, a node.Actor, uploadID string, off int64, body io.Reader) (node.MediaUpload, error)
	// OwnStats counts this node's activity per month, raw (unprotected),
	// as its statistics reports count it, and the protection they apply.
	OwnStats(ctx context.Context, a node.Actor) (*stats.Result, stats.Protection, error)
	// ReceivedStats aggregates the statistics reports this node received
	// from members (a coordinator's), from published values only.
	ReceivedStats(ctx context.Context, a node.Actor, by stats.By) ([]stats.Row, error)
	Ready(ctx context.Context) error
}

// Thread is a case and everything that happened to it that the node
// records: its versions, the policy decisions, what was sent (with delivery
// state and receipt), what was received (responses, messages, erasure
// confirmations) and who holds it.
type Thread struct {
	node.CaseView
	Versions []store.CaseVersion
	Sent     []store.OutboxItem
	// Bodies are the documents of the responses and messages received
	// (by inbox id), only when the read includes the case's document.
	Bodies map[int64]json.RawMessage
}

// Options configure New.
type Options struct {
	Backend Backend
	Auth    Authenticator
	Logger  *slog.Logger
	// Prefix is where the console is mounted; default "/console".
	Prefix string
	// IdleTimeout ends a session unused for this long; default 30m.
	IdleTimeout time.Duration
	// MaxAge ends a session this long after sign-in whatever happens;
	// default 12h (and never later than the credential's expiry).
	MaxAge time.Duration
	// HTTPS says the console is reached over HTTPS even when the request
	// arrives in plain HTTP (a TLS front end): the cookie gets the __Host-
	// prefix and Secure. Requests with r.TLS set are HTTPS anyway.
	HTTPS bool
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Console serves the web console. Create it with New.
type Console struct {
	o        Options
	log      *slog.Logger
	sessions *sessions
	pages    map[string]*template.Template
	form     *formSchema
	mux      *http.ServeMux
	routes   []route
	cop      *http.CrossOriginProtection
	stats    statsCache
}

// New returns the console. It fails only if the embedded assets do not
// parse (a build defect).
func New(o Options) (*Console, error) {
	if o.Backend == nil || o.Auth == nil {
		return nil, errors.New("console.New: Backend and Auth are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Prefix == "" {
		o.Prefix = "/console"
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Minute
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 12 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Console{o: o, log: o.Logger, sessions: newSessions(o.Now, o.IdleTimeout, o.MaxAge)}
	var err error
	if c.pages, err = parseTemplates(); err != nil {
		return nil, err
	}
	if c.form, err = loadFormSchema(); err != nil {
		return nil, err
	}
	c.cop = http.NewCrossOriginProtection()
	c.cop.SetDenyHandler(http.HandlerFunc(c.crossOriginDenied))
	c.mux = http.NewServeMux()
	c.routes = c.routeTable()
	for _, rt := range c.routes {
		c.mux.Handle(rt.method+" "+o.Prefix+rt.path, c.guard(rt))
	}
	c.mux.Handle("GET "+o.Prefix+"/static/", http.StripPrefix(o.Prefix+"/static/", staticHandler()))
	c.mux.HandleFunc(o.Prefix+"/", c.notFound)
	return c, nil
}

// ServeHTTP serves every path under the prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if r.URL.Path == c.o.Prefix {
		http.Redirect(w, r, c.o.Prefix+"/", http.StatusSeeOther)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// Prefix is where the console is mounted.
func (c *Console) Prefix() string { return c.o.Prefix }

// Routes lists the console's pages and actions with the roles that may use
// them, for documentation and tests.
func (c *Console) Routes() []RouteInfo {
	out := make([]RouteInfo, 0, len(c.routes))
	for _, r := range c.routes {
		out = append(out, RouteInfo{Method: r.method, Path: c.o.Prefix + r.path, Roles: append([]string(nil), r.roles...)})
	}
	return out
}

// RouteInfo describes one route: method, path pattern and the roles
// allowed (none: open to anyone, signed in or not).
type RouteInfo struct {
	Method string
	Path   string
	Roles  []string
}
