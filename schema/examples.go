package schema

import (
	"embed"
	"io/fs"
	"path"
	"slices"
	"strings"
)

//go:embed examples/*.json
var examplesFS embed.FS

// Example is one example document shipped with the schema.
type Example struct {
	// Name is the file name without ".json", e.g. "case.tracing_request"
	// or "response.declined_contact". It starts with the kind.
	Name string
	Kind Kind
	Doc  []byte
}

// Examples returns every example document, sorted by name: at least one
// case per case type, one response per main outcome, one message per
// message kind and withdrawals. They are valid, realistic and rich (names in
// several scripts with transliterations, addresses, contacts, photos,
// sensitive data, consents, legal bases) so that policy has something to
// redact. Each call returns fresh copies of the documents.
func Examples() []Example {
	entries, err := fs.ReadDir(examplesFS, "examples")
	if err != nil { // cannot happen: the directory is embedded
		panic(err)
	}
	out := make([]Example, 0, len(entries))
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		doc, err := fs.ReadFile(examplesFS, path.Join("examples", e.Name()))
		if err != nil {
			panic(err)
		}
		k, _, _ := strings.Cut(name, ".")
		out = append(out, Example{Name: name, Kind: Kind(k), Doc: doc})
	}
	slices.SortFunc(out, func(a, b Example) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ExampleNamed returns the example with the given name, e.g.
// "case.unaccompanied_minor_registration".
func ExampleNamed(name string) (Example, bool) {
	if strings.ContainsAny(name, "/\\") {
		return Example{}, false
	}
	doc, err := fs.ReadFile(examplesFS, path.Join("examples", name+".json"))
	if err != nil {
		return Example{}, false
	}
	k, _, _ := strings.Cut(name, ".")
	return Example{Name: name, Kind: Kind(k), Doc: doc}, true
}
