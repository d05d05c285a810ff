package federation

import (
	"context"
	"strings"
	"testing"

	"github.com/familylinks/flx/federation/jose"
)

var fuzzPeers = []string{"", "XA-RC", "XB-RC", "XC-RC", "ICRC-CTA"}

// envelopeSeeds returns valid and attacked envelopes addressed to XB-RC.
func envelopeSeeds(t testing.TB, f *fixture) [][]byte {
	t.Helper()
	xa, xb := f.keys["XA-RC"], f.keys["XB-RC"]
	attacker := newKey(t, jose.EdDSA)
	valid := f.sign(t, f.claims("XA-RC", "XB-RC"), xa)
	c := f.claims("ICRC-CTA", "XB-RC")
	c.Body = body4K()
	validCTA := f.sign(t, c, f.keys["ICRC-CTA"])
	fromXB := f.sign(t, f.claims("XB-RC", "XA-RC"), xb) // wrong audience, ES256
	p := strings.Split(string(valid), ".")
	payload := must(b64url.DecodeString(p[1]))
	hdr := func(alg, kid, extra string) string {
		return `{"alg":"` + alg + `","kid":"` + kid + `","typ":"` + TypEnvelope + `"` + extra + `}`
	}
	return [][]byte{
		valid,
		validCTA,
		fromXB,
		forge(hdr("none", xa.KID(), ""), payload, nil),
		forge(hdr("HS256", xa.KID(), ""), payload, hmacSigner([]byte(wireJSON(t, xa.Public())))),
		forge(hdr("EdDSA", attacker.KID(), `,"jwk":`+string(wireJSON(t, attacker.Public()))), payload, edSigner(t, attacker)),
		f.sign(t, f.claims("XA-RC", "XB-RC"), xb),                         // kid of another member
		f.sign(t, f.claims("XA-RC", "XB-RC"), attacker.WithKID(xa.KID())), // bad signature
		[]byte(p[0] + "." + b64url.EncodeToString([]byte(`{"iss":"XA-RC"}`)) + "." + p[2]),
		wireJSON(t, map[string]string{"protected": p[0], "payload": p[1], "signature": p[2]}),
		[]byte(""),
		[]byte(".."),
	}
}

// FuzzVerifyEnvelope: Verify never panics, and whatever it accepts carries a
// signature (checked with the standard library alone) by a key the manifest
// gives to the envelope's issuer, addressed to us, from the authenticated
// peer when there is one.
func FuzzVerifyEnvelope(f *testing.F) {
	fx := newFixture(f)
	for _, s := range envelopeSeeds(f, fx) {
		for i := range fuzzPeers {
			f.Add(s, uint8(i))
		}
	}
	v := fx.verifier("XB-RC")
	f.Fuzz(func(t *testing.T, raw []byte, peerIdx uint8) {
		peer := fuzzPeers[int(peerIdx)%len(fuzzPeers)]
		env, err := v.Verify(context.Background(), raw, peer)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		owner, key, ok := fx.manifest.KeyByKID(env.KID)
		switch {
		case !ok:
			t.Fatalf("accepted kid %q not in the manifest", env.KID)
		case owner.ID != env.Issuer || owner.Status != StatusActive:
			t.Fatalf("accepted kid of %s (%s) for iss %s", owner.ID, owner.Status, env.Issuer)
		case !independentlySigned(raw, key):
			t.Fatal("accepted an envelope whose signature does not verify")
		case env.Audience != "XB-RC":
			t.Fatalf("accepted aud %q", env.Audience)
		case peer != "" && env.Issuer != peer:
			t.Fatalf("accepted iss %q from peer %q", env.Issuer, peer)
		case !key.ValidAt(t0, DefaultSkew):
			t.Fatal("accepted a key outside its validity")
		}
	})
}

// FuzzVerifyManifest: VerifyManifest never panics, and whatever it accepts is
// signed by the anchor (checked with the standard library alone) and valid.
func FuzzVerifyManifest(f *testing.F) {
	fx := newFixture(f)
	anchor := fx.anchor.Public()
	other := newKey(f, jose.EdDSA)
	p := strings.Split(string(fx.raw), ".")
	payload := must(b64url.DecodeString(p[1]))
	hdr := func(alg, kid, extra string) string {
		return `{"alg":"` + alg + `","kid":"` + kid + `","typ":"` + TypManifest + `"` + extra + `}`
	}
	seeds := [][]byte{
		fx.raw,
		must(SignManifest(fx.spec, other)),
		must(SignManifest(fx.spec, other.WithKID(fx.anchor.KID()))),
		forge(hdr("none", fx.anchor.KID(), ""), payload, nil),
		forge(hdr("HS256", fx.anchor.KID(), ""), payload, hmacSigner([]byte(wireJSON(f, anchor)))),
		forge(hdr("EdDSA", other.KID(), `,"jwk":`+string(wireJSON(f, other.Public()))), payload, edSigner(f, other)),
		[]byte(p[0] + "." + p[1][:len(p[1])/2] + "." + p[2]),
		wireJSON(f, map[string]string{"protected": p[0], "payload": p[1], "signature": p[2]}),
		[]byte(""),
	}
	for _, s := range seeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw []byte, withHeld bool) {
		var held *Manifest
		if withHeld {
			held = fx.manifest
		}
		m, err := VerifyManifest(raw, anchor, t0, held)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		if !independentlySigned(raw, anchor) {
			t.Fatal("accepted a manifest not signed by the anchor")
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid manifest: %v", err)
		}
		if m.ExpiresAt.Add(DefaultSkew).Before(t0) || (held != nil && m.Version < held.Version) {
			t.Fatal("accepted an expired or rolled-back manifest")
		}
	})
}
