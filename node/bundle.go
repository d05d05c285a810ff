package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/bundle"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/store"
)

// Carried bundles (conformance/SPEC.md §16): where there is no network, the
// envelopes queued for a member are exported to a file signed by this
// member and encrypted to the recipient's key from the manifest's enc_jwks
// (federation/bundle), carried, and imported there with the checks of a
// POST, its duplicate handling and its receipts. Importing writes the
// return bundle at once: the receipts (and refusals) for what it held,
// sealed to the exporter, to be carried back and imported there, where each
// receipt that verifies marks its outbox row delivered (FLX-BDL-006).
//
// Exporting leases the rows it packs for the bundle's lifetime (as a pull
// does), so nothing else sends them meanwhile; a row is done only when its
// receipt comes back. Per-case order holds: a bundle carries, of each case,
// only the oldest envelope not yet receipted, and the next one goes in a
// later bundle, once the receipts are back.

// BundleExport is what ExportBundle made.
type BundleExport struct {
	File      []byte // the bundle file (compact JWE and a newline)
	JTI       string // the bundle id
	Envelopes int
}

// ExportBundle packs the envelopes queued for member to into a bundle file.
// A member without an encryption key in the manifest, or nothing queued,
// is a bad_request / not_found error.
func (n *Node) ExportBundle(ctx context.Context, to string) (BundleExport, error) {
	var out BundleExport
	m := n.o.Trust.Current()
	if m == nil {
		return out, errf(CodeUnavailable, "no federation manifest held")
	}
	if _, ok := m.Member(to); !ok || to == n.o.Self {
		return out, errf(CodeUnknownMember, "%q is not another member of the federation", to)
	}
	// A member without network is one whose rows back off after failed
	// pushes: the bundle carries them now, whenever their next attempt was
	// due (as an operator's retry of that peer would).
	if _, err := n.o.Store.RetryDestination(ctx, to); err != nil {
		return out, internal("bundle export", err)
	}
	now := n.o.Now()
	key, err := m.EncKeyFor(to, now)
	if err != nil {
		return out, errf(CodeBadRequest, "%s publishes no encryption key for bundles", to)
	}
	rows, err := n.o.Store.ClaimDue(ctx, store.ClaimRequest{
		Worker: "bundle/" + to, Now: now, Limit: 1000, Destination: to, Lease: bundle.DefaultTTL,
	})
	if err != nil {
		return out, internal("bundle export", err)
	}
	var c bundle.Contents
	var packed []store.OutboxItem
	// A row released never left in a bundle: it goes back uncounted
	// (Outbox.Unclaim), its attempts what the operator saw before.
	release := func(rs []store.OutboxItem) {
		for _, r := range rs {
			if err := n.o.Store.Unclaim(ctx, r.ID, r.Attempts); err != nil && !errors.Is(err, store.ErrConflict) {
				n.log.Error("bundle export: release a row", "outbox_id", r.ID, "err", err)
			}
		}
	}
	for _, r := range rows {
		r, err := n.renewForBundle(ctx, r)
		if err != nil {
			n.log.Error("bundle export: re-sign an expiring envelope", "outbox_id", r.ID, "err", err)
			release([]store.OutboxItem{r})
			continue
		}
		tok := n.bundleToken(r)
		if tok == nil {
			release([]store.OutboxItem{r})
			continue
		}
		c.Envelopes = append(c.Envelopes, tok)
		packed = append(packed, r)
	}
	if len(packed) == 0 {
		return out, errf(CodeNotFound, "nothing is queued for %s", to)
	}
	jti := federation.NewJTI()
	file, err := bundle.Seal(c, bundle.SealOptions{From: n.o.Self, To: to, Signer: n.signer(), EncryptTo: key, Now: now, JTI: jti})
	if err == nil {
		err = n.audit(ctx, n.o.Store, "system", "bundle.export", to, map[string]any{"jti": jti, "envelopes": len(packed)})
	}
	if err != nil {
		release(packed)
		return out, internal("bundle export", err)
	}
	n.log.Info("bundle exported", "to", to, "jti", jti, "envelopes", len(packed))
	return BundleExport{File: append(file, '\n'), JTI: jti, Envelopes: len(packed)}, nil
}

// bundleToken returns what a bundle carries for an outbox row: a token this
// member signed for the row's destination, named by the row's jti (its own
// envelope, or a relay envelope it addressed to the destination), or nil
// when the row cannot go in a bundle.
func (n *Node) bundleToken(r store.OutboxItem) []byte {
	if r.Envelope == nil {
		return nil
	}
	if c, err := federation.ClaimsOf(r.Envelope); err == nil && c.Issuer == n.o.Self && c.Audience == r.Destination && c.JTI == r.JTI {
		return r.Envelope
	}
	inner, err := federation.RelayInner(r.Envelope)
	if err != nil {
		return nil
	}
	if tok, err := federation.PeekToken(inner); err == nil && !tok.Receipt && tok.Issuer == n.o.Self && tok.Audience == r.Destination && tok.JTI == r.JTI {
		return inner
	}
	return nil
}

// renewForBundle re-signs the token a row would put in a bundle when it
// expires within Skew of now: the importer checks it at the bundle's iat
// (FLX-BDL-004), which is now, and would refuse it as expired. The row
// keeps its seq and takes the renewed envelope and its jti, as a push
// attempt's re-signing does (renewExpiring); a relay envelope around it is
// made again by the next network attempt (prepareAttempt).
func (n *Node) renewForBundle(ctx context.Context, r store.OutboxItem) (store.OutboxItem, error) {
	tok := n.bundleToken(r)
	if tok == nil {
		return r, nil
	}
	c, err := federation.ClaimsOf(tok)
	if err != nil {
		return r, fmt.Errorf("node: outbox row %d: %w", r.ID, err)
	}
	now := n.o.Now()
	if c.ExpiresAt.After(now.Add(n.o.Skew)) {
		return r, nil
	}
	raw, renewed, err := federation.Renew(tok, now, n.o.EnvelopeTTL, n.signer())
	if err != nil {
		return r, fmt.Errorf("node: re-sign %s envelope: %w", c.Kind, err)
	}
	if err := n.o.Store.ReplaceEnvelope(ctx, r.ID, r.Attempts, renewed.JTI, raw); err != nil {
		return r, fmt.Errorf("node: re-sign outbox row %d: %w", r.ID, err)
	}
	n.metrics.resigned.WithLabelValues(r.Destination).Inc()
	n.log.Info("re-signed an expiring envelope for a bundle", "outbox_id", r.ID, "to", r.Destination, "old_jti", r.JTI, "jti", renewed.JTI)
	r.JTI, r.Envelope = renewed.JTI, raw
	return r, nil
}

// BundleImport is what ImportBundle did.
type BundleImport struct {
	From       string // the exporter
	JTI        string
	Stored     int // envelopes stored now
	Duplicates int // envelopes already held (an earlier import, or the network)
	Refused    int // envelopes refused (their refusals go back)
	Receipts   int // receipts for this member's envelopes that marked them delivered
	Unmatched  int // receipts or refusals that matched nothing queued
	// Return is the bundle to carry back to From (receipts and refusals),
	// nil when there is nothing to return or From publishes no key.
	Return []byte
}

// ImportBundle opens a bundle file for this member and processes it as the
// federation API would have (FLX-BDL-003 to 006). A refusal of the whole
// bundle is an *Error with its code (bad_bundle, wrong_audience, ...).
func (n *Node) ImportBundle(ctx context.Context, file []byte) (BundleImport, error) {
	var res BundleImport
	if len(n.o.BundleKeys) == 0 {
		return res, errf(CodeBadRequest, "this node has no bundle encryption key")
	}
	op := &bundle.Opener{Self: n.o.Self, Manifest: n.o.Trust, Keys: n.o.BundleKeys, Skew: n.o.Skew, Now: n.o.Now}
	opened, err := op.Open(ctx, file)
	if err != nil {
		return res, problem.As(err)
	}
	res.From, res.JTI = opened.From, opened.JTI
	if err := n.rememberBundle(ctx, opened); err != nil {
		return res, err
	}
	var back bundle.Contents
	for _, it := range opened.Envelopes {
		var rec Received
		err := it.Err
		if err == nil {
			rec, err = n.storeVerified(ctx, it.Envelope, it.Raw)
		}
		if err != nil {
			code := problem.As(err).Code
			if code == problem.Internal {
				return res, err
			}
			res.Refused++
			if !code.Retryable() {
				if tok, perr := federation.PeekToken(it.Raw); perr == nil && tok.JTI != "" {
					sum := sha256.Sum256(it.Raw)
					back.Refusals = append(back.Refusals, bundle.Refusal{JTI: tok.JTI, SHA256: hex.EncodeToString(sum[:]), Code: code})
				}
			}
			continue
		}
		if rec.Status == federation.ReceiptDuplicate {
			res.Duplicates++
		} else {
			res.Stored++
		}
		back.Receipts = append(back.Receipts, rec.Receipt)
	}
	for _, rc := range opened.Receipts {
		ok, err := n.bundleReceipt(ctx, opened, rc)
		if err != nil {
			return res, internal("bundle import", err)
		}
		if ok {
			res.Receipts++
		} else {
			res.Unmatched++
		}
	}
	for _, rf := range opened.Refusals {
		r, err := n.o.Store.GetOutboxByJTI(ctx, rf.JTI)
		if err != nil || r.Destination != opened.From || r.State == store.Delivered {
			res.Unmatched++
			continue
		}
		tok := n.bundleToken(r)
		sum := sha256.Sum256(tok)
		if tok == nil || hex.EncodeToString(sum[:]) != rf.SHA256 {
			res.Unmatched++
			continue
		}
		if err := n.o.Store.MarkDead(ctx, r.ID, 0, fmt.Sprintf("http_400: %s (refused by %s, bundle %s)", rf.Code, opened.From, opened.JTI)); err != nil && !errors.Is(err, store.ErrConflict) {
			return res, internal("bundle import", err)
		}
	}
	if err := n.audit(ctx, n.o.Store, opened.From, "bundle.import", opened.From, map[string]any{
		"jti": opened.JTI, "stored": res.Stored, "duplicates": res.Duplicates, "refused": res.Refused,
		"receipts": res.Receipts, "unmatched": res.Unmatched,
	}); err != nil {
		return res, internal("bundle import", err)
	}
	n.log.Info("bundle imported", "from", opened.From, "jti", opened.JTI, "stored", res.Stored, "duplicates", res.Duplicates,
		"refused", res.Refused, "receipts", res.Receipts)
	if len(back.Receipts)+len(back.Refusals) > 0 {
		m := n.o.Trust.Current()
		if key, err := m.EncKeyFor(opened.From, n.o.Now()); err == nil {
			file, err := bundle.Seal(back, bundle.SealOptions{From: n.o.Self, To: opened.From, Signer: n.signer(), EncryptTo: key, Now: n.o.Now()})
			if err != nil {
				return res, internal("bundle import: return bundle", err)
			}
			res.Return = append(file, '\n')
		}
	}
	return res, nil
}

// rememberBundle records the bundle's replay record (FLX-BDL-005) before
// anything of it is stored: the same bundle again, or another copy, goes on
// (each envelope then a duplicate), and a bundle with a known (iss, jti)
// and other content is refused whole with replay. The import has no one
// transaction (each envelope is stored in its own, as a POST is), so the
// record comes first: of two bundles with one jti imported at once, the
// one that records second stores nothing, and an import cut short by a
// crash after the record is completed by importing the same file again.
// The record is kept until the bundle's exp + Skew, after which the
// bundle is refused as expired (PurgeBundles).
func (n *Node) rememberBundle(ctx context.Context, op *bundle.Opened) error {
	_, err := n.o.Store.RememberBundle(ctx, store.BundleRecord{
		Iss: op.From, JTI: op.JTI, SHA256: op.SHA256, ExpiresAt: op.ExpiresAt.Add(n.o.Skew),
	})
	switch {
	case errors.Is(err, store.ErrReplay):
		n.log.Warn("bundle refused: jti already imported with other content", "from", op.From, "jti", op.JTI)
		return errf(federation.CodeReplay, "bundle %q from %s was already imported with other content", op.JTI, op.From)
	case err != nil:
		return internal("bundle import", err)
	}
	return nil
}

// PurgeBundles deletes the replay records of imported bundles whose exp +
// Skew has passed: such a bundle is refused as expired before its record
// is looked at (FLX-BDL-003).
func (n *Node) PurgeBundles(ctx context.Context) (int64, error) {
	purged, err := n.o.Store.PurgeBundles(ctx, n.o.Now())
	if err != nil {
		return 0, fmt.Errorf("node.PurgeBundles: %w", err)
	}
	if purged > 0 {
		n.log.Info("bundle replay records purged", "count", purged)
	}
	return purged, nil
}

// storeVerified stores an envelope already verified as sent by its iss
// (a bundle's envelope, verified at the bundle's iat), with the checks that
// follow verification on the federation API.
func (n *Node) storeVerified(ctx context.Context, env *federation.Envelope, raw []byte) (Received, error) {
	if env.Kind == federation.KindRelayForward {
		return n.receiveRelay(ctx, raw, env)
	}
	if err := n.checkEnvelope(ctx, env); err != nil {
		return Received{}, err
	}
	return n.keep(ctx, env, raw, nil)
}

// bundleReceipt marks delivered the row a bundle's receipt is for, when it
// verifies against the token this member exported for it.
func (n *Node) bundleReceipt(ctx context.Context, op *bundle.Opened, rc bundle.ReceiptItem) (bool, error) {
	if rc.Err != nil {
		return false, nil
	}
	r, err := n.o.Store.GetOutboxByJTI(ctx, rc.ReceiptFor)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	case r.Destination != op.From:
		return false, nil
	case r.State == store.Delivered:
		return true, nil
	}
	tok := n.bundleToken(r)
	if tok == nil {
		return false, nil
	}
	sum := sha256.Sum256(tok)
	if _, err := op.VerifyReceipt(rc.Raw, federation.ExpectedReceipt{
		Issuer: op.From, Audience: n.o.Self, ReceiptFor: r.JTI, SHA256: hex.EncodeToString(sum[:]),
	}); err != nil {
		n.log.Warn("bundle receipt refused", "from", op.From, "outbox_id", r.ID, "code", federation.CodeOf(err))
		return false, nil
	}
	if err := n.o.Store.MarkDelivered(ctx, r.ID, rc.Raw); err != nil {
		return false, err
	}
	return true, n.audit(ctx, n.o.Store, op.From, "outbox.bundle_receipt", strconv.FormatInt(r.ID, 10), map[string]any{
		"destination": r.Destination, "case_id": r.CaseID, "kind": r.Kind, "jti": r.JTI, "bundle": op.JTI,
	})
}
