package conformance

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRegistryNamesFunctions: every check runs a named function
// checkSomething (no anonymous closure), defined in the checks file of its
// area, registered once, and selectable by that name.
func TestRegistryNamesFunctions(t *testing.T) {
	defined := map[string]string{} // function -> file
	files, err := filepath.Glob("checks_*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no checks files: %v", err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && strings.HasPrefix(fd.Name.Name, "check") {
				defined[fd.Name.Name] = f
			}
		}
	}
	nameRE := regexp.MustCompile(`^check[A-Z][A-Za-z0-9]+$`)
	seen := map[string]string{}
	for _, c := range Checks() {
		if !nameRE.MatchString(c.Name) {
			t.Errorf("check %s runs %q: it must be a named function checkSomething", c.ID, c.Name)
			continue
		}
		if other, dup := seen[c.Name]; dup {
			t.Errorf("%s runs for both %s and %s", c.Name, other, c.ID)
		}
		seen[c.Name] = c.ID
		if _, ok := defined[c.Name]; !ok {
			t.Errorf("check %s: %s is not defined in a checks_*.go file", c.ID, c.Name)
		}
		if got := selectedIDs([]string{c.Name}); len(got) != 1 || got[0] != c.ID {
			t.Errorf("--only %s selects %v, want [%s]", c.Name, got, c.ID)
		}
		if c.Level != "MUST" && c.Level != "SHOULD" {
			t.Errorf("check %s: level %q", c.ID, c.Level)
		}
	}
	for name, file := range defined {
		if _, ok := seen[name]; !ok {
			t.Errorf("%s (%s) is in no line of the registry", name, file)
		}
	}
}

func selectedIDs(only []string) []string {
	var out []string
	for _, c := range Checks() {
		if Selected(c, only) {
			out = append(out, c.ID)
		}
	}
	return out
}

func TestSelectedByName(t *testing.T) {
	tests := []struct {
		only []string
		want string
	}{
		{[]string{"checkReplaySameJTIOtherBytes"}, "FLX-DLV-010/replay"},
		{[]string{"checkreplaysamejtiotherbytes"}, "FLX-DLV-010/replay"},
		{[]string{"FLX-DLV-010/replay"}, "FLX-DLV-010/replay"},
		{[]string{"FLX-DLV-010"}, "FLX-DLV-010/replay"},
		{[]string{"FLX-KEY-00"}, "FLX-ENV-013/sent-envelopes FLX-KEY-001/ed25519-and-p256 FLX-KEY-002/published-jwk FLX-KEY-003/embedded-jwk FLX-KEY-004/alg-none FLX-KEY-005/hs256-public-key-as-secret FLX-KEY-006/alg-not-the-keys FLX-KEY-007/kid-of-other-member FLX-KEY-008/unknown-expired-future-key"},
		{[]string{"checkNoSuchThing"}, ""},
		{[]string{" ", ""}, ""},
	}
	for _, tc := range tests {
		if got := strings.Join(selectedIDs(tc.only), " "); got != tc.want {
			t.Errorf("Selected %q = %s, want %s", tc.only, got, tc.want)
		}
	}
}
