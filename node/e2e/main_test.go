package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/familylinks/flx/node/internal/dbtest"
)

// flxBin is the flx binary the crash tests run, built once by TestMain
// (not under -short, where the crash tests are skipped).
var (
	flxBin      string
	flxBuildErr error
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
		flxBin = filepath.Join(dir, "flx")
		out, err := exec.Command("go", "build", "-o", flxBin, "github.com/familylinks/flx/node/cmd/flx").CombinedOutput()
		if err != nil {
			flxBuildErr = fmt.Errorf("go build ./node/cmd/flx: %v\n%s", err, out)
		}
	}
	code := dbtest.Main(m)
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}
