package policy

import (
	"context"
	"testing"
	"time"
)

// TestApplyForwardAllocs bounds the allocations of one forward's policy
// evaluation (BenchmarkApplyForward's demo case, validated in and out with
// a cold memo): 505 at this writing; 528 before fields gave the fields of
// one subject one backing array and normASCII built its string once.
func TestApplyForwardAllocs(t *testing.T) {
	def, err := Default("XA-RC", "XA")
	if err != nil {
		t.Fatal(err)
	}
	doc := mustReadFile(t, "testdata/bench_case.json")
	opts := facts(doc)
	ctx := context.Background()
	now := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	e := fresh(New(def))
	if d, _ := e.Apply(ctx, doc, "case.create", dstXB, now, opts...); d.Effect != AllowWithRedactions {
		t.Fatalf("unexpected decision: %s", describe(d))
	}
	got := testing.AllocsPerRun(20, func() { e.Apply(ctx, doc, "case.create", dstXB, now, opts...) })
	if got > 512 {
		t.Errorf("Apply: %.0f allocations per forward, want at most 512", got)
	}
}
