package federation

import "time"

// Relay envelopes a node keeps (queued by it, or received and verified by
// OpenRelay) are read again when it re-wraps, forwards or matches an
// end-to-end receipt. Like ClaimsOf, these never check a signature: never
// call them on bytes from outside.

// Token is what is read of a stored inner token, an envelope or a receipt.
type Token struct {
	Receipt   bool      // a receipt (typ flx-receipt+jws); otherwise an envelope
	Issuer    string    // iss
	Audience  string    // aud
	JTI       string    // an envelope's jti ("" for a receipt)
	Kind      Kind      // an envelope's kind
	CaseID    string    // an envelope's case_id
	ExpiresAt time.Time // an envelope's exp
}

// PeekToken reads an envelope or a receipt this node signed or verified.
func PeekToken(raw []byte) (Token, error) {
	if c, ok := memo.get(raw); ok { // an envelope read before (ClaimsOf)
		return Token{Issuer: c.Issuer, Audience: c.Audience, JTI: c.JTI, Kind: c.Kind, CaseID: c.CaseID, ExpiresAt: c.ExpiresAt}, nil
	}
	in, err := peekInner(raw)
	if err != nil {
		return Token{}, err
	}
	t := Token{Receipt: in.receipt, Issuer: in.iss, Audience: in.aud, JTI: in.jti, Kind: in.kind, CaseID: in.caseID}
	if !in.receipt {
		t.ExpiresAt = fromUnix(in.exp)
	}
	return t, nil
}

// RelayInner returns the inner token of a stored relay.forward envelope;
// for any other envelope it returns raw itself (the envelope is its own
// inner token), so callers handle routed and direct rows alike.
func RelayInner(raw []byte) ([]byte, error) {
	c, err := ClaimsOf(raw)
	if err != nil {
		return nil, err
	}
	if c.Kind != KindRelayForward {
		return raw, nil
	}
	var body relayBody
	if err := decodeStrict(c.Body, relayBodyShape, &body); err != nil {
		return nil, newErr(CodeBadEnvelope, `relay.forward body does not decode strictly as {"inner","hops"}`, err)
	}
	return []byte(body.Inner), nil
}
