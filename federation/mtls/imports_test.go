package mtls_test

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

// TestImports enforces the package comment: no import of the root federation
// package, schema, policy, node or conformance; of this module, only what is
// listed here.
func TestImports(t *testing.T) {
	const module = "github.com/familylinks/flx"
	var allowed []string // the standard library only
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
		if name == "doc.go" && (f.Doc == nil || !strings.Contains(f.Doc.Text(), "must never import")) {
			t.Error("doc.go: package comment does not say what the package must never import")
		}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			ours := path == module || strings.HasPrefix(path, module+"/")
			if ours && !slices.Contains(allowed, path) {
				t.Errorf("%s imports %s", name, path)
			}
			if !ours && strings.Contains(strings.SplitN(path, "/", 2)[0], ".") {
				t.Errorf("%s imports the outside module %s", name, path)
			}
		}
	}
}
