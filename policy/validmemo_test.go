package policy

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/familylinks/flx/schema"
)

// TestValidationOncePerDocument: the default engine validates a document
// once however often it is evaluated (for several destinations, as the
// context case of responses), an invalid one every time (and it is denied
// every time), and a document that differs by one byte in full.
func TestValidationOncePerDocument(t *testing.T) {
	ex, ok := schema.ExampleNamed("case.tracing_request")
	if !ok {
		t.Fatal("example missing")
	}
	e := New(sampleRules(t))
	calls := map[string]int{}
	e.validate = func(docKind string, doc []byte) error {
		calls[string(doc)]++
		return schemaValidator(docKind, doc)
	}
	ctx := context.Background()
	var m map[string]any
	if err := json.Unmarshal(ex.Doc, &m); err != nil {
		t.Fatal(err)
	}
	m["status"] = "not-a-status" // well-formed, not schema v1
	invalid, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	other := append([]byte(" "), ex.Doc...) // the same document, other bytes
	tests := []struct {
		name      string
		doc       []byte
		times     int
		wantCalls int
		deny      bool
	}{
		{"valid, evaluated three times", ex.Doc, 3, 1, false},
		{"invalid, evaluated three times", invalid, 3, 3, true},
		{"valid, other bytes", other, 2, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range tc.times {
				d := e.Evaluate(ctx, tc.doc, "case.update", dstXB, testNow, facts(tc.doc)...)
				if got := d.Effect == Deny && d.Fired[len(d.Fired)-1].RuleID == ruleInput; got != tc.deny {
					t.Fatalf("denied as invalid input: %t, want %t (%s)", got, tc.deny, describe(d))
				}
			}
			if got := calls[string(tc.doc)]; got != tc.wantCalls {
				t.Fatalf("validated %d times, want %d", got, tc.wantCalls)
			}
		})
	}
	t.Run("a custom validator is asked every time", func(t *testing.T) {
		n := 0
		e := New(sampleRules(t), WithValidator(func(docKind string, doc []byte) error { n++; return nil }))
		e.Evaluate(ctx, ex.Doc, "case.update", dstXB, testNow, facts(ex.Doc)...)
		once := n // the input, and the redacted output
		for range 2 {
			e.Evaluate(ctx, ex.Doc, "case.update", dstXB, testNow, facts(ex.Doc)...)
		}
		if once == 0 || n != 3*once {
			t.Fatalf("custom validator asked %d times in three evaluations, %d in the first", n, once)
		}
	})
}
