package httpapi_test

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/familylinks/flx/schema"
)

//go:embed openapi.json
var handOpenAPI []byte

var updateOpenAPI = flag.Bool("update", false, "rewrite openapi.json's document schemas from schema/v1")

// documentSchemas maps the OpenAPI components that describe the documents
// the local API takes to their JSON Schema in schema/v1.
var documentSchemas = map[string]string{
	"CaseDocument":     "case",
	"ResponseDocument": "response",
	"MessageDocument":  "message",
}

// TestOpenAPIDocumentSchemasGenerated: the document bodies the served
// OpenAPI document describes are the JSON Schemas the node validates
// (schema/v1), generated into openapi_documents.json with their
// definitions as components (flx.defs.NAME, flx.KIND.NAME); the node
// overlays them on openapi.json's components when serving. Run with
// -update after changing schema/v1; the test fails while the committed file
// is stale.
func TestOpenAPIDocumentSchemasGenerated(t *testing.T) {
	const path = "openapi_documents.json"
	raw, _ := os.ReadFile(path)
	var doc map[string]any
	if err := json.Unmarshal(handOpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	hand := doc["components"].(map[string]any)["schemas"].(map[string]any)
	comps := map[string]any{}
	load := func(name string) map[string]any {
		b, err := os.ReadFile(filepath.Join("..", "..", "schema", "v1", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var s map[string]any
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	var rewrite func(v any, kind string) any
	rewrite = func(v any, kind string) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "$ref" {
					switch {
					case strings.HasPrefix(s, "defs.json#/$defs/"):
						x[k] = "#/components/schemas/flx.defs." + strings.TrimPrefix(s, "defs.json#/$defs/")
					case strings.HasPrefix(s, "#/$defs/"):
						x[k] = "#/components/schemas/flx." + kind + "." + strings.TrimPrefix(s, "#/$defs/")
					default:
						t.Fatalf("schema %s: $ref %q has no place in openapi.json", kind, s)
					}
					continue
				}
				x[k] = rewrite(e, kind)
			}
		case []any:
			for i := range x {
				x[i] = rewrite(x[i], kind)
			}
		}
		return v
	}
	hoist := func(s map[string]any, kind string) {
		defs, _ := s["$defs"].(map[string]any)
		for name, d := range defs {
			comps["flx."+kind+"."+name] = rewrite(d, kind)
		}
		delete(s, "$defs")
		delete(s, "$schema")
		delete(s, "$id")
	}
	defs := load("defs")
	hoist(defs, "defs")
	for comp, kind := range documentSchemas {
		s := load(kind)
		hoist(s, kind)
		s = rewrite(s, kind).(map[string]any)
		desc := "A schema v1 document (flx/v1/" + kind + "; generated from schema/v1/" + kind + ".json by TestOpenAPIDocumentSchemasGenerated): the node validates it in full and answers 422 schema_invalid with JSON pointers."
		if old, ok := hand[comp].(map[string]any)["description"].(string); ok && old != "" {
			desc = old
		}
		s["description"] = desc
		comps[comp] = s
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(comps); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(buf.Bytes(), raw) {
		return
	}
	if *updateOpenAPI {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("openapi_documents.json differs from schema/v1: run go test ./node/httpapi/ -run TestOpenAPIDocumentSchemasGenerated -update")
}

// TestOpenAPIDocumentsAcceptExamples: every schema/ example of a case,
// response and message is valid against the served OpenAPI component.
func TestOpenAPIDocumentsAcceptExamples(t *testing.T) {
	n := 0
	for _, ex := range schema.Examples() {
		for comp, kind := range documentSchemas {
			if strings.HasPrefix(ex.Name, kind+".") {
				validate(t, comp, ex.Doc)
				n++
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d examples checked", n)
	}
}
