package policy

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/familylinks/flx/schema"
)

// BenchmarkEvaluateApply measures a full evaluation and apply (decode,
// input validation, 18 built-in and 3 custom CEL rules from the sample
// rules file, redaction, re-encoding and output validation) of the
// tracing request example (3 persons, several names per person, consents,
// sensitive data) sent to a National Society: 7 pointers are redacted.
func BenchmarkEvaluateApply(b *testing.B) {
	ex, ok := schema.ExampleNamed("case.tracing_request")
	if !ok {
		b.Fatal("example missing")
	}
	r := sampleRules(b)
	for _, bc := range []struct {
		name string
		e    *Engine
	}{
		{"full", fresh(New(r))},
		{"document-seen-before", New(r)},
		{"without-schema-validation", New(r, WithValidator(nil))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			opts := facts(ex.Doc)
			d, _ := bc.e.Apply(ctx, ex.Doc, "case.update", dstXB, testNow, opts...)
			if d.Effect != AllowWithRedactions || len(d.Redactions) == 0 {
				b.Fatalf("unexpected decision: %s", describe(d))
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(ex.Doc)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bc.e.Apply(ctx, ex.Doc, "case.update", dstXB, testNow, opts...)
			}
		})
	}
}

// fresh makes e validate every document as if it never saw it (the
// engine remembers the documents it validated).
func fresh(e *Engine) *Engine {
	e.valid = nil
	return e
}

func BenchmarkParseRules(b *testing.B) {
	data := mustReadFile(b, "testdata/rules.yaml")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(data, "rules.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyForward is what a node's forward costs in the policy: the
// demo case of `flx bench exchange` (2 persons, consent, contact and
// whereabouts, 3 KiB) sent as case.create to a National Society under the
// strict default rules, each document validated in and out in full (the
// engine's memo is cold when thousands of cases are forwarded), and then
// the whole set of schema examples (cases, responses with their case,
// messages, withdrawals) under the sample rules, per sweep.
func BenchmarkApplyForward(b *testing.B) {
	def, err := Default("XA-RC", "XA")
	if err != nil {
		b.Fatal(err)
	}
	doc := mustReadFile(b, "testdata/bench_case.json")
	opts := facts(doc)
	ctx := context.Background()
	now := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC) // after the demo case's consent
	for _, bc := range []struct {
		name string
		e    *Engine
		more []EvalOption
	}{
		{"demo-case/validated", fresh(New(def)), nil},
		{"demo-case/validated-by-caller", fresh(New(def)), []EvalOption{Validated()}},
		{"demo-case/no-validator", New(def, WithValidator(nil)), nil},
	} {
		opts := append(opts[:len(opts):len(opts)], bc.more...)
		b.Run(bc.name, func(b *testing.B) {
			d, _ := bc.e.Apply(ctx, doc, "case.create", dstXB, now, opts...)
			if d.Effect != AllowWithRedactions {
				b.Fatalf("unexpected decision: %s", describe(d))
			}
			b.ReportAllocs()
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				bc.e.Apply(ctx, doc, "case.create", dstXB, now, opts...)
			}
		})
	}
	exs := schema.Examples()
	exOpts := make([][]EvalOption, len(exs))
	for i, ex := range exs {
		exOpts[i] = facts(ex.Doc)
	}
	e := fresh(New(sampleRules(b)))
	b.Run("examples-sweep/validated", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			for j, ex := range exs {
				e.Apply(ctx, ex.Doc, envelopeFor(ex), dstXB, testNow, exOpts[j]...)
			}
		}
	})
}

// reportCPU reports the process's CPU time (user and system, garbage
// collection included) per operation, which other processes on a shared
// machine do not inflate as they do ns/op. Call the function it returns
// when the loop ends.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	b.ResetTimer()
	return func() {
		b.StopTimer()
		b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFreeTextWithheldNames is the free-text rule's cost when names
// are withheld: family news about a case whose carer (Cyrillic and Arabic
// names, and their given and family names in forms of their own) may not
// be named to the destination, its body an ordinary sentence.
func BenchmarkFreeTextWithheldNames(b *testing.B) {
	def, err := Default("XA-RC", "XA")
	if err != nil {
		b.Fatal(err)
	}
	e := New(def, WithValidator(nil))
	cs := carerCase(b, []any{
		map[string]any{"value": "Юлия Хрущёва", "script": "Cyrl"}, map[string]any{"value": "ليلى حسن الخطيب", "script": "Arab"},
		map[string]any{"value": "Layla", "part": "given"}, map[string]any{"value": "Hassan", "part": "patronymic"},
		map[string]any{"value": "al-Khatib", "part": "family"},
	})
	doc := familyNews(b, "We are all well. The children go to school and send their love to Karim Haddad and his family.")
	benchDeliverMessage(b, e, doc, cs)
}

// BenchmarkFreeTextNotations is the free-text rule's cost when two points
// and a phone are withheld (notationCase): family news about the case, its
// body an ordinary sentence with numbers in two scripts, a date and two
// decimal numbers that the coordinate and phone readers go through.
func BenchmarkFreeTextNotations(b *testing.B) {
	def, err := Default("XA-RC", "XA")
	if err != nil {
		b.Fatal(err)
	}
	e := New(def, WithValidator(nil))
	cs := notationCase(b, "+999 61 234 5678")
	doc := familyNews(b, "We are all well. The clinic at 33.60, 36.40 opens on 12/04/2025 at 9.30; call 061 555 7777 or ٠٦١ ٥٥٥ ٨٨٨٨. Love to Karim Haddad and his family.")
	benchDeliverMessage(b, e, doc, cs)
}

// benchDeliverMessage checks that e lets message doc about case cs go to
// dstXC, then measures that Apply.
func benchDeliverMessage(b *testing.B, e *Engine, doc, cs []byte) {
	b.Helper()
	ctx := context.Background()
	if d, _ := e.Apply(ctx, doc, "message.deliver", dstXC, testNow, WithCase(cs)); !d.Allowed() {
		b.Fatalf("unexpected decision: %s", describe(d))
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	for i := 0; i < b.N; i++ {
		e.Apply(ctx, doc, "message.deliver", dstXC, testNow, WithCase(cs))
	}
}
