package node

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/store"
)

// Media through relays (conformance/SPEC.md §18.10, FLX-MED-015 to 018): a
// message.deliver with attached media that travels through a relay takes
// its recording hop by hop. The sender of each hop (the origin, then each
// relay) offers the media to the next member with the relay.forward it is
// about to POST as the offer's envelope, and uploads it chunk by chunk; the
// receiving member checks the offer as the relay.forward itself (the chain,
// its relay policy or, as final recipient, the inner envelope as its
// origin's), and every chunk against the origin's signed hash list. The
// relay.forward is accepted only once the media is complete from the hop's
// sender, so the final recipient's end-to-end receipt means the recording
// arrived whole. A relay erases the recording as soon as the next hop has
// receipted the chain or refused it for good.

// relayedMediaKey marks the context of a relayed inner envelope's checks
// once its media was found complete in the upload of the relay that sent
// the last hop (prepareRelay): the envelope's own check (mediaReady) would
// look in the origin's.
type relayedMediaKey struct{}

func withRelayedMediaChecked(ctx context.Context) context.Context {
	return context.WithValue(ctx, relayedMediaKey{}, true)
}

func relayedMediaChecked(ctx context.Context) bool {
	v, _ := ctx.Value(relayedMediaKey{}).(bool)
	return v
}

// verifyRelayOffer verifies a media offer whose envelope is a relay.forward
// (the outer envelope env, verified as sent by the peer): the chain holds
// and, as final recipient, the inner envelope passes what the envelope
// endpoint requires of it (with the origin as its sender); as relay, this
// member's relay policy allows it (FLX-MED-015).
func (n *Node) verifyRelayOffer(ctx context.Context, env *federation.Envelope) (*federation.Envelope, error) {
	m := n.o.Trust.Current()
	if self, ok := m.Member(n.o.Self); !ok || !self.AcceptsKind(federation.KindRelayForward) {
		return nil, errf(federation.CodeUnsupportedKind, "this member does not accept %s", federation.KindRelayForward)
	}
	r, err := federation.OpenRelay(ctx, n.verifier, env)
	if err != nil {
		return nil, problem.As(err)
	}
	if r.Envelope == nil {
		return nil, errf(media.CodeBadUpload, "a receipt carries no media")
	}
	if r.Final {
		if err := n.checkOffered(r.Envelope); err != nil {
			return nil, err
		}
		return env, nil
	}
	if _, err := n.relayPolicy(ctx, m, r); err != nil {
		return nil, err
	}
	return env, nil
}

// relayedMedia reports whether a chain carries a message with attached
// media.
func relayedMedia(r *federation.Relayed) bool {
	if r.Envelope == nil {
		return false
	}
	_, ok := media.AttachedRef(r.Envelope)
	return ok
}

// relayMediaReady is FLX-MED-010 applied to a relay.forward (FLX-MED-016):
// a chain carrying attached media is taken only once the media is here,
// complete and verified, from the sender of its last hop.
func (n *Node) relayMediaReady(ctx context.Context, r *federation.Relayed) error {
	if !relayedMedia(r) {
		return nil
	}
	// An inner envelope for this member is stored as its origin's; a chain
	// carried on, as the relay.forward.
	stored := r.Outer
	if r.Final {
		stored = r.Envelope
	}
	return n.unlessReceived(ctx, n.mediaReadyFrom(ctx, r.Envelope, r.Outer.Issuer), stored)
}

// pushRelayMedia uploads the attached media of the message a relay.forward
// carries to the chain's next hop (its aud), as the origin (from its
// attached recording) or as a relay (from the blob the previous hop sent
// it, whose chunk hashes it computes again).
func (n *Node) pushRelayMedia(ctx context.Context, envelope []byte, c federation.Claims) error {
	inner, err := federation.RelayInner(envelope)
	if err != nil {
		return nil // the attempt reports it
	}
	ic, err := federation.ClaimsOf(inner)
	if err != nil || ic.Kind != federation.KindMessageDeliver {
		return nil
	}
	ref, ok := media.AttachedRef(&federation.Envelope{Claims: ic})
	if !ok {
		return nil
	}
	if n.media.o.Store == nil {
		return errf(CodeUnavailable, "this node has no media store")
	}
	jti := c.JTI // a relay's row is named by its outer jti, an origin's by the inner (prepareAttempt)
	var hashes media.HashList
	if ic.Issuer == n.o.Self {
		jti = ic.JTI
		if hashes, err = n.attachedHashes(ctx, ic.CaseID, ref); err != nil {
			return err
		}
	}
	b, err := n.openSent(ctx, ref)
	if err != nil {
		return err
	}
	defer b.Close()
	if hashes == nil {
		got, hs, err := media.Describe(io.NewSectionReader(b, 0, b.Size()), ref.ChunkBytes)
		if err != nil {
			return err
		}
		if got != ref {
			return errf(problem.MediaMismatch, "the media held for this chain does not match the signed reference")
		}
		hashes = hs
	}
	if err := n.uploadMedia(ctx, c.Audience, jti, envelope, ref, hashes, b); err != nil {
		return err
	}
	if ic.Issuer != n.o.Self {
		// A withdrawal that passed meanwhile cancelled the chain
		// (FLX-MED-019): the push may have outlived it, the chain goes no
		// further.
		err := n.o.Store.ExtendLease(ctx, jti, n.o.Instance, n.o.Now().Add(n.o.Delivery.Lease))
		if errors.Is(err, store.ErrConflict) {
			return errf(CodeErased, "the chain was cancelled by a withdrawal while its media was sent")
		}
	}
	return nil
}

// attachedHashes returns the chunk hashes of a recording attached to caseID
// here, checked against the signed reference.
func (n *Node) attachedHashes(ctx context.Context, caseID string, ref media.Ref) (media.HashList, error) {
	m, err := n.o.Store.GetCaseMedia(ctx, caseID, ref.SHA256.String(), store.MediaAttached)
	if err != nil {
		// Erased since the message was queued, or never attached here.
		return nil, errf(CodeErased, "the media of this message is no longer here")
	}
	hashes := make(media.HashList, len(m.ChunkHashes)/len(media.Digest{}))
	for i := range hashes {
		copy(hashes[i][:], m.ChunkHashes[i*len(media.Digest{}):])
	}
	if m.ChunkBytes != ref.ChunkBytes || hashes.Root() != ref.ChunksRoot {
		return nil, errf(problem.MediaMismatch, "the attached media does not match the signed reference")
	}
	return hashes, nil
}

// releaseRelayedMedia erases, once the next hop has receipted a chain this
// relay carried for others or refused it for good, the recording it held
// for that chain, unless a message this node keeps still names it
// (FLX-MED-018): a relay holds a recording only while it carries it.
func (n *Node) releaseRelayedMedia(ctx context.Context, envelope []byte, res federation.Result) {
	if res.Outcome != federation.Delivered && res.Outcome != federation.Permanent {
		return
	}
	st := n.media.o.Store
	c, err := federation.ClaimsOf(envelope)
	if st == nil || err != nil || c.Kind != federation.KindRelayForward {
		return
	}
	inner, err := federation.RelayInner(envelope)
	if err != nil {
		return
	}
	ic, err := federation.ClaimsOf(inner)
	if err != nil || ic.Issuer == n.o.Self {
		return
	}
	ref, ok := media.AttachedRef(&federation.Envelope{Claims: ic})
	if !ok {
		return
	}
	ctx = context.WithoutCancel(ctx)
	if inUse, err := n.o.Store.MediaInUse(ctx, ref.SHA256.String()); err != nil || inUse {
		return
	}
	if n.carriesMedia(ctx, c.CaseID, c.JTI, ref.SHA256) {
		return // another chain of the case still to forward carries it
	}
	if err := media.Erase(ctx, st, ref.SHA256); err != nil {
		n.log.Error("relayed media not erased (the media sweep will)", "sha256", ref.SHA256.String(), "err", err)
		return
	}
	n.log.Info("relayed media erased", "case_id", c.CaseID, "sha256", ref.SHA256.String(), "to", c.Audience, "outcome", res.Outcome)
	_ = n.o.Store.Tx(ctx, func(tx store.Tx) error {
		return n.audit(ctx, tx, "system", "relay.media_erase", c.CaseID, map[string]any{
			"sha256": ref.SHA256.String(), "size_bytes": ref.Size, "to": c.Audience, "jti": ic.JTI,
		})
	})
}

// carriesMedia reports whether an outbox row of caseID other than the one
// named jti, still to be delivered, carries a chain whose message attaches
// the media sum (the same recording to another member through this relay).
// When it cannot tell, it says yes: the media sweep erases what is left.
func (n *Node) carriesMedia(ctx context.Context, caseID, jti string, sum media.Digest) bool {
	f := store.OutboxFilter{CaseID: caseID, Pending: true, IncludeEnvelope: true, Limit: 1000}
	for {
		rows, err := n.o.Store.ListOutbox(ctx, f)
		if err != nil {
			return true
		}
		for _, r := range rows {
			if r.JTI == jti || r.Kind != string(federation.KindRelayForward) || r.Envelope == nil {
				continue
			}
			inner, err := federation.RelayInner(r.Envelope)
			if err != nil {
				continue
			}
			ic, err := federation.ClaimsOf(inner)
			if err != nil {
				continue
			}
			if ref, ok := media.AttachedRef(&federation.Envelope{Claims: ic}); ok && ref.SHA256 == sum {
				return true
			}
		}
		if len(rows) < f.Limit {
			return false
		}
		f.AfterID = rows[len(rows)-1].ID
	}
}

// eraseCarried is FLX-MED-019 and its counterpart for case data: when a
// withdrawal of caseID by its origin passes through this relay or reaches
// it, the relay erases every recording of the case it still carries for
// others, in tx, before the withdrawal goes on. The chains of the case
// still to forward (queued, in flight or dead-lettered) whose message
// attaches a recording are cancelled, their bytes dropped: they would bring
// the recording to a member after the withdrawal asked it to erase the
// case. When the withdrawal is of the whole case (whole), so are the
// origin's other chains of the case that carry its data (a create, an
// update, a message) and that this relay can no longer carry: dead-lettered,
// or for a final recipient it has no route to now (suspended, gone). The
// origin cancelled its own copies (FLX-WDR-007) and sends none again, and
// no withdrawal can follow them there, so their bytes would stay at the
// relay for good. A chain it can still carry goes on, the withdrawal after
// it (FLX-RLY-007, FLX-RLY-010: the final recipient erases), and its bytes
// go once it is delivered (DropCarried). Chains of other members (a
// response on its way to the origin) and withdrawals, confirmations and
// end-to-end receipts go on. Each recording that no
// message kept here still names is erased, and audited as
// relay.media_erase with the reason; the cancelled data chains are audited
// as relay.cancel. A chain in flight keeps its lease, as an erasure leaves
// it (store.EraseCase).
// canCarry reports whether this relay can still deliver its outbox row r:
// not dead-lettered, and a route to its destination (pull included).
func (n *Node) canCarry(r store.OutboxItem) bool {
	if r.State == store.Dead {
		return false
	}
	_, err := n.route(r.Destination)
	return err == nil
}

func (n *Node) eraseCarried(ctx context.Context, tx store.Tx, caseID, by string, whole bool) error {
	type carried struct {
		ref media.Ref
		to  []string
	}
	held := map[media.Digest]*carried{}
	var order []media.Digest
	var ids, dataIDs []int64
	var dataTo []string
	f := store.OutboxFilter{CaseID: caseID, IncludeEnvelope: true, Limit: 1000}
	for {
		rows, err := tx.ListOutbox(ctx, f)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.Kind != string(federation.KindRelayForward) || r.Envelope == nil ||
				(r.State != store.Queued && r.State != store.InFlight && r.State != store.Dead) {
				continue
			}
			inner, err := federation.RelayInner(r.Envelope)
			if err != nil {
				continue
			}
			tok, err := federation.PeekToken(inner)
			if err != nil || tok.Receipt || tok.Issuer == n.o.Self {
				continue
			}
			ic, err := federation.ClaimsOf(inner)
			if err != nil {
				continue
			}
			ref, ok := media.AttachedRef(&federation.Envelope{Claims: ic})
			if !ok || ic.Kind != federation.KindMessageDeliver {
				if whole && ic.Issuer == by && ic.CaseID == caseID && ic.Kind != federation.KindCaseWithdraw && !n.canCarry(r) {
					dataIDs = append(dataIDs, r.ID)
					dataTo = append(dataTo, r.Destination)
				}
				continue
			}
			ids = append(ids, r.ID)
			if held[ref.SHA256] == nil {
				held[ref.SHA256] = &carried{ref: ref}
				order = append(order, ref.SHA256)
			}
			held[ref.SHA256].to = append(held[ref.SHA256].to, r.Destination)
		}
		if len(rows) < f.Limit {
			break
		}
		f.AfterID = rows[len(rows)-1].ID
	}
	if len(dataIDs) > 0 {
		cancelled, err := tx.CancelCarried(ctx, dataIDs, "cancelled: case withdrawn by its origin")
		if err != nil {
			return err
		}
		n.log.Info("carried chains cancelled on withdrawal", "case_id", caseID, "chains", cancelled)
		if err := n.audit(ctx, tx, "system", "relay.cancel", caseID, map[string]any{
			"reason": "case.withdraw", "withdrawn_by": by, "to": dataTo, "chains_cancelled": cancelled,
		}); err != nil {
			return err
		}
	}
	if len(ids) == 0 {
		return nil
	}
	cancelled, err := tx.CancelCarried(ctx, ids, "cancelled: case withdrawn: the recording it carries was erased")
	if err != nil {
		return err
	}
	st := n.media.o.Store
	for _, sum := range order {
		c := held[sum]
		inUse, err := tx.MediaInUse(ctx, sum.String())
		if err != nil {
			return err
		}
		erased := false
		if !inUse && st != nil {
			if err := media.Erase(ctx, st, sum); err != nil {
				return fmt.Errorf("node: erase the media carried for %s: %w", caseID, err)
			}
			erased = true
		}
		n.log.Info("carried media erased on withdrawal", "case_id", caseID, "sha256", sum.String(), "erased", erased, "chains", len(c.to))
		if err := n.audit(ctx, tx, "system", "relay.media_erase", caseID, map[string]any{
			"sha256": sum.String(), "size_bytes": c.ref.Size, "to": c.to, "reason": "case.withdraw",
			"withdrawn_by": by, "chains_cancelled": cancelled, "erased": erased,
		}); err != nil {
			return err
		}
	}
	return nil
}
