package fedadmin

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestImports enforces the package comment: of this module only the
// federation packages, policy and node/config; never the store, HTTP,
// delivery or conformance.
func TestImports(t *testing.T) {
	const module = "github.com/familylinks/flx"
	allowed := []string{
		module + "/federation", module + "/federation/jose", module + "/federation/devca",
		module + "/policy", module + "/node/config",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if name == "doc.go" && (f.Doc == nil || !strings.HasPrefix(f.Doc.Text(), "Package fedadmin ") || !strings.Contains(f.Doc.Text(), "must never import")) {
			t.Error("doc.go: the package comment must start with \"Package fedadmin \" and say what it must never import")
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if (p == module || strings.HasPrefix(p, module+"/")) && !slices.Contains(allowed, p) {
				t.Errorf("%s imports %s", name, p)
			}
		}
	}
}
