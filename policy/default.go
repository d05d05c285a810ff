package policy

import (
	_ "embed"
	"fmt"
	"regexp"
)

//go:embed example-rules.yaml
var exampleRules []byte

// ExampleRules returns the documented strict default rules file.
func ExampleRules() []byte { return append([]byte(nil), exampleRules...) }

var (
	reMemberLine  = regexp.MustCompile(`(?m)^member: .*$`)
	reCountryLine = regexp.MustCompile(`(?m)^country: .*$`)
)

// Default returns the strict default rules (example-rules.yaml) for a
// Society. The member and country lines are replaced before hashing, so the
// decision's PolicyHash is the hash of the exact rules applied; call
// ExampleRules to see them.
func Default(member, country string) (*Rules, error) {
	if !reMember.MatchString(member) || !reCountry.MatchString(country) {
		return nil, fmt.Errorf("policy: default rules: bad member %q or country %q", member, country)
	}
	b := reMemberLine.ReplaceAll(exampleRules, []byte("member: "+member))
	b = reCountryLine.ReplaceAll(b, []byte("country: "+country))
	return Parse(b, "default rules (example-rules.yaml)")
}
