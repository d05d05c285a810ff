package node

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
	"github.com/familylinks/flx/schema"
)

// Propagation is what a new version of a case did for one member that
// holds (or is being sent) an earlier version.
type Propagation struct {
	To string `json:"to"`
	// State is queued (the update goes, redacted by the policy for it),
	// needs_review (held until an operator approves it), withdrawn (the
	// policy refuses the new version to that member, so it is told to
	// erase the earlier one: FLX-COR-002) or unreachable (the member is not
	// in the manifest any more).
	State      string `json:"state"`
	DecisionID int64  `json:"decision_id,omitempty"`
	OutboxID   int64  `json:"outbox_id,omitempty"`
}

// propagate sends version of a case, just stored in tx, to every member
// that holds or is being sent an earlier version (FLX-COR-001): a
// correction that removes data reaches every copy without a caseworker
// forwarding it again to each. The policy runs for each member as for a
// forward; when it refuses the new version, the member must not keep the
// earlier one either, so it gets a case.withdraw of the case (the reason
// from the rule that refused, erasure_request otherwise). A refusal by
// FLX-DP-DESTINATION (a suspended member, or one that no longer accepts
// the kind) sends nothing: nothing can reach it.
func (n *Node) propagate(ctx context.Context, tx store.Tx, a Actor, caseID string, version int64, doc []byte) ([]Propagation, error) {
	members, err := versionHolders(ctx, tx, caseID)
	if err != nil {
		return nil, err
	}
	out := []Propagation{}
	for _, m := range members {
		dst, _, err := n.destination(m)
		if err != nil {
			n.log.Warn("a holder of an earlier version cannot be sent the update", "case_id", caseID, "to", m, "err", err)
			out = append(out, Propagation{To: m, State: "unreachable"})
			continue
		}
		r := sendRequest{to: m, kind: federation.KindCaseUpdate, caseID: caseID, caseVersion: version, doc: doc, propagated: true}
		d, sent, dj, err := n.judge(ctx, r, dst)
		if err != nil {
			return nil, err
		}
		res := SendResult{Decision: d, Kind: r.kind, To: m, State: stateOf(d)}
		if err := n.commitSend(ctx, tx, a, r, d, sent, dj, &res); err != nil {
			return nil, err
		}
		p := Propagation{To: m, State: res.State, DecisionID: res.DecisionID, OutboxID: res.OutboxID}
		if d.Effect == policy.Deny {
			if p.State, err = n.tellToErase(ctx, tx, a, caseID, m, d); err != nil {
				return nil, err
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// tellToErase queues a case.withdraw of the case to member m, whose
// earlier version may no longer be held after decision d refused the new
// one.
func (n *Node) tellToErase(ctx context.Context, tx store.Tx, a Actor, caseID, m string, d policy.Decision) (string, error) {
	reason := schema.WithdrawalReason("erasure_request")
	for _, f := range d.Fired {
		switch {
		case f.Effect != string(policy.RuleDeny):
		case f.RuleID == "FLX-DP-DESTINATION":
			return "denied", nil
		case f.RuleID == "FLX-DP-CONSENT-WITHDRAWN":
			reason = "consent_withdrawn"
		case f.RuleID == "FLX-DP-RETENTION":
			reason = "retention_expired"
		}
	}
	w := schema.Withdrawal{Schema: "flx/v1/withdrawal", CaseID: caseID, Reason: reason, WithdrawnAt: schema.DateTime(n.o.Now().UTC().Format(time.RFC3339))}
	body, err := json.Marshal(w)
	if err != nil {
		return "", err
	}
	it, err := n.enqueue(ctx, tx, m, federation.KindCaseWithdraw, caseID, 0, body)
	if err != nil {
		return "", err
	}
	return "withdrawn", n.audit(ctx, tx, a.Name, "case.withdraw", caseID, map[string]any{
		"reason": reason, "sent_to": []string{m}, "outbox_id": it.ID, "because": "the policy refuses the new version to a holder of an earlier one",
	})
}

// versionHolders lists the members that hold or are being sent a version
// of the case (a case.create or case.update queued, under way, delivered,
// or attempted at least once) and were not asked to erase it since.
func versionHolders(ctx context.Context, q store.Queries, caseID string) ([]string, error) {
	seen, told := map[string]bool{}, map[string]bool{}
	var after int64
	for {
		rows, err := q.ListOutbox(ctx, store.OutboxFilter{CaseID: caseID, AfterID: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			after = r.ID
			switch r.Kind {
			case string(federation.KindCaseCreate), string(federation.KindCaseUpdate):
				if r.State != store.Cancelled || r.Attempts > 0 {
					seen[r.Destination] = true
				}
			case string(federation.KindCaseWithdraw):
				told[r.Destination] = true
			}
		}
		if len(rows) < 1000 {
			break
		}
	}
	out := []string{}
	for m := range seen {
		if !told[m] {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out, nil
}
