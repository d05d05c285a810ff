package deploy

import (
	"go/parser"
	"go/scanner"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// goTestLine finds the `go test` commands of a text (README's one line or
// .ci/run's lines), with any environment assignment before them.
var goTestLine = regexp.MustCompile(`(?:[A-Z_]+=[^ ;]+ )*go test [^\n&]*[^\n& ]`)

// TestReadmeTestCommand holds the README's test command and the one .ci/run
// runs equal, and their flags together. The command is three go test runs:
// the packages with concurrency, under the race detector, in the
// background while the other two run (`RACED & PLAIN && COMPS && wait $!`:
// on two cores the race run's long builds and the waits of node/e2e's
// tests leave a core free for them); the packages without concurrency of
// their own, without the race detector (its first package starts the one
// build of flx the tree's test processes share); the pure computations of
// packages with concurrency, which skip under -race, without it. Every
// package with tests is in exactly one of the first two; every flx binary
// the tests build, like the runs without -race, uses go build's default
// flags, those of `go run ./node/cmd/flx demo`, so that on a new machine
// the node's dependencies are compiled once for all of them (not at all
// after the demo); no run vets (go vet's analyses of every dependency were
// 150 s of CPU on a new machine): .ci/run runs go vet ./... before them; a
// test a run skips is one .ci/run runs after it.
func TestReadmeTestCommand(t *testing.T) {
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	readme := read("README.md")
	start := strings.Index(readme, "Run the tests")
	if start < 0 {
		t.Fatal(`README.md has no "Run the tests" section`)
	}
	block := readme[start:]
	block = block[:strings.Index(block, "\n```\n")]
	inReadme := goTestLine.FindAllString(block, -1)
	ci := read(".ci/run")
	var inCI []string
	for _, l := range strings.Split(ci, "\n") {
		if strings.HasPrefix(l, "go test ") || strings.HasPrefix(l, "CGO_ENABLED=") {
			inCI = append(inCI, goTestLine.FindString(l))
		}
	}
	if len(inReadme) != 3 || len(inCI) < 3 || !slices.Equal(inReadme, inCI[:3]) {
		t.Fatalf("README's test command %q is not three go test runs, or not what .ci/run runs %q", inReadme, inCI)
	}
	raced, plain, comps := inReadme[0], inReadme[1], inReadme[2]
	// The race run in the background, the other two after each other,
	// then the race run's status: in the README's line and in .ci/run.
	if want := raced + " & " + plain + " && " + comps + " && wait $!"; !strings.Contains(block, want) {
		t.Errorf("README's test command is not `RACED & PLAIN && COMPS && wait $!`: want\n%s", want)
	}
	for _, want := range []string{raced + " &\nraced=$!\n", "\n" + plain + "\n" + comps + "\nwait \"$raced\"\n"} {
		if !strings.Contains(ci, want) {
			t.Errorf(".ci/run does not run the race run in the background and wait for it after the other two: no %q", want)
		}
	}

	// One run under the race detector, switched off in two packages only:
	// modernc's SQLite and the C library it runs on, C translated to Go,
	// whose instrumented code was most of the CPU of every test on SQLite
	// (FLX's code and every other dependency stay under the detector).
	// It compiles without DWARF (-dwarf=false for all packages, repeated
	// in the two packages' own -gcflags, since a package takes only the
	// last pattern it matches): -ldflags=-w drops it at the link anyway,
	// and generating it was a tenth of the compiler's CPU.
	if !strings.HasPrefix(raced, "go test -vet=off -ldflags=-w -race ") {
		t.Errorf("the first go test %q is not under the race detector", raced)
	}
	var flags []string
	for _, m := range gcflags.FindAllStringSubmatch(raced, -1) {
		flags = append(flags, m[1]+m[2])
	}
	if !slices.Equal(flags, noRaceSQLite) {
		t.Errorf("the first go test %q: its -gcflags must be exactly %q, one -gcflags each", raced, noRaceSQLite)
	}
	// The others have go build's default flags, as variant.Build's builds
	// of flx and the demo: with others (the release's, say) they would
	// compile every dependency of the node once more on a new machine.
	for _, c := range []string{plain, comps} {
		if !strings.HasPrefix(c, "go test ") || buildFlag.MatchString(c) {
			t.Errorf("go test %q is not on go build's default flags (no environment, no %s)", c, buildFlag)
		}
	}

	// Every package with tests runs in full (no -run) in exactly one of
	// the race run and the plain run, named by its directory (no ./... pattern, which would
	// put a package in both).
	root := ".."
	withTests := testDirs(t, root)
	named := map[string]int{}
	for _, c := range []string{plain, raced} {
		if runFlag.MatchString(c) {
			t.Errorf("go test %q selects tests (-run): it must run every test of its packages", c)
		}
		for _, p := range packages(c) {
			if strings.Contains(p, "...") {
				t.Errorf("go test %q names a pattern %s: name each package", c, p)
			}
			named[dirOf(p)]++
		}
	}
	// Or in a later go test of .ci/run, in full (no -run), without the
	// race detector: deploy/helm, whose tests compile the Helm and
	// Kubernetes modules (about 100 s of CPU on a new machine, a sixth of
	// the command's compiling) for checks of the chart alone.
	var ciOnly []string
	for _, l := range inCI[3:] {
		if runFlag.MatchString(l) {
			continue
		}
		if strings.Contains(l, "-race") {
			t.Errorf(".ci/run's later go test %q runs under the race detector: a package with concurrency belongs to the README's race run", l)
		}
		for _, p := range packages(l) {
			named[dirOf(p)]++
			ciOnly = append(ciOnly, p)
		}
	}
	for _, p := range ciOnly {
		if !strings.Contains(readme, "`"+dirOf(p)+"`") {
			t.Errorf("%s runs only in .ci/run, and README.md does not say so (name `%s`)", p, dirOf(p))
		}
	}
	for _, d := range withTests {
		if named[d] != 1 {
			t.Errorf("package ./%s has tests and is named %d times by the race run, the plain run and .ci/run's later runs in full (want once)", d, named[d])
		}
	}
	for d := range named {
		if !slices.Contains(withTests, d) {
			t.Errorf("./%s, named by the test command, is not a package with tests", d)
		}
	}

	// The race detector runs on every package with concurrency of its own,
	// and only there: a package whose code and tests start no goroutine,
	// use no channel, take no lock and serve nothing over a listener has
	// nothing the detector could find, and its tests run several times
	// faster without it; above all, deploy/helm's and deploy/compose's
	// tests (they render the chart and load the Compose file, then run the
	// real flx in a subprocess) then do not compile the Helm, Kubernetes
	// and Compose modules for the race detector, about 106 s of CPU on a
	// new machine. racetest is the exception: it tells a test whether the
	// binary has the detector, so it is tested under it.
	for _, p := range append(packages(plain), ciOnly...) {
		if f, m := concurrent(t, filepath.Join(root, dirOf(p))); f != "" {
			t.Errorf("%s runs without the race detector, but %s has concurrency (%q): name it in the go test -race run", p, f, m)
		}
	}
	for _, p := range packages(raced) {
		if f, _ := concurrent(t, filepath.Join(root, dirOf(p))); f == "" && dirOf(p) != "node/internal/racetest" {
			t.Errorf("%s runs under the race detector, but neither its code nor its tests start a goroutine, use a channel, take a lock or listen: name it in the plain go test run, without -race", p)
		}
	}

	// No run vets: go vet ./..., which .ci/run runs before them, does
	// (go test's vet step analyses every dependency of every package
	// again, in each of the two build modes).
	for _, c := range inReadme {
		if !strings.Contains(c, " -vet=off ") {
			t.Errorf("go test %q vets: pass -vet=off (.ci/run runs go vet ./... before the tests)", c)
		}
		// Test binaries linked without DWARF (no test reads it; stack
		// traces and race reports come from the binary's own tables):
		// about a third less link time for each of some fifty binaries.
		if !strings.Contains(c, " -ldflags=-w ") {
			t.Errorf("go test %q links its test binaries with DWARF: pass -ldflags=-w", c)
		}
	}
	if v, tests := strings.Index(ci, "\ngo vet ./...\n"), strings.Index(ci, "\n"+raced); v < 0 || tests < 0 || v > tests {
		t.Errorf(".ci/run does not run go vet ./... before the test command")
	}

	// The first package named starts the one build of flx that the tree's
	// test processes share (runtest.BuildFlx), so that the deploy tests
	// and node/e2e find it built.
	first := packages(plain)
	if len(first) == 0 {
		t.Fatalf("the plain go test %q names no package", plain)
	}
	tests, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(dirOf(first[0])), "*_test.go"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no test files in %s, the first package the plain go test names", first[0])
	}
	builds := false
	for _, f := range tests {
		builds = builds || strings.Contains(read(strings.TrimPrefix(filepath.ToSlash(f), "../")), "runtest.BuildFlx(")
	}
	if !builds {
		t.Errorf("%s, the first package the plain go test names, does not build flx (runtest.BuildFlx)", first[0])
	}

	// A test a run skips (TestTeeth: every broken variant against the
	// conformance suite; TestBuildImage: the release build, ~200 s of CPU
	// from an empty cache) is one a later go test of .ci/run runs (-run).
	for _, c := range inReadme {
		sk := skipFlag.FindStringSubmatch(c)
		if sk == nil {
			continue
		}
		for _, name := range strings.Split(sk[1], "|") {
			name = strings.TrimSuffix(strings.TrimPrefix(name, "^"), "$")
			ran := false
			for _, l := range inCI[3:] {
				if m := runFlag.FindStringSubmatch(l); m != nil && regexp.MustCompile(m[1]).MatchString(name) {
					ran = true
				}
			}
			if !ran {
				t.Errorf("go test %q skips %s, but no later go test of .ci/run runs it (-run)", c, name)
			}
		}
	}
	if !skipFlag.MatchString(raced) || !skipFlag.MatchString(plain) {
		t.Errorf("the race run and the plain run skip nothing: TestBuildImage and TestTeeth belong to .ci/run's later run")
	}

	// A test that skips under the race detector as a pure computation
	// (racetest.SkipComputation) runs in a run without it: one that names
	// its package and runs every test (the first) or matches its name
	// (the third), or no command runs it at all.
	m := runFlag.FindStringSubmatch(comps)
	if m == nil {
		t.Fatalf("the third go test %q has no -run '...' pattern", comps)
	}
	run := regexp.MustCompile(m[1])
	for _, c := range computations(t, root) {
		inPlain := slices.ContainsFunc(packages(plain), func(p string) bool { return dirOf(p) == c.pkg })
		inComps := slices.ContainsFunc(packages(comps), func(p string) bool { return dirOf(p) == c.pkg }) && run.MatchString(c.name)
		if !inPlain && !inComps {
			t.Errorf("%s in ./%s/ skips under -race (racetest.SkipComputation, skipUnderRace) but no go test without -race runs it", c.name, c.pkg)
		}
	}
}

// dirOf returns the slash-separated directory, relative to the module root,
// of a package argument ("./node/match/" -> "node/match", "./deploy").
func dirOf(p string) string {
	d := strings.TrimSuffix(strings.TrimPrefix(p, "./"), "/")
	if d == "." {
		return ""
	}
	return d
}

// testDirs lists the directories under root holding a Go test file,
// relative to root and slash-separated.
func testDirs(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, "_test.go") {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			if rel = filepath.ToSlash(rel); !slices.Contains(out, rel) {
				out = append(out, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// concurrentCall names the calls (after a dot, or package.Name) that give
// a package concurrency: a parallel test, a server or listener (its
// handlers run on goroutines).
var concurrentCall = map[string]bool{
	"Parallel": true, "NewServer": true, "NewTLSServer": true, "NewUnstartedServer": true,
	"net.Listen": true, "tls.Listen": true, "ListenAndServe": true, "ListenAndServeTLS": true, "Serve": true, "ServeTLS": true,
}

// concurrent returns the first Go file of the package in dir (its code or
// its tests) with concurrency the race detector could check, and what was
// found, or "" if none has: a go statement, a channel, the sync packages,
// a parallel test, a server or listener. Comments and strings do not count.
func concurrent(t *testing.T, dir string) (file, found string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		af, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			if p, _ := strconv.Unquote(im.Path.Value); p == "sync" || p == "sync/atomic" || strings.HasPrefix(p, "golang.org/x/sync/") {
				return filepath.ToSlash(f), "import " + p
			}
		}
		var s scanner.Scanner
		s.Init(fset.AddFile(f, -1, len(src)), src, nil, 0)
		prev, qual, last := token.ILLEGAL, "", ""
		for {
			_, tok, lit := s.Scan()
			if tok == token.EOF {
				break
			}
			switch {
			case tok == token.GO || tok == token.CHAN || tok == token.ARROW:
				return filepath.ToSlash(f), tok.String()
			case tok == token.IDENT && prev == token.PERIOD && (concurrentCall[lit] || concurrentCall[qual+"."+lit]):
				return filepath.ToSlash(f), qual + "." + lit
			case tok == token.PERIOD:
				qual = last
			}
			prev, last = tok, lit
		}
	}
	return "", ""
}

// gcflags finds a go test command's -gcflags values; noRaceSQLite are the
// ones the first go test gives.
var gcflags = regexp.MustCompile(`-gcflags[= ](?:'([^']*)'|([^' ]*))`)

var noRaceSQLite = []string{"all=-dwarf=false", "modernc.org/sqlite/lib=-race=false -dwarf=false", "modernc.org/libc=-race=false -dwarf=false"}

// buildFlag finds a go build flag that changes what is compiled.
var buildFlag = regexp.MustCompile(`(^|\s)(-race|-msan|-asan|-cover\S*|-gcflags|-asmflags|-tags|-trimpath|-buildmode|-pgo)\b|[A-Z_]+=`)

// skipFlag finds a go test command's -skip '...' pattern.
var skipFlag = regexp.MustCompile(`-skip '([^']+)'`)

// runFlag finds a go test command's -run '...' pattern.
var runFlag = regexp.MustCompile(`-run '([^']+)'`)

// testFunc finds the test functions of a Go test file.
var testFunc = regexp.MustCompile(`(?m)^func (Test\w+)\(`)

// skipsComputation finds a statement calling racetest.SkipComputation, or
// the skipUnderRace of policy, federation and schema (outside node/, they cannot
// import node/internal/racetest).
var skipsComputation = regexp.MustCompile(`(?m)^\s*(racetest\.SkipComputation|skipUnderRace)\(`)

type computation struct{ pkg, name string }

// computations lists the tests under root that call
// racetest.SkipComputation: each with its package's directory relative to
// root (slash-separated) and its name.
func computations(t *testing.T, root string) []computation {
	t.Helper()
	var out []computation
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		src := string(b)
		locs := testFunc.FindAllStringSubmatchIndex(src, -1)
		for i, l := range locs {
			end := len(src)
			if i+1 < len(locs) {
				end = locs[i+1][0]
			}
			if skipsComputation.MatchString(src[l[0]:end]) {
				rel, _ := filepath.Rel(root, filepath.Dir(p))
				out = append(out, computation{pkg: filepath.ToSlash(rel), name: src[l[2]:l[3]]})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no test calls racetest.SkipComputation: the search is broken")
	}
	return out
}

// packages returns the package arguments ("./...") of a go test command.
func packages(cmd string) []string {
	var ps []string
	for _, f := range strings.Fields(cmd) {
		if strings.HasPrefix(f, "./") {
			ps = append(ps, f)
		}
	}
	return ps
}
