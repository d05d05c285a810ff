package node

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// Received is the outcome of Receive: the signed receipt to answer with.
type Received struct {
	Receipt []byte
	Status  federation.ReceiptStatus
	InboxID int64
	JTI     string
	Kind    federation.Kind
}

// envelopeHead is what the node reads of every body, whatever its kind.
type envelopeHead struct {
	CaseID    string `json:"case_id"`
	Responder string `json:"responder"`
	Confirms  string `json:"confirms"`
	Origin    struct {
		Member string `json:"member"`
	} `json:"origin"`
}

// originOf returns the origin member of a case id ("XA-RC:123" -> "XA-RC").
func originOf(caseID string) string {
	if i := strings.IndexByte(caseID, ':'); i > 0 {
		return caseID[:i]
	}
	return ""
}

// inboxKey is the store's replay key: jti uniqueness is per sender.
func inboxKey(iss, jti string) string { return federation.ReplayKey(iss, jti) }

// Receive verifies, validates and durably stores one envelope sent by the
// mTLS-authenticated peer, and returns the receipt to answer with. The
// envelope, its inbox row and the receipt are written in one transaction
// before Receive returns: a 202 is never sent for something not stored. A
// re-sent envelope (same sender, jti and bytes) gets a fresh receipt with
// status duplicate and is not processed again; the same jti with other
// bytes is refused with replay. Errors are *Error with a federation code
// (problem.As turns any other into internal_error).
func (n *Node) Receive(ctx context.Context, peer string, raw []byte) (res Received, err error) {
	start := time.Now()
	defer func() {
		if err != nil {
			n.metrics.refused.WithLabelValues(string(problem.As(err).Code)).Inc()
		} else {
			n.metrics.received.WithLabelValues(string(res.Kind), string(res.Status)).Inc()
			n.metrics.receiveSeconds.Observe(time.Since(start).Seconds())
		}
	}()
	env, err := n.admit(ctx, peer, raw, nil)
	if err != nil {
		return res, err
	}
	if env.Kind == federation.KindRelayForward {
		return n.receiveRelay(ctx, raw, env)
	}
	if applyOnReceive[env.Kind] && !n.noApplyOnReceive.Load() {
		// A lone case.create or case.update is stored as a batch of one
		// is, and applied in the transaction that stores it: not stored
		// here, then applied in another transaction of the processor's
		// (a second commit, its inbox read, its audit-lock hold).
		out := make([]BatchItem, 1)
		if _, err := n.storeAdmitted(ctx, [][]byte{raw}, []*federation.Envelope{env}, nil, out); err != nil {
			return res, internal("receive", err)
		}
		if out[0].Err != nil {
			return res, out[0].Err
		}
		return out[0].Received, nil
	}
	// The processor reads the envelope again (ClaimsOf).
	federation.Remember(env)
	return n.keep(ctx, env, raw, nil)
}

// admit runs every check of an envelope before it is stored (SPEC.md §5.5):
// its size, the manifest held, the signature and claims (Verify) and, but
// for a relay envelope (whose inner envelope prepareRelay checks), what
// checkEnvelope requires of its content. Each envelope of a batch passes
// here alone, as if it were POSTed by itself; pre, when set, is the
// verifier's verdict on it, reached with the others of its batch
// (verifyBatch).
func (n *Node) admit(ctx context.Context, peer string, raw []byte, pre *verdict) (*federation.Envelope, error) {
	if int64(len(raw)) > n.o.MaxBodyBytes {
		return nil, errf(federation.CodeTooLarge, "envelope larger than %d bytes", n.o.MaxBodyBytes)
	}
	if err := n.o.Trust.Usable(); err != nil {
		return nil, problem.Wrap(problem.Unavailable, "this node holds no valid federation manifest", err)
	}
	// The claims are kept in the claims memo by the caller, and only for
	// envelopes stored to be read again: an envelope refused, or applied
	// in the transaction that stores it, is never read again.
	var env *federation.Envelope
	var err error
	if pre != nil {
		env, err = pre.env, pre.err
	} else {
		env, err = n.verifier.VerifyUnkept(ctx, raw, peer)
	}
	if err != nil {
		return nil, problem.As(err)
	}
	if env.Kind == federation.KindRelayForward {
		federation.Remember(env) // relaying reads it again
		return env, nil
	}
	if err := n.checkEnvelope(ctx, env); err != nil {
		return nil, err
	}
	return env, nil
}

// checkEnvelope applies to a verified envelope what this member requires
// of its content whoever relayed it: a kind it accepts, a body valid
// against schema v1, and the sender's role for the case.
func (n *Node) checkEnvelope(ctx context.Context, env *federation.Envelope) error {
	if self, ok := n.o.Trust.Current().Member(n.o.Self); !ok || !self.AcceptsKind(env.Kind) {
		return errf(federation.CodeUnsupportedKind, "this member does not accept %s", env.Kind)
	}
	if env.Kind == federation.KindAuditHead { // not a schema v1 document (SPEC.md §20)
		return n.checkAuditHead(env)
	}
	docKind, ok := schema.KindForEnvelope(string(env.Kind))
	if !ok {
		return errf(federation.CodeUnsupportedKind, "no schema for kind %s", env.Kind)
	}
	// The one validation of the body; the members the checks below read are
	// taken from what it decoded, not parsed again.
	doc, err := schema.ValidateObject(docKind, env.Body)
	if err != nil {
		var ve *schema.ValidationError
		if errors.As(err, &ve) {
			return &Error{Code: problem.SchemaInvalid, Msg: "body does not conform to schema v1 " + string(docKind), Errors: pointers(ve.Violations)}
		}
		return errf(federation.CodeSchemaInvalid, "body: %v", err)
	}
	if env.Kind == federation.KindStatsReport {
		return n.checkStatsReport(env)
	}
	if err := checkRolesOf(env, headOf(doc)); err != nil {
		return err
	}
	if err := n.checkEncoding(env); err != nil {
		return err
	}
	if err := n.limitQueries(env); err != nil {
		return err
	}
	if err := n.mediaReady(ctx, env); err != nil {
		return err
	}
	// Processing reads the claims and the case parsed here rather than
	// parsing the stored envelope again.
	var c *schema.Case
	if docKind == schema.KindCase && n.admitted.room(len(env.Body)) {
		if c, err = schema.DecodeValidatedCaseObject(env.Body, doc); err != nil {
			c = nil // processing decodes it again and reports why
		}
	}
	n.admitted.put(env.SHA256(), env.Claims, c)
	return nil
}

// keep stores a verified envelope (its inbox row and the receipt answered)
// and, when also is set, what also writes, in one transaction, and returns
// the receipt to answer with.
func (n *Node) keep(ctx context.Context, env *federation.Envelope, raw []byte, also func(tx store.Tx) error) (res Received, err error) {
	// The receipt binds the SHA-256 of the exact bytes received
	// (FLX-RCP-003), which Verify computed once.
	rc := federation.ReceiptFor(env, federation.ReceiptAccepted, n.o.Now())
	receipt, err := federation.SignReceipt(rc, n.signer())
	if err != nil {
		return res, internal("receive", err)
	}
	item := store.InboxItem{
		JTI: inboxKey(env.Issuer, env.JTI), Iss: env.Issuer, Aud: env.Audience, Kind: string(env.Kind),
		CaseID: env.CaseID, SHA256: env.SHA256(), Envelope: raw, ReceivedAt: n.o.Now(),
	}
	// Stored (envelope, inbox row, receipt) in one transaction before the
	// 202 is answered: a receipt is never sent for something not stored.
	// also, when set, writes in that same transaction.
	receiveTx := n.o.Store.Receive
	if also != nil {
		receiveTx = func(ctx context.Context, item store.InboxItem, rc store.Receipt) (r store.ReceiveResult, err error) {
			err = n.o.Store.Tx(ctx, func(tx store.Tx) error {
				if r, err = tx.Receive(ctx, item, rc); err != nil || r.Duplicate {
					return err
				}
				return also(tx)
			})
			return r, err
		}
	}
	r, err := receiveTx(ctx, item, store.Receipt{Status: string(federation.ReceiptAccepted), Raw: receipt})
	switch {
	case errors.Is(err, store.ErrReplay):
		return res, errf(federation.CodeReplay, "jti %q was already received with other content", env.JTI)
	case err != nil:
		if ctx.Err() == nil {
			n.writeFailed(err)
		}
		return res, internal("receive", err)
	}
	n.writeSucceeded()
	if h := n.metrics.stages.Load(); h != nil && h.Stored != nil && !r.Duplicate {
		h.Stored(item.JTI, n.o.Now())
	}
	res = Received{Receipt: receipt, Status: federation.ReceiptAccepted, InboxID: r.ID, JTI: env.JTI, Kind: env.Kind}
	if r.Duplicate {
		drc := federation.ReceiptFor(env, federation.ReceiptDuplicate, n.o.Now())
		dup, err := federation.SignReceipt(drc, n.signer())
		if err != nil {
			return res, internal("receive", err)
		}
		res.Receipt, res.Status = dup, federation.ReceiptDuplicate
		n.log.Info("duplicate envelope", "iss", env.Issuer, "jti", env.JTI, "kind", env.Kind)
		return res, nil
	}
	n.log.Info("envelope received", "iss", env.Issuer, "jti", env.JTI, "kind", env.Kind, "inbox_id", r.ID)
	signal(n.kick)
	return res, nil
}

// checkRoles enforces who may send what about a case: the claim case_id
// equals the body's; creates, updates and withdrawal requests come only
// from the case's origin; a response comes from its responder.
func checkRoles(env *federation.Envelope) error {
	var h envelopeHead
	if err := json.Unmarshal(env.Body, &h); err != nil {
		return errf(federation.CodeBadEnvelope, "body is not a JSON object")
	}
	return checkRolesOf(env, h)
}

// headOf reads an envelopeHead from a body as schema validation decoded
// it (a member of another type reads as "", as a member that is absent).
func headOf(doc map[string]any) envelopeHead {
	var h envelopeHead
	h.CaseID, _ = doc["case_id"].(string)
	h.Responder, _ = doc["responder"].(string)
	h.Confirms, _ = doc["confirms"].(string)
	if o, ok := doc["origin"].(map[string]any); ok {
		h.Origin.Member, _ = o["member"].(string)
	}
	return h
}

// checkRolesOf is checkRoles with the body's head already read.
func checkRolesOf(env *federation.Envelope, h envelopeHead) error {
	if h.CaseID != env.CaseID {
		return errf(federation.CodeBadEnvelope, "the case_id claim differs from the body's case_id")
	}
	origin := originOf(env.CaseID)
	switch env.Kind {
	case federation.KindCaseCreate, federation.KindCaseUpdate:
		if origin != env.Issuer || h.Origin.Member != env.Issuer {
			return errf(federation.CodeSenderMismatch, "only the origin of case %q may send %s", env.CaseID, env.Kind)
		}
	case federation.KindCaseResponse:
		if h.Responder != env.Issuer {
			return errf(federation.CodeSenderMismatch, "the response's responder is not the sender")
		}
	case federation.KindCaseWithdraw:
		if h.Confirms == "" && origin != env.Issuer {
			return errf(federation.CodeSenderMismatch, "only the origin of case %q may withdraw it", env.CaseID)
		}
	case federation.KindMatchQuery:
		if origin != env.Issuer {
			return errf(federation.CodeSenderMismatch, "only the origin of case %q may ask about its persons", env.CaseID)
		}
	case federation.KindMatchAnswer:
		if h.Responder != env.Issuer {
			return errf(federation.CodeSenderMismatch, "the answer's responder is not the sender")
		}
	}
	return nil
}
