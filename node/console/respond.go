package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
	"github.com/familylinks/flx/schema"
)

// outcomes a recipient may answer (schema/v1/response.json).
var outcomes = []string{"located", "located_pending_consent", "not_found", "declined_contact", "deceased", "tracing_in_progress", "closed"}

type personOption struct {
	ID, Name string
	Selected bool
}

// soughtPersons lists the persons of a case document a response may be
// about, the sought persons first selected.
func soughtPersons(doc []byte, cur string) []personOption {
	var c schema.Case
	if json.Unmarshal(doc, &c) != nil {
		return nil
	}
	var out []personOption
	for _, p := range c.Persons {
		sought := false
		for _, r := range p.Roles {
			sought = sought || r == schema.PersonSought || r == schema.PersonUnaccompaniedChild
		}
		if !sought {
			continue
		}
		o := personOption{ID: p.ID, Name: p.ID}
		if len(p.Names) > 0 {
			o.Name = p.Names[0].Value
		}
		o.Selected = o.ID == cur || (cur == "" && len(out) == 0)
		out = append(out, o)
	}
	return out
}

func (c *Console) respondPage(w http.ResponseWriter, q *req) {
	c.renderRespond(w, q, http.StatusOK, "", nil)
}

func (c *Console) renderRespond(w http.ResponseWriter, q *req, status int, problem string, d *policy.Decision) {
	id := q.PathValue("id")
	cv, err := c.o.Backend.ReadCase(q.Context(), q.actor(), id, true)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	v := c.newView(q, "respond.title", id)
	v.Problem = problem
	var outs []option
	for _, o := range outcomes {
		outs = append(outs, option{o, q.lc.T("outcome." + o), o == q.FormValue("outcome")})
	}
	c.render(w, q, status, "respond", struct {
		*view
		Case     store.Case
		CanReply bool
		Outcomes []option
		Persons  []personOption
		Message  string
		Decision *policy.Decision
	}{v, cv.Case, !cv.Case.Erased() && cv.Case.Origin != c.o.Backend.Self(), outs,
		soughtPersons(cv.Document, q.FormValue("sought_person")), q.FormValue("message"), d})
}

// respond sends the answer to the case's origin through the node
// (Node.Respond: the policy runs on it like on any send).
func (c *Console) respond(w http.ResponseWriter, q *req) {
	id := q.PathValue("id")
	outcome, person, msg := q.PostForm.Get("outcome"), q.PostForm.Get("sought_person"), q.PostForm.Get("message")
	if !contains(outcomes, outcome) || len(msg) > 4000 || len(person) > 64 {
		c.renderRespond(w, q, http.StatusUnprocessableEntity, q.lc.T("respond.choose_outcome"), nil)
		return
	}
	cv, err := c.o.Backend.ReadCase(q.Context(), q.actor(), id, false)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	doc := map[string]any{"schema": schema.KindResponse.SchemaTag(), "case_id": id, "responder": c.o.Backend.Self(),
		"in_reply_to_version": cv.Case.Version, "outcome": outcome, "responded_at": c.o.Now().UTC().Format(time.RFC3339)}
	if person != "" {
		doc["sought_person"] = person
	}
	if msg != "" {
		doc["message"] = msg
	}
	body, _ := json.Marshal(doc)
	res, err := c.o.Backend.Respond(q.Context(), q.actor(), id, body)
	if err != nil {
		fl := failureOf(err)
		if fl.Code == string(node.CodeInternal) {
			c.fail(w, q, err)
			return
		}
		c.renderRespond(w, q, statusOf(fl.Code), c.codeText(q.lc, fl), fl.Decision)
		return
	}
	if res.State == "denied" {
		c.renderRespond(w, q, http.StatusUnprocessableEntity, q.lc.T("done.denied"), &res.Decision)
		return
	}
	done := "answer_queued"
	if res.State == "needs_review" {
		done = "needs_review"
	}
	http.Redirect(w, q.Request, c.o.Prefix+"/cases/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
}
