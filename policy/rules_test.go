package policy

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// badRules maps each file of testdata/bad to the fragments its error must
// contain: the position (file:line[:column]) and the field and message.
var badRules = map[string][]string{
	"empty.yaml":                              {"empty.yaml: not valid YAML: file is empty"},
	"not-yaml.yaml":                           {"not-yaml.yaml:4: not valid YAML"},
	"not-a-mapping.yaml":                      {":1:1: must be a mapping of fields, got a list"},
	"missing-required.yaml":                   {"3 problem(s)", "version: required field is missing", "member: required field is missing", "country: required field is missing"},
	"wrong-schema.yaml":                       {":1:9: schema: must be \"flx/policy/v1\""},
	"unknown-field.yaml":                      {":5:1: purpose: unknown field \"purpose\" (known fields: consent,"},
	"unknown-nested-field.yaml":               {":6:3: minors.agee: unknown field \"agee\" (known fields: age,"},
	"bad-member.yaml":                         {":3:9: member: \"xa-rc\" is not a valid member id"},
	"bad-country.yaml":                        {":4:10: country: \"XAA\" is not a valid country code"},
	"age-not-a-number.yaml":                   {":6:8: minors.age: must be a whole number, got the scalar \"eighteen\""},
	"age-out-of-range.yaml":                   {":6:8: minors.age: must be between 1 and 25, got 40"},
	"unknown-role.yaml":                       {":7:5: destinations.roles.authority: unknown destination role \"authority\""},
	"unknown-case-type.yaml":                  {":7:15: destinations.roles.society[0]: unknown case type \"tracing\""},
	"unknown-sensitive-category.yaml":         {":7:27: sensitive.roles.coordinator[1]: unknown sensitive category \"sexuality\""},
	"purpose-allowed-and-forbidden.yaml":      {":6:3: purposes: purpose \"genealogy\" is both allowed and forbidden"},
	"bad-period.yaml":                         {":6:12: retention.default: \"25 years\" is not a valid period"},
	"unknown-minimise-field.yaml":             {":8:24: minimise.case[0].fields[1]: unknown case field \"adress\""},
	"minimise-without-fields.yaml":            {":7:7: minimise.case[0].fields: required field is missing"},
	"minimise-person-fields-on-response.yaml": {":8:7: minimise.response[0].person_fields: unknown field \"person_fields\""},
	"not-a-bool.yaml":                         {":6:19: sensitive.require_marker: must be true or false, got the scalar \"yes\""},
	"bad-risk-action.yaml":                    {":6:11: risk.action: unknown risk action \"warn\""},
	"duplicate-key.yaml":                      {":5:1: member: defined twice (first on line 3)"},
	"two-documents.yaml":                      {":5:1: more than one YAML document"},
	"duplicate-list-item.yaml":                {":6:19: risk.countries[1]: \"XD\" is listed twice"},
	"map-expected.yaml":                       {":6:10: destinations.roles: must be a mapping, got a list"},
	"cel-syntax-error.yaml":                   {":7:11: custom[0] (XA-BAD-SYNTAX).when: does not compile: Syntax error"},
	"cel-not-bool.yaml":                       {":7:11: custom[0] (XA-NOT-BOOL).when: must be a bool expression, but its type is dyn"},
	"cel-int-result.yaml":                     {":7:11: custom[0] (XA-INT).when: must be a bool expression, but its type is int"},
	"cel-undeclared-variable.yaml":            {":7:11: custom[0] (XA-UNDECLARED).when: does not compile: undeclared reference to 'dest'"},
	"cel-unknown-destination-field.yaml":      {":7:11: custom[0] (XA-TYPO).when: destination has no field \"rol\""},
	"cel-unknown-case-field.yaml":             {":7:11: custom[0] (XA-TYPO-CASE).when: case has no field \"purpos\""},
	"custom-reserved-id.yaml":                 {":6:9: custom[0].id: \"FLX-DP-MINE\": ids starting with FLX- are reserved"},
	"custom-bad-id.yaml":                      {":6:9: custom[0].id: \"xa-lower\" is not a valid rule id"},
	"custom-duplicate-id.yaml":                {":10:5: custom[1].id: rule id \"XA-ONE\" is already used on line 6"},
	"custom-redact-required.yaml":             {":9:14: custom[0].redact[0]: /case_id is a required field"},
	"custom-redact-whole-person.yaml":         {":9:14: custom[0].redact[0]: /persons/0 is a required field"},
	"custom-redact-without-list.yaml":         {":8:13: custom[0].redact: effect redact needs a non-empty redact list"},
	"custom-bad-pointer.yaml":                 {":9:14: custom[0].redact[0]: JSON pointer \"persons/0/photo\" must start with /"},
	"custom-redact-with-deny.yaml":            {":9:13: custom[0].redact: redact is only used with effect redact"},
	"custom-missing-reason.yaml":              {":6:5: custom[0].reason: required field is missing or empty"},
	"custom-bad-effect.yaml":                  {":8:13: custom[0].effect: unknown effect \"allow\""},
	"custom-bad-kind.yaml":                    {":7:13: custom[0].kinds[0]: unknown envelope kind \"case.delete\""},
	"minimise-star-fields.yaml":               {":8:16: minimise.case[0].fields[0]: \"*\" is not allowed in an allow-list"},
	"bad-feared-action.yaml":                  {":6:18: risk.feared_action: unknown risk action \"allow\""},
	"unknown-withdrawal-field.yaml":           {":7:55: minimise.withdrawal[0].fields[4]: unknown withdrawal field \"names\""},
}

func TestBadRulesCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			want, ok := badRules[name]
			if !ok {
				t.Fatalf("no expectation for %s: add it to badRules", name)
			}
			_, err := Load(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("error is not a *LoadError with problems: %v", err)
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
	for name := range badRules {
		if !seen[name] {
			t.Errorf("expectation for missing file testdata/bad/%s", name)
		}
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	src := "schema: flx/policy/v1\nversion: \"1\"\nmember: XA-RC\ncountry: XA\nminors:\n  age: 0\nrisk:\n  countries: [xd]\nbogus: 1\ncustom:\n  - {id: XA-A, when: 'nope', effect: deny, reason: r}\n"
	_, err := Parse([]byte(src), "many.yaml")
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("want *LoadError, got %v", err)
	}
	if len(le.Problems) != 4 {
		t.Fatalf("want 4 problems, got %d:\n%v", len(le.Problems), err)
	}
	for i, line := range []int{6, 8, 9, 11} {
		if le.Problems[i].Line != line {
			t.Errorf("problem %d on line %d, want %d", i, le.Problems[i].Line, line)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load("testdata/does-not-exist.yaml"); err == nil || !strings.Contains(err.Error(), "does-not-exist.yaml") {
		t.Fatalf("want an error naming the file, got %v", err)
	}
}

// stripLines zeroes the source line numbers kept for messages.
func stripLines(c Config) Config {
	for _, l := range []*[]MinimiseEntry{&c.Minimise.Case, &c.Minimise.Response, &c.Minimise.Message, &c.Minimise.Withdrawal} {
		cp := append([]MinimiseEntry(nil), (*l)...)
		for i := range cp {
			cp[i].Line = 0
		}
		*l = cp
	}
	for i := range c.Custom {
		c.Custom[i].Line = 0
	}
	return c
}

// The documented defaults in example-rules.yaml and the built-in defaults
// used for absent fields must be the same.
func TestExampleRulesAreTheDefaults(t *testing.T) {
	ex, err := Parse(ExampleRules(), "example-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	min, err := Parse([]byte("schema: flx/policy/v1\nversion: default-1\nmember: XA-RC\ncountry: XA\n"), "minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := defaultConfig()
	want.Version, want.Member, want.Country = "default-1", "XA-RC", "XA"
	for name, got := range map[string]Config{"example-rules.yaml": ex.Config, "minimal file": min.Config} {
		if g := stripLines(got); !reflect.DeepEqual(g, want) {
			t.Errorf("%s differs from defaultConfig():\n got  %+v\n want %+v", name, g, want)
		}
	}
}

func TestDefault(t *testing.T) {
	r, err := Default("XB-RC", "XB")
	if err != nil {
		t.Fatal(err)
	}
	if r.Config.Member != "XB-RC" || r.Config.Country != "XB" || r.Version() != "default-1" {
		t.Errorf("member/country/version = %s/%s/%s", r.Config.Member, r.Config.Country, r.Version())
	}
	ex, _ := Parse(ExampleRules(), "x")
	if r.Hash == ex.Hash || !strings.HasPrefix(r.Hash, "sha256:") || len(r.Hash) != len("sha256:")+64 {
		t.Errorf("hash %q must be the sha256 of the rules actually applied", r.Hash)
	}
	if _, err := Default("bad id", "XB"); err == nil {
		t.Error("bad member id accepted")
	}
}

func TestSampleRules(t *testing.T) {
	r := sampleRules(t)
	if r.Version() != "2025-06-sample-1" || len(r.custom) != 3 {
		t.Errorf("version %q, %d custom rules", r.Version(), len(r.custom))
	}
	b, _ := os.ReadFile("testdata/rules.yaml")
	r2, _ := Parse(b, "again")
	if r.Hash != r2.Hash {
		t.Error("hash is not a function of the bytes")
	}
	r3, _ := Parse(append(b, []byte("\n# a comment\n")...), "changed")
	if r3.Hash == r.Hash {
		t.Error("hash ignores a change to the file")
	}
}
