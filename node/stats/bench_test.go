package stats

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkCompute counts 10,000 tracing requests of four versions each
// (40,000 versions): the cost per case handed in.
func BenchmarkCompute(b *testing.B) {
	var in Documents
	for i := range 10000 {
		in.CaseHistories = append(in.CaseHistories, tracing(fmt.Sprint(i), "2026-01-10T08:00:00Z open", "2026-02-01T00:00:00Z tracing_in_progress",
			"2026-02-09T00:00:00Z located_contact_restored", "2026-03-05T00:00:00Z reunified"))
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := Compute(ctx, in, "XA-RC")
		if err != nil || r.Periods[Period{2026, 1}][TracingOpened] != 10000 {
			b.Fatal(err)
		}
	}
}
