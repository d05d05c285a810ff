package federation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

// Relaying with end-to-end provenance (conformance/SPEC.md §14).
//
// An origin that sends through a relay does not hand its envelope over to be
// re-signed: the envelope it signed for the final recipient (aud = that
// recipient) travels unchanged, as the "inner" token of relay.forward
// envelopes, one per hop. Each relay.forward body is
//
//	{"inner": "<the origin's compact JWS>", "hops": ["<hop JWS>", ...]}
//
// and every hop is a small JWS (typ flx-hop+jws) signed by the member that
// sent that hop:
//
//	{"iss": sender, "aud": receiver, "iat": NumericDate,
//	 "inner_sha256": hex SHA-256 of the inner bytes,
//	 "prev_sha256": hex SHA-256 of the previous hop's bytes (absent on the first)}
//
// The first hop is signed by the inner token's own signer; every later hop
// by a member that may relay (Manifest.MayRelay); each hop starts where the
// previous one ended and names its predecessor by hash; and the relay.forward
// envelope itself is the last hop (same iss and aud). So the final recipient
// checks the origin's signature with the origin's keys and aud = itself, and
// a relay cannot alter or swap the inner token (the first hop, signed by the
// origin, binds its hash), drop or reorder a hop (the chain breaks), or
// re-address it (the origin signed aud).
//
// The inner token may also be a receipt: the final recipient's end-to-end
// receipt for the origin's envelope travels back the same way, unchanged,
// signed by the recipient and addressed to the origin. Withdrawals and their
// confirmations are envelopes and travel like any other.

// TypHop is the JWS "typ" of a relay hop.
const TypHop = "flx-hop+jws"

// MaxRelayHops bounds the hops of a relay chain: the origin's and up to
// three relays'.
const MaxRelayHops = 4

// DefaultRelayTTL is the lifetime of a relay.forward envelope unless
// Wrap.TTL says otherwise; it never outlives the inner envelope.
const DefaultRelayTTL = 3 * 24 * time.Hour

// relayBody is the body of a relay.forward envelope.
type relayBody struct {
	Inner string   `json:"inner"`
	Hops  []string `json:"hops"`
}

// wireHop is the payload of a hop.
type wireHop struct {
	Iss   string `json:"iss"`
	Aud   string `json:"aud"`
	Iat   int64  `json:"iat"`
	Inner string `json:"inner_sha256"`
	Prev  string `json:"prev_sha256,omitempty"`
}

var relayBodyShape = shapeOf(reflect.TypeFor[relayBody]())

// Hop is one verified hop of a relay chain.
type Hop struct {
	From        string    // iss: the member that sent this hop (and signed it)
	To          string    // aud: the member it was sent to
	At          time.Time // iat
	InnerSHA256 string
	PrevSHA256  string // "" on the first hop
	KID         string // the key of From that signed it
	Raw         []byte // the hop JWS
}

// Relayed is a relay.forward envelope whose chain verified (OpenRelay).
// Exactly one of Envelope and Receipt is set.
type Relayed struct {
	Outer       *Envelope // the relay.forward envelope as received
	Inner       []byte    // the exact inner bytes
	InnerSHA256 string
	Hops        []Hop
	// Envelope is the inner envelope, verified with its signer's keys: when
	// Final, as Verifier.Verify verifies any envelope for this member;
	// otherwise with aud = the final recipient.
	Envelope *Envelope
	// Receipt holds the claims of an inner receipt, whose signature by its
	// issuer is verified. The final recipient (the origin of the receipted
	// envelope) checks it against what it sent with VerifyReceipt.
	Receipt *ReceiptClaims
	// Final: this member is the inner token's audience. Otherwise it is an
	// intermediate relay and forwards with Forward.
	Final bool
}

// Origin returns the member that signed the inner token (the first hop's
// sender).
func (r *Relayed) Origin() string { return r.Hops[0].From }

// Recipient returns the inner token's audience: the final recipient.
func (r *Relayed) Recipient() string {
	if r.Envelope != nil {
		return r.Envelope.Audience
	}
	return r.Receipt.Audience
}

// Wrap says how to sign one hop: who signs, to whom, when, for how long.
type Wrap struct {
	Self   string           // this member: the hop's and the outer envelope's iss
	To     string           // the next member: the hop's and the outer envelope's aud
	Signer *jose.PrivateKey // a current signing key of Self
	Now    time.Time
	// TTL is the outer envelope's lifetime (0: DefaultRelayTTL); it is cut
	// to the inner envelope's exp.
	TTL time.Duration
	// CaseID is the outer envelope's case_id when Originate wraps a receipt
	// (the case of the envelope it receipts). Forward copies the case_id of
	// the envelope it received; an inner envelope's own case_id is used.
	CaseID string
}

// Originate wraps inner, an envelope or a receipt signed by w.Self, in the
// first relay.forward envelope of a chain: a hop from w.Self to w.To and an
// envelope from w.Self to w.To carrying both. It returns the outer envelope
// and its claims (for the outbox and ExpectReceipt: the relay answers with a
// receipt for the outer bytes, the final recipient later with an end-to-end
// receipt for the inner bytes).
func Originate(inner []byte, w Wrap) ([]byte, Claims, error) {
	in, err := peekInner(inner)
	if err != nil {
		return nil, Claims{}, err
	}
	if in.iss != w.Self {
		return nil, Claims{}, newErr(CodeBadRelay, fmt.Sprintf("the inner token is signed by %q, not by this member %q: only its signer starts a relay chain", in.iss, w.Self), nil)
	}
	return wrap(inner, in, nil, w)
}

// Forward signs the next hop of a chain this member received as an
// intermediate relay: the same inner bytes, the hops so far and a new hop
// from w.Self to w.To, in a new relay.forward envelope. w.Self must be where
// the chain ended (the last hop's To) and may relay; w.To must not already be
// on the chain.
func (r *Relayed) Forward(w Wrap) ([]byte, Claims, error) {
	if r.Final {
		return nil, Claims{}, errors.New("federation: forward: this member is the final recipient")
	}
	last := r.Hops[len(r.Hops)-1]
	if last.To != w.Self {
		return nil, Claims{}, fmt.Errorf("federation: forward: the chain ends at %s, not at %s", last.To, w.Self)
	}
	if len(r.Hops) >= MaxRelayHops {
		return nil, Claims{}, newErr(CodeBadRelay, fmt.Sprintf("the chain already has %d hops, the most allowed", MaxRelayHops), nil)
	}
	for _, h := range r.Hops {
		if h.From == w.To {
			return nil, Claims{}, newErr(CodeBadRelay, fmt.Sprintf("%s is already on the chain (a loop)", w.To), nil)
		}
	}
	in, err := peekInner(r.Inner)
	if err != nil {
		return nil, Claims{}, err
	}
	if in.receipt {
		w.CaseID = r.Outer.CaseID // the relay cannot know it otherwise; the origin matches by receipt_for
	}
	prev := make([][]byte, len(r.Hops))
	for i, h := range r.Hops {
		prev[i] = h.Raw
	}
	return wrap(r.Inner, in, prev, w)
}

// innerPeek is what is read of an inner token before it is verified, to
// build or check a chain.
type innerPeek struct {
	receipt bool
	iss     string
	aud     string
	jti     string
	caseID  string
	exp     int64
	kind    Kind
}

// peekInner parses the inner token's header and claims without verifying
// its signature: an envelope or a receipt, nothing else.
func peekInner(inner []byte) (innerPeek, error) {
	tok, err := jose.Parse(inner, TypEnvelope)
	if errors.Is(err, jose.ErrWrongType) {
		rtok, rerr := jose.Parse(inner, TypReceipt)
		if errors.Is(rerr, jose.ErrWrongType) {
			return innerPeek{}, newErr(CodeBadRelay, "the inner token is neither an envelope nor a receipt", err)
		}
		if rerr != nil {
			return innerPeek{}, joseErr(rerr)
		}
		var w wireReceipt
		if err := decodeStrict(rtok.UnverifiedPayload(), receiptShape, &w); err != nil {
			return innerPeek{}, newErr(CodeBadEnvelope, "inner receipt claims do not decode strictly", err)
		}
		return innerPeek{receipt: true, iss: w.Iss, aud: w.Aud}, nil
	}
	if err != nil {
		return innerPeek{}, joseErr(err)
	}
	var w wireClaims
	if err := decodeOwnedClaims(tok.UnverifiedPayload(), &w); err != nil {
		return innerPeek{}, newErr(CodeBadEnvelope, "inner envelope claims do not decode strictly", err)
	}
	return innerPeek{iss: w.Iss, aud: w.Aud, jti: w.JTI, caseID: w.CaseID, exp: w.Exp, kind: w.Kind}, nil
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// wrap signs a new hop after prev and the outer envelope carrying them.
func wrap(inner []byte, in innerPeek, prev [][]byte, w Wrap) ([]byte, Claims, error) {
	switch {
	case w.Signer == nil || w.Now.IsZero():
		return nil, Claims{}, errors.New("federation: relay: a signer and the time are required")
	case !ValidMemberID(w.Self) || !ValidMemberID(w.To) || w.Self == w.To:
		return nil, Claims{}, errors.New("federation: relay: Self and To must be two member ids")
	case in.kind == KindRelayForward:
		return nil, Claims{}, newErr(CodeBadRelay, "a relay.forward envelope cannot be the inner token of another", nil)
	}
	caseID := in.caseID
	if in.receipt {
		caseID = w.CaseID
	}
	ttl := w.TTL
	if ttl <= 0 {
		ttl = DefaultRelayTTL
	}
	iat := w.Now.Unix()
	exp := iat + int64(ttl/time.Second)
	if !in.receipt && in.exp < exp {
		exp = in.exp
	}
	if exp <= iat {
		return nil, Claims{}, newErr(CodeExpired, "the inner envelope has expired: it cannot be relayed", nil)
	}
	h := wireHop{Iss: w.Self, Aud: w.To, Iat: iat, Inner: hexSHA256(inner)}
	if len(prev) > 0 {
		h.Prev = hexSHA256(prev[len(prev)-1])
	}
	payload, err := json.Marshal(h)
	if err != nil {
		return nil, Claims{}, fmt.Errorf("federation: relay: encode hop: %w", err)
	}
	hop, err := jose.Sign(payload, TypHop, w.Signer)
	if err != nil {
		return nil, Claims{}, fmt.Errorf("federation: relay: sign hop: %w", err)
	}
	body := relayBody{Inner: string(inner), Hops: make([]string, 0, len(prev)+1)}
	for _, p := range prev {
		body.Hops = append(body.Hops, string(p))
	}
	body.Hops = append(body.Hops, string(hop))
	b, err := json.Marshal(body)
	if err != nil {
		return nil, Claims{}, fmt.Errorf("federation: relay: encode body: %w", err)
	}
	c := Claims{
		Issuer: w.Self, Audience: w.To, IssuedAt: time.Unix(iat, 0).UTC(), ExpiresAt: time.Unix(exp, 0).UTC(),
		JTI: NewJTI(), Kind: KindRelayForward, CaseID: caseID, Body: b,
	}
	out, err := Sign(c, w.Signer)
	if err != nil {
		return nil, Claims{}, err
	}
	return out, c, nil
}

// OpenRelay checks the chain of a relay.forward envelope that v.Verify
// accepted for this member (v.Self) and verifies the inner token. Refusals,
// in the order checked:
//
//   - bad_envelope: outer is not a relay.forward; the body does not decode
//     strictly as {"inner","hops"} (unknown members, a member twice);
//   - bad_relay: no hop, or more than MaxRelayHops; the inner token is not an
//     envelope or a receipt, or is itself a relay.forward;
//   - for each hop, the codes of Manifest.VerifySigned (bad_envelope,
//     unknown_key, suspended_member, unsupported_alg, bad_signature), then
//     bad_relay: it does not bind the inner bytes (the inner was altered or
//     swapped); the first hop has a prev_sha256, or a later one does not name
//     its predecessor; a later hop does not start where the previous one
//     ended (a hop was dropped); a later hop's sender may not relay; a member
//     sends twice (a loop); iss = aud; iat after now + skew or before the
//     previous hop's iat - skew;
//   - bad_relay: the outer envelope is not the last hop (other iss or aud);
//     the first hop is not sent by the inner token's signer; an inner
//     envelope's case_id is not the outer's;
//   - when this member is not the inner token's audience: wrong_audience
//     unless it may relay (Manifest.MayRelay); unknown_key when the final
//     recipient is no member (the sender may hold a newer manifest: it
//     retries), relay_refused when it is suspended (FLX-RLY-011);
//   - the inner envelope's refusals by Verifier.Verify (its aud must be the
//     final recipient; when this member is the final recipient, that is
//     v.Self), or for an inner receipt those of its signature and claims.
//
// OpenRelay does not check the inner envelope's body, its kind against the
// recipient's accepts or the sender's role: the final recipient does, as
// for any envelope, with the inner envelope's iss as the sender (the origin).
func OpenRelay(ctx context.Context, v *Verifier, outer *Envelope) (*Relayed, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if outer == nil || outer.Kind != KindRelayForward {
		return nil, newErr(CodeBadEnvelope, "not a relay.forward envelope", nil)
	}
	m := v.Manifest.Current()
	if m == nil {
		return nil, errors.New("federation: no manifest held")
	}
	now, skew := v.now(), v.skew()
	var body relayBody
	if err := decodeStrict(outer.Body, relayBodyShape, &body); err != nil {
		return nil, newErr(CodeBadEnvelope, `relay.forward body does not decode strictly as {"inner","hops"}`, err)
	}
	if len(body.Hops) == 0 || len(body.Hops) > MaxRelayHops {
		return nil, newErr(CodeBadRelay, fmt.Sprintf("a relay chain has 1 to %d hops, this one %d", MaxRelayHops, len(body.Hops)), nil)
	}
	inner := []byte(body.Inner)
	in, err := peekInner(inner)
	if err != nil {
		return nil, err
	}
	if in.kind == KindRelayForward {
		return nil, newErr(CodeBadRelay, "a relay.forward envelope cannot be the inner token of another", nil)
	}
	r := &Relayed{Outer: outer, Inner: inner, InnerSHA256: hexSHA256(inner), Hops: make([]Hop, 0, len(body.Hops))}
	senders := map[string]bool{}
	for i, raw := range body.Hops {
		var h wireHop
		from, key, err := m.VerifySigned([]byte(raw), TypHop, now, skew, &h)
		if err != nil {
			return nil, fmt.Errorf("hop %d: %w", i, err)
		}
		at := fromUnix(h.Iat)
		switch {
		case h.Inner != r.InnerSHA256:
			return nil, newErr(CodeBadRelay, fmt.Sprintf("hop %d (%s) does not bind this inner token: the inner was altered or swapped", i, from), nil)
		case !ValidMemberID(h.Aud) || h.Aud == from:
			return nil, newErr(CodeBadRelay, fmt.Sprintf("hop %d: aud must be another member id", i), nil)
		case h.Iat <= 0 || at.After(now.Add(skew)):
			return nil, newErr(CodeBadRelay, fmt.Sprintf("hop %d: iat missing or in the future", i), nil)
		case senders[from]:
			return nil, newErr(CodeBadRelay, fmt.Sprintf("hop %d: %s sends twice on one chain (a loop)", i, from), nil)
		case i == 0 && h.Prev != "":
			return nil, newErr(CodeBadRelay, "the first hop names a predecessor", nil)
		}
		if i > 0 {
			p := r.Hops[i-1]
			switch {
			case h.Prev != hexSHA256(p.Raw):
				return nil, newErr(CodeBadRelay, fmt.Sprintf("hop %d does not name hop %d: the chain was cut or reordered", i, i-1), nil)
			case from != p.To:
				return nil, newErr(CodeBadRelay, fmt.Sprintf("hop %d is sent by %s, but hop %d went to %s: a hop was dropped", i, from, i-1, p.To), nil)
			case !m.MayRelay(from):
				return nil, newErr(CodeBadRelay, fmt.Sprintf("hop %d is sent by %s, which may not relay", i, from), nil)
			case at.Before(p.At.Add(-skew)):
				return nil, newErr(CodeBadRelay, fmt.Sprintf("hop %d is older than hop %d", i, i-1), nil)
			}
		}
		senders[from] = true
		r.Hops = append(r.Hops, Hop{From: from, To: h.Aud, At: at, InnerSHA256: h.Inner, PrevSHA256: h.Prev, KID: key.KID(), Raw: []byte(raw)})
	}
	last := r.Hops[len(r.Hops)-1]
	switch {
	case last.From != outer.Issuer || last.To != outer.Audience:
		return nil, newErr(CodeBadRelay, fmt.Sprintf("the relay.forward envelope (%s to %s) is not the chain's last hop (%s to %s)", outer.Issuer, outer.Audience, last.From, last.To), nil)
	case in.iss != r.Hops[0].From:
		return nil, newErr(CodeBadRelay, fmt.Sprintf("the chain starts at %s, but the inner token is signed by %q: only its signer starts a chain", r.Hops[0].From, in.iss), nil)
	case !in.receipt && in.caseID != outer.CaseID:
		return nil, newErr(CodeBadRelay, "the relay.forward case_id is not the inner envelope's", nil)
	}
	r.Final = in.aud == v.Self
	if !r.Final {
		if !m.MayRelay(v.Self) {
			return nil, newErr(CodeWrongAudience, fmt.Sprintf("the inner token is addressed to %q; this member (%q) does not relay", in.aud, v.Self), nil)
		}
		d, ok := m.Member(in.aud)
		if !ok {
			return nil, newErr(CodeUnknownKey, fmt.Sprintf("the final recipient %q is not a member of the federation", in.aud), nil)
		}
		if d.Status != StatusActive {
			// relay_refused, not suspended_member: that code tells the
			// sender that it is itself suspended (FLX-ID-004), and this
			// one that the relay has no route (FLX-RLY-011).
			return nil, newErr(CodeRelayRefused, fmt.Sprintf("the final recipient %q is suspended: no route", in.aud), nil)
		}
	}
	if in.receipt {
		rc, err := verifyInnerReceipt(m, inner, now, skew)
		if err != nil {
			return nil, fmt.Errorf("inner receipt: %w", err)
		}
		r.Receipt = rc
		return r, nil
	}
	iv := *v
	iv.Self = in.aud
	env, err := iv.Verify(ctx, inner, in.iss)
	if err != nil {
		return nil, fmt.Errorf("inner envelope: %w", err)
	}
	r.Envelope = env
	return r, nil
}

// verifyInnerReceipt checks a receipt's signature by its issuer and its
// claim values (not what it should say: only the origin knows what it sent).
func verifyInnerReceipt(m *Manifest, raw []byte, now time.Time, skew time.Duration) (*ReceiptClaims, error) {
	tok, err := jose.Parse(raw, TypReceipt)
	if err != nil {
		return nil, joseErr(err)
	}
	var w wireReceipt
	if err := decodeStrict(tok.UnverifiedPayload(), receiptShape, &w); err != nil {
		return nil, newErr(CodeBadEnvelope, "receipt claims do not decode strictly", err)
	}
	key, err := senderKey(m, w.Iss, tok.Header().KID, now, skew)
	if err != nil {
		return nil, err
	}
	if _, err := tok.Verify(key); err != nil {
		return nil, joseErr(err)
	}
	if err := checkReceipt(&w); err != nil {
		return nil, err
	}
	iat := fromUnix(w.Iat)
	if iat.After(now.Add(skew)) {
		return nil, newErr(CodeNotYetValid, "receipt issued in the future", nil)
	}
	return &ReceiptClaims{Issuer: w.Iss, Audience: w.Aud, IssuedAt: iat, ReceiptFor: w.ReceiptFor, SHA256: w.SHA256, Status: w.Status}, nil
}
