package httpapi_test

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/httpapi"
)

type oaOperation struct {
	OperationID string                 `json:"operationId"`
	Security    *[]map[string][]string `json:"security"`
	Roles       []string               `json:"x-flx-roles"`
	Parameters  []map[string]any       `json:"parameters"`
	Responses   map[string]any         `json:"responses"`
}

// TestOpenAPICoversRouter: the served document is OpenAPI 3.1, every route
// of the router is in it with the same roles and vice versa, every $ref
// resolves, and every path parameter is declared.
func TestOpenAPICoversRouter(t *testing.T) {
	raw := httpapi.OpenAPI()
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Security   []map[string][]string                 `json:"security"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct {
				Type   string `json:"type"`
				Scheme string `json:"scheme"`
			} `json:"securitySchemes"`
			Parameters map[string]map[string]any `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(doc.OpenAPI) {
		t.Fatalf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	if s := doc.Components.SecuritySchemes["bearer"]; s.Type != "http" || s.Scheme != "bearer" {
		t.Fatalf("bearer security scheme %+v", s)
	}
	if len(doc.Security) != 1 || doc.Security[0]["bearer"] == nil {
		t.Fatalf("default security %+v", doc.Security)
	}

	routes, err := httpapi.RegisteredLocalRoutes()
	if err != nil {
		t.Fatal(err)
	}
	inRouter := map[string][]string{}
	for _, r := range routes {
		key := strings.ToLower(r.Method) + " " + r.Path
		if _, dup := inRouter[key]; dup {
			t.Errorf("route %s registered twice", key)
		}
		inRouter[key] = r.Roles
	}
	inDoc := map[string]oaOperation{}
	ids := map[string]bool{}
	pathParam := regexp.MustCompile(`\{([a-z]+)\}`)
	for path, item := range doc.Paths {
		var shared []map[string]any
		if p, ok := item["parameters"]; ok {
			if err := json.Unmarshal(p, &shared); err != nil {
				t.Fatal(err)
			}
		}
		for method, rawOp := range item {
			if method == "parameters" {
				continue
			}
			var op oaOperation
			if err := json.Unmarshal(rawOp, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			key := method + " " + path
			inDoc[key] = op
			if op.OperationID == "" || ids[op.OperationID] {
				t.Errorf("%s: operationId %q missing or repeated", key, op.OperationID)
			}
			ids[op.OperationID] = true
			if len(op.Responses) == 0 {
				t.Errorf("%s: no responses", key)
			}
			declared := map[string]bool{}
			for _, p := range append(append([]map[string]any{}, shared...), op.Parameters...) {
				if ref, ok := p["$ref"].(string); ok {
					p = doc.Components.Parameters[strings.TrimPrefix(ref, "#/components/parameters/")]
				}
				if p["in"] == "path" {
					declared[p["name"].(string)] = true
				}
			}
			for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter %s not declared", key, m[1])
				}
			}
		}
	}
	var missing, extra []string
	for key, roles := range inRouter {
		op, ok := inDoc[key]
		if !ok {
			missing = append(missing, key)
			continue
		}
		public := op.Security != nil && len(*op.Security) == 0
		if public != (roles == nil) {
			t.Errorf("%s: document says public=%v, router roles %v", key, public, roles)
		}
		a, b := append([]string{}, roles...), append([]string{}, op.Roles...)
		sort.Strings(a)
		sort.Strings(b)
		if strings.Join(a, ",") != strings.Join(b, ",") {
			t.Errorf("%s: x-flx-roles %v, router %v", key, op.Roles, roles)
		}
		if _, has401 := op.Responses["401"]; has401 == public {
			t.Errorf("%s: 401 documented=%v for public=%v", key, has401, public)
		}
	}
	for key := range inDoc {
		if _, ok := inRouter[key]; !ok {
			extra = append(extra, key)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("routes missing from openapi.json: %v\noperations in openapi.json the router lacks: %v", missing, extra)
	}

	// every local $ref resolves
	var tree any
	json.Unmarshal(raw, &tree)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if !strings.HasPrefix(ref, "#/") || lookup(tree, strings.Split(ref[2:], "/")) == nil {
					t.Errorf("$ref %q does not resolve", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(tree)
}

func lookup(v any, path []string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}
