package federation

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

// TypReceipt is the JWS "typ" of a receipt.
const TypReceipt = "flx-receipt+jws"

// ReceiptStatus says what the receiver did with the envelope.
type ReceiptStatus string

// Receipt statuses.
const (
	ReceiptAccepted  ReceiptStatus = "accepted"  // stored for processing
	ReceiptDuplicate ReceiptStatus = "duplicate" // same jti and bytes seen before; not processed again
)

var sha256HexRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ReceiptClaims are the signed content of a receipt.
type ReceiptClaims struct {
	Issuer     string        // iss: the receiving member, who signs the receipt
	Audience   string        // aud: the envelope's sender
	IssuedAt   time.Time     // iat
	ReceiptFor string        // receipt_for: the envelope's jti
	SHA256     string        // sha256: lowercase hex SHA-256 of the exact envelope bytes
	Status     ReceiptStatus // status
}

type wireReceipt struct {
	Iss        string        `json:"iss"`
	Aud        string        `json:"aud"`
	Iat        int64         `json:"iat"`
	ReceiptFor string        `json:"receipt_for"`
	SHA256     string        `json:"sha256"`
	Status     ReceiptStatus `json:"status"`
}

// Receipt is a verified receipt.
type Receipt struct {
	ReceiptClaims
	KID string
	raw []byte
}

// Raw returns the exact receipt bytes that were verified.
func (r *Receipt) Raw() []byte { return r.raw }

// ReceiptFor builds the claims of the receipt for env, issued by its
// audience (this node) at now.
func ReceiptFor(env *Envelope, status ReceiptStatus, now time.Time) ReceiptClaims {
	return ReceiptClaims{
		Issuer: env.Audience, Audience: env.Issuer, IssuedAt: now,
		ReceiptFor: env.JTI, SHA256: env.SHA256(), Status: status,
	}
}

func checkReceipt(w *wireReceipt) error {
	switch {
	case !ValidMemberID(w.Iss) || !ValidMemberID(w.Aud):
		return newErr(CodeBadEnvelope, "receipt iss and aud must be member ids", nil)
	case w.Iat <= 0:
		return newErr(CodeBadEnvelope, "receipt iat is required", nil)
	case !validJTI(w.ReceiptFor):
		return newErr(CodeBadEnvelope, "receipt_for must be an envelope jti", nil)
	case !sha256HexRe.MatchString(w.SHA256):
		return newErr(CodeBadEnvelope, "receipt sha256 must be 64 lowercase hex digits", nil)
	case w.Status != ReceiptAccepted && w.Status != ReceiptDuplicate:
		return newErr(CodeBadEnvelope, fmt.Sprintf("receipt status %q is not accepted or duplicate", w.Status), nil)
	}
	return nil
}

// SignReceipt signs a receipt (compact JWS, typ flx-receipt+jws).
func SignReceipt(c ReceiptClaims, signer *jose.PrivateKey) ([]byte, error) {
	w := wireReceipt{Iss: c.Issuer, Aud: c.Audience, Iat: unix(c.IssuedAt), ReceiptFor: c.ReceiptFor, SHA256: c.SHA256, Status: c.Status}
	if err := checkReceipt(&w); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("federation: encode receipt: %w", err)
	}
	out, err := jose.Sign(payload, TypReceipt, signer)
	if err != nil {
		return nil, fmt.Errorf("federation: sign receipt: %w", err)
	}
	return out, nil
}

// VerifyReceipt checks a receipt for the envelope (envelopeJTI,
// envelopeSHA256) that was sent to expectedIssuer, at time now (key validity
// and iat are checked with DefaultSkew). It refuses with the envelope codes:
// bad_envelope (malformed, forbidden header, wrong typ, bad claims, or bound
// to another jti or another hash), unsupported_alg, sender_mismatch (signed
// as someone other than expectedIssuer), unknown_key (kid not a key of the
// issuer, or outside its nbf/exp), suspended_member, bad_signature,
// not_yet_valid (iat in the future).
func VerifyReceipt(raw []byte, m *Manifest, expectedIssuer, envelopeJTI, envelopeSHA256 string, now time.Time) (*Receipt, error) {
	if m == nil {
		return nil, fmt.Errorf("federation: verify receipt: no manifest")
	}
	tok, err := jose.Parse(raw, TypReceipt)
	if err != nil {
		return nil, joseErr(err)
	}
	var w wireReceipt
	if err := decodeStrict(tok.UnverifiedPayload(), &w); err != nil {
		return nil, newErr(CodeBadEnvelope, "receipt claims do not decode", err)
	}
	if w.Iss != expectedIssuer {
		return nil, newErr(CodeSenderMismatch, fmt.Sprintf("receipt issued by %q, expected %q", w.Iss, expectedIssuer), nil)
	}
	key, err := senderKey(m, w.Iss, tok.Header().KID, now, DefaultSkew)
	if err != nil {
		return nil, err
	}
	if _, err := tok.Verify(key); err != nil {
		return nil, joseErr(err)
	}
	if err := checkReceipt(&w); err != nil {
		return nil, err
	}
	if w.ReceiptFor != envelopeJTI {
		return nil, newErr(CodeBadEnvelope, fmt.Sprintf("receipt is for jti %q, not %q", w.ReceiptFor, envelopeJTI), nil)
	}
	if w.SHA256 != envelopeSHA256 {
		return nil, newErr(CodeBadEnvelope, "receipt is for other envelope bytes (sha256 differs)", nil)
	}
	iat := fromUnix(w.Iat)
	if iat.After(now.Add(DefaultSkew)) {
		return nil, newErr(CodeNotYetValid, fmt.Sprintf("receipt issued at %s, in the future", iat.Format(time.RFC3339)), nil)
	}
	return &Receipt{
		ReceiptClaims: ReceiptClaims{Issuer: w.Iss, Audience: w.Aud, IssuedAt: iat, ReceiptFor: w.ReceiptFor, SHA256: w.SHA256, Status: w.Status},
		KID:           key.KID(),
		raw:           append([]byte(nil), raw...),
	}, nil
}
