package console

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// Case types and statuses offered in the list filters (schema v1).
var (
	caseTypes    = []string{"tracing_request", "detention_notification", "unaccompanied_minor_registration", "death_notification", "reunification_request", "fate_clarification", "safe_and_well"}
	caseStatuses = []string{"open", "transmitted", "acknowledged", "tracing_in_progress", "located_pending_consent", "located_contact_restored", "located_declined_contact", "deceased", "reunified", "closed_negative", "closed_withdrawn"}
	withdrawals  = []string{"consent_withdrawn", "case_closed", "erasure_request", "retention_expired"}
)

// pageSize is the number of rows on a list page (small: slow links).
const pageSize = 50

func (c *Console) casesPage(w http.ResponseWriter, q *req) {
	qs := q.URL.Query()
	f := store.CaseFilter{
		Status: pick(qs.Get("status"), caseStatuses), Type: pick(qs.Get("type"), caseTypes),
		Origin: strings.ToUpper(strings.TrimSpace(qs.Get("origin"))), IncludeErased: qs.Get("erased") == "1",
		Cursor: qs.Get("cursor"), Limit: pageSize,
	}
	if f.Origin != "" && !validMember(f.Origin) {
		f.Origin = ""
	}
	if s := qs.Get("since"); s != "" {
		if t, err := time.Parse("2006-01-02", s); err == nil {
			f.UpdatedSince = t
		}
	}
	v := c.newView(q, "cases.title")
	page, name, err := c.listOrSearch(q, f)
	if err != nil {
		if fl := failureOf(err); fl.Code == "internal_error" && f.Cursor != "" {
			v.Problem = q.lc.T("cases.bad_cursor")
		} else {
			c.fail(w, q, err)
			return
		}
	}
	next := ""
	if page.Next != "" {
		nq := url.Values{}
		for k, vs := range qs {
			if k != "cursor" && k != "lang" && k != "done" {
				nq[k] = vs
			}
		}
		nq.Set("cursor", page.Next)
		next = c.o.Prefix + "/cases?" + nq.Encode()
	}
	c.render(w, q, http.StatusOK, "cases", struct {
		*view
		Cases    []store.Case
		Types    []option
		Statuses []option
		Origin   string
		Since    string
		Erased   bool
		Next     string
		Name     string
	}{v, page.Cases, choices(q.lc, caseTypes, "e.", f.Type), choices(q.lc, caseStatuses, "e.", f.Status), f.Origin, qs.Get("since"), f.IncludeErased, next, name})
}

func pick(v string, allowed []string) string {
	if contains(allowed, v) {
		return v
	}
	return ""
}

func validMember(s string) bool {
	if len(s) < 2 || len(s) > 32 {
		return false
	}
	for i, r := range s {
		ok := (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || (r == '-' && i > 0)
		if !ok {
			return false
		}
	}
	return true
}

func choices(lc *locale, values []string, prefix, cur string) []option {
	out := []option{{"", lc.T("filter.any"), cur == ""}}
	for _, v := range values {
		out = append(out, option{v, lc.T(prefix + v), v == cur})
	}
	return out
}

// recipientRow is a member that received the case, with its withdrawal
// state: none, pending (queued), sent, confirmed.
type recipientRow struct {
	store.Recipient
	State string
}

func (c *Console) casePage(w http.ResponseWriter, q *req) {
	id := q.PathValue("id")
	withDoc := q.role() != RoleAuditor
	th, err := c.o.Backend.CaseThread(q.Context(), q.actor(), id, withDoc)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	cv := th.CaseView
	v := c.newView(q, "case.title", id)
	var doc *docNode
	if len(cv.Document) > 0 {
		var m map[string]any
		if err := json.Unmarshal(cv.Document, &m); err == nil {
			doc = c.form.docView(q.lc, m)
		}
	}
	own := cv.Case.Origin == c.o.Backend.Self()
	rows := make([]recipientRow, 0, len(cv.Recipients))
	confirmed, asked := 0, 0 // asked: the recipients this node asks to erase
	// confirming: the members a withdrawal of this node is queued or in
	// flight to (to the origin: the confirmation of its erasure).
	confirming := map[string]bool{}
	for _, o := range th.Sent {
		if o.Kind == string(federation.KindCaseWithdraw) && (o.State == store.Queued || o.State == store.InFlight) {
			confirming[o.Destination] = true
		}
	}
	for _, r := range cv.Recipients {
		st := "none"
		toOrigin := !own && r.Member == cv.Case.Origin
		switch {
		case toOrigin && !r.WithdrawalSentAt.IsZero():
			// The origin withdrew the case; what this node sent back is
			// its confirmation of the erasure, not a request to erase.
			st = "confirmation_sent"
		case toOrigin && confirming[r.Member]:
			// Its confirmation is queued or on its way (recorded sent
			// when the origin's receipt comes back): the origin is not
			// asked to erase its own case, nothing waits on it.
			st = "confirmation_pending"
		case toOrigin:
			// Never asked to erase its own case (erased here for
			// another reason, or not erased).
			st = "none"
		case !r.WithdrawalConfirmedAt.IsZero():
			st = "confirmed"
			confirmed++
		case !r.WithdrawalSentAt.IsZero():
			st = "sent"
		case cv.Case.Erased():
			st = "pending"
		}
		rows = append(rows, recipientRow{r, st})
		if !toOrigin {
			asked++
		}
	}
	var recordings []mediaRow
	if !cv.Case.Erased() {
		if recordings, err = c.caseMedia(q, id); err != nil {
			c.fail(w, q, err)
			return
		}
	}
	c.render(w, q, http.StatusOK, "case", struct {
		*view
		Case       store.Case
		Doc        *docNode
		Recipients []recipientRow
		Confirmed  int
		Asked      int
		Thread     []threadEntry
		Media      []mediaRow
		Own        bool
		Waiting    bool
	}{v, cv.Case, doc, rows, confirmed, asked, threadOf(th, c.o.Backend.Self()), recordings, own,
		cv.Case.Erased() && confirmed < asked})
}

// ---- create and edit ----

// newLocalID makes the local part of a new case id: the date and 8 random
// characters (unguessable, sortable by day).
func newLocalID(now time.Time) string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var b [8]byte
	rand.Read(b[:])
	out := make([]byte, len(b))
	for i, x := range b {
		out[i] = alphabet[int(x)%len(alphabet)]
	}
	return now.UTC().Format("20060102") + "-" + string(out)
}

// starter is the document a new case form opens with: an enquirer and a
// sought person, each with one name to fill in.
func starter() map[string]any {
	person := func(id, role string) map[string]any {
		return map[string]any{"id": id, "roles": []any{role}, "names": []any{map[string]any{}}}
	}
	return map[string]any{"type": "tracing_request", "status": "open", "purpose": "tracing",
		"persons": []any{person("p1", "enquirer"), person("p2", "sought_person")}}
}

type formPage struct {
	*view
	Form        *widget
	Summary     []string
	Action      string
	BaseVersion int64
	CaseID      string
}

func (c *Console) newCasePage(w http.ResponseWriter, q *req) {
	c.renderForm(w, q, http.StatusOK, "new", "", 0, starter(), nil, nil)
}

func (c *Console) renderForm(w http.ResponseWriter, q *req, status int, mode, id string, base int64, doc map[string]any, fields map[string][]string, summary []string) {
	title, action := "form.new_title", c.o.Prefix+"/cases/new"
	var args []any
	if mode == "edit" {
		title, action, args = "form.edit_title", c.o.Prefix+"/cases/"+url.PathEscape(id)+"/edit", []any{id}
	}
	v := c.newView(q, title, args...)
	form, rest := c.form.caseForm(q.lc, doc, fields)
	if len(fields) > 0 || len(summary) > 0 {
		v.Problem = q.lc.T("form.has_errors")
	}
	c.render(w, q, status, "form", formPage{view: v, Form: form, Summary: append(summary, rest...), Action: action, BaseVersion: base, CaseID: id})
}

// readForm decodes the posted form. For an add/remove button it returns
// the edited document and true (render again, store nothing).
func (c *Console) readForm(q *req) (doc map[string]any, edited bool, errs []formError) {
	if a := q.PostForm.Get("action"); a != "" {
		v, _ := c.form.decode(q.PostForm, c.form.root, "", true, &errs)
		doc, _ = v.(map[string]any)
		if doc == nil {
			doc = map[string]any{}
		}
		editAction(doc, a)
		fillPersonIDs(doc) // so that consents and relationships can name new persons
		return doc, true, nil
	}
	v, _ := c.form.decode(q.PostForm, c.form.root, "", false, &errs)
	doc, _ = v.(map[string]any)
	if doc == nil {
		doc = map[string]any{}
	}
	return doc, false, errs
}

func formErrors(lc *locale, errs []formError) map[string][]string {
	out := map[string][]string{}
	for _, e := range errs {
		out[e.Pointer] = append(out[e.Pointer], lc.T(e.Key))
	}
	return out
}

func (c *Console) createCase(w http.ResponseWriter, q *req) {
	doc, edited, errs := c.readForm(q)
	if edited {
		c.renderForm(w, q, http.StatusOK, "new", "", 0, doc, nil, nil)
		return
	}
	if len(errs) > 0 {
		c.renderForm(w, q, http.StatusUnprocessableEntity, "new", "", 0, doc, formErrors(q.lc, errs), nil)
		return
	}
	now := time.Now().UTC()
	self := c.o.Backend.Self()
	id := self + ":" + newLocalID(now)
	fillDefaults(doc, id)
	doc["schema"], doc["case_id"], doc["version"] = "flx/v1/case", id, 1
	doc["origin"] = map[string]any{"member": self, "created_at": now.Format(time.RFC3339)}
	doc["updated_at"] = now.Format(time.RFC3339)
	raw, _ := json.Marshal(doc)
	if _, err := c.o.Backend.CreateCase(q.Context(), q.actor(), raw); err != nil {
		c.formFailed(w, q, "new", "", 0, doc, err)
		return
	}
	http.Redirect(w, q.Request, c.o.Prefix+"/cases/"+url.PathEscape(id)+"/send?done=saved", http.StatusSeeOther)
}

// formFailed shows the node's refusal on the form: schema violations next
// to their controls, anything else on top.
func (c *Console) formFailed(w http.ResponseWriter, q *req, mode, id string, base int64, doc map[string]any, err error) {
	fl := failureOf(err)
	if fl.Code == "internal_error" {
		c.fail(w, q, err)
		return
	}
	var summary []string
	if len(fl.Fields) == 0 {
		summary = []string{c.codeText(q.lc, fl)}
	}
	c.renderForm(w, q, statusOf(fl.Code), mode, id, base, doc, fl.Fields, summary)
}

func (c *Console) editCasePage(w http.ResponseWriter, q *req) {
	id := q.PathValue("id")
	cv, err := c.o.Backend.ReadCase(q.Context(), q.actor(), id, true)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	if cv.Case.Origin != c.o.Backend.Self() || cv.Case.Erased() || len(cv.Document) == 0 {
		c.errorPage(w, q, http.StatusConflict, "error.not_editable")
		return
	}
	var doc map[string]any
	if err := json.Unmarshal(cv.Document, &doc); err != nil {
		c.fail(w, q, err)
		return
	}
	c.renderForm(w, q, http.StatusOK, "edit", id, cv.Case.Version, doc, nil, nil)
}

func (c *Console) updateCase(w http.ResponseWriter, q *req) {
	id := q.PathValue("id")
	base, err := strconv.ParseInt(q.PostForm.Get("base_version"), 10, 64)
	if err != nil || base < 1 {
		c.errorPage(w, q, http.StatusBadRequest, "error.bad_form")
		return
	}
	doc, edited, errs := c.readForm(q)
	if edited {
		c.renderForm(w, q, http.StatusOK, "edit", id, base, doc, nil, nil)
		return
	}
	if len(errs) > 0 {
		c.renderForm(w, q, http.StatusUnprocessableEntity, "edit", id, base, doc, formErrors(q.lc, errs), nil)
		return
	}
	// Identity and origin come from the stored case, never from the form.
	cv, err := c.o.Backend.ReadCase(q.Context(), q.actor(), id, true)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	var stored map[string]any
	if err := json.Unmarshal(cv.Document, &stored); err != nil || cv.Case.Origin != c.o.Backend.Self() {
		c.errorPage(w, q, http.StatusConflict, "error.not_editable")
		return
	}
	fillDefaults(doc, id)
	doc["schema"], doc["case_id"], doc["version"], doc["origin"] = "flx/v1/case", id, base+1, stored["origin"]
	doc["updated_at"] = time.Now().UTC().Format(time.RFC3339)
	raw, _ := json.Marshal(doc)
	if _, err := c.o.Backend.UpdateCase(q.Context(), q.actor(), id, raw); err != nil {
		c.formFailed(w, q, "edit", id, base, doc, err)
		return
	}
	http.Redirect(w, q.Request, c.o.Prefix+"/cases/"+url.PathEscape(id)+"/send?done=saved", http.StatusSeeOther)
}

// ---- send: the policy's answer for each destination, then forward ----

type destRow struct {
	Member, Name, Country, Role, Status string
	Result                              node.SendResult
	Problem                             string
	CanSend                             bool
	// Holds is the version the member already holds when it is the
	// current one: forwarding it again sends nothing.
	Holds int64
}

func (c *Console) sendPage(w http.ResponseWriter, q *req) {
	c.renderSend(w, q, http.StatusOK, "")
}

func (c *Console) renderSend(w http.ResponseWriter, q *req, status int, problem string) {
	id := q.PathValue("id")
	cv, err := c.o.Backend.ReadCase(q.Context(), q.actor(), id, false)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	v := c.newView(q, "send.title", id)
	v.Problem = problem
	var rows []destRow
	if m := c.o.Backend.Manifest(); m != nil && !cv.Case.Erased() && cv.Case.Origin == c.o.Backend.Self() {
		holds := map[string]int64{}
		for _, r := range cv.Recipients {
			if r.WithdrawalSentAt.IsZero() && r.LastVersion >= cv.Case.Version {
				holds[r.Member] = r.LastVersion
			}
		}
		for _, mb := range m.Members {
			if mb.ID == c.o.Backend.Self() {
				continue
			}
			r := destRow{Member: mb.ID, Name: mb.Name, Country: mb.Country, Role: string(mb.Role), Status: string(mb.Status), Holds: holds[mb.ID]}
			res, err := c.o.Backend.DryRun(q.Context(), q.actor(), id, mb.ID)
			if err != nil {
				r.Problem = c.codeText(q.lc, failureOf(err))
			} else {
				r.Result = res
				r.CanSend = res.State != "denied"
			}
			rows = append(rows, r)
		}
	}
	c.render(w, q, status, "send", struct {
		*view
		Case  store.Case
		Dests []destRow
	}{v, cv.Case, rows})
}

func (c *Console) forward(w http.ResponseWriter, q *req) {
	id, to := q.PathValue("id"), q.PostForm.Get("to")
	if !validMember(to) {
		c.errorPage(w, q, http.StatusBadRequest, "error.bad_form")
		return
	}
	res, err := c.o.Backend.Forward(q.Context(), q.actor(), id, to)
	if err != nil {
		fl := failureOf(err)
		if fl.Code == "internal_error" {
			c.fail(w, q, err)
			return
		}
		c.renderSend(w, q, statusOf(fl.Code), c.codeText(q.lc, fl))
		return
	}
	http.Redirect(w, q.Request, c.o.Prefix+"/cases/"+url.PathEscape(id)+"?done="+res.State, http.StatusSeeOther)
}

// ---- withdraw ----

func (c *Console) withdrawPage(w http.ResponseWriter, q *req) {
	c.renderWithdraw(w, q, http.StatusOK, "")
}

func (c *Console) renderWithdraw(w http.ResponseWriter, q *req, status int, problem string) {
	id := q.PathValue("id")
	cv, err := c.o.Backend.ReadCase(q.Context(), q.actor(), id, false)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	v := c.newView(q, "withdraw.title", id)
	v.Problem = problem
	var reasons []option
	for _, r := range withdrawals {
		reasons = append(reasons, option{r, q.lc.T("reason." + r), r == q.FormValue("reason")})
	}
	c.render(w, q, status, "withdraw", struct {
		*view
		Case       store.Case
		Recipients []store.Recipient
		Reasons    []option
	}{v, cv.Case, cv.Recipients, reasons})
}

func (c *Console) withdraw(w http.ResponseWriter, q *req) {
	id := q.PathValue("id")
	reason := q.PostForm.Get("reason")
	if !contains(withdrawals, reason) || q.PostForm.Get("confirm") != "yes" {
		c.renderWithdraw(w, q, http.StatusUnprocessableEntity, q.lc.T("withdraw.confirm_needed"))
		return
	}
	if _, err := c.o.Backend.Withdraw(q.Context(), q.actor(), id, schema.WithdrawalReason(reason)); err != nil {
		fl := failureOf(err)
		if fl.Code == "internal_error" {
			c.fail(w, q, err)
			return
		}
		c.renderWithdraw(w, q, statusOf(fl.Code), c.codeText(q.lc, fl))
		return
	}
	http.Redirect(w, q.Request, c.o.Prefix+"/cases/"+url.PathEscape(id)+"?done=withdrawn#withdrawal", http.StatusSeeOther)
}

// ---- inbox ----

var envelopeKinds = []string{"case.create", "case.update", "case.response", "message.deliver", "case.withdraw"}

func (c *Console) inboxPage(w http.ResponseWriter, q *req) {
	qs := q.URL.Query()
	after, _ := strconv.ParseInt(qs.Get("after"), 10, 64)
	f := store.InboxFilter{Kind: pick(qs.Get("kind"), envelopeKinds), State: pick(qs.Get("state"), []string{"unprocessed", "processed", "failed"}),
		AfterID: max(after, 0), Limit: pageSize}
	items, err := c.o.Backend.ListInbox(q.Context(), q.actor(), f)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	next := ""
	if len(items) == pageSize {
		nq := url.Values{"after": {strconv.FormatInt(items[len(items)-1].ID, 10)}, "kind": {f.Kind}, "state": {f.State}}
		next = c.o.Prefix + "/inbox?" + nq.Encode()
	}
	c.render(w, q, http.StatusOK, "inbox", struct {
		*view
		Items  []store.InboxItem
		Kinds  []option
		States []option
		Next   string
	}{c.newView(q, "inbox.title"), items, choices(q.lc, envelopeKinds, "kind.", f.Kind),
		choices(q.lc, []string{"unprocessed", "processed", "failed"}, "inbox_state.", f.State), next})
}

// inboxState is unprocessed, processed or failed.
func inboxState(it store.InboxItem) string {
	switch {
	case it.ProcessedAt.IsZero():
		return "unprocessed"
	case it.ProcessError != "":
		return "failed"
	}
	return "processed"
}

// ---- errors ----

// statusOf maps the node's stable codes to HTTP statuses for pages.
func statusOf(code string) int {
	switch code {
	case "bad_request":
		return http.StatusBadRequest
	case "schema_invalid":
		return http.StatusUnprocessableEntity
	case "not_found", "unknown_member":
		return http.StatusNotFound
	case "conflict", "not_origin":
		return http.StatusConflict
	case "erased":
		return http.StatusGone
	case "policy_denied", "forbidden":
		return http.StatusForbidden
	case "unavailable":
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// codeText is the translated sentence for a node error code, followed by
// the node's own message (English, no personal data) when there is one.
func (c *Console) codeText(lc *locale, fl failure) string {
	key := "code." + fl.Code
	if !lc.has(key) {
		key = "code.internal_error"
	}
	s := lc.T(key)
	if fl.Msg != "" {
		s += " (" + fl.Msg + ")"
	}
	return s
}

// fail renders a node error as a page.
func (c *Console) fail(w http.ResponseWriter, q *req, err error) {
	fl := failureOf(err)
	if fl.Code == "internal_error" {
		c.log.Error("console: node operation failed", "route", q.Pattern, "err", err.Error())
	}
	v := c.newView(q, "error.title")
	v.Problem = c.codeText(q.lc, fl)
	status := statusOf(fl.Code)
	c.render(w, q, status, "error", struct {
		*view
		Status int
	}{v, status})
}
