package conformance

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
)

// Edges, single faults and exact media types (SPEC.md §13.3): every limit
// is probed just inside and just outside its edge, every refusal where it is
// the only fault, and every media type the SPEC names against near misses.

// checkClaimEdges checks the edges of the claim limits: exp − iat of exactly
// MAX_TTL and a jti of 128 characters are accepted; MAX_TTL + 1 s and 129
// characters are refused with bad_envelope.
func checkClaimEdges(t *T) {
	maxTTL := int64(federation.DefaultMaxTTL / time.Second)
	c := t.valid()
	c.Exp = c.Iat + maxTTL
	raw := t.sign(c, keyTester)
	if _, err := t.checkReceipt(t.post(t, raw), raw, c, federation.ReceiptAccepted); err != nil {
		t.Errorf("exp - iat = MAX_TTL (%d s): %v", maxTTL, err)
	}
	c = t.valid()
	c.JTI = strings.Repeat("j", 100) + federation.NewJTI()[:22] + "jjjjjj"
	raw = t.sign(c, keyTester)
	if _, err := t.checkReceipt(t.post(t, raw), raw, c, federation.ReceiptAccepted); err != nil {
		t.Errorf("a jti of 128 characters: %v", err)
	}
	c = t.valid()
	c.Exp = c.Iat + maxTTL + 1
	if _, err := shouldRefuse(t.post(t, t.sign(c, keyTester)), "bad_envelope"); err != nil {
		t.Errorf("exp - iat = MAX_TTL + 1 s: %v", err)
	}
	c = t.valid()
	c.JTI = strings.Repeat("j", 107) + federation.NewJTI()[:22]
	if _, err := shouldRefuse(t.post(t, t.sign(c, keyTester)), "bad_envelope"); err != nil {
		t.Errorf("a jti of 129 characters: %v", err)
	}
}

// oneContentFlaw are envelopes with one content fault each; the check
// breaks their signatures, so that bad_signature is the only right answer.
func (t *T) oneContentFlaw() map[string]Claims {
	now := t.now()
	out := map[string]Claims{}
	c := t.valid()
	c.Aud = MemberPeer
	out["wrong aud"] = c
	c = t.valid()
	c.Iat, c.Exp = now.Add(-3*time.Hour).Unix(), now.Add(-2*time.Hour).Unix()
	out["expired"] = c
	c = t.valid()
	c.Iat, c.Exp = now.Add(2*time.Hour).Unix(), now.Add(3*time.Hour).Unix()
	out["issued in the future"] = c
	c = t.valid()
	c.Exp = c.Iat + 8*24*3600
	out["exp - iat over MAX_TTL"] = c
	c = t.valid()
	c.Kind = "case.delete"
	out["unknown kind"] = c
	c = t.valid()
	c.CaseID = newCaseID(MemberTester)
	out["case_id differs from body.case_id"] = c
	c = t.valid()
	c.Body = json.RawMessage(fmt.Sprintf(`{"schema":"flx/v1/case","case_id":%q}`, c.CaseID))
	out["invalid body"] = c
	other := newCaseID(MemberPeer)
	out["case.create of another origin's case"] = t.claims(federation.KindCaseCreate, caseDoc(other, MemberPeer))
	out["withdrawal request from a non-origin"] = t.claims(federation.KindCaseWithdraw, withdrawalDoc(other))
	return out
}

// checkSignatureBeforeEveryCheck checks that an envelope with a broken
// signature and exactly one other fault (wrong aud, expired, future iat,
// lifetime over MAX_TTL, unknown kind, case_id mismatch, invalid body,
// another origin's case, a non-origin's withdrawal) gets bad_signature: no
// cheaper check hides the failed signature.
func checkSignatureBeforeEveryCheck(t *T) {
	for name, c := range t.oneContentFlaw() {
		raw := t.sign(c, keyTester)
		parts := strings.Split(string(raw), ".")
		sig, _ := b64.DecodeString(parts[2])
		sig[len(sig)/2] ^= 0x01
		bad := []byte(parts[0] + "." + parts[1] + "." + b64.EncodeToString(sig))
		if _, err := shouldRefuse(t.post(t, bad), "bad_signature"); err != nil {
			t.Errorf("%s, signature broken: %v", name, err)
		}
	}
}

// nearMissMediaTypes look like application/jose but are other media types.
var nearMissMediaTypes = []string{
	"application/jose+json", "application/josex", "application/jwt", "application/x-jose", "text/jose",
	"application/jose-envelope", "application/json+jose",
}

// checkNearMissMediaTypes checks that a valid envelope sent with a media
// type that only resembles application/jose is refused with bad_envelope.
func checkNearMissMediaTypes(t *T) {
	for _, ct := range nearMissMediaTypes {
		raw, _ := t.validCase()
		if _, err := shouldRefuse(t.postAs(t, certTester, raw, ct), "bad_envelope"); err != nil {
			t.Errorf("Content-Type %q: %v", ct, err)
		}
	}
}

// accepts reports whether the manifest lists kind among the candidate's
// accepted kinds (conformance init --accepts).
func (t *T) accepts(kind federation.Kind) bool {
	return slices.Contains(t.id.Candidate().Accepts, kind)
}

// validOf returns a valid envelope of kind from the tester.
func (t *T) validOf(kind federation.Kind) ([]byte, Claims) {
	id := newCaseID(MemberTester)
	switch kind {
	case federation.KindCaseResponse:
		return t.envelope(kind, responseDoc(newCaseID(t.candidate), MemberTester))
	case federation.KindMessageDeliver:
		return t.envelope(kind, messageDoc(id))
	case federation.KindCaseWithdraw:
		return t.envelope(kind, withdrawalDoc(id))
	}
	return t.envelope(kind, caseDoc(id, MemberTester))
}

// checkUnacceptedKinds checks that a valid envelope of each case kind the
// manifest does not list for the candidate is refused with
// unsupported_kind. It needs a candidate set up with kinds left out
// (conformance init --accepts); otherwise it is skipped.
func checkUnacceptedKinds(t *T) {
	var left []federation.Kind
	for _, k := range federation.Kinds {
		if !t.accepts(k) {
			left = append(left, k)
		}
	}
	if len(left) == 0 {
		t.Skipf("the candidate accepts every kind: set it up with conformance init --accepts to check the kinds it leaves out")
	}
	for _, k := range left {
		raw, _ := t.validOf(k)
		if _, err := shouldRefuse(t.post(t, raw), "unsupported_kind"); err != nil {
			t.Errorf("%s, which the candidate does not accept: %v", k, err)
		}
	}
}
