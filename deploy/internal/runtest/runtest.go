package runtest

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/familylinks/flx/conformance/variant"
)

// ModuleRoot returns the directory of go.mod above the test's directory.
func ModuleRoot(t testing.TB) string {
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

// ReleaseFlags are the release image's go build flags (deploy/image's
// BuildArgs, with CGO_ENABLED=0; its test holds them equal).
var ReleaseFlags = variant.ReleaseFlags

// BuildFlx returns the flx binary of this tree (node/cmd/flx) built with
// go build's default flags, those of `go run ./node/cmd/flx demo` and of
// the README's runs without -race (after the demo it is a link):
// variant.Shared builds it once for every test process of the tree
// (node/e2e's and the deploy packages'), into a folder of the user's cache
// directory. The test must not change the file. It is skipped when there
// is no go command in PATH. The release build itself (ReleaseFlags, static)
// is deploy/image's TestBuildImage's.
func BuildFlx(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command in PATH to build flx with")
	}
	root := ModuleRoot(t)
	readSources(t, root)
	bin, err := variant.Shared(t.Context(), root, "./node/cmd/flx")
	if err != nil {
		t.Fatalf("go build ./node/cmd/flx: %v", err)
	}
	return bin
}

// BuildLocked runs build, a go build of this tree, while no other test
// process builds flx from it (variant.Locked): at the same time on an
// empty build cache both would compile the same packages.
func BuildLocked(t testing.TB, build func() error) error {
	t.Helper()
	return variant.Locked(ModuleRoot(t), build)
}

// FreePort returns a loopback address (host:port) that was free a moment
// ago.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ReadFile returns the content of the file p.
func ReadFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// GetOK returns nil when GET url answers 200 OK, else the error or the
// status.
func GetOK(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// InitFederation runs `flx federation init` with an empty environment for a
// federation called name with two members, XA-RC (a society) and ICRC-CTA
// (a coordinator), and returns its directory; each member's folder is
// members/ID below it.
func InitFederation(t testing.TB, flx, name string) string {
	t.Helper()
	fed := filepath.Join(t.TempDir(), "federation")
	cmd := exec.Command(flx, "federation", "init", "--dir", fed, "--name", name,
		"--member", "XA-RC:XA:society:https://flx.xa-rc.example:8443",
		"--member", "ICRC-CTA:XC:coordinator:https://flx.icrc-cta.example:8443")
	cmd.Env = []string{}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("flx federation init: %v\n%s", err, out)
	}
	return fed
}

// SyncBuffer collects a process's output while the test may read it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Process is a started node process whose output (stdout and stderr) is
// collected. Its methods are for the test's own goroutine.
type Process struct {
	cmd    *exec.Cmd
	logs   SyncBuffer
	done   chan error
	exited bool
	err    error
}

// Start starts cmd with its output collected. A process still running when
// the test ends is killed.
func Start(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{cmd: cmd, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = &p.logs, &p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if !p.exited {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Logs returns what the process has written so far.
func (p *Process) Logs() string { return p.logs.String() }

// exitedNow reports, without waiting, whether the process has exited, and
// how.
func (p *Process) exitedNow() (bool, error) {
	if !p.exited {
		select {
		case p.err = <-p.done:
			p.exited = true
		default:
		}
	}
	return p.exited, p.err
}

// WaitUntil calls try every 200ms until it returns nil or the deadline
// passes, and returns try's last error. If the process exits meanwhile, the
// test fails at once with "node exited WHEN" and the logs.
func (p *Process) WaitUntil(t testing.TB, deadline time.Time, when string, try func() error) error {
	t.Helper()
	var last error
	for time.Now().Before(deadline) {
		if exited, err := p.exitedNow(); exited {
			t.Fatalf("node exited %s: %v\n%s", when, err, p.Logs())
		}
		if last = try(); last == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return last
}

// Stop does what a service manager does to stop the process: SIGTERM, then
// up to grace for it to exit. The test fails if it exits with an error or
// does not exit in time; limit names the grace period in that message
// ("TimeoutStopSec=90s").
func (p *Process) Stop(t testing.TB, grace time.Duration, limit string) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.exited, p.err = true, err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Errorf("node exited with %v on SIGTERM\n%s", err, p.Logs())
		}
	case <-time.After(grace):
		t.Errorf("node did not stop within %s\n%s", limit, p.Logs())
	}
}

// readSources reads every Go source and the module files under root, so
// that go test's cache counts them as inputs of this test: it builds the
// flx binary in a subprocess, which the cache cannot see, and a cached
// pass must not outlive a change to the node's code.
func readSources(t testing.TB, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != root && (n == "testdata" || strings.HasPrefix(n, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if n := d.Name(); strings.HasSuffix(n, ".go") || n == "go.mod" || n == "go.sum" || strings.HasSuffix(n, ".json") || strings.HasSuffix(n, ".sql") || strings.HasSuffix(n, ".yaml") {
			_, err = os.ReadFile(p)
		}
		return err
	})
	if err != nil {
		t.Fatalf("reading the sources: %v", err)
	}
}
