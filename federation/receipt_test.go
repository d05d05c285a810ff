package federation

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

func TestReceipts(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	// XA-RC sends to XB-RC (ES256); XB-RC answers with a receipt.
	sentClaims := f.claims("XA-RC", "XB-RC")
	sent := f.sign(t, sentClaims, f.keys["XA-RC"])
	raw := sent
	env := must(f.verifier("XB-RC").Verify(ctx, raw, "XA-RC"))
	other := must(f.verifier("XB-RC").Verify(ctx, f.sign(t, f.claims("XA-RC", "XB-RC"), f.keys["XA-RC"]), "XA-RC"))
	good := ReceiptFor(env, ReceiptAccepted, t0)
	if good.Issuer != "XB-RC" || good.Audience != "XA-RC" || good.ReceiptFor != env.JTI || good.SHA256 != env.SHA256() {
		t.Fatalf("ReceiptFor: %+v", good)
	}
	signRcpt := func(edit func(c *ReceiptClaims), k *jose.PrivateKey) func(*testing.T) []byte {
		return func(t *testing.T) []byte {
			c := good
			if edit != nil {
				edit(&c)
			}
			r, err := SignReceipt(c, k)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	xb := f.keys["XB-RC"]
	cases := []struct {
		name  string
		build func(*testing.T) []byte
		want  Code
	}{
		{"valid accepted", signRcpt(nil, xb), ""},
		{"valid duplicate", signRcpt(func(c *ReceiptClaims) { c.Status = ReceiptDuplicate }, xb), ""},
		{"bound to another jti", signRcpt(func(c *ReceiptClaims) { c.ReceiptFor = other.JTI }, xb), CodeBadEnvelope},
		{"bound to another hash", signRcpt(func(c *ReceiptClaims) { c.SHA256 = other.SHA256() }, xb), CodeBadEnvelope},
		{"issued by someone else (ICRC-CTA signs as itself)", signRcpt(func(c *ReceiptClaims) { c.Issuer = "ICRC-CTA" }, f.keys["ICRC-CTA"]), CodeSenderMismatch},
		{"claims XB-RC, signed with ICRC-CTA's key", signRcpt(nil, f.keys["ICRC-CTA"]), CodeUnknownKey},
		{"claims XB-RC, attacker key under XB's kid", signRcpt(nil, newKey(t, jose.ES256).WithKID(xb.KID())), CodeBadSignature},
		{"envelope passed off as a receipt", func(*testing.T) []byte { return raw }, CodeBadEnvelope},
		{"alg none", func(*testing.T) []byte {
			return forge(`{"alg":"none","kid":"`+xb.KID()+`","typ":"`+TypReceipt+`"}`, []byte(`{"iss":"XB-RC"}`), nil)
		}, CodeUnsupportedAlg},
		{"iat in the future", signRcpt(func(c *ReceiptClaims) { c.IssuedAt = t0.Add(time.Hour) }, xb), CodeNotYetValid},
		// aud must be the verifying node (the envelope's sender): a receipt
		// XB-RC made for ICRC-CTA's envelope with the same jti and bytes
		// (e.g. a relayed copy) is not a receipt for XA-RC.
		{"addressed to another sender", signRcpt(func(c *ReceiptClaims) { c.Audience = "ICRC-CTA" }, xb), CodeWrongAudience},
		{"addressed to the issuer itself", signRcpt(func(c *ReceiptClaims) { c.Audience = "XB-RC" }, xb), CodeWrongAudience},
		{"aud in other case (AUD) after the real aud", func(t *testing.T) []byte {
			p := `{"iss":"XB-RC","aud":"ICRC-CTA","AUD":"XA-RC","iat":` + itoa(t0.Unix()) + `,"receipt_for":"` + env.JTI + `","sha256":"` + env.SHA256() + `","status":"accepted"}`
			return must(jose.Sign([]byte(p), TypReceipt, xb))
		}, CodeBadEnvelope},
		{"aud twice, the second the victim", func(t *testing.T) []byte {
			p := `{"iss":"XB-RC","aud":"ICRC-CTA","aud":"XA-RC","iat":` + itoa(t0.Unix()) + `,"receipt_for":"` + env.JTI + `","sha256":"` + env.SHA256() + `","status":"accepted"}`
			return must(jose.Sign([]byte(p), TypReceipt, xb))
		}, CodeBadEnvelope},
		{"status twice", func(t *testing.T) []byte {
			p := `{"iss":"XB-RC","aud":"XA-RC","iat":` + itoa(t0.Unix()) + `,"receipt_for":"` + env.JTI + `","sha256":"` + env.SHA256() + `","status":"duplicate","status":"accepted"}`
			return must(jose.Sign([]byte(p), TypReceipt, xb))
		}, CodeBadEnvelope},
		{"ISS instead of iss", func(t *testing.T) []byte {
			p := `{"ISS":"XB-RC","aud":"XA-RC","iat":` + itoa(t0.Unix()) + `,"receipt_for":"` + env.JTI + `","sha256":"` + env.SHA256() + `","status":"accepted"}`
			return must(jose.Sign([]byte(p), TypReceipt, xb))
		}, CodeBadEnvelope},
		{"unknown claim", func(t *testing.T) []byte {
			p := `{"iss":"XB-RC","aud":"XA-RC","iat":1,"receipt_for":"x","sha256":"` + env.SHA256() + `","status":"accepted","note":"x"}`
			return must(jose.Sign([]byte(p), TypReceipt, xb))
		}, CodeBadEnvelope},
		{"bad status", func(t *testing.T) []byte {
			p := `{"iss":"XB-RC","aud":"XA-RC","iat":` + itoa(t0.Unix()) + `,"receipt_for":"` + env.JTI + `","sha256":"` + env.SHA256() + `","status":"processed"}`
			return must(jose.Sign([]byte(p), TypReceipt, xb))
		}, CodeBadEnvelope},
		{"tampered", func(t *testing.T) []byte {
			r := signRcpt(nil, xb)(t)
			p := strings.Split(string(r), ".")
			evil := `{"iss":"XB-RC","aud":"XA-RC","iat":` + itoa(t0.Unix()) + `,"receipt_for":"` + env.JTI + `","sha256":"` + env.SHA256() + `","status":"duplicate"}`
			return []byte(p[0] + "." + b64url.EncodeToString([]byte(evil)) + "." + p[2])
		}, CodeBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.build(t)
			r, err := VerifyReceipt(raw, f.manifest, ExpectReceipt(sent, sentClaims), t0)
			wantCode(t, err, tc.want)
			if err == nil {
				if r.ReceiptFor != env.JTI || r.SHA256 != env.SHA256() || r.Issuer != "XB-RC" || r.KID != xb.KID() || string(r.Raw()) != string(raw) {
					t.Fatalf("receipt %+v", r)
				}
				if !independentlySigned(raw, xb.Public()) {
					t.Fatal("accepted a receipt not signed by XB-RC")
				}
			}
		})
	}
	t.Run("SignReceipt refuses bad claims", func(t *testing.T) {
		for name, edit := range map[string]func(c *ReceiptClaims){
			"bad status": func(c *ReceiptClaims) { c.Status = "ok" },
			"bad hash":   func(c *ReceiptClaims) { c.SHA256 = "ABC" },
			"no jti":     func(c *ReceiptClaims) { c.ReceiptFor = "" },
			"no iat":     func(c *ReceiptClaims) { c.IssuedAt = time.Time{} },
			"bad iss":    func(c *ReceiptClaims) { c.Issuer = "x" },
		} {
			c := good
			edit(&c)
			if _, err := SignReceipt(c, xb); CodeOf(err) != CodeBadEnvelope {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestVerifyReceiptExpectations(t *testing.T) {
	f := newFixture(t)
	c := f.claims("XA-RC", "XB-RC")
	sent := f.sign(t, c, f.keys["XA-RC"])
	want := ExpectReceipt(sent, c)
	sum := sha256.Sum256(sent)
	if want.Issuer != "XB-RC" || want.Audience != "XA-RC" || want.ReceiptFor != c.JTI || want.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("ExpectReceipt: %+v", want)
	}
	rc := ReceiptClaims{Issuer: "XB-RC", Audience: "XA-RC", IssuedAt: t0, ReceiptFor: c.JTI, SHA256: want.SHA256, Status: ReceiptAccepted}
	rcpt := must(SignReceipt(rc, f.keys["XB-RC"]))
	if _, err := VerifyReceipt(rcpt, f.manifest, want, t0); err != nil {
		t.Fatal(err)
	}

	t.Run("every expectation is required", func(t *testing.T) {
		for name, edit := range map[string]func(w *ExpectedReceipt){
			"no issuer":   func(w *ExpectedReceipt) { w.Issuer = "" },
			"no audience": func(w *ExpectedReceipt) { w.Audience = "" },
			"no jti":      func(w *ExpectedReceipt) { w.ReceiptFor = "" },
			"no sha256":   func(w *ExpectedReceipt) { w.SHA256 = "" },
		} {
			w := want
			edit(&w)
			if _, err := VerifyReceipt(rcpt, f.manifest, w, t0); err == nil || CodeOf(err) != "" {
				t.Errorf("%s: want an internal (code-less) error, got %v", name, err)
			}
		}
	})
	t.Run("the verifying node is not the audience", func(t *testing.T) {
		w := want
		w.Audience = "ICRC-CTA" // ICRC-CTA checking a receipt XB-RC gave XA-RC
		_, err := VerifyReceipt(rcpt, f.manifest, w, t0)
		wantCode(t, err, CodeWrongAudience)
	})
	t.Run("expired manifest", func(t *testing.T) {
		exp := f.manifest.ExpiresAt
		_, err := VerifyReceipt(rcpt, f.manifest, want, exp.Add(DefaultSkew))
		wantCode(t, err, CodeUnavailable)
		_, err = VerifyReceipt(rcpt, f.manifest, want, exp.Add(DefaultSkew-time.Second))
		wantCode(t, err, "")
		w := want
		w.Skew = 5 * time.Minute
		_, err = VerifyReceipt(rcpt, f.manifest, w, exp.Add(4*time.Minute))
		wantCode(t, err, "")
		_, err = VerifyReceipt(rcpt, f.manifest, w, exp.Add(5*time.Minute))
		wantCode(t, err, CodeUnavailable)
	})
}
