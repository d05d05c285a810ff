package conformance

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

func sampleReport() *Report {
	r := &Report{
		Format: ReportFormat, Spec: SpecVersion, SuiteVersion: SuiteVersion,
		Target:    ReportTarget{Member: "XA-RC", Endpoint: "https://127.0.0.1:18443", Pins: []string{strings.Repeat("a", 64)}},
		Tester:    ReportTester{Member: MemberTester, KID: "k"},
		Modes:     map[string]bool{"inbound": true},
		StartedAt: time.Unix(1700000000, 0).UTC(),
		Results: []Result{
			{Check: "FLX-KEY-004/alg-none", Requirements: []string{"FLX-KEY-004"}, Level: "MUST", Area: "FLX-KEY", Title: "alg none", Status: StatusPass, DurationMS: 12},
			{Check: "FLX-DLV-010/replay", Requirements: []string{"FLX-DLV-010"}, Level: "MUST", Area: "FLX-DLV", Title: "replay", Status: StatusFail, Reason: "want 409 <replay> & more"},
			{Check: "FLX-DLV-012/remembered", Requirements: []string{"FLX-DLV-012"}, Level: "MUST", Area: "FLX-DLV", Status: StatusSkip, Reason: "slow"},
			{Check: "FLX-OUT-001/token-required", Requirements: []string{"FLX-OUT-001"}, Level: "MUST", Area: "FLX-OUT", Status: StatusError, Reason: "trigger refused"},
			{Check: "FLX-DLV-006", Requirements: []string{"FLX-DLV-006"}, Level: "SHOULD", Area: "FLX-DLV", Status: StatusNotChecked, Reason: "no"},
		},
	}
	r.finish()
	return r
}

func TestReportVerdictAndJUnit(t *testing.T) {
	r := sampleReport()
	if r.Verdict != "fail" || r.ExitCode() != 1 {
		t.Errorf("verdict %s exit %d", r.Verdict, r.ExitCode())
	}
	if r.Summary[StatusPass] != 1 || r.Summary[StatusFail] != 1 || r.Summary[StatusSkip] != 1 || r.Summary[StatusError] != 1 || r.Summary[StatusNotChecked] != 1 {
		t.Errorf("summary %v", r.Summary)
	}
	b, err := r.JUnit()
	if err != nil {
		t.Fatal(err)
	}
	var got junitSuites
	if err := xml.Unmarshal(b, &got); err != nil {
		t.Fatalf("JUnit XML does not parse: %v\n%s", err, b)
	}
	if got.Tests != 5 || got.Fail != 1 || got.Errors != 1 || got.Skipped != 2 || len(got.Suites) != 3 {
		t.Errorf("testsuites tests=%d failures=%d errors=%d skipped=%d suites=%d", got.Tests, got.Fail, got.Errors, got.Skipped, len(got.Suites))
	}
	var fail *junitCase
	for i := range got.Suites {
		for j := range got.Suites[i].Cases {
			if c := &got.Suites[i].Cases[j]; c.Name == "FLX-DLV-010/replay" {
				fail = c
			}
		}
	}
	if fail == nil || fail.Failure == nil || fail.Failure.Text != "want 409 <replay> & more" || fail.Classname != "FLX-DLV" {
		t.Errorf("failure case %+v", fail)
	}
	var tbl bytes.Buffer
	if err := r.WriteTable(&tbl); err != nil || !strings.Contains(tbl.String(), "verdict fail") {
		t.Errorf("table: %v\n%s", err, tbl.String())
	}
	r.Results = r.Results[:1]
	r.finish()
	if r.Verdict != "pass" || r.ExitCode() != 0 {
		t.Errorf("all pass: verdict %s", r.Verdict)
	}
}

func TestSignedReport(t *testing.T) {
	key, err := jose.GenerateKey(jose.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	js, err := sampleReport().JSON()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := SignReport(js, key)
	if err != nil {
		t.Fatal(err)
	}
	rep, payload, err := VerifyReport(signed, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(payload, js) || rep.Verdict != "fail" || rep.Target.Member != "XA-RC" {
		t.Errorf("verified report differs: %s", payload)
	}

	// A tampered report (verdict changed in the payload) is refused.
	parts := strings.Split(string(signed), ".")
	tampered := bytes.Replace(js, []byte(`"verdict": "fail"`), []byte(`"verdict": "pass"`), 1)
	if bytes.Equal(tampered, js) {
		t.Fatal("could not tamper")
	}
	forged := parts[0] + "." + b64.EncodeToString(tampered) + "." + parts[2]
	if _, _, err := VerifyReport([]byte(forged), key.Public()); err == nil {
		t.Error("tampered report verified")
	}
	// Another key is refused.
	other, _ := jose.GenerateKey(jose.EdDSA)
	if _, _, err := VerifyReport(signed, other.Public()); err == nil {
		t.Error("report verified with another key")
	}
	// An envelope-typed JWS is not a report.
	env, _ := jose.Sign(js, "flx-envelope+jws", key)
	if _, _, err := VerifyReport(env, key.Public()); err == nil {
		t.Error("a JWS of another typ verified as a report")
	}
	if _, err := SignReport([]byte(`{"report":"other"}`), key); err == nil {
		t.Error("signed something that is not a report")
	}
}

func TestSelected(t *testing.T) {
	c := Check{ID: "FLX-KEY-004/alg-none", Requirements: []string{"FLX-KEY-004", "FLX-ENV-002"}}
	for _, tc := range []struct {
		only []string
		want bool
	}{
		{nil, true}, {[]string{"FLX-KEY"}, true}, {[]string{"FLX-KEY-004/alg-none"}, true},
		{[]string{"FLX-ENV-002"}, true}, {[]string{"FLX-DLV"}, false}, {[]string{"FLX-KEY-005"}, false},
	} {
		if got := Selected(c, tc.only); got != tc.want {
			t.Errorf("Selected(%v) = %v", tc.only, got)
		}
	}
}
