package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
)

// forwardChunk bounds the cases forwarded in one transaction: a crisis
// list is forwarded at one commit (one WAL flush) per chunk, not per case,
// while the case locks and the audit-chain lock a chunk holds stay short.
const forwardChunk = 200

// batchSend is one case of forwardBatch: what send would do for it.
type batchSend struct {
	r   sendRequest
	j   judged
	res SendResult
	// refused is set when a check refused the case alone (before or
	// under its lock); nothing was written for it.
	refused *Error
	// skip: its current version was sent already (not reported); sent:
	// its chunk committed.
	skip, sent bool
}

// forwardBatch forwards the cases ids (this node's, accepted by an import;
// fresh were created by it, so nothing of theirs is queued yet) to member
// to, as Forward would each one after the other unless its current version
// was sent there already, in few transactions: the policy judges each case
// first (spread over the cores), then chunks of forwardChunk cases, in
// case-id order (two batches lock their common cases in the same order),
// run send's transaction for their cases at once (sendAllIn), with the
// audit records appended once per chunk after its last case lock. A case a check refuses
// (policy, erased, changed, not this node's) is reported alone and the
// others go; a database error fails the forwarding (chunks committed
// before it stay, and are reported).
func (n *Node) forwardBatch(ctx context.Context, a Actor, ids []string, fresh map[string]bool, to string) ([]ImportForward, error) {
	dst, _, err := n.destination(to)
	if err != nil {
		return nil, err
	}
	cases, err := n.o.Store.GetCases(ctx, ids)
	if err != nil {
		return nil, internal("get cases", err)
	}
	// What is queued of the cases not created by the import, in one read.
	var keys []store.CaseDest
	for _, id := range ids {
		if c, ok := cases[id]; ok && !fresh[id] && !c.Erased() && c.Origin == n.o.Self {
			keys = append(keys, store.CaseDest{CaseID: id, Destination: to})
		}
	}
	listed, err := n.o.Store.ListCasesOutbox(ctx, keys, caseKinds)
	if err != nil {
		return nil, internal("list outbox", err)
	}
	queued := make(map[string][]store.OutboxItem, len(keys))
	for _, it := range listed {
		queued[it.CaseID] = append(queued[it.CaseID], it)
	}
	sends := make([]*batchSend, 0, len(ids))
	for _, id := range ids {
		s := &batchSend{r: sendRequest{to: to, kind: federation.KindCaseCreate, caseID: id}}
		sends = append(sends, s)
		c, ok := cases[id]
		switch {
		case !ok:
			s.refused = errf(CodeNotFound, "no case %s", id)
			continue
		case c.Erased():
			s.refused = errf(CodeErased, "case %s was erased", id)
			continue
		case c.Origin != n.o.Self:
			s.refused = errf(CodeNotOrigin, "case %s belongs to %s: only the origin forwards it", id, c.Origin)
			continue
		}
		s.r.caseVersion, s.r.doc = c.Version, c.Document
		if !fresh[id] {
			rows := queued[id]
			if sentIn(rows, c.Version) {
				s.skip = true
				continue
			}
			s.r.kind = caseKindOf(rows)
		}
	}
	// The policy is the CPU of a forward: spread over the cores.
	errs := make([]error, len(sends))
	onCores(len(sends), func(i int) {
		if s := sends[i]; s.refused == nil && !s.skip {
			s.j.d, s.j.out, s.j.dj, errs[i] = n.judge(ctx, s.r, dst)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var todo []*batchSend
	for _, s := range sends {
		if s.refused != nil || s.skip {
			continue
		}
		s.res = SendResult{Decision: s.j.d, Kind: s.r.kind, To: to, State: stateOf(s.j.d)}
		if s.j.d.Allowed() {
			if err := n.precheck(ctx, to, s.r.kind, s.j.out); err != nil {
				s.refused = problem.As(err)
				continue
			}
		}
		todo = append(todo, s)
	}
	// Their envelopes signed before the transactions, over the cores too.
	onCores(len(todo), func(i int) {
		if s := todo[i]; s.j.d.Allowed() {
			errs[i] = n.presign(s.r, &s.j)
		}
	})
	if err := errors.Join(errs[:len(todo)]...); err != nil {
		return nil, internal("sign", err)
	}
	sort.Slice(todo, func(i, j int) bool { return todo[i].r.caseID < todo[j].r.caseID })
	var failed error
	for lo := 0; lo < len(todo) && failed == nil; lo += forwardChunk {
		failed = n.forwardChunk(ctx, a, dst, todo[lo:min(lo+forwardChunk, len(todo))])
	}
	var out []ImportForward
	for _, s := range sends {
		switch {
		case s.refused != nil:
			out = append(out, ImportForward{CaseID: s.r.caseID, State: string(s.refused.Code)})
		case s.sent:
			f := ImportForward{CaseID: s.r.caseID, State: s.res.State, DecisionID: s.res.DecisionID, OutboxID: s.res.OutboxID}
			if s.res.State != "queued" {
				for _, fr := range s.res.Decision.Fired {
					f.Rules = append(f.Rules, fr.RuleID)
				}
			}
			out = append(out, f)
		}
	}
	return out, failed
}

// forwardChunk runs sendAllIn for sends (sorted by case id) in one
// transaction and kicks the deliverer after its commit. Each send is
// marked done, or refused alone; on an error none is.
func (n *Node) forwardChunk(ctx context.Context, a Actor, dst policy.Destination, sends []*batchSend) error {
	shared := make([]sharedSend, len(sends))
	for i, s := range sends {
		shared[i] = sharedSend{a: a, r: s.r, dst: dst, j: s.j, res: s.res}
	}
	results := make([]SendResult, len(sends))
	refused := make([]*Error, len(sends))
	err := n.o.Store.Tx(ctx, func(tx store.Tx) error {
		return n.sendAllIn(ctx, tx, shared, results, refused)
	})
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return pe
		}
		return internal("record forwards", err)
	}
	var queued []int64
	for i, s := range sends {
		s.res, s.refused, s.sent = results[i], refused[i], refused[i] == nil
		if s.refused == nil && s.res.State == "queued" {
			queued = append(queued, s.res.OutboxID)
		}
	}
	if len(queued) > 0 {
		n.deliverer.KickRows(dst.Member, queued...)
	}
	n.log.Info("send batch", "to", dst.Member, "cases", len(sends), "queued", len(queued))
	return nil
}

// sentIn reports whether rows (caseOutbox) hold version v of the case,
// queued for the member and not cancelled: forwarding it again would send
// the same thing twice.
func sentIn(rows []store.OutboxItem, v int64) bool {
	for _, r := range rows {
		k := federation.Kind(r.Kind)
		if (k == federation.KindCaseCreate || k == federation.KindCaseUpdate) && r.CaseVersion == v && r.State != store.Cancelled {
			return true
		}
	}
	return false
}

// sharedSend is one send of a transaction shared with others (sendAllIn).
type sharedSend struct {
	a   Actor
	r   sendRequest
	dst policy.Destination
	j   judged
	res SendResult // what send knew of it before the transaction
}

// sendAllIn runs send's transaction (what sendIn does) for sends, every one
// groupable (a caseworker's forward of a case: forwardBatch, a group of
// forwards), in the order given (by case id, so that two writers lock
// their common cases in the same order), in tx, set-based: one statement
// locks every case (without reading its document), one reads what is
// queued of them for their members, then each is checked and decided in
// order as sendIn would, seeing what the ones before it queued; one
// statement records the decisions, one queues the envelopes (those their
// callers signed, presign: one is signed here only when its kind changed
// under the lock), and the audit records are appended last, at once. It sets results[i] and, when
// a check refused sends[i] before anything of it was written, refused[i]:
// the others go on. Any other error fails them all.
func (n *Node) sendAllIn(ctx context.Context, tx store.Tx, sends []sharedSend, results []SendResult, refused []*Error) error {
	ids := make([]string, 0, len(sends))
	keys := make([]store.CaseDest, 0, len(sends))
	seenID, seenKey := make(map[string]bool, len(sends)), make(map[store.CaseDest]bool, len(sends))
	for i := range sends {
		r := sends[i].r
		if !groupable(r) {
			return internal("send group", fmt.Errorf("a %s of case %s cannot share a transaction", r.kind, r.caseID))
		}
		if !seenID[r.caseID] {
			seenID[r.caseID] = true
			ids = append(ids, r.caseID)
		}
		if k := (store.CaseDest{CaseID: r.caseID, Destination: r.to}); !seenKey[k] {
			seenKey[k] = true
			keys = append(keys, k)
		}
	}
	// Serialised with the cases' withdrawals (FLX-WDR-008), as sendIn.
	heads, err := tx.LockCaseHeads(ctx, ids)
	if err != nil {
		return err
	}
	// What is queued of them, read once under their locks; the rows this
	// group queues are added as it goes (id 0 - 1 - their index in items).
	rows, err := tx.ListCasesOutbox(ctx, keys, caseKinds)
	if err != nil {
		return err
	}
	queued := make(map[store.CaseDest][]store.OutboxItem, len(keys))
	for _, it := range rows {
		k := store.CaseDest{CaseID: it.CaseID, Destination: it.Destination}
		queued[k] = append(queued[k], it)
	}
	var (
		decs  []store.Decision
		decOf []int // decs[j] is sends[decOf[j]]'s
		items []store.NewOutboxItem
		itOf  []int                     // items[j] is sends[itOf[j]]'s
		same  = make([]int, len(sends)) // sends[i] answered with items[same[i]], or -1
		kinds = make([]federation.Kind, len(sends))
	)
	for i := range sends {
		s := &sends[i]
		r, res := s.r, &results[i]
		*res, refused[i], same[i] = s.res, nil, -1
		d, out, dj := s.j.d, s.j.out, s.j.dj
		cur, ok := heads[r.caseID]
		switch {
		case !ok:
			refused[i] = errf(CodeNotFound, "no case %s", r.caseID)
			continue
		case cur.Erased():
			refused[i] = errf(CodeErased, "case %s was withdrawn while this %s was being prepared: nothing was sent", r.caseID, r.kind)
			continue
		case cur.Version != r.caseVersion:
			refused[i] = errf(CodeConflict, "case %s changed (now version %d) while it was being forwarded: forward it again", r.caseID, cur.Version)
			continue
		}
		k := store.CaseDest{CaseID: r.caseID, Destination: r.to}
		q := queued[k]
		// A parallel forward to the same member may have queued the
		// create meanwhile: this one is then an update, judged as such.
		if kk := caseKindOf(q); kk != r.kind {
			r.kind, res.Kind = kk, kk
			if d, out, dj, err = n.judge(ctx, r, s.dst); err != nil {
				return err
			}
			res.Decision, res.State, res.Document = d, stateOf(d), nil
			if d.Effect != policy.Deny {
				res.Document = out
			}
		}
		// The member already has (or will have) this version.
		if it, found := versionIn(q, r.caseVersion); found && d.Allowed() {
			res.OutboxID, res.JTI, res.Kind, res.State = it.ID, it.JTI, federation.Kind(it.Kind), "queued"
			if it.ID < 0 {
				same[i] = int(-it.ID - 1)
			}
			continue
		}
		n.metrics.decisions.WithLabelValues(string(d.Effect)).Inc()
		kinds[i] = r.kind
		decs = append(decs, store.Decision{CaseID: r.caseID, Destination: r.to, Effect: string(d.Effect), Decision: dj})
		decOf = append(decOf, i)
		if d.Allowed() {
			in := s.j.item
			if !s.j.signed || s.j.kind != r.kind {
				discloses, withdraws := deliveryRecords(r.kind)
				if in, err = n.signedItem(r.to, r.kind, r.caseID, r.caseVersion, out, discloses, withdraws); err != nil {
					return err
				}
			}
			items = append(items, in)
			itOf = append(itOf, i)
			queued[k] = append(q, store.OutboxItem{ID: int64(-len(items)), Kind: in.Kind, CaseVersion: in.CaseVersion, State: store.Queued})
		}
	}
	recs, err := tx.RecordDecisions(ctx, decs)
	if err != nil {
		return err
	}
	for j, i := range decOf {
		results[i].DecisionID = recs[j].ID
	}
	got, err := tx.EnqueueAll(ctx, items)
	if err != nil {
		return err
	}
	for j, i := range itOf {
		results[i].OutboxID, results[i].JTI = got[j].ID, got[j].JTI
		n.metrics.enqueued.WithLabelValues(got[j].Kind).Inc()
	}
	for i, j := range same {
		if j >= 0 {
			results[i].OutboxID, results[i].JTI = got[j].ID, got[j].JTI
		}
	}
	audits := make([]store.AuditEntry, 0, len(decOf))
	for _, i := range decOf {
		s, res := &sends[i], &results[i]
		details := map[string]any{"to": s.r.to, "kind": kinds[i], "effect": res.Decision.Effect, "decision_id": res.DecisionID,
			"policy_hash": res.Decision.PolicyHash, "redactions": len(res.Decision.Redactions)}
		if res.Decision.Allowed() {
			details["outbox_id"] = res.OutboxID
		}
		if s.r.propagated {
			details["propagated"] = true
		}
		raw, err := json.Marshal(details)
		if err != nil {
			return err
		}
		audits = append(audits, store.AuditEntry{Actor: s.a.Name, Action: "send." + res.State, Object: s.r.caseID, Details: raw, At: n.o.Now()})
	}
	// The audit-chain lock last, after every case lock: a send of one case
	// waiting for a lock held here holds no audit lock.
	_, err = tx.AppendAuditAll(ctx, audits)
	return err
}

// caseKinds are the kinds of outbox row a forward looks at (caseKindOf,
// versionIn).
var caseKinds = []string{string(federation.KindCaseCreate), string(federation.KindCaseUpdate)}
