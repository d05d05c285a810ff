package console

import (
	"context"
	"net/http"
	"sort"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/store"
)

// auditHeads is the part of Backend the audit page's witnessed heads use
// (SPEC.md §20): what `flx audit verify` and GET /api/v1/audit/witnessed
// show, over the node's read-only view.
type auditHeads interface {
	// SentAuditHeads lists the heads of this node's audit log queued for
	// witnesses, oldest first, with whether each witness acknowledged it.
	SentAuditHeads(ctx context.Context, a node.Actor) ([]node.SentAuditHead, error)
	// CheckAuditHead compares the local chain (intact, rows entries) with
	// a witnessed head, as `flx audit verify` does.
	CheckAuditHead(ctx context.Context, a node.Actor, rows int64, h federation.AuditHead) (node.HeadCheck, error)
	// WitnessedHeads lists the latest head this node witnesses for each
	// member.
	WitnessedHeads(ctx context.Context, a node.Actor) ([]store.AuditHead, error)
}

func (b nodeBackend) SentAuditHeads(ctx context.Context, _ node.Actor) ([]node.SentAuditHead, error) {
	return node.SentAuditHeads(ctx, b.n.View(), b.n.Self(), "")
}

func (b nodeBackend) CheckAuditHead(ctx context.Context, _ node.Actor, rows int64, h federation.AuditHead) (node.HeadCheck, error) {
	return node.CheckAgainstHead(ctx, b.n.View(), rows, h)
}

func (b nodeBackend) WitnessedHeads(ctx context.Context, _ node.Actor) ([]store.AuditHead, error) {
	return b.n.WitnessedHeads(ctx, "")
}

// witnessRow is, for one witness, the latest head of this log it
// acknowledged with a signed receipt and the local chain checked against
// it; Pending is a later head still waiting for its receipt.
type witnessRow struct {
	Witness string
	Head    *node.SentAuditHead
	Check   node.HeadCheck
	Pending *node.SentAuditHead
}

// witnessRows checks the local chain (rows entries, intact) against the
// latest head each witness acknowledged.
func (c *Console) witnessRows(q *req, rows int64) ([]witnessRow, error) {
	sent, err := c.o.Backend.SentAuditHeads(q.Context(), q.actor())
	if err != nil {
		return nil, err
	}
	by := map[string]*witnessRow{}
	for i := range sent { // oldest first: the last one wins
		s := &sent[i]
		r, ok := by[s.Witness]
		if !ok {
			r = &witnessRow{Witness: s.Witness}
			by[s.Witness] = r
		}
		if s.Acknowledged {
			r.Head, r.Pending = s, nil
		} else {
			r.Pending = s
		}
	}
	out := make([]witnessRow, 0, len(by))
	for _, r := range by {
		if r.Head != nil {
			if r.Check, err = c.o.Backend.CheckAuditHead(q.Context(), q.actor(), rows, r.Head.AuditHead); err != nil {
				return nil, err
			}
		}
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Witness < out[j].Witness })
	return out, nil
}

// auditTail is how many of the latest audit rows the audit page shows.
const auditTail = 50

// auditPage verifies the audit log's hash chain, checks it against the
// heads witnesses acknowledged (a tail deleted or a rewrite after a
// witnessed head shows), lists the heads this node witnesses for others,
// and shows the latest entries.
func (c *Console) auditPage(w http.ResponseWriter, q *req) {
	ver, err := c.o.Backend.VerifyAudit(q.Context(), q.actor())
	if err != nil {
		c.fail(w, q, err)
		return
	}
	witnesses, err := c.witnessRows(q, ver.Rows)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	tampered, acked := false, 0
	for _, r := range witnesses {
		if r.Head != nil {
			acked++
			tampered = tampered || r.Check.Problem != ""
		}
	}
	held, err := c.o.Backend.WitnessedHeads(q.Context(), q.actor())
	if err != nil {
		c.fail(w, q, err)
		return
	}
	rows, err := c.o.Backend.ListAudit(q.Context(), q.actor(), store.AuditFilter{AfterSeq: max(ver.Rows-auditTail, 0), Limit: auditTail})
	if err != nil {
		c.fail(w, q, err)
		return
	}
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	c.render(w, q, http.StatusOK, "audit", struct {
		*view
		V         store.AuditVerification
		Witnesses []witnessRow
		Acked     int
		Tampered  bool
		Held      []store.AuditHead
		Rows      []store.AuditRecord
	}{c.newView(q, "audit.title"), ver, witnesses, acked, tampered, held, rows})
}
