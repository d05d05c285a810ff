package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/schema"
)

// TestDemoOnce plays the README's demo scenario end to end.
func TestDemoOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := runDemo(ctx, &out, demoOptions{dir: t.TempDir(), once: true}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"case XA-RC:DEMO-0001 created",
		"policy for XB-RC: allow_with_redactions",
		"FLX-DP-SENSITIVE",
		"both envelopes delivered",
		"relayed case.create from XA-RC to XB-RC unchanged",
		"delivered to XB-RC on XB-RC's end-to-end receipt",
		"statistics 2026-11, country XA: tracing_opened <5",
		"statistics 2026-11, country XB: tracing_opened 0, rcm_collected <5",
		"XB-RC     received XA-RC:DEMO-0001",
		"sensitive data removed",
		"answers: located",
		"inbox: the response and both messages received",
		"erased the case (document gone: true, reason consent_withdrawn)",
		"both erasures confirmed",
		"hash chain intact: true",
		"caseworker token flx_",
		"flx case thread XA-RC:DEMO-0001",
		"flx case create ",
		"flx case forward XA-RC:TRY-0001 --to XB-RC",
		"flx case inbox",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out.String())
	}
	// The case the hints invite to create is a valid new case of XA-RC.
	m := regexp.MustCompile(`flx case create (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("no create hint")
	}
	b, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	c, err := schema.ParseCase(b)
	if err != nil || c.CaseID != tryCaseID || c.CaseID == demoCase || c.Origin.Member != "XA-RC" || c.Version != 1 {
		t.Fatalf("try case: %v %+v", err, c)
	}
}
