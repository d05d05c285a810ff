package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
	"github.com/familylinks/flx/schema"
)

// Relaying with end-to-end provenance (conformance/SPEC.md §14), as the
// node does it:
//
//   - sending: every envelope is queued as this member signed it for its
//     final recipient (aud = that member), on an outbox row whose
//     destination is that member. Before each attempt, prepareAttempt
//     chooses the route (Manifest.RouteFor with the configured routes): via
//     a relay, the envelope travels as the inner token of a fresh
//     relay.forward to the relay; directly, as itself. The relay's receipt
//     only proves delivery to the relay: the row waits (RelayWait) for the
//     final recipient's end-to-end receipt, which marks it delivered and
//     records the disclosure to the final recipient (FLX-RLY-009).
//   - relaying: a relay.forward whose inner token is for another member is
//     checked (OpenRelay), put through this member's relay policy
//     (relayPolicy) and stored with the disclosure record before the 202;
//     the inbox processor then forwards the same inner bytes with one more
//     hop (applyRelay), by this member's route to the final recipient, or
//     keeps it for the recipient to pull.
//   - receiving as the final recipient: the inner envelope is checked as
//     if its origin had sent it, stored as the origin's, and the end-to-end
//     receipt is queued back to the origin in the same transaction
//     (FLX-RLY-005, FLX-RLY-008); an end-to-end receipt for one of this
//     member's envelopes marks its row delivered (applyE2EReceipt).
//
// Withdrawals and confirmations are envelopes: they take the same routes.

// DefaultRelayWait is how long a relayed envelope waits for its end-to-end
// receipt before it is sent again (in a new relay.forward; the final
// recipient answers a copy with a duplicate receipt).
const DefaultRelayWait = 15 * time.Minute

// route returns how this member sends to dest now.
func (n *Node) route(dest string) (federation.Route, error) {
	m := n.o.Trust.Current()
	if m == nil {
		return federation.Route{}, errors.New("node: no federation manifest held")
	}
	return m.RouteFor(n.o.Self, dest, n.o.Routes)
}

// nextHop is the member an envelope for dest is handed to: its relay, or
// dest itself (directly, or queued here for dest to pull).
func (n *Node) nextHop(dest string) string {
	if r, err := n.route(dest); err == nil && r.Via != "" {
		return r.Via
	}
	return dest
}

// prepareAttempt runs before each delivery attempt of an outbox row: it
// renews an expiring envelope of this member and routes it (a fresh
// relay.forward when the route goes through a relay). A chain this member
// forwards as a relay goes as queued.
func (n *Node) prepareAttempt(ctx context.Context, it store.OutboxItem) (store.OutboxItem, error) {
	if it.Envelope == nil {
		return it, nil // erased: the attempt refuses it
	}
	if !it.OwnExpiresAt.IsZero() {
		// The row says its envelope is ours as signed (not relayed, not a
		// receipt) and when it expires: sent direct, the common case, it
		// is not parsed unless it is about to expire (renewExpiring).
		if route, err := n.route(it.Destination); err == nil && !route.Pull && route.Via == "" {
			return n.renewExpiring(ctx, it)
		}
	}
	inner, err := federation.RelayInner(it.Envelope)
	if err != nil {
		return it, fmt.Errorf("node: outbox row %d: stored envelope unreadable: %w", it.ID, err)
	}
	relayed := len(inner) != len(it.Envelope)
	tok, err := federation.PeekToken(inner)
	if err != nil {
		return it, fmt.Errorf("node: outbox row %d: stored inner token unreadable: %w", it.ID, err)
	}
	if tok.Issuer != n.o.Self {
		return it, nil // another member's chain, forwarded as received
	}
	route, err := n.route(it.Destination)
	switch {
	case err != nil:
		return it, fmt.Errorf("node: no route to %s: %w", it.Destination, err)
	case route.Pull:
		// The destination pulls its envelopes from here: not ours to send.
		return it, fmt.Errorf("node: %s pulls its envelopes: %w", it.Destination, store.ErrConflict)
	case !relayed && !tok.Receipt && route.Via == "":
		return n.renewExpiring(ctx, it) // the direct case, as always
	case route.Via != "" && !tok.Receipt:
		if err := n.relayMayCarry(ctx, inner, it.CaseID, route.Via); err != nil {
			return it, err
		}
	}
	jti := it.JTI
	if !tok.Receipt && !tok.ExpiresAt.After(n.o.Now().Add(n.o.Skew)) {
		raw, renewed, err := federation.Renew(inner, n.o.Now(), n.o.EnvelopeTTL, n.signer())
		if err != nil {
			return it, fmt.Errorf("node: re-sign %s envelope: %w", tok.Kind, err)
		}
		n.log.Info("re-signed an expiring envelope", "outbox_id", it.ID, "to", it.Destination, "old_jti", it.JTI, "jti", renewed.JTI)
		inner, jti = raw, renewed.JTI
	}
	out := inner
	if route.Via != "" || tok.Receipt {
		next := route.Via
		if next == "" {
			next = it.Destination
		}
		var c federation.Claims
		out, c, err = federation.Originate(inner, federation.Wrap{Self: n.o.Self, To: next, Signer: n.signer(), Now: n.o.Now(), CaseID: it.CaseID})
		if err != nil {
			return it, fmt.Errorf("node: relay: %w", err)
		}
		if tok.Receipt {
			// The row is named by the jti its next hop receipts: an
			// envelope of this member by its inner jti (the final
			// recipient receipts it), an end-to-end receipt by its outer.
			jti = c.JTI
		}
	}
	if jti == it.JTI && bytes.Equal(out, it.Envelope) {
		return it, nil
	}
	if err := n.o.Store.ReplaceEnvelope(ctx, it.ID, it.Attempts, jti, out); err != nil {
		return it, fmt.Errorf("node: route outbox row %d: %w", it.ID, err)
	}
	it.JTI, it.Envelope, it.OwnExpiresAt = jti, out, time.Time{}
	return it, nil
}

// awaitsEndToEnd reports whether envelope, as sent, is a relay.forward
// carrying an envelope of this member: the relay's receipt does not
// deliver it.
func (n *Node) awaitsEndToEnd(envelope []byte) bool {
	inner, err := federation.RelayInner(envelope)
	if err != nil || len(inner) == len(envelope) {
		return false
	}
	tok, err := federation.PeekToken(inner)
	return err == nil && !tok.Receipt && tok.Issuer == n.o.Self
}

// routedSender sends each envelope to the member it is addressed to (the
// relay, for a relay.forward), and remembers which relay receipts do not
// deliver their row.
type routedSender struct {
	n        *Node
	awaiting sync.Map // outer jti -> final recipient
}

func (s *routedSender) Send(ctx context.Context, to string, envelope []byte) federation.Result {
	c, err := federation.ClaimsOf(envelope)
	if err != nil || c.Kind != federation.KindRelayForward {
		return s.n.client.Send(ctx, to, envelope)
	}
	res := s.n.client.Send(ctx, c.Audience, envelope)
	if res.Outcome == federation.Delivered && s.n.awaitsEndToEnd(envelope) {
		s.awaiting.Store(c.JTI, to)
	}
	s.n.releaseRelayedMedia(ctx, envelope, res)
	return res
}

// SendBatch sends envelopes for to in one request (federation.Client's
// SendBatch), so that delivery.batch_size reaches the wire; a batch that
// holds a relay.forward goes envelope by envelope (Send), to the relay.
func (s *routedSender) SendBatch(ctx context.Context, to string, envelopes [][]byte) []federation.Result {
	for _, e := range envelopes {
		if c, err := federation.ClaimsOf(e); err != nil || c.Kind == federation.KindRelayForward {
			out := make([]federation.Result, len(envelopes))
			for i, e := range envelopes {
				out[i] = s.Send(ctx, to, e)
			}
			return out
		}
	}
	return s.n.client.SendBatch(ctx, to, envelopes)
}

// SendBatchOf is SendBatch with the claims of the envelopes already read
// (claims[i] is federation.ClaimsOf of envelopes[i], read without error).
func (s *routedSender) SendBatchOf(ctx context.Context, to string, envelopes [][]byte, claims []federation.Claims) []federation.Result {
	for _, c := range claims {
		if c.Kind == federation.KindRelayForward {
			out := make([]federation.Result, len(envelopes))
			for i, e := range envelopes {
				out[i] = s.Send(ctx, to, e)
			}
			return out
		}
	}
	return s.n.client.SendBatchOf(ctx, to, envelopes, claims)
}

// routedOutbox is the store's outbox as delivery sees it: destinations that
// pull from this member are not dialled (FLX-PUL-001), and a relay's
// receipt for an envelope of this member puts its row back to wait for the
// end-to-end receipt (FLX-RLY-009).
type routedOutbox struct {
	store.Store
	n      *Node
	sender *routedSender
}

func (o routedOutbox) DueDestinations(ctx context.Context, now time.Time) ([]string, error) {
	names, err := o.Store.DueDestinations(ctx, now)
	if err != nil {
		return nil, err
	}
	out := names[:0]
	for _, d := range names {
		if r, err := o.n.route(d); err == nil && r.Pull {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// Sends reports whether rows to d are sent from here (delivery.Sends): not
// to a member that pulls them, which DueDestinations leaves out too.
func (o routedOutbox) Sends(d string) bool {
	r, err := o.n.route(d)
	return err != nil || !r.Pull
}

func (o routedOutbox) MarkDelivered(ctx context.Context, id int64, receipt []byte) error {
	_, outerJTI, err := federation.PeekReceipt(receipt)
	if err == nil {
		if to, ok := o.sender.awaiting.LoadAndDelete(outerJTI); ok {
			reason := fmt.Sprintf("relayed: awaiting the end-to-end receipt of %s", to)
			err := o.Store.MarkFailed(ctx, id, 0, reason, o.n.o.Now().Add(o.n.o.RelayWait))
			if errors.Is(err, store.ErrConflict) {
				return nil // the end-to-end receipt came first: delivered
			}
			return err
		}
	}
	return o.Store.MarkDelivered(ctx, id, receipt)
}

// MarkDeliveredAll records the deliveries of a batch in one transaction,
// except the relay receipts that wait for an end-to-end receipt: those go
// through MarkDelivered (FLX-RLY-009), which the embedded store's
// MarkDeliveredAll would skip.
func (o routedOutbox) MarkDeliveredAll(ctx context.Context, ds []store.DeliveredRow) error {
	plain := make([]store.DeliveredRow, 0, len(ds))
	for _, d := range ds {
		if _, outerJTI, err := federation.PeekReceipt(d.Receipt); err == nil {
			if _, ok := o.sender.awaiting.Load(outerJTI); ok {
				if err := o.MarkDelivered(ctx, d.ID, d.Receipt); err != nil {
					return err
				}
				continue
			}
		}
		plain = append(plain, d)
	}
	if len(plain) == 0 {
		return nil
	}
	return o.Store.MarkDeliveredAll(ctx, plain)
}

// relayIn is a relay.forward checked and decided (prepareRelay), whose
// writes wait for the transaction that stores its batch (storeAdmitted):
// a batch that cannot be stored keeps none of them (FLX-BAT-004).
type relayIn struct {
	r *federation.Relayed
	// inner: its inner envelope is for this member, checked as its
	// origin's; it is stored as the origin's and answered end to end
	// (writeRelay). Otherwise the relay.forward itself is stored: an
	// end-to-end receipt for one of ours (r.Final), or a chain carried on.
	inner bool
	d     *policy.Decision // a chain carried on: the relay policy's decision
}

// prepareRelay checks a relay.forward that Verify accepted from its
// sender, the last hop (FLX-RLY-004 to 007), and decides what receiving it
// writes; nothing is written here.
func (n *Node) prepareRelay(ctx context.Context, outer *federation.Envelope) (*relayIn, error) {
	m := n.o.Trust.Current()
	if self, ok := m.Member(n.o.Self); !ok || !self.AcceptsKind(federation.KindRelayForward) {
		return nil, errf(federation.CodeUnsupportedKind, "this member does not accept %s", federation.KindRelayForward)
	}
	r, err := federation.OpenRelay(ctx, n.verifier, outer)
	if err != nil {
		return nil, problem.As(err)
	}
	switch {
	case r.Final && r.Envelope != nil:
		// Its media, if any, came from the sender of the last hop (FLX-MED-016).
		if err := n.relayMediaReady(ctx, r); err != nil {
			return nil, err
		}
		if err := n.checkEnvelope(withRelayedMediaChecked(ctx), r.Envelope); err != nil {
			return nil, err
		}
		return &relayIn{r: r, inner: true}, nil
	case r.Final:
		// An end-to-end receipt for one of ours: stored, then matched with
		// its outbox row by the inbox processor.
		return &relayIn{r: r}, nil
	}
	d, err := n.relayPolicy(ctx, m, r)
	if err != nil {
		return nil, err
	}
	if err = n.relayMediaReady(ctx, r); err != nil {
		return nil, err
	}
	return &relayIn{r: r, d: d}, nil
}

// receiveRelay receives a lone relay.forward (Receive, a bundle's): checked
// by prepareRelay, stored as a batch of one.
func (n *Node) receiveRelay(ctx context.Context, raw []byte, outer *federation.Envelope) (Received, error) {
	in, err := n.prepareRelay(ctx, outer)
	if err != nil {
		return Received{}, err
	}
	out := make([]BatchItem, 1)
	if _, err := n.storeAdmitted(ctx, [][]byte{raw}, []*federation.Envelope{outer}, []*relayIn{in}, out); err != nil {
		return Received{}, internal("receive", err)
	}
	if out[0].Err != nil {
		return Received{}, out[0].Err
	}
	return out[0].Received, nil
}

// writeRelay writes in tx what receiving in adds to its inbox row (got,
// written in tx with e2e, the row's receipt): for an inner envelope of
// this member, the end-to-end receipt queued back to its origin (a
// duplicate one for a copy) and the audit entry (FLX-RLY-005,
// FLX-RLY-008); for a chain carried on and new here, the relay's records
// (recordRelay).
func (n *Node) writeRelay(ctx context.Context, tx store.Tx, in *relayIn, e2e []byte, got store.ReceiveResult) error {
	r := in.r
	switch {
	case in.inner:
		env := r.Envelope
		status, back := federation.ReceiptAccepted, e2e
		if got.Duplicate {
			status = federation.ReceiptDuplicate
			var err error
			if back, err = federation.SignReceipt(federation.ReceiptFor(env, status, n.o.Now()), n.signer()); err != nil {
				return err
			}
		}
		if err := n.enqueueReceipt(ctx, tx, env.Issuer, env.CaseID, back); err != nil {
			return err
		}
		return n.audit(ctx, tx, env.Issuer, "relay.receive", env.CaseID, map[string]any{
			"kind": env.Kind, "jti": env.JTI, "via": r.Outer.Issuer, "hops": len(r.Hops), "status": status,
		})
	case r.Final || got.Duplicate:
		return nil
	}
	return n.recordRelay(ctx, tx, r, in.d)
}

// enqueueReceipt queues an end-to-end receipt for origin, as the inner
// token of a relay.forward that prepareAttempt routes at each attempt.
func (n *Node) enqueueReceipt(ctx context.Context, tx store.Tx, origin, caseID string, receipt []byte) error {
	out, c, err := federation.Originate(receipt, federation.Wrap{Self: n.o.Self, To: n.nextHop(origin), Signer: n.signer(), Now: n.o.Now(), CaseID: caseID})
	if err != nil {
		return fmt.Errorf("node: end-to-end receipt: %w", err)
	}
	_, err = tx.Enqueue(ctx, store.NewOutboxItem{
		Destination: origin, CaseID: caseID, Kind: string(federation.KindRelayForward), JTI: c.JTI, Envelope: out,
	})
	return err
}

// relayPolicy is what this member, as a relay, requires before it carries
// another member's envelope (FLX-RLY-007): the final recipient accepts its
// kind; the body is valid and sent by the member the case allows; this
// member has a route to the recipient (one it can push a recording to, for
// a message with attached media); for a statistics report, what a
// coordinator would require of it (relayStatsPolicy); and, for a case
// document, its own data-protection rules do not deny it. A relay cannot
// redact (the origin's signature covers the body), so only a deny refuses;
// redactions the rules would make are recorded with the decision. Receipts, withdrawals and
// confirmations are never refused by the rules (FLX-RLY-010).
func (n *Node) relayPolicy(ctx context.Context, m *federation.Manifest, r *federation.Relayed) (*policy.Decision, error) {
	dest := r.Recipient()
	route, err := m.RouteFor(n.o.Self, dest, n.o.Routes)
	if err != nil {
		return nil, errf(federation.CodeRelayRefused, "no route to %s", dest)
	}
	if route.Pull && relayedMedia(r) {
		// A pull-only member cannot be pushed to, and this node serves no
		// media for pull yet (SPEC.md §18.10).
		return nil, errf(federation.CodeRelayRefused, "%s pulls its envelopes: recordings are not relayed to it", dest)
	}
	if r.Receipt != nil {
		return nil, nil
	}
	env := r.Envelope
	d, _ := m.Member(dest)
	if !d.AcceptsKind(env.Kind) {
		return nil, errf(federation.CodeRelayRefused, "%s does not accept %s", dest, env.Kind)
	}
	docKind, ok := schema.KindForEnvelope(string(env.Kind))
	if !ok {
		return nil, errf(federation.CodeRelayRefused, "%s is not relayed", env.Kind)
	}
	// Through the policy engine's memo: the evaluation below does not
	// validate the same body again.
	if err := n.o.Policy.Validate(string(docKind), env.Body); err != nil {
		return nil, errf(federation.CodeRelayRefused, "the inner body does not conform to schema v1 %s", docKind)
	}
	if env.Kind == federation.KindStatsReport {
		return nil, n.relayStatsPolicy(env, d)
	}
	if err := checkRoles(env); err != nil {
		return nil, err
	}
	if env.Kind != federation.KindCaseCreate && env.Kind != federation.KindCaseUpdate {
		return nil, nil
	}
	dst := policy.Destination{Member: d.ID, Country: d.Country, Role: string(d.Role), Active: d.Status == federation.StatusActive}
	for _, k := range d.Accepts {
		dst.Accepts = append(dst.Accepts, string(k))
	}
	// The relay holds no version of the case: the document's own is the
	// current one as far as it can know.
	var v struct {
		Version int64 `json:"version"`
	}
	_ = json.Unmarshal(env.Body, &v)
	dec := n.o.Policy.Evaluate(ctx, env.Body, string(env.Kind), dst, n.o.Now(), policy.CurrentVersion(v.Version))
	if dec.Effect == policy.Deny {
		var rules []string
		for _, f := range dec.Fired {
			if f.Effect == policy.RuleDeny {
				rules = append(rules, f.RuleID)
			}
		}
		n.log.Warn("relay refused by policy", "origin", env.Issuer, "to", dest, "jti", env.JTI, "kind", env.Kind, "rules", rules)
		return &dec, errf(federation.CodeRelayRefused, "this relay's data-protection rules refuse it")
	}
	return &dec, nil
}

// recordRelay records, before the 202, what a relay carries: the
// disclosure (ids and digests, never the body) in the audit log, and the
// policy decision.
func (n *Node) recordRelay(ctx context.Context, tx store.Tx, r *federation.Relayed, d *policy.Decision) error {
	details := map[string]any{
		"origin": r.Origin(), "to": r.Recipient(), "from": r.Outer.Issuer, "inner_sha256": r.InnerSHA256, "hops": len(r.Hops),
	}
	caseID := r.Outer.CaseID
	if r.Envelope != nil {
		details["jti"], details["kind"] = r.Envelope.JTI, r.Envelope.Kind
		if ref, ok := media.AttachedRef(r.Envelope); ok {
			details["media_sha256"], details["media_size_bytes"] = ref.SHA256.String(), ref.Size
		}
	} else {
		details["kind"] = "receipt"
	}
	if d != nil {
		details["effect"] = d.Effect
		dj, err := json.Marshal(d)
		if err != nil {
			return err
		}
		if _, err := tx.RecordDecision(ctx, store.Decision{CaseID: caseID, Destination: r.Recipient(), Effect: string(d.Effect), Decision: dj}); err != nil {
			return err
		}
	}
	return n.audit(ctx, tx, r.Outer.Issuer, "relay.accept", caseID, details)
}

// applyRelay processes a stored relay.forward: forwards a chain for another
// member, or matches an end-to-end receipt with this member's outbox row.
// perr is a permanent problem kept on the inbox row.
func (n *Node) applyRelay(ctx context.Context, tx store.Tx, it store.InboxItem) (perr error, kick bool, err error) {
	outer, err := n.verifier.Verify(ctx, it.Envelope, it.Iss)
	if err != nil {
		return fmt.Errorf("relay.forward no longer verifies: %w", err), false, nil
	}
	r, err := federation.OpenRelay(ctx, n.verifier, outer)
	if err != nil {
		return fmt.Errorf("relay chain no longer holds: %w", err), false, nil
	}
	if r.Final {
		if r.Receipt == nil {
			return errors.New("relayed envelope stored as a chain"), false, nil
		}
		perr, err := n.applyE2EReceipt(ctx, tx, r)
		return perr, false, err
	}
	dest := r.Recipient()
	out, c, err := r.Forward(federation.Wrap{Self: n.o.Self, To: n.nextHop(dest), Signer: n.signer(), Now: n.o.Now()})
	if err != nil {
		return fmt.Errorf("forward the chain: %w", err), false, nil
	}
	if _, err := tx.Enqueue(ctx, store.NewOutboxItem{
		Destination: dest, CaseID: c.CaseID, Kind: string(federation.KindRelayForward), JTI: c.JTI, Envelope: out,
	}); err != nil {
		return nil, false, err
	}
	// A withdrawal on its way takes with it the recordings of the case
	// this relay still carries (FLX-MED-019) and the origin's chains of the
	// case it can no longer forward (eraseCarried).
	if r.Envelope != nil && r.Envelope.Kind == federation.KindCaseWithdraw {
		if w, err := schema.ParseWithdrawal(r.Envelope.Body); err == nil && w.ShouldErase() && !w.IsConfirmation() {
			if err := n.eraseCarried(ctx, tx, r.Envelope.CaseID, r.Origin(), w.WholeCase()); err != nil {
				return nil, false, err
			}
		}
	}
	// A relay holds what it carries only while it carries it: the outbox
	// row now does, so the inbox copy goes, and so do the copies of this
	// case it has finished carrying (a withdrawal it carries leaves none).
	if err := tx.DropInboxEnvelope(ctx, it.ID); err != nil {
		return nil, false, err
	}
	if _, err := tx.DropCarried(ctx, c.CaseID); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

// applyE2EReceipt marks delivered the outbox row an end-to-end receipt is
// for, once it verifies against the inner bytes this member sent
// (FLX-RLY-009); MarkDelivered records the disclosure to the final
// recipient.
func (n *Node) applyE2EReceipt(ctx context.Context, tx store.Tx, r *federation.Relayed) (perr, err error) {
	rc := r.Receipt
	row, err := tx.GetOutboxByJTI(ctx, rc.ReceiptFor)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("end-to-end receipt from %s for an envelope this member did not queue", rc.Issuer), nil
	case err != nil:
		return nil, err
	case row.Destination != rc.Issuer:
		return fmt.Errorf("end-to-end receipt from %s for an envelope queued for %s", rc.Issuer, row.Destination), nil
	case row.State == store.Delivered:
		return nil, nil // a second receipt (for a copy): nothing more to record
	case row.Envelope == nil:
		return errors.New("end-to-end receipt for an erased envelope"), nil
	}
	inner, err := federation.RelayInner(row.Envelope)
	if err != nil {
		return fmt.Errorf("stored envelope unreadable: %w", err), nil
	}
	sum := sha256.Sum256(inner)
	if _, err := federation.VerifyReceipt(r.Inner, n.o.Trust.Current(), federation.ExpectedReceipt{
		Issuer: row.Destination, Audience: n.o.Self, ReceiptFor: row.JTI, SHA256: hex.EncodeToString(sum[:]), Skew: n.o.Skew,
	}, n.o.Now()); err != nil {
		return fmt.Errorf("end-to-end receipt does not match what was sent: %w", err), nil
	}
	if err := tx.MarkDelivered(ctx, row.ID, r.Inner); err != nil {
		return nil, err
	}
	return nil, n.audit(ctx, tx, "system", "outbox.end_to_end_receipt", strconv.FormatInt(row.ID, 10), map[string]any{
		"destination": row.Destination, "case_id": row.CaseID, "kind": row.Kind, "jti": row.JTI, "via": r.Outer.Issuer, "status": rc.Status,
	})
}

// keepOnErasure are the kinds of outbox rows an erasure of a case leaves
// to deliver: the withdrawal (or confirmation) itself, and relay envelopes,
// which carry another member's envelope (a relay's copy is not the case it
// holds) or an end-to-end receipt (the origin waits for it to count a
// withdrawal as delivered).
var keepOnErasure = []string{string(federation.KindCaseWithdraw), string(federation.KindRelayForward)}

// flushRelays forwards, in tx, the relay envelopes about caseID that this
// node stored but has not processed yet, before an erasure of its own copy
// of the case drops the inbox envelopes: a relay's erasure must not swallow
// what it carries for others (the origin's withdrawal to another member,
// above all).
func (n *Node) flushRelays(ctx context.Context, tx store.Tx, caseID string) error {
	rows, err := tx.ListInbox(ctx, store.InboxFilter{CaseID: caseID, Kind: string(federation.KindRelayForward), State: "unprocessed", Limit: 1000})
	if err != nil {
		return err
	}
	for _, r := range rows {
		it, err := tx.GetInbox(ctx, r.ID)
		if err != nil {
			return err
		}
		if it.Envelope == nil {
			continue
		}
		perr, _, err := n.applyRelay(ctx, tx, it)
		if err != nil {
			return err
		}
		msg := ""
		if perr != nil {
			msg = perr.Error()
		}
		if err := tx.MarkProcessed(ctx, it.ID, msg); err != nil {
			return err
		}
		if err := n.audit(ctx, tx, it.Iss, "inbox.process", it.CaseID, map[string]any{"kind": it.Kind, "inbox_id": it.ID, "before": "erasure"}); err != nil {
			return err
		}
	}
	return nil
}

// relayStatsPolicy is what a relay requires of a statistics report it
// carries (FLX-STA-006): it goes to a coordinator, and it passes the checks
// the coordinator will apply (FLX-STA-004: the report is its origin's own,
// under <member>:stats-<period>, and publishes only what its stated
// protection publishes). A report is no case document: the data-protection
// rules have nothing to say of it, and the checks are what keeps personal
// data out. A report that fails them is refused here rather than carried
// to be refused at the end.
func (n *Node) relayStatsPolicy(env *federation.Envelope, dest *federation.Member) error {
	if dest.Role != federation.RoleCoordinator {
		return errf(federation.CodeRelayRefused, "%s is no coordinator: statistics reports go to coordinators only", dest.ID)
	}
	if err := n.checkStatsReport(env); err != nil {
		return errf(federation.CodeRelayRefused, "the statistics report would be refused by %s (%s)", dest.ID, problem.CodeOf(err))
	}
	return nil
}
