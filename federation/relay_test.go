package federation

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

// relayFixture extends the fixture with XE-DEL (a delegation that XB-RC names
// as a relay, so it may relay) and XD-RC (a society that may not relay).
func relayFixture(t testing.TB) *fixture {
	t.Helper()
	f := newFixture(t)
	for _, d := range []struct {
		id, country string
		role        Role
	}{{"XE-DEL", "XE", RoleDelegation}, {"XD-RC", "XD", RoleSociety}} {
		k := newKey(t, jose.EdDSA)
		f.keys[d.id] = k
		tlsKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
		f.spec.Members = append(f.spec.Members, Member{
			ID: d.id, Name: "Test " + d.id, Country: d.country, Role: d.role,
			Endpoint: "https://" + strings.ToLower(d.id) + ".flx.test", JWKS: jose.KeySet{k.Public()},
			TLSSPKISHA256: []string{spkiPin(t, tlsKey.Public())}, Accepts: Kinds, Status: StatusActive,
		})
	}
	for i := range f.spec.Members {
		if f.spec.Members[i].ID == "XB-RC" {
			f.spec.Members[i].RelayVia = []string{"ICRC-CTA", "XE-DEL"}
		}
	}
	f.spec.Version++
	f.raw = must(SignManifest(f.spec, f.anchor))
	f.manifest = must(VerifyManifest(f.raw, f.anchor.Public(), f.now, nil))
	return f
}

// envelope signs a case.create from iss to aud.
func (f *fixture) envelope(t testing.TB, iss, aud string) ([]byte, Claims) {
	t.Helper()
	c := f.claims(iss, aud)
	return f.sign(t, c, f.keys[iss]), c
}

func (f *fixture) wrap(self, to string) Wrap {
	return Wrap{Self: self, To: to, Signer: f.keys[self], Now: f.now}
}

// open verifies raw as the envelope self received from peer and opens its
// relay chain.
func (f *fixture) open(t *testing.T, self, peer string, raw []byte) (*Relayed, error) {
	t.Helper()
	v := f.verifier(self)
	outer, err := v.Verify(context.Background(), raw, peer)
	if err != nil {
		t.Fatalf("outer envelope refused: %v", err)
	}
	return OpenRelay(context.Background(), v, outer)
}

func (f *fixture) mustOpen(t *testing.T, self, peer string, raw []byte) *Relayed {
	t.Helper()
	r, err := f.open(t, self, peer, raw)
	if err != nil {
		t.Fatalf("OpenRelay: %v", err)
	}
	return r
}

// TestRelayEndToEnd: XA-RC sends to XB-RC through ICRC-CTA; XB-RC checks the
// origin's signature on the very bytes XA-RC signed, and its end-to-end
// receipt travels back through ICRC-CTA to XA-RC, which checks it against
// what it sent.
func TestRelayEndToEnd(t *testing.T) {
	f := relayFixture(t)
	inner, innerClaims := f.envelope(t, "XA-RC", "XB-RC")

	toCTA, c1, err := Originate(inner, f.wrap("XA-RC", "ICRC-CTA"))
	if err != nil {
		t.Fatal(err)
	}
	if c1.Kind != KindRelayForward || c1.CaseID != innerClaims.CaseID || c1.Audience != "ICRC-CTA" || !c1.ExpiresAt.Equal(innerClaims.ExpiresAt) {
		t.Fatalf("outer claims %+v (its exp must be cut to the inner's)", c1)
	}
	atCTA := f.mustOpen(t, "ICRC-CTA", "XA-RC", toCTA)
	if atCTA.Final || atCTA.Envelope == nil || atCTA.Origin() != "XA-RC" || atCTA.Recipient() != "XB-RC" || len(atCTA.Hops) != 1 {
		t.Fatalf("at the relay: %+v", atCTA)
	}
	toB, _, err := atCTA.Forward(f.wrap("ICRC-CTA", "XB-RC"))
	if err != nil {
		t.Fatal(err)
	}
	atB := f.mustOpen(t, "XB-RC", "ICRC-CTA", toB)
	if !atB.Final || atB.Envelope.Issuer != "XA-RC" || atB.Envelope.Audience != "XB-RC" || len(atB.Hops) != 2 {
		t.Fatalf("at the final recipient: %+v", atB)
	}
	if string(atB.Envelope.Raw()) != string(inner) || atB.Envelope.SHA256() != ExpectReceipt(inner, innerClaims).SHA256 {
		t.Fatal("the inner envelope did not arrive byte for byte")
	}
	if h := atB.Hops; h[0].From != "XA-RC" || h[0].To != "ICRC-CTA" || h[1].From != "ICRC-CTA" || h[1].To != "XB-RC" || h[1].PrevSHA256 != hexSHA256(h[0].Raw) {
		t.Fatalf("hops %+v", h)
	}

	// The end-to-end receipt, signed by XB-RC for XA-RC's envelope, back
	// through the relay.
	rc := must(SignReceipt(ReceiptFor(atB.Envelope, ReceiptAccepted, f.now), f.keys["XB-RC"]))
	back := f.wrap("XB-RC", "ICRC-CTA")
	back.CaseID = atB.Envelope.CaseID
	rToCTA := must3(Originate(rc, back))
	rAtCTA := f.mustOpen(t, "ICRC-CTA", "XB-RC", rToCTA)
	if rAtCTA.Final || rAtCTA.Receipt == nil || rAtCTA.Recipient() != "XA-RC" {
		t.Fatalf("receipt at the relay: %+v", rAtCTA)
	}
	rToA := must3(rAtCTA.Forward(f.wrap("ICRC-CTA", "XA-RC")))
	rAtA := f.mustOpen(t, "XA-RC", "ICRC-CTA", rToA)
	if !rAtA.Final || rAtA.Receipt.ReceiptFor != innerClaims.JTI {
		t.Fatalf("receipt at the origin: %+v", rAtA)
	}
	if _, err := VerifyReceipt(rAtA.Inner, f.manifest, ExpectReceipt(inner, innerClaims), f.now); err != nil {
		t.Fatalf("the origin cannot verify the end-to-end receipt: %v", err)
	}
}

func must3[A, B any](a A, _ B, err error) A {
	if err != nil {
		panic(err)
	}
	return a
}

// signHop signs a hop payload with k, for chains the API refuses to build.
func signHop(t *testing.T, k *jose.PrivateKey, h wireHop) []byte {
	t.Helper()
	return must(jose.Sign(wireJSON(t, h), TypHop, k))
}

// outerOf signs a relay.forward envelope from iss to aud carrying body.
func (f *fixture) outerOf(t *testing.T, iss, aud, caseID string, body any) []byte {
	t.Helper()
	c := Claims{
		Issuer: iss, Audience: aud, IssuedAt: f.now, ExpiresAt: f.now.Add(time.Hour), JTI: NewJTI(),
		Kind: KindRelayForward, CaseID: caseID, Body: wireJSON(t, body),
	}
	return f.sign(t, c, f.keys[iss])
}

func TestRelayAttacks(t *testing.T) {
	f := relayFixture(t)
	ctx := context.Background()
	inner, ic := f.envelope(t, "XA-RC", "XB-RC")
	other, _ := f.envelope(t, "XA-RC", "XB-RC")
	sum := hexSHA256(inner)
	iat := f.now.Unix()
	hopA := signHop(t, f.keys["XA-RC"], wireHop{Iss: "XA-RC", Aud: "ICRC-CTA", Iat: iat, Inner: sum})
	hopCTA := func(to string) []byte {
		return signHop(t, f.keys["ICRC-CTA"], wireHop{Iss: "ICRC-CTA", Aud: to, Iat: iat, Inner: sum, Prev: hexSHA256(hopA)})
	}
	body := func(in []byte, hops ...[]byte) map[string]any {
		hs := make([]string, len(hops))
		for i, h := range hops {
			hs[i] = string(h)
		}
		return map[string]any{"inner": string(in), "hops": hs}
	}
	// The honest chain XA-RC -> ICRC-CTA, as the relay holds it.
	atCTA := f.mustOpen(t, "ICRC-CTA", "XA-RC", must3(Originate(inner, f.wrap("XA-RC", "ICRC-CTA"))))

	// The same envelope with one character of its body changed and the
	// origin's signature kept: well formed, no longer the origin's.
	tamperedInner := func() []byte {
		p := strings.Split(string(inner), ".")
		payload := strings.Replace(string(must(b64url.DecodeString(p[1]))), "case-1", "case-2", 1)
		return []byte(p[0] + "." + b64url.EncodeToString([]byte(payload)) + "." + p[2])
	}()
	expired := func() []byte {
		c := f.claims("XA-RC", "XB-RC")
		c.IssuedAt, c.ExpiresAt = f.now.Add(-3*time.Hour), f.now.Add(-2*time.Hour)
		return f.sign(t, c, f.keys["XA-RC"])
	}()
	nested := f.outerOf(t, "XA-RC", "XB-RC", ic.CaseID, body(inner, signHop(t, f.keys["XA-RC"], wireHop{Iss: "XA-RC", Aud: "XB-RC", Iat: iat, Inner: sum})))
	hopsOf := func(in []byte, path ...string) [][]byte {
		var out [][]byte
		s := hexSHA256(in)
		for i := 0; i+1 < len(path); i++ {
			h := wireHop{Iss: path[i], Aud: path[i+1], Iat: iat, Inner: s}
			if i > 0 {
				h.Prev = hexSHA256(out[i-1])
			}
			out = append(out, signHop(t, f.keys[path[i]], h))
		}
		return out
	}
	chain := func(in []byte, path ...string) []byte {
		hops := hopsOf(in, path...)
		c := ic.CaseID
		if pk, err := peekInner(in); err == nil && pk.caseID != "" {
			c = pk.caseID
		}
		return f.outerOf(t, path[len(path)-2], path[len(path)-1], c, body(in, hops...))
	}
	viaXE := hopsOf(inner, "XA-RC", "ICRC-CTA", "XE-DEL", "XB-RC")
	// One character of the signature changed (well inside it, so that the
	// change is in bits the signature carries, whatever the character was).
	badSig := append([]byte(nil), hopCTA("XB-RC")...)
	if i := len(badSig) - 10; badSig[i] == 'A' {
		badSig[i] = 'B'
	} else {
		badSig[i] = 'A'
	}

	tests := []struct {
		name       string
		raw        []byte
		self, peer string
		want       Code
	}{
		{"honest chain", chain(inner, "XA-RC", "ICRC-CTA", "XB-RC"), "XB-RC", "ICRC-CTA", ""},
		{"honest chain through two relays", chain(inner, "XA-RC", "ICRC-CTA", "XE-DEL", "XB-RC"), "XB-RC", "XE-DEL", ""},
		{"altered inner: the origin's hop binds the original", f.outerOf(t, "ICRC-CTA", "XB-RC", ic.CaseID, body(tamperedInner, hopA, signHop(t, f.keys["ICRC-CTA"], wireHop{Iss: "ICRC-CTA", Aud: "XB-RC", Iat: iat, Inner: hexSHA256(tamperedInner), Prev: hexSHA256(hopA)}))), "XB-RC", "ICRC-CTA", CodeBadRelay},
		{"swapped inner: another envelope of the same origin", f.outerOf(t, "ICRC-CTA", "XB-RC", ic.CaseID, body(other, hopA, hopCTA("XB-RC"))), "XB-RC", "ICRC-CTA", CodeBadRelay},
		{"the relay forges the origin's hop with its own key", f.outerOf(t, "ICRC-CTA", "XB-RC", ic.CaseID, body(other, signHop(t, f.keys["ICRC-CTA"], wireHop{Iss: "XA-RC", Aud: "ICRC-CTA", Iat: iat, Inner: hexSHA256(other)}), hopCTA("XB-RC"))), "XB-RC", "ICRC-CTA", CodeUnknownKey},
		{"dropped hop: XE-DEL leaves out ICRC-CTA's", f.outerOf(t, "XE-DEL", "XB-RC", ic.CaseID, body(inner, viaXE[0], signHop(t, f.keys["XE-DEL"], wireHop{Iss: "XE-DEL", Aud: "XB-RC", Iat: iat, Inner: sum, Prev: hexSHA256(viaXE[0])}))), "XB-RC", "XE-DEL", CodeBadRelay},
		{"dropped hop: only the last relay's hop is left", f.outerOf(t, "XE-DEL", "XB-RC", ic.CaseID, body(inner, viaXE[2])), "XB-RC", "XE-DEL", CodeBadRelay},
		{"reordered hops", f.outerOf(t, "XE-DEL", "XB-RC", ic.CaseID, body(inner, viaXE[0], viaXE[2], viaXE[1])), "XB-RC", "XE-DEL", CodeBadRelay},
		{"a hop of another chain spliced in", f.outerOf(t, "XE-DEL", "XB-RC", ic.CaseID, body(inner, viaXE[0], hopsOf(other, "XA-RC", "ICRC-CTA", "XE-DEL")[1], viaXE[2])), "XB-RC", "XE-DEL", CodeBadRelay},
		{"re-addressed: forwarded to a member that is not the audience and does not relay", chain(inner, "XA-RC", "ICRC-CTA", "XD-RC"), "XD-RC", "ICRC-CTA", CodeWrongAudience},
		{"a hop by a member that may not relay", chain(inner, "XA-RC", "XD-RC", "XB-RC"), "XB-RC", "XD-RC", CodeBadRelay},
		{"the outer envelope is not the last hop", f.outerOf(t, "XD-RC", "XB-RC", ic.CaseID, body(inner, hopA, hopCTA("XB-RC"))), "XB-RC", "XD-RC", CodeBadRelay},
		{"the chain is started by someone other than the inner's signer", chain(inner, "ICRC-CTA", "XB-RC"), "XB-RC", "ICRC-CTA", CodeBadRelay},
		{"a loop", chain(inner, "XA-RC", "ICRC-CTA", "XE-DEL", "ICRC-CTA", "XB-RC"), "XB-RC", "ICRC-CTA", CodeBadRelay},
		{"too many hops", f.outerOf(t, "XE-DEL", "XB-RC", ic.CaseID, body(inner, viaXE[0], viaXE[1], viaXE[2], viaXE[2], viaXE[2])), "XB-RC", "XE-DEL", CodeBadRelay},
		{"no hop", f.outerOf(t, "ICRC-CTA", "XB-RC", ic.CaseID, body(inner)), "XB-RC", "ICRC-CTA", CodeBadRelay},
		{"first hop names a predecessor", f.outerOf(t, "XA-RC", "ICRC-CTA", ic.CaseID, body(inner, signHop(t, f.keys["XA-RC"], wireHop{Iss: "XA-RC", Aud: "ICRC-CTA", Iat: iat, Inner: sum, Prev: sum}))), "ICRC-CTA", "XA-RC", CodeBadRelay},
		{"a hop whose signature does not verify", f.outerOf(t, "ICRC-CTA", "XB-RC", ic.CaseID, body(inner, hopA, badSig)), "XB-RC", "ICRC-CTA", CodeBadSignature},
		{"a hop from the future", f.outerOf(t, "XA-RC", "ICRC-CTA", ic.CaseID, body(inner, signHop(t, f.keys["XA-RC"], wireHop{Iss: "XA-RC", Aud: "ICRC-CTA", Iat: iat + 3600, Inner: sum}))), "ICRC-CTA", "XA-RC", CodeBadRelay},
		{"case_id of the outer is not the inner's", f.outerOf(t, "ICRC-CTA", "XB-RC", "ICRC-CTA:other", body(inner, hopA, hopCTA("XB-RC"))), "XB-RC", "ICRC-CTA", CodeBadRelay},
		{"the inner envelope has expired", chain(expired, "XA-RC", "ICRC-CTA", "XB-RC"), "XB-RC", "ICRC-CTA", CodeExpired},
		{"the inner envelope is itself a relay.forward", chain(nested, "XA-RC", "ICRC-CTA", "XB-RC"), "XB-RC", "ICRC-CTA", CodeBadRelay},
		{"the inner token is a manifest", chain(f.raw, "XA-RC", "ICRC-CTA", "XB-RC"), "XB-RC", "ICRC-CTA", CodeBadRelay},
		{"an unknown member in the body", f.outerOf(t, "ICRC-CTA", "XB-RC", ic.CaseID, map[string]any{"inner": string(inner), "hops": []string{string(hopA), string(hopCTA("XB-RC"))}, "note": "x"}), "XB-RC", "ICRC-CTA", CodeBadEnvelope},
		{"an inner envelope for a suspended member", func() []byte {
			in := f.sign(t, f.claims("XA-RC", "XC-RC"), f.keys["XA-RC"])
			return chain(in, "XA-RC", "ICRC-CTA")
		}(), "ICRC-CTA", "XA-RC", CodeRelayRefused},
		{"a forged inner receipt", func() []byte {
			rc := must(SignReceipt(ReceiptClaims{Issuer: "XB-RC", Audience: "XA-RC", IssuedAt: f.now, ReceiptFor: ic.JTI, SHA256: sum, Status: ReceiptAccepted}, newKey(t, jose.ES256).WithKID(f.keys["XB-RC"].KID())))
			hops := hopsOf(rc, "XB-RC", "ICRC-CTA")
			return f.outerOf(t, "XB-RC", "ICRC-CTA", ic.CaseID, body(rc, hops...))
		}(), "ICRC-CTA", "XB-RC", CodeBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.open(t, tc.self, tc.peer, tc.raw)
			wantCode(t, err, tc.want)
		})
	}

	// The API refuses to build what the verifier refuses.
	if _, _, err := Originate(inner, f.wrap("ICRC-CTA", "XB-RC")); CodeOf(err) != CodeBadRelay {
		t.Errorf("Originate of another member's envelope: %v", err)
	}
	if _, _, err := atCTA.Forward(f.wrap("ICRC-CTA", "XA-RC")); CodeOf(err) != CodeBadRelay {
		t.Errorf("Forward back to a member on the chain: %v", err)
	}
	if _, _, err := atCTA.Forward(f.wrap("XE-DEL", "XB-RC")); err == nil {
		t.Error("Forward by a member where the chain does not end")
	}
	if _, _, err := Originate(expired, f.wrap("XA-RC", "ICRC-CTA")); CodeOf(err) != CodeExpired {
		t.Errorf("Originate of an expired envelope: %v", err)
	}
	atB := f.mustOpen(t, "XB-RC", "ICRC-CTA", chain(inner, "XA-RC", "ICRC-CTA", "XB-RC"))
	if _, _, err := atB.Forward(f.wrap("XB-RC", "XD-RC")); err == nil {
		t.Error("the final recipient forwarded")
	}
	_ = ctx
}

// TestRelayChainGrowsToTheLimit: MaxRelayHops hops are accepted, and Forward
// refuses to add one more.
func TestRelayChainGrowsToTheLimit(t *testing.T) {
	f := relayFixture(t)
	inner, _ := f.envelope(t, "XA-RC", "XB-RC")
	r := f.mustOpen(t, "ICRC-CTA", "XA-RC", must3(Originate(inner, f.wrap("XA-RC", "ICRC-CTA"))))
	r = f.mustOpen(t, "XE-DEL", "ICRC-CTA", must3(r.Forward(f.wrap("ICRC-CTA", "XE-DEL"))))
	if _, _, err := r.Forward(f.wrap("XE-DEL", "XB-RC")); err != nil {
		t.Fatalf("third hop: %v", err)
	}
	last := r.Hops[len(r.Hops)-1]
	r.Hops = append(r.Hops, last, last) // as if the chain were full
	if _, _, err := r.Forward(f.wrap("XE-DEL", "XB-RC")); CodeOf(err) != CodeBadRelay {
		t.Fatalf("a hop beyond the limit: %v", err)
	}
}

func TestRelayBodyIsStrict(t *testing.T) {
	f := relayFixture(t)
	inner, ic := f.envelope(t, "XA-RC", "XB-RC")
	hop := string(signHop(t, f.keys["XA-RC"], wireHop{Iss: "XA-RC", Aud: "ICRC-CTA", Iat: f.now.Unix(), Inner: hexSHA256(inner)}))
	for name, b := range map[string]string{
		"inner twice":        `{"inner":"` + string(inner) + `","inner":"x","hops":["` + hop + `"]}`,
		"Inner in capitals":  `{"Inner":"` + string(inner) + `","hops":["` + hop + `"]}`,
		"hops not an array":  `{"inner":"` + string(inner) + `","hops":"` + hop + `"}`,
		"not an object":      `["` + string(inner) + `"]`,
		"hop claims unknown": "",
	} {
		t.Run(name, func(t *testing.T) {
			if b == "" {
				var m map[string]any
				_ = json.Unmarshal(wireJSON(t, wireHop{Iss: "XA-RC", Aud: "ICRC-CTA", Iat: f.now.Unix(), Inner: hexSHA256(inner)}), &m)
				m["via"] = "XD-RC"
				h := must(jose.Sign(wireJSON(t, m), TypHop, f.keys["XA-RC"]))
				b = `{"inner":"` + string(inner) + `","hops":["` + string(h) + `"]}`
			}
			c := Claims{Issuer: "XA-RC", Audience: "ICRC-CTA", IssuedAt: f.now, ExpiresAt: f.now.Add(time.Hour), JTI: NewJTI(),
				Kind: KindRelayForward, CaseID: ic.CaseID, Body: json.RawMessage(b)}
			_, err := f.open(t, "ICRC-CTA", "XA-RC", f.sign(t, c, f.keys["XA-RC"]))
			wantCode(t, err, CodeBadEnvelope)
		})
	}
}
