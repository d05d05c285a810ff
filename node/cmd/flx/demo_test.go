package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node/internal/nodetest"
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
		// A newcomer who ran go run ./node/cmd/flx demo has no flx to type.
		"build flx first with\n  go build -o flx ./node/cmd/flx and write ./flx, or write go run ./node/cmd/flx instead of flx",
		"--once: stopping. These nodes, ports and tokens end now; the files stay in ",
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

// TestDemoHintsWork runs the demo as a newcomer does (it stays up) and
// follows what it prints: every curl example and every flx command of its
// "Next" list must work as shown, so that the hints cannot rot.
func TestDemoHintsWork(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out nodetest.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- runDemo(ctx, &out, demoOptions{dir: t.TempDir()}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()
	for !strings.Contains(out.String(), "Ctrl-C to stop.") {
		select {
		case err := <-done:
			t.Fatalf("demo ended early: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	text := out.String()

	// The curl examples: GET with a bearer token, answered 200 with JSON.
	curls := regexp.MustCompile(`(?m)^\s+curl -s -H 'Authorization: Bearer (\S+)' (http://\S+)$`).FindAllStringSubmatch(text, -1)
	if len(curls) < 2 {
		t.Fatalf("%d curl examples:\n%s", len(curls), text)
	}
	for _, c := range curls {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c[2], nil)
		req.Header.Set("Authorization", "Bearer "+c[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Errorf("curl %s: %d %v", c[2], resp.StatusCode, err)
		}
	}
	// The console URLs answer (the sign-in page is one redirect away).
	for _, u := range regexp.MustCompile(`console\s+(http://\S+)`).FindAllStringSubmatch(text, -1) {
		resp, err := http.Get(u[1])
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("console %s: %v %v", u[1], resp, err)
		} else {
			resp.Body.Close()
		}
	}

	// The flx commands, in order, with the environment the hints export.
	env := regexp.MustCompile(`export FLX_API=(\S+) FLX_TOKEN=(\S+)`).FindStringSubmatch(text)
	if env == nil {
		t.Fatalf("no export line:\n%s", text)
	}
	next := text[strings.Index(text, env[0]):]
	cmds := regexp.MustCompile(`(?m)^\s+((?:FLX_API=(\S+) FLX_TOKEN=(\S+) )?flx (case .*?))\s*(?:#.*)?$`).FindAllStringSubmatch(next, -1)
	want := map[string]string{ // what each command's answer shows
		"thread":  `"type": "withdrawal_confirmed"`,
		"create":  `"case_id": "` + tryCaseID + `"`,
		"check":   `"effect": "allow_with_redactions"`,
		"forward": `"state": "queued"`,
		"search":  `"case_id": "` + tryCaseID + `"`,
		"inbox":   `"case_id": "` + demoCase + `"`,
	}
	ran := map[string]bool{}
	for _, c := range cmds {
		api, token := env[1], env[2]
		if c[2] != "" {
			api, token = c[2], c[3]
		}
		t.Setenv("FLX_API", api)
		t.Setenv("FLX_TOKEN", token)
		args, err := shellWords(c[4])
		if err != nil {
			t.Fatal(err)
		}
		got, err := runCLI(t, args...)
		if err != nil {
			t.Errorf("%s: %v\n%s", c[1], err, got)
			continue
		}
		verb := args[1]
		ran[verb] = true
		if w, ok := want[verb]; ok && !strings.Contains(got, w) {
			t.Errorf("%s: the answer lacks %s:\n%s", c[1], w, got)
		}
	}
	for verb := range want {
		if !ran[verb] {
			t.Errorf("the hints have no flx case %s (commands: %q)", verb, cmds)
		}
	}
}

// shellWords splits a hint line as sh would: words, single quotes.
func shellWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in, quoted := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, in = !quoted, true
		case r == ' ' && !quoted:
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unbalanced quote in %q", s)
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}
