package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// Candidate matches (node/match): a list, and one candidate with its two
// persons side by side and the field-by-field explanation, to confirm or
// reject. Candidates hold ids, scores and field levels; the persons'
// names come from the case documents, read (and audited) only for the
// roles that read documents: an auditor sees the ids, score and
// explanation, never a name.

var matchStates = []string{store.MatchOpen, store.MatchConfirmed, store.MatchRejected}

// matchExplanation is the explanation stored with a candidate.
type matchExplanation struct {
	Weight float64         `json:"weight"`
	Offset float64         `json:"offset"`
	Fields []matchEvidence `json:"fields"`
}

type matchEvidence struct {
	Field      string  `json:"field"`
	Level      string  `json:"level"`
	Similarity float64 `json:"similarity"`
	Weight     float64 `json:"weight"`
	Names      *struct {
		A []int `json:"a"`
		B []int `json:"b"`
	} `json:"names"`
}

func (c *Console) matchesPage(w http.ResponseWriter, q *req) {
	qs := q.URL.Query()
	state := pick(qs.Get("state"), matchStates)
	if qs.Get("state") == "" {
		state = store.MatchOpen
	}
	after, _ := strconv.ParseInt(qs.Get("after"), 10, 64)
	f := store.MatchFilter{State: state, AfterID: max(after, 0), Limit: pageSize}
	if id := qs.Get("case"); id != "" && len(id) <= 64 {
		f.CaseID = id
	}
	ms, err := c.o.Backend.ListMatches(q.Context(), q.actor(), f)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	// Past: the persons of the case whose list of candidates was cut at
	// the bound (node/match), with how many candidates are not listed.
	var past []personPast
	if f.CaseID != "" {
		m, err := c.o.Backend.MatchesNotListed(q.Context(), q.actor(), f.CaseID)
		if err != nil {
			c.fail(w, q, err)
			return
		}
		for p, n := range m {
			past = append(past, personPast{p, n})
		}
		slices.SortFunc(past, func(a, b personPast) int { return strings.Compare(a.PersonID, b.PersonID) })
	}
	next := ""
	if len(ms) == pageSize {
		nq := url.Values{"after": {strconv.FormatInt(ms[len(ms)-1].ID, 10)}, "state": {state}}
		if f.CaseID != "" {
			nq.Set("case", f.CaseID)
		}
		next = c.o.Prefix + "/matches?" + nq.Encode()
	}
	c.render(w, q, http.StatusOK, "matches", struct {
		*view
		Matches []store.MatchCandidate
		States  []option
		Next    string
		CaseID  string
		Past    []personPast
	}{c.newView(q, "matches.title"), ms, choices(q.lc, matchStates, "match_state.", state), next, f.CaseID, past})
}

// personPast is one person of the case the list is filtered by whose list
// of candidates was cut: at least N candidates with the same or a lower
// score than its own list holds are listed by no one.
type personPast struct {
	PersonID string
	N        int
}

// matchSide is one person of a candidate as the page shows it.
type matchSide struct {
	CaseID, PersonID string
	CaseType         string
	Person           *schema.Person // nil: not shown to this role, or erased
	Marked           map[int]bool   // names the explanation points at
	Remote           string         // the member that answered a match query (PersonID its handle)
}

func (c *Console) matchPage(w http.ResponseWriter, q *req) {
	id, err := strconv.ParseInt(q.PathValue("mid"), 10, 64)
	if err != nil || id < 1 {
		c.errorPage(w, q, http.StatusNotFound, "error.not_found")
		return
	}
	m, err := c.o.Backend.GetMatch(q.Context(), q.actor(), id)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	var ex matchExplanation
	_ = json.Unmarshal(m.Explanation, &ex)
	a := matchSide{CaseID: m.ACase, PersonID: m.APerson, Marked: map[int]bool{}}
	b := matchSide{CaseID: m.BCase, PersonID: m.BPerson, Marked: map[int]bool{}, Remote: m.Remote}
	for _, e := range ex.Fields {
		if e.Field == "name" && e.Names != nil {
			for _, i := range e.Names.A {
				a.Marked[i] = true
			}
			for _, i := range e.Names.B {
				b.Marked[i] = true
			}
		}
	}
	if q.role() != RoleAuditor {
		for _, s := range []*matchSide{&a, &b} {
			if s.Remote != "" {
				continue
			}
			if err := c.readSide(q, s); err != nil {
				c.fail(w, q, err)
				return
			}
		}
	}
	c.render(w, q, http.StatusOK, "match", struct {
		*view
		M      store.MatchCandidate
		Ex     matchExplanation
		A, B   matchSide
		Sides  []matchSide
		IsOpen bool
	}{c.newView(q, "match.title", strconv.FormatInt(id, 10)), m, ex, a, b, []matchSide{a, b}, m.State == store.MatchOpen})
}

// readSide reads the person's case document (an audited read) and finds
// the person in it; a case erased since shows without the person.
func (c *Console) readSide(q *req, s *matchSide) error {
	cv, err := c.o.Backend.ReadCase(q.Context(), q.actor(), s.CaseID, true)
	if err != nil {
		if failureOf(err).Code == string(node.CodeNotFound) {
			return nil
		}
		return err
	}
	s.CaseType = cv.Case.Type
	if len(cv.Document) == 0 {
		return nil
	}
	doc, err := schema.ParseCase(cv.Document)
	if err != nil {
		return nil
	}
	if i := slices.IndexFunc(doc.Persons, func(p schema.Person) bool { return p.ID == s.PersonID }); i >= 0 {
		s.Person = &doc.Persons[i]
	}
	return nil
}

func (c *Console) decideMatch(w http.ResponseWriter, q *req) {
	id, err := strconv.ParseInt(q.PathValue("mid"), 10, 64)
	d := q.PathValue("decision")
	if err != nil || id < 1 || (d != node.MatchConfirm && d != node.MatchReject) {
		c.errorPage(w, q, http.StatusBadRequest, "error.bad_form")
		return
	}
	if _, err := c.o.Backend.DecideMatch(q.Context(), q.actor(), id, d); err != nil {
		c.fail(w, q, err)
		return
	}
	http.Redirect(w, q.Request, c.o.Prefix+"/matches/"+strconv.FormatInt(id, 10)+"?done=match_"+d, http.StatusSeeOther)
}

// inboxItemPage shows one received envelope and, for the roles that read
// documents, what it says: a response's outcome and text, a message's
// text, the candidates of a match answer. The read is audited.
func (c *Console) inboxItemPage(w http.ResponseWriter, q *req) {
	id, err := strconv.ParseInt(q.PathValue("iid"), 10, 64)
	if err != nil || id < 1 {
		c.errorPage(w, q, http.StatusNotFound, "error.not_found")
		return
	}
	it, err := c.o.Backend.ReadReceived(q.Context(), q.actor(), id, q.role() != RoleAuditor)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	var content struct {
		Outcome, MsgKind, Text string
		Answer                 *schema.MatchAnswer
		Raw                    string
		// A voice or video message's recording, played here for a
		// caseworker (the player's route and its audited read).
		Media     *schema.MediaRef
		MediaKind string
	}
	if len(it.Body) > 0 {
		switch it.Item.Kind {
		case "case.response":
			var r schema.Response
			if json.Unmarshal(it.Body, &r) == nil {
				content.Outcome, content.Text = string(r.Outcome), r.Message
			}
		case "message.deliver":
			var m schema.Message
			if json.Unmarshal(it.Body, &m) == nil {
				content.MsgKind, content.Text = string(m.Kind), m.Body
				if m.Media != nil && sha256RE.MatchString(m.Media.SHA256) && q.role() == RoleCaseworker && it.Item.CaseID != "" {
					content.Media, content.MediaKind = m.Media, mediaKind(m.Media.MediaType)
				}
			}
		case "match.answer":
			var a schema.MatchAnswer
			if json.Unmarshal(it.Body, &a) == nil {
				content.Answer = &a
			}
		}
	}
	c.render(w, q, http.StatusOK, "inboxitem", struct {
		*view
		Item    store.InboxItem
		State   string
		Content any
		HasBody bool
	}{c.newView(q, "inboxitem.title", strconv.FormatInt(id, 10)), it.Item, inboxState(it.Item), content, len(it.Body) > 0})
}
