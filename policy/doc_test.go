package policy

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

// policy may import schema and no other FLX package.
func TestImportsOnlySchema(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/familylinks/flx/") && p != "github.com/familylinks/flx/schema" {
				t.Errorf("%s imports %s: policy must never import node, federation or conformance", f, p)
			}
		}
	}
	doc, _ := os.ReadFile("doc.go")
	if !strings.Contains(string(doc), "must never import") {
		t.Error("doc.go must say what the package must never import")
	}
}

// RULES.md documents every built-in rule with its effect.
func TestRulesDocumented(t *testing.T) {
	md, err := os.ReadFile("RULES.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range BuiltinRules() {
		row := "| `" + r.ID + "` |"
		i := strings.Index(string(md), row)
		if i < 0 {
			t.Errorf("RULES.md has no table row for %s", r.ID)
			continue
		}
		line := string(md[i:])
		line = line[:strings.IndexByte(line, '\n')]
		if !strings.Contains(line, r.Effect) {
			t.Errorf("RULES.md row for %s does not give its effect %s", r.ID, r.Effect)
		}
	}
}

// The policy's vocabulary matches schema v1's enumerations.
func TestVocabularyMatchesSchema(t *testing.T) {
	for name, c := range map[string]struct{ got, want []string }{
		"sensitive categories": {sensitiveCats, propsOf(t, "sensitive")},
		"vulnerabilities":      {vulnerabilityTags, enumOf(t, "vulnerability")},
		"person fields":        {personFields, propsOf(t, "person")},
	} {
		got, want := append([]string(nil), c.got...), c.want
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: policy has %v, schema has %v", name, got, want)
		}
	}
}
