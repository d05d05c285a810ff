package federation

import (
	"fmt"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

// TestVerifyBatchForgedAtEveryPosition: in a batch of XA-RC's envelopes,
// one signed by another key under XA's kid, at each position in turn, is
// refused alone with bad_signature; the others are accepted.
func TestVerifyBatchForgedAtEveryPosition(t *testing.T) {
	f := newFixture(t)
	v := f.verifier("XB-RC")
	attacker := newKey(t, jose.EdDSA).WithKID(f.keys["XA-RC"].KID())
	const n = 20
	for pos := range n {
		raws := make([][]byte, n)
		for i := range raws {
			k := f.keys["XA-RC"]
			if i == pos {
				k = attacker
			}
			raws[i] = f.sign(t, f.claims("XA-RC", "XB-RC"), k)
		}
		envs, errs, err := v.VerifyBatch(t.Context(), raws, "XA-RC")
		if err != nil {
			t.Fatal(err)
		}
		for i := range raws {
			if i == pos {
				wantCode(t, errs[i], CodeBadSignature)
				if envs[i] != nil {
					t.Fatal("a refused envelope came back")
				}
				continue
			}
			if errs[i] != nil || envs[i] == nil {
				t.Fatalf("forged at %d: envelope %d refused: %v", pos, i, errs[i])
			}
		}
	}
	// A whole-batch refusal: the manifest has expired.
	v.Now = func() time.Time { return f.manifest.ExpiresAt.Add(time.Hour) }
	if _, _, err := v.VerifyBatch(t.Context(), [][]byte{f.sign(t, f.claims("XA-RC", "XB-RC"), f.keys["XA-RC"])}, "XA-RC"); CodeOf(err) != CodeUnavailable {
		t.Fatalf("expired manifest: %v", err)
	}
}

// TestVerifyReceiptsAgreesWithVerifyReceipt: the receipts ICRC-CTA (an
// Ed25519 key) signs for XA-RC's envelopes, honest ones and each kind of
// bad one among them, get from VerifyReceipts what VerifyReceipt answers,
// error for error.
func TestVerifyReceiptsAgreesWithVerifyReceipt(t *testing.T) {
	f := newFixture(t)
	cta := f.keys["ICRC-CTA"]
	attacker := newKey(t, jose.EdDSA).WithKID(cta.KID())
	type rcase struct {
		name string
		edit func(c *ReceiptClaims, w *ExpectedReceipt) *jose.PrivateKey
		want Code
	}
	cases := []rcase{
		{"valid", func(*ReceiptClaims, *ExpectedReceipt) *jose.PrivateKey { return cta }, ""},
		{"attacker key under CTA's kid", func(*ReceiptClaims, *ExpectedReceipt) *jose.PrivateKey { return attacker }, CodeBadSignature},
		{"XA's key under CTA's kid", func(*ReceiptClaims, *ExpectedReceipt) *jose.PrivateKey { return f.keys["XA-RC"].WithKID(cta.KID()) }, CodeBadSignature},
		{"another hash", func(c *ReceiptClaims, _ *ExpectedReceipt) *jose.PrivateKey {
			c.SHA256 = fmt.Sprintf("%064x", 7)
			return cta
		}, CodeBadEnvelope},
		{"another audience", func(_ *ReceiptClaims, w *ExpectedReceipt) *jose.PrivateKey { w.Audience = "XB-RC"; return cta }, CodeWrongAudience},
		{"in the future", func(c *ReceiptClaims, _ *ExpectedReceipt) *jose.PrivateKey {
			c.IssuedAt = t0.Add(time.Hour)
			return cta
		}, CodeNotYetValid},
		{"another issuer expected", func(_ *ReceiptClaims, w *ExpectedReceipt) *jose.PrivateKey { w.Issuer = "XB-RC"; return cta }, CodeSenderMismatch},
		{"no jti expected", func(_ *ReceiptClaims, w *ExpectedReceipt) *jose.PrivateKey { w.ReceiptFor = ""; return cta }, ""},
	}
	for _, bad := range cases {
		for _, n := range []int{1, 2, 9} {
			for pos := range n {
				raws := make([][]byte, n)
				wants := make([]ExpectedReceipt, n)
				for i := range raws {
					c := f.claims("XA-RC", "ICRC-CTA")
					sent := f.sign(t, c, f.keys["XA-RC"])
					wants[i] = ExpectReceipt(sent, c)
					rc := ReceiptClaims{Issuer: "ICRC-CTA", Audience: "XA-RC", IssuedAt: t0, ReceiptFor: c.JTI, SHA256: wants[i].SHA256, Status: ReceiptAccepted}
					k := cta
					if i == pos {
						k = bad.edit(&rc, &wants[i])
					}
					raws[i] = must(SignReceipt(rc, k))
				}
				rcs, errs := VerifyReceipts(raws, f.manifest, wants, t0)
				for i := range raws {
					one, err := VerifyReceipt(raws[i], f.manifest, wants[i], t0)
					if fmt.Sprint(err) != fmt.Sprint(errs[i]) || (one == nil) != (rcs[i] == nil) {
						t.Fatalf("%s, %d of %d at %d: VerifyReceipts %v, VerifyReceipt %v", bad.name, i, n, pos, errs[i], err)
					}
					if i != pos && err != nil {
						t.Fatalf("%s, %d of %d at %d: honest receipt refused: %v", bad.name, i, n, pos, err)
					}
					if i == pos && bad.name == "no jti expected" {
						if err == nil || CodeOf(err) != "" {
							t.Fatalf("an expectation without jti: %v, want a code-less error", err)
						}
						continue
					}
					if i == pos {
						wantCode(t, errs[i], bad.want)
					}
				}
			}
		}
	}
}
