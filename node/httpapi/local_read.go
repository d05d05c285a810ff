package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/search"
)

// ReceivedItem is GET /api/v1/inbox/{iid}: a received envelope and, in
// full, the document it carried (a response, a message, a case version, a
// withdrawal); no document once the case was erased.
type ReceivedItem struct {
	InboxSummary
	Body json.RawMessage `json:"body,omitempty"`
}

func (l *localAPI) received(w http.ResponseWriter, r *http.Request, a node.Actor) {
	if !l.noQuery(w, r) {
		return
	}
	iid, err := intVar(r, "iid", "inbox item")
	if err != nil {
		l.fail(w, r, err)
		return
	}
	it, err := l.n.ReadReceived(r.Context(), a, iid, a.Role != RoleAuditor)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ReceivedItem{InboxSummary: inboxSummary(it.Item), Body: it.Body})
}

// thread is GET /api/v1/cases/{id}/thread (node.Thread): auditors get
// the events without the documents received.
func (l *localAPI) thread(w http.ResponseWriter, r *http.Request, a node.Actor) {
	id, ok := l.pathCaseID(w, r)
	if !ok || !l.noQuery(w, r) {
		return
	}
	t, err := l.n.CaseThread(r.Context(), a, id, a.Role != RoleAuditor)
	l.reply(w, r, http.StatusOK, t, err)
}

// searchParams are the parameters of GET /api/v1/cases that search by
// person: names, words, places, dates and ages.
var searchParams = []string{"name", "q", "place", "born", "born_from", "born_to", "age_min", "age_max"}

// searchCases answers GET /api/v1/cases with search parameters or a sort
// (node.SearchCases). Auditors may filter but not search by person.
func (l *localAPI) searchCases(w http.ResponseWriter, r *http.Request, a node.Actor, q *query) {
	if a.Role == RoleAuditor {
		for _, p := range searchParams {
			if q.str(p) != "" {
				l.fail(w, r, problem.Errorf(problem.Forbidden, "role %q may not search cases by person (%s): it sees case metadata only", a.Role, p))
				return
			}
		}
	}
	s := node.CaseSearch{
		Query:  search.Query{Name: q.str("name"), Text: q.str("q"), Place: q.str("place"), Born: q.str("born")},
		Status: list(q.str("status")), Type: list(q.str("type")), Member: q.str("origin"),
		Sort: q.str("sort"), Cursor: q.str("cursor"), Limit: int(q.int("limit", 50, 1, maxPage)),
	}
	s.BornFrom = int(q.int("born_from", 0, 1, 9999))
	s.BornTo = int(q.int("born_to", 0, 1, 9999))
	var err error
	if s.AgeMin, err = search.Int("age_min", q.str("age_min")); err != nil {
		q.fail("age_min must be an integer")
	}
	if s.AgeMax, err = search.Int("age_max", q.str("age_max")); err != nil {
		q.fail("age_max must be an integer")
	}
	if q.err != nil {
		l.fail(w, r, q.err)
		return
	}
	page, err := l.n.SearchCases(r.Context(), a, s)
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

// list splits a comma-separated parameter.
func list(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// ImportRequest is the body of POST /api/v1/import/cases: a batch of case
// documents of this Society and, optionally, a member to forward each to.
// With skip_invalid, an invalid case is refused alone (listed in the
// answer's rejected, with its index and code) and the rest is stored;
// without it, one invalid case refuses the batch (422 schema_invalid).
type ImportRequest struct {
	Cases       []json.RawMessage `json:"cases"`
	ForwardTo   string            `json:"forward_to,omitempty"`
	SkipInvalid bool              `json:"skip_invalid,omitempty"`
}

func (req *ImportRequest) check() error {
	if len(req.Cases) == 0 || len(req.Cases) > node.MaxImportBatch {
		return badRequest(`"cases" must hold 1 to %d case documents`, node.MaxImportBatch)
	}
	if req.ForwardTo != "" {
		return checkMember(req.ForwardTo)
	}
	return nil
}

func (l *localAPI) importCases(w http.ResponseWriter, r *http.Request, a node.Actor) {
	var req ImportRequest
	if !l.noQuery(w, r) || !l.readWrapper(w, r, &req) {
		return
	}
	res, err := l.n.ImportCasesWith(r.Context(), a, req.Cases, node.ImportOptions{ForwardTo: req.ForwardTo, SkipInvalid: req.SkipInvalid})
	l.reply(w, r, http.StatusOK, res, err)
}
