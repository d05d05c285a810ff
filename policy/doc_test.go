package policy

import (
	"os"
	"sort"
	"strings"
	"testing"
)

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
