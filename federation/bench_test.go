package federation

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

// benchEnvelope: EdDSA is XA-RC -> XB-RC, ES256 is XB-RC -> XA-RC, each with
// a ~4 KiB JSON body.
var benchSenders = []struct{ name, iss, aud string }{
	{"EdDSA", "XA-RC", "XB-RC"},
	{"ES256", "XB-RC", "XA-RC"},
}

func benchClaims(f *fixture, iss, aud string) Claims {
	c := f.claims(iss, aud)
	c.Body = body4K()
	return c
}

func BenchmarkEnvelopeSign(b *testing.B) {
	f := newFixture(b)
	for _, s := range benchSenders {
		b.Run(s.name, func(b *testing.B) {
			c := benchClaims(f, s.iss, s.aud)
			k := f.keys[s.iss]
			b.SetBytes(int64(len(c.Body)))
			cpuLoop(b, func() {
				if _, err := Sign(c, k); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

func BenchmarkEnvelopeVerify(b *testing.B) {
	f := newFixture(b)
	for _, s := range benchSenders {
		b.Run(s.name, func(b *testing.B) {
			raw := f.sign(b, benchClaims(f, s.iss, s.aud), f.keys[s.iss])
			v := &Verifier{Manifest: StaticManifest(f.manifest), Self: s.aud, Now: func() time.Time { return t0 }}
			ctx := context.Background()
			b.SetBytes(int64(len(raw)))
			cpuLoop(b, func() {
				if _, err := v.Verify(ctx, raw, s.iss); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkEnvelopeSignatureOnly is the floor under BenchmarkEnvelopeVerify:
// the bare standard-library signature check of the same envelope, without
// parsing, lookups or claim checks.
func BenchmarkEnvelopeSignatureOnly(b *testing.B) {
	f := newFixture(b)
	for _, s := range benchSenders {
		b.Run(s.name, func(b *testing.B) {
			raw := f.sign(b, benchClaims(f, s.iss, s.aud), f.keys[s.iss])
			pub := f.keys[s.iss].Public()
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if !independentlySigned(raw, pub) {
					b.Fatal("does not verify")
				}
			}
		})
	}
}

// BenchmarkRelayOpen is the final recipient's work on a relayed envelope
// (XA-RC -> ICRC-CTA -> XB-RC, ~4 KiB body): Verify of the outer envelope and
// OpenRelay (two hops and the inner envelope). Four EdDSA signature checks:
// compare with four times BenchmarkEnvelopeVerify/EdDSA of the same run.
func BenchmarkRelayOpen(b *testing.B) {
	f := relayFixture(b)
	c := benchClaims(f, "XA-RC", "XB-RC")
	inner := f.sign(b, c, f.keys["XA-RC"])
	toCTA, _, err := Originate(inner, f.wrap("XA-RC", "ICRC-CTA"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	vc := f.verifier("ICRC-CTA")
	atCTA, err := OpenRelay(ctx, vc, must(vc.Verify(ctx, toCTA, "XA-RC")))
	if err != nil {
		b.Fatal(err)
	}
	toB, _, err := atCTA.Forward(f.wrap("ICRC-CTA", "XB-RC"))
	if err != nil {
		b.Fatal(err)
	}
	v := f.verifier("XB-RC")
	b.SetBytes(int64(len(toB)))
	b.ReportAllocs()
	for b.Loop() {
		outer, err := v.Verify(ctx, toB, "ICRC-CTA")
		if err != nil {
			b.Fatal(err)
		}
		if r, err := OpenRelay(ctx, v, outer); err != nil || !r.Final {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimsOfAfterVerify is the inbox processor's read of an
// envelope Verify accepted (a memo hit), against BenchmarkClaimsOfParse,
// the same read of bytes never seen (the JWS split and claims decoded).
func BenchmarkClaimsOfAfterVerify(b *testing.B) {
	f := newFixture(b)
	raw := f.sign(b, benchClaims(f, "XA-RC", "XB-RC"), f.keys["XA-RC"])
	v := &Verifier{Manifest: StaticManifest(f.manifest), Self: "XB-RC", Now: func() time.Time { return t0 }}
	if _, err := v.Verify(context.Background(), raw, "XA-RC"); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	cpuLoop(b, func() {
		if _, err := ClaimsOf(raw); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkClaimsOfParse(b *testing.B) {
	f := newFixture(b)
	raw := f.sign(b, benchClaims(f, "XA-RC", "XB-RC"), f.keys["XA-RC"])
	tok, err := jose.Parse(raw, TypEnvelope)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	cpuLoop(b, func() {
		var w wireClaims
		if err := decodeStrict(tok.UnverifiedPayload(), claimsShape, &w); err != nil {
			b.Fatal(err)
		}
		if _, err := jose.Parse(raw, TypEnvelope); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkSignVerifyFloor compares an envelope's Sign and Verify (EdDSA,
// ~4 KiB body) with the bare crypto/ed25519 sign and verify of a message
// of the same size, what `flx bench exchange` calls the floor. cpu-ns/op
// is the CPU time of the benchmark's thread (steady under other load).
func BenchmarkSignVerifyFloor(b *testing.B) {
	f := newFixture(b)
	c := benchClaims(f, "XA-RC", "XB-RC")
	k := f.keys["XA-RC"]
	v := &Verifier{Manifest: StaticManifest(f.manifest), Self: "XB-RC", Now: func() time.Time { return t0 }}
	ctx := context.Background()
	size := len(f.sign(b, c, k))
	run := func(b *testing.B, op func()) {
		b.ReportAllocs()
		cpu0 := threadCPU()
		for b.Loop() {
			op()
		}
		b.ReportMetric(float64(threadCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	}
	b.Run("federation", func(b *testing.B) {
		run(b, func() {
			raw, err := Sign(c, k)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := v.Verify(ctx, raw, "XA-RC"); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("receipt", func(b *testing.B) {
		// A receipt XA-RC signs (EdDSA) for an envelope from XB-RC, checked
		// as XB-RC checks it.
		sum := sha256.Sum256([]byte("envelope"))
		rc := ReceiptClaims{Issuer: "XA-RC", Audience: "XB-RC", IssuedAt: t0, ReceiptFor: NewJTI(), SHA256: hex.EncodeToString(sum[:]), Status: ReceiptAccepted}
		want := ExpectedReceipt{Issuer: "XA-RC", Audience: "XB-RC", ReceiptFor: rc.ReceiptFor, SHA256: rc.SHA256}
		run(b, func() {
			raw, err := SignReceipt(rc, k)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := VerifyReceipt(raw, f.manifest, want, t0); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("ed25519-receipt", func(b *testing.B) {
		_, priv, _ := ed25519.GenerateKey(nil)
		msg := make([]byte, 300)
		run(b, func() {
			if !ed25519.Verify(priv.Public().(ed25519.PublicKey), msg, ed25519.Sign(priv, msg)) {
				b.Fatal("does not verify")
			}
		})
	})
	b.Run("ed25519", func(b *testing.B) {
		_, priv, _ := ed25519.GenerateKey(nil)
		msg := make([]byte, size)
		run(b, func() {
			if !ed25519.Verify(priv.Public().(ed25519.PublicKey), msg, ed25519.Sign(priv, msg)) {
				b.Fatal("does not verify")
			}
		})
	})
}

// receiptBench is a receipt XB-RC signs (ES256 in the fixture, so EdDSA
// here: the exchange's members sign with Ed25519) for an envelope from
// XA-RC, and what XA-RC expects of it.
func receiptBench(b testing.TB) (*fixture, *jose.PrivateKey, ReceiptClaims, ExpectedReceipt, *Manifest) {
	f := newFixture(b)
	raw := f.sign(b, benchClaims(f, "XA-RC", "XB-RC"), f.keys["XA-RC"])
	c := must(ClaimsOf(raw))
	// XA-RC signs receipts with its own EdDSA key; as the receiver it is
	// the issuer, XB-RC the audience.
	sum := sha256.Sum256(raw)
	rc := ReceiptClaims{Issuer: "XA-RC", Audience: "XB-RC", IssuedAt: t0, ReceiptFor: c.JTI, SHA256: hex.EncodeToString(sum[:]), Status: ReceiptAccepted}
	want := ExpectedReceipt{Issuer: "XA-RC", Audience: "XB-RC", ReceiptFor: c.JTI, SHA256: rc.SHA256}
	return f, f.keys["XA-RC"], rc, want, f.manifest
}

func BenchmarkReceiptSign(b *testing.B) {
	_, k, rc, _, _ := receiptBench(b)
	cpuLoop(b, func() {
		if _, err := SignReceipt(rc, k); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkReceiptVerify(b *testing.B) {
	_, k, rc, want, m := receiptBench(b)
	raw := must(SignReceipt(rc, k))
	cpuLoop(b, func() {
		if _, err := VerifyReceipt(raw, m, want, t0); err != nil {
			b.Fatal(err)
		}
	})
}

// benchBatch is 50 EdDSA envelopes of ~4 KiB bodies, a batch as the
// delivery loop sends it.
func benchBatch(b *testing.B) [][]byte {
	f := newFixture(b)
	out := make([][]byte, 50)
	for i := range out {
		out[i] = f.sign(b, benchClaims(f, "XA-RC", "XB-RC"), f.keys["XA-RC"])
	}
	return out
}

func BenchmarkBatchMarshal(b *testing.B) {
	envs := benchBatch(b)
	cpuLoop(b, func() {
		if _, err := MarshalBatch(envs); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkBatchParse(b *testing.B) {
	body := must(MarshalBatch(benchBatch(b)))
	b.SetBytes(int64(len(body)))
	cpuLoop(b, func() {
		if _, err := ParseBatchRequest(body, 100); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkExchangeOverhead is everything both sides do per envelope around
// the four signatures in a batched exchange (sign, batch, parse, verify,
// ClaimsOf by the processor, receipt sign, receipt verify with the expected
// hash), one envelope per op. Each iteration also runs the bare
// crypto/ed25519 sign and verify of messages of the envelope's and the
// receipt's sizes (the floor), so both see the same load on a shared
// machine: cpu-ns/op is the federation path, floor-ns/op the bare
// signatures, overhead-ns/op their difference (thread CPU time).
func BenchmarkExchangeOverhead(b *testing.B) {
	f := newFixture(b)
	c := benchClaims(f, "XA-RC", "XB-RC")
	k := f.keys["XA-RC"]
	v := &Verifier{Manifest: StaticManifest(f.manifest), Self: "XB-RC", Now: func() time.Time { return t0 }}
	ctx := context.Background()
	_, priv, _ := ed25519.GenerateKey(nil)
	pub := priv.Public().(ed25519.PublicKey)
	envMsg := make([]byte, len(f.sign(b, c, k)))
	var rcptMsg []byte
	b.ReportAllocs()
	var fed, floor time.Duration
	for b.Loop() {
		t0c := threadCPU()
		c.JTI = NewJTI()
		raw, err := Sign(c, k)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := MarshalBatch([][]byte{raw})
		got, err := ParseBatchRequest(body, 10)
		if err != nil {
			b.Fatal(err)
		}
		env, err := v.Verify(ctx, got[0], "XA-RC")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ClaimsOf(env.Raw()); err != nil {
			b.Fatal(err)
		}
		// XA-RC's key stands in for the receiver's: the receipt path is
		// the same code whichever member signs.
		rc := ReceiptFor(env, ReceiptAccepted, t0)
		rc.Issuer, rc.Audience = "XA-RC", "XB-RC"
		rraw, err := SignReceipt(rc, k)
		if err != nil {
			b.Fatal(err)
		}
		want := ExpectReceipt(raw, c)
		want.Issuer, want.Audience = "XA-RC", "XB-RC"
		if _, err := VerifyReceipt(rraw, f.manifest, want, t0); err != nil {
			b.Fatal(err)
		}
		t1c := threadCPU()
		if rcptMsg == nil {
			rcptMsg = make([]byte, len(rraw))
		}
		if !ed25519.Verify(pub, envMsg, ed25519.Sign(priv, envMsg)) || !ed25519.Verify(pub, rcptMsg, ed25519.Sign(priv, rcptMsg)) {
			b.Fatal("does not verify")
		}
		t2c := threadCPU()
		fed += t1c - t0c
		floor += t2c - t1c
	}
	b.ReportMetric(float64(fed)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(floor)/float64(b.N), "floor-ns/op")
	b.ReportMetric(float64(fed-floor)/float64(b.N), "overhead-ns/op")
}

// cpuLoop runs op b.N times and reports, besides allocations, cpu-ns/op:
// the CPU time of the benchmark's thread, steadier than wall time when
// other processes share the machine.
func cpuLoop(b *testing.B, op func()) {
	b.Helper()
	b.ReportAllocs()
	cpu0 := threadCPU()
	for b.Loop() {
		op()
	}
	b.ReportMetric(float64(threadCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}
