package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRoot()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestCaseCommandsOverLocalAPI(t *testing.T) {
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	tn := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})
	sum := sha256.Sum256([]byte("cw-token"))
	h := httpapi.LocalHandler(tn.Node, []config.Token{{Name: "cw", Role: "caseworker", SHA256: hex.EncodeToString(sum[:])}}, http.NotFoundHandler(), nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	api := []string{"case", "--api", srv.URL, "--token", "cw-token"}
	caseFile := filepath.Join("demodata", "case.json")

	out, err := runCLI(t, append(api, "create", caseFile)...)
	if err != nil || !strings.Contains(out, `"case_id": "XA-RC:DEMO-0001"`) {
		t.Fatalf("create: %v\n%s", err, out)
	}
	out, err = runCLI(t, append(api, "get", "XA-RC:DEMO-0001")...)
	if err != nil || !strings.Contains(out, `"version": 1`) {
		t.Fatalf("get: %v\n%s", err, out)
	}
	out, err = runCLI(t, append(api, "list", "--origin", "XA-RC")...)
	if err != nil || !strings.Contains(out, "XA-RC:DEMO-0001") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = runCLI(t, append(api, "check", "XA-RC:DEMO-0001", "--to", "XB-RC")...)
	if err != nil || !strings.Contains(out, "FLX-DP-SENSITIVE") {
		t.Fatalf("check: %v\n%s", err, out)
	}
	out, err = runCLI(t, append(api, "forward", "XA-RC:DEMO-0001", "--to", "XB-RC")...)
	if err != nil || !strings.Contains(out, `"state": "queued"`) {
		t.Fatalf("forward: %v\n%s", err, out)
	}

	// A duplicate create prints the problem document and exits 1.
	out, err = runCLI(t, append(api, "create", caseFile)...)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, `"code": "conflict"`) {
		t.Fatalf("duplicate create: err=%v\n%s", err, out)
	}
	// A wrong token is refused.
	out, err = runCLI(t, "case", "--api", srv.URL, "--token", "nope", "get", "XA-RC:DEMO-0001")
	if !errors.As(err, &ee) || !strings.Contains(out, "unauthenticated") {
		t.Fatalf("bad token: err=%v\n%s", err, out)
	}
	// Missing settings are clear errors.
	if _, err := runCLI(t, "case", "--api", "", "--token", "x", "list"); err == nil || !strings.Contains(err.Error(), "--api") {
		t.Fatalf("missing --api: %v", err)
	}
	// FLX_TOKEN stands in for --token, and --help never prints it (the
	// demo tells newcomers to export it before they type commands).
	t.Setenv("FLX_TOKEN", "cw-token")
	if out, err := runCLI(t, "case", "--api", srv.URL, "get", "XA-RC:DEMO-0001"); err != nil || !strings.Contains(out, `"case_id": "XA-RC:DEMO-0001"`) {
		t.Fatalf("token from FLX_TOKEN: err=%v\n%s", err, out)
	}
	for _, group := range []string{"case", "match", "review"} {
		if out, err := runCLI(t, group, "--help"); err != nil || strings.Contains(out, "cw-token") || !strings.Contains(out, "--token") {
			t.Fatalf("%s --help shows the token from FLX_TOKEN (err=%v):\n%s", group, err, out)
		}
	}
}
