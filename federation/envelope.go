package federation

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

// TypEnvelope is the JWS "typ" of an envelope.
const TypEnvelope = "flx-envelope+jws"

// DefaultMaxTTL bounds exp - iat of an envelope unless Verifier.MaxTTL says
// otherwise. It is long because store-and-forward must survive days-long
// outages: a sender re-sends the same signed bytes until they are receipted,
// and the replay guard remembers each jti until its exp.
const DefaultMaxTTL = 7 * 24 * time.Hour

// Kind is an envelope kind.
type Kind string

// The envelope kinds.
const (
	KindCaseCreate     Kind = "case.create"
	KindCaseUpdate     Kind = "case.update"
	KindCaseResponse   Kind = "case.response"
	KindMessageDeliver Kind = "message.deliver"
	KindCaseWithdraw   Kind = "case.withdraw"
)

// Kinds lists every envelope kind that carries a case document (the
// coordination kinds are in CoordinationKinds).
var Kinds = []Kind{KindCaseCreate, KindCaseUpdate, KindCaseResponse, KindMessageDeliver, KindCaseWithdraw}

// Known reports whether k is one of Kinds, CoordinationKinds, MatchKinds or
// WitnessKinds.
func (k Kind) Known() bool {
	switch k {
	case KindCaseCreate, KindCaseUpdate, KindCaseResponse, KindMessageDeliver, KindCaseWithdraw,
		KindRelayForward, KindStatsReport, KindMatchQuery, KindMatchAnswer, KindAuditHead:
		return true
	}
	return false
}

// Claims are the signed content of an envelope. Times travel as JWT
// NumericDate (integer unix seconds); sub-second parts are dropped.
type Claims struct {
	Issuer    string          // iss: sending member id
	Audience  string          // aud: receiving member id
	IssuedAt  time.Time       // iat
	ExpiresAt time.Time       // exp
	JTI       string          // jti: unique per sender
	Kind      Kind            // kind
	CaseID    string          // case_id: required, see ValidCaseID (equality with body.case_id is the node's check)
	Body      json.RawMessage // body: the document for the kind, opaque to this package
}

// wireClaims is the JSON form. Decoding (decodeStrict) refuses unknown
// claims, claim names in other case and duplicated claims, so nothing can
// travel beside the body unchecked and every parser reads the same claims.
type wireClaims struct {
	Iss    string          `json:"iss"`
	Aud    string          `json:"aud"`
	Iat    int64           `json:"iat"`
	Exp    int64           `json:"exp"`
	JTI    string          `json:"jti"`
	Kind   Kind            `json:"kind"`
	CaseID string          `json:"case_id"`
	Body   json.RawMessage `json:"body"`
}

func (c *Claims) wire() wireClaims {
	return wireClaims{
		Iss: c.Issuer, Aud: c.Audience, Iat: unix(c.IssuedAt), Exp: unix(c.ExpiresAt),
		JTI: c.JTI, Kind: c.Kind, CaseID: c.CaseID, Body: c.Body,
	}
}

func (w *wireClaims) claims() Claims {
	return Claims{
		Issuer: w.Iss, Audience: w.Aud, IssuedAt: fromUnix(w.Iat), ExpiresAt: fromUnix(w.Exp),
		JTI: w.JTI, Kind: w.Kind, CaseID: w.CaseID, Body: w.Body,
	}
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// ValidCaseID reports whether id has the case id form
// ^[A-Z0-9][A-Z0-9-]{1,31}:[A-Za-z0-9._-]{1,64}$ (origin member id, a colon,
// the origin's local id).
func ValidCaseID(id string) bool {
	i := strings.IndexByte(id, ':')
	if i < 0 || !ValidMemberID(id[:i]) {
		return false
	}
	local := id[i+1:]
	if len(local) < 1 || len(local) > 64 {
		return false
	}
	for j := 0; j < len(local); j++ {
		switch c := local[j]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// validJTI: 1 to 128 printable ASCII characters without spaces.
func validJTI(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// NewJTI returns a fresh random jti (128 bits, base64url).
func NewJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Sign checks the claims and signs them as an envelope (compact JWS, header
// {"alg","kid","typ":"flx-envelope+jws"}) with signer. It refuses with
// bad_envelope what Verify would refuse as malformed: a missing or malformed
// iss, aud, jti, iat, exp, case_id (see ValidCaseID) or body, exp not after
// iat; and with unsupported_kind an unknown kind. It does not compare case_id
// with body.case_id (the body is opaque here; the node does).
func Sign(c Claims, signer *jose.PrivateKey) ([]byte, error) {
	w := c.wire()
	if err := checkClaims(&w); err != nil {
		return nil, err
	}
	if err := checkKind(w.Kind); err != nil {
		return nil, err
	}
	buf := payloadBufs.Get().(*[]byte)
	defer putPayloadBuf(buf)
	payload, ok := appendClaims((*buf)[:0], &w)
	if ok {
		*buf = payload
	} else {
		var err error
		if payload, err = json.Marshal(w); err != nil {
			return nil, newErr(CodeBadEnvelope, "claims do not encode", err)
		}
	}
	out, err := jose.Sign(payload, TypEnvelope, signer)
	if err != nil {
		return nil, fmt.Errorf("federation: sign envelope: %w", err)
	}
	return out, nil
}

// payloadBufs holds the buffers Sign writes claims into before jose.Sign
// encodes them (and keeps nothing of them): a signing node reuses a few
// instead of allocating one per envelope.
var payloadBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledPayload bounds the buffers kept, so one large envelope does not
// stay held.
const maxPooledPayload = 64 << 10

func putPayloadBuf(b *[]byte) {
	if cap(*b) <= maxPooledPayload {
		payloadBufs.Put(b)
	}
}

// checkClaims checks the claims' shape (not time or audience).
func checkClaims(w *wireClaims) error {
	switch {
	case w.Iss == "" || w.Aud == "" || w.JTI == "" || w.Kind == "" || w.CaseID == "":
		return newErr(CodeBadEnvelope, "iss, aud, jti, kind and case_id are required", nil)
	case !ValidMemberID(w.Iss) || !ValidMemberID(w.Aud):
		return newErr(CodeBadEnvelope, "iss and aud must be member ids", nil)
	case !validJTI(w.JTI):
		return newErr(CodeBadEnvelope, "jti must be 1-128 printable ASCII characters", nil)
	case !ValidCaseID(w.CaseID):
		return newErr(CodeBadEnvelope, "case_id must be <origin member id>:<local id> (^[A-Z0-9][A-Z0-9-]{1,31}:[A-Za-z0-9._-]{1,64}$)", nil)
	case w.Iat <= 0 || w.Exp <= 0:
		return newErr(CodeBadEnvelope, "iat and exp are required", nil)
	case w.Exp <= w.Iat:
		return newErr(CodeBadEnvelope, "exp must be after iat", nil)
	case len(w.Body) == 0 || string(w.Body) == "null":
		// Body is otherwise valid JSON: the decoder checked it on the way
		// in, and json.Marshal checks it on the way out.
		return newErr(CodeBadEnvelope, "body is required", nil)
	}
	return nil
}

func checkKind(k Kind) error {
	if !k.Known() {
		return newErr(CodeUnsupportedKind, fmt.Sprintf("unknown envelope kind %q", k), nil)
	}
	return nil
}

// Envelope is a verified envelope: its claims, the key that signed it, and
// the exact bytes received.
type Envelope struct {
	Claims
	KID string   // kid of the manifest key that verified it
	Alg jose.Alg // that key's algorithm

	raw    []byte
	sum    [sha256.Size]byte
	sumHex string // hex of sum, written once by Verify (CheckReplay and the receipt read it)
}

// Raw returns the exact bytes that were verified (do not modify them).
func (e *Envelope) Raw() []byte { return e.raw }

// SHA256 returns the lowercase hex SHA-256 of the exact envelope bytes, the
// value receipts bind to.
func (e *Envelope) SHA256() string {
	if e.sumHex != "" {
		return e.sumHex
	}
	return hex.EncodeToString(e.sum[:])
}

// ReplayKey returns the replay-guard key for a jti from iss. jti uniqueness
// is per sender, so keying by (iss, jti) keeps one member from burning
// another's jtis. Member ids contain no '/', so the key is unambiguous.
func ReplayKey(iss, jti string) string { return iss + "/" + jti }

// CheckReplay records the envelope in g under ReplayKey(iss, jti) and its
// hash: (false, nil) the first time, (true, nil) for the same bytes again,
// and a replay error for the same jti with other bytes.
func (e *Envelope) CheckReplay(ctx context.Context, g ReplayGuard) (dup bool, err error) {
	return g.Seen(ctx, ReplayKey(e.Issuer, e.JTI), e.SHA256(), e.ExpiresAt)
}

// Verifier verifies envelopes received by member Self against the current
// manifest.
type Verifier struct {
	Manifest ManifestSource
	Self     string           // this node's member id; aud must equal it
	Skew     time.Duration    // tolerated clock skew; 0 means DefaultSkew
	MaxTTL   time.Duration    // bound on exp - iat; 0 means DefaultMaxTTL
	Now      func() time.Time // nil means time.Now
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) skew() time.Duration {
	if v.Skew > 0 {
		return v.Skew
	}
	return DefaultSkew
}

func (v *Verifier) maxTTL() time.Duration {
	if v.MaxTTL > 0 {
		return v.MaxTTL
	}
	return DefaultMaxTTL
}

// Verify checks one envelope. authenticatedPeer is the member authenticated
// by mTLS ("" when the envelope did not arrive over the federation listener,
// e.g. re-verifying a stored one). Refusals, in the order checked:
//
//   - unavailable: the held manifest has expired (Manifest.ExpiredAt with
//     Skew) and nothing newer is held; nothing is checked against it
//     (FLX-MAN-006; the node answers 503 with Retry-After);
//   - bad_envelope: not a canonical compact JWS with one signature; a header
//     member other than alg/kid/typ (jwk, jku, x5u, x5c, crit, ... included);
//     typ not flx-envelope+jws; no kid; claims that do not decode strictly
//     (unknown claims, a claim name in other case such as "ISS", a claim
//     twice, a member twice in any object outside body, a claim of the wrong
//     JSON type); no iss;
//   - unsupported_alg: alg not EdDSA or ES256 (none, HS*, RS*, ...);
//   - sender_mismatch: authenticatedPeer set and iss differs from it;
//   - unknown_key: iss is no member; kid is not one of iss's keys (a kid of
//     ANOTHER member gets unknown_key too: keys are looked up among the
//     sender's keys only, never the whole manifest); the key is outside its
//     nbf/exp (widened by Skew);
//   - suspended_member: iss is suspended;
//   - unsupported_alg: alg is not the one pinned on the key;
//   - bad_signature: the signature does not verify;
//   - bad_envelope: missing aud, jti, kind, iat, exp, case_id or body;
//     malformed iss, aud, jti or case_id; exp not after iat; exp - iat over
//     MaxTTL;
//   - wrong_audience: aud is not Self;
//   - expired: exp at or before now - Skew;
//   - not_yet_valid: iat after now + Skew;
//   - unsupported_kind: kind is not one of Kinds, CoordinationKinds or
//     MatchKinds.
//
// Whether the recipient accepts the kind, whether case_id equals
// body.case_id, and whether the body is valid (duplicate member names inside
// the body included: schema_invalid, FLX-SCH-002) is the caller's decision.
// Claims are only trusted after the signature check: iss is read before it
// solely to choose the keys to verify with.
//
// Verify keeps the claims in the claims memo (see ClaimsOf), the envelope
// being about to be read again.
func (v *Verifier) Verify(ctx context.Context, raw []byte, authenticatedPeer string) (*Envelope, error) {
	env, err := v.VerifyUnkept(ctx, raw, authenticatedPeer)
	if err != nil {
		return nil, err
	}
	// The envelope holds a copy of raw, which the memo keeps too.
	env.raw = bytes.Clone(raw)
	memo.put(env.raw, env.Claims)
	return env, nil
}

// VerifyUnkept is [Verifier.Verify], every check the same, without keeping
// the claims in the claims memo: for a receiver that hands the claims on
// itself or applies the envelope at once, and keeps (Remember) only those
// of the envelopes left to be read again. raw is the envelope's: the
// caller must not change it while the Envelope is in use.
func (v *Verifier) VerifyUnkept(ctx context.Context, raw []byte, authenticatedPeer string) (*Envelope, error) {
	m, now, skew, err := v.begin(ctx)
	if err != nil {
		return nil, err
	}
	var u unverified
	if err := v.prepare(&u, m, raw, authenticatedPeer, now, skew); err != nil {
		return nil, err
	}
	if _, err := u.tok.Verify(u.key); err != nil {
		return nil, joseErr(err)
	}
	return v.finish(&u, raw, now, skew)
}

// VerifyBatch is [Verifier.VerifyUnkept] for each envelope of raws, every
// check the same and in the same order, all against one manifest, with the
// signatures checked together (jose.VerifyAll: the Ed25519 signatures of a
// batch, usually all by one origin key, in one equation that costs a
// fraction of checking each). envs[i] and errs[i] are what VerifyUnkept
// returns for raws[i]: a forged envelope is refused alone, with
// bad_signature, and the others are accepted. err is for the whole batch
// (the context, no manifest, or an expired one: unavailable), as
// VerifyUnkept would return it for each.
func (v *Verifier) VerifyBatch(ctx context.Context, raws [][]byte, authenticatedPeer string) (envs []*Envelope, errs []error, err error) {
	m, now, skew, err := v.begin(ctx)
	if err != nil {
		return nil, nil, err
	}
	us := make([]unverified, len(raws))
	errs = make([]error, len(raws))
	toks := make([]*jose.Token, 0, len(raws))
	keys := make([]*jose.PublicKey, 0, len(raws))
	idx := make([]int, 0, len(raws))
	for i, raw := range raws {
		if errs[i] = v.prepare(&us[i], m, raw, authenticatedPeer, now, skew); errs[i] == nil {
			toks, keys, idx = append(toks, us[i].tok), append(keys, us[i].key), append(idx, i)
		}
	}
	envs = make([]*Envelope, len(raws))
	for j, serr := range jose.VerifyAll(toks, keys) {
		i := idx[j]
		if serr != nil {
			errs[i] = joseErr(serr)
			continue
		}
		envs[i], errs[i] = v.finish(&us[i], raws[i], now, skew)
	}
	return envs, errs, nil
}

// unverified is an envelope whose structure, claims' form and key were
// checked (prepare), its signature not yet.
type unverified struct {
	tok *jose.Token
	key *jose.PublicKey
	w   wireClaims
}

// begin checks what every envelope is checked against: the context and
// the manifest held, not expired (FLX-MAN-006).
func (v *Verifier) begin(ctx context.Context) (m *Manifest, now time.Time, skew time.Duration, err error) {
	if err := ctx.Err(); err != nil {
		return nil, now, 0, err
	}
	if v.Manifest == nil || v.Self == "" {
		return nil, now, 0, errors.New("federation: verifier needs a manifest source and Self")
	}
	m = v.Manifest.Current()
	if m == nil {
		return nil, now, 0, errors.New("federation: no manifest held")
	}
	now, skew = v.now(), v.skew()
	if m.ExpiredAt(now, skew) {
		return nil, now, 0, manifestUnavailable(m)
	}
	return m, now, skew, nil
}

// prepare runs the checks before the signature's: the JWS, the claims'
// strict decoding, iss against the authenticated peer, and the key.
func (v *Verifier) prepare(u *unverified, m *Manifest, raw []byte, authenticatedPeer string, now time.Time, skew time.Duration) error {
	tok, err := jose.Parse(raw, TypEnvelope)
	if err != nil {
		return joseErr(err)
	}
	if err := decodeOwnedClaims(tok.UnverifiedPayload(), &u.w); err != nil {
		return newErr(CodeBadEnvelope, "claims do not decode strictly (an unknown, misspelt or repeated claim, or a claim of the wrong type)", err)
	}
	if u.w.Iss == "" {
		return newErr(CodeBadEnvelope, "iss is required", nil)
	}
	if authenticatedPeer != "" && u.w.Iss != authenticatedPeer {
		return newErr(CodeSenderMismatch, fmt.Sprintf("iss %q is not the authenticated peer %q", u.w.Iss, authenticatedPeer), nil)
	}
	key, err := senderKey(m, u.w.Iss, tok.Header().KID, now, skew)
	if err != nil {
		return err
	}
	u.tok, u.key = tok, key
	return nil
}

// finish runs the checks after the signature's, on authentic claims.
func (v *Verifier) finish(u *unverified, raw []byte, now time.Time, skew time.Duration) (*Envelope, error) {
	w := &u.w
	if err := checkClaims(w); err != nil {
		return nil, err
	}
	if w.Exp-w.Iat > int64(v.maxTTL()/time.Second) {
		return nil, newErr(CodeBadEnvelope, fmt.Sprintf("lifetime exp - iat exceeds %s", v.maxTTL()), nil)
	}
	if w.Aud != v.Self {
		return nil, newErr(CodeWrongAudience, fmt.Sprintf("aud %q is not this member (%q)", w.Aud, v.Self), nil)
	}
	c := w.claims()
	if !now.Add(-skew).Before(c.ExpiresAt) {
		return nil, newErr(CodeExpired, fmt.Sprintf("envelope expired at %s", c.ExpiresAt.Format(time.RFC3339)), nil)
	}
	if c.IssuedAt.After(now.Add(skew)) {
		return nil, newErr(CodeNotYetValid, fmt.Sprintf("envelope issued at %s, in the future", c.IssuedAt.Format(time.RFC3339)), nil)
	}
	if err := checkKind(c.Kind); err != nil {
		return nil, err
	}
	env := &Envelope{Claims: c, KID: u.key.KID(), Alg: u.key.Alg(), raw: raw}
	env.sum = sha256.Sum256(raw)
	env.sumHex = hex.EncodeToString(env.sum[:])
	return env, nil
}

// Remember keeps the claims of a verified envelope in the claims memo, so
// that reading its bytes again (ClaimsOf, the inbox processor) finds the
// claims Verify parsed instead of parsing the JWS a second time. The memo
// keeps a copy of the envelope's bytes.
func Remember(env *Envelope) {
	memo.put(bytes.Clone(env.raw), env.Claims)
}

// manifestUnavailable is the refusal of anything checked against an expired
// manifest.
func manifestUnavailable(m *Manifest) error {
	return newErr(CodeUnavailable,
		"the federation manifest this node holds has expired; retry once it holds a newer one",
		fmt.Errorf("manifest %q version %d expired at %s", m.Federation, m.Version, m.ExpiresAt.Format(time.RFC3339)))
}

// senderKey finds the key named kid among iss's keys, valid at now.
func senderKey(m *Manifest, iss, kid string, now time.Time, skew time.Duration) (*jose.PublicKey, error) {
	mb, ok := m.Member(iss)
	if !ok {
		return nil, newErr(CodeUnknownKey, fmt.Sprintf("%q is not a member of the federation", iss), nil)
	}
	if mb.Status != StatusActive {
		return nil, newErr(CodeSuspendedMember, fmt.Sprintf("member %q is suspended", iss), nil)
	}
	key := mb.JWKS.Key(kid)
	if key == nil {
		if owner, _, ok := m.KeyByKID(kid); ok {
			return nil, newErr(CodeUnknownKey, fmt.Sprintf("kid %q is not a key of %q", kid, iss), fmt.Errorf("kid belongs to %q", owner.ID))
		}
		return nil, newErr(CodeUnknownKey, fmt.Sprintf("kid %q is not a key of %q", kid, iss), nil)
	}
	if !key.ValidAt(now, skew) {
		return nil, newErr(CodeUnknownKey, fmt.Sprintf("key %q of %q is not valid now (nbf/exp)", kid, iss), nil)
	}
	return key, nil
}

// joseErr maps a jose failure to its code.
func joseErr(err error) error {
	switch {
	case errors.Is(err, jose.ErrUnsupportedAlg):
		return newErr(CodeUnsupportedAlg, "algorithm not allowed (EdDSA or ES256 only)", err)
	case errors.Is(err, jose.ErrAlgMismatch):
		return newErr(CodeUnsupportedAlg, "algorithm is not the one pinned on the key", err)
	case errors.Is(err, jose.ErrBadSignature):
		return newErr(CodeBadSignature, "signature does not verify", err)
	case errors.Is(err, jose.ErrUnknownKey):
		return newErr(CodeUnknownKey, "unknown key", err)
	case errors.Is(err, jose.ErrForbiddenHeader):
		return newErr(CodeBadEnvelope, "header parameter not allowed (only alg, kid, typ)", err)
	case errors.Is(err, jose.ErrWrongType):
		return newErr(CodeBadEnvelope, "wrong JWS typ", err)
	case errors.Is(err, jose.ErrMissingKID):
		return newErr(CodeBadEnvelope, "kid is required", err)
	}
	return newErr(CodeBadEnvelope, "malformed JWS", err)
}
