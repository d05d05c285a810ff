package image

import (
	"debug/elf"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/familylinks/flx/deploy/internal/runtest"
)

// TestReleaseBinaryCarriesNoTestCode builds flx as the image does and holds
// that no test-only code is in it: the package "testing" and the project's
// test helpers are not among its dependencies, and the seams that tests use
// to break a node on purpose (policy.WithoutBuiltin) are not linked.
func TestReleaseBinaryCarriesNoTestCode(t *testing.T) {
	root := runtest.ModuleRoot(t)
	args := append(append([]string{"list", "-deps"}, runtest.ReleaseFlags...), "./node/cmd/flx")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps gave %d packages: not the dependency list", len(deps))
	}
	for _, d := range deps {
		switch {
		case d == "testing", strings.HasPrefix(d, "testing/"):
			t.Errorf("the release binary depends on %s", d)
		case strings.HasSuffix(d, "test") && strings.Contains(d, "/internal/") && strings.HasPrefix(d, "github.com/familylinks/flx/"):
			t.Errorf("the release binary depends on the test helper %s", d)
		}
	}

	bin := runtest.BuildFlx(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatalf("symbols of flx: %v", err)
	}
	seen := 0
	for _, s := range syms {
		if strings.Contains(s.Name, "familylinks/flx/policy.") {
			seen++
		}
		if strings.Contains(s.Name, "policy.WithoutBuiltin") {
			t.Errorf("the release binary links the rule-mutation seam %s", s.Name)
		}
	}
	if seen == 0 {
		t.Fatal("no symbol of package policy in flx: the symbol table is not what this test reads")
	}
}
