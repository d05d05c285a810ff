package federation

import (
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

// FuzzVerifyReceipts: what a sender takes as proof of delivery. For any
// receipt bytes, VerifyReceipts (the receipts of a batch answer checked in
// one equation) gives exactly VerifyReceipt's verdict, a bad receipt beside
// a good one never spoils it, and whatever is accepted is signed (checked
// with the standard library alone) by the destination's key and binds the
// jti and sha256 of the envelope sent, to this sender.
func FuzzVerifyReceipts(f *testing.F) {
	fx := newFixture(f)
	dest := "ICRC-CTA" // an Ed25519 key: the batch equation applies
	env := fx.sign(f, fx.claims("XA-RC", dest), fx.keys["XA-RC"])
	c := must(ClaimsOf(env))
	want := ExpectReceipt(env, c)
	rc := ReceiptClaims{Issuer: dest, Audience: "XA-RC", IssuedAt: t0.Add(-time.Second), ReceiptFor: c.JTI, SHA256: want.SHA256, Status: ReceiptAccepted}
	sign := func(edit func(*ReceiptClaims), key string) []byte {
		r := rc
		if edit != nil {
			edit(&r)
		}
		return must(SignReceipt(r, fx.keys[key]))
	}
	good := sign(nil, dest)
	payload := func(p string) []byte { return must(jose.Sign([]byte(p), TypReceipt, fx.keys[dest])) }
	members := `"iss":"ICRC-CTA","aud":"XA-RC","iat":` + itoa(t0.Unix()-1) + `,"receipt_for":"` + c.JTI + `","sha256":"` + want.SHA256 + `"`
	for _, s := range [][]byte{
		good,
		sign(func(r *ReceiptClaims) { r.Status = ReceiptDuplicate }, dest),
		sign(func(r *ReceiptClaims) { r.SHA256 = strings.Repeat("0", 64) }, dest),
		sign(func(r *ReceiptClaims) { r.ReceiptFor = "other-jti" }, dest),
		sign(func(r *ReceiptClaims) { r.Audience = "XB-RC" }, dest),
		sign(func(r *ReceiptClaims) { r.Issuer = "XA-RC" }, "XA-RC"),
		sign(nil, "XA-RC"),
		sign(func(r *ReceiptClaims) { r.IssuedAt = t0.Add(time.Hour) }, dest),
		payload(`{` + members + `,"status":"accepted"}`),
		payload(`{` + members + `,"status":"accepted","status":"duplicate"}`),
		payload(`{` + members + `,"status":"accepted","sha256":"` + strings.Repeat("0", 64) + `"}`),
		payload(`{` + members + `,"Status":"accepted"}`),
		payload(` {` + strings.ReplaceAll(members, ",", " , ") + `,"status":"acc\u0065pted"} `),
		payload(`{` + members + `,"status":"accepted","extra":1}`),
		[]byte(string(good) + "\n"),
		[]byte(""),
	} {
		f.Add(s)
	}
	m := fx.manifest
	_, key, ok := m.KeyByKID(fx.keys[dest].KID())
	if !ok {
		f.Fatal("no key for the destination")
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r1, e1 := VerifyReceipt(raw, m, want, t0)
		rs, es := VerifyReceipts([][]byte{raw, good, raw}, m, []ExpectedReceipt{want, want, want}, t0)
		if es[1] != nil || rs[1] == nil {
			t.Fatalf("the good receipt beside %q refused: %v", raw, es[1])
		}
		for _, i := range []int{0, 2} {
			if (e1 == nil) != (es[i] == nil) || CodeOf(e1) != CodeOf(es[i]) {
				t.Fatalf("VerifyReceipt: %v; VerifyReceipts[%d]: %v", e1, i, es[i])
			}
		}
		if e1 != nil {
			if CodeOf(e1) == "" {
				t.Fatalf("refusal without a code: %v", e1)
			}
			return
		}
		switch {
		case !independentlySigned(raw, key):
			t.Fatal("accepted a receipt whose signature does not verify under the destination's key")
		case r1.Issuer != dest || r1.Audience != "XA-RC" || r1.ReceiptFor != c.JTI || r1.SHA256 != want.SHA256:
			t.Fatalf("accepted a receipt binding %+v", r1.ReceiptClaims)
		case r1.Status != ReceiptAccepted && r1.Status != ReceiptDuplicate:
			t.Fatalf("accepted status %q", r1.Status)
		case r1.IssuedAt.After(t0.Add(DefaultSkew)):
			t.Fatalf("accepted iat %s", r1.IssuedAt)
		case string(rs[0].Raw()) != string(raw):
			t.Fatal("the kept receipt is not the bytes verified")
		}
	})
}
