package federation

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportBoundaries enforces the package docs: federation (tests
// included) never imports schema, policy, node or conformance, nor jwx;
// federation/jose imports no FLX package.
func TestImportBoundaries(t *testing.T) {
	const mod = "github.com/familylinks/flx/"
	check := func(dir string, forbidden func(string) bool) {
		t.Helper()
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, file := range files {
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if forbidden(path) {
					t.Errorf("%s imports %s", file, path)
				}
			}
		}
		doc, err := os.ReadFile(filepath.Join(dir, "doc.go"))
		if err != nil || !strings.Contains(string(doc), "must never import") {
			t.Errorf("%s/doc.go must say what the package must never import", dir)
		}
	}
	check(".", func(p string) bool {
		for _, bad := range []string{"schema", "policy", "node", "conformance"} {
			if p == mod+bad || strings.HasPrefix(p, mod+bad+"/") {
				return true
			}
		}
		return strings.HasPrefix(p, "github.com/lestrrat-go/")
	})
	check("jose", func(p string) bool { return strings.HasPrefix(p, mod) || p == strings.TrimSuffix(mod, "/") })
}
