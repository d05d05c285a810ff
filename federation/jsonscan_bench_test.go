package federation

import (
	"encoding/json"
	"testing"
)

func BenchmarkScanJSON(b *testing.B) {
	f := newFixture(b)
	c := benchClaims(f, "XA-RC", "XB-RC")
	payload, _ := json.Marshal(c.wire())
	for _, x := range []struct {
		name string
		fn   func([]byte) bool
	}{
		{"scanJSON", func(d []byte) bool { ok, _ := scanJSON(d); return ok }},
		{"json.Valid", json.Valid},
	} {
		b.Run(x.name, func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			cpu0 := threadCPU()
			for b.Loop() {
				if !x.fn(payload) {
					b.Fatal("invalid")
				}
			}
			b.ReportMetric(float64(threadCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
