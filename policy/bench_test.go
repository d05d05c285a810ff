package policy

import (
	"context"
	"testing"

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
