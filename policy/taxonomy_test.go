package policy

import (
	"encoding/json"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/familylinks/flx/schema"
)

// documentKinds are every kind of document that leaves a node.
var documentKinds = append(schema.Kinds(), schema.KindStatsReport, schema.KindMatchQuery, schema.KindMatchAnswer)

// jsNode is the part of a JSON Schema node the tests read.
type jsNode struct {
	Ref         string             `json:"$ref"`
	Type        any                `json:"type"`
	Properties  map[string]*jsNode `json:"properties"`
	Required    []string           `json:"required"`
	Items       *jsNode            `json:"items"`
	Enum        []any              `json:"enum"`
	Const       any                `json:"const"`
	Pattern     string             `json:"pattern"`
	Format      string             `json:"format"`
	MinLength   *int               `json:"minLength"`
	MaxLength   *int               `json:"maxLength"`
	Minimum     *float64           `json:"minimum"`
	Maximum     *float64           `json:"maximum"`
	MinItems    *int               `json:"minItems"`
	MaxItems    *int               `json:"maxItems"`
	UniqueItems bool               `json:"uniqueItems"`
	MultipleOf  *float64           `json:"multipleOf"`
	AllOf       []*jsNode          `json:"allOf"`
}

// jsSchemas holds the embedded schema v1 files, $refs resolvable.
type jsSchemas struct {
	defs  map[string]*jsNode
	roots map[string]*jsNode // by document kind
}

func loadSchemas(t testing.TB) *jsSchemas {
	t.Helper()
	s := &jsSchemas{roots: map[string]*jsNode{}}
	b, err := fs.ReadFile(schema.Files(), "defs.json")
	if err != nil {
		t.Fatal(err)
	}
	var defs struct {
		Defs map[string]*jsNode `json:"$defs"`
	}
	if err := json.Unmarshal(b, &defs); err != nil {
		t.Fatal(err)
	}
	s.defs = defs.Defs
	for _, k := range documentKinds {
		b, err := fs.ReadFile(schema.Files(), string(k)+".json")
		if err != nil {
			t.Fatal(err)
		}
		var n jsNode
		if err := json.Unmarshal(b, &n); err != nil {
			t.Fatal(err)
		}
		s.roots[string(k)] = &n
	}
	return s
}

// resolve follows $ref (to defs.json) until a node without one.
func (s *jsSchemas) resolve(n *jsNode) *jsNode {
	for n != nil && n.Ref != "" {
		i := strings.Index(n.Ref, "#/$defs/")
		if i < 0 {
			return nil
		}
		n = s.defs[n.Ref[i+len("#/$defs/"):]]
	}
	return n
}

// schemaLeaf is a field that holds a value (not an object): its pointer
// pattern ("*" for array items) and schema node.
type schemaLeaf struct {
	path string
	node *jsNode
}

// leaves lists every leaf field of a document kind, in path order.
func (s *jsSchemas) leaves(kind string) []schemaLeaf {
	var out []schemaLeaf
	var walk func(n *jsNode, p string)
	walk = func(n *jsNode, p string) {
		n = s.resolve(n)
		switch {
		case n == nil:
			out = append(out, schemaLeaf{path: p})
		case len(n.Properties) > 0:
			for name, c := range n.Properties {
				walk(c, p+"/"+name)
			}
		case n.Items != nil:
			walk(n.Items, p+"/*")
		default:
			out = append(out, schemaLeaf{path: p, node: n})
		}
	}
	walk(s.roots[kind], "")
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// nodeAt returns the schema node at a pointer pattern of a document kind.
func (s *jsSchemas) nodeAt(kind, path string) *jsNode {
	n := s.resolve(s.roots[kind])
	if path == "" {
		return n
	}
	for _, tok := range strings.Split(path[1:], "/") {
		if n == nil {
			return nil
		}
		if tok == "*" || isIndex(tok) {
			n = s.resolve(n.Items)
		} else {
			n = s.resolve(n.Properties[tok])
		}
	}
	return n
}

func isIndex(tok string) bool {
	if tok == "" {
		return false
	}
	for _, c := range tok {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// concrete turns a pattern into a concrete pointer (every "*" -> 0).
func concrete(path string) string { return strings.ReplaceAll(path, "*", "0") }

// TestTaxonomyCoversSchema walks the embedded JSON Schema files: every leaf
// field of every document kind has a class (an entry of the taxonomy
// covers it), and every entry names a field that exists. A field added to
// schema v1 fails here until it is classified in classes.go.
func TestTaxonomyCoversSchema(t *testing.T) {
	s := loadSchemas(t)
	files, err := fs.Glob(schema.Files(), "*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(documentKinds)+1 { // + defs.json
		t.Errorf("schema v1 has the files %v: classify every document kind (documentKinds, taxonomy)", files)
	}
	for _, k := range documentKinds {
		kind := string(k)
		leaves := s.leaves(kind)
		if len(leaves) < 5 {
			t.Fatalf("%s: only %d fields found: the walker is broken", kind, len(leaves))
		}
		for _, l := range leaves {
			p, err := parsePointer(concrete(l.path))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := entryFor(kind, p); !ok {
				t.Errorf("%s field %s has no protected class: classify it in the taxonomy (policy/classes.go) or mark it non_personal", kind, l.path)
			}
		}
		for _, f := range taxonomy {
			if f.Doc != kind {
				continue
			}
			used := false
			for _, l := range leaves {
				if l.path == f.Path || strings.HasPrefix(l.path, f.Path+"/") {
					used = true
				}
			}
			if !used {
				t.Errorf("taxonomy entry %s %s names no field of schema v1", kind, f.Path)
			}
		}
	}
	for _, f := range taxonomy {
		if len(f.Classes) == 0 {
			t.Errorf("%s %s: no class", f.Doc, f.Path)
		}
		if slices.Contains(f.Classes, NonPersonal) && len(f.Classes) > 1 {
			t.Errorf("%s %s: non_personal with other classes", f.Doc, f.Path)
		}
		if (f.Category != "") != (slices.Contains(f.Classes, Sensitive) && f.Path != "/sensitivity") {
			t.Errorf("%s %s: a sensitive field names its category, and only a sensitive field does", f.Doc, f.Path)
		}
		if f.Category != "" && !contains(sensitiveCats, f.Category) {
			t.Errorf("%s %s: unknown category %q", f.Doc, f.Path, f.Category)
		}
	}
	seen := map[string]bool{}
	for _, f := range taxonomy {
		key := f.Doc + " " + f.Path
		if seen[key] {
			t.Errorf("taxonomy lists %s twice", key)
		}
		seen[key] = true
	}
}

// The fields the issue names as locating a person are in the whereabouts
// classes (locating, contact, photo, free text) wherever they occur.
func TestWhereaboutsAreClassified(t *testing.T) {
	for _, c := range []struct{ doc, ptr string }{
		{"case", "/persons/0/address/address_line"},
		{"case", "/persons/0/place_of_birth/locality"},
		{"case", "/persons/0/last_known_location/place/description"},
		{"case", "/persons/0/last_known_location/date"},
		{"case", "/persons/0/contact/phones/0"},
		{"case", "/persons/0/contact/emails/0"},
		{"case", "/persons/0/contact/address/geo/lat"},
		{"case", "/persons/0/photo/uri"},
		{"case", "/persons/0/photo/sha256"},
		{"case", "/separation/place/locality"},
		{"case", "/death/place/description"},
		{"case", "/death/remains_location/description"},
		{"case", "/detention/place/description"},
		{"case", "/notes/0/text"},
		{"case", "/risk/notes"},
		{"case", "/legal_basis/justification"},
		{"case", "/best_interest_assessment/outcome"},
		{"response", "/location/address_line"},
		{"response", "/contact/phones/0"},
		{"response", "/notes/0/text"},
		{"message", "/from/address/locality"},
		{"message", "/to/address/description"},
		{"withdrawal", "/note"},
	} {
		if !hasAnyClass(ClassesOf(c.doc, c.ptr), whereabouts) {
			t.Errorf("%s %s is %v, not a whereabouts class", c.doc, c.ptr, ClassesOf(c.doc, c.ptr))
		}
	}
	for _, c := range []struct{ doc, ptr string }{
		{"case", "/persons/0/names/0/value"}, {"case", "/persons/0/birth_date"}, {"message", "/from/name"},
	} {
		if !slices.Contains(ClassesOf(c.doc, c.ptr), Identifying) {
			t.Errorf("%s %s is %v, not identifying", c.doc, c.ptr, ClassesOf(c.doc, c.ptr))
		}
	}
	if got := ClassesOf("case", "/no_such_field"); !slices.Equal(got, PersonalClasses()) {
		t.Errorf("an unknown field must be every personal class (fail closed), got %v", got)
	}
}

// RULES.md shows the taxonomy as a table: it must match.
func TestTaxonomyDocumented(t *testing.T) {
	md := string(mustReadFile(t, "RULES.md"))
	for _, f := range Taxonomy() {
		row := "| " + f.Doc + " | `" + f.Path + "` | " + classNames(f.Classes) + " |"
		if !strings.Contains(md, row) {
			t.Errorf("RULES.md lacks the taxonomy row %s", row)
		}
	}
}
