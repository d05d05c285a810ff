package bundle_test

import (
	"context"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/bundle"
)

// BenchmarkOpen100 opens a bundle of 100 envelopes (decrypt, verify the
// bundle, verify each envelope); BenchmarkVerify100 is the floor measured in
// the same run: verifying the same 100 envelopes alone.
func BenchmarkOpen100(b *testing.B) {
	f := newFed(b)
	var envs [][]byte
	for range 100 {
		envs = append(envs, f.envelope(b, "XA-RC", "XB-RC", f.now, time.Hour))
	}
	file := f.seal(b, bundle.Contents{Envelopes: envs}, "XA-RC", "XB-RC", nil)
	o := f.opener("XB-RC")
	ctx := context.Background()
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		op, err := o.Open(ctx, file)
		if err != nil || len(op.Envelopes) != 100 || op.Envelopes[99].Err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify100(b *testing.B) {
	f := newFed(b)
	var envs [][]byte
	for range 100 {
		envs = append(envs, f.envelope(b, "XA-RC", "XB-RC", f.now, time.Hour))
	}
	v := &federation.Verifier{Manifest: federation.StaticManifest(f.manifest), Self: "XB-RC", Now: func() time.Time { return f.now }}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range envs {
			if _, err := v.Verify(ctx, e, "XA-RC"); err != nil {
				b.Fatal(err)
			}
		}
	}
}
