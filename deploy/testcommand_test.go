package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// goTestLine finds the `go test` commands of a text (README's one line or
// .ci/run's lines), with any environment assignment before them.
var goTestLine = regexp.MustCompile(`(?:[A-Z_]+=[^ ;]+ )*go test [^\n&]*[^\n& ]`)

// TestReadmeTestCommand holds the README's test command and the one .ci/run
// runs equal, and their flags together: the second `go test` (the pure
// computations, without the race detector) and every flx binary the tests
// build use go build's default flags, those of `go run ./node/cmd/flx demo`,
// so that on a new machine the node's dependencies are compiled once for
// all of them (not at all after the demo); a test the first skips is one
// .ci/run runs after it.
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
	var inCI []string
	for _, l := range strings.Split(read(".ci/run"), "\n") {
		if strings.HasPrefix(l, "go test ") || strings.HasPrefix(l, "CGO_ENABLED=") {
			inCI = append(inCI, strings.TrimSpace(l))
		}
	}
	if len(inCI) < 2 || !slices.Equal(inReadme, inCI[:2]) {
		t.Fatalf("README's test command %q is not what .ci/run runs %q", inReadme, inCI)
	}
	if !strings.Contains(inReadme[0], "go test -race ") {
		t.Errorf("the first go test %q is not under the race detector", inReadme[0])
	}
	// The race detector is switched off in one package only: modernc's
	// SQLite, C translated to Go, whose instrumented code was most of the
	// CPU of every test on SQLite (FLX's code and every Go-written
	// dependency stay under the detector).
	if got := gcflags.FindAllStringSubmatch(inReadme[0], -1); len(got) != 1 || got[0][1] != noRaceSQLite {
		t.Errorf("the first go test %q: its -gcflags must be exactly -gcflags=%s", inReadme[0], noRaceSQLite)
	}
	// The second has go build's default flags, as variant.Build's builds of
	// flx and the demo: with others (the release's, say) it compiles every
	// dependency of the node once more on a new machine.
	if !strings.HasPrefix(inReadme[1], "go test ") || buildFlag.MatchString(inReadme[1]) {
		t.Errorf("the second go test %q is not on go build's default flags (no environment, no %s)", inReadme[1], buildFlag)
	}
	first, others := packages(inReadme[0]), packages(inReadme[1])
	// The second skips vet only because the first vets every package
	// (./...) with the same checks.
	if strings.Contains(inReadme[1], " -vet=off ") && !slices.Contains(first, "./...") {
		t.Errorf("the second go test %q skips vet, but the first %q does not test (and vet) ./...", inReadme[1], inReadme[0])
	}
	if len(others) == 0 {
		t.Errorf("the second go test %q names no package", inReadme[1])
	}
	// The first package named starts the one build of flx that the tree's
	// test processes share (runtest.BuildFlx), so that it runs alongside
	// the race build from the start instead of after node/e2e's hundreds of
	// dependencies are compiled for the race detector.
	if len(first) == 0 || first[0] == "./..." {
		t.Fatalf("the first go test %q names no package before ./...", inReadme[0])
	}
	tests, err := filepath.Glob(filepath.Join("..", filepath.FromSlash(first[0]), "*_test.go"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no test files in %s, the first package the first go test names", first[0])
	}
	builds := false
	for _, f := range tests {
		builds = builds || strings.Contains(read(strings.TrimPrefix(filepath.ToSlash(f), "../")), "runtest.BuildFlx(")
	}
	if !builds {
		t.Errorf("%s, the first package the first go test names, does not build flx (runtest.BuildFlx)", first[0])
	}
	// A test the first skips (TestTeeth: every broken variant against the
	// conformance suite; TestBuildImage: the release build, ~200 s of CPU
	// from an empty cache) is one a later go test of .ci/run runs (-run).
	sk := skipFlag.FindStringSubmatch(inReadme[0])
	if sk == nil {
		t.Fatalf("the first go test %q has no -skip '...' pattern", inReadme[0])
	}
	for _, name := range strings.Split(sk[1], "|") {
		name = strings.TrimSuffix(strings.TrimPrefix(name, "^"), "$")
		ran := false
		for _, l := range inCI[2:] {
			if m := runFlag.FindStringSubmatch(l); m != nil && regexp.MustCompile(m[1]).MatchString(name) {
				ran = true
			}
		}
		if !ran {
			t.Errorf("the first go test skips %s, but no later go test of .ci/run runs it (-run)", name)
		}
	}
	// A test that skips under the race detector as a pure computation
	// (racetest.SkipComputation) runs only in the second go test: it must
	// be in a package that command names and match its -run pattern, or
	// no command runs it at all.
	m := runFlag.FindStringSubmatch(inReadme[1])
	if m == nil {
		t.Fatalf("the second go test %q has no -run '...' pattern", inReadme[1])
	}
	run := regexp.MustCompile(m[1])
	for _, c := range computations(t, "..") {
		if !slices.Contains(others, "./"+c.pkg+"/") || !run.MatchString(c.name) {
			t.Errorf("%s in ./%s/ skips under -race (racetest.SkipComputation) but the second go test %q does not run it", c.name, c.pkg, inReadme[1])
		}
	}
}

// gcflags finds a go test command's -gcflags values; noRaceSQLite is the
// one the first go test gives.
var gcflags = regexp.MustCompile(`-gcflags[= ]'?([^' ]*)'?`)

const noRaceSQLite = "modernc.org/sqlite/lib=-race=false"

// buildFlag finds a go build flag that changes what is compiled.
var buildFlag = regexp.MustCompile(`(^|\s)(-race|-msan|-asan|-cover\S*|-gcflags|-asmflags|-tags|-trimpath|-buildmode|-pgo)\b|[A-Z_]+=`)

// skipFlag finds a go test command's -skip '...' pattern.
var skipFlag = regexp.MustCompile(`-skip '([^']+)'`)

// runFlag finds a go test command's -run '...' pattern.
var runFlag = regexp.MustCompile(`-run '([^']+)'`)

// testFunc finds the test functions of a Go test file.
var testFunc = regexp.MustCompile(`(?m)^func (Test\w+)\(`)

// skipsComputation finds a statement calling racetest.SkipComputation.
var skipsComputation = regexp.MustCompile(`(?m)^\s*racetest\.SkipComputation\(`)

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
