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
	// A dry run's "state": "queued" is said to be what a forward would do.
	if !strings.Contains(out, "dry run: nothing was stored or sent") {
		t.Errorf("check does not say that it sent nothing:\n%s", out)
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

// TestCaseCommandsSayWhatToDo: a refused token and an unreachable node are
// answered with what to do, not only a problem document or a dial error (a
// newcomer with a mistyped FLX_TOKEN saw only "a valid bearer token is
// required"; with a wrong FLX_API, "connect: connection refused").
func TestCaseCommandsSayWhatToDo(t *testing.T) {
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	tn := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})
	sum := sha256.Sum256([]byte("au-token"))
	h := httpapi.LocalHandler(tn.Node, []config.Token{{Name: "au", Role: "auditor", SHA256: hex.EncodeToString(sum[:])}}, http.NotFoundHandler(), nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	out, err := runCLI(t, "case", "--api", srv.URL, "--token", "mistyped", "list")
	if err == nil || !strings.Contains(out, `"code": "unauthenticated"`) || !strings.Contains(out, "flx: the node did not accept the token: give one of this node's tokens with --token or FLX_TOKEN") {
		t.Errorf("a refused token: %v\n%s", err, out)
	}
	out, err = runCLI(t, "case", "--api", srv.URL, "--token", "au-token", "forward", "XA-RC:X-1", "--to", "XB-RC")
	if err == nil || !strings.Contains(out, `"code": "forbidden"`) || !strings.Contains(out, "flx: this token's role may not do this") {
		t.Errorf("a role refused: %v\n%s", err, out)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	_, err = runCLI(t, "case", "--api", url, "--token", "au-token", "list")
	if err == nil || !strings.Contains(err.Error(), "cannot reach the node's local API at "+url+": is the node running, and is --api (or FLX_API)") {
		t.Errorf("an unreachable node: %v", err)
	}
}
