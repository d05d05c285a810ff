package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/mux"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/node/trust"
)

// InboxSummary is a received envelope without its bytes. State is
// unprocessed, processed or failed (processed with an error).
type InboxSummary struct {
	ID           int64      `json:"id"`
	JTI          string     `json:"jti"`
	Iss          string     `json:"iss"`
	Kind         string     `json:"kind"`
	CaseID       string     `json:"case_id"`
	SHA256       string     `json:"sha256"`
	ReceivedAt   *time.Time `json:"received_at,omitempty"`
	State        string     `json:"state"`
	ProcessedAt  *time.Time `json:"processed_at,omitempty"`
	ProcessError string     `json:"process_error,omitempty"`
}

// InboxList is a page of GET /api/v1/inbox; Next, when set, is the after
// value of the following page.
type InboxList struct {
	Items []InboxSummary `json:"items"`
	Next  int64          `json:"next,omitempty"`
}

// OutboxSummary is a queued envelope without its bytes.
type OutboxSummary struct {
	ID            int64      `json:"id"`
	Destination   string     `json:"destination"`
	CaseID        string     `json:"case_id"`
	CaseVersion   int64      `json:"case_version,omitempty"`
	Kind          string     `json:"kind"`
	JTI           string     `json:"jti"`
	Seq           int64      `json:"seq"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     *time.Time `json:"created_at,omitempty"`
	UpdatedAt     *time.Time `json:"updated_at,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
}

// OutboxList is a page of GET /api/v1/outbox.
type OutboxList struct {
	Items []OutboxSummary `json:"items"`
	Next  int64           `json:"next,omitempty"`
}

// PeerStats is the outbox towards one member. MemberStatus is the member's
// status in the held manifest (active, suspended) or unknown.
type PeerStats struct {
	Destination       string     `json:"destination"`
	MemberStatus      string     `json:"member_status"`
	Queued            int64      `json:"queued"`
	InFlight          int64      `json:"in_flight"`
	Delivered         int64      `json:"delivered"`
	Dead              int64      `json:"dead"`
	Cancelled         int64      `json:"cancelled"`
	OldestPendingAt   *time.Time `json:"oldest_pending_at,omitempty"`
	OldestPendingSecs int64      `json:"oldest_pending_seconds"`
	// Delivery backoff after failures (kept across restarts): nothing is
	// sent to the peer before BackoffUntil; LastError is the reason label
	// of the last failed round. Zero and absent when the peer is healthy.
	ConsecutiveFailures int        `json:"consecutive_failures"`
	BackoffUntil        *time.Time `json:"backoff_until,omitempty"`
	BackoffSecs         int64      `json:"backoff_seconds"`
	LastError           string     `json:"last_error,omitempty"`
}

// PeerRetry is POST /api/v1/outbox/peers/{member}/retry: the rows that
// were waiting and are due now.
type PeerRetry struct {
	Destination string `json:"destination"`
	Rows        int64  `json:"rows"`
}

// PeerList is GET /api/v1/outbox/peers.
type PeerList struct {
	Peers []PeerStats `json:"peers"`
}

// AuditEntry is a row of the audit log.
type AuditEntry struct {
	Seq      int64           `json:"seq"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Object   string          `json:"object"`
	Details  json.RawMessage `json:"details,omitempty"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

// AuditList is a page of GET /api/v1/audit.
type AuditList struct {
	Items []AuditEntry `json:"items"`
	Next  int64        `json:"next,omitempty"`
}

// AuditVerification is GET /api/v1/audit/verify.
type AuditVerification struct {
	Rows        int64  `json:"rows"`
	OK          bool   `json:"ok"`
	FirstBadSeq int64  `json:"first_bad_seq"`
	Problem     string `json:"problem,omitempty"`
	Head        string `json:"head"`
}

// ManifestStatus is GET /api/v1/manifest. Usable is false once the
// manifest expired (the node then refuses to exchange until a newer one).
type ManifestStatus struct {
	Self       string          `json:"self"`
	Federation string          `json:"federation"`
	Version    int64           `json:"version"`
	IssuedAt   time.Time       `json:"issued_at"`
	ExpiresAt  time.Time       `json:"expires_at"`
	Usable     bool            `json:"usable"`
	Members    []ManifestEntry `json:"members"`
}

// ManifestEntry summarises one member of the manifest.
type ManifestEntry struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Country  string   `json:"country"`
	Role     string   `json:"role"`
	Status   string   `json:"status"`
	Endpoint string   `json:"endpoint"`
	Accepts  []string `json:"accepts"`
	Keys     int      `json:"keys"`
}

func inboxSummary(it store.InboxItem) InboxSummary {
	state := "processed"
	switch {
	case it.ProcessedAt.IsZero():
		state = "unprocessed"
	case it.ProcessError != "":
		state = "failed"
	}
	return InboxSummary{
		ID: it.ID, JTI: it.JTI, Iss: it.Iss, Kind: it.Kind, CaseID: it.CaseID, SHA256: it.SHA256,
		ReceivedAt: ts(it.ReceivedAt), State: state, ProcessedAt: ts(it.ProcessedAt), ProcessError: it.ProcessError,
	}
}

func outboxSummary(o store.OutboxItem) OutboxSummary {
	return OutboxSummary{
		ID: o.ID, Destination: o.Destination, CaseID: o.CaseID, CaseVersion: o.CaseVersion, Kind: o.Kind, JTI: o.JTI,
		Seq: o.Seq, State: string(o.State), Attempts: o.Attempts, NextAttemptAt: ts(o.NextAttemptAt),
		LastError: o.LastError, CreatedAt: ts(o.CreatedAt), UpdatedAt: ts(o.UpdatedAt), DeliveredAt: ts(o.DeliveredAt),
	}
}

var envelopeKinds = func() []string {
	out := make([]string, 0, len(federation.Kinds)+len(federation.CoordinationKinds)+len(federation.MatchKinds))
	for _, k := range append(append(slices.Clone(federation.Kinds), federation.CoordinationKinds...), federation.MatchKinds...) {
		out = append(out, string(k))
	}
	return out
}()

func (l *localAPI) inbox(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	q := parseQuery(r, "kind", "case_id", "iss", "state", "after", "limit")
	f := store.InboxFilter{
		Kind: q.enum("kind", envelopeKinds...), CaseID: q.str("case_id"), Iss: q.str("iss"),
		State:   q.enum("state", "unprocessed", "processed", "failed"),
		AfterID: q.int("after", 0, 0, 1<<62), Limit: int(q.int("limit", 100, 1, maxPage)),
	}
	if q.err != nil {
		l.fail(w, r, q.err)
		return
	}
	items, err := l.n.View().ListInbox(r.Context(), f)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	out := InboxList{Items: make([]InboxSummary, 0, len(items))}
	for _, it := range items {
		out.Items = append(out.Items, inboxSummary(it))
	}
	if len(items) == f.Limit {
		out.Next = items[len(items)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

func (l *localAPI) outbox(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	q := parseQuery(r, "destination", "state", "case_id", "after", "limit")
	f := store.OutboxFilter{
		Destination: q.str("destination"), CaseID: q.str("case_id"),
		State:   store.OutboxState(q.enum("state", string(store.Queued), string(store.InFlight), string(store.Delivered), string(store.Dead), string(store.Cancelled))),
		AfterID: q.int("after", 0, 0, 1<<62), Limit: int(q.int("limit", 100, 1, maxPage)),
	}
	if q.err != nil {
		l.fail(w, r, q.err)
		return
	}
	items, err := l.n.View().ListOutbox(r.Context(), f)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	out := OutboxList{Items: make([]OutboxSummary, 0, len(items))}
	for _, it := range items {
		out.Items = append(out.Items, outboxSummary(it))
	}
	if len(items) == f.Limit {
		out.Next = items[len(items)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

func (l *localAPI) peers(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	if !l.noQuery(w, r) {
		return
	}
	stats, err := l.n.View().OutboxStats(r.Context())
	if err != nil {
		l.fail(w, r, err)
		return
	}
	saved, err := l.n.View().ListPeerBackoff(r.Context())
	if err != nil {
		l.fail(w, r, err)
		return
	}
	rest := make(map[string]store.PeerBackoff, len(saved))
	for _, b := range saved {
		rest[b.Destination] = b
	}
	m := l.n.Manifest()
	now := time.Now()
	out := PeerList{Peers: make([]PeerStats, 0, len(stats))}
	for _, s := range stats {
		p := PeerStats{
			Destination: s.Destination, MemberStatus: "unknown", Queued: s.Queued, InFlight: s.InFlight,
			Delivered: s.Delivered, Dead: s.Dead, Cancelled: s.Cancelled, OldestPendingAt: ts(s.OldestPending),
		}
		if m != nil {
			if mb, ok := m.Member(s.Destination); ok {
				p.MemberStatus = string(mb.Status)
			}
		}
		if !s.OldestPending.IsZero() {
			p.OldestPendingSecs = int64(now.Sub(s.OldestPending).Seconds())
		}
		if b, ok := rest[s.Destination]; ok {
			p.ConsecutiveFailures, p.BackoffUntil, p.LastError = b.Failures, ts(b.NextAttemptAt), b.LastError
			if wait := b.NextAttemptAt.Sub(now); wait > 0 {
				p.BackoffSecs = int64(wait.Seconds() + 0.999) // rounded up: 0 means due
			}
		}
		out.Peers = append(out.Peers, p)
	}
	writeJSON(w, http.StatusOK, out)
}

func (l *localAPI) retryPeer(w http.ResponseWriter, r *http.Request, a node.Actor) {
	if !l.noQuery(w, r) {
		return
	}
	member := mux.Vars(r)["member"]
	n, err := l.n.RetryPeer(r.Context(), a, member)
	l.reply(w, r, http.StatusAccepted, PeerRetry{Destination: member, Rows: n}, err)
}

func (l *localAPI) requeue(w http.ResponseWriter, r *http.Request, a node.Actor) {
	id, err := intVar(r, "oid", "outbox row")
	if err != nil {
		l.fail(w, r, err)
		return
	}
	it, err := l.n.Requeue(r.Context(), a, id)
	l.reply(w, r, http.StatusAccepted, outboxSummary(it), err)
}

func (l *localAPI) audit(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	q := parseQuery(r, "actor", "action", "object", "after", "limit")
	f := store.AuditFilter{
		Actor: q.str("actor"), Action: q.str("action"), Object: q.str("object"),
		AfterSeq: q.int("after", 0, 0, 1<<62), Limit: int(q.int("limit", 100, 1, maxPage)),
	}
	if q.err != nil {
		l.fail(w, r, q.err)
		return
	}
	rows, err := l.n.View().ListAudit(r.Context(), f)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	out := AuditList{Items: make([]AuditEntry, 0, len(rows))}
	for _, a := range rows {
		out.Items = append(out.Items, AuditEntry{
			Seq: a.Seq, At: a.At.UTC(), Actor: a.Actor, Action: a.Action, Object: a.Object,
			Details: a.Details, PrevHash: a.PrevHash, Hash: a.Hash,
		})
	}
	if len(rows) == f.Limit {
		out.Next = rows[len(rows)-1].Seq
	}
	writeJSON(w, http.StatusOK, out)
}

func (l *localAPI) verifyAudit(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	if !l.noQuery(w, r) {
		return
	}
	v, err := l.n.View().VerifyAudit(r.Context())
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, AuditVerification{Rows: v.Rows, OK: v.OK(), FirstBadSeq: v.FirstBadSeq, Problem: v.Problem, Head: v.Head})
}

func (l *localAPI) manifest(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	if !l.noQuery(w, r) {
		return
	}
	m := l.n.Manifest()
	if m == nil {
		writeProblem(w, problem.Unavailable, "no federation manifest is held")
		return
	}
	out := ManifestStatus{
		Self: l.n.Self(), Federation: m.Federation, Version: m.Version, IssuedAt: m.IssuedAt.UTC(), ExpiresAt: m.ExpiresAt.UTC(),
		Usable: !errors.Is(l.n.Ready(r.Context()), trust.ErrNoManifest), Members: make([]ManifestEntry, 0, len(m.Members)),
	}
	for _, mb := range m.Members {
		e := ManifestEntry{
			ID: mb.ID, Name: mb.Name, Country: mb.Country, Role: string(mb.Role), Status: string(mb.Status),
			Endpoint: mb.Endpoint, Accepts: make([]string, 0, len(mb.Accepts)), Keys: len(mb.JWKS),
		}
		for _, k := range mb.Accepts {
			e.Accepts = append(e.Accepts, string(k))
		}
		out.Members = append(out.Members, e)
	}
	writeJSON(w, http.StatusOK, out)
}

// PendingWithdrawal is a member asked to erase one of this node's cases
// that has not confirmed it (node.UnconfirmedWithdrawals).
type PendingWithdrawal struct {
	CaseID        string     `json:"case_id"`
	Member        string     `json:"member"`
	State         string     `json:"state"`
	Sends         int        `json:"sends"`
	LastSentAt    *time.Time `json:"last_sent_at,omitempty"`
	NextSendAt    *time.Time `json:"next_send_at,omitempty"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
}

// WithdrawalList is GET /api/v1/withdrawals.
type WithdrawalList struct {
	Withdrawals []PendingWithdrawal `json:"withdrawals"`
}

func (l *localAPI) withdrawals(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	if !l.noQuery(w, r) {
		return
	}
	ps, err := l.n.UnconfirmedWithdrawals(r.Context())
	if err != nil {
		l.fail(w, r, err)
		return
	}
	out := WithdrawalList{Withdrawals: make([]PendingWithdrawal, 0, len(ps))}
	for _, p := range ps {
		out.Withdrawals = append(out.Withdrawals, PendingWithdrawal{CaseID: p.CaseID, Member: p.Member, State: p.State, Sends: p.Sends,
			LastSentAt: ts(p.LastSentAt), NextSendAt: ts(p.NextSendAt), Attempts: p.Attempts, NextAttemptAt: ts(p.NextAttemptAt), LastError: p.LastError})
	}
	writeJSON(w, http.StatusOK, out)
}
