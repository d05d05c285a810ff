package systemd

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// This file follows RUNBOOK.md section 4.1 without root or systemd: the
// runbook's own `install` lines copy a member folder made by `flx federation
// init` into /etc/flx (mapped under a temporary root) with the modes they
// give, and the real flx binary runs with the unit's ExecStart and
// Environment. The node must accept the files (it refuses private keys that
// group or others can read), become ready and stop on SIGTERM within
// TimeoutStopSec.

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

func buildFlx(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH to build flx with")
	}
	bin := filepath.Join(t.TempDir(), "flx")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, "./node/cmd/flx")
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./node/cmd/flx: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// installLine is `install -m MODE -o root -g GROUP SRC DEST` in the runbook.
var installLine = regexp.MustCompile(`(?m)^\s*install -m (0[0-7]{3}) -o (root|flx) -g (root|flx) (\S+)\s+(/etc/flx/\S+)\s*$`)

func TestRunbookLayoutRunsWithTheRealBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs flx; skipped with -short")
	}
	flx := buildFlx(t)
	fed := filepath.Join(t.TempDir(), "federation")
	initCmd := exec.Command(flx, "federation", "init", "--dir", fed, "--name", "systemd-test",
		"--member", "XA-RC:XA:society:https://flx.xa-rc.example:8443",
		"--member", "ICRC-CTA:XC:coordinator:https://flx.icrc-cta.example:8443")
	initCmd.Env = []string{}
	if out, err := initCmd.CombinedOutput(); err != nil {
		t.Fatalf("flx federation init: %v\n%s", err, out)
	}
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
		"/etc/flx/trust/anchor.jwk", "/etc/flx/trust/manifest.jws", "/etc/flx/private/tls.key", "/etc/flx/private/signing.jwk"} {
		if !installed[want] {
			t.Errorf("RUNBOOK.md section 4.1 installs no %s", want)
		}
	}
	// StateDirectory=flx.
	if err := os.MkdirAll(mapPath("/var/lib/flx"), 0o700); err != nil {
		t.Fatal(err)
	}

	u := parseUnit(t, "flx.service")
	localAddr, fedAddr := freePort(t), freePort(t)
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

	var logs syncBuffer
	cmd := exec.Command(flx, args...)
	cmd.Env = env
	cmd.Dir = mapPath("/var/lib/flx") // WorkingDirectory=
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	client := &http.Client{Timeout: 5 * time.Second}
	var last error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		select {
		case err := <-done:
			exited = true
			t.Fatalf("node exited on start: %v\n%s", err, logs.String())
		default:
		}
		var resp *http.Response
		if resp, last = client.Get("http://" + localAddr + "/readyz"); last == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			last = errors.New(resp.Status)
		}
	}
	if last != nil {
		t.Fatalf("/readyz never answered 200: %v\n%s", last, logs.String())
	}
	if _, err := os.Stat(filepath.Join(mapPath("/var/lib/flx"), "flx.db")); err != nil {
		t.Errorf("the SQLite store is not in the StateDirectory: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stop, _ := u.get("Service", "TimeoutStopSec")
	timeout, err := time.ParseDuration(stop[0])
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		exited = true
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Errorf("node exited with %v on SIGTERM\n%s", err, logs.String())
		}
	case <-time.After(timeout):
		t.Errorf("node did not stop within TimeoutStopSec=%s\n%s", stop[0], logs.String())
	}
}
