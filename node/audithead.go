package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/store"
)

// Audit-head witnessing (conformance/SPEC.md §20): every AuditHead.Every
// the node signs the head of its hash-chained audit log (hash of the last
// entry and the number of entries) into an audit.head envelope and queues
// it, when it changed since the last one queued, for its witnesses (the
// active coordinators that accept audit.head, or the members named). A
// witness keeps the heads it receives; `flx audit verify` compares the
// local chain with the latest head witnessed, so that a tail deleted or a
// rewrite after that head is reported.

// AuditHeadOptions configure audit-head witnessing.
type AuditHeadOptions struct {
	// Every is how often the head is checked and, when it changed, sent;
	// 0 or negative disables (flx serve sets coordination.audit_head_every,
	// default DefaultAuditHeadEvery).
	Every time.Duration
	// Witnesses are the members to send heads to; empty: every active
	// coordinator (other than this member) that accepts audit.head.
	Witnesses []string
}

// DefaultAuditHeadEvery is how often flx serve has the audit head
// witnessed unless configured otherwise.
const DefaultAuditHeadEvery = time.Hour

// runAuditHeads sends the head now and then every AuditHead.Every.
func (n *Node) runAuditHeads(ctx context.Context) {
	n.repeat(ctx, n.o.AuditHead.Every, "audit head witnessing failed", func(ctx context.Context) error {
		_, err := n.SendAuditHead(ctx)
		return err
	})
}

// auditWitnesses returns the members this node's heads go to.
func (n *Node) auditWitnesses(m *federation.Manifest) []string {
	var out []string
	for i := range m.Members {
		mb := &m.Members[i]
		if mb.ID == n.o.Self || mb.Status != federation.StatusActive || !mb.AcceptsKind(federation.KindAuditHead) {
			continue
		}
		if len(n.o.AuditHead.Witnesses) > 0 {
			if slices.Contains(n.o.AuditHead.Witnesses, mb.ID) {
				out = append(out, mb.ID)
			}
		} else if mb.Role == federation.RoleCoordinator {
			out = append(out, mb.ID)
		}
	}
	return out
}

// SendAuditHead queues the current audit head for every witness whose last
// head queued differs, and returns how many it queued. The chain is
// verified first: a broken chain is not vouched for.
func (n *Node) SendAuditHead(ctx context.Context) (int, error) {
	m := n.o.Trust.Current()
	if m == nil {
		return 0, errors.New("node: audit head: no federation manifest held")
	}
	to := n.auditWitnesses(m)
	if len(to) == 0 {
		return 0, nil
	}
	v, err := n.o.Store.VerifyAudit(ctx)
	if err != nil {
		return 0, fmt.Errorf("node: audit head: %w", err)
	}
	if !v.OK() {
		return 0, fmt.Errorf("node: audit head: the audit log is broken at entry %d (%s): not sent", v.FirstBadSeq, v.Problem)
	}
	body, err := json.Marshal(federation.AuditHead{Member: n.o.Self, Count: v.Rows, Head: v.Head, SignedAt: n.o.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return 0, err
	}
	caseID := federation.AuditHeadCaseID(n.o.Self)
	queued := 0
	for _, w := range to {
		last, err := n.LastSentAuditHead(ctx, w)
		if err != nil {
			return queued, err
		}
		if last != nil && last.Count == v.Rows && last.Head == v.Head {
			continue
		}
		// Not audited: an entry would change the head it reports, and the
		// outbox row (with the witness's receipt) is the record.
		err = n.o.Store.Tx(ctx, func(tx store.Tx) error {
			_, err := n.enqueueRecording(ctx, tx, w, federation.KindAuditHead, caseID, 0, body, false, false)
			return err
		})
		if err != nil {
			return queued, fmt.Errorf("node: queue audit head: %w", err)
		}
		queued++
	}
	if queued > 0 {
		n.deliverer.Kick()
	}
	return queued, nil
}

// SentAuditHead is an audit head this node queued for a witness, with
// whether the witness acknowledged it (a signed receipt).
type SentAuditHead struct {
	federation.AuditHead
	Witness      string
	Acknowledged bool
}

// LastSentAuditHead returns the last head queued for witness (nil: none).
func (n *Node) LastSentAuditHead(ctx context.Context, witness string) (*SentAuditHead, error) {
	hs, err := SentAuditHeads(ctx, n.o.Store, n.o.Self, witness)
	if err != nil || len(hs) == 0 {
		return nil, err
	}
	return &hs[len(hs)-1], nil
}

// SentAuditHeads returns the audit heads self queued (for witness, or for
// every witness when ""), oldest first, from its outbox.
func SentAuditHeads(ctx context.Context, st store.OutboxReader, self, witness string) ([]SentAuditHead, error) {
	var out []SentAuditHead
	f := store.OutboxFilter{CaseID: federation.AuditHeadCaseID(self), Destination: witness, IncludeEnvelope: true, Limit: 1000}
	for {
		rows, err := st.ListOutbox(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("node: audit heads sent: %w", err)
		}
		for _, r := range rows {
			if r.Kind != string(federation.KindAuditHead) || r.Envelope == nil {
				continue
			}
			cl, err := federation.ClaimsOf(r.Envelope)
			if err != nil {
				continue
			}
			h, err := federation.ParseAuditHead(cl.Body)
			if err != nil {
				continue
			}
			out = append(out, SentAuditHead{AuditHead: h, Witness: r.Destination, Acknowledged: r.State == store.Delivered})
		}
		if len(rows) < f.Limit {
			break
		}
		f.AfterID = rows[len(rows)-1].ID
	}
	return out, nil
}

// checkAuditHead is what a witness requires of a received head beyond the
// envelope checks (FLX-WIT-002): a strict body about its sender, under the
// sender's audit-head case id.
func (n *Node) checkAuditHead(env *federation.Envelope) error {
	h, err := federation.ParseAuditHead(env.Body)
	if err != nil {
		return errf(federation.CodeSchemaInvalid, "%v", err)
	}
	if h.Member != env.Issuer {
		return errf(federation.CodeSenderMismatch, "an audit head of %s sent by %s", h.Member, env.Issuer)
	}
	if env.CaseID != federation.AuditHeadCaseID(env.Issuer) {
		return errf(federation.CodeBadEnvelope, "the case_id of an audit.head is <member>:audit-head")
	}
	return nil
}

// applyAuditHead keeps a received head (a witness's inbox).
func (n *Node) applyAuditHead(ctx context.Context, tx store.Tx, it store.InboxItem, c federation.Claims) (error, *confirmation, error) {
	h, err := federation.ParseAuditHead(c.Body)
	if err != nil {
		return fmt.Errorf("audit.head body: %w", err), nil, nil
	}
	err = tx.SaveAuditHead(ctx, store.AuditHead{Member: h.Member, JTI: c.JTI, Count: h.Count, Head: h.Head,
		SignedAt: h.SignedAt, ReceivedAt: n.o.Now(), Envelope: it.Envelope})
	if errors.Is(err, store.ErrDuplicate) {
		return nil, nil, nil
	}
	return nil, nil, err
}

// WitnessedHeads returns the latest audit head witnessed for each member
// (or member alone when not "").
func (n *Node) WitnessedHeads(ctx context.Context, member string) ([]store.AuditHead, error) {
	hs, err := n.view.LatestAuditHeads(ctx, member)
	if err != nil {
		return nil, internal("witnessed heads", err)
	}
	return hs, nil
}

// HeadCheck is the comparison of a local audit chain with a witnessed head.
type HeadCheck struct {
	Witnessed federation.AuditHead
	Rows      int64  // entries in the local chain
	Problem   string // "" when the chain holds the witnessed head
}

// CheckAgainstHead compares the local audit chain (already verified: rows
// entries) with a witnessed head: the chain must hold at least that many
// entries, and its entry number count must hash to the head. A tail deleted
// after the head was witnessed, or a rewrite, fails.
func CheckAgainstHead(ctx context.Context, st store.WitnessReader, rows int64, h federation.AuditHead) (HeadCheck, error) {
	hc := HeadCheck{Witnessed: h, Rows: rows}
	if h.Count == 0 {
		return hc, nil
	}
	if rows < h.Count {
		hc.Problem = fmt.Sprintf("the log holds %d entries but %d were witnessed at %s: entries %d..%d were deleted (truncated tail)",
			rows, h.Count, h.SignedAt.UTC().Format(time.RFC3339), rows+1, h.Count)
		return hc, nil
	}
	got, err := st.AuditHashAt(ctx, h.Count)
	if errors.Is(err, store.ErrNotFound) {
		hc.Problem = fmt.Sprintf("entry %d, witnessed at %s, is missing", h.Count, h.SignedAt.UTC().Format(time.RFC3339))
		return hc, nil
	}
	if err != nil {
		return hc, err
	}
	if got != h.Head {
		hc.Problem = fmt.Sprintf("entry %d hashes to %s but the witness holds %s (signed %s): the log was rewritten",
			h.Count, got, h.Head, h.SignedAt.UTC().Format(time.RFC3339))
	}
	return hc, nil
}
