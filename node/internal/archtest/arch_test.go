package archtest

import (
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/familylinks/flx"

// moduleRoot is the module root seen from this package's directory.
const moduleRoot = "../../.."

// file is one Go file of a tree.
type file struct {
	path    string // slash path relative to the tree's root, e.g. "federation/jose/jws.go"
	test    bool   // a _test.go file
	imports []string
}

// pkg is one directory of Go files.
type pkg struct {
	dir   string // slash path relative to the tree's root, e.g. "federation/jose"
	name  string // package name of the non-test files; "" when there are only tests
	doc   string // package comment of doc.go; "" when there is none
	docGo bool   // there is a doc.go
	// comment is the package comment joined over the non-test files: where a
	// command without doc.go keeps it.
	comment string
	files   []file
}

// load reads every Go file below root (tests included) as text, skipping
// testdata, vendor and dot directories, and groups them by directory.
func load(root string) (map[string]*pkg, error) {
	pkgs := map[string]*pkg{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			base := d.Name()
			if p != root && (strings.HasPrefix(base, ".") || base == "testdata" || base == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		dir := path.Dir(rel)
		pk := pkgs[dir]
		if pk == nil {
			pk = &pkg{dir: dir}
			pkgs[dir] = pk
		}
		fl := file{path: rel, test: strings.HasSuffix(rel, "_test.go")}
		for _, imp := range f.Imports {
			ip, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			fl.imports = append(fl.imports, ip)
		}
		pk.files = append(pk.files, fl)
		if fl.test {
			return nil
		}
		pk.name = f.Name.Name
		if f.Doc != nil {
			pk.comment += f.Doc.Text()
		}
		if path.Base(rel) == "doc.go" {
			pk.docGo = true
			if f.Doc != nil {
				pk.doc = f.Doc.Text()
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no Go files below %s", root)
	}
	return pkgs, nil
}

// loadModule loads the module this package belongs to.
func loadModule(t *testing.T) map[string]*pkg {
	t.Helper()
	gomod, err := os.ReadFile(filepath.Join(moduleRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(gomod), "module "+module+"\n") {
		t.Fatalf("%s/go.mod is not module %s", moduleRoot, module)
	}
	pkgs, err := load(moduleRoot)
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// sorted returns the packages in the order of their directories.
func sorted(pkgs map[string]*pkg) []*pkg {
	out := make([]*pkg, 0, len(pkgs))
	for _, p := range pkgs {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].dir < out[j].dir })
	return out
}

func top(dir string) string { return strings.SplitN(dir, "/", 2)[0] }

// ours returns an import path's directory relative to the module root, and
// whether the path is in the module at all.
func ours(ip string) (string, bool) {
	if ip == module {
		return ".", true
	}
	rel, ok := strings.CutPrefix(ip, module+"/")
	return rel, ok
}

// under reports whether dir matches pattern: a directory, or "d/..." for d
// and every directory below it.
func under(dir, pattern string) bool {
	if d, ok := strings.CutSuffix(pattern, "/..."); ok {
		return dir == d || strings.HasPrefix(dir, d+"/")
	}
	return dir == pattern
}

func underAny(dir string, patterns []string) bool {
	for _, p := range patterns {
		if under(dir, p) {
			return true
		}
	}
	return false
}

// allowed is the dependency direction of the README ("Layout"): the
// top-level packages each top-level package may import. It binds test files
// too: a test may import what its package may, so node's tests may use the
// node/internal test support and no other top-level package's tests can.
var allowed = map[string][]string{
	"schema":      {"schema"},
	"federation":  {"federation"},
	"policy":      {"policy", "schema"},
	"conformance": {"conformance", "federation", "schema"},
	"node":        {"node", "policy", "federation", "schema"},
	"deploy":      {"deploy", "node", "federation"},
}

// testSupport are the directories of packages for tests only: production
// code (non-test files outside them) must never import them.
var testSupport = []string{"node/internal/...", "deploy/internal/...", "conformance/variant"}

// sharedTestSupport are test-only packages the tests (and the test support
// packages) of any top-level package may import: conformance/variant builds
// the node's broken and crashing variants from its sources (the teeth and
// the crash tests) and the one release binary the test processes share
// (node/e2e, deploy), and imports no FLX package.
var sharedTestSupport = []string{"conformance/variant"}

// checkDirection enforces the dependency direction between top-level
// packages, for test and non-test files, and keeps test support out of
// production code.
func checkDirection(pkgs map[string]*pkg) []string {
	var bad []string
	for _, p := range sorted(pkgs) {
		from := top(p.dir)
		may, known := allowed[from]
		if !known {
			bad = append(bad, fmt.Sprintf("package %s is outside the fixed top-level layout (schema federation policy conformance deploy node)", p.dir))
			continue
		}
		for _, f := range p.files {
			for _, ip := range f.imports {
				dir, ok := ours(ip)
				if !ok {
					continue
				}
				// The composition root wires the whole binary, the
				// conformance suite's commands included.
				rootWiresSuite := p.dir == compositionRoot && top(dir) == "conformance"
				sharedTest := (f.test || underAny(p.dir, testSupport)) && underAny(dir, sharedTestSupport)
				if to := top(dir); !contains(may, to) && !rootWiresSuite && !sharedTest {
					bad = append(bad, fmt.Sprintf("%s imports %s: %s must never import %s", f.path, ip, from, to))
				}
				if under(dir, "node/internal/archtest") {
					bad = append(bad, fmt.Sprintf("%s imports the architecture test package", f.path))
				}
				if !f.test && underAny(dir, testSupport) && !underAny(p.dir, testSupport) {
					bad = append(bad, fmt.Sprintf("%s imports %s: production code must never import test support", f.path, ip))
				}
			}
		}
	}
	return bad
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// flxOnly allows any outside import and, of the module, the packages
// matching patterns.
func flxOnly(patterns ...string) func(string) bool {
	return func(ip string) bool {
		dir, ok := ours(ip)
		return !ok || underAny(dir, patterns)
	}
}

// stdlibAnd allows the standard library and, of the module, the packages
// matching patterns: no outside module.
func stdlibAnd(patterns ...string) func(string) bool {
	return func(ip string) bool {
		if dir, ok := ours(ip); ok {
			return underAny(dir, patterns)
		}
		return !strings.Contains(strings.SplitN(ip, "/", 2)[0], ".")
	}
}

// allBut allows every import but the ones listed.
func allBut(forbidden ...string) func(string) bool {
	return func(ip string) bool { return !contains(forbidden, ip) }
}

// rules are what single packages' comments promise beyond the direction
// between top-level packages. A package may always import itself (from an
// external test package).
var rules = []struct {
	dirs  []string
	tests bool // the rule binds test files too
	may   func(ip string) bool
	why   string
}{
	{[]string{"deploy/..."}, true, flxOnly("deploy/...", "node/config", "conformance/variant"),
		"deploy packages and runs the flx binary, it does not link it: of FLX it may import deploy/... and node/config only (its test support also conformance/variant, which builds the binary)"},
	{[]string{"node/store/..."}, false, flxOnly("node/store/...", "node/internal/dbtest"),
		"the store keeps bytes: of FLX it may import the store packages and node/internal/dbtest only"},
	{[]string{"node/store/..."}, true, flxOnly("node/store/...", "node/internal/dbtest", "node/cputime"),
		"the store's tests may add node/cputime (its benchmarks report CPU), nothing else of FLX"},
	{[]string{"node/internal/dbtest/..."}, true, flxOnly(),
		"dbtest (and its command dockerpg) hands out connection strings: it must never import an FLX package"},
	{[]string{"node/internal/archtest"}, true, flxOnly(),
		"archtest reads the tree as text: it must never import an FLX package"},
	{[]string{"node", "node/delivery"}, false, allBut("encoding/base64"),
		"federation owns JWS: the node core and delivery read envelopes with federation.ClaimsOf and never split or decode one themselves"},
	{[]string{"node/delivery"}, false, flxOnly("federation", "federation/...", "node/store", "node/backoff"),
		"delivery is the outbound pipeline: of FLX it may import federation, node/store and node/backoff only (never package node, the HTTP layer or policy)"},
	{[]string{"node/fedadmin"}, false, flxOnly("federation", "federation/jose", "federation/devca", "federation/keyfile", "policy", "node/config"),
		"fedadmin works on files: of FLX it may import federation, federation/jose, federation/devca, federation/keyfile, policy and node/config only"},
	{[]string{"node/names", "node/match/..."}, true, flxOnly("schema", "node/names", "node/match/...", "node/internal/racetest", "node/cputime"),
		"names and matching work on case documents: of FLX they may import schema, node/names and node/match/... only (their tests also node/internal/racetest and node/cputime)"},
	{[]string{"node/cputime"}, true, stdlibAnd(),
		"cputime reads the process's CPU time: it depends on the standard library only"},
	{[]string{"node/connlimit"}, false, stdlibAnd(),
		"connlimit bounds a listener's connections: it depends on the standard library only"},
	{[]string{"node/mediaclean"}, false, stdlibAnd(),
		"mediaclean rewrites media containers: it depends on the standard library only"},
	{[]string{"node/internal/racetest"}, true, flxOnly(),
		"racetest reads the build settings: it must never import an FLX package"},
	{[]string{"node/search"}, true, flxOnly("schema", "node/names", "node/search", "node/cputime"),
		"search maps documents to keys: of FLX it may import schema and node/names only (its benchmarks also node/cputime)"},
	{[]string{"node/media"}, true, flxOnly("schema", "federation", "federation/problem", "federation/mtls", "federation/jose", "federation/devca", "node/internal/dbtest"),
		"media is called by the node, never the reverse: of FLX it may import schema, federation (its problem codes, mtls) and node/internal/dbtest (tests) only"},
	{[]string{"federation/jose"}, true, flxOnly("federation/keyfile"),
		"jose must never import other FLX packages but federation/keyfile (its key files)"},
	{[]string{"federation/keyfile"}, true, flxOnly(),
		"keyfile writes and reads key files: it must never import an FLX package"},
	{[]string{"federation/mtls"}, false, stdlibAnd(),
		"mtls depends on the standard library only"},
	{[]string{"conformance/variant"}, true, stdlibAnd(),
		"variant builds test binaries from Go source: it depends on the standard library only"},
	{[]string{"federation/problem"}, true, stdlibAnd(),
		"problem is the code table and the problem document: it depends on the standard library only"},
	{[]string{"federation/devca"}, false, stdlibAnd("federation/mtls", "federation/keyfile"),
		"devca imports federation/mtls, federation/keyfile and the standard library only"},
	{[]string{"federation/pull"}, false, flxOnly("federation", "federation/jose", "federation/mtls"),
		"pull moves signed bytes: of FLX it may import federation, federation/jose and federation/mtls only"},
	{[]string{"federation/bundle"}, false, flxOnly("federation", "federation/jose"),
		"bundle carries signed bytes: of FLX it may import federation and federation/jose only"},
	{[]string{"federation/pull", "federation/bundle"}, true, flxOnly("federation", "federation/jose", "federation/mtls", "federation/devca"),
		"pull and bundle tests may add federation/devca, nothing else of FLX"},
	{[]string{"node/console"}, false, flxOnly("node", "node/store", "node/stats", "node/search", "federation", "federation/problem", "policy", "schema"),
		"the console reaches the node through its operations and read views: of FLX it may import node, node/store, node/stats (statistics computed from documents, no I/O), node/search (the query a search box parses), federation, federation/problem (the one table of error codes), policy and schema only (never node/httpapi, which mounts it, nor jose or the command)"},
	{[]string{"node/stats"}, true, flxOnly("schema"),
		"stats computes from documents handed in: of FLX it may import schema only (never node core, the store, httpapi, policy or federation)"},
}

// checkRules enforces rules.
func checkRules(pkgs map[string]*pkg) []string {
	var bad []string
	for _, p := range sorted(pkgs) {
		for _, r := range rules {
			if !underAny(p.dir, r.dirs) {
				continue
			}
			for _, f := range p.files {
				if f.test && !r.tests {
					continue
				}
				for _, ip := range f.imports {
					if dir, ok := ours(ip); ok && dir == p.dir {
						continue
					}
					if !r.may(ip) {
						bad = append(bad, fmt.Sprintf("%s imports %s: %s", f.path, ip, r.why))
					}
				}
			}
		}
	}
	return bad
}

// singleImporters keeps each wrapped outside dependency behind one package,
// so replacing it (jwx v2 is unmaintained upstream; mux is frozen) touches
// one place. Tests may use the others (the local API's tests validate
// answers with the JSON Schema library), not jwx: its tests would have to be
// rewritten with it.
var singleImporters = []struct {
	prefix string
	dirs   []string
	tests  bool // the rule binds test files too
}{
	{"github.com/lestrrat-go/", []string{"federation/jose"}, true},
	{"filippo.io/edwards25519", []string{"federation/jose"}, true},
	{"github.com/gorilla/mux", []string{"node/..."}, false},
	{"github.com/google/cel-go", []string{"policy/..."}, false},
	{"github.com/santhosh-tekuri/jsonschema", []string{"schema"}, false},
	{"modernc.org/sqlite", []string{"node/store/..."}, false},
	{"github.com/lib/pq", []string{"node/store/...", "node/internal/dbtest"}, false},
	{"github.com/jackc/pgx", []string{"node/store"}, false},
	{"github.com/chromedp/", []string{"node/console"}, true},
}

// checkSingleImporter enforces singleImporters.
func checkSingleImporter(pkgs map[string]*pkg) []string {
	var bad []string
	for _, p := range sorted(pkgs) {
		for _, f := range p.files {
			for _, ip := range f.imports {
				for _, r := range singleImporters {
					if strings.HasPrefix(ip, r.prefix) && (r.tests || !f.test) && !underAny(p.dir, r.dirs) {
						bad = append(bad, fmt.Sprintf("%s imports %s, which only %s may import", f.path, ip, strings.Join(r.dirs, ", ")))
					}
				}
			}
		}
	}
	return bad
}

// readOnlyHTTP: the HTTP layer (the local and federation APIs, and the web
// console they mount) reads through store.View and changes data only through
// the node's operations, so its code never names the store's writing side.
var readOnlyHTTP = struct {
	dirs []string
	re   *regexp.Regexp
}{
	[]string{"node/httpapi", "node/console"},
	regexp.MustCompile(`\bstore\.(Store|Tx|Queries|Open|Cases|Inbox|Outbox|Disclosures|Decisions|Audit|Manifests|Media)\b`),
}

// checkReadOnlyHTTP enforces readOnlyHTTP on the non-test files under root.
func checkReadOnlyHTTP(root string, pkgs map[string]*pkg) []string {
	var bad []string
	for _, p := range sorted(pkgs) {
		if !underAny(p.dir, readOnlyHTTP.dirs) {
			continue
		}
		for _, f := range p.files {
			if f.test {
				continue
			}
			b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.path)))
			if err != nil {
				bad = append(bad, err.Error())
				continue
			}
			for _, m := range readOnlyHTTP.re.FindAllString(string(b), -1) {
				bad = append(bad, fmt.Sprintf("%s names %s: the HTTP layer reads through store.View and changes data only through the node", f.path, m))
			}
		}
	}
	return bad
}

// compositionRoot is the command that wires everything: it may import any
// package, so its comment has nothing to say it never imports.
const compositionRoot = "node/cmd/flx"

// checkDocs requires of every package a doc.go whose package comment
// starts "Package NAME " and says what the package must never import; of a
// command, a comment starting "Command NAME " and, but for the composition
// root, the same doc.go saying what it must never import.
func checkDocs(pkgs map[string]*pkg) []string {
	var bad []string
	for _, p := range sorted(pkgs) {
		switch {
		case p.name == "":
			// Only tests: nothing to document.
		case p.name == "main" && p.dir == compositionRoot:
			if want := "Command " + path.Base(p.dir) + " "; !strings.HasPrefix(p.comment, want) {
				bad = append(bad, fmt.Sprintf("command %s: its comment must start with %q", p.dir, want))
			}
		case !p.docGo:
			bad = append(bad, fmt.Sprintf("package %s has no doc.go", p.dir))
		default:
			want := "Package " + p.name + " "
			if p.name == "main" {
				want = "Command " + path.Base(p.dir) + " "
			}
			if !strings.HasPrefix(p.doc, want) {
				bad = append(bad, fmt.Sprintf("package %s: the comment of doc.go must start with %q", p.dir, want))
			}
			if !strings.Contains(p.doc, "must never import") {
				bad = append(bad, fmt.Sprintf("package %s: the comment of doc.go must say what it must never import", p.dir))
			}
		}
	}
	return bad
}

func report(t *testing.T, bad []string) {
	t.Helper()
	for _, b := range bad {
		t.Error(b)
	}
}

// TestDependencyDirection enforces the README: node -> {policy, federation,
// schema}; policy -> schema; conformance -> {federation, schema}; schema and
// federation import no other top-level FLX package; deploy -> {node,
// federation}, narrowed by rules. Test files included.
func TestDependencyDirection(t *testing.T) {
	report(t, checkDirection(loadModule(t)))
}

// TestHTTPLayerIsReadOnly keeps the HTTP layer on the store's read-only
// view.
func TestHTTPLayerIsReadOnly(t *testing.T) {
	report(t, checkReadOnlyHTTP(moduleRoot, loadModule(t)))
}

// TestPackageRules enforces what single packages' comments promise.
func TestPackageRules(t *testing.T) {
	report(t, checkRules(loadModule(t)))
}

// TestSingleImporter keeps each wrapped outside dependency behind one package.
func TestSingleImporter(t *testing.T) {
	report(t, checkSingleImporter(loadModule(t)))
}

// TestPackageDocs requires a doc.go with a package comment in every package
// that says what the package must never import.
func TestPackageDocs(t *testing.T) {
	report(t, checkDocs(loadModule(t)))
}
