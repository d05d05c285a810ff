package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/familylinks/flx"

// pkg is one Go package of the module as read from its non-test files.
type pkg struct {
	dir     string // slash path relative to the module root, e.g. "federation/jose"
	name    string
	doc     string          // package comment, joined over files
	imports map[string]bool // import paths of non-test files
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

func loadPackages(t *testing.T) map[string]*pkg {
	t.Helper()
	root := moduleRoot(t)
	pkgs := map[string]*pkg{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			base := d.Name()
			if path != root && (strings.HasPrefix(base, ".") || base == "testdata" || base == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		p := pkgs[rel]
		if p == nil {
			p = &pkg{dir: rel, name: f.Name.Name, imports: map[string]bool{}}
			pkgs[rel] = p
		}
		if f.Doc != nil {
			p.doc += f.Doc.Text()
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			p.imports[ip] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) == 0 {
		t.Fatal("no packages found")
	}
	return pkgs
}

func top(dir string) string { return strings.SplitN(dir, "/", 2)[0] }

// TestDependencyDirection enforces DESIGN.md: node -> {policy, federation,
// schema}; policy -> schema; conformance -> {federation, schema}; schema and
// federation import no other top-level FLX package.
func TestDependencyDirection(t *testing.T) {
	allowed := map[string]map[string]bool{
		"schema":      {"schema": true},
		"federation":  {"federation": true},
		"policy":      {"policy": true, "schema": true},
		"conformance": {"conformance": true, "federation": true, "schema": true},
		"node":        {"node": true, "policy": true, "federation": true, "schema": true},
		"deploy":      {"deploy": true, "node": true, "federation": true},
	}
	for _, p := range loadPackages(t) {
		from := top(p.dir)
		ok, known := allowed[from]
		if !known {
			t.Errorf("package %s is outside the fixed top-level layout (schema federation policy conformance deploy node)", p.dir)
			continue
		}
		for ip := range p.imports {
			if !strings.HasPrefix(ip, module+"/") {
				continue
			}
			to := top(strings.TrimPrefix(ip, module+"/"))
			if !ok[to] {
				t.Errorf("%s imports %s: %s must never import %s", p.dir, ip, from, to)
			}
			if strings.Contains(ip, "/internal/archtest") {
				t.Errorf("%s imports the architecture test package", p.dir)
			}
		}
	}
}

// TestSingleImporter keeps each wrapped outside dependency behind one package,
// so replacing it (jwx v2 is unmaintained upstream; mux is frozen) touches one place.
func TestSingleImporter(t *testing.T) {
	rules := []struct {
		prefix  string
		allowed func(dir string) bool
	}{
		{"github.com/lestrrat-go/jwx", func(d string) bool { return d == "federation/jose" }},
		{"github.com/gorilla/mux", func(d string) bool { return strings.HasPrefix(d, "node/") }},
		{"github.com/google/cel-go", func(d string) bool { return d == "policy" || strings.HasPrefix(d, "policy/") }},
		{"github.com/santhosh-tekuri/jsonschema", func(d string) bool { return d == "schema" }},
		{"modernc.org/sqlite", func(d string) bool { return strings.HasPrefix(d, "node/store") }},
		{"github.com/lib/pq", func(d string) bool { return strings.HasPrefix(d, "node/store") || d == "node/internal/dbtest" }},
	}
	for _, p := range loadPackages(t) {
		for ip := range p.imports {
			for _, r := range rules {
				if strings.HasPrefix(ip, r.prefix) && !r.allowed(p.dir) {
					t.Errorf("%s imports %s, which only its wrapping package may import", p.dir, ip)
				}
			}
		}
	}
}

// TestPackageDocs requires a doc.go with a package comment in every package
// that says what the package must never import.
func TestPackageDocs(t *testing.T) {
	root := moduleRoot(t)
	pkgs := loadPackages(t)
	dirs := make([]string, 0, len(pkgs))
	for d := range pkgs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		p := pkgs[d]
		if p.name == "main" {
			if strings.TrimSpace(p.doc) == "" {
				t.Errorf("command %s has no doc comment", d)
			}
			continue
		}
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(d), "doc.go")); err != nil {
			t.Errorf("package %s has no doc.go", d)
		}
		if !strings.HasPrefix(strings.TrimSpace(p.doc), "Package "+p.name+" ") {
			t.Errorf("package %s: package comment must start with %q", d, "Package "+p.name)
		}
		if !strings.Contains(p.doc, "must never import") && !strings.Contains(p.doc, "must not import") {
			t.Errorf("package %s: package comment must say what it must never import", d)
		}
	}
}
