package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// CaseSummary is a case's index fields, without its document.
type CaseSummary struct {
	CaseID      string     `json:"case_id"`
	Origin      string     `json:"origin"`
	Type        string     `json:"type"`
	Status      string     `json:"status"`
	Version     int64      `json:"version"`
	CreatedAt   *time.Time `json:"created_at,omitempty"`
	UpdatedAt   *time.Time `json:"updated_at,omitempty"`
	Erased      bool       `json:"erased"`
	ErasedAt    *time.Time `json:"erased_at,omitempty"`
	EraseReason string     `json:"erase_reason,omitempty"`
}

// CaseList is a page of GET /api/v1/cases. Next, when set, is the cursor
// of the following page.
type CaseList struct {
	Cases []CaseSummary `json:"cases"`
	Next  string        `json:"next,omitempty"`
}

// CaseView is GET /api/v1/cases/{id}: the case, its current document
// (absent once erased, and for auditors), what was received about it, who
// received it from this node, and the policy decisions taken on it.
type CaseView struct {
	CaseSummary
	Document   json.RawMessage `json:"document,omitempty"`
	Received   []InboxSummary  `json:"received"`
	Recipients []Recipient     `json:"recipients"`
	Decisions  []Decision      `json:"decisions"`
}

// Recipient is a member that received a case from this node, with the
// state of the case's withdrawal towards it: none (not withdrawn), pending
// (withdrawal queued), sent (delivered) or confirmed (the recipient
// confirmed its erasure).
type Recipient struct {
	Member                string     `json:"member"`
	FirstDeliveredAt      *time.Time `json:"first_delivered_at,omitempty"`
	LastDeliveredAt       *time.Time `json:"last_delivered_at,omitempty"`
	LastVersion           int64      `json:"last_version,omitempty"`
	Withdrawal            string     `json:"withdrawal"`
	WithdrawalSentAt      *time.Time `json:"withdrawal_sent_at,omitempty"`
	WithdrawalConfirmedAt *time.Time `json:"withdrawal_confirmed_at,omitempty"`
}

// Decision is a stored policy decision; Decision holds the full
// policy.Decision (effect, redactions, rules fired with their reasons,
// policy version and hash, review).
type Decision struct {
	ID          int64           `json:"id"`
	CaseID      string          `json:"case_id"`
	Destination string          `json:"destination"`
	Effect      string          `json:"effect"`
	CreatedAt   *time.Time      `json:"created_at,omitempty"`
	Decision    json.RawMessage `json:"decision"`
}

// DecisionList is GET /api/v1/cases/{id}/decisions.
type DecisionList struct {
	Decisions []Decision `json:"decisions"`
}

func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func caseSummary(c store.Case) CaseSummary {
	return CaseSummary{
		CaseID: c.ID, Origin: c.Origin, Type: c.Type, Status: c.Status, Version: c.Version,
		CreatedAt: ts(c.CreatedAt), UpdatedAt: ts(c.UpdatedAt),
		Erased: c.Erased(), ErasedAt: ts(c.ErasedAt), EraseReason: c.EraseReason,
	}
}

func decisionOut(d store.Decision) Decision {
	raw := d.Decision
	if len(raw) == 0 {
		raw = json.RawMessage("null")
	}
	return Decision{ID: d.ID, CaseID: d.CaseID, Destination: d.Destination, Effect: d.Effect, CreatedAt: ts(d.CreatedAt), Decision: raw}
}

func (l *localAPI) createCase(w http.ResponseWriter, r *http.Request, a node.Actor) {
	body, ok := l.readBody(w, r)
	if !ok {
		return
	}
	c, err := l.n.CreateCase(r.Context(), a, body)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/cases/"+url.PathEscape(c.ID))
	writeJSON(w, http.StatusCreated, caseSummary(c))
}

func (l *localAPI) updateCase(w http.ResponseWriter, r *http.Request, a node.Actor) {
	id, body, ok := l.caseBody(w, r)
	if !ok {
		return
	}
	c, err := l.n.UpdateCase(r.Context(), a, id, body)
	l.reply(w, r, http.StatusOK, caseSummary(c), err)
}

func (l *localAPI) listCases(w http.ResponseWriter, r *http.Request, a node.Actor) {
	q := parseQuery(r, append([]string{"status", "type", "origin", "updated_since", "include_erased", "cursor", "limit", "sort"}, searchParams...)...)
	if q.err == nil && q.str("origin") != "" && !federation.ValidMemberID(q.str("origin")) {
		q.fail("origin %q is not a member id", q.str("origin"))
	}
	for _, s := range list(q.str("status")) {
		if !node.ValidStatus(s) {
			q.fail("status %q is not a case status", s)
		}
	}
	for _, s := range list(q.str("type")) {
		if !node.ValidType(s) {
			q.fail("type %q is not a case type", s)
		}
	}
	lists := strings.Contains(q.str("status"), ",") || strings.Contains(q.str("type"), ",")
	if q.err == nil && (q.str("sort") != "" || lists || anySet(q, searchParams)) {
		if q.str("updated_since") != "" || q.str("include_erased") != "" {
			q.fail("updated_since and include_erased do not combine with a search or a sort")
		} else {
			l.searchCases(w, r, a, q)
			return
		}
	}
	f := store.CaseFilter{
		Status: q.str("status"), Type: q.str("type"), Origin: q.str("origin"),
		UpdatedSince: q.time("updated_since"), IncludeErased: q.boolean("include_erased"),
		Cursor: q.str("cursor"), Limit: int(q.int("limit", 100, 1, maxPage)),
	}
	if q.err != nil {
		l.fail(w, r, q.err)
		return
	}
	page, err := l.n.View().ListCases(r.Context(), f)
	if errors.Is(err, store.ErrInvalid) {
		l.fail(w, r, badRequest("cursor is not valid"))
		return
	}
	if err != nil {
		l.fail(w, r, err)
		return
	}
	out := CaseList{Cases: make([]CaseSummary, 0, len(page.Cases)), Next: page.Next}
	for _, c := range page.Cases {
		out.Cases = append(out.Cases, caseSummary(c))
	}
	writeJSON(w, http.StatusOK, out)
}

func (l *localAPI) getCase(w http.ResponseWriter, r *http.Request, a node.Actor) {
	id, ok := l.pathCaseID(w, r)
	if !ok {
		return
	}
	// The read is audited (who, which case, whether the document was
	// returned); auditors never get the document.
	v, err := l.n.ReadCase(r.Context(), a, id, a.Role != RoleAuditor)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	out := CaseView{
		CaseSummary: caseSummary(v.Case),
		Received:    make([]InboxSummary, 0, len(v.Received)),
		Recipients:  make([]Recipient, 0, len(v.Recipients)),
		Decisions:   make([]Decision, 0, len(v.Decisions)),
	}
	if a.Role != RoleAuditor && len(v.Document) > 0 {
		out.Document = v.Document
	}
	for _, it := range v.Received {
		out.Received = append(out.Received, inboxSummary(it))
	}
	for _, rc := range v.Recipients {
		state := "none"
		switch {
		case !rc.WithdrawalConfirmedAt.IsZero():
			state = "confirmed"
		case !rc.WithdrawalSentAt.IsZero():
			state = "sent"
		case v.Case.Erased():
			state = "pending"
		}
		out.Recipients = append(out.Recipients, Recipient{
			Member: rc.Member, FirstDeliveredAt: ts(rc.FirstDeliveredAt), LastDeliveredAt: ts(rc.LastDeliveredAt),
			LastVersion: rc.LastVersion, Withdrawal: state,
			WithdrawalSentAt: ts(rc.WithdrawalSentAt), WithdrawalConfirmedAt: ts(rc.WithdrawalConfirmedAt),
		})
	}
	for _, d := range v.Decisions {
		out.Decisions = append(out.Decisions, decisionOut(d))
	}
	writeJSON(w, http.StatusOK, out)
}

func (l *localAPI) decisions(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	id, ok := l.pathCaseID(w, r)
	if !ok {
		return
	}
	st := l.n.View()
	if _, err := st.GetCase(r.Context(), id); errors.Is(err, store.ErrNotFound) {
		l.fail(w, r, problem.New(problem.NotFound, "no case "+id))
		return
	} else if err != nil {
		l.fail(w, r, err)
		return
	}
	ds, err := st.ListDecisions(r.Context(), id)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	out := DecisionList{Decisions: make([]Decision, 0, len(ds))}
	for _, d := range ds {
		out.Decisions = append(out.Decisions, decisionOut(d))
	}
	writeJSON(w, http.StatusOK, out)
}

// ForwardRequest is the body of forward and policy-check.
type ForwardRequest struct {
	To string `json:"to"`
}

func (req *ForwardRequest) check() error { return checkMember(req.To) }

func checkMember(to string) error {
	if !federation.ValidMemberID(to) {
		return badRequest(`"to" must be a member id`)
	}
	return nil
}

func (l *localAPI) forward(w http.ResponseWriter, r *http.Request, a node.Actor) {
	var req ForwardRequest
	id, ok := l.pathCaseID(w, r)
	if !ok || !l.readWrapper(w, r, &req) {
		return
	}
	res, err := l.n.Forward(r.Context(), a, id, req.To)
	l.reply(w, r, http.StatusAccepted, res, err)
}

func (l *localAPI) policyCheck(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	var req ForwardRequest
	id, ok := l.pathCaseID(w, r)
	if !ok || !l.readWrapper(w, r, &req) {
		return
	}
	res, err := l.n.DryRun(r.Context(), id, req.To)
	l.reply(w, r, http.StatusOK, res, err)
}

func (l *localAPI) respond(w http.ResponseWriter, r *http.Request, a node.Actor) {
	id, body, ok := l.caseBody(w, r)
	if !ok {
		return
	}
	res, err := l.n.Respond(r.Context(), a, id, body)
	l.reply(w, r, http.StatusAccepted, res, err)
}

// MessageRequest is the body of POST /api/v1/cases/{id}/messages.
type MessageRequest struct {
	To      string          `json:"to"`
	Message json.RawMessage `json:"message"`
}

func (req *MessageRequest) check() error {
	if err := checkMember(req.To); err != nil {
		return err
	}
	if len(req.Message) == 0 || string(req.Message) == "null" {
		return badRequest(`"message" (a flx/v1/message document) is required`)
	}
	return nil
}

func (l *localAPI) message(w http.ResponseWriter, r *http.Request, a node.Actor) {
	var req MessageRequest
	id, ok := l.pathCaseID(w, r)
	if !ok || !l.readWrapper(w, r, &req) {
		return
	}
	res, err := l.n.SendMessage(r.Context(), a, id, req.To, req.Message)
	l.reply(w, r, http.StatusAccepted, res, err)
}

// WithdrawRequest is the body of POST /api/v1/cases/{id}/withdraw.
type WithdrawRequest struct {
	Reason string `json:"reason"`
	// PersonIDs would limit the withdrawal to some persons; this node
	// withdraws whole cases only, so a non-empty list is refused.
	PersonIDs []string `json:"person_ids,omitempty"`
}

func (req *WithdrawRequest) check() error {
	if req.Reason == "" {
		return badRequest(`"reason" is required`)
	}
	if len(req.PersonIDs) > 0 {
		return badRequest("withdrawing only some persons (person_ids) is not supported: withdraw the whole case")
	}
	return nil
}

func (l *localAPI) withdraw(w http.ResponseWriter, r *http.Request, a node.Actor) {
	var req WithdrawRequest
	id, ok := l.pathCaseID(w, r)
	if !ok || !l.readWrapper(w, r, &req) {
		return
	}
	res, err := l.n.Withdraw(r.Context(), a, id, schema.WithdrawalReason(req.Reason))
	l.reply(w, r, http.StatusAccepted, res, err)
}

// ReviewRequest is the optional body of approve and reject.
type ReviewRequest struct {
	Note string `json:"note,omitempty"`
}

func (req *ReviewRequest) check() error {
	if len(req.Note) > 2000 {
		return badRequest(`"note" is longer than 2000 characters`)
	}
	return nil
}

func (l *localAPI) approve(w http.ResponseWriter, r *http.Request, a node.Actor) {
	l.review(w, r, a, true)
}

func (l *localAPI) reject(w http.ResponseWriter, r *http.Request, a node.Actor) {
	l.review(w, r, a, false)
}

func (l *localAPI) review(w http.ResponseWriter, r *http.Request, a node.Actor, approve bool) {
	id, ok := l.pathCaseID(w, r)
	if !ok {
		return
	}
	did, err := intVar(r, "did", "decision")
	if err != nil {
		l.fail(w, r, err)
		return
	}
	var req ReviewRequest
	if !l.readOptionalWrapper(w, r, &req) {
		return
	}
	res, err := l.n.Review(r.Context(), a, id, did, approve, req.Note)
	status := http.StatusOK
	if approve {
		status = http.StatusAccepted
	}
	l.reply(w, r, status, res, err)
}

// ReviewQueue is GET /api/v1/review: what waits for an operator.
type ReviewQueue struct {
	Held []node.HeldItem `json:"held"`
}

func (l *localAPI) reviewQueue(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	if !l.noQuery(w, r) {
		return
	}
	items, err := l.n.ReviewQueue(r.Context())
	if err != nil {
		l.fail(w, r, err)
		return
	}
	for i := range items {
		items[i].HeldSince = items[i].HeldSince.UTC()
	}
	writeJSON(w, http.StatusOK, ReviewQueue{Held: items})
}

func anySet(q *query, names []string) bool {
	for _, n := range names {
		if q.str(n) != "" {
			return true
		}
	}
	return false
}
