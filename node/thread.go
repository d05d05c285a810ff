package node

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/store"
)

// Event types of a case thread.
const (
	EventVersion             = "version"              // a version of the case was stored (Source: what made it, when not an edit)
	EventDecision            = "decision"             // the policy decided on sending something about it
	EventQueued              = "queued"               // an envelope about it was queued for a member
	EventDelivered           = "delivered"            // the member's receipt came back
	EventDeadLetter          = "dead_letter"          // delivery gave up: the send never reached the member
	EventCancelled           = "cancelled"            // a queued send was cancelled (the case was erased)
	EventReceived            = "received"             // an envelope about it arrived (a response, a message, a version, a withdrawal)
	EventWithdrawalSent      = "withdrawal_sent"      // our withdrawal reached a recipient
	EventWithdrawalConfirmed = "withdrawal_confirmed" // a recipient confirmed it erased the case
	EventErased              = "erased"               // the personal data of the case was erased here
)

// ThreadEvent is one thing that happened to a case.
type ThreadEvent struct {
	At   time.Time `json:"at"`
	Type string    `json:"type"`
	// Member is the other side: the destination of a send, the sender of
	// what was received, the recipient of a withdrawal.
	Member     string   `json:"member,omitempty"`
	Kind       string   `json:"kind,omitempty"`
	Version    int64    `json:"version,omitempty"`
	Status     string   `json:"status,omitempty"`
	Source     string   `json:"source,omitempty"`
	DecisionID int64    `json:"decision_id,omitempty"`
	Effect     string   `json:"effect,omitempty"`
	Rules      []string `json:"rules,omitempty"`
	OutboxID   int64    `json:"outbox_id,omitempty"`
	InboxID    int64    `json:"inbox_id,omitempty"`
	JTI        string   `json:"jti,omitempty"`
	State      string   `json:"state,omitempty"`
	Attempts   int      `json:"attempts,omitempty"`
	Error      string   `json:"error,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	// Body is the document received (response, message, withdrawal, case
	// version): absent for auditors and once erased.
	Body json.RawMessage `json:"body,omitempty"`
}

// Thread is what happened to a case, oldest first.
type Thread struct {
	CaseID string        `json:"case_id"`
	Origin string        `json:"origin"`
	Status string        `json:"status"`
	Erased bool          `json:"erased"`
	Events []ThreadEvent `json:"events"`
}

// order of event types at the same instant: cause before effect.
var eventOrder = map[string]int{
	EventReceived: 0, EventVersion: 1, EventDecision: 2, EventQueued: 3, EventDelivered: 4,
	EventDeadLetter: 5, EventCancelled: 6, EventWithdrawalSent: 7, EventWithdrawalConfirmed: 8, EventErased: 9,
}

// CaseThread returns the thread of a case: its versions, policy decisions,
// sends with their delivery and receipts per recipient (dead letters
// included), what was received about it (responses, messages, versions,
// withdrawals and confirmations), withdrawals and erasure, in time order.
// The read is audited (case.thread); without withContent no received
// document is returned (auditors see metadata only).
func (n *Node) CaseThread(ctx context.Context, a Actor, caseID string, withContent bool) (Thread, error) {
	st := n.o.Store
	c, err := st.GetCase(ctx, caseID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.NeverHeld()) {
		return Thread{}, errf(CodeNotFound, "no case %s", caseID) // as GetCase
	}
	if err != nil {
		return Thread{}, internal("get case", err)
	}
	t := Thread{CaseID: c.ID, Origin: c.Origin, Status: c.Status, Erased: c.Erased(), Events: []ThreadEvent{}}
	add := func(e ThreadEvent) {
		if !e.At.IsZero() {
			e.At = e.At.UTC()
			t.Events = append(t.Events, e)
		}
	}
	versions, err := st.ListCaseVersions(ctx, caseID)
	if err != nil {
		return Thread{}, internal("case versions", err)
	}
	for _, v := range versions {
		add(ThreadEvent{At: v.CreatedAt, Type: EventVersion, Version: v.Version, Status: v.Status, Source: v.Source})
	}
	decisions, err := st.ListDecisions(ctx, caseID)
	if err != nil {
		return Thread{}, internal("case decisions", err)
	}
	for _, d := range decisions {
		var pd struct {
			Kind  string `json:"kind"`
			Fired []struct {
				RuleID string `json:"rule_id"`
			} `json:"fired"`
		}
		_ = json.Unmarshal(d.Decision, &pd)
		e := ThreadEvent{At: d.CreatedAt, Type: EventDecision, Member: d.Destination, Kind: pd.Kind, DecisionID: d.ID, Effect: d.Effect}
		for _, f := range pd.Fired {
			e.Rules = append(e.Rules, f.RuleID)
		}
		add(e)
	}
	for after := int64(0); ; {
		rows, err := st.ListOutbox(ctx, store.OutboxFilter{CaseID: caseID, AfterID: after, Limit: 1000})
		if err != nil {
			return Thread{}, internal("case outbox", err)
		}
		for _, r := range rows {
			after = r.ID
			base := ThreadEvent{Member: r.Destination, Kind: r.Kind, Version: r.CaseVersion, OutboxID: r.ID, JTI: r.JTI}
			q := base
			q.At, q.Type, q.State, q.Attempts = r.CreatedAt, EventQueued, string(r.State), r.Attempts
			if r.State == store.Queued || r.State == store.InFlight {
				q.Error = r.LastError
			}
			add(q)
			switch r.State {
			case store.Delivered:
				d := base
				d.At, d.Type = r.DeliveredAt, EventDelivered
				add(d)
			case store.Dead:
				d := base
				d.At, d.Type, d.Attempts, d.Error = r.UpdatedAt, EventDeadLetter, r.Attempts, r.LastError
				add(d)
			case store.Cancelled:
				d := base
				d.At, d.Type, d.Error = r.UpdatedAt, EventCancelled, r.LastError
				add(d)
			}
		}
		if len(rows) < 1000 {
			break
		}
	}
	for after := int64(0); ; {
		rows, err := st.ListInbox(ctx, store.InboxFilter{CaseID: caseID, AfterID: after, Limit: 1000, IncludeEnvelope: withContent})
		if err != nil {
			return Thread{}, internal("case inbox", err)
		}
		for _, it := range rows {
			after = it.ID
			e := ThreadEvent{At: it.ReceivedAt, Type: EventReceived, Member: it.Iss, Kind: it.Kind, InboxID: it.ID, JTI: it.JTI,
				State: inboxState(it), Error: it.ProcessError}
			if withContent {
				e.Body = bodyOf(it.Envelope)
			}
			add(e)
		}
		if len(rows) < 1000 {
			break
		}
	}
	recipients, err := st.ListRecipients(ctx, caseID)
	if err != nil {
		return Thread{}, internal("case recipients", err)
	}
	for _, rc := range recipients {
		add(ThreadEvent{At: rc.WithdrawalSentAt, Type: EventWithdrawalSent, Member: rc.Member})
		add(ThreadEvent{At: rc.WithdrawalConfirmedAt, Type: EventWithdrawalConfirmed, Member: rc.Member})
	}
	add(ThreadEvent{At: c.ErasedAt, Type: EventErased, Reason: c.EraseReason})
	sort.SliceStable(t.Events, func(i, j int) bool {
		a, b := t.Events[i], t.Events[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		return eventOrder[a.Type] < eventOrder[b.Type]
	})
	if err := n.audit(ctx, n.o.Store, a.Name, "case.thread", caseID, map[string]any{"content": withContent, "events": len(t.Events)}); err != nil {
		return Thread{}, internal("audit read", err)
	}
	return t, nil
}

// inboxState is unprocessed, processed or failed (processed with an error).
func inboxState(it store.InboxItem) string {
	switch {
	case it.ProcessedAt.IsZero():
		return "unprocessed"
	case it.ProcessError != "":
		return "failed"
	}
	return "processed"
}

// bodyOf is the document carried by a stored envelope (nil once erased or
// unreadable).
func bodyOf(env []byte) json.RawMessage {
	if env == nil {
		return nil
	}
	c, err := federation.ClaimsOf(env)
	if err != nil || len(c.Body) == 0 {
		return nil
	}
	return c.Body
}

// ReceivedItem is a received envelope with the document it carried.
type ReceivedItem struct {
	Item store.InboxItem
	// Body is the document (response, message, case version, withdrawal):
	// nil without content, and once the case was erased.
	Body json.RawMessage
}

// ReadReceived returns one received envelope with, when withContent, the
// document it carried in full. The read is audited (inbox.read).
func (n *Node) ReadReceived(ctx context.Context, a Actor, inboxID int64, withContent bool) (ReceivedItem, error) {
	it, err := n.o.Store.GetInbox(ctx, inboxID)
	if errors.Is(err, store.ErrNotFound) {
		return ReceivedItem{}, errf(CodeNotFound, "no inbox item %d", inboxID)
	}
	if err != nil {
		return ReceivedItem{}, internal("get inbox", err)
	}
	out := ReceivedItem{Item: it}
	if withContent {
		out.Body = bodyOf(it.Envelope)
	}
	out.Item.Envelope = nil
	if err := n.audit(ctx, n.o.Store, a.Name, "inbox.read", it.CaseID, map[string]any{"inbox_id": it.ID, "kind": it.Kind, "content": out.Body != nil}); err != nil {
		return ReceivedItem{}, internal("audit read", err)
	}
	return out, nil
}
