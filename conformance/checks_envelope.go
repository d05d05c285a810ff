package conformance

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
)

// Keys (SPEC.md §4) and the envelope (§5).

// refuseEach sends each crafted envelope and requires each to be refused
// with code.
func refuseEach(t *T, code string, raws [][]byte) {
	for i, raw := range raws {
		ans := t.post(t, raw)
		if _, err := shouldRefuse(ans, code); err != nil {
			t.Errorf("variant %d: %v", i+1, err)
		}
	}
}

func one(b []byte) [][]byte { return [][]byte{b} }

// valid returns well-formed claims of a case.create from the tester.
func (t *T) valid() Claims {
	return t.claims(federation.KindCaseCreate, caseDoc(newCaseID(MemberTester), MemberTester))
}

func (t *T) testerSigner() *rawSigner { return signerOf(t.id.Keys[keyTester]) }

// withPayload signs a raw payload with the tester's key and a good header.
func (t *T) withPayload(p string) []byte { return t.signPayload([]byte(p), keyTester) }

// claimsJSON renders claims with replacements: members set to nil are
// left out; other values replace (or add) members, in order.
func claimsJSON(c Claims, repl ...any) string {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(c.payload(), &m)
	order := []string{"iss", "aud", "iat", "exp", "jti", "kind", "case_id", "body"}
	for i := 0; i+1 < len(repl); i += 2 {
		k := repl[i].(string)
		if repl[i+1] == nil {
			delete(m, k)
			continue
		}
		if _, ok := m[k]; !ok {
			order = append(order, k)
		}
		if raw, ok := repl[i+1].(json.RawMessage); ok {
			m[k] = raw
		} else {
			b, _ := json.Marshal(repl[i+1])
			m[k] = b
		}
	}
	var sb strings.Builder
	sb.WriteByte('{')
	first := true
	for _, k := range order {
		v, ok := m[k]
		if !ok {
			continue
		}
		if !first {
			sb.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&sb, "%q:%s", k, v)
	}
	sb.WriteByte('}')
	return sb.String()
}

// checkEd25519AndP256Accepted checks that envelopes signed with the tester's
// Ed25519 key and with its P-256 key are both accepted.
func checkEd25519AndP256Accepted(t *T) {
	for _, key := range []string{keyTester, keyTesterP256} {
		c := t.valid()
		raw := t.sign(c, key)
		t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
	}
}

// checkEmbeddedKeyRefused checks that a header carrying jwk, jku, x5u, x5c or
// x5t is refused with bad_envelope.
func checkEmbeddedKeyRefused(t *T) {
	s := t.testerSigner()
	pub, _ := json.Marshal(t.id.Keys[keyTester].Public())
	p := []byte(t.valid().payload())
	var out [][]byte
	for _, extra := range []string{
		`,"jwk":` + string(pub), `,"jku":"https://127.0.0.1/keys"`, `,"x5u":"https://127.0.0.1/x5u"`,
		`,"x5c":["MIIB"]`, `,"x5t":"AAAA"`,
	} {
		h := fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":%q%s}`, s.alg, s.kid, federation.TypEnvelope, extra)
		out = append(out, compact([]byte(h), p, s))
	}
	refuseEach(t, "bad_envelope", out)
}

// checkAlgNone checks that alg none (empty and non-empty signature), RS256,
// ES384, Ed25519 and a missing alg are refused with unsupported_alg.
func checkAlgNone(t *T) {
	s := t.testerSigner()
	p := func() []byte { return t.valid().payload() } // a fresh jti each
	var out [][]byte
	out = append(out, compact(header("none", s.kid, federation.TypEnvelope), p(), nil))
	out = append(out, compact(header("none", s.kid, federation.TypEnvelope), p(), s))
	for _, alg := range []string{"RS256", "PS256", "ES384", "ES512", "ES256K", "Ed25519", "NONE"} {
		out = append(out, compact(header(alg, s.kid, federation.TypEnvelope), p(), s))
	}
	out = append(out, compact([]byte(fmt.Sprintf(`{"kid":%q,"typ":%q}`, s.kid, federation.TypEnvelope)), p(), s))
	refuseEach(t, "unsupported_alg", out)
}

// checkHMACWithPublicKey checks that HS256/HS384/HS512 MACs keyed with the
// sender's public key are refused with unsupported_alg.
func checkHMACWithPublicKey(t *T) {
	s := t.testerSigner()
	p := []byte(t.valid().payload())
	pubJSON, _ := json.Marshal(t.id.Keys[keyTester].Public())
	raw := []byte(s.ed.Public().(ed25519.PublicKey))
	var out [][]byte
	for _, secret := range [][]byte{raw, []byte(b64.EncodeToString(raw)), pubJSON} {
		out = append(out, hmacCompact(header("HS256", s.kid, federation.TypEnvelope), p, secret))
	}
	out = append(out, hmacCompact(header("HS384", s.kid, federation.TypEnvelope), p, raw))
	out = append(out, hmacCompact(header("HS512", s.kid, federation.TypEnvelope), p, raw))
	refuseEach(t, "unsupported_alg", out)
}

// checkAlgNotTheKeys checks that an ES256 header naming the kid of an Ed25519
// key is refused with unsupported_alg.
func checkAlgNotTheKeys(t *T) {
	ed := t.testerSigner()
	ec := signerOf(t.id.Keys[keyTesterP256])
	p := []byte(t.valid().payload())
	refuseEach(t, "unsupported_alg", [][]byte{
		compact(header("ES256", ed.kid, federation.TypEnvelope), p, ec),
		compact(header("EdDSA", ec.kid, federation.TypEnvelope), p, ed),
	})
}

// checkKIDOfOtherMember checks that a kid of another member's key (signed
// with that key) is refused with unknown_key.
func checkKIDOfOtherMember(t *T) {
	refuseEach(t, "unknown_key", one(t.sign(t.valid(), keyPeer)))
}

// checkUnknownExpiredFutureKey checks that an unknown kid, an expired key and
// a key not yet valid are refused with unknown_key.
func checkUnknownExpiredFutureKey(t *T) {
	s := t.testerSigner()
	c := t.valid()
	unknown := compact(header(s.alg, "no-such-kid-"+federation.NewJTI(), federation.TypEnvelope), c.payload(), s)
	refuseEach(t, "unknown_key", [][]byte{unknown, t.sign(t.valid(), keyTesterExpired), t.sign(t.valid(), keyTesterFuture)})
}

// checkNotCompactJWS checks that JSON serializations, four segments,
// non-canonical base64url, padding, a trailing newline and an empty signature
// are refused with bad_envelope.
func checkNotCompactJWS(t *T) {
	good := t.sign(t.valid(), keyTester)
	parts := strings.Split(string(good), ".")
	flat := fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, parts[0], parts[1], parts[2])
	general := fmt.Sprintf(`{"payload":%q,"signatures":[{"protected":%q,"signature":%q},{"protected":%q,"signature":%q}]}`, parts[1], parts[0], parts[2], parts[0], parts[2])
	// Non-canonical: flip the unused low bits of the signature's last character.
	sig := []byte(parts[2])
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", sig[len(sig)-1])
	sig[len(sig)-1] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last|1]
	refuseEach(t, "bad_envelope", [][]byte{
		[]byte(flat), []byte(general),
		[]byte(string(good) + ".AAAA"),
		[]byte(parts[0] + "." + parts[1] + "." + string(sig)),
		[]byte(string(good) + "=="),
		append(append([]byte(nil), good...), '\n'),
		[]byte(parts[0] + "." + parts[1] + "."),
		[]byte(parts[0] + ".." + parts[2]),
	})
}

// checkHeaderMembers checks that crit, b64, cty, a duplicated member, a
// missing kid and a wrong typ are refused with bad_envelope.
func checkHeaderMembers(t *T) {
	s := t.testerSigner()
	p := []byte(t.valid().payload())
	var out [][]byte
	for _, h := range []string{
		fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":%q,"crit":["exp"],"exp":1}`, s.alg, s.kid, federation.TypEnvelope),
		fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":%q,"b64":false}`, s.alg, s.kid, federation.TypEnvelope),
		fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":%q,"cty":"json"}`, s.alg, s.kid, federation.TypEnvelope),
		fmt.Sprintf(`{"alg":%q,"kid":%q,"kid":%q,"typ":%q}`, s.alg, s.kid, s.kid, federation.TypEnvelope),
		fmt.Sprintf(`{"alg":%q,"typ":%q}`, s.alg, federation.TypEnvelope),
		fmt.Sprintf(`{"alg":%q,"kid":%q}`, s.alg, s.kid),
		string(header(s.alg, s.kid, "flx-receipt+jws")),
		string(header(s.alg, s.kid, "JWT")),
		string(header(s.alg, s.kid, "FLX-Envelope+JWS")),
	} {
		out = append(out, compact([]byte(h), p, s))
	}
	refuseEach(t, "bad_envelope", out)
}

// checkPayloadChangedAfterSigning checks that a payload changed after
// signing, and a signature by another key of the same size, are refused with
// bad_signature.
func checkPayloadChangedAfterSigning(t *T) {
	c := t.valid()
	s := t.testerSigner()
	good := t.sign(c, keyTester)
	parts := strings.Split(string(good), ".")
	c2 := c
	c2.JTI = c.JTI + "x"
	changed := b64.EncodeToString(c2.payload())
	other := signerOf(t.id.Keys[keyPeer])
	input := parts[0] + "." + parts[1]
	otherSig := b64.EncodeToString(other.sign([]byte(input)))
	_ = s
	refuseEach(t, "bad_signature", [][]byte{
		[]byte(parts[0] + "." + changed + "." + parts[2]),
		[]byte(input + "." + otherSig),
	})
}

// checkClaimsShape checks that a missing claim, an unknown claim, a claim in
// other case, a duplicated claim and a claim of the wrong type are refused
// with bad_envelope.
func checkClaimsShape(t *T) {
	c := t.valid()
	p := func(s string) []byte { return t.withPayload(s) }
	dup := claimsJSON(c)
	dup = dup[:len(dup)-1] + fmt.Sprintf(`,"aud":%q}`, "XD-PEER")
	refuseEach(t, "bad_envelope", [][]byte{
		p(claimsJSON(c, "jti", nil)),
		p(claimsJSON(c, "kind", nil)),
		p(claimsJSON(c, "case_id", nil)),
		p(claimsJSON(c, "nbf", c.Iat)),
		p(claimsJSON(c, "iss", nil, "ISS", c.Iss)),
		p(dup),
		p(claimsJSON(c, "iat", fmt.Sprint(c.Iat))),
		p(claimsJSON(c, "exp", float64(c.Exp)+0.5)),
		p(claimsJSON(c, "jti", 12345)),
		p(`[` + claimsJSON(c) + `]`),
	})
}

// checkClaimValues checks that exp not after iat, exp-iat over 7 days, a jti
// with a space or over 128 characters, a null body and a malformed aud are
// refused with bad_envelope.
func checkClaimValues(t *T) {
	c := t.valid()
	p := func(s string) []byte { return t.withPayload(s) }
	refuseEach(t, "bad_envelope", [][]byte{
		p(claimsJSON(c, "exp", c.Iat)),
		p(claimsJSON(c, "exp", c.Iat+8*24*3600)),
		p(claimsJSON(c, "jti", "has space")),
		p(claimsJSON(c, "jti", "has\x7fdel")), // U+007F is outside U+0021 to U+007E
		p(claimsJSON(c, "jti", "has\u00e9")),  // so is anything beyond ASCII
		p(claimsJSON(c, "jti", strings.Repeat("j", 129))),
		p(claimsJSON(c, "body", json.RawMessage("null"))),
		p(claimsJSON(c, "aud", "xa rc")),
		// Member ids of the right characters but one too long, and of
		// the right length with one character outside A-Z, 0-9 and "-":
		// not member ids, so bad_envelope, not wrong_audience.
		p(claimsJSON(c, "aud", "X"+strings.Repeat("A", 32))),
		p(claimsJSON(c, "aud", "XA_RC")),
	})
}

// checkWrongAudience checks that an envelope addressed to another member is
// refused with wrong_audience.
func checkWrongAudience(t *T) {
	c := t.valid()
	c.Aud = MemberPeer
	raws := one(t.sign(c, keyTester))
	// Member ids that are a prefix of the candidate's, or have it as a
	// prefix: aud is compared whole, not as a prefix.
	for _, aud := range []string{t.candidate[:len(t.candidate)-1], t.candidate + "X"} {
		if aud == MemberPeer || !federation.ValidMemberID(aud) {
			continue
		}
		c := t.valid()
		c.Aud = aud
		raws = append(raws, t.sign(c, keyTester))
	}
	refuseEach(t, "wrong_audience", raws)
}

// checkEnvelopeExpired checks that an envelope whose exp passed (beyond SKEW)
// is refused with expired.
func checkEnvelopeExpired(t *T) {
	c := t.valid()
	c.Iat, c.Exp = t.now().Add(-2*time.Hour).Unix(), t.now().Add(-t.skew-time.Minute).Unix()
	refuseEach(t, "expired", one(t.sign(c, keyTester)))
}

// checkEnvelopeNotYetValid checks that an envelope issued in the future
// (beyond SKEW) is refused with not_yet_valid.
func checkEnvelopeNotYetValid(t *T) {
	c := t.valid()
	c.Iat, c.Exp = t.now().Add(t.skew+time.Minute).Unix(), t.now().Add(2*time.Hour).Unix()
	refuseEach(t, "not_yet_valid", one(t.sign(c, keyTester)))
}

// checkUnknownKind checks that an unknown kind is refused with
// unsupported_kind.
func checkUnknownKind(t *T) {
	c := t.valid()
	c.Kind = "case.delete"
	refuseEach(t, "unsupported_kind", one(t.sign(c, keyTester)))
}

// checkCaseIDMismatch checks that a case_id claim that differs from
// body.case_id is refused with bad_envelope.
func checkCaseIDMismatch(t *T) {
	c := t.valid()
	c.CaseID = newCaseID(MemberTester)
	refuseEach(t, "bad_envelope", one(t.sign(c, keyTester)))
}

// checkSenderRole checks that a case.create or case.update of another
// origin's case, one of the sender's own case_id whose body.origin.member
// names another member, and a case.response whose responder is not iss are
// refused with sender_mismatch.
func checkSenderRole(t *T) {
	other := newCaseID(MemberPeer)
	create := t.claims(federation.KindCaseCreate, caseDoc(other, MemberPeer))
	update := t.claims(federation.KindCaseUpdate, caseDoc(other, MemberPeer))
	// The case_id is the tester's, the body's origin another member's: the
	// second half of FLX-ENV-011's first item, which a node checking the
	// case_id alone misses.
	own := newCaseID(MemberTester)
	createBody := t.claims(federation.KindCaseCreate, caseDoc(own, MemberPeer))
	updateBody := t.claims(federation.KindCaseUpdate, caseDoc(own, MemberPeer))
	resp := t.claims(federation.KindCaseResponse, responseDoc(newCaseID(t.candidate), MemberPeer))
	refuseEach(t, "sender_mismatch", [][]byte{t.sign(create, keyTester), t.sign(update, keyTester),
		t.sign(createBody, keyTester), t.sign(updateBody, keyTester), t.sign(resp, keyTester)})
}

// checkSignatureBeforeContent checks that a broken signature on an envelope
// that also has a wrong aud, a past exp and an invalid body gets
// bad_signature.
func checkSignatureBeforeContent(t *T) {
	c := t.valid()
	c.Aud = MemberPeer
	c.Iat, c.Exp = t.now().Add(-3*time.Hour).Unix(), t.now().Add(-2*time.Hour).Unix()
	c.Body = json.RawMessage(fmt.Sprintf(`{"schema":"flx/v1/case","case_id":%q}`, c.CaseID))
	raw := t.sign(c, keyTester)
	parts := strings.Split(string(raw), ".")
	sig, _ := b64.DecodeString(parts[2])
	sig[0] ^= 0xff
	refuseEach(t, "bad_signature", one([]byte(parts[0]+"."+parts[1]+"."+b64.EncodeToString(sig))))
}
