package console

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
	"github.com/familylinks/flx/schema"
)

// threadEntry is one event of a case's thread, in time order. Kind picks
// how case.html renders it.
type threadEntry struct {
	At      time.Time
	Kind    string // version | decision | sent | received | confirmation | withdrawn
	order   int    // among entries at the same instant
	Member  string // the destination or the sender
	Version int64
	Status  string // version: the case status
	What    string // sent, received: the envelope kind
	State   string // sent: the outbox state; received: processed | failed | unprocessed
	// Sent: when the peer's signed receipt came back (zero: not yet);
	// Attempts and LastError while it has not.
	DeliveredAt time.Time
	Receipt     bool
	Attempts    int
	LastError   string
	D           policy.Decision
	Reason      string // withdrawn: the erasure reason
	// Received responses and messages, when the reader may see them: the
	// outcome, the kind of message, the text passed on.
	Outcome string
	MsgKind string
	Text    string
}

// threadOf puts the case's records in time order: versions, the policy's
// decisions (with the rules that fired), what was sent and whether a signed
// receipt came back, what was received (a withdrawal received from a member
// that held our case is its erasure confirmation), and the withdrawal.
// erasureConfirmation names, in a thread, the withdrawal a holder sends back
// to the origin: its confirmation of the erasure (label kind.erasure_confirmation).
const erasureConfirmation = "erasure_confirmation"

func threadOf(t Thread, self string) []threadEntry {
	var out []threadEntry
	for _, v := range t.Versions {
		out = append(out, threadEntry{At: v.CreatedAt, Kind: "version", Version: v.Version, Status: v.Status})
	}
	for _, d := range t.Decisions {
		e := threadEntry{At: d.CreatedAt, Kind: "decision", order: 1, Member: d.Destination}
		if json.Unmarshal(d.Decision, &e.D) != nil {
			e.D = policy.Decision{Effect: policy.Effect(d.Effect)}
		}
		out = append(out, e)
	}
	own := t.Case.Origin == self
	for _, s := range t.Sent {
		e := threadEntry{At: s.CreatedAt, Kind: "sent", order: 2, Member: s.Destination, What: s.Kind, Version: s.CaseVersion,
			State: string(s.State), DeliveredAt: s.DeliveredAt, Receipt: len(s.Receipt) > 0}
		if !own && s.Kind == "case.withdraw" && s.Destination == t.Case.Origin {
			// A withdrawal sent back to the case's origin is this node's
			// confirmation that it erased the case (SPEC.md §11).
			e.What = erasureConfirmation
		}
		if s.State != store.Delivered {
			e.Attempts, e.LastError = s.Attempts, s.LastError
		}
		out = append(out, e)
	}
	for _, r := range t.Received {
		e := threadEntry{At: r.ReceivedAt, Kind: "received", order: 3, Member: r.Iss, What: r.Kind, State: inboxState(r)}
		if own && r.Kind == "case.withdraw" {
			e.Kind = "confirmation"
		}
		if b, ok := t.Bodies[r.ID]; ok {
			switch r.Kind {
			case "case.response":
				var resp schema.Response
				if json.Unmarshal(b, &resp) == nil {
					e.Outcome, e.Text = string(resp.Outcome), resp.Message
				}
			case "message.deliver":
				var m schema.Message
				if json.Unmarshal(b, &m) == nil {
					e.MsgKind, e.Text = string(m.Kind), m.Body
				}
			}
		}
		out = append(out, e)
	}
	if t.Case.Erased() {
		out = append(out, threadEntry{At: t.Case.ErasedAt, Kind: "withdrawn", order: 4, Reason: t.Case.EraseReason})
	}
	slices.SortStableFunc(out, func(a, b threadEntry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return a.order - b.order
	})
	return out
}
