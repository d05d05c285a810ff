package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
)

// The media types of the two layers.
const (
	TypEncrypted = "flx-bundle+jwe"
	TypSigned    = "flx-bundle+jws"
)

// Bounds.
const (
	DefaultTTL      = 30 * 24 * time.Hour // lifetime of a bundle unless Seal says otherwise
	MaxTTL          = 90 * 24 * time.Hour // the longest a bundle may be imported after its iat
	DefaultMaxBytes = 64 << 20            // the largest bundle file
	MaxItems        = 20000               // envelopes, receipts and refusals in one bundle
)

// Refusal says that the exporter refused an envelope the recipient had sent
// it (with a code that is not retried): the recipient dead-letters it.
type Refusal struct {
	JTI    string          `json:"jti"`
	SHA256 string          `json:"sha256"`
	Code   federation.Code `json:"code"`
}

// Contents is what a bundle carries.
type Contents struct {
	Envelopes [][]byte  // envelopes signed by the exporter for the recipient
	Receipts  [][]byte  // receipts signed by the exporter for envelopes the recipient sent
	Refusals  []Refusal // envelopes the recipient sent that the exporter refused
}

// wireClaims is the signed payload.
type wireClaims struct {
	Iss       string    `json:"iss"`
	Aud       string    `json:"aud"`
	Iat       int64     `json:"iat"`
	Exp       int64     `json:"exp"`
	JTI       string    `json:"jti"`
	Envelopes []string  `json:"envelopes"`
	Receipts  []string  `json:"receipts"`
	Refusals  []Refusal `json:"refusals"`
}

// SealOptions say who exports to whom.
type SealOptions struct {
	From   string           // the exporter (this member)
	To     string           // the recipient
	Signer *jose.PrivateKey // a current signing key of From
	// EncryptTo is the recipient's encryption key: Manifest.EncKeyFor(To, Now).
	EncryptTo *jose.EncPublicKey
	Now       time.Time
	TTL       time.Duration // 0: DefaultTTL; at most MaxTTL
	JTI       string        // "": a fresh random id
	MaxBytes  int64         // 0: DefaultMaxBytes
}

// Seal signs and encrypts c as a bundle file from o.From to o.To. Every
// envelope must be signed by From for To and every receipt issued by From to
// To (read without verification: the exporter signed them itself); the
// bundle must fit MaxItems and MaxBytes, or the caller splits it.
func Seal(c Contents, o SealOptions) ([]byte, error) {
	switch {
	case !federation.ValidMemberID(o.From) || !federation.ValidMemberID(o.To) || o.From == o.To:
		return nil, errors.New("bundle: From and To must be two member ids")
	case o.Signer == nil || o.EncryptTo == nil || o.Now.IsZero():
		return nil, errors.New("bundle: a signer, the recipient's encryption key and the time are required")
	case o.TTL > MaxTTL:
		return nil, fmt.Errorf("bundle: a bundle lives at most %s", MaxTTL)
	case len(c.Envelopes)+len(c.Receipts)+len(c.Refusals) > MaxItems:
		return nil, fmt.Errorf("bundle: at most %d items in one bundle; split it", MaxItems)
	}
	ttl := o.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	jti := o.JTI
	if jti == "" {
		jti = federation.NewJTI()
	}
	w := wireClaims{Iss: o.From, Aud: o.To, Iat: o.Now.Unix(), Exp: o.Now.Add(ttl).Unix(), JTI: jti,
		Envelopes: make([]string, 0, len(c.Envelopes)), Receipts: make([]string, 0, len(c.Receipts)), Refusals: c.Refusals}
	if w.Refusals == nil {
		w.Refusals = []Refusal{}
	}
	for i, e := range c.Envelopes {
		iss, aud, err := peek(e)
		if err != nil || iss != o.From || aud != o.To {
			return nil, fmt.Errorf("bundle: envelope %d is not from %s to %s", i, o.From, o.To)
		}
		w.Envelopes = append(w.Envelopes, string(e))
	}
	for i, r := range c.Receipts {
		iss, aud, err := peek(r)
		if err != nil || iss != o.From || aud != o.To {
			return nil, fmt.Errorf("bundle: receipt %d is not from %s to %s", i, o.From, o.To)
		}
		w.Receipts = append(w.Receipts, string(r))
	}
	for i, r := range c.Refusals {
		if r.JTI == "" || r.Code.Retryable() || len(r.SHA256) != 64 {
			return nil, fmt.Errorf("bundle: refusal %d needs a jti, a sha256 and a code that is not retried", i)
		}
	}
	payload, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("bundle: encode: %w", err)
	}
	signed, err := jose.Sign(payload, TypSigned, o.Signer)
	if err != nil {
		return nil, fmt.Errorf("bundle: sign: %w", err)
	}
	out, err := jose.Encrypt(signed, TypEncrypted, TypSigned, o.EncryptTo)
	if err != nil {
		return nil, fmt.Errorf("bundle: encrypt: %w", err)
	}
	max := o.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	if int64(len(out)) > max {
		return nil, fmt.Errorf("bundle: %d bytes, more than %d; split it", len(out), max)
	}
	return out, nil
}

// peek reads iss and aud of a compact JWS without verifying it.
func peek(raw []byte) (iss, aud string, err error) {
	parts := bytes.Split(raw, []byte("."))
	if len(parts) != 3 {
		return "", "", errors.New("not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(string(parts[1]))
	if err != nil {
		return "", "", err
	}
	var c struct {
		Iss string `json:"iss"`
		Aud string `json:"aud"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", "", err
	}
	return c.Iss, c.Aud, nil
}

// Opener opens bundles for member Self.
type Opener struct {
	Self     string
	Manifest federation.ManifestSource
	// Keys are this member's private encryption keys: the current one and
	// any rotated out while bundles to them may still be in transit.
	Keys     []*jose.EncPrivateKey
	Skew     time.Duration    // 0: federation.DefaultSkew
	Now      func() time.Time // nil: time.Now
	MaxBytes int64            // 0: DefaultMaxBytes
}

func (o *Opener) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Opener) skew() time.Duration {
	if o.Skew > 0 {
		return o.Skew
	}
	return federation.DefaultSkew
}

// Opened is a bundle whose file, signature and addressing were verified.
// Each item carries its own verdict: one bad envelope does not refuse the
// others (as separate POSTs would not).
type Opened struct {
	From      string // the exporter (signed iss)
	To        string // this member
	JTI       string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// SHA256 is the hex SHA-256 of the signed bundle (the decrypted JWS):
	// the same bundle re-encrypted has the same SHA256.
	SHA256    string
	Envelopes []Item
	Receipts  []ReceiptItem
	Refusals  []Refusal

	manifest *federation.Manifest
	skew     time.Duration
}

// Item is one envelope of a bundle.
type Item struct {
	Raw []byte
	// Envelope is the envelope verified as sent by the exporter to this
	// member at the bundle's iat (nil when Err is set).
	Envelope *federation.Envelope
	// Err is the refusal, with the code a POST of these bytes would have
	// been refused with.
	Err error
	// RememberUntil is how long its replay record must be kept: until the
	// later of its exp and the bundle's, plus the skew.
	RememberUntil time.Time
}

// ReceiptItem is one receipt of a bundle. Match it to what this member sent
// (ReceiptFor) and check it with Opened.VerifyReceipt.
type ReceiptItem struct {
	Raw        []byte
	ReceiptFor string // the jti it claims to receipt (unverified until VerifyReceipt)
	Err        error  // set when it cannot be a receipt of the exporter for this member
}

// Open verifies a bundle file. Refusals of the whole bundle, in order:
//
//   - too_large: over MaxBytes;
//   - bad_bundle: not one compact JWE (an optional final newline aside) of
//     typ flx-bundle+jwe with cty flx-bundle+jws and the one algorithm pair
//     (a truncated file lands here);
//   - wrong_audience: encrypted to a key this member does not hold (a bundle
//     for someone else);
//   - bad_bundle: it does not decrypt (tampered ciphertext, tag, IV, key or
//     header), or the plaintext is not a JWS of typ flx-bundle+jws whose
//     claims decode strictly;
//   - unavailable: the held manifest has expired;
//   - not_yet_valid / expired: iat later than now + skew, exp at or before
//     now - skew; bad_bundle: exp - iat over MaxTTL or not positive;
//   - unknown_key (the signer is not a member, or the kid is not one of its
//     keys valid at iat), suspended_member, unsupported_alg, bad_signature;
//   - wrong_audience: signed for another member (aud), even though it was
//     encrypted to this one (re-encrypted after someone else opened it).
//
// Then every item is checked on its own (Item.Err, ReceiptItem.Err).
func (o *Opener) Open(ctx context.Context, file []byte) (*Opened, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	max := o.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	if int64(len(file)) > max {
		return nil, federation.NewError(federation.CodeTooLarge, fmt.Sprintf("a bundle is at most %d bytes", max), nil)
	}
	file = bytes.TrimSuffix(file, []byte("\n"))
	enc, err := jose.ParseJWE(file, TypEncrypted)
	if err != nil {
		return nil, federation.NewError(federation.CodeBadBundle, "not an FLX bundle file (malformed or truncated)", err)
	}
	if enc.Header().Cty != TypSigned {
		return nil, federation.NewError(federation.CodeBadBundle, "the bundle's content type is not "+TypSigned, nil)
	}
	var key *jose.EncPrivateKey
	for _, k := range o.Keys {
		if k != nil && k.KID() == enc.Header().KID {
			key = k
		}
	}
	if key == nil {
		return nil, federation.NewError(federation.CodeWrongAudience, "the bundle is encrypted to a key this member does not hold", fmt.Errorf("kid %q", enc.Header().KID))
	}
	signed, err := enc.Decrypt(key)
	if err != nil {
		return nil, federation.NewError(federation.CodeBadBundle, "the bundle does not decrypt (tampered, truncated, or not for this key)", err)
	}
	m := o.Manifest.Current()
	if m == nil {
		return nil, errors.New("bundle: no manifest held")
	}
	now, skew := o.now(), o.skew()
	if m.ExpiredAt(now, skew) {
		return nil, federation.NewError(federation.CodeUnavailable, "the federation manifest this node holds has expired", nil)
	}
	// The times first (to know at which instant the signing key must be
	// valid), from claims that are trusted only once the signature holds.
	tok, err := jose.Parse(signed, TypSigned)
	if err != nil {
		return nil, federation.NewError(federation.CodeBadBundle, "the decrypted bundle is not a signed bundle", err)
	}
	var peeked wireClaims
	if err := federation.DecodeStrict(tok.UnverifiedPayload(), &peeked); err != nil {
		return nil, federation.NewError(federation.CodeBadBundle, "the bundle's claims do not decode strictly", err)
	}
	iat, exp := time.Unix(peeked.Iat, 0).UTC(), time.Unix(peeked.Exp, 0).UTC()
	switch {
	case peeked.Iat <= 0 || peeked.Exp <= peeked.Iat || exp.Sub(iat) > MaxTTL:
		return nil, federation.NewError(federation.CodeBadBundle, fmt.Sprintf("a bundle's exp must follow its iat by at most %s", MaxTTL), nil)
	case iat.After(now.Add(skew)):
		return nil, federation.NewError(federation.CodeNotYetValid, "the bundle was issued in the future", nil)
	case !now.Add(-skew).Before(exp):
		return nil, federation.NewError(federation.CodeExpired, "the bundle has expired", nil)
	}
	var w wireClaims
	from, _, err := m.VerifySigned(signed, TypSigned, iat, skew, &w)
	if err != nil {
		if federation.CodeOf(err) == federation.CodeBadEnvelope {
			return nil, federation.NewError(federation.CodeBadBundle, "the bundle's signature or claims are malformed", err)
		}
		return nil, err
	}
	if w.Aud != o.Self {
		return nil, federation.NewError(federation.CodeWrongAudience, fmt.Sprintf("the bundle is for %q, not this member", w.Aud), nil)
	}
	if !federation.ValidMemberID(w.Aud) || w.JTI == "" || len(w.JTI) > 128 || w.Envelopes == nil || w.Receipts == nil || w.Refusals == nil {
		return nil, federation.NewError(federation.CodeBadBundle, "the bundle's claims are incomplete", nil)
	}
	if len(w.Envelopes)+len(w.Receipts)+len(w.Refusals) > MaxItems {
		return nil, federation.NewError(federation.CodeBadBundle, fmt.Sprintf("a bundle holds at most %d items", MaxItems), nil)
	}
	sum := sha256.Sum256(signed)
	op := &Opened{From: from, To: o.Self, JTI: w.JTI, IssuedAt: iat, ExpiresAt: exp, SHA256: hex.EncodeToString(sum[:]),
		Refusals: w.Refusals, manifest: m, skew: skew}

	v := &federation.Verifier{Manifest: federation.StaticManifest(m), Self: o.Self, Skew: skew, Now: func() time.Time { return iat }}
	// The envelopes, all from one member, are verified together
	// (VerifyBatch: their signatures in a few equations), each with its
	// own verdict, and kept in the claims memo as Verify keeps them.
	raws := make([][]byte, len(w.Envelopes))
	for i, e := range w.Envelopes {
		raws[i] = []byte(e)
	}
	envs, errs, err := v.VerifyBatch(ctx, raws, from)
	for i, raw := range raws {
		it := Item{Raw: raw}
		switch {
		case err != nil:
			it.Err = err
		case errs[i] != nil:
			it.Err = errs[i]
		default:
			it.Envelope = envs[i]
			federation.Remember(it.Envelope)
			it.RememberUntil = later(it.Envelope.ExpiresAt, exp).Add(skew)
		}
		op.Envelopes = append(op.Envelopes, it)
	}
	for _, r := range w.Receipts {
		it := ReceiptItem{Raw: []byte(r)}
		iss, jti, err := federation.PeekReceipt(it.Raw)
		switch {
		case err != nil:
			it.Err = err
		case iss != from:
			it.Err = federation.NewError(federation.CodeSenderMismatch, fmt.Sprintf("a receipt by %q in a bundle from %q", iss, from), nil)
		default:
			it.ReceiptFor = jti
		}
		op.Receipts = append(op.Receipts, it)
	}
	for i, r := range op.Refusals {
		if r.JTI == "" || r.Code.Retryable() || len(r.SHA256) != 64 {
			return nil, federation.NewError(federation.CodeBadBundle, fmt.Sprintf("refusal %d needs a jti, a sha256 and a code that is not retried", i), nil)
		}
	}
	return op, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// VerifyReceipt checks one of the bundle's receipts against what this member
// sent (federation.VerifyReceipt, at the bundle's iat): signed by the
// exporter, for this member, for that jti and those exact bytes.
func (op *Opened) VerifyReceipt(raw []byte, want federation.ExpectedReceipt) (*federation.Receipt, error) {
	if want.Skew <= 0 {
		want.Skew = op.skew
	}
	return federation.VerifyReceipt(raw, op.manifest, want, op.IssuedAt)
}

// ReplayKey is the key under which a bundle is remembered: its exporter and
// jti ("bundle/" + iss + "/" + jti; no member id is "bundle").
func (op *Opened) ReplayKey() string { return "bundle/" + op.From + "/" + op.JTI }

// CheckReplay records the bundle in g until its exp + skew: (false, nil) the
// first time, (true, nil) for the same signed bundle again (import it again:
// every envelope comes out a duplicate), and a replay error for the same jti
// with other content.
func (op *Opened) CheckReplay(ctx context.Context, g federation.ReplayGuard) (dup bool, err error) {
	return g.Seen(ctx, op.ReplayKey(), op.SHA256, op.ExpiresAt)
}

// CheckReplay records the envelope in g like Envelope.CheckReplay, but until
// RememberUntil, so that a copy of the bundle imported after the envelope's
// own exp (still valid: it is judged at the bundle's iat) is a duplicate.
func (it *Item) CheckReplay(ctx context.Context, g federation.ReplayGuard) (dup bool, err error) {
	if it.Envelope == nil {
		return false, errors.New("bundle: the item was refused")
	}
	return g.Seen(ctx, federation.ReplayKey(it.Envelope.Issuer, it.Envelope.JTI), it.Envelope.SHA256(), later(it.Envelope.ExpiresAt, it.RememberUntil))
}
