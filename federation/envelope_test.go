package federation

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, iss, aud, peer string
	}{
		{"EdDSA over mTLS", "XA-RC", "XB-RC", "XA-RC"},
		{"ES256 over mTLS", "XB-RC", "XA-RC", "XB-RC"},
		{"coordinator", "ICRC-CTA", "XB-RC", "ICRC-CTA"},
		{"no authenticated peer (re-verifying a stored envelope)", "XB-RC", "ICRC-CTA", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := f.claims(tc.iss, tc.aud)
			c.Kind = KindMessageDeliver
			raw := f.sign(t, c, f.keys[tc.iss])
			env, err := f.verifier(tc.aud).Verify(context.Background(), raw, tc.peer)
			if err != nil {
				t.Fatal(err)
			}
			if env.Issuer != tc.iss || env.Audience != tc.aud || env.JTI != c.JTI || env.Kind != KindMessageDeliver ||
				env.CaseID != c.CaseID || string(env.Body) != string(c.Body) ||
				!env.IssuedAt.Equal(c.IssuedAt) || !env.ExpiresAt.Equal(c.ExpiresAt) {
				t.Fatalf("claims changed: %+v", env.Claims)
			}
			if env.KID != f.keys[tc.iss].KID() || env.Alg != f.keys[tc.iss].Alg() {
				t.Fatalf("kid %s alg %s", env.KID, env.Alg)
			}
			sum := sha256.Sum256(raw)
			if env.SHA256() != hex.EncodeToString(sum[:]) || string(env.Raw()) != string(raw) {
				t.Fatal("Raw/SHA256 are not of the exact bytes")
			}
			raw[0] ^= 1 // the envelope keeps its own copy
			if env.SHA256() != hex.EncodeToString(sum[:]) || string(env.Raw()) == string(raw) {
				t.Fatal("envelope aliases the caller's buffer")
			}
		})
	}
}

func TestEnvelopeHeader(t *testing.T) {
	f := newFixture(t)
	raw := f.sign(t, f.claims("XA-RC", "XB-RC"), f.keys["XA-RC"])
	hdr := must(b64url.DecodeString(strings.SplitN(string(raw), ".", 2)[0]))
	var h map[string]string
	if err := json.Unmarshal(hdr, &h); err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h["alg"] != "EdDSA" || h["kid"] != f.keys["XA-RC"].KID() || h["typ"] != TypEnvelope {
		t.Fatalf("header %s", hdr)
	}
}

// TestVerifyEnvelopeAttacks runs every refusal of Verifier.Verify. Tokens
// are built per case; most come from XA-RC (EdDSA) to XB-RC, and the same
// attacks against XB-RC's ES256 key are repeated below.
func TestVerifyEnvelopeAttacks(t *testing.T) {
	f := newFixture(t)
	attacker := newKey(t, jose.EdDSA)
	xa, xb := f.keys["XA-RC"], f.keys["XB-RC"]
	xaPubBytes := []byte(xa.Public().CryptoPublicKey().(ed25519.PublicKey))
	attackerJWK := string(wireJSON(t, attacker.Public()))

	// payload returns XA-RC -> XB-RC claims as JSON, after edit.
	payload := func(edit func(m map[string]any)) []byte {
		c := f.claims("XA-RC", "XB-RC")
		w := c.wire()
		m := map[string]any{}
		if err := json.Unmarshal(wireJSON(t, w), &m); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(m)
		}
		return wireJSON(t, m)
	}
	hdr := func(alg, kid, extra string) string {
		return `{"alg":"` + alg + `","kid":"` + kid + `","typ":"` + TypEnvelope + `"` + extra + `}`
	}
	signedAs := func(k *jose.PrivateKey, edit func(c *Claims)) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			c := f.claims("XA-RC", "XB-RC")
			if edit != nil {
				edit(&c)
			}
			return f.sign(t, c, k)
		}
	}
	// rawSigned signs an arbitrary payload with a real member key through
	// jose, bypassing the claim checks of Sign.
	rawSigned := func(k *jose.PrivateKey, p []byte) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return must(jose.Sign(p, TypEnvelope, k)) }
	}

	type tc struct {
		name  string
		build func(t *testing.T) []byte
		peer  string        // authenticated peer; default XA-RC
		self  string        // verifier; default XB-RC
		at    time.Duration // verifier clock offset from t0
		want  Code
	}
	cases := []tc{
		{name: "valid", build: signedAs(xa, nil), want: ""},
		{name: "valid, exp within skew", build: signedAs(xa, func(c *Claims) { c.ExpiresAt = t0.Add(-30 * time.Second) }), want: ""},

		// Algorithms.
		{name: "alg none, empty signature", build: func(*testing.T) []byte { return forge(hdr("none", xa.KID(), ""), payload(nil), nil) }, want: CodeUnsupportedAlg},
		{name: "alg none, no kid, no typ", build: func(*testing.T) []byte { return forge(`{"alg":"none"}`, payload(nil), nil) }, want: CodeUnsupportedAlg},
		{name: "HS256 keyed with XA's Ed25519 public key", build: func(*testing.T) []byte {
			return forge(hdr("HS256", xa.KID(), ""), payload(nil), hmacSigner(xaPubBytes))
		}, want: CodeUnsupportedAlg},
		{name: "HS256 keyed with XA's public JWK text", build: func(*testing.T) []byte {
			return forge(hdr("HS256", xa.KID(), ""), payload(nil), hmacSigner(wireJSON(t, xa.Public())))
		}, want: CodeUnsupportedAlg},
		{name: "RS256", build: func(*testing.T) []byte { return forge(hdr("RS256", xa.KID(), ""), payload(nil), edSigner(t, xa)) }, want: CodeUnsupportedAlg},
		{name: "unknown alg", build: func(*testing.T) []byte { return forge(hdr("Ed448", xa.KID(), ""), payload(nil), edSigner(t, xa)) }, want: CodeUnsupportedAlg},
		{name: "ES256 header on XA's EdDSA-pinned kid", build: signedAs(xb.WithKID(xa.KID()), nil), want: CodeUnsupportedAlg},

		// Keys from the message.
		{name: "embedded jwk of attacker key", build: func(*testing.T) []byte {
			return forge(hdr("EdDSA", attacker.KID(), `,"jwk":`+attackerJWK), payload(nil), edSigner(t, attacker))
		}, want: CodeBadEnvelope},
		{name: "embedded jwk with XA's kid", build: func(*testing.T) []byte {
			return forge(hdr("EdDSA", xa.KID(), `,"jwk":`+attackerJWK), payload(nil), edSigner(t, attacker))
		}, want: CodeBadEnvelope},
		{name: "jku", build: func(*testing.T) []byte {
			return forge(hdr("EdDSA", attacker.KID(), `,"jku":"https://attacker.example/jwks"`), payload(nil), edSigner(t, attacker))
		}, want: CodeBadEnvelope},
		{name: "x5u", build: func(*testing.T) []byte {
			return forge(hdr("EdDSA", attacker.KID(), `,"x5u":"https://attacker.example/c.pem"`), payload(nil), edSigner(t, attacker))
		}, want: CodeBadEnvelope},
		{name: "x5c", build: func(*testing.T) []byte {
			return forge(hdr("EdDSA", attacker.KID(), `,"x5c":["MIIBCgKCAQEA"]`), payload(nil), edSigner(t, attacker))
		}, want: CodeBadEnvelope},

		// Kids.
		{name: "unknown kid (attacker's own)", build: signedAs(attacker, nil), want: CodeUnknownKey},
		{name: "kid of XB, signed by XB, iss XA, peer XA", build: signedAs(xb, nil), want: CodeUnknownKey},
		{name: "kid of XB, signed by XA, iss XA, peer XA", build: signedAs(xa.WithKID(xb.KID()), nil), want: CodeUnknownKey},
		{name: "kid of XB, signed by XB, iss XA, no peer", build: signedAs(xb, nil), peer: "-", want: CodeUnknownKey},
		{name: "missing kid", build: func(*testing.T) []byte {
			return forge(`{"alg":"EdDSA","typ":"`+TypEnvelope+`"}`, payload(nil), edSigner(t, xa))
		}, want: CodeBadEnvelope},

		// Rotation: XA's old key until t0+1h, new key from t0+30m.
		{name: "rotation: new key before nbf", build: signedAs(f.xaNew, nil), want: CodeUnknownKey},
		{name: "rotation: new key after nbf", build: signedAs(f.xaNew, func(c *Claims) { c.IssuedAt, c.ExpiresAt = t0.Add(31*time.Minute), t0.Add(2*time.Hour) }), at: 31 * time.Minute, want: ""},
		{name: "rotation: old key still verifies before exp", build: signedAs(xa, nil), at: 59 * time.Minute, want: ""},
		{name: "rotation: old key after exp", build: signedAs(xa, func(c *Claims) { c.ExpiresAt = t0.Add(3 * time.Hour) }), at: 2 * time.Hour, want: CodeUnknownKey},

		// Signatures.
		{name: "attacker key under XA's kid", build: signedAs(attacker.WithKID(xa.KID()), nil), want: CodeBadSignature},
		{name: "tampered payload", build: func(t *testing.T) []byte {
			good := signedAs(xa, nil)(t)
			p := strings.Split(string(good), ".")
			evil := payload(func(m map[string]any) { m["body"] = map[string]any{"schema": "flx/v1/case", "case_id": "XA-RC:evil"} })
			return []byte(p[0] + "." + b64url.EncodeToString(evil) + "." + p[2])
		}, want: CodeBadSignature},
		{name: "signature of another envelope", build: func(t *testing.T) []byte {
			a, b := signedAs(xa, nil)(t), signedAs(xa, nil)(t)
			pa, pb := strings.Split(string(a), "."), strings.Split(string(b), ".")
			return []byte(pa[0] + "." + pa[1] + "." + pb[2])
		}, want: CodeBadSignature},

		// Structure.
		{name: "two signatures (JSON serialization)", build: func(t *testing.T) []byte {
			good := signedAs(xa, nil)(t)
			p := strings.Split(string(good), ".")
			other := strings.Split(string(forge(hdr("EdDSA", attacker.KID(), ""), must(b64url.DecodeString(p[1])), edSigner(t, attacker))), ".")
			return wireJSON(t, map[string]any{"payload": p[1], "signatures": []map[string]string{
				{"protected": p[0], "signature": p[2]}, {"protected": other[0], "signature": other[2]},
			}})
		}, want: CodeBadEnvelope},
		{name: "flattened JSON serialization", build: func(t *testing.T) []byte {
			p := strings.Split(string(signedAs(xa, nil)(t)), ".")
			return wireJSON(t, map[string]string{"protected": p[0], "payload": p[1], "signature": p[2]})
		}, want: CodeBadEnvelope},
		{name: "receipt typ", build: func(t *testing.T) []byte { return must(jose.Sign(payload(nil), TypReceipt, xa)) }, want: CodeBadEnvelope},
		{name: "manifest typ", build: func(t *testing.T) []byte { return must(jose.Sign(payload(nil), TypManifest, xa)) }, want: CodeBadEnvelope},
		{name: "not JSON claims", build: rawSigned(xa, []byte("hello")), want: CodeBadEnvelope},
		{name: "claims array", build: rawSigned(xa, []byte(`[]`)), want: CodeBadEnvelope},
		{name: "unknown claim", build: rawSigned(xa, payload(func(m map[string]any) { m["cc"] = "XC-RC" })), want: CodeBadEnvelope},
		{name: "aud as array", build: rawSigned(xa, payload(func(m map[string]any) { m["aud"] = []string{"XB-RC"} })), want: CodeBadEnvelope},
		{name: "missing jti", build: rawSigned(xa, payload(func(m map[string]any) { delete(m, "jti") })), want: CodeBadEnvelope},
		{name: "missing iss", build: rawSigned(xa, payload(func(m map[string]any) { delete(m, "iss") })), peer: "-", want: CodeBadEnvelope},
		{name: "missing aud", build: rawSigned(xa, payload(func(m map[string]any) { delete(m, "aud") })), want: CodeBadEnvelope},
		{name: "missing kind", build: rawSigned(xa, payload(func(m map[string]any) { delete(m, "kind") })), want: CodeBadEnvelope},
		{name: "missing exp", build: rawSigned(xa, payload(func(m map[string]any) { delete(m, "exp") })), want: CodeBadEnvelope},
		{name: "missing body", build: rawSigned(xa, payload(func(m map[string]any) { delete(m, "body") })), want: CodeBadEnvelope},
		{name: "fractional exp", build: rawSigned(xa, payload(func(m map[string]any) { m["exp"] = float64(t0.Unix()) + 0.5 })), want: CodeBadEnvelope},
		{name: "jti with spaces", build: rawSigned(xa, payload(func(m map[string]any) { m["jti"] = "a b" })), want: CodeBadEnvelope},
		{name: "exp before iat", build: rawSigned(xa, payload(func(m map[string]any) { m["exp"] = t0.Add(-2 * time.Hour).Unix() })), want: CodeBadEnvelope},
		{name: "lifetime over MaxTTL", build: signedAs(xa, func(c *Claims) { c.ExpiresAt = c.IssuedAt.Add(DefaultMaxTTL + time.Second) }), want: CodeBadEnvelope},
		{name: "lifetime overflowing a Duration", build: rawSigned(xa, payload(func(m map[string]any) { m["exp"] = int64(1) << 62 })), want: CodeBadEnvelope},

		// Senders.
		{name: "iss is not the authenticated peer", build: signedAs(xa, nil), peer: "ICRC-CTA", want: CodeSenderMismatch},
		{name: "ICRC-CTA signs as XA-RC over its own connection", build: signedAs(f.keys["ICRC-CTA"], nil), peer: "ICRC-CTA", want: CodeSenderMismatch},
		{name: "suspended sender", build: signedAs(f.keys["XC-RC"], func(c *Claims) { c.Issuer = "XC-RC" }), peer: "XC-RC", want: CodeSuspendedMember},
		{name: "unknown sender", build: signedAs(attacker, func(c *Claims) { c.Issuer = "XD-RC" }), peer: "-", want: CodeUnknownKey},

		// Audience, time, kind.
		{name: "aud is another member", build: signedAs(xa, func(c *Claims) { c.Audience = "ICRC-CTA" }), want: CodeWrongAudience},
		{name: "expired", build: signedAs(xa, func(c *Claims) { c.IssuedAt, c.ExpiresAt = t0.Add(-3*time.Hour), t0.Add(-2*time.Minute) }), want: CodeExpired},
		{name: "expired exactly at skew", build: signedAs(xa, func(c *Claims) { c.IssuedAt, c.ExpiresAt = t0.Add(-time.Hour), t0.Add(-DefaultSkew) }), want: CodeExpired},
		{name: "iat in the future", build: signedAs(xa, func(c *Claims) { c.IssuedAt, c.ExpiresAt = t0.Add(5*time.Minute), t0.Add(time.Hour) }), want: CodeNotYetValid},
		{name: "iat in the future within skew", build: signedAs(xa, func(c *Claims) { c.IssuedAt = t0.Add(30 * time.Second) }), want: ""},
		{name: "unknown kind", build: rawSigned(xa, payload(func(m map[string]any) { m["kind"] = "case.delete" })), want: CodeUnsupportedKind},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := c.build(t)
			peer := c.peer
			switch peer {
			case "":
				peer = "XA-RC"
			case "-":
				peer = ""
			}
			self := c.self
			if self == "" {
				self = "XB-RC"
			}
			v := f.verifier(self)
			v.Now = func() time.Time { return t0.Add(c.at) }
			env, err := v.Verify(context.Background(), raw, peer)
			wantCode(t, err, c.want)
			if err == nil {
				_, key, ok := f.manifest.KeyByKID(env.KID)
				if !ok || !independentlySigned(raw, key) {
					t.Fatal("accepted an envelope not signed by a manifest key")
				}
			}
		})
	}

	// The same envelopes in batches (VerifyBatch), each between two honest
	// ones: every verdict is VerifyUnkept's, error for error.
	t.Run("batch", func(t *testing.T) {
		type group struct {
			peer, self string
			at         time.Duration
		}
		groups := map[group][]tc{}
		for _, c := range cases {
			g := group{c.peer, c.self, c.at}
			groups[g] = append(groups[g], c)
		}
		for g, cs := range groups {
			peer, self := g.peer, g.self
			switch peer {
			case "":
				peer = "XA-RC"
			case "-":
				peer = ""
			}
			if self == "" {
				self = "XB-RC"
			}
			v := f.verifier(self)
			v.Now = func() time.Time { return t0.Add(g.at) }
			var raws [][]byte
			hk := xa
			if g.at > 30*time.Minute {
				hk = f.xaNew // XA's old key expires at t0+1h
			}
			honest := signedAs(hk, func(c *Claims) { c.IssuedAt, c.ExpiresAt = t0.Add(g.at-time.Minute), t0.Add(g.at+time.Minute) })
			for _, c := range cs {
				raws = append(raws, honest(t), c.build(t))
			}
			raws = append(raws, honest(t))
			envs, errs, err := v.VerifyBatch(t.Context(), raws, peer)
			if err != nil {
				t.Fatal(err)
			}
			for i, raw := range raws {
				env, err := v.VerifyUnkept(t.Context(), raw, peer)
				if fmt.Sprint(err) != fmt.Sprint(errs[i]) || (env == nil) != (envs[i] == nil) {
					t.Fatalf("%+v, envelope %d: VerifyBatch %v, VerifyUnkept %v", g, i, errs[i], err)
				}
				if i%2 == 1 {
					wantCode(t, errs[i], cs[i/2].want)
				} else if err != nil && g.self == "" && (g.peer == "" || g.peer == "-") {
					t.Fatalf("%+v: honest envelope %d refused: %v", g, i, err)
				}
				if env != nil && (env.JTI != envs[i].JTI || env.SHA256() != envs[i].SHA256() || env.KID != envs[i].KID) {
					t.Fatalf("%+v, envelope %d: VerifyBatch %+v, VerifyUnkept %+v", g, i, envs[i], env)
				}
			}
		}
	})
}

// The same attacks against an ES256 sender.
func TestVerifyEnvelopeAttacksES256(t *testing.T) {
	f := newFixture(t)
	xb := f.keys["XB-RC"]
	attackerEC := newKey(t, jose.ES256)
	v := f.verifier("XA-RC")
	good := f.sign(t, f.claims("XB-RC", "XA-RC"), xb)
	p := strings.Split(string(good), ".")
	sig := must(b64url.DecodeString(p[2]))
	mangled := append([]byte(nil), sig...)
	mangled[10] ^= 0x40
	hdrOf := func(alg string) string {
		return `{"alg":"` + alg + `","kid":"` + xb.KID() + `","typ":"` + TypEnvelope + `"}`
	}
	pl := must(b64url.DecodeString(p[1]))
	cases := []struct {
		name string
		raw  []byte
		want Code
	}{
		{"valid", good, ""},
		{"alg none", forge(hdrOf("none"), pl, nil), CodeUnsupportedAlg},
		{"HS256 keyed with the public JWK", forge(hdrOf("HS256"), pl, hmacSigner(wireJSON(t, xb.Public()))), CodeUnsupportedAlg},
		{"ES384", forge(hdrOf("ES384"), pl, func([]byte) []byte { return sig }), CodeUnsupportedAlg},
		{"EdDSA header on ES256-pinned kid", f.sign(t, f.claims("XB-RC", "XA-RC"), f.keys["ICRC-CTA"].WithKID(xb.KID())), CodeUnsupportedAlg},
		{"attacker P-256 key under XB's kid", f.sign(t, f.claims("XB-RC", "XA-RC"), attackerEC.WithKID(xb.KID())), CodeBadSignature},
		{"mangled signature", []byte(p[0] + "." + p[1] + "." + b64url.EncodeToString(mangled)), CodeBadSignature},
		{"DER signature instead of raw r||s", []byte(p[0] + "." + p[1] + "." + b64url.EncodeToString(append([]byte{0x30, 0x44, 0x02, 0x20}, sig...))), CodeBadSignature},
		{"kid of XA in XB's token", f.sign(t, f.claims("XB-RC", "XA-RC"), f.keys["XA-RC"]), CodeUnknownKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), c.raw, "XB-RC")
			wantCode(t, err, c.want)
		})
	}
}

func TestVerifierConfiguration(t *testing.T) {
	f := newFixture(t)
	raw := f.sign(t, f.claims("XA-RC", "XB-RC"), f.keys["XA-RC"])
	for name, v := range map[string]*Verifier{
		"no manifest source": {Self: "XB-RC"},
		"no self":            {Manifest: StaticManifest(f.manifest)},
		"nil manifest":       {Manifest: StaticManifest(nil), Self: "XB-RC"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), raw, "XA-RC")
			if err == nil || CodeOf(err) != "" {
				t.Fatalf("want an internal (code-less) error, got %v", err)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.verifier("XB-RC").Verify(ctx, raw, "XA-RC"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
	v := f.verifier("XB-RC")
	v.MaxTTL = 30 * time.Minute
	if _, err := v.Verify(context.Background(), raw, "XA-RC"); !errors.Is(err, ErrBadEnvelope) {
		t.Fatalf("MaxTTL 30m on a 61m envelope: %v", err)
	}
	v.MaxTTL, v.Skew = 0, 10*time.Minute
	late := f.sign(t, func() Claims {
		c := f.claims("XA-RC", "XB-RC")
		c.IssuedAt, c.ExpiresAt = t0.Add(-time.Hour), t0.Add(-5*time.Minute)
		return c
	}(), f.keys["XA-RC"])
	if _, err := v.Verify(context.Background(), late, "XA-RC"); err != nil {
		t.Fatalf("Skew 10m should accept an envelope 5m past exp: %v", err)
	}
}

func TestSignRefusesBadClaims(t *testing.T) {
	f := newFixture(t)
	k := f.keys["XA-RC"]
	edits := map[string]struct {
		edit func(c *Claims)
		want Code
	}{
		"no iss":          {func(c *Claims) { c.Issuer = "" }, CodeBadEnvelope},
		"iss not an id":   {func(c *Claims) { c.Issuer = "xa-rc" }, CodeBadEnvelope},
		"no jti":          {func(c *Claims) { c.JTI = "" }, CodeBadEnvelope},
		"no case_id":      {func(c *Claims) { c.CaseID = "" }, CodeBadEnvelope},
		"bad case_id":     {func(c *Claims) { c.CaseID = "case-1" }, CodeBadEnvelope},
		"no exp":          {func(c *Claims) { c.ExpiresAt = time.Time{} }, CodeBadEnvelope},
		"exp before iat":  {func(c *Claims) { c.ExpiresAt = c.IssuedAt.Add(-time.Second) }, CodeBadEnvelope},
		"no body":         {func(c *Claims) { c.Body = nil }, CodeBadEnvelope},
		"body not JSON":   {func(c *Claims) { c.Body = json.RawMessage("{") }, CodeBadEnvelope},
		"unknown kind":    {func(c *Claims) { c.Kind = "case.delete" }, CodeUnsupportedKind},
		"every kind okay": {func(c *Claims) { c.Kind = KindCaseWithdraw }, ""},
	}
	for name, tc := range edits {
		t.Run(name, func(t *testing.T) {
			c := f.claims("XA-RC", "XB-RC")
			tc.edit(&c)
			_, err := Sign(c, k)
			wantCode(t, err, tc.want)
		})
	}
	for _, kind := range Kinds {
		c := f.claims("XA-RC", "XB-RC")
		c.Kind = kind
		if _, err := f.verifier("XB-RC").Verify(context.Background(), f.sign(t, c, k), "XA-RC"); err != nil {
			t.Errorf("kind %s: %v", kind, err)
		}
	}
}

func TestNewJTI(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		j := NewJTI()
		if !validJTI(j) || len(j) != 22 || seen[j] {
			t.Fatalf("jti %q", j)
		}
		seen[j] = true
	}
}
