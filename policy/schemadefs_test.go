package policy

import (
	"encoding/json"
	"io/fs"
	"testing"

	"github.com/familylinks/flx/schema"
)

func loadDefs(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	b, err := fs.ReadFile(schema.Files(), "defs.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d.Defs
}

func enumOf(t *testing.T, def string) []string {
	var v struct {
		Enum []string `json:"enum"`
	}
	json.Unmarshal(loadDefs(t)[def], &v)
	return v.Enum
}

func propsOf(t *testing.T, def string) []string {
	var v struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	json.Unmarshal(loadDefs(t)[def], &v)
	var out []string
	for k := range v.Properties {
		out = append(out, k)
	}
	return out
}
