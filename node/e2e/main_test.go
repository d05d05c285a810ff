package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/familylinks/flx/conformance/variant"
	"github.com/familylinks/flx/node/internal/dbtest"
)

// flxBin is the flx binary the crash tests run, and flxFaultBin the same
// with the crash faults of crash_test.go (faults), selected per process
// with the environment variable variant.Env. TestMain starts building both
// (not under -short, where the crash tests are skipped), with go build's
// default flags, while the tests that need no binary run; flxBuilt is
// closed when the builds are done. flxBin is the one variant.Shared shares
// with the deploy tests' processes, flxFaultBin is built after it, so that
// it takes every package the faults leave alone from the build cache.
var (
	flxBin, flxFaultBin string
	flxBuildErr         error
	flxBuilt            = make(chan struct{})
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir := ""
	if !testing.Short() {
		var err error
		if dir, err = os.MkdirTemp("", "flx-e2e-bin-"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			os.Exit(2)
		}
		flxFaultBin = filepath.Join(dir, "flx-faults")
		root := filepath.Join("..", "..")
		go func() {
			defer close(flxBuilt)
			flxBin, flxBuildErr = variant.Shared(context.Background(), root, "./node/cmd/flx")
			if flxBuildErr == nil {
				flxBuildErr = variant.Build(context.Background(), root, "./node/cmd/flx", flxFaultBin, faults)
			}
		}()
	} else {
		close(flxBuilt)
	}
	code := dbtest.Main(m)
	<-flxBuilt // the build writes into dir
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
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
