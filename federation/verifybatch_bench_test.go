package federation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"
)

// batchReceiveBench is a batch of 50 EdDSA envelopes from XA-RC with ~4 KiB
// bodies, as XB-RC receives it, and the receipts XB-RC answers it with
// (signed with an EdDSA key, as the exchange's members do), with what
// XA-RC expects of each.
func batchReceiveBench(b *testing.B) (v *Verifier, raws, receipts [][]byte, wants []ExpectedReceipt, m *Manifest) {
	f := newFixture(b)
	for range 50 {
		raws = append(raws, f.sign(b, benchClaims(f, "XA-RC", "XB-RC"), f.keys["XA-RC"]))
	}
	v = &Verifier{Manifest: StaticManifest(f.manifest), Self: "XB-RC", Now: func() time.Time { return t0 }}
	for _, raw := range raws {
		c := must(ClaimsOf(raw))
		sum := sha256.Sum256(raw)
		// XA-RC's key signs as the receiver here (see receiptBench).
		rc := ReceiptClaims{Issuer: "XA-RC", Audience: "XB-RC", IssuedAt: t0, ReceiptFor: c.JTI, SHA256: hex.EncodeToString(sum[:]), Status: ReceiptAccepted}
		receipts = append(receipts, must(SignReceipt(rc, f.keys["XA-RC"])))
		wants = append(wants, ExpectedReceipt{Issuer: "XA-RC", Audience: "XB-RC", ReceiptFor: c.JTI, SHA256: rc.SHA256})
	}
	return v, raws, receipts, wants, f.manifest
}

// BenchmarkReceiveVerify50 is the receiver's verification of one batch of
// 50 envelopes (VerifyBatch).
func BenchmarkReceiveVerify50(b *testing.B) {
	v, raws, _, _, _ := batchReceiveBench(b)
	ctx := context.Background()
	perEnvelope(b, len(raws), func() {
		_, errs, err := v.VerifyBatch(ctx, raws, "XA-RC")
		if err != nil || errs[0] != nil || errs[49] != nil {
			b.Fatal(err, errs[0])
		}
	})
}

// BenchmarkAnswerReceipts50 is the sender's verification of the 50
// receipts of one batch answer (VerifyReceipts).
func BenchmarkAnswerReceipts50(b *testing.B) {
	_, _, receipts, wants, m := batchReceiveBench(b)
	perEnvelope(b, len(receipts), func() {
		_, errs := VerifyReceipts(receipts, m, wants, t0)
		if errs[0] != nil || errs[49] != nil {
			b.Fatal(errs[0])
		}
	})
}

// perEnvelope is cpuLoop reporting the thread's CPU per envelope of a
// batch of n.
func perEnvelope(b *testing.B, n int, op func()) {
	b.Helper()
	b.ReportAllocs()
	cpu0 := threadCPU()
	for b.Loop() {
		op()
	}
	b.ReportMetric(float64(threadCPU()-cpu0)/float64(b.N*n)/1e3, "cpu-µs/envelope")
}
