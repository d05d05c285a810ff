package federation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

// validSHA256Hex reports whether s is 64 lowercase hex digits.
func validSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

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
	case !validSHA256Hex(w.SHA256):
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
	var buf [320]byte // a receipt's claims are about 250 bytes
	payload, ok := appendReceipt(buf[:0], &w)
	if !ok {
		var err error
		if payload, err = json.Marshal(w); err != nil {
			return nil, fmt.Errorf("federation: encode receipt: %w", err)
		}
	}
	out, err := jose.Sign(payload, TypReceipt, signer)
	if err != nil {
		return nil, fmt.Errorf("federation: sign receipt: %w", err)
	}
	return out, nil
}

// ExpectedReceipt is what a sender expects of the receipt for one envelope it
// sent: the claim values the receipt must carry. Build it with ExpectReceipt.
// Every field but Skew is required.
type ExpectedReceipt struct {
	Issuer     string        // iss: the destination the envelope was sent to (the envelope's aud)
	Audience   string        // aud: this node, the envelope's sender (the envelope's iss)
	ReceiptFor string        // receipt_for: the envelope's jti
	SHA256     string        // sha256: lowercase hex SHA-256 of the exact envelope bytes sent
	Skew       time.Duration // tolerated clock skew; 0 means DefaultSkew
}

// ExpectReceipt returns what the receipt for envelope, signed by this node
// from claims c, must say.
func ExpectReceipt(envelope []byte, c Claims) ExpectedReceipt {
	sum := sha256.Sum256(envelope)
	return ExpectedReceipt{Issuer: c.Audience, Audience: c.Issuer, ReceiptFor: c.JTI, SHA256: hex.EncodeToString(sum[:])}
}

// VerifyReceipt checks, at time now, a receipt for the envelope described by
// want, against manifest m (FLX-RCP-005). It refuses with the envelope codes,
// in this order:
//
//   - unavailable: m has expired (ExpiredAt with want.Skew); a receipt is
//     not trusted on an expired manifest (the attempt is retried later);
//   - bad_envelope: malformed, forbidden header, wrong typ; claims that do
//     not decode strictly (unknown claims, a claim name in other case, a
//     member twice);
//   - sender_mismatch: iss is not want.Issuer;
//   - unknown_key (kid not a key of the issuer, or outside its nbf/exp),
//     suspended_member, unsupported_alg, bad_signature;
//   - bad_envelope: bad claim values;
//   - wrong_audience: aud is not want.Audience (the receipt was made for
//     another sender);
//   - bad_envelope: bound to another jti or another hash;
//   - not_yet_valid: iat later than now + skew.
//
// A want with an empty field is a programming error (a code-less error).
func VerifyReceipt(raw []byte, m *Manifest, want ExpectedReceipt, now time.Time) (*Receipt, error) {
	skew, err := beginReceipts(m, &want, now)
	if err != nil {
		return nil, err
	}
	var u unverifiedReceipt
	if err := u.prepare(raw, m, &want, now, skew); err != nil {
		return nil, err
	}
	if _, err := u.tok.Verify(u.key); err != nil {
		return nil, joseErr(err)
	}
	return u.finish(raw, &want, now, skew)
}

// VerifyReceipts is VerifyReceipt for each receipt of raws, raws[i]
// against wants[i], with the signatures checked together (jose.VerifyAll:
// the receipts of one batch answer are all signed by the receiver's one
// key, so they cost one equation rather than one check each). rcs[i] and
// errs[i] are what VerifyReceipt returns for raws[i]: a forged receipt is
// refused alone, with bad_signature.
func VerifyReceipts(raws [][]byte, m *Manifest, wants []ExpectedReceipt, now time.Time) (rcs []*Receipt, errs []error) {
	if len(wants) != len(raws) {
		panic("federation: VerifyReceipts: one ExpectedReceipt per receipt")
	}
	rcs, errs = make([]*Receipt, len(raws)), make([]error, len(raws))
	us := make([]unverifiedReceipt, len(raws))
	toks := make([]*jose.Token, 0, len(raws))
	keys := make([]*jose.PublicKey, 0, len(raws))
	idx := make([]int, 0, len(raws))
	skews := make([]time.Duration, len(raws))
	for i, raw := range raws {
		if skews[i], errs[i] = beginReceipts(m, &wants[i], now); errs[i] != nil {
			continue
		}
		if errs[i] = us[i].prepare(raw, m, &wants[i], now, skews[i]); errs[i] == nil {
			toks, keys, idx = append(toks, us[i].tok), append(keys, us[i].key), append(idx, i)
		}
	}
	for j, serr := range jose.VerifyAll(toks, keys) {
		i := idx[j]
		if serr != nil {
			errs[i] = joseErr(serr)
			continue
		}
		rcs[i], errs[i] = us[i].finish(raws[i], &wants[i], now, skews[i])
	}
	return rcs, errs
}

// beginReceipts checks what every receipt is checked against: a manifest,
// not expired, and a want with every field the receipt is bound to.
func beginReceipts(m *Manifest, want *ExpectedReceipt, now time.Time) (time.Duration, error) {
	if m == nil {
		return 0, fmt.Errorf("federation: verify receipt: no manifest")
	}
	if want.Issuer == "" || want.Audience == "" || want.ReceiptFor == "" || want.SHA256 == "" {
		return 0, fmt.Errorf("federation: verify receipt: the expected issuer, audience, jti and sha256 are all required")
	}
	skew := want.Skew
	if skew <= 0 {
		skew = DefaultSkew
	}
	if m.ExpiredAt(now, skew) {
		return 0, manifestUnavailable(m)
	}
	return skew, nil
}

// unverifiedReceipt is a receipt whose structure, claims' form, issuer and
// key were checked (prepare), its signature not yet.
type unverifiedReceipt struct {
	tok *jose.Token
	key *jose.PublicKey
	w   wireReceipt
}

// prepare runs the checks before the signature's.
func (u *unverifiedReceipt) prepare(raw []byte, m *Manifest, want *ExpectedReceipt, now time.Time, skew time.Duration) error {
	tok, err := jose.Parse(raw, TypReceipt)
	if err != nil {
		return joseErr(err)
	}
	w, err := decodeReceiptLike(tok.UnverifiedPayload(), want)
	if err != nil {
		return newErr(CodeBadEnvelope, "receipt claims do not decode strictly (an unknown, misspelt or repeated claim, or a claim of the wrong type)", err)
	}
	if w.Iss != want.Issuer {
		return newErr(CodeSenderMismatch, fmt.Sprintf("receipt issued by %q, expected %q", w.Iss, want.Issuer), nil)
	}
	key, err := senderKey(m, w.Iss, tok.Header().KID, now, skew)
	if err != nil {
		return err
	}
	u.tok, u.key, u.w = tok, key, w
	return nil
}

// finish runs the checks after the signature's, on authentic claims.
func (u *unverifiedReceipt) finish(raw []byte, want *ExpectedReceipt, now time.Time, skew time.Duration) (*Receipt, error) {
	w := &u.w
	if err := checkReceipt(w); err != nil {
		return nil, err
	}
	if w.Aud != want.Audience {
		return nil, newErr(CodeWrongAudience, fmt.Sprintf("receipt is addressed to %q, not %q", w.Aud, want.Audience), nil)
	}
	if w.ReceiptFor != want.ReceiptFor {
		return nil, newErr(CodeBadEnvelope, fmt.Sprintf("receipt is for jti %q, not %q", w.ReceiptFor, want.ReceiptFor), nil)
	}
	if w.SHA256 != want.SHA256 {
		return nil, newErr(CodeBadEnvelope, "receipt is for other envelope bytes (sha256 differs)", nil)
	}
	iat := fromUnix(w.Iat)
	if iat.After(now.Add(skew)) {
		return nil, newErr(CodeNotYetValid, fmt.Sprintf("receipt issued at %s, in the future", iat.Format(time.RFC3339)), nil)
	}
	return &Receipt{
		ReceiptClaims: ReceiptClaims{Issuer: w.Iss, Audience: w.Aud, IssuedAt: iat, ReceiptFor: w.ReceiptFor, SHA256: w.SHA256, Status: w.Status},
		KID:           u.key.KID(),
		raw:           append([]byte(nil), raw...),
	}, nil
}
