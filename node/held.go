package node

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
)

// A response or message the policy holds for review is kept
// (held_documents, in the transaction that records the decision) until an
// operator approves it (judged again against the case as it is then, and
// queued like any send), rejects it (its bytes are dropped), or the case
// is erased (its bytes are dropped, approval answers CodeErased). Only the
// document's hash outlives the wait.

// isCaseKind tells forwards of the case itself from the documents about it.
func isCaseKind(kind string) bool {
	return kind == string(federation.KindCaseCreate) || kind == string(federation.KindCaseUpdate)
}

// isCaseDecision is true when d judged a forward of the case.
func isCaseDecision(d store.Decision) bool {
	var k struct {
		Kind string `json:"kind"`
	}
	_ = json.Unmarshal(d.Decision, &k)
	return isCaseKind(k.Kind)
}

// recordDocument records, in the send's transaction, what became of a
// response or message sent by its own id (sent_documents): a held one is
// kept with its document; an approved one resolves what was held.
func (n *Node) recordDocument(ctx context.Context, tx store.Tx, r sendRequest, res *SendResult) error {
	if r.docID == "" {
		return nil
	}
	if r.held != 0 {
		state := store.HeldSent
		switch res.State {
		case "denied":
			state = store.HeldDenied
		case "needs_review":
			// Held again for reasons the approval did not see: the
			// document waits under the new decision.
			state = store.HeldAgain
		}
		err := tx.ResolveHeldDocument(ctx, r.held, state, n.o.Now())
		if errors.Is(err, store.ErrConflict) {
			return errf(CodeConflict, "decision %d is no longer held for review", r.held)
		}
		if err != nil {
			return err
		}
		if state == store.HeldDenied {
			// Refused for good: the document may be submitted again later.
			return tx.DeleteSentDocument(ctx, r.docID, r.to, string(r.kind))
		}
		if state == store.HeldAgain {
			if err := tx.RecordHeldDocument(ctx, store.HeldDocument{DecisionID: res.DecisionID, CaseID: r.caseID, Destination: r.to,
				Kind: string(r.kind), DocID: r.docID, SHA256: r.docSum, Document: r.doc}); err != nil {
				return err
			}
		}
		return tx.UpdateSentDocument(ctx, store.SentDocument{DocID: r.docID, Destination: r.to, Kind: string(r.kind),
			DecisionID: res.DecisionID, OutboxID: res.OutboxID, JTI: res.JTI, State: res.State})
	}
	if res.State == "denied" {
		return nil
	}
	if err := tx.RecordSentDocument(ctx, store.SentDocument{DocID: r.docID, Destination: r.to, Kind: string(r.kind), CaseID: r.caseID,
		SHA256: r.docSum, DecisionID: res.DecisionID, OutboxID: res.OutboxID, JTI: res.JTI, State: res.State}); err != nil {
		return err
	}
	if res.State != "needs_review" {
		return nil
	}
	return tx.RecordHeldDocument(ctx, store.HeldDocument{DecisionID: res.DecisionID, CaseID: r.caseID, Destination: r.to,
		Kind: string(r.kind), DocID: r.docID, SHA256: r.docSum, Document: r.doc})
}

// reviewHeld approves or rejects the response or message held by decision
// held (Review).
func (n *Node) reviewHeld(ctx context.Context, a Actor, caseID string, held store.Decision, pd policy.Decision, approve bool, note string) (SendResult, error) {
	h, err := n.o.Store.HeldDocument(ctx, held.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if approve {
			return SendResult{}, errf(CodeConflict, "decision %d holds a %s that was not kept: reject it and send it again", held.ID, pd.Kind)
		}
	case err != nil:
		return SendResult{}, internal("held document", err)
	case h.CaseID != caseID:
		return SendResult{}, errf(CodeNotFound, "no decision %d on case %s", held.ID, caseID)
	case h.State == store.HeldErased:
		return SendResult{}, errf(CodeErased, "case %s was withdrawn while decision %d held its %s: the document was erased and nothing can be sent", caseID, held.ID, h.Kind)
	case h.State != store.HeldWaiting:
		return SendResult{}, errf(CodeConflict, "decision %d was already reviewed (%s)", held.ID, h.State)
	}
	if approve {
		c, err := n.caseForSending(ctx, caseID)
		if err != nil {
			return SendResult{}, err
		}
		return n.send(ctx, a, sendRequest{to: h.Destination, kind: federation.Kind(h.Kind), caseID: caseID, doc: h.Document, caseDoc: c.Document,
			docID: h.DocID, docSum: h.SHA256, held: h.DecisionID, approve: &policy.Review{By: a.Name, At: n.o.Now(), Note: note}, reviewed: reviewedRules(pd)})
	}
	rejected, err := pd.Reject(a.Name, n.o.Now(), note)
	if err != nil {
		return SendResult{}, errf(CodeConflict, "%v", err)
	}
	dj, err := json.Marshal(rejected)
	if err != nil {
		return SendResult{}, internal("encode decision", err)
	}
	var res SendResult
	err = n.o.Store.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.LockCase(ctx, caseID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if h.DecisionID != 0 {
			err := tx.ResolveHeldDocument(ctx, h.DecisionID, store.HeldRejected, n.o.Now())
			if errors.Is(err, store.ErrConflict) {
				return errf(CodeConflict, "decision %d is no longer held for review", h.DecisionID)
			}
			if err != nil {
				return err
			}
			if err := tx.DeleteSentDocument(ctx, h.DocID, h.Destination, h.Kind); err != nil {
				return err
			}
		}
		rec, err := tx.RecordDecision(ctx, store.Decision{CaseID: caseID, Destination: held.Destination, Effect: string(rejected.Effect), Decision: dj})
		if err != nil {
			return err
		}
		res = SendResult{Decision: rejected, DecisionID: rec.ID, Kind: federation.Kind(pd.Kind), To: held.Destination, State: "denied"}
		return n.audit(ctx, tx, a.Name, "review.reject", caseID, map[string]any{"decision_id": held.ID, "to": held.Destination, "kind": pd.Kind})
	})
	var pe *Error
	switch {
	case errors.As(err, &pe):
		return SendResult{}, pe
	case err != nil:
		return SendResult{}, internal("record rejection", err)
	}
	return res, nil
}
