package federation

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

// claimsJSON joins "name":value members into a JSON object, written by hand
// so that tests can place, repeat and misspell members freely.
func claimsJSON(members ...string) []byte {
	return []byte("{" + strings.Join(members, ",") + "}")
}

// stdClaims returns the eight claims of a valid XA-RC -> XB-RC envelope as
// "name":value strings, in wire order.
func stdClaims(f *fixture) []string {
	return []string{
		`"iss":"XA-RC"`,
		`"aud":"XB-RC"`,
		`"iat":` + itoa(f.now.Add(-time.Minute).Unix()),
		`"exp":` + itoa(f.now.Add(time.Hour).Unix()),
		`"jti":"` + NewJTI() + `"`,
		`"kind":"case.create"`,
		`"case_id":"XA-RC:case-1"`,
		`"body":{"schema":"flx/v1/case","case_id":"XA-RC:case-1"}`,
	}
}

// edited returns stdClaims with member i replaced by repl (none: removed),
// and extra appended.
func edited(f *fixture, i int, repl []string, extra ...string) []string {
	c := stdClaims(f)
	out := append(append(append([]string{}, c[:i]...), repl...), c[i+1:]...)
	return append(out, extra...)
}

// TestVerifyEnvelopeStrictClaims: claims are decoded strictly (FLX-ENV-004).
// Every payload here is signed with XA-RC's real key and sent over XA-RC's
// authenticated connection to XB-RC, so the only fault is the JSON itself.
// Under plain encoding/json each "attack" case below would be ACCEPTED with
// the claim value shown in its name.
func TestVerifyEnvelopeStrictClaims(t *testing.T) {
	f := newFixture(t)
	xa := f.keys["XA-RC"]
	const (
		iss, aud, kind, caseID, body = 0, 1, 5, 6, 7
	)
	cases := []struct {
		name    string
		members []string
		want    Code
	}{
		{"valid, hand-written", stdClaims(f), ""},
		{"valid, members in another order", func() []string {
			c := stdClaims(f)
			return append(c[4:], c[:4]...)
		}(), ""},
		{"valid, escaped member name (\\u0069ss is iss)", edited(f, iss, []string{`"\u0069ss":"XA-RC"`}), ""},

		// Case: encoding/json would fill iss/aud/kind from these.
		{"ISS for iss", edited(f, iss, []string{`"ISS":"XA-RC"`}), CodeBadEnvelope},
		{"Iss for iss", edited(f, iss, []string{`"Iss":"XA-RC"`}), CodeBadEnvelope},
		{"AUD after aud (would win: aud XB-RC)", edited(f, aud, []string{`"aud":"ICRC-CTA"`}, `"AUD":"XB-RC"`), CodeBadEnvelope},
		{"KELVIN SIGN kind (\\u212Aind)", edited(f, kind, []string{`"\u212Aind":"case.create"`}), CodeBadEnvelope},
		{"Case_ID for case_id", edited(f, caseID, []string{`"Case_ID":"XA-RC:case-1"`}), CodeBadEnvelope},
		{"BODY for body", edited(f, body, []string{`"BODY":{"schema":"flx/v1/case","case_id":"XA-RC:case-1"}`}), CodeBadEnvelope},

		// Duplicates: encoding/json keeps the last one.
		{"iss twice (last XA-RC wins)", edited(f, iss, []string{`"iss":"ICRC-CTA"`, `"iss":"XA-RC"`}), CodeBadEnvelope},
		{"iss twice, same value", edited(f, iss, []string{`"iss":"XA-RC"`, `"iss":"XA-RC"`}), CodeBadEnvelope},
		{"aud twice, the second the victim (XB-RC)", edited(f, aud, []string{`"aud":"ICRC-CTA"`}, `"aud":"XB-RC"`), CodeBadEnvelope},
		{"aud twice, once escaped", edited(f, aud, []string{`"aud":"ICRC-CTA"`}, `"\u0061ud":"XB-RC"`), CodeBadEnvelope},
		{"kind twice", edited(f, kind, []string{`"kind":"case.withdraw"`, `"kind":"case.create"`}), CodeBadEnvelope},
		{"case_id twice", edited(f, caseID, []string{`"case_id":"XA-RC:other"`, `"case_id":"XA-RC:case-1"`}), CodeBadEnvelope},
		{"body twice", edited(f, body, []string{`"body":{"schema":"flx/v1/case","case_id":"XA-RC:evil"}`, `"body":{"schema":"flx/v1/case","case_id":"XA-RC:case-1"}`}), CodeBadEnvelope},
		{"exp twice (the past one first)", edited(f, 3, []string{`"exp":` + itoa(f.now.Add(-time.Hour).Unix()), `"exp":` + itoa(f.now.Add(time.Hour).Unix())}), CodeBadEnvelope},

		// Types.
		{"iat as a string", edited(f, 2, []string{`"iat":"` + itoa(f.now.Unix()) + `"`}), CodeBadEnvelope},
		{"case_id as a number", edited(f, caseID, []string{`"case_id":42`}), CodeBadEnvelope},
		{"case_id null", edited(f, caseID, []string{`"case_id":null`}), CodeBadEnvelope},
		{"body null", edited(f, body, []string{`"body":null`}), CodeBadEnvelope},

		// The body is opaque here: a duplicate inside it is schema_invalid,
		// decided by the node's schema.Validate (FLX-SCH-002), not
		// bad_envelope. Verify lets it through to the caller.
		{"duplicate member inside body (left to the schema)", edited(f, body, []string{`"body":{"schema":"flx/v1/case","case_id":"XA-RC:case-1","case_id":"XA-RC:case-1"}`}), ""},
		{"other-case member inside body (left to the schema)", edited(f, body, []string{`"body":{"schema":"flx/v1/case","case_id":"XA-RC:case-1","CASE_ID":"x"}`}), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			payload := claimsJSON(tc.members...)
			if !json.Valid(payload) {
				t.Fatalf("test payload is not JSON: %s", payload)
			}
			raw := must(jose.Sign(payload, TypEnvelope, xa))
			env, err := f.verifier("XB-RC").Verify(context.Background(), raw, "XA-RC")
			wantCode(t, err, tc.want)
			if err == nil && (env.Issuer != "XA-RC" || env.Audience != "XB-RC" || env.CaseID != "XA-RC:case-1") {
				t.Fatalf("accepted with claims %+v", env.Claims)
			}
		})
	}
}

// TestStrictDecodingBeforeSignature: a payload that does not decode strictly
// is refused as bad_envelope even when the signature is broken (step 5 of
// §5.5 reads the payload before the key is chosen; nothing in it is acted
// on).
func TestStrictDecodingBeforeSignature(t *testing.T) {
	f := newFixture(t)
	good := string(f.sign(t, f.claims("XA-RC", "XB-RC"), f.keys["XA-RC"]))
	p := strings.Split(good, ".")
	evil := claimsJSON(edited(f, 1, []string{`"aud":"ICRC-CTA"`}, `"aud":"XB-RC"`)...)
	raw := []byte(p[0] + "." + b64url.EncodeToString(evil) + "." + p[2])
	_, err := f.verifier("XB-RC").Verify(context.Background(), raw, "XA-RC")
	wantCode(t, err, CodeBadEnvelope)
}

func TestCaseIDClaim(t *testing.T) {
	f := newFixture(t)
	xa := f.keys["XA-RC"]
	valid := []string{
		"XA-RC:case-1", "XA-RC:a", "ICRC-CTA:2026-0042", "X1:A.b_c-9",
		"A" + strings.Repeat("B", 31) + ":" + strings.Repeat("z", 64),
	}
	invalid := []string{
		"", "XA-RC", "XA-RC:", ":case-1", "xa-rc:case-1", "-XA:case-1", "X:case-1",
		"A" + strings.Repeat("B", 32) + ":case-1", "XA-RC:" + strings.Repeat("z", 65),
		"XA-RC:case 1", "XA-RC:case/1", "XA-RC:case:1", "XA-RC:cäse", "XA-RC:case-1\n", " XA-RC:case-1",
	}
	for _, id := range valid {
		if !ValidCaseID(id) {
			t.Errorf("ValidCaseID(%q) = false", id)
		}
		c := f.claims("XA-RC", "XB-RC")
		c.CaseID = id
		if _, err := f.verifier("XB-RC").Verify(context.Background(), f.sign(t, c, xa), "XA-RC"); err != nil {
			t.Errorf("case_id %q refused: %v", id, err)
		}
	}
	for _, id := range invalid {
		if ValidCaseID(id) {
			t.Errorf("ValidCaseID(%q) = true", id)
		}
		c := f.claims("XA-RC", "XB-RC")
		c.CaseID = id
		// Sign refuses it ...
		if _, err := Sign(c, xa); CodeOf(err) != CodeBadEnvelope {
			t.Errorf("Sign with case_id %q: %v", id, err)
		}
		// ... and so does Verify, when another implementation signs it.
		w := c.wire()
		m := map[string]any{}
		_ = json.Unmarshal(wireJSON(t, w), &m)
		raw := must(jose.Sign(wireJSON(t, m), TypEnvelope, xa))
		_, err := f.verifier("XB-RC").Verify(context.Background(), raw, "XA-RC")
		if CodeOf(err) != CodeBadEnvelope {
			t.Errorf("Verify with case_id %q: %v", id, err)
		}
	}
	t.Run("missing case_id", func(t *testing.T) {
		raw := must(jose.Sign(claimsJSON(edited(f, 6, nil)...), TypEnvelope, xa))
		_, err := f.verifier("XB-RC").Verify(context.Background(), raw, "XA-RC")
		wantCode(t, err, CodeBadEnvelope)
	})
	t.Run("case_id is always encoded", func(t *testing.T) {
		raw := f.sign(t, f.claims("XA-RC", "XB-RC"), xa)
		payload := must(b64url.DecodeString(strings.Split(string(raw), ".")[1]))
		if !strings.Contains(string(payload), `"case_id":"XA-RC:case-1"`) {
			t.Fatalf("payload %s", payload)
		}
	})
}

// signedManifestEdit returns the fixture's manifest payload with the first
// occurrence of old replaced by repl, signed by the trust anchor.
func signedManifestEdit(t *testing.T, f *fixture, old, repl string) []byte {
	t.Helper()
	payload := string(wireJSON(t, f.spec))
	if !strings.Contains(payload, old) {
		t.Fatalf("%q not in the manifest payload", old)
	}
	edited := strings.Replace(payload, old, repl, 1)
	if !json.Valid([]byte(edited)) {
		t.Fatalf("edited manifest is not JSON: %s", edited)
	}
	return must(jose.Sign([]byte(edited), TypManifest, f.anchor))
}

// TestVerifyManifestStrict: the manifest payload is decoded strictly, at
// every depth (FLX-MAN-002), and published keys carry an explicit kid
// (FLX-KEY-002). Each payload is signed by the real trust anchor. The fixture
// has XC-RC (the third member) suspended; several cases try to turn it active
// for a parser that keeps the last duplicate.
func TestVerifyManifestStrict(t *testing.T) {
	f := newFixture(t)
	xcKID := f.keys["XC-RC"].KID()
	ctaKID := f.keys["ICRC-CTA"].KID()
	cases := []struct {
		name      string
		old, repl string
		want      Code
	}{
		{"control: unchanged", `"federation":"flx-test"`, `"federation":"flx-test"`, ""},
		{"control: unknown JWK member ignored (RFC 7517)", `"kid":"` + ctaKID + `"`, `"kid":"` + ctaKID + `","x5t":"abc"`, ""},

		// Top level.
		{"version twice", `"version":5`, `"version":5,"version":6`, CodeBadManifest},
		{"VERSION for version", `"version":5`, `"VERSION":5`, CodeBadManifest},
		{"federation twice", `"federation":"flx-test"`, `"federation":"other","federation":"flx-test"`, CodeBadManifest},
		{"Members after members", `"members":[`, `"Members":[],"members":[`, CodeBadManifest},

		// Nested: inside members.
		{"member status twice (suspended, then active)", `"status":"suspended"`, `"status":"suspended","status":"active"`, CodeBadManifest},
		{"member Status after status", `"status":"suspended"`, `"status":"suspended","Status":"active"`, CodeBadManifest},
		{"member ID for id", `"id":"XA-RC"`, `"ID":"XA-RC"`, CodeBadManifest},
		{"member id twice", `"id":"XA-RC"`, `"id":"XZ-RC","id":"XA-RC"`, CodeBadManifest},
		{"member accepts twice", `"accepts":[`, `"accepts":[],"accepts":[`, CodeBadManifest},
		{"member tls_spki_sha256 twice", `"tls_spki_sha256":[`, `"tls_spki_sha256":[],"tls_spki_sha256":[`, CodeBadManifest},
		{"member unknown field", `"id":"XA-RC"`, `"id":"XA-RC","admin":true`, CodeBadManifest},

		// Nested: JWKS and JWKs.
		{"jwks keys twice", `"jwks":{"keys":[`, `"jwks":{"keys":[],"keys":[`, CodeBadManifest},
		{"jwks Keys for keys", `"jwks":{"keys":[`, `"jwks":{"Keys":[`, CodeBadManifest},
		{"jwks extra member", `"jwks":{"keys":[`, `"jwks":{"x":1,"keys":[`, CodeBadManifest},
		{"JWK kid twice", `"kid":"` + xcKID + `"`, `"kid":"` + ctaKID + `","kid":"` + xcKID + `"`, CodeBadManifest},
		{"JWK without kid (FLX-KEY-002)", `,"kid":"` + ctaKID + `"`, ``, CodeBadManifest},
		{"JWK with KID only", `"kid":"` + ctaKID + `"`, `"KID":"` + ctaKID + `"`, CodeBadManifest},
		{"JWK alg twice", `"alg":"ES256"`, `"alg":"EdDSA","alg":"ES256"`, CodeBadManifest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := signedManifestEdit(t, f, tc.old, tc.repl)
			m, err := VerifyManifest(raw, f.anchor.Public(), t0, nil)
			wantCode(t, err, tc.want)
			if err == nil {
				if xc, _ := m.Member("XC-RC"); xc.Status != StatusSuspended {
					t.Fatal("XC-RC turned active")
				}
			}
		})
	}
	t.Run("Validate still requires a kid on keys built in code", func(t *testing.T) {
		m := cloneSpec(t, f.spec)
		m.Members[0].JWKS[0] = m.Members[0].JWKS[0].WithKID("")
		wantCode(t, m.Validate(), CodeBadManifest)
	})
}

func TestManifestExpiredAt(t *testing.T) {
	f := newFixture(t)
	m := f.manifest
	exp := m.ExpiresAt
	for _, tc := range []struct {
		now  time.Time
		skew time.Duration
		want bool
	}{
		{exp.Add(-time.Hour), 0, false},
		{exp, 0, false},
		{exp.Add(DefaultSkew - time.Second), 0, false},
		{exp.Add(DefaultSkew), 0, true},
		{exp.Add(DefaultSkew), -time.Second, true},
		{exp.Add(4 * time.Minute), 5 * time.Minute, false},
		{exp.Add(5 * time.Minute), 5 * time.Minute, true},
		{exp.Add(30 * time.Second), 30 * time.Second, true},
	} {
		if got := m.ExpiredAt(tc.now, tc.skew); got != tc.want {
			t.Errorf("ExpiredAt(exp%+v, %v) = %v, want %v", tc.now.Sub(exp), tc.skew, got, tc.want)
		}
	}
}

// TestVerifyRefusesOnExpiredManifest: while the held manifest is expired,
// every envelope is refused with unavailable (503), valid ones included, and
// nothing else is checked against the stale manifest (FLX-MAN-006). A newer
// manifest lifts it.
func TestVerifyRefusesOnExpiredManifest(t *testing.T) {
	f := newFixture(t)
	h := NewManifestHolder(f.anchor.Public(), f.manifest)
	exp := f.manifest.ExpiresAt
	var now time.Time
	v := &Verifier{Manifest: h, Self: "ICRC-CTA", Now: func() time.Time { return now }}
	envAt := func(at time.Time) []byte {
		c := f.claims("XB-RC", "ICRC-CTA")
		c.IssuedAt, c.ExpiresAt = at.Add(-time.Minute), at.Add(time.Hour)
		return f.sign(t, c, f.keys["XB-RC"])
	}

	now = exp.Add(DefaultSkew - time.Second)
	if _, err := v.Verify(t.Context(), envAt(now), "XB-RC"); err != nil {
		t.Fatalf("within skew of expires_at: %v", err)
	}

	now = exp.Add(DefaultSkew)
	_, err := v.Verify(t.Context(), envAt(now), "XB-RC")
	wantCode(t, err, CodeUnavailable)
	if CodeUnavailable.HTTPStatus() != 503 || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unavailable must be 503 and match ErrUnavailable: %v", err)
	}
	var fe *Error
	if !errors.As(err, &fe) || !strings.Contains(fe.Public(), "manifest") || strings.Contains(fe.Public(), "flx-test") {
		t.Fatalf("public message %q should name the cause without internal detail", fe.Public())
	}
	// Nothing is checked against the stale manifest: garbage, a suspended
	// member, a forged sender all get unavailable, not a verdict.
	for name, raw := range map[string][]byte{
		"garbage":          []byte("not a jws"),
		"suspended sender": f.sign(t, f.claims("XC-RC", "ICRC-CTA"), f.keys["XC-RC"]),
		"sender mismatch":  envAt(now),
	} {
		_, err := v.Verify(t.Context(), raw, "XA-RC")
		if CodeOf(err) != CodeUnavailable {
			t.Errorf("%s: %v", name, err)
		}
	}

	// The verifier's own Skew applies.
	v.Skew = 5 * time.Minute
	if _, err := v.Verify(t.Context(), envAt(now), "XB-RC"); err != nil {
		t.Fatalf("Skew 5m, 1m past expires_at: %v", err)
	}
	v.Skew = 0

	// A newer manifest, adopted, lifts the refusal.
	next := cloneSpec(t, f.spec)
	next.Version = 6
	next.IssuedAt, next.ExpiresAt = now.Add(-time.Minute), now.Add(24*time.Hour)
	if _, err := h.Update(must(SignManifest(next, f.anchor)), now); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), envAt(now), "XB-RC"); err != nil {
		t.Fatalf("after a fresh manifest: %v", err)
	}
}
