package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
)

// The per-person disclosure log, for a subject access request: who received
// what about the person of a case, when, under which policy decision (the
// rules that fired, the redactions, who approved a held transfer), and
// whether each recipient confirmed erasure after a withdrawal. It holds
// member ids, kinds, versions, times and rule ids: no personal data, so it
// can be handed over as it is.

// DisclosureLog is the disclosure log of one case.
type DisclosureLog struct {
	CaseID string `json:"case_id"`
	// Status is the case's status, or "erased" once the case was withdrawn
	// or expired here (its last status went with its data): ErasedAt says
	// when, EraseReason why.
	Status      string               `json:"status"`
	ErasedAt    *time.Time           `json:"erased_at,omitempty"`
	EraseReason string               `json:"erase_reason,omitempty"`
	GeneratedAt time.Time            `json:"generated_at"`
	Disclosures []DisclosureEntry    `json:"disclosures"`
	Recipients  []DisclosureReceiver `json:"recipients"`
}

// DisclosureEntry is one envelope delivered to a member.
type DisclosureEntry struct {
	Member      string    `json:"member"`
	Kind        string    `json:"kind"`
	CaseVersion int64     `json:"case_version,omitempty"`
	DeliveredAt time.Time `json:"delivered_at"`
	JTI         string    `json:"jti"`
	// Decision is the policy decision the envelope left under (matched by
	// destination, kind and case version: the latest allowing one taken
	// before delivery); nil when none was recorded.
	Decision *DisclosureDecision `json:"decision"`
}

// DisclosureDecision is the part of a policy decision a data subject is
// told: the effect, the rules that fired and what was removed.
type DisclosureDecision struct {
	ID          int64          `json:"id"`
	Effect      string         `json:"effect"`
	Rules       []policy.Fired `json:"rules_fired"`
	Redactions  []string       `json:"redactions"`
	PolicyHash  string         `json:"policy_hash,omitempty"`
	ApprovedBy  string         `json:"approved_by,omitempty"`
	EvaluatedAt time.Time      `json:"evaluated_at"`
}

// DisclosureReceiver is one member's state: when it first and last
// received the case and whether it confirmed erasure.
type DisclosureReceiver struct {
	Member             string     `json:"member"`
	FirstDeliveredAt   time.Time  `json:"first_delivered_at"`
	LastDeliveredAt    time.Time  `json:"last_delivered_at"`
	LastVersion        int64      `json:"last_version"`
	WithdrawalSentAt   *time.Time `json:"withdrawal_sent_at"`
	ErasureConfirmedAt *time.Time `json:"erasure_confirmed_at"`
	ErasureConfirmed   bool       `json:"erasure_confirmed"`
}

// DisclosureLog returns the disclosure log of a case; the read is audited
// (case.disclosures.read).
func (n *Node) DisclosureLog(ctx context.Context, a Actor, caseID string) (DisclosureLog, error) {
	c, err := n.o.Store.GetCase(ctx, caseID)
	if errors.Is(err, store.ErrNotFound) {
		return DisclosureLog{}, errf(CodeNotFound, "no case %s", caseID)
	}
	if err != nil {
		return DisclosureLog{}, internal("get case", err)
	}
	ds, err := n.o.Store.ListDisclosures(ctx, caseID)
	if err != nil {
		return DisclosureLog{}, internal("list disclosures", err)
	}
	rs, err := n.o.Store.ListRecipients(ctx, caseID)
	if err != nil {
		return DisclosureLog{}, internal("list recipients", err)
	}
	decs, err := n.o.Store.ListDecisions(ctx, caseID)
	if err != nil {
		return DisclosureLog{}, internal("list decisions", err)
	}
	out := DisclosureLog{CaseID: caseID, Status: string(c.Status), GeneratedAt: n.o.Now().UTC(),
		Disclosures: []DisclosureEntry{}, Recipients: []DisclosureReceiver{}}
	if c.Erased() {
		out.Status, out.ErasedAt, out.EraseReason = "erased", timePtr(c.ErasedAt.UTC()), c.EraseReason
	}
	for _, d := range ds {
		out.Disclosures = append(out.Disclosures, DisclosureEntry{Member: d.Member, Kind: d.Kind, CaseVersion: d.CaseVersion,
			DeliveredAt: d.DeliveredAt, JTI: d.JTI, Decision: decisionFor(decs, d)})
	}
	sort.SliceStable(out.Disclosures, func(i, j int) bool { return out.Disclosures[i].DeliveredAt.Before(out.Disclosures[j].DeliveredAt) })
	for _, r := range rs {
		dr := DisclosureReceiver{Member: r.Member, FirstDeliveredAt: r.FirstDeliveredAt, LastDeliveredAt: r.LastDeliveredAt,
			LastVersion: r.LastVersion, WithdrawalSentAt: timePtr(r.WithdrawalSentAt), ErasureConfirmedAt: timePtr(r.WithdrawalConfirmedAt)}
		dr.ErasureConfirmed = dr.ErasureConfirmedAt != nil
		out.Recipients = append(out.Recipients, dr)
	}
	if err := n.audit(ctx, n.o.Store, a.Name, "case.disclosures.read", caseID, map[string]any{"disclosures": len(out.Disclosures)}); err != nil {
		return DisclosureLog{}, internal("audit read", err)
	}
	return out, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// decisionFor finds the decision a delivered envelope left under.
func decisionFor(decs []store.Decision, d store.Disclosure) *DisclosureDecision {
	var best *DisclosureDecision
	for _, sd := range decs {
		if sd.Destination != d.Member || (!d.DeliveredAt.IsZero() && sd.CreatedAt.After(d.DeliveredAt)) {
			continue
		}
		var pd policy.Decision
		if json.Unmarshal(sd.Decision, &pd) != nil || !pd.Allowed() {
			continue
		}
		if pd.Kind != "" && pd.Kind != d.Kind {
			continue
		}
		if pd.CaseVersion != 0 && d.CaseVersion != 0 && pd.CaseVersion != d.CaseVersion {
			continue
		}
		dd := &DisclosureDecision{ID: sd.ID, Effect: string(pd.Effect), Rules: pd.Fired, Redactions: pd.Redactions,
			PolicyHash: pd.PolicyHash, EvaluatedAt: pd.EvaluatedAt}
		if dd.Rules == nil {
			dd.Rules = []policy.Fired{}
		}
		if dd.Redactions == nil {
			dd.Redactions = []string{}
		}
		if pd.Review != nil {
			dd.ApprovedBy = pd.Review.By
		}
		best = dd // decisions are oldest first: the last match is the latest
	}
	return best
}

// Markdown renders the log as a readable report (Markdown, also plain
// text).
func (l DisclosureLog) Markdown() string {
	var b strings.Builder
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	fmt.Fprintf(&b, "# Disclosure log of case %s\n\n", l.CaseID)
	status := l.Status
	if l.ErasedAt != nil {
		status = "erased on " + ts(*l.ErasedAt)
		if l.EraseReason != "" {
			status += " (" + l.EraseReason + ")"
		}
	}
	fmt.Fprintf(&b, "Case status: %s. Report generated %s.\n\n", status, ts(l.GeneratedAt))
	b.WriteString("## What was sent, to whom, when, under which decision\n\n")
	if len(l.Disclosures) == 0 {
		b.WriteString("Nothing about this case was sent to any member.\n\n")
	} else {
		b.WriteString("| Delivered (UTC) | Recipient | What | Version | Decision | Rules that fired | Removed before sending |\n")
		b.WriteString("|---|---|---|---|---|---|---|\n")
		for _, d := range l.Disclosures {
			dec, rules, red := "none recorded", "-", "-"
			if d.Decision != nil {
				dec = fmt.Sprintf("%s (#%d)", d.Decision.Effect, d.Decision.ID)
				if d.Decision.ApprovedBy != "" {
					dec += ", approved by " + d.Decision.ApprovedBy
				}
				var rs []string
				for _, f := range d.Decision.Rules {
					rs = append(rs, f.RuleID+" ("+f.Effect+")")
				}
				if len(rs) > 0 {
					rules = strings.Join(rs, ", ")
				}
				if len(d.Decision.Redactions) > 0 {
					red = strings.Join(d.Decision.Redactions, ", ")
				}
			}
			v := "-"
			if d.CaseVersion > 0 {
				v = fmt.Sprint(d.CaseVersion)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", ts(d.DeliveredAt), d.Member, d.Kind, v, dec, rules, red)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Recipients and erasure\n\n")
	if len(l.Recipients) == 0 {
		b.WriteString("No member holds this case.\n")
		return b.String()
	}
	b.WriteString("| Recipient | First received | Last received | Last version | Withdrawal sent | Erasure confirmed |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range l.Recipients {
		ws, ec := "no", "no"
		if r.WithdrawalSentAt != nil {
			ws = ts(*r.WithdrawalSentAt)
		}
		if r.ErasureConfirmedAt != nil {
			ec = "yes, " + ts(*r.ErasureConfirmedAt)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s |\n", r.Member, ts(r.FirstDeliveredAt), ts(r.LastDeliveredAt), r.LastVersion, ws, ec)
	}
	return b.String()
}
