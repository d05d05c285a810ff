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

// TestValidateThenEvaluate: a document the node validated through the
// engine (Engine.Validate) is not validated again when it is evaluated; an
// invalid one is refused by Validate every time and still denied by the
// evaluation. An engine with a validator of its own, even none, still
// validates against schema v1 in Validate: nothing skips it.
func TestValidateThenEvaluate(t *testing.T) {
	ex, ok := schema.ExampleNamed("case.tracing_request")
	if !ok {
		t.Fatal("example missing")
	}
	ctx := context.Background()
	invalid := []byte(`{"schema":"flx/v1/case","case_id":"XA-RC:1"}`)
	e := New(sampleRules(t))
	calls := map[string]int{}
	e.validate = func(docKind string, doc []byte) error {
		calls[string(doc)]++
		return schemaValidator(docKind, doc)
	}
	for range 2 {
		if err := e.Validate("case", ex.Doc); err != nil {
			t.Fatalf("Validate(valid): %v", err)
		}
		e.Evaluate(ctx, ex.Doc, "case.update", dstXB, testNow, facts(ex.Doc)...)
		if err := e.Validate("case", invalid); err == nil {
			t.Fatal("Validate(invalid) = nil")
		}
		if d := e.Evaluate(ctx, invalid, "case.update", dstXB, testNow, facts(invalid)...); d.Effect != Deny {
			t.Fatalf("invalid document evaluated to %s", d.Effect)
		}
	}
	if got := calls[string(ex.Doc)]; got != 1 {
		t.Errorf("the valid document was validated %d times through Validate and Evaluate, want 1", got)
	}
	if got := calls[string(invalid)]; got != 4 {
		t.Errorf("the invalid document was validated %d times, want 4 (never remembered)", got)
	}
	for name, opt := range map[string]Option{
		"no validator":     WithValidator(nil),
		"accepts anything": WithValidator(func(string, []byte) error { return nil }),
	} {
		e := New(sampleRules(t), opt)
		if err := e.Validate("case", invalid); err == nil {
			t.Errorf("%s: Validate(invalid) = nil; schema v1 must still refuse it", name)
		}
		if err := e.Validate("case", ex.Doc); err != nil {
			t.Errorf("%s: Validate(valid): %v", name, err)
		}
	}
}

// TestValidatedOption: Validated spares the input's validation with the
// default validator only; a validator of its own is still asked about the
// input, the case given as context is still validated, and the redacted
// output is always validated.
func TestValidatedOption(t *testing.T) {
	ex, ok := schema.ExampleNamed("case.tracing_request")
	if !ok {
		t.Fatal("example missing")
	}
	ctx := context.Background()
	calls := map[string]int{}
	counting := func(docKind string, doc []byte) error {
		calls[docKind+" "+string(doc)]++
		return schemaValidator(docKind, doc)
	}
	e := New(sampleRules(t), WithValidator(counting))
	d, out := e.Apply(ctx, ex.Doc, "case.update", dstXB, testNow, append(facts(ex.Doc), Validated())...)
	if d.Effect != AllowWithRedactions || out == nil {
		t.Fatalf("unexpected decision %s", describe(d))
	}
	if calls["case "+string(ex.Doc)] != 1 || calls["case "+string(out)] != 1 {
		t.Errorf("a validator of its own must be asked about the input and the output once each despite Validated: %d, %d",
			calls["case "+string(ex.Doc)], calls["case "+string(out)])
	}

	// The context case is validated whatever the caller says of the
	// document: an invalid one is refused.
	resp, _ := schema.ExampleNamed("response.located")
	bad := []byte(`{"schema":"flx/v1/case","case_id":"` + str(decodeMap(t, string(resp.Doc))["case_id"]) + `"}`)
	d = New(sampleRules(t)).Evaluate(ctx, resp.Doc, "case.response", dstXB, testNow, WithCase(bad), Validated())
	if d.Effect != Deny || d.Fired[len(d.Fired)-1].RuleID != ruleContext {
		t.Errorf("an invalid context case with Validated: %s", describe(d))
	}

	// The redacted output is validated with the default validator too: a
	// caller that wrongly says an invalid document was validated gets a
	// deny at the output (here its status is not one of schema v1's).
	m := decodeMap(t, string(ex.Doc))
	m["status"] = "not-a-status"
	lied := encodeMap(t, m)
	d, out = New(sampleRules(t)).Apply(ctx, lied, "case.update", dstXB, testNow, append(facts(lied), Validated())...)
	if d.Effect != Deny || out != nil || d.Fired[len(d.Fired)-1].RuleID != ruleOutput {
		t.Errorf("an invalid document said to be validated, redacted: %s", describe(d))
	}
}
