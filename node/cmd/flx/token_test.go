package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
)

// TestTokenCommandsWhileNodeRuns: `flx token create` writes a person's
// token into the database of a node that is serving; the node accepts it
// at once, `flx token list` shows it without its secret, `flx token
// revoke` makes the node refuse it on the next request. `flx case
// disclosures` prints the log as JSON and as a report.
func TestTokenCommandsWhileNodeRuns(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "flx.db")
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	tn := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, DSN: dsn})
	srv := httptest.NewServer(httpapi.LocalHandler(tn.Node, nil, http.NotFoundHandler(), nil))
	t.Cleanup(srv.Close)
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte("member: XA-RC\nstore:\n  dsn: "+dsn+"\n"), 0o644)
	get := func(tok, path string) int {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	out, err := runCLI(t, "token", "create", "--config", cfg, "--person", "ida", "--role", "caseworker", "--expires", "2h")
	m := regexp.MustCompile(`token (tok_[0-9a-f]+) for ida \(caseworker\)[^\n]*\nsecret[^:]*: (flxp_\S+)`).FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	id, secret := m[1], m[2]
	if st := get(secret, "/api/v1/cases"); st != 200 {
		t.Fatalf("new token on the running node: %d", st)
	}
	out, err = runCLI(t, "token", "list", "--config", cfg)
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "active") || strings.Contains(out, secret) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "token", "create", "--config", cfg, "--person", "ida", "--role", "root"); err == nil {
		t.Fatal("a token with an unknown role was made")
	}

	// the disclosure log through the CLI (nothing disclosed yet)
	api := []string{"case", "--api", srv.URL, "--token", secret}
	if out, err := runCLI(t, append(api, "create", filepath.Join("demodata", "case.json"))...); err != nil {
		t.Fatalf("create case: %v\n%s", err, out)
	}
	out, err = runCLI(t, append(api, "disclosures", "XA-RC:DEMO-0001")...)
	if err != nil || !strings.Contains(out, `"case_id": "XA-RC:DEMO-0001"`) || !strings.Contains(out, `"disclosures": []`) {
		t.Fatalf("disclosures json: %v\n%s", err, out)
	}
	out, err = runCLI(t, append(api, "disclosures", "XA-RC:DEMO-0001", "--format", "text")...)
	if err != nil || !strings.Contains(out, "# Disclosure log of case XA-RC:DEMO-0001") || !strings.Contains(out, "Nothing about this case was sent") {
		t.Fatalf("disclosures text: %v\n%s", err, out)
	}

	out, err = runCLI(t, "token", "revoke", "--config", cfg, id)
	if err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if st := get(secret, "/api/v1/cases"); st != 401 {
		t.Fatalf("revoked token on the running node: %d, want 401", st)
	}
	out, err = runCLI(t, "token", "list", "--config", cfg)
	if err != nil || !strings.Contains(out, "revoked") || !strings.Contains(out, "by cli") {
		t.Fatalf("list after revoke: %v\n%s", err, out)
	}
	var ee exitError
	if _, err := runCLI(t, "token", "revoke", "--config", cfg, id); err == nil || errors.As(err, &ee) && ee.code == 0 {
		t.Fatal("revoking twice succeeded")
	}
}
