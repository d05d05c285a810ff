package policy

import (
	"context"
	"testing"
	"time"
)

// TestApplyForwardAllocs bounds the allocations of one forward's policy
// evaluation (BenchmarkApplyForward's demo case, validated in and out with
// a cold memo): 295 at this writing (BenchmarkApplyForward's
// allocs/op); 291 before the free-text rule also looked for values with
// their spaces and punctuation dropped (a slug; 301 with those buffers
// grown from empty); 290 before it read
// quoted-printable, hex and base32 and looked for names' other spellings
// and orders (307 with the hex reader's closure, before it decoded into
// the taint set's reused buffer); 285 before the free-text rule also
// looked for encoded copies (base64 at every offset, percent-, JSON- and
// HTML-escaped, NFD); 357 before the free-text rule
// normalised ASCII text into a buffer it reuses, walked the values of a
// redacted field on a stack array and sized its taint set once, the
// fields' pointers were written into a strings.Builder, and the redactions
// were parsed into one token array; 482 before the redacted output was
// shown valid from the input's validation (RemovalsKeepValid) instead of
// encoded, parsed and validated again, and the free-text rule stopped
// sorting members; 528 before fields gave the fields of
// one subject one backing array and normASCII built its string once, 505
// before pointer.String grew its builder once, 490 before the pointers
// were sorted with slices.SortFunc instead of sort.Slice.
func TestApplyForwardAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
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
	if got > 300 {
		t.Errorf("Apply: %.0f allocations per forward, want at most 300", got)
	}
}

// TestPointerStringAllocs: a pointer without escapes is written with one
// allocation (three here before pointer.String grew its builder once).
func TestPointerStringAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	p := pointer{"persons", "0", "whereabouts", "last_seen"}
	if got := testing.AllocsPerRun(100, func() { _ = p.String() }); got > 1 {
		t.Errorf("pointer.String: %.0f allocations, want 1", got)
	}
	if s := p.String(); s != "/persons/0/whereabouts/last_seen" {
		t.Errorf("pointer.String = %q", s)
	}
	if s := (pointer{"a/b", "c~d"}).String(); s != "/a~1b/c~0d" {
		t.Errorf("pointer.String with escapes = %q", s)
	}
}
