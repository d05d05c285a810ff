package systemd

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/deploy/internal/runtest"
)

// This file follows RUNBOOK.md section 4.1 without root or systemd: the
// runbook's own `install` lines copy a member folder made by `flx federation
// init` into /etc/flx (mapped under a temporary root) with the modes they
// give, and the real flx binary runs with the unit's ExecStart and
// Environment. The node must accept the files (it refuses private keys that
// group or others can read), become ready and stop on SIGTERM within
// TimeoutStopSec.

// installLine is `install -m MODE -o root -g GROUP SRC DEST` in the runbook.
var installLine = regexp.MustCompile(`(?m)^\s*install -m (0[0-7]{3}) -o (root|flx) -g (root|flx) (\S+)\s+(/etc/flx/\S+)\s*$`)

func TestRunbookLayoutRunsWithTheRealBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs flx; skipped with -short")
	}
	flx := runtest.BuildFlx(t)
	fed := runtest.InitFederation(t, flx, "systemd-test")
	member := filepath.Join(fed, "members", "XA-RC")

	runbook, err := os.ReadFile(filepath.Join("..", "RUNBOOK.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(runbook)
	if i := strings.Index(section, "### 4.1"); i >= 0 {
		section = section[i:]
	}
	if i := strings.Index(section, "### 4.2"); i >= 0 {
		section = section[:i]
	}
	root := t.TempDir()
	mapPath := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
	installed := map[string]bool{}
	for _, m := range installLine.FindAllStringSubmatch(section, -1) {
		src, dest := m[4], m[5]
		mode, err := strconv.ParseUint(m[1], 8, 32)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(src, "$M/"):
			src = filepath.Join(member, filepath.FromSlash(strings.TrimPrefix(src, "$M/")))
		case strings.HasPrefix(src, "deploy/systemd/"):
			src = strings.TrimPrefix(src, "deploy/systemd/")
		default:
			t.Fatalf("runbook installs %s from an unknown place", src)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatalf("runbook line %q: %v", strings.TrimSpace(m[0]), err)
		}
		if dest == "/etc/flx/config.yaml" {
			// The operator who takes part in cross-border matching
			// uncomments the match block, as the file says.
			commented := "# match:\n#   secret_file: /etc/flx/private/match-secret.json\n"
			if !strings.Contains(string(data), commented) {
				t.Fatalf("config.yaml has no commented match.secret_file block to uncomment:\n%s", data)
			}
			data = []byte(strings.Replace(string(data), commented, "match:\n  secret_file: /etc/flx/private/match-secret.json\n", 1))
			// The example names real host paths: map them under root.
			data = []byte(strings.NewReplacer("/etc/flx/", mapPath("/etc/flx")+"/", "/var/lib/flx", mapPath("/var/lib/flx")).Replace(string(data)))
		}
		if err := os.MkdirAll(filepath.Dir(mapPath(dest)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mapPath(dest), data, 0o600); err != nil {
			t.Fatal(err)
		}
		// As install(1) leaves it (the test runs as one user, so only the
		// mode is reproduced, not the owner).
		if err := os.Chmod(mapPath(dest), os.FileMode(mode)); err != nil {
			t.Fatal(err)
		}
		installed[dest] = true
	}
	for _, want := range []string{"/etc/flx/config.yaml", "/etc/flx/policy.yaml", "/etc/flx/tls/cert.pem",
		"/etc/flx/trust/anchor.jwk", "/etc/flx/trust/manifest.jws", "/etc/flx/private/tls.key", "/etc/flx/private/signing.jwk", "/etc/flx/private/bundle.jwk"} {
		if !installed[want] {
			t.Errorf("RUNBOOK.md section 4.1 installs no %s", want)
		}
	}
	// The matching secret, made as RUNBOOK "The federation matching secret"
	// says (umask 077).
	if err := os.WriteFile(mapPath("/etc/flx/private/match-secret.json"), []byte(`{"kid": "2026-1", "key": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// StateDirectory=flx.
	if err := os.MkdirAll(mapPath("/var/lib/flx"), 0o700); err != nil {
		t.Fatal(err)
	}

	u := parseUnit(t, "flx.service")
	localAddr, fedAddr := runtest.FreePort(t), runtest.FreePort(t)
	env := []string{"FLX_LOCAL_API_LISTEN=" + localAddr, "FLX_FEDERATION_LISTEN=" + fedAddr}
	unitEnv, _ := u.get("Service", "Environment")
	for _, e := range unitEnv {
		env = append(env, e)
	}
	execStart, _ := u.get("Service", "ExecStart")
	args := strings.Fields(execStart[0])[1:]
	for i, a := range args {
		if strings.HasPrefix(a, "/etc/flx/") {
			args[i] = mapPath(a)
		}
	}

	cmd := exec.Command(flx, args...)
	cmd.Env = env
	cmd.Dir = mapPath("/var/lib/flx") // WorkingDirectory=
	node := runtest.Start(t, cmd)
	client := &http.Client{Timeout: 5 * time.Second}
	last := node.WaitUntil(t, time.Now().Add(60*time.Second), "on start", func() error {
		return runtest.GetOK(client, "http://"+localAddr+"/readyz")
	})
	if last != nil {
		t.Fatalf("/readyz never answered 200: %v\n%s", last, node.Logs())
	}
	if strings.Contains(node.Logs(), "no bundle encryption key") {
		t.Errorf("the layout gives the node no bundle key (it could not import carried bundles):\n%s", node.Logs())
	}
	if !strings.Contains(node.Logs(), "cross-border matching on") {
		t.Errorf("match.secret_file uncommented, but the node did not load the matching secret:\n%s", node.Logs())
	}
	if _, err := os.Stat(filepath.Join(mapPath("/var/lib/flx"), "flx.db")); err != nil {
		t.Errorf("the SQLite store is not in the StateDirectory: %v", err)
	}
	stop, _ := u.get("Service", "TimeoutStopSec")
	timeout, err := time.ParseDuration(stop[0])
	if err != nil {
		t.Fatal(err)
	}
	node.Stop(t, timeout, "TimeoutStopSec="+stop[0])
}
