package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/store"
)

// MatchPerson names one person of one case.
type MatchPerson struct {
	CaseID   string `json:"case_id"`
	PersonID string `json:"person_id"`
}

// Match is a candidate match as the local API shows it: the two persons
// (ids only), the score, the field-by-field explanation and the decision.
type Match struct {
	ID          int64           `json:"id"`
	A           MatchPerson     `json:"a"`
	B           MatchPerson     `json:"b"`
	Score       float64         `json:"score"`
	State       string          `json:"state"`
	Explanation json.RawMessage `json:"explanation"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	DecidedBy   string          `json:"decided_by,omitempty"`
	DecidedAt   *time.Time      `json:"decided_at,omitempty"`
	// Remote is, for a candidate another member answered to a match
	// query, that member: b is then {"case_id": the member, "person_id":
	// the handle it gave} and the explanation says so (method "pprl").
	Remote string `json:"remote,omitempty"`
}

// MatchList is a page of candidates.
type MatchList struct {
	Matches []Match `json:"matches"`
	Next    int64   `json:"next,omitempty"`
	// Past is, when the list is filtered by case_id, for each person of
	// that case whose list of candidates was cut at the bound (node/match:
	// at most 20 per person), how many of the candidates past the bound,
	// with the same or a lower score, no list holds: they are not listed
	// (Node.MatchesNotListed). A lower bound: the count is of the case's last matching,
	// and a case registered since past both bounds may not be counted.
	// Person ids and counts only. Absent when none is.
	Past map[string]int `json:"past,omitempty"`
}

// MatchDecisionRequest is the optional body of confirm and reject (an
// empty object: the decision is the route, the caseworker the token).
type MatchDecisionRequest struct{}

func matchOut(m store.MatchCandidate) Match {
	out := Match{ID: m.ID, A: MatchPerson{m.ACase, m.APerson}, B: MatchPerson{m.BCase, m.BPerson}, Score: m.Score,
		State: m.State, Explanation: m.Explanation, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, DecidedBy: m.DecidedBy, Remote: m.Remote}
	if !m.DecidedAt.IsZero() {
		at := m.DecidedAt
		out.DecidedAt = &at
	}
	return out
}

func (l *localAPI) listMatches(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	q := parseQuery(r, "state", "case_id", "after", "limit")
	f := store.MatchFilter{
		State:   q.enum("state", store.MatchOpen, store.MatchConfirmed, store.MatchRejected, "all"),
		CaseID:  q.str("case_id"),
		AfterID: q.int("after", 0, 0, 1<<62), Limit: int(q.int("limit", 100, 1, maxPage)),
	}
	if q.err != nil {
		l.fail(w, r, q.err)
		return
	}
	switch f.State {
	case "":
		f.State = store.MatchOpen
	case "all":
		f.State = ""
	}
	ms, err := l.n.View().ListMatches(r.Context(), f)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	out := MatchList{Matches: make([]Match, 0, len(ms))}
	if f.CaseID != "" {
		if out.Past, err = l.n.MatchesNotListed(r.Context(), f.CaseID); err != nil {
			l.fail(w, r, err)
			return
		}
	}
	for _, m := range ms {
		out.Matches = append(out.Matches, matchOut(m))
	}
	if len(ms) == f.Limit {
		out.Next = ms[len(ms)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

func (l *localAPI) getMatch(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	id, err := intVar(r, "mid", "match")
	if err != nil {
		l.fail(w, r, err)
		return
	}
	m, err := l.n.View().GetMatch(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		l.fail(w, r, problem.New(problem.NotFound, "no such match"))
		return
	}
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, matchOut(m))
}

func (l *localAPI) confirmMatch(w http.ResponseWriter, r *http.Request, a node.Actor) {
	l.decideMatch(w, r, a, node.MatchConfirm)
}

func (l *localAPI) rejectMatch(w http.ResponseWriter, r *http.Request, a node.Actor) {
	l.decideMatch(w, r, a, node.MatchReject)
}

func (l *localAPI) decideMatch(w http.ResponseWriter, r *http.Request, a node.Actor, decision string) {
	id, err := intVar(r, "mid", "match")
	if err != nil {
		l.fail(w, r, err)
		return
	}
	var req MatchDecisionRequest
	if !l.readOptionalWrapper(w, r, &req) {
		return
	}
	m, err := l.n.DecideMatch(r.Context(), a, id, decision)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, matchOut(m))
}

func (*MatchDecisionRequest) check() error { return nil }

// MatchQueryRequest is the body of a match query: ask member To whether it
// holds a likely match for person PersonID of the case.
type MatchQueryRequest struct {
	To       string `json:"to"`
	PersonID string `json:"person_id"`
}

func (req *MatchQueryRequest) check() error {
	if err := checkMember(req.To); err != nil {
		return err
	}
	if req.PersonID == "" || len(req.PersonID) > 32 {
		return badRequest(`"person_id" must name a person of the case`)
	}
	return nil
}

func (l *localAPI) matchQuery(w http.ResponseWriter, r *http.Request, a node.Actor) {
	var req MatchQueryRequest
	id, ok := l.pathCaseID(w, r)
	if !ok || !l.readWrapper(w, r, &req) {
		return
	}
	res, err := l.n.SendMatchQuery(r.Context(), a, id, req.PersonID, req.To)
	l.reply(w, r, http.StatusAccepted, res, err)
}

// RematchResult is the answer of the bulk match job: the cases and
// persons matched again, the candidates written (each pair once) and how
// long the job took.
type RematchResult struct {
	Cases             int     `json:"cases"`
	PersonsMatched    int     `json:"persons_matched"`
	CandidatesWritten int     `json:"candidates_written"`
	DurationSeconds   float64 `json:"duration_seconds"`
}

// rematch runs the bulk match job and answers when it is done (operator).
func (l *localAPI) rematch(w http.ResponseWriter, r *http.Request, a node.Actor) {
	var req MatchDecisionRequest
	if !l.readOptionalWrapper(w, r, &req) {
		return
	}
	res, err := l.n.Rematch(r.Context(), a)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, RematchResult{Cases: res.Cases, PersonsMatched: res.Persons,
		CandidatesWritten: res.Candidates, DurationSeconds: res.Duration.Seconds()})
}
