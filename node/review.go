package node

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
)

// HeldItem is one forward, response or message the policy holds for an
// operator's review (ReviewQueue). It names the case and the rules, never
// the data: the document stays with the case (forwards) or in
// held_documents (responses and messages) until reviewed.
type HeldItem struct {
	// DecisionID is the id to approve or reject (Review).
	DecisionID  int64  `json:"decision_id"`
	Kind        string `json:"kind"`
	CaseID      string `json:"case_id"`
	Destination string `json:"destination"`
	// DocumentID is the message or response id (responses and messages).
	DocumentID string `json:"document_id,omitempty"`
	// Rules are the rules that fired, with their reasons in plain words.
	Rules     []policy.Fired `json:"rules"`
	HeldSince time.Time      `json:"held_since"`
	// Decision is the full policy decision (redactions, policy hash).
	Decision policy.Decision `json:"decision"`
}

// reviewCaseLimit bounds how many cases with a held forward ReviewQueue
// reads.
const reviewCaseLimit = 10000

// ReviewQueue lists what waits for an operator's review, oldest first.
// Forwards of a case: the cases with a decision that held something
// (ListReviewCases, erased ones left out: approval could send nothing); a
// held forward is still waiting when no later forward decision for the
// same case and destination exists. Responses and
// messages: the node keeps each held one until it is reviewed, rejected
// or erased (held_documents).
func (n *Node) ReviewQueue(ctx context.Context) ([]HeldItem, error) {
	v := n.View()
	cases := map[string]bool{}
	var order []string
	docs, err := v.ListHeldDocuments(ctx, 1000)
	if err != nil {
		return nil, internal("held documents", err)
	}
	waiting := map[int64]store.HeldDocument{}
	for _, h := range docs {
		waiting[h.DecisionID] = h
		if !cases[h.CaseID] {
			cases[h.CaseID] = true
			order = append(order, h.CaseID)
		}
	}
	held, err := v.ListReviewCases(ctx, reviewCaseLimit)
	if err != nil {
		return nil, internal("review cases", err)
	}
	for _, id := range held {
		if !cases[id] {
			cases[id] = true
			order = append(order, id)
		}
	}
	out := []HeldItem{}
	for _, id := range order {
		ds, err := v.ListDecisions(ctx, id)
		if err != nil {
			return nil, internal("decisions", err)
		}
		erased := false
		if c, err := v.GetCase(ctx, id); err == nil {
			erased = c.Erased()
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, internal("case", err)
		}
		latest := map[string]HeldItem{}
		for _, d := range ds {
			h := HeldItem{DecisionID: d.ID, CaseID: d.CaseID, Destination: d.Destination, HeldSince: d.CreatedAt}
			if err := json.Unmarshal(d.Decision, &h.Decision); err != nil {
				return nil, internal("decode decision", err)
			}
			h.Kind, h.Rules = h.Decision.Kind, h.Decision.Fired
			if h.Rules == nil {
				h.Rules = []policy.Fired{}
			}
			if hd, ok := waiting[d.ID]; ok {
				h.DocumentID = hd.DocID
				out = append(out, h)
			} else if isCaseKind(h.Kind) {
				if cur, ok := latest[d.Destination]; !ok || d.ID > cur.DecisionID {
					latest[d.Destination] = h
				}
			}
		}
		for _, h := range latest {
			if h.Decision.Effect == policy.NeedsReview && !erased {
				out = append(out, h)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DecisionID < out[j].DecisionID })
	return out, nil
}
