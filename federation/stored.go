package federation

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

// Envelopes a node keeps (received and verified, or signed and queued) are
// read again later: the inbox processor applies their claims, the outbox
// re-signs those that near their exp. These functions do that without the
// caller ever splitting or decoding a JWS itself.

// ClaimsOf reads the claims of an envelope that was already verified (on
// receipt, by Verifier.Verify) or signed by this node (Sign), without
// checking the signature again: never call it on bytes from outside. The
// bytes must still be a well-formed envelope: a compact JWS of typ
// flx-envelope+jws whose claims decode strictly (bad_envelope otherwise).
func ClaimsOf(raw []byte) (Claims, error) {
	claimsReads.Add(1)
	k, keep := memo.key(raw)
	if keep {
		if c, ok := memo.getK(k, raw); ok {
			return c, nil
		}
	}
	tok, err := jose.Parse(raw, TypEnvelope)
	if err != nil {
		return Claims{}, joseErr(err)
	}
	var w wireClaims
	if err := decodeOwnedClaims(tok.UnverifiedPayload(), &w); err != nil {
		return Claims{}, newErr(CodeBadEnvelope, "claims do not decode strictly", err)
	}
	c := w.claims()
	if keep {
		memo.putK(k, bytes.Clone(raw), c)
	}
	return c, nil
}

// claimsReads counts the calls of ClaimsOf (ClaimsReads).
var claimsReads atomic.Uint64

// ClaimsReads is how many times this process has read the claims of an
// envelope with ClaimsOf, memo hits included (for tests and diagnostics:
// nothing decides on it). Each read of a kept envelope hashes and compares
// its bytes and copies its body, so a path that reads the claims of the
// same envelope twice shows here.
func ClaimsReads() uint64 { return claimsReads.Load() }

// Renew signs the content of envelope raw (one this member signed) again as
// a new envelope: the same iss, aud, kind, case_id and body, a new jti, iat
// = now and exp = now + ttl (SPEC.md FLX-DLV-001: an envelope that nears its
// exp while queued). It returns the new bytes and claims.
func Renew(raw []byte, now time.Time, ttl time.Duration, signer *jose.PrivateKey) ([]byte, Claims, error) {
	c, err := ClaimsOf(raw)
	if err != nil {
		return nil, Claims{}, fmt.Errorf("federation: renew: %w", err)
	}
	c.JTI, c.IssuedAt, c.ExpiresAt = NewJTI(), now, now.Add(ttl)
	out, err := Sign(c, signer)
	if err != nil {
		return nil, Claims{}, fmt.Errorf("federation: renew: %w", err)
	}
	return out, c, nil
}
