package conformance_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/familylinks/flx/conformance"
)

// The suite has teeth: it passes against this project's node, run as a
// separate process from the real flx binary (so the suite stays black-box),
// and each broken variant of the node, built with one flx_broken_* tag (see
// node/breakage.go), fails the check that guards the requirement it breaks
// (warns, for a SHOULD).

// variant is a node build that breaks one requirement, and the check that
// must catch it.
type variant struct {
	tag   string // build tag flx_broken_<tag>
	broke string // what the variant does wrong
	check string // the check that must fail
}

var variants = []variant{
	{"replay", "accepts the same (iss, jti) with other bytes", "FLX-DLV-010/replay"},
	{"algnone", "trusts alg none without a signature", "FLX-KEY-004/alg-none"},
	{"audience", "ignores the audience", "FLX-ENV-006/wrong-audience"},
	{"earlyack", "answers 202 before the envelope is stored", "FLX-DLV-009/duplicate"},
	{"nobackoff", "retries without backoff", "FLX-DLV-004/backoff"},
	{"noretryafter", "ignores Retry-After", "FLX-DLV-006/retry-after"},
	{"noconfirm", "never confirms a withdrawal", "FLX-WDR-005/confirmation"},
	{"nolimit", "has no body size limit", "FLX-LIM-002/too-large"},
	{"receipthash", "binds receipts to the body instead of the envelope bytes", "FLX-RCP-001/receipt"},
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
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

func build(root, out, tag string) error {
	args := []string{"build", "-o", out}
	if tag != "" {
		args = append(args, "-tags", "flx_broken_"+tag)
	}
	cmd := exec.Command("go", append(args, "./node/cmd/flx")...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", tag, err, b)
	}
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// candidate is a running flx serve with its conformance directory.
type candidate struct {
	dir, localAPI string
	cmd           *exec.Cmd
	log           *bytes.Buffer
}

var portMu sync.Mutex

// startCandidate runs flx conformance init and flx serve with binary bin.
func startCandidate(t *testing.T, bin string) *candidate {
	t.Helper()
	portMu.Lock()
	fed, local, tester := freePort(t), freePort(t), freePort(t)
	dir := filepath.Join(t.TempDir(), "conf")
	c := &candidate{dir: dir, localAPI: "127.0.0.1:" + strconv.Itoa(local), log: &bytes.Buffer{}}
	init := exec.Command(bin, "conformance", "init", "--dir", dir,
		"--candidate", "XA-RC:XA:society:https://127.0.0.1:"+strconv.Itoa(fed),
		"--tester-listen", "127.0.0.1:"+strconv.Itoa(tester), "--candidate-local-api", c.localAPI)
	if b, err := init.CombinedOutput(); err != nil {
		portMu.Unlock()
		t.Fatalf("flx conformance init: %v\n%s", err, b)
	}
	c.cmd = exec.Command(bin, "serve", "--config", filepath.Join(dir, "candidate", "config.yaml"))
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	c.cmd.Env = append(os.Environ(), "FLX_LOG_LEVEL=info")
	if err := c.cmd.Start(); err != nil {
		portMu.Unlock()
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + c.localAPI + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			portMu.Unlock()
			t.Fatalf("candidate not ready within 30 s:\n%s", c.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	portMu.Unlock()
	return c
}

func (c *candidate) stop() {
	if c.cmd.Process == nil || c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

func (c *candidate) run(t *testing.T, only []string) *conformance.Report {
	t.Helper()
	rep, err := conformance.Run(context.Background(), conformance.Config{
		Dir: c.dir, TriggerURL: "http://" + c.localAPI, Only: only,
		Quiet: 5 * time.Second, Patience: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("conformance.Run: %v", err)
	}
	return rep
}

func TestTeeth(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the flx binary: skipped with -short")
	}
	root := moduleRoot(t)
	readSources(t, root)
	bins := t.TempDir()
	good := filepath.Join(bins, "flx")
	start := time.Now()
	if err := build(root, good, ""); err != nil {
		t.Fatal(err)
	}
	// Build the variants in the background while the good node is checked.
	built := make(map[string]chan error, len(variants))
	for _, v := range variants {
		built[v.tag] = make(chan error, 1)
	}
	go func() {
		for _, v := range variants {
			built[v.tag] <- build(root, filepath.Join(bins, "flx-"+v.tag), v.tag)
		}
	}()

	t.Run("good", func(t *testing.T) {
		c := startCandidate(t, good)
		rep := c.run(t, nil)
		var tbl strings.Builder
		_ = rep.WriteTable(&tbl)
		t.Logf("suite against the good node (%s):\n%s", time.Since(start).Round(time.Second), tbl.String())
		for _, r := range rep.Results {
			switch r.Status {
			case conformance.StatusPass, conformance.StatusNotChecked:
			case conformance.StatusSkip:
				if r.Mode != conformance.ModeSlow {
					t.Errorf("%s skipped: %s", r.Check, r.Reason)
				}
			default:
				t.Errorf("%s: %s: %s", r.Check, r.Status, r.Reason)
			}
		}
		if rep.Verdict != "pass" {
			t.Errorf("verdict %s against the good node", rep.Verdict)
		}
		for _, v := range variants {
			if !hasResult(rep, v.check, conformance.StatusPass) {
				t.Errorf("check %s did not pass on the good node", v.check)
			}
		}
	})

	var mu sync.Mutex
	caught := 0
	t.Run("broken", func(t *testing.T) {
		for _, v := range variants {
			t.Run(v.tag, func(t *testing.T) {
				t.Parallel()
				if err := <-built[v.tag]; err != nil {
					t.Fatal(err)
				}
				c := startCandidate(t, filepath.Join(bins, "flx-"+v.tag))
				rep := c.run(t, []string{v.check})
				for _, r := range rep.Results {
					if r.Check == v.check {
						want := conformance.StatusFail
						if r.Level == "SHOULD" {
							want = conformance.StatusWarn // a SHOULD not met warns (SPEC.md §13.3)
						}
						if r.Status != want {
							t.Errorf("node that %s: %s is %s, want %s", v.broke, v.check, r.Status, want)
							return
						}
						t.Logf("node that %s: %s is %s: %s", v.broke, v.check, r.Status, r.Reason)
						mu.Lock()
						caught++
						mu.Unlock()
						return
					}
				}
				t.Errorf("check %s did not run", v.check)
			})
		}
	})
	t.Logf("broken variants caught: %d of %d (total %s)", caught, len(variants), time.Since(start).Round(time.Second))
}

func hasResult(rep *conformance.Report, check string, st conformance.Status) bool {
	for _, r := range rep.Results {
		if r.Check == check && r.Status == st {
			return true
		}
	}
	return false
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
