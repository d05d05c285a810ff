package policy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/familylinks/flx/schema"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ex, _ := schema.ExampleNamed("case.tracing_request")
	casePath := write("case.json", ex.Doc)
	lookup := func(m string) (Destination, bool) {
		for _, d := range []Destination{dstXB, dstCTA, dstAuth, dstXD} {
			if d.Member == m {
				return d, true
			}
		}
		return Destination{}, false
	}
	tests := []struct {
		name     string
		to       string
		kind     string
		exit     int
		contains []string
	}{
		{"redactions", "XB-RC", "", ExitAllow, []string{"decision:    ALLOW_WITH_REDACTIONS", "document:    case.update XA-RC:TR-2024-0117 v3",
			"policy:      2025-06-sample-1 (sha256:", "FLX-DP-SENSITIVE", "- /persons/1/sensitive/ethnicity", "removed:\n  /legal_basis/justification\n  /notes"}},
		{"allow", "ICRC-CTA", "", ExitAllow, []string{"decision:    ALLOW", "rules fired: none"}},
		{"deny", "XB-AUTH", "", ExitDeny, []string{"decision:    DENY", "FLX-DP-DESTINATION", "Nothing will be sent."}},
		{"unknown member", "XQ-RC", "", ExitDeny, []string{"XQ-RC is not a known member"}},
		{"kind override", "XB-RC", "message.deliver", ExitDeny, []string{"FLX-DP-INPUT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Check(context.Background(), CheckRequest{
				RulesPath: "testdata/rules.yaml", CasePath: casePath, To: tc.to, Lookup: lookup, Kind: tc.kind, Now: testNow,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode() != tc.exit {
				t.Errorf("exit %d, want %d", res.ExitCode(), tc.exit)
			}
			txt := res.Text()
			for _, c := range tc.contains {
				if !strings.Contains(txt, c) {
					t.Errorf("output lacks %q:\n%s", c, txt)
				}
			}
			if (res.Document == nil) != (res.Decision.Effect == Deny) {
				t.Errorf("document present = %v for %s", res.Document != nil, res.Decision.Effect)
			}
		})
	}

	// A response is checked against its case: without it, denied.
	resp, _ := schema.ExampleNamed("response.located")
	respPath := write("response.json", resp.Doc)
	for _, withCase := range []bool{false, true} {
		req := CheckRequest{RulesPath: "testdata/rules.yaml", CasePath: respPath, To: "ICRC-CTA", Lookup: lookup, Now: testNow}
		if withCase {
			req.CaseContextPath = casePath
		}
		res, err := Check(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if _, ctxDenied := firedRule(res.Decision, ruleContext); ctxDenied == withCase || (res.ExitCode() == ExitDeny) == withCase {
			t.Errorf("response with case context %v: %s", withCase, describe(res.Decision))
		}
	}
	if _, err := Check(context.Background(), CheckRequest{RulesPath: "testdata/rules.yaml", CasePath: respPath, To: "ICRC-CTA", CaseContextPath: filepath.Join(dir, "nope.json")}); err == nil {
		t.Error("missing case context file: want an error")
	}

	review := write("review.yaml", []byte("schema: flx/policy/v1\nversion: r\nmember: XA-RC\ncountry: XA\nreview:\n  destination_members: [ICRC-CTA]\n"))
	res, err := Check(context.Background(), CheckRequest{RulesPath: review, CasePath: casePath, To: "ICRC-CTA", Lookup: lookup, Now: testNow})
	if err != nil || res.ExitCode() != ExitNeedsReview || !strings.Contains(res.Text(), "held until an operator") {
		t.Errorf("needs_review: %v %+v", err, res)
	}

	for name, req := range map[string]CheckRequest{
		"no rules":       {CasePath: casePath, To: "XB-RC"},
		"bad rules":      {RulesPath: "testdata/bad/unknown-field.yaml", CasePath: casePath, To: "XB-RC"},
		"missing case":   {RulesPath: "testdata/rules.yaml", CasePath: filepath.Join(dir, "nope.json"), To: "XB-RC"},
		"no destination": {RulesPath: "testdata/rules.yaml", CasePath: casePath},
	} {
		if _, err := Check(context.Background(), req); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}
