package schema

import (
	"errors"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func TestKinds(t *testing.T) {
	want := []Kind{"case", "response", "message", "withdrawal"}
	if got := Kinds(); !slices.Equal(got, want) {
		t.Errorf("Kinds() = %v, want %v", got, want)
	}
	for _, k := range want {
		if !k.Valid() {
			t.Errorf("%q.Valid() = false", k)
		}
		if got := k.SchemaID(); got != "https://schema.flx.invalid/v1/"+string(k)+".json" {
			t.Errorf("SchemaID = %q", got)
		}
		if got := k.SchemaTag(); got != "flx/v1/"+string(k) {
			t.Errorf("SchemaTag = %q", got)
		}
	}
	for _, k := range []Kind{"", "Case", "defs", "case.create"} {
		if k.Valid() {
			t.Errorf("%q.Valid() = true", k)
		}
	}
}

func TestKindForEnvelope(t *testing.T) {
	tests := []struct {
		env  string
		want Kind
		ok   bool
	}{
		{"case.create", KindCase, true},
		{"case.update", KindCase, true},
		{"case.response", KindResponse, true},
		{"message.deliver", KindMessage, true},
		{"case.withdraw", KindWithdrawal, true},
		{"case.delete", "", false},
		{"Case.Create", "", false},
		{"case", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		got, ok := KindForEnvelope(tc.env)
		if got != tc.want || ok != tc.ok {
			t.Errorf("KindForEnvelope(%q) = %q, %v; want %q, %v", tc.env, got, ok, tc.want, tc.ok)
		}
	}
}

// TestSchemaFiles checks the identity of each file and the rules every
// object must follow: closed (additionalProperties false) and strings never
// empty unless constrained otherwise.
func TestSchemaFiles(t *testing.T) {
	names, err := fs.Glob(Files(), "*.json")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"case.json", "defs.json", "match_answer.json", "match_query.json", "message.json", "response.json", "stats_report.json", "withdrawal.json"}
	if !slices.Equal(names, want) {
		t.Fatalf("schema files = %v, want %v", names, want)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			s := schemaFile(t, name)
			if got := s["$id"]; got != BaseURI+name {
				t.Errorf("$id = %v, want %s", got, BaseURI+name)
			}
			if got := s["$schema"]; got != "https://json-schema.org/draft/2020-12/schema" {
				t.Errorf("$schema = %v", got)
			}
			walkSchema(t, "#", s)
		})
	}
}

func walkSchema(t *testing.T, at string, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		_, hasProps := x["properties"]
		inIfThen := strings.Contains(at, "/if") || strings.Contains(at, "/then")
		if (hasProps || x["type"] == "object") && !inIfThen {
			if x["additionalProperties"] != false {
				t.Errorf("%s: object without additionalProperties: false", at)
			}
		}
		if x["type"] == "string" {
			_, pat := x["pattern"]
			_, enum := x["enum"]
			_, format := x["format"]
			if min, _ := x["minLength"].(float64); !pat && !enum && !format && min < 1 {
				t.Errorf("%s: free string without minLength 1", at)
			}
		}
		if ref, ok := x["$ref"].(string); ok && strings.Contains(ref, "://") {
			t.Errorf("%s: absolute $ref %q: use relative references into defs.json", at, ref)
		}
		for k, c := range x {
			walkSchema(t, at+"/"+k, c)
		}
	case []any:
		for i, c := range x {
			walkSchema(t, at+"/"+strconv.Itoa(i), c)
		}
	}
}

// TestCompilerLoadsNothing: references outside the embedded files fail to
// compile instead of being fetched.
func TestCompilerLoadsNothing(t *testing.T) {
	for _, ref := range []string{
		"https://example.invalid/evil.json",
		"http://127.0.0.1:1/evil.json",
		"file:///etc/hostname",
		"other.json", // relative: resolves to BaseURI + other.json, not embedded
	} {
		t.Run(ref, func(t *testing.T) {
			fsys := fstest.MapFS{"v1/x.json": {Data: []byte(`{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"` + BaseURI + `x.json","$ref":"` + ref + `"}`)}}
			c, err := newCompiler(fsys, "v1")
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Compile(BaseURI + "x.json")
			if err == nil {
				t.Fatal("compiled a schema whose $ref points outside the embedded files")
			}
			if !strings.Contains(err.Error(), "refusing to load") {
				t.Errorf("error %v does not come from the refusing loader", err)
			}
		})
	}
	// The real files compile.
	if _, err := compiled(); err != nil {
		t.Fatal(err)
	}
}

// TestFormatAssertionsOn: format is asserted, not just annotated.
func TestFormatAssertionsOn(t *testing.T) {
	base := `{"schema":"flx/v1/withdrawal","case_id":"XA-RC:1","reason":"case_closed","withdrawn_at":`
	for _, tc := range []struct {
		when string
		ok   bool
	}{
		{`"2024-07-01T08:00:00Z"`, true},
		{`"2024-07-01t08:00:00.123+02:00"`, true},
		{`"2024-07-01"`, false},
		{`"2024-07-01T25:00:00Z"`, false},
		{`"2024-02-30T08:00:00Z"`, false},
		{`"2024-07-01T08:00:00"`, false}, // no offset
	} {
		err := Validate(KindWithdrawal, []byte(base+tc.when+`}`))
		if (err == nil) != tc.ok {
			t.Errorf("withdrawn_at %s: err = %v, want ok=%v", tc.when, err, tc.ok)
		}
	}
}

// TestPackageIsALeaf: the package comment states the import rule, and the
// package (with its dependencies) imports no other FLX package and no
// network code.
func TestPackageIsALeaf(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "must never import") {
		t.Error(`doc.go: package comment must say what the package "must never import"`)
	}
	forbidden := func(path string) bool {
		return strings.HasPrefix(path, "github.com/familylinks/flx/") ||
			path == "net" || path == "net/http" || strings.HasPrefix(path, "net/http/") ||
			path == "os/exec" || strings.Contains(path, "lestrrat-go/jwx")
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if forbidden(p) || (strings.Contains(p, ".") && !strings.HasPrefix(p, "github.com/santhosh-tekuri/jsonschema/v6")) {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
	// Transitive dependencies, if the go command is at hand.
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found; transitive imports not checked")
	}
	out, err := exec.Command(goCmd, "list", "-deps", ".").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v: %s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != "github.com/familylinks/flx/schema" && forbidden(dep) {
			t.Errorf("package schema depends on %s", dep)
		}
	}
}
