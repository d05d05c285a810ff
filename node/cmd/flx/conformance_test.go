package main

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/conformance"
	"github.com/familylinks/flx/node/config"
)

func freeTCPPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// TestConformanceCommands runs init, starts the candidate it describes
// in-process, runs a few checks through the CLI, and verifies the signed
// report, refusing a tampered one. (conformance/teeth_test.go runs the
// whole suite against the real binary.)
func TestConformanceCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conf")
	fed, local, tester := freeTCPPort(t), freeTCPPort(t), freeTCPPort(t)
	out, err := runFederationCmd(t, "conformance", "init", "--dir", dir,
		"--candidate", "XA-RC:XA:society:https://127.0.0.1:"+fed,
		"--tester-listen", "127.0.0.1:"+tester, "--candidate-local-api", "127.0.0.1:"+local)
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if _, err := runFederationCmd(t, "conformance", "init", "--dir", dir); err == nil {
		t.Error("init over an existing directory succeeded")
	}
	cfg, err := config.Load(filepath.Join(dir, "candidate", "config.yaml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("candidate config: %v", err)
	}
	if err := cfg.Verify(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "candidate", "data", "keys", "signing.jwk")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("candidate signing key: %v %v", fi.Mode(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rn, err := startNode(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start candidate: %v", err)
	}
	defer func() { rn.Stop(); _ = rn.Wait() }()

	reports := filepath.Join(t.TempDir(), "reports")
	junit := filepath.Join(t.TempDir(), "junit.xml")
	out, err = runFederationCmd(t, "conformance", "run", "--dir", dir, "--out", reports, "--junit", junit,
		"--only", "FLX-API-001,FLX-KEY-004", "--only", "FLX-OUT-001")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	for _, want := range []string{"FLX-API-001/metadata", "FLX-KEY-004/alg-none", "FLX-OUT-001/token-required", "3 pass, 0 fail", "verdict pass"} {
		if !strings.Contains(out, want) {
			t.Errorf("run output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"report.txt", "report.json", "report.junit.xml", "report.jws"} {
		if _, err := os.Stat(filepath.Join(reports, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(junit); err != nil {
		t.Error(err)
	}

	// Manifest mode: init has the candidate re-read its manifest every
	// second, and --manifest-file lets the tester write it.
	if cfg.Federation.ManifestRefresh != time.Second {
		t.Errorf("candidate manifest_refresh %s, want 1s (manifest mode)", cfg.Federation.ManifestRefresh)
	}
	out, err = runFederationCmd(t, "conformance", "run", "--dir", dir, "--out", t.TempDir(), "--only", "FLX-MAN-005",
		"--manifest-file", filepath.Join(dir, "candidate", "data", "trust", "manifest.jws"))
	if err != nil || !strings.Contains(out, "1 pass, 0 fail") {
		t.Errorf("run in manifest mode: %v\n%s", err, out)
	}

	pub := filepath.Join(dir, filepath.FromSlash(conformance.ReportKeyPubFile))
	signed := filepath.Join(reports, "report.jws")
	out, err = runFederationCmd(t, "conformance", "verify-report", "--report", signed, "--key", pub)
	if err != nil || !strings.Contains(out, "signature OK") || !strings.Contains(out, "verdict pass") {
		t.Errorf("verify-report: %v\n%s", err, out)
	}

	// Tampering: a payload with another verdict and the old signature.
	b, _ := os.ReadFile(signed)
	parts := strings.Split(strings.TrimSpace(string(b)), ".")
	js, _ := os.ReadFile(filepath.Join(reports, "report.json"))
	forged := strings.Replace(string(js), `"verdict": "pass"`, `"verdict": "fail"`, 1)
	bad := filepath.Join(t.TempDir(), "forged.jws")
	enc := strings.TrimRight(b64url(forged), "=")
	if err := os.WriteFile(bad, []byte(parts[0]+"."+enc+"."+parts[2]), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runFederationCmd(t, "conformance", "verify-report", "--report", bad, "--key", pub); err == nil {
		t.Errorf("a tampered report verified:\n%s", out)
	}

	// A failing check makes the command fail with status 1.
	_, err = runFederationCmd(t, "conformance", "run", "--dir", dir, "--out", reports, "--target", "https://127.0.0.1:"+local, "--only", "FLX-API-001", "--no-outbound")
	var ee exitError
	if err == nil || !errorsAs(err, &ee) || ee.code != 1 {
		t.Errorf("run against a wrong target: %v, want exit status 1", err)
	}
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func errorsAs(err error, target any) bool { return errors.As(err, target) }
