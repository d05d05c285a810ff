package federation

import "testing"

// TestVerifyReceiptAllocs bounds the allocations of verifying a receipt:
// 5 at this writing, 9 before the claims equal to the expected ones were
// set from them (decodeReceiptLike) instead of copied, and the decoded
// claims stayed off the heap.
func TestVerifyReceiptAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	_, k, rc, want, m := receiptBench(t)
	raw := must(SignReceipt(rc, k))
	got := testing.AllocsPerRun(50, func() {
		if _, err := VerifyReceipt(raw, m, want, t0); err != nil {
			t.Fatal(err)
		}
	})
	if got > 5 {
		t.Errorf("VerifyReceipt: %.0f allocations, want at most 5", got)
	}
}

// TestVerifyReceiptClaimsLikeWant: the claims set from the expected ones
// are those of the receipt; a receipt whose claims differ is refused as
// before, with the receipt's own value in the message.
func TestVerifyReceiptClaimsLikeWant(t *testing.T) {
	_, k, rc, want, m := receiptBench(t)
	raw := must(SignReceipt(rc, k))
	got, err := VerifyReceipt(raw, m, want, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Issuer != want.Issuer || got.Audience != want.Audience || got.ReceiptFor != want.ReceiptFor || got.SHA256 != want.SHA256 {
		t.Fatalf("claims %+v, want %+v", got.ReceiptClaims, want)
	}
	other := want
	other.ReceiptFor = want.ReceiptFor + "x"
	if _, err := VerifyReceipt(raw, m, other, t0); err == nil {
		t.Fatal("a receipt for another jti was accepted")
	}
	var w wireReceipt
	if !decodeReceipt([]byte(`{"iss":"XA\u002dRC","aud":"XB-RC"}`), &w, &ExpectedReceipt{Issuer: "XA-RC", Audience: "XB-RCX"}) ||
		w.Iss != "XA-RC" || w.Aud != "XB-RC" {
		t.Fatalf("decodeReceipt with escapes and a different expected value: %+v", w)
	}
}
