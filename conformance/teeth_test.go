package conformance_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/familylinks/flx/conformance"
	"github.com/familylinks/flx/conformance/variant"
)

// The suite has teeth: it passes against this project's node, run as a
// separate process from the real flx binary (so the suite stays black-box),
// and each broken variant of the node (brokenNodes, variants_test.go) fails
// the check that guards the requirement it breaks (warns, for a SHOULD).
// Every variant lives in one binary built from the node's sources with the
// variants' mutations (conformance/variant); the release binary, built from
// the real sources, has none of them.

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

func build(root, out string) error {
	return variant.Build(context.Background(), root, "./node/cmd/flx", out, nil)
}

// candidate is a running flx serve with its conformance directory.
type candidate struct {
	dir, localAPI string
	cmd           *exec.Cmd
	log           *syncBuffer
}

// startCandidate runs flx conformance init and flx serve with binary bin,
// as the variant named (none: ""), accepting the kinds listed (all: ""),
// in the role given (society: ""; "pull-only": a pull_only society).
func startCandidate(bin, variantName, accepts, role string, cleanup func(func())) (*candidate, error) {
	var pullOnly []string
	switch role {
	case "":
		role = "society"
	case rolePullOnly:
		role, pullOnly = "society", []string{"--pull-only"}
	}
	dir, err := os.MkdirTemp("", "flx-teeth-")
	if err != nil {
		return nil, err
	}
	cleanup(func() { os.RemoveAll(dir) })
	fed, local, tester, err := freePorts()
	if err != nil {
		return nil, err
	}
	dir = filepath.Join(dir, "conf")
	c := &candidate{dir: dir, localAPI: "127.0.0.1:" + strconv.Itoa(local), log: &syncBuffer{}}
	args := append([]string{"conformance", "init", "--dir", dir,
		"--candidate", "XA-RC:XA:" + role + ":https://127.0.0.1:" + strconv.Itoa(fed),
		"--tester-listen", "127.0.0.1:" + strconv.Itoa(tester), "--candidate-local-api", c.localAPI, "--accepts", accepts}, pullOnly...)
	init := exec.Command(bin, args...)
	if accepts != "" {
		// The candidate set up with what the default leaves out also names
		// the tester as its audit witness (FLX-WIT-001).
		init.Args = append(init.Args, "--witness")
	}
	if b, err := init.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("flx conformance init: %v\n%s", err, b)
	}
	c.cmd = exec.Command(bin, "serve", "--config", filepath.Join(dir, "candidate", "config.yaml"))
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	c.cmd.Env = append(os.Environ(), "FLX_LOG_LEVEL=info", variant.Env+"="+variantName)
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	cleanup(c.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + c.localAPI + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("candidate not ready within 30 s:\n%s", c.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nextPort walks a range below the kernel's ephemeral ports (which other
// tests get from Listen(":0")), from a random start, so that candidates
// starting at the same time never pick the same port and none needs to
// hold a lock until it listens.
var nextPort atomic.Int32

func init() { nextPort.Store(int32(12000 + rand.IntN(8000))) }

// freePorts returns three loopback ports of that range that are free now.
// The tester's comes with the next four, also free and taken by no other
// candidate: the manifest puts XD-PEER's, XD-SUSPENDED's, XD-REMOTE's and
// XD-PULL's endpoints there, where checks listen for what must not arrive.
func freePorts() (fed, local, tester int, err error) {
	var ports []int
	for tries := 0; len(ports) < 3; tries++ {
		if tries > 1000 {
			return 0, 0, 0, errors.New("no free loopback port")
		}
		span := int32(1)
		if len(ports) == 2 {
			span = 5
		}
		p := int(nextPort.Add(span) - span + 1)
		if p+int(span) > 32000 {
			nextPort.Store(12000)
			continue
		}
		free := true
		for q := p; q < p+int(span) && free; q++ {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(q))
			if err != nil {
				free = false
				continue
			}
			ln.Close()
		}
		if free {
			ports = append(ports, p)
		}
	}
	return ports[0], ports[1], ports[2], nil
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

// run runs the checks named (all: nil) against the candidate. patience is
// how long the tester waits for what must arrive: ample for the good node;
// shorter for a broken one, which fails the sooner when what it breaks is
// an arrival (a scenario's patience still grows by the backoff it provokes).
// manifest enables manifest mode on the candidate's manifest file, which
// init has it re-read every second.
func (c *candidate) run(only []string, patience time.Duration, manifest bool) (*conformance.Report, error) {
	cfg := conformance.Config{
		Dir: c.dir, TriggerURL: "http://" + c.localAPI, Only: only,
		Quiet: 5 * time.Second, Patience: patience,
	}
	if manifest {
		cfg.ManifestFile = filepath.Join(c.dir, filepath.FromSlash(conformance.CandidateDataDir), "trust", "manifest.jws")
		cfg.ManifestRefresh = time.Second
	}
	return conformance.Run(context.Background(), cfg)
}

// manifestChecks are the checks of manifest mode: they run against a third
// good candidate of their own, in parallel with the others, since each
// waits a few refresh intervals per manifest it writes.
func manifestChecks() []string {
	var out []string
	for _, c := range conformance.Checks() {
		if c.Mode == conformance.ModeManifest {
			out = append(out, c.ID)
		}
	}
	return out
}

// goodPatience and brokenPatience are the patience of the good and the
// broken candidates' runs.
const (
	goodPatience   = 30 * time.Second
	brokenPatience = 20 * time.Second
)

// teethParallel is how many broken candidates run at once: they mostly
// wait (for quiet periods, for backoff), so more than the CPUs.
func teethParallel() int {
	if n, err := strconv.Atoi(os.Getenv("FLX_TEETH_PARALLEL")); err == nil && n > 0 {
		return n
	}
	return 8
}

// teethAccepts are the kinds the second good candidate accepts, and the
// candidates of the variants that need kinds left out (they also name the
// tester as their audit witness: init --witness); acceptsChecks are the
// checks run against it: those that depend on the kinds a candidate
// accepts, and on its witness.
const teethAccepts = "case.create,case.update,case.withdraw"

var acceptsChecks = []string{
	"FLX-ENV-009/unaccepted-kind", "FLX-API-001/metadata", "FLX-RCP-001/receipt", "FLX-SCH-001/invalid-per-kind",
	"FLX-SCH-003/examples-accepted", "FLX-DLV-011/replay-per-sender", "FLX-WIT-001/head-sent",
	"FLX-WIT-001/head-resent",
}

// coordinatorChecks are the checks run against another good candidate, a
// coordinator (init --candidate ID:COUNTRY:coordinator:URL): those of a
// member that may relay and receives statistics reports, skipped against
// the others.
var coordinatorChecks = []string{
	"FLX-RLY-007/relays", "FLX-RLY-010/withdrawal-relayed", "FLX-STA-004/refused", "FLX-STA-003/aggregates",
	"FLX-STA-006/relayed", "FLX-RLY-011/suspended-recipient", "FLX-MED-017/not-to-pull-only",
}

// rolePullOnly is the role of a candidate set up with init --pull-only,
// and pullOnlyChecks the checks run against a good candidate set up so:
// what a member that pulls does.
const rolePullOnly = "pull-only"

var pullOnlyChecks = []string{"FLX-PUL-005/puller", "FLX-PUL-005/puller-not-strings", "FLX-PUL-008/pulls-again"}

// teethSelected reports whether variant name runs: all of them, unless
// FLX_TEETH_ONLY lists some (comma-separated names), to work on a few.
func teethSelected(name string) bool {
	only := os.Getenv("FLX_TEETH_ONLY")
	return only == "" || slices.Contains(strings.Split(only, ","), name)
}

// caught is what one broken candidate did.
type caught struct {
	result   *conformance.Result
	err      error
	log      string
	duration time.Duration
}

func TestTeeth(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the flx binary: skipped with -short")
	}
	root := moduleRoot(t)
	readSources(t, root)
	bins := t.TempDir()
	good, broken := filepath.Join(bins, "flx"), filepath.Join(bins, "flx-variants")
	start := time.Now()
	if err := build(root, good); err != nil {
		t.Fatal(err)
	}
	t.Logf("release build: %s", time.Since(start).Round(100*time.Millisecond))
	// One build with every variant, in the background while the good
	// node is checked.
	var vs []variant.Variant
	for _, b := range brokenNodes {
		vs = append(vs, b.Variant)
	}
	built := make(chan error, 1)
	go func() {
		vstart := time.Now()
		err := variant.Build(context.Background(), root, "./node/cmd/flx", broken, vs)
		t.Logf("variant build (%d variants): %s", len(vs), time.Since(vstart).Round(100*time.Millisecond))
		built <- err
	}()

	t.Run("release binary holds no test hook", func(t *testing.T) {
		checkRelease(t, good)
	})

	// The good node is checked while the variants build, and while the
	// broken candidates run: most of the suite's time is spent waiting.
	type goodRun struct {
		rep *conformance.Report
		err error
		d   time.Duration
	}
	// goodCheck starts a good candidate (kinds it accepts, role) and runs
	// the checks only (all when nil) against it, in the background.
	goodCheck := func(accepts, role string, only []string, manifest bool) chan goodRun {
		done := make(chan goodRun, 1)
		go func() {
			gstart := time.Now()
			var cleanups []func()
			defer func() {
				for i := len(cleanups) - 1; i >= 0; i-- {
					cleanups[i]()
				}
			}()
			c, err := startCandidate(good, "", accepts, role, func(f func()) { cleanups = append(cleanups, f) })
			if err != nil {
				done <- goodRun{err: err}
				return
			}
			rep, err := c.run(only, goodPatience, manifest)
			done <- goodRun{rep: rep, err: err, d: time.Since(gstart)}
		}()
		return done
	}
	// Every check against a good candidate set up with init's defaults,
	// in three parts at once: the outbound checks (most of the waiting:
	// backoff, quiet periods) split between two candidates, the others on
	// a third.
	outbound := checksOfMode(true)
	goodDone := goodCheck("", "", everyOther(outbound, 0), false)
	goodOutbound2Done := goodCheck("", "", everyOther(outbound, 1), false)
	goodInboundDone := goodCheck("", "", checksOfMode(false), false)
	// And set up leaving kinds out, for the checks that depend on it.
	acceptsDone := goodCheck(teethAccepts, "", acceptsChecks, false)
	// And the manifest checks, on a candidate whose manifest they rewrite.
	manifestDone := goodCheck("", "", manifestChecks(), true)
	// And a coordinator, for the checks of a member that may relay, and a
	// pull-only member, for the checks of a member that pulls.
	roleDone := map[string]chan goodRun{
		"coordinator": goodCheck("", "coordinator", coordinatorChecks, false),
		rolePullOnly:  goodCheck("", rolePullOnly, pullOnlyChecks, false),
	}

	if err := <-built; err != nil {
		t.Fatal(err)
	}
	// The variant binary is scanned while the broken candidates run.
	type scanned struct {
		found []string
		err   error
	}
	scanDone := make(chan scanned, 1)
	go func() {
		found, err := variant.Scan(context.Background(), broken, releaseSymbols, releaseStrings)
		scanDone <- scanned{found, err}
	}()

	// Run the broken candidates in a pool, then report each as a subtest.
	bstart := time.Now()
	results := make([]caught, len(brokenNodes))
	sem := make(chan struct{}, teethParallel())
	var wg sync.WaitGroup
	// Outbound checks wait for the candidate's backoff and quiet periods:
	// they start first, so that no long one is left at the end.
	mode := map[string]conformance.Mode{}
	for _, c := range conformance.Checks() {
		mode[c.ID] = c.Mode
	}
	order := make([]int, len(brokenNodes))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return mode[brokenNodes[order[a]].check] == conformance.ModeOutbound && mode[brokenNodes[order[b]].check] != conformance.ModeOutbound
	})
	for _, i := range order {
		b := brokenNodes[i]
		if !teethSelected(b.Name) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = runBroken(broken, b, mode[b.check] == conformance.ModeManifest)
		}()
	}
	wg.Wait()
	brokenTook := time.Since(bstart)
	t.Run("variant binary is caught by the release check", func(t *testing.T) {
		sc := <-scanDone
		if sc.err != nil || len(sc.found) < len(brokenNodes) {
			t.Errorf("Scan of the variant build found %d leftovers (%v), want at least one per variant", len(sc.found), sc.err)
		}
	})
	t.Run("good", func(t *testing.T) {
		g, g2, gi := <-goodDone, <-goodOutbound2Done, <-goodInboundDone
		if g.err != nil || g2.err != nil || gi.err != nil {
			t.Fatalf("the good node: %v", errors.Join(g.err, g2.err, gi.err))
		}
		rep := g.rep
		for _, other := range []*conformance.Report{g2.rep, gi.rep} {
			rep.Results = append(rep.Results, other.Results...)
			if other.Verdict != "pass" {
				rep.Verdict = other.Verdict
			}
		}
		var tbl strings.Builder
		_ = rep.WriteTable(&tbl)
		t.Logf("suite against the good node (outbound checks %s and %s on two candidates, the others %s at the same time on a third):\n%s",
			g.d.Round(time.Second), g2.d.Round(time.Second), gi.d.Round(time.Second), tbl.String())
		logSlowest(t, rep, 12)
		for _, r := range rep.Results {
			switch r.Status {
			case conformance.StatusPass, conformance.StatusNotChecked:
			case conformance.StatusSkip:
				if r.Mode != conformance.ModeSlow && r.Mode != conformance.ModeManifest && !slices.Contains(acceptsChecks, r.Check) &&
					!slices.Contains(coordinatorChecks, r.Check) && !slices.Contains(pullOnlyChecks, r.Check) {
					t.Errorf("%s skipped: %s", r.Check, r.Reason)
				}
			default:
				t.Errorf("%s: %s: %s", r.Check, r.Status, r.Reason)
			}
		}
		if rep.Verdict != "pass" {
			t.Errorf("verdict %s against the good node", rep.Verdict)
		}
		for _, b := range brokenNodes {
			if b.accepts == "" && b.role == "" && mode[b.check] != conformance.ModeManifest && !hasResult(rep, b.check, conformance.StatusPass) {
				t.Errorf("check %s did not pass on the good node", b.check)
			}
		}
	})
	t.Run("good, leaving kinds out", func(t *testing.T) {
		g := <-acceptsDone
		if g.err != nil {
			t.Fatalf("the good node accepting %s: %v", teethAccepts, g.err)
		}
		t.Logf("checks against the good node accepting %s only (%s)", teethAccepts, g.d.Round(time.Second))
		for _, r := range g.rep.Results {
			if r.Status != conformance.StatusPass {
				t.Errorf("%s: %s: %s", r.Check, r.Status, r.Reason)
			}
		}
		for _, b := range brokenNodes {
			if b.accepts != "" && !hasResult(g.rep, b.check, conformance.StatusPass) {
				t.Errorf("check %s did not pass on the good node accepting %s", b.check, b.accepts)
			}
		}
	})
	for _, role := range []string{"coordinator", rolePullOnly} {
		t.Run("good "+role, func(t *testing.T) {
			g := <-roleDone[role]
			if g.err != nil {
				t.Fatalf("the good node as %s: %v", role, g.err)
			}
			t.Logf("checks against the good node as %s (%s)", role, g.d.Round(time.Second))
			for _, r := range g.rep.Results {
				if r.Status != conformance.StatusPass {
					t.Errorf("%s: %s: %s", r.Check, r.Status, r.Reason)
				}
			}
			for _, b := range brokenNodes {
				if b.role == role && !hasResult(g.rep, b.check, conformance.StatusPass) {
					t.Errorf("check %s did not pass on the good node as %s", b.check, b.role)
				}
			}
		})
	}
	t.Run("good, manifest mode", func(t *testing.T) {
		g := <-manifestDone
		if g.err != nil {
			t.Fatalf("the good node in manifest mode: %v", g.err)
		}
		var tbl strings.Builder
		_ = g.rep.WriteTable(&tbl)
		t.Logf("manifest checks against the good node (%s):\n%s", g.d.Round(time.Second), tbl.String())
		for _, r := range g.rep.Results {
			if r.Status != conformance.StatusPass {
				t.Errorf("%s: %s: %s", r.Check, r.Status, r.Reason)
			}
		}
		for _, b := range brokenNodes {
			if mode[b.check] == conformance.ModeManifest && !hasResult(g.rep, b.check, conformance.StatusPass) {
				t.Errorf("check %s did not pass on the good node in manifest mode", b.check)
			}
		}
	})
	n := 0
	t.Run("broken", func(t *testing.T) {
		for i, b := range brokenNodes {
			t.Run(b.Name, func(t *testing.T) {
				if !teethSelected(b.Name) {
					t.Skip("not in FLX_TEETH_ONLY")
				}
				r := results[i]
				switch {
				case r.err != nil:
					t.Fatalf("%v\n%s", r.err, r.log)
				case r.result == nil:
					t.Fatalf("check %s did not run", b.check)
				}
				want := conformance.StatusFail
				if r.result.Level == "SHOULD" {
					want = conformance.StatusWarn // a SHOULD not met warns (SPEC.md §13.3)
				}
				if r.result.Status != want {
					t.Fatalf("node that %s: %s is %s, want %s (%s)\n%s", b.broke, b.check, r.result.Status, want, r.result.Reason, r.log)
				}
				t.Logf("node that %s: %s is %s in %s: %s", b.broke, b.check, r.result.Status, r.duration.Round(100*time.Millisecond), r.result.Reason)
				n++
			})
		}
	})
	t.Logf("broken variants caught: %d of %d in %s (%d at a time); whole teeth test %s",
		n, len(brokenNodes), brokenTook.Round(time.Second), teethParallel(), time.Since(start).Round(time.Second))
}

// checksOfMode returns the ids of the outbound checks (outbound true) or
// of the others but the manifest checks, which run on a candidate of
// their own.
func checksOfMode(outbound bool) []string {
	var out []string
	for _, c := range conformance.Checks() {
		if c.Mode != conformance.ModeManifest && (c.Mode == conformance.ModeOutbound) == outbound {
			out = append(out, c.ID)
		}
	}
	return out
}

// everyOther returns ids[from], ids[from+2], ...: one of two halves.
func everyOther(ids []string, from int) []string {
	var out []string
	for i := from; i < len(ids); i += 2 {
		out = append(out, ids[i])
	}
	return out
}

// logSlowest logs the n checks of rep that took longest: where the teeth
// test's time goes.
func logSlowest(t *testing.T, rep *conformance.Report, n int) {
	rs := slices.Clone(rep.Results)
	sort.Slice(rs, func(i, j int) bool { return rs[i].DurationMS > rs[j].DurationMS })
	var b strings.Builder
	for _, r := range rs[:min(n, len(rs))] {
		fmt.Fprintf(&b, "\n  %6.1f s  %s", float64(r.DurationMS)/1000, r.Check)
	}
	t.Logf("slowest checks against the good node:%s", b.String())
}

// runBroken starts a candidate as variant b and runs b's check on it.
func runBroken(bin string, b brokenNode, manifest bool) caught {
	start := time.Now()
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	c, err := startCandidate(bin, b.Name, b.accepts, b.role, func(f func()) { cleanups = append(cleanups, f) })
	if err != nil {
		return caught{err: err}
	}
	rep, err := c.run([]string{b.check}, brokenPatience, manifest)
	out := caught{err: err, duration: time.Since(start)}
	if rep != nil {
		for i := range rep.Results {
			if rep.Results[i].Check == b.check {
				out.result = &rep.Results[i]
			}
		}
	}
	if out.result == nil || out.result.Status == conformance.StatusPass {
		out.log = tail(c.log.String(), 4<<10)
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// releaseSymbols and releaseStrings betray test-only code in a binary,
// beyond conformance/variant's own marker and environment variable: the
// build-tag breakages and fault hooks the node once had.
var (
	releaseSymbols = []*regexp.Regexp{
		regexp.MustCompile(`^github\.com/familylinks/flx/.*([bB]roken|Faults?\b)`),
	}
	releaseStrings = []string{"FLX_FAULT"}
)

// checkRelease requires the release binary to hold no test-only code.
func checkRelease(t *testing.T, bin string) {
	t.Helper()
	found, err := variant.Scan(t.Context(), bin, releaseSymbols, releaseStrings)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("the release binary holds %s", f)
	}
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

// syncBuffer is a bytes.Buffer that a running process writes while the test
// may read it (a candidate's log).
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
