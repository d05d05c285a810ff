package mediaclean_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports holds the package comment's promise: the cleaner and its
// fixtures import the standard library only (cleantest's tests aside), no
// network, database or logging.
func TestImports(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	more, _ := filepath.Glob("cleantest/*.go")
	files = append(files, more...)
	fset := token.NewFileSet()
	for _, p := range files {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(ip, "/")
			if strings.Contains(first, ".") || strings.HasPrefix(ip, "net") || ip == "log" || strings.HasPrefix(ip, "log/") ||
				strings.HasPrefix(ip, "database") || ip == "os" || ip == "os/exec" {
				t.Errorf("%s imports %s", p, ip)
			}
		}
	}
}
