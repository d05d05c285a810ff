package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
	"github.com/familylinks/flx/schema"
)

// SendResult is the outcome of a forward, response or message: the policy
// decision and, unless denied or held for review, the queued envelope.
type SendResult struct {
	Decision   policy.Decision `json:"decision"`
	DecisionID int64           `json:"decision_id"`
	Kind       federation.Kind `json:"kind"`
	To         string          `json:"to"`
	// State is queued, needs_review or denied.
	State    string          `json:"state"`
	OutboxID int64           `json:"outbox_id,omitempty"`
	JTI      string          `json:"jti,omitempty"`
	Document json.RawMessage `json:"document,omitempty"` // what is (or would be) sent, redacted
}

// destination describes member to for the policy, from the manifest.
func (n *Node) destination(to string) (policy.Destination, *federation.Member, error) {
	if err := n.o.Trust.Usable(); err != nil {
		return policy.Destination{}, nil, &Error{Code: CodeUnavailable, Msg: "no valid federation manifest", Err: err}
	}
	if to == n.o.Self {
		return policy.Destination{}, nil, errf(CodeBadRequest, "cannot send to this node itself")
	}
	mb, ok := n.o.Trust.Current().Member(to)
	if !ok {
		return policy.Destination{}, nil, errf(CodeUnknownMember, "%q is not a member of the federation", to)
	}
	d := policy.Destination{Member: mb.ID, Country: mb.Country, Role: string(mb.Role), Active: mb.Status == federation.StatusActive}
	for _, k := range mb.Accepts {
		d.Accepts = append(d.Accepts, string(k))
	}
	return d, mb, nil
}

// throughRelays judges the relay of the route to member to (if any) as a
// destination of what is sent there too: a relay holds what it carries in
// the clear (policy.Through). A route that cannot be found now adds
// nothing: delivery then fails, and nothing leaves.
func (n *Node) throughRelays(to string) policy.EvalOption {
	r, err := n.route(to)
	if err != nil || r.Via == "" {
		return policy.Through()
	}
	dst, _, err := n.destination(r.Via)
	if err != nil {
		// A relay this node cannot describe is judged as unknown: the
		// destination rule refuses it (fail closed).
		dst = policy.Destination{Member: r.Via}
	}
	return policy.Through(dst)
}

// caseForSending loads a case that is not erased.
func (n *Node) caseForSending(ctx context.Context, caseID string) (store.Case, error) {
	c, err := n.o.Store.GetCase(ctx, caseID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return c, errf(CodeNotFound, "no case %s", caseID)
	case err != nil:
		return c, internal("get case", err)
	case c.Erased():
		return c, errf(CodeErased, "case %s was erased", caseID)
	}
	return c, nil
}

// Forward sends the current version of one of this Society's cases to a
// member: case.create the first time, case.update after. The policy runs
// first: deny is refused (CodePolicyDenied, with the decision),
// needs_review holds the forward until an operator approves it, and
// redactions are applied to what is queued. Every decision is stored.
func (n *Node) Forward(ctx context.Context, a Actor, caseID, to string) (SendResult, error) {
	hook := n.metrics.stages.Load()
	var ft forwardTimes
	if hook != nil && hook.Forwarded != nil {
		ft.start = n.o.Now()
	}
	// The read is shared by the forwards waiting for one (readToSend):
	// a burst of forwards (hundreds of callers) takes a connection or two
	// of the store for its reads, not one each.
	c, kind, err := n.caseToSend(ctx, caseID, to)
	if err != nil {
		return SendResult{}, err
	}
	if c.Origin != n.o.Self {
		return SendResult{}, errf(CodeNotOrigin, "case %s belongs to %s: only the origin forwards it", caseID, c.Origin)
	}
	if !ft.start.IsZero() {
		ft.read = n.o.Now()
	}
	// At most forwardSlots forwards are judged at once (the policy's CPU),
	// then their transactions are grouped (commitSendTx).
	select {
	case n.forwarding <- struct{}{}:
	case <-ctx.Done():
		return SendResult{}, ctx.Err()
	}
	if !ft.start.IsZero() {
		ft.slot = n.o.Now()
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			<-n.forwarding
			if !ft.start.IsZero() {
				ft.judged = n.o.Now()
			}
		})
	}
	defer release()
	res, err := n.send(ctx, a, sendRequest{to: to, kind: kind, caseID: caseID, caseVersion: c.Version, doc: c.Document, judged: release})
	if err == nil && res.JTI != "" && !ft.start.IsZero() && !ft.judged.IsZero() {
		hook.Forwarded(res.JTI, ft.start, ft.read, ft.slot, ft.judged, n.o.Now())
	}
	return res, err
}

// forwardTimes are the steps of one Forward, for StageHook.Forwarded.
type forwardTimes struct{ start, read, slot, judged time.Time }

// forwardSlots is how many forwards are judged at once (Forward): enough
// to keep the cores busy with the policy, few enough that the forwards'
// transactions (forwardGroups) and delivery are not starved of CPU.
const forwardSlots = 4

// caseToSend is caseForSending and, in the same read, the kind sending
// the case to member to would be: case.create unless a case.create of it
// to to is queued, under way or delivered (not cancelled), case.update
// then (caseKindOf).
// The read is shared with concurrent forwards' (readToSend).
func (n *Node) caseToSend(ctx context.Context, caseID, to string) (store.Case, federation.Kind, error) {
	got, err := n.readToSend(ctx, caseID, to)
	c := got.Case
	switch {
	case err != nil && ctx.Err() != nil:
		return c, "", err
	case err != nil:
		return c, "", internal("get case", err)
	case c.ID == "":
		return c, "", errf(CodeNotFound, "no case %s", caseID)
	case c.Erased():
		return c, "", errf(CodeErased, "case %s was erased", caseID)
	case got.Queued:
		return c, federation.KindCaseUpdate, nil
	}
	return c, federation.KindCaseCreate, nil
}

// caseOutbox lists the outbox rows of a case to member to (without their
// envelopes).
func caseOutbox(ctx context.Context, q store.Queries, caseID, to string) ([]store.OutboxItem, error) {
	return q.ListOutbox(ctx, store.OutboxFilter{Destination: to, CaseID: caseID, Limit: 1000})
}

// caseKindOf is case.update if rows (caseOutbox) hold a case.create that
// was not cancelled, else case.create.
func caseKindOf(rows []store.OutboxItem) federation.Kind {
	for _, r := range rows {
		if r.Kind == string(federation.KindCaseCreate) && r.State != store.Cancelled {
			return federation.KindCaseUpdate
		}
	}
	return federation.KindCaseCreate
}

// DryRun evaluates the policy for forwarding a case to a member without
// sending or storing anything.
func (n *Node) DryRun(ctx context.Context, caseID, to string) (SendResult, error) {
	c, kind, err := n.caseToSend(ctx, caseID, to)
	if err != nil {
		return SendResult{}, err
	}
	dst, _, err := n.destination(to)
	if err != nil {
		return SendResult{}, err
	}
	d, out := n.o.Policy.Apply(ctx, c.Document, string(kind), dst, n.o.Now(), policy.CurrentVersion(c.Version), n.throughRelays(to))
	return SendResult{Decision: d, Kind: kind, To: to, State: stateOf(d), Document: out}, nil
}

// Respond sends a case.response about a case received from its origin,
// back to the origin. The document's responder must be this member.
func (n *Node) Respond(ctx context.Context, a Actor, caseID string, doc []byte) (SendResult, error) {
	c, err := n.caseForSending(ctx, caseID)
	if err != nil {
		return SendResult{}, err
	}
	if c.Origin == n.o.Self {
		return SendResult{}, errf(CodeBadRequest, "case %s is this node's own: responses go to the origin", caseID)
	}
	r, err := schema.ParseResponse(doc)
	if err != nil {
		return SendResult{}, schemaErr(err, "document does not conform to schema v1")
	}
	if r.CaseID != caseID || r.Responder != n.o.Self {
		return SendResult{}, errf(CodeBadRequest, "response must have case_id %q and responder %q", caseID, n.o.Self)
	}
	sum := docSum(doc)
	return n.send(ctx, a, sendRequest{to: c.Origin, kind: federation.KindCaseResponse, caseID: caseID, doc: doc, caseDoc: c.Document,
		docID: "sha256:" + sum, docSum: sum})
}

// SendMessage sends a message (Red Cross message, family news, call
// record, video or voice message reference) about a case to a member.
func (n *Node) SendMessage(ctx context.Context, a Actor, caseID, to string, doc []byte) (SendResult, error) {
	c, err := n.caseForSending(ctx, caseID)
	if err != nil {
		return SendResult{}, err
	}
	m, err := schema.ParseMessage(doc)
	if err != nil {
		return SendResult{}, schemaErr(err, "document does not conform to schema v1")
	}
	if m.CaseID != caseID {
		return SendResult{}, errf(CodeBadRequest, "message case_id %q does not match %q", m.CaseID, caseID)
	}
	if !strings.HasPrefix(m.MessageID, n.o.Self+":") {
		return SendResult{}, errf(CodeBadRequest, "message_id %q must begin with this member's id (%s:): a message id belongs to its sender", m.MessageID, n.o.Self)
	}
	sum := docSum(doc)
	if doc, err = n.attachToMessage(ctx, caseID, doc); err != nil {
		return SendResult{}, err
	}
	return n.send(ctx, a, sendRequest{to: to, kind: federation.KindMessageDeliver, caseID: caseID, doc: doc, caseDoc: c.Document,
		docID: m.MessageID, docSum: sum})
}

type sendRequest struct {
	to          string
	kind        federation.Kind
	caseID      string
	caseVersion int64
	doc         []byte
	// caseDoc is the case a response or message is about, as stored here:
	// the policy judges what they disclose against its consent, refusal
	// and the countries its people fear.
	caseDoc []byte
	// approve is set when an operator approved a held forward; reviewed
	// are the needs_review rules (id and reason) the held decision showed:
	// the approval answers those, not reasons that appeared since.
	approve  *policy.Review
	reviewed map[string]bool
	// propagated is set for an update sent because the case changed
	// (UpdateCase), not because a caseworker forwarded it.
	propagated bool
	// docID identifies a message or response by its sender (a
	// message_id, or the response's digest); docSum is the submitted
	// document's SHA-256. A second send of docID is answered with the
	// first one's result (sent_documents).
	docID, docSum string
	// held is the decision that held docID for review, when an operator
	// approved it (held_documents).
	held int64
	// judged, if set, is called once the policy has judged the send,
	// before its transaction (Forward's slot is free again).
	judged func()
}

// docSum is the hex SHA-256 of a submitted document.
func docSum(doc []byte) string {
	s := sha256.Sum256(doc)
	return hex.EncodeToString(s[:])
}

func stateOf(d policy.Decision) string {
	switch {
	case d.Allowed():
		return "queued"
	case d.Effect == policy.NeedsReview:
		return "needs_review"
	default:
		return "denied"
	}
}

// send runs the policy and, in one transaction, records the decision,
// queues the redacted document if allowed, and audits (a forward's
// transaction may be shared with concurrent forwards: commitSendTx).
func (n *Node) send(ctx context.Context, a Actor, r sendRequest) (SendResult, error) {
	dst, _, err := n.destination(r.to)
	if err != nil {
		return SendResult{}, err
	}
	d, out, dj, err := n.judge(ctx, r, dst)
	if err != nil {
		return SendResult{}, err
	}
	res := SendResult{Decision: d, Kind: r.kind, To: r.to, State: stateOf(d)}
	if d.Effect != policy.Deny {
		res.Document = out
	}
	j := judged{d: d, out: out, dj: dj}
	if d.Allowed() {
		if err := n.precheck(ctx, r.to, r.kind, out); err != nil {
			return SendResult{}, err
		}
		if groupable(r) {
			// Signed here, by each caller at once, not one after the other
			// by its group's leader inside the transaction (sendAllIn).
			if err := n.presign(r, &j); err != nil {
				return SendResult{}, internal("sign", err)
			}
		}
	}
	if r.judged != nil {
		r.judged()
	}
	if err := n.commitSendTx(ctx, a, r, dst, j, &res); err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return SendResult{}, pe
		}
		return SendResult{}, internal("record send", err)
	}
	switch res.State {
	case "needs_review":
		if r.approve != nil {
			// Held again, by the decision just recorded: the approval did
			// not see these reasons (policy/RULES.md "Review").
			return res, &Error{Code: CodeConflict, Decision: &res.Decision, Msg: fmt.Sprintf(
				"approval not applied: the policy now holds this %s to %s for reasons the approval did not see (%s); nothing was sent and it waits for review again as decision %d",
				r.kind, r.to, strings.Join(unreviewed(res.Decision, r.reviewed), ", "), res.DecisionID)}
		}
	case "denied":
		msg := fmt.Sprintf("the data-protection policy refuses sending this %s to %s", r.kind, r.to)
		if r.approve != nil {
			// Approval never overrides a deny (policy/RULES.md "Review"):
			// the case or the rules changed while the item was held.
			msg = fmt.Sprintf("approval refused: the data-protection policy now denies sending this %s to %s (the case or the rules changed since it was held); nothing was sent and the item left the review queue as denied", r.kind, r.to)
		}
		return res, &Error{Code: CodePolicyDenied, Msg: msg, Decision: &res.Decision}
	case "queued":
		n.deliverer.KickRows(r.to, res.OutboxID)
	}
	n.log.Info("send", "case_id", r.caseID, "to", r.to, "kind", r.kind, "state", res.State)
	return res, nil
}

// judged is the policy's answer on a send: the decision, the redacted
// document and the decision encoded; and, once presign ran, the envelope
// of out signed as the kind judged.
type judged struct {
	d       policy.Decision
	out, dj []byte
	// item is out signed (signed set) as kind, for r.to: sendAllIn queues
	// it as is when the kind is still kind under the case's lock, else
	// judges and signs again.
	item   store.NewOutboxItem
	kind   federation.Kind
	signed bool
}

// presign signs j's document as the envelope r would queue (signedItem),
// before the transaction: the CPU of a signature is then spent by each
// forward's caller, in parallel, and not by its group's leader while the
// group holds its cases' locks. An envelope signed here and not queued
// (the kind changed meanwhile, a refusal) never leaves this process.
func (n *Node) presign(r sendRequest, j *judged) error {
	discloses, withdraws := deliveryRecords(r.kind)
	it, err := n.signedItem(r.to, r.kind, r.caseID, r.caseVersion, j.out, discloses, withdraws)
	if err != nil {
		return err
	}
	j.item, j.kind, j.signed = it, r.kind, true
	return nil
}

// sendIn is the transaction of a send that cannot share one (not
// groupable: an approval, a response or message sent by its own id; the
// forwards of a case go through sendAllIn, which does the same set-based):
// under the case's lock it checks the case is still there at
// r.caseVersion, takes what is queued of it for r.to into account, records
// the decision j (judged again if the kind changed meanwhile), queues and
// audits. A refusal (*Error: erased, conflict, not found) comes before
// anything is written.
func (n *Node) sendIn(ctx context.Context, tx store.Tx, a Actor, r sendRequest, dst policy.Destination, j judged, res *SendResult) error {
	d, out, dj := j.d, j.out, j.dj
	// Serialised with the case's withdrawal (FLX-WDR-008): once it has
	// committed nothing more about the case is queued, and a forward
	// that read the case earlier is refused here. The lock reads the
	// case's head only: the caller has the document it judged.
	heads, err := tx.LockCaseHeads(ctx, []string{r.caseID})
	cur, found := heads[r.caseID]
	switch {
	case err != nil:
		return err
	case !found:
		return errf(CodeNotFound, "no case %s", r.caseID)
	case cur.Erased():
		return errf(CodeErased, "case %s was withdrawn while this %s was being prepared: nothing was sent", r.caseID, r.kind)
	case r.caseVersion > 0 && cur.Version != r.caseVersion:
		return errf(CodeConflict, "case %s changed (now version %d) while it was being forwarded: forward it again", r.caseID, cur.Version)
	}
	// What is queued of the case for r.to, read once under the case's
	// lock for both questions below (nothing is written in between).
	isCase := r.kind == federation.KindCaseCreate || r.kind == federation.KindCaseUpdate
	var queued []store.OutboxItem
	if isCase || (r.approve == nil && r.caseVersion > 0) {
		if queued, err = caseOutbox(ctx, tx, r.caseID, r.to); err != nil {
			return err
		}
	}
	if isCase {
		// A parallel forward to the same member may have queued the
		// create meanwhile: this one is then an update, judged as such.
		if k := caseKindOf(queued); k != r.kind {
			r.kind, res.Kind = k, k
			if d, out, dj, err = n.judge(ctx, r, dst); err != nil {
				return err
			}
			res.Decision, res.State, res.Document = d, stateOf(d), nil
			if d.Effect != policy.Deny {
				res.Document = out
			}
		}
	}
	if r.approve == nil && r.caseVersion > 0 {
		// The member already has (or will have) this version: nothing
		// new is queued (an update propagated it, or a second forward).
		if it, found := versionIn(queued, r.caseVersion); found && d.Allowed() {
			res.OutboxID, res.JTI, res.Kind, res.State = it.ID, it.JTI, federation.Kind(it.Kind), "queued"
			return nil
		}
	}
	if r.docID != "" && r.held == 0 {
		// The same document submitted again (a retry, a double click,
		// two racing clients: LockCase serialises them) is one send.
		sd, err := tx.SentDocument(ctx, r.docID, r.to, string(r.kind))
		switch {
		case err == nil && sd.SHA256 != r.docSum:
			return errf(CodeConflict, "%s was already sent to %s with other content: a new message needs its own id", r.docID, r.to)
		case err == nil:
			res.DecisionID, res.OutboxID, res.JTI, res.State = sd.DecisionID, sd.OutboxID, sd.JTI, sd.State
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	if err := n.commitSend(ctx, tx, a, r, d, out, dj, res); err != nil {
		return err
	}
	return n.recordDocument(ctx, tx, r, res)
}

// commitSend records the decision d on r in tx, queues out if allowed,
// and audits.
func (n *Node) commitSend(ctx context.Context, tx store.Tx, a Actor, r sendRequest, d policy.Decision, out, dj []byte, res *SendResult) error {
	n.metrics.decisions.WithLabelValues(string(d.Effect)).Inc()
	rec, err := tx.RecordDecision(ctx, store.Decision{CaseID: r.caseID, Destination: r.to, Effect: string(d.Effect), Decision: dj})
	if err != nil {
		return err
	}
	res.DecisionID = rec.ID
	details := map[string]any{"to": r.to, "kind": r.kind, "effect": d.Effect, "decision_id": rec.ID, "policy_hash": d.PolicyHash, "redactions": len(d.Redactions)}
	if d.Allowed() {
		item, err := n.enqueue(ctx, tx, r.to, r.kind, r.caseID, r.caseVersion, out)
		if err != nil {
			return err
		}
		res.OutboxID, res.JTI = item.ID, item.JTI
		details["outbox_id"] = item.ID
	}
	action := "send." + res.State
	if r.approve != nil && res.State != "needs_review" {
		action = "review.approve"
	}
	if r.propagated {
		details["propagated"] = true
	}
	return n.audit(ctx, tx, a.Name, action, r.caseID, details)
}

// versionIn finds among rows (caseOutbox) a case.create or case.update of
// version v that is queued, under way or delivered.
func versionIn(rows []store.OutboxItem, v int64) (store.OutboxItem, bool) {
	for _, r := range rows {
		if (r.Kind == string(federation.KindCaseCreate) || r.Kind == string(federation.KindCaseUpdate)) &&
			r.CaseVersion == v && (r.State == store.Queued || r.State == store.InFlight || r.State == store.Delivered) {
			return r, true
		}
	}
	return store.OutboxItem{}, false
}

// judge runs the policy on what r sends to dst (with the operator's
// approval, for an approved review) and encodes the decision.
func (n *Node) judge(ctx context.Context, r sendRequest, dst policy.Destination) (policy.Decision, []byte, []byte, error) {
	var opts []policy.EvalOption
	if r.caseVersion > 0 {
		opts = append(opts, policy.CurrentVersion(r.caseVersion))
	}
	if r.caseDoc != nil {
		opts = append(opts, policy.WithCase(r.caseDoc))
	}
	opts = append(opts, n.throughRelays(r.to))
	d, out := n.o.Policy.Apply(ctx, r.doc, string(r.kind), dst, n.o.Now(), opts...)
	if r.approve != nil && d.Effect == policy.NeedsReview && len(unreviewed(d, r.reviewed)) == 0 {
		var err error
		if d, err = d.Approve(r.approve.By, r.approve.At, r.approve.Note); err != nil {
			return d, nil, nil, internal("approve", err)
		}
	}
	dj, err := json.Marshal(d)
	if err != nil {
		return d, nil, nil, internal("encode decision", err)
	}
	return d, out, dj, nil
}

// Review approves or rejects a forward, response or message held for
// review (decision decisionID on case caseID). Approval re-evaluates the
// policy on the current version of the case: a deny still refuses,
// needs_review is approved with the operator's identity, and the result is
// queued (a response or message: the document kept when it was held, see
// reviewHeld).
func (n *Node) Review(ctx context.Context, a Actor, caseID string, decisionID int64, approve bool, note string) (SendResult, error) {
	ds, err := n.o.Store.ListDecisions(ctx, caseID)
	if err != nil {
		return SendResult{}, internal("list decisions", err)
	}
	var held *store.Decision
	for i := range ds {
		if ds[i].ID == decisionID {
			held = &ds[i]
		}
	}
	if held == nil {
		return SendResult{}, errf(CodeNotFound, "no decision %d on case %s", decisionID, caseID)
	}
	if held.Effect != string(policy.NeedsReview) {
		return SendResult{}, errf(CodeConflict, "decision %d is %s, not needs_review", decisionID, held.Effect)
	}
	var pd policy.Decision
	if err := json.Unmarshal(held.Decision, &pd); err != nil {
		return SendResult{}, internal("decode decision", err)
	}
	if !isCaseKind(pd.Kind) {
		return n.reviewHeld(ctx, a, caseID, *held, pd, approve, note)
	}
	for _, later := range ds {
		if later.ID > held.ID && later.Destination == held.Destination && isCaseDecision(later) {
			return SendResult{}, errf(CodeConflict, "decision %d was superseded by decision %d", decisionID, later.ID)
		}
	}
	rev := &policy.Review{By: a.Name, At: n.o.Now(), Note: note}
	if !approve {
		rejected, err := pd.Reject(a.Name, n.o.Now(), note)
		if err != nil {
			return SendResult{}, errf(CodeConflict, "%v", err)
		}
		dj, _ := json.Marshal(rejected)
		var res SendResult
		err = n.o.Store.Tx(ctx, func(tx store.Tx) error {
			rec, err := tx.RecordDecision(ctx, store.Decision{CaseID: caseID, Destination: held.Destination, Effect: string(rejected.Effect), Decision: dj})
			if err != nil {
				return err
			}
			res = SendResult{Decision: rejected, DecisionID: rec.ID, Kind: federation.Kind(pd.Kind), To: held.Destination, State: "denied"}
			return n.audit(ctx, tx, a.Name, "review.reject", caseID, map[string]any{"decision_id": decisionID, "to": held.Destination})
		})
		if err != nil {
			return SendResult{}, internal("record rejection", err)
		}
		return res, nil
	}
	c, kind, err := n.caseToSend(ctx, caseID, held.Destination)
	if err != nil {
		return SendResult{}, err
	}
	return n.send(ctx, a, sendRequest{to: held.Destination, kind: kind, caseID: caseID, caseVersion: c.Version, doc: c.Document, approve: rev, reviewed: reviewedRules(pd)})
}

// reviewKey names a needs_review rule that fired, with its reason.
func reviewKey(f policy.Fired) string { return f.RuleID + ": " + f.Reason }

// reviewedRules are the needs_review rules a held decision showed.
func reviewedRules(d policy.Decision) map[string]bool {
	out := map[string]bool{}
	for _, f := range d.Fired {
		if f.Effect == string(policy.NeedsReview) {
			out[reviewKey(f)] = true
		}
	}
	return out
}

// unreviewed lists the needs_review rules of d not in reviewed.
func unreviewed(d policy.Decision, reviewed map[string]bool) []string {
	var out []string
	for _, f := range d.Fired {
		if f.Effect == string(policy.NeedsReview) && !reviewed[reviewKey(f)] {
			out = append(out, f.RuleID)
		}
	}
	return out
}
