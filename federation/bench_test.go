package federation

import (
	"context"
	"testing"
	"time"
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
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Sign(c, k); err != nil {
					b.Fatal(err)
				}
			}
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
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, raw, s.iss); err != nil {
					b.Fatal(err)
				}
			}
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
