package console

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
)

type peerRow struct {
	store.DestinationStats
	MemberStatus string
	Name         string
	Lag          string // age of the oldest undelivered envelope
	// Of the first envelope waiting: why its last attempt failed and when
	// the next one is due (a peer that is down shows here first).
	LastError   string
	NextAttempt time.Time
	Attempts    int
	// The peer's backoff (kept across restarts): nothing goes to it before
	// RestUntil, after Failures failed rounds, the last for RestReason.
	RestUntil  time.Time
	Failures   int
	RestReason string
}

func (c *Console) peersPage(w http.ResponseWriter, q *req) {
	stats, err := c.o.Backend.OutboxStats(q.Context(), q.actor())
	if err != nil {
		c.fail(w, q, err)
		return
	}
	backoff, err := c.o.Backend.PeerBackoff(q.Context(), q.actor())
	if err != nil {
		c.fail(w, q, err)
		return
	}
	rest := map[string]store.PeerBackoff{}
	for _, b := range backoff {
		rest[b.Destination] = b
	}
	m := c.o.Backend.Manifest()
	seen := map[string]bool{}
	var rows []peerRow
	for _, s := range stats {
		seen[s.Destination] = true
		r := c.peerRow(q, m, s)
		if s.Queued > 0 {
			head, err := c.o.Backend.ListOutbox(q.Context(), q.actor(), store.OutboxFilter{Destination: s.Destination, State: store.Queued, Limit: 1})
			if err != nil {
				c.fail(w, q, err)
				return
			}
			if len(head) == 1 {
				r.LastError, r.NextAttempt, r.Attempts = head[0].LastError, head[0].NextAttemptAt, head[0].Attempts
			}
		}
		rows = append(rows, r)
	}
	// Members never sent to are peers too.
	if m != nil {
		for _, mb := range m.Members {
			if mb.ID != c.o.Backend.Self() && !seen[mb.ID] {
				rows = append(rows, c.peerRow(q, m, store.DestinationStats{Destination: mb.ID}))
			}
		}
	}
	for i := range rows {
		if b, ok := rest[rows[i].Destination]; ok && b.NextAttemptAt.After(c.o.Now()) {
			rows[i].RestUntil, rows[i].Failures, rows[i].RestReason = b.NextAttemptAt, b.Failures, b.LastError
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Destination < rows[j].Destination })
	ready := c.o.Backend.Ready(q.Context()) == nil
	c.render(w, q, http.StatusOK, "peers", struct {
		*view
		Peers []peerRow
		Ready bool
	}{c.newView(q, "peers.title"), rows, ready})
}

func (c *Console) peerRow(q *req, m *federation.Manifest, s store.DestinationStats) peerRow {
	r := peerRow{DestinationStats: s, MemberStatus: "unknown"}
	if m != nil {
		if mb, ok := m.Member(s.Destination); ok {
			r.MemberStatus, r.Name = string(mb.Status), mb.Name
		}
	}
	if !s.OldestPending.IsZero() {
		r.Lag = q.lc.T("duration.minutes", int64(time.Since(s.OldestPending).Minutes()))
	}
	return r
}

var outboxStates = []string{"queued", "in_flight", "delivered", "dead", "cancelled"}

func (c *Console) outboxPage(w http.ResponseWriter, q *req) {
	qs := q.URL.Query()
	state := "dead"
	if qs.Has("state") {
		state = pick(qs.Get("state"), outboxStates)
	}
	dest := ""
	if d := qs.Get("destination"); validMember(d) {
		dest = d
	}
	after, _ := strconv.ParseInt(qs.Get("after"), 10, 64)
	items, err := c.o.Backend.ListOutbox(q.Context(), q.actor(), store.OutboxFilter{Destination: dest, State: store.OutboxState(state), AfterID: max(after, 0), Limit: pageSize})
	if err != nil {
		c.fail(w, q, err)
		return
	}
	next := ""
	if len(items) == pageSize {
		next = c.o.Prefix + "/operator/outbox?" + url.Values{"after": {strconv.FormatInt(items[len(items)-1].ID, 10)}, "state": {state}, "destination": {dest}}.Encode()
	}
	c.render(w, q, http.StatusOK, "outbox", struct {
		*view
		Items       []store.OutboxItem
		States      []option
		Destination string
		Next        string
	}{c.newView(q, "outbox.title"), items, choices(q.lc, outboxStates, "outbox_state.", state), dest, next})
}

func (c *Console) requeue(w http.ResponseWriter, q *req) {
	id, err := strconv.ParseInt(q.PathValue("oid"), 10, 64)
	if err != nil || id < 1 {
		c.errorPage(w, q, http.StatusBadRequest, "error.bad_form")
		return
	}
	if _, err := c.o.Backend.Requeue(q.Context(), q.actor(), id); err != nil {
		c.fail(w, q, err)
		return
	}
	http.Redirect(w, q.Request, c.o.Prefix+"/operator/outbox?state=dead&done=requeued", http.StatusSeeOther)
}

// heldRow is a forward, response or message held for an operator's review.
type heldRow struct {
	store.Decision
	D policy.Decision
}

// held lists what waits for review (node.ReviewQueue) in the page's terms.
func (c *Console) held(q *req) ([]heldRow, error) {
	items, err := c.o.Backend.ReviewQueue(q.Context(), q.actor())
	if err != nil {
		return nil, err
	}
	out := make([]heldRow, 0, len(items))
	for _, h := range items {
		out = append(out, heldRow{Decision: store.Decision{ID: h.DecisionID, CaseID: h.CaseID, Destination: h.Destination,
			Effect: string(h.Decision.Effect), CreatedAt: h.HeldSince}, D: h.Decision})
	}
	return out, nil
}

func (c *Console) reviewPage(w http.ResponseWriter, q *req) {
	rows, err := c.held(q)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	c.render(w, q, http.StatusOK, "review", struct {
		*view
		Held []heldRow
	}{c.newView(q, "review.title"), rows})
}

func (c *Console) review(w http.ResponseWriter, q *req) {
	id := q.PathValue("id")
	did, err := strconv.ParseInt(q.PathValue("did"), 10, 64)
	verdict := q.PostForm.Get("verdict")
	note := q.PostForm.Get("note")
	if err != nil || did < 1 || (verdict != "approve" && verdict != "reject") || len(note) > 2000 {
		c.errorPage(w, q, http.StatusBadRequest, "error.bad_form")
		return
	}
	if _, err := c.o.Backend.Review(q.Context(), q.actor(), id, did, verdict == "approve", note); err != nil {
		c.fail(w, q, err)
		return
	}
	http.Redirect(w, q.Request, c.o.Prefix+"/operator/review?done="+verdict+"d", http.StatusSeeOther)
}

func (c *Console) manifestPage(w http.ResponseWriter, q *req) {
	m := c.o.Backend.Manifest()
	if m == nil {
		c.errorPage(w, q, http.StatusServiceUnavailable, "code.unavailable")
		return
	}
	c.render(w, q, http.StatusOK, "manifest", struct {
		*view
		M       *federation.Manifest
		Self    string
		Expired bool
		Days    int64
	}{c.newView(q, "manifest.title"), m, c.o.Backend.Self(), !time.Now().Before(m.ExpiresAt), int64(time.Until(m.ExpiresAt).Hours() / 24)})
}
