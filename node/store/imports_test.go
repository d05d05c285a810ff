package store_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportBoundaries enforces the package docs: the store packages (tests
// included) keep bytes and import no FLX package except their own and the
// test helper, never federation, policy, schema, conformance or the node's
// HTTP packages.
func TestImportBoundaries(t *testing.T) {
	const mod = "github.com/familylinks/flx/"
	allowed := []string{mod + "node/store", mod + "node/internal/dbtest"}
	for _, dir := range []string{".", "migrate", "../internal/dbtest"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, file := range files {
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !strings.HasPrefix(path, mod) {
					continue
				}
				ok := false
				for _, a := range allowed {
					if path == a || strings.HasPrefix(path, a+"/") {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s imports %s", file, path)
				}
			}
		}
		doc, err := os.ReadFile(filepath.Join(dir, "doc.go"))
		if err != nil || !strings.Contains(string(doc), "must never import") {
			t.Errorf("%s/doc.go must say what the package must never import", dir)
		}
	}
}
