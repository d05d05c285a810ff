package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Rules is a loaded, validated rules file with its custom rules compiled.
// It is immutable and safe for concurrent use.
type Rules struct {
	Config Config
	// Name is the file name the rules were read from (for messages).
	Name string
	// Hash is "sha256:" + hex SHA-256 of the file bytes.
	Hash string

	custom []*compiledRule
}

// Version returns the rules file's version field.
func (r *Rules) Version() string { return r.Config.Version }

// Problem is one thing wrong with a rules file.
type Problem struct {
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Field  string `json:"field"` // dotted path, e.g. minimise.case[1].fields
	Msg    string `json:"message"`
}

// LoadError lists every problem found in a rules file.
type LoadError struct {
	File     string
	Problems []Problem
}

func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy: rules file %s: %d problem(s)", e.File, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
			if p.Column > 0 {
				fmt.Fprintf(&b, ":%d", p.Column)
			}
		}
		b.WriteString(": ")
		if p.Field != "" {
			b.WriteString(p.Field)
			b.WriteString(": ")
		}
		b.WriteString(p.Msg)
	}
	return b.String()
}

// Load reads and parses a rules file.
func Load(path string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: read rules: %w", err)
	}
	return Parse(data, path)
}

// maxRulesSize bounds a rules file; a real one is a few KiB.
const maxRulesSize = 1 << 20

// Parse parses and validates a rules file; name is used in error messages.
// Unknown fields, wrong types, unknown vocabulary (case types, roles,
// categories, fields), bad member ids or country codes and custom rules that
// do not compile are all errors, each naming its line and field.
func Parse(data []byte, name string) (*Rules, error) {
	if name == "" {
		name = "rules.yaml"
	}
	d := &decoder{}
	if len(data) > maxRulesSize {
		d.problem(nil, "", "file is larger than %d bytes", maxRulesSize)
		return nil, &LoadError{File: name, Problems: d.problems}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("file is empty")
		}
		d.problems = append(d.problems, yamlProblem(err))
		return nil, &LoadError{File: name, Problems: d.problems}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.problem(&extra, "", "more than one YAML document; a rules file holds exactly one")
	} else if !errors.Is(err, io.EOF) {
		d.problems = append(d.problems, yamlProblem(err))
	}
	cfg := defaultConfig()
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.config(root, &cfg)
	custom := d.compileCustom(cfg)
	if len(d.problems) > 0 {
		sort.SliceStable(d.problems, func(i, j int) bool {
			if d.problems[i].Line != d.problems[j].Line {
				return d.problems[i].Line < d.problems[j].Line
			}
			return d.problems[i].Column < d.problems[j].Column
		})
		return nil, &LoadError{File: name, Problems: d.problems}
	}
	sum := sha256.Sum256(data)
	return &Rules{Config: cfg, Name: name, Hash: "sha256:" + hex.EncodeToString(sum[:]), custom: custom}, nil
}

var reYAMLLine = regexp.MustCompile(`line (\d+)`)

func yamlProblem(err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{Msg: "not valid YAML: " + msg}
	if m := reYAMLLine.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
	}
	return p
}

// decoder walks a yaml.Node tree, filling a Config and collecting problems.
type decoder struct {
	problems []Problem
}

func (d *decoder) problem(n *yaml.Node, field, format string, args ...any) {
	p := Problem{Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	d.problems = append(d.problems, p)
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("the scalar %q", n.Value)
	}
	return "something else"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping checks n is a mapping with only known keys and calls the handler
// for each. Keys are checked in file order; duplicates are errors.
func (d *decoder) mapping(n *yaml.Node, path string, handlers map[string]func(*yaml.Node, string)) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.problem(n, path, "must be a mapping of fields, got %s", kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.problem(k, path, "field names must be plain strings")
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.problem(k, join(path, k.Value), "defined twice (first on line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		h, ok := handlers[k.Value]
		if !ok {
			known := make([]string, 0, len(handlers))
			for name := range handlers {
				known = append(known, name)
			}
			sort.Strings(known)
			d.problem(k, join(path, k.Value), "unknown field %q (known fields: %s)", k.Value, strings.Join(known, ", "))
			continue
		}
		h(v, join(path, k.Value))
	}
}

// check validates one string value; it returns "" when the value is fine.
type check func(string) string

func oneOf(list []string, what string) check {
	return func(s string) string {
		if contains(list, s) {
			return ""
		}
		return fmt.Sprintf("unknown %s %q (one of: %s)", what, s, strings.Join(list, ", "))
	}
}

func oneOfOrStar(list []string, what string) check {
	c := oneOf(list, what)
	return func(s string) string {
		if s == "*" {
			return ""
		}
		return c(s)
	}
}

// fieldName checks an allow-list entry. "*" is refused: an allow-list
// names what travels, so that a field added to the schema later does not
// travel until a Society decides it should.
func fieldName(list []string, what string) check {
	c := oneOf(list, what)
	return func(s string) string {
		if s == "*" {
			return "\"*\" is not allowed in an allow-list: name every field that may travel (no destination is exempt from minimisation)"
		}
		return c(s)
	}
}

func matches(re *regexp.Regexp, what string) check {
	return func(s string) string {
		if re.MatchString(s) {
			return ""
		}
		return fmt.Sprintf("%q is not a valid %s (%s)", s, what, re)
	}
}

func (d *decoder) str(n *yaml.Node, path string, dst *string, c check) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.problem(n, path, "must be a string, got %s", kindName(n))
		return
	}
	if c != nil {
		if msg := c(n.Value); msg != "" {
			d.problem(n, path, "%s", msg)
			return
		}
	}
	*dst = n.Value
}

func (d *decoder) strs(n *yaml.Node, path string, dst *[]string, c check) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		*dst = []string{}
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.problem(n, path, "must be a list, got %s", kindName(n))
		return
	}
	out := make([]string, 0, len(n.Content))
	for i, e := range n.Content {
		e = resolve(e)
		ep := fmt.Sprintf("%s[%d]", path, i)
		if e.Kind != yaml.ScalarNode || e.Tag == "!!null" {
			d.problem(e, ep, "must be a string, got %s", kindName(e))
			continue
		}
		if c != nil {
			if msg := c(e.Value); msg != "" {
				d.problem(e, ep, "%s", msg)
				continue
			}
		}
		if contains(out, e.Value) {
			d.problem(e, ep, "%q is listed twice", e.Value)
			continue
		}
		out = append(out, e.Value)
	}
	*dst = out
}

func (d *decoder) boolean(n *yaml.Node, path string, dst *bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.problem(n, path, "must be true or false, got %s", kindName(n))
		return
	}
	*dst = n.Value == "true"
}

func (d *decoder) integer(n *yaml.Node, path string, dst *int, lo, hi int) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.problem(n, path, "must be a whole number, got %s", kindName(n))
		return
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < lo || v > hi {
		d.problem(n, path, "must be between %d and %d, got %s", lo, hi, n.Value)
		return
	}
	*dst = v
}

// strMap reads a mapping of key -> list of strings.
func (d *decoder) strMap(n *yaml.Node, path string, dst *map[string][]string, key, val check) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		*dst = map[string][]string{}
		return
	}
	if n.Kind != yaml.MappingNode {
		d.problem(n, path, "must be a mapping, got %s", kindName(n))
		return
	}
	out := map[string][]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		kp := join(path, k.Value)
		if msg := key(k.Value); msg != "" {
			d.problem(k, kp, "%s", msg)
			continue
		}
		if _, dup := out[k.Value]; dup {
			d.problem(k, kp, "defined twice")
			continue
		}
		var list []string
		d.strs(v, kp, &list, val)
		out[k.Value] = list
	}
	*dst = out
}

var rePeriod = regexp.MustCompile(`^([1-9][0-9]{0,3})([ymd])$`)

func (d *decoder) period(n *yaml.Node, path string, dst *Period) {
	var s string
	d.str(n, path, &s, matches(rePeriod, "period (<n>y, <n>m or <n>d, e.g. 25y)"))
	m := rePeriod.FindStringSubmatch(s)
	if m == nil {
		return
	}
	v, _ := strconv.Atoi(m[1])
	switch m[2] {
	case "y":
		*dst = Period{Years: v}
	case "m":
		*dst = Period{Months: v}
	case "d":
		*dst = Period{Days: v}
	}
}

func (d *decoder) config(root *yaml.Node, c *Config) {
	var gotSchema, gotVersion, gotMember, gotCountry bool
	member := matches(reMember, "member id")
	country := matches(reCountry, "country code (two capital letters)")
	countryList := func(n *yaml.Node, p string, dst *[]string) { d.strs(n, p, dst, country) }
	caseTypeKey := oneOf(caseTypes, "case type")
	roleKey := oneOf(destinationRoles, "destination role")
	d.mapping(root, "", map[string]func(*yaml.Node, string){
		"schema": func(n *yaml.Node, p string) {
			gotSchema = true
			d.str(n, p, &c.Schema, func(s string) string {
				if s != RulesSchema {
					return fmt.Sprintf("must be %q, got %q", RulesSchema, s)
				}
				return ""
			})
		},
		"version": func(n *yaml.Node, p string) {
			gotVersion = true
			d.str(n, p, &c.Version, func(s string) string {
				if strings.TrimSpace(s) == "" || len(s) > 128 {
					return "must be a non-empty string of at most 128 characters"
				}
				return ""
			})
		},
		"member":  func(n *yaml.Node, p string) { gotMember = true; d.str(n, p, &c.Member, member) },
		"country": func(n *yaml.Node, p string) { gotCountry = true; d.str(n, p, &c.Country, country) },
		"purposes": func(n *yaml.Node, p string) {
			d.mapping(n, p, map[string]func(*yaml.Node, string){
				"allowed":   func(n *yaml.Node, p string) { d.strs(n, p, &c.Purposes.Allowed, matches(rePurpose, "purpose")) },
				"forbidden": func(n *yaml.Node, p string) { d.strs(n, p, &c.Purposes.Forbidden, matches(rePurpose, "purpose")) },
			})
			for _, f := range c.Purposes.Forbidden {
				if contains(c.Purposes.Allowed, f) {
					d.problem(n, p, "purpose %q is both allowed and forbidden", f)
				}
			}
		},
		"legal_basis": func(n *yaml.Node, p string) {
			d.mapping(n, p, map[string]func(*yaml.Node, string){
				"accepted": func(n *yaml.Node, p string) {
					d.strs(n, p, &c.LegalBasis.Accepted, oneOf(legalBasisTypes, "legal basis"))
				},
				"require_documentation": func(n *yaml.Node, p string) { d.boolean(n, p, &c.LegalBasis.RequireDocumentation) },
			})
		},
		"consent": func(n *yaml.Node, p string) {
			d.mapping(n, p, map[string]func(*yaml.Node, string){
				"required_uses":   func(n *yaml.Node, p string) { d.strs(n, p, &c.Consent.RequiredUses, matches(reUseTok, "consent use")) },
				"purpose_in_uses": func(n *yaml.Node, p string) { d.boolean(n, p, &c.Consent.PurposeInUses) },
			})
		},
		"minors": func(n *yaml.Node, p string) {
			d.mapping(n, p, map[string]func(*yaml.Node, string){
				"age":                               func(n *yaml.Node, p string) { d.integer(n, p, &c.Minors.Age, 1, 25) },
				"best_interest_assessment_suffices": func(n *yaml.Node, p string) { d.boolean(n, p, &c.Minors.BestInterestSufficient) },
				"documented_basis_suffices":         func(n *yaml.Node, p string) { d.boolean(n, p, &c.Minors.DocumentedBasisSufficient) },
			})
		},
		"risk": func(n *yaml.Node, p string) {
			d.mapping(n, p, map[string]func(*yaml.Node, string){
				"countries":    func(n *yaml.Node, p string) { countryList(n, p, &c.Risk.Countries) },
				"by_case_type": func(n *yaml.Node, p string) { d.strMap(n, p, &c.Risk.ByCaseType, caseTypeKey, country) },
				"action": func(n *yaml.Node, p string) {
					d.str(n, p, &c.Risk.Action, oneOf([]string{RuleNeedsReview, RuleDeny}, "risk action"))
				},
				"feared_action": func(n *yaml.Node, p string) {
					d.str(n, p, &c.Risk.FearedAction, oneOf([]string{RuleNeedsReview, RuleDeny}, "risk action"))
				},
			})
		},
		"destinations": func(n *yaml.Node, p string) {
			d.mapping(n, p, map[string]func(*yaml.Node, string){
				"roles": func(n *yaml.Node, p string) {
					d.strMap(n, p, &c.Destinations.Roles, roleKey, oneOf(caseTypes, "case type"))
				},
				"members": func(n *yaml.Node, p string) {
					d.strMap(n, p, &c.Destinations.Members, member, oneOf(caseTypes, "case type"))
				},
			})
		},
		"sensitive": func(n *yaml.Node, p string) {
			d.mapping(n, p, map[string]func(*yaml.Node, string){
				"require_marker": func(n *yaml.Node, p string) { d.boolean(n, p, &c.Sensitive.RequireMarker) },
				"roles": func(n *yaml.Node, p string) {
					d.strMap(n, p, &c.Sensitive.Roles, roleKey, oneOf(sensitiveCats, "sensitive category"))
				},
				"members": func(n *yaml.Node, p string) {
					d.strMap(n, p, &c.Sensitive.Members, member, oneOf(sensitiveCats, "sensitive category"))
				},
			})
		},
		"detention": func(n *yaml.Node, p string) {
			d.mapping(n, p, map[string]func(*yaml.Node, string){
				"roles":   func(n *yaml.Node, p string) { d.strs(n, p, &c.Detention.Roles, roleKey) },
				"members": func(n *yaml.Node, p string) { d.strs(n, p, &c.Detention.Members, member) },
				"notice_fields": func(n *yaml.Node, p string) {
					d.strs(n, p, &c.Detention.NoticeFields, oneOf(detentionFields, "detention field"))
				},
			})
		},
		"non_movement": func(n *yaml.Node, p string) {
			d.mapping(n, p, map[string]func(*yaml.Node, string){
				"allow":                   func(n *yaml.Node, p string) { d.boolean(n, p, &c.NonMovement.Allow) },
				"require_risk_assessment": func(n *yaml.Node, p string) { d.boolean(n, p, &c.NonMovement.RequireRiskAssessment) },
			})
		},
		"unaccompanied_minors": func(n *yaml.Node, p string) { d.exempt(n, p, &c.UnaccompaniedMinors, nil) },
		"vulnerable": func(n *yaml.Node, p string) {
			d.exempt(n, p, &c.Vulnerable.ExemptConfig, map[string]func(*yaml.Node, string){
				"flags": func(n *yaml.Node, p string) {
					d.strs(n, p, &c.Vulnerable.Flags, oneOf(vulnerabilityTags, "vulnerability"))
				},
				"minors": func(n *yaml.Node, p string) { d.boolean(n, p, &c.Vulnerable.Minors) },
			})
		},
		"minimise": func(n *yaml.Node, p string) {
			d.mapping(n, p, map[string]func(*yaml.Node, string){
				"case":     func(n *yaml.Node, p string) { c.Minimise.Case = d.minimise(n, p, "case") },
				"response": func(n *yaml.Node, p string) { c.Minimise.Response = d.minimise(n, p, "response") },
				"message":  func(n *yaml.Node, p string) { c.Minimise.Message = d.minimise(n, p, "message") },
				"withdrawal": func(n *yaml.Node, p string) {
					c.Minimise.Withdrawal = d.minimise(n, p, "withdrawal")
				},
			})
		},
		"retention": func(n *yaml.Node, p string) {
			d.mapping(n, p, map[string]func(*yaml.Node, string){
				"default": func(n *yaml.Node, p string) { d.period(n, p, &c.Retention.Default) },
				"by_case_type": func(n *yaml.Node, p string) {
					n = resolve(n)
					if n.Kind != yaml.MappingNode {
						d.problem(n, p, "must be a mapping of case type to period, got %s", kindName(n))
						return
					}
					out := map[string]Period{}
					for i := 0; i+1 < len(n.Content); i += 2 {
						k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
						kp := join(p, k.Value)
						if msg := caseTypeKey(k.Value); msg != "" {
							d.problem(k, kp, "%s", msg)
							continue
						}
						var per Period
						d.period(v, kp, &per)
						out[k.Value] = per
					}
					c.Retention.ByCaseType = out
				},
			})
		},
		"review": func(n *yaml.Node, p string) {
			d.mapping(n, p, map[string]func(*yaml.Node, string){
				"case_types":            func(n *yaml.Node, p string) { d.strs(n, p, &c.Review.CaseTypes, oneOf(caseTypes, "case type")) },
				"destination_roles":     func(n *yaml.Node, p string) { d.strs(n, p, &c.Review.DestinationRoles, roleKey) },
				"destination_members":   func(n *yaml.Node, p string) { d.strs(n, p, &c.Review.DestinationMembers, member) },
				"destination_countries": func(n *yaml.Node, p string) { countryList(n, p, &c.Review.DestinationCountries) },
				"conditions": func(n *yaml.Node, p string) {
					d.strs(n, p, &c.Review.Conditions, oneOf(reviewConditions, "review condition"))
				},
			})
		},
		"custom": func(n *yaml.Node, p string) { c.Custom = d.custom(n, p) },
	})
	for _, req := range []struct {
		got  bool
		name string
	}{{gotSchema, "schema"}, {gotVersion, "version"}, {gotMember, "member"}, {gotCountry, "country"}} {
		if !req.got && root.Kind == yaml.MappingNode {
			d.problem(root, req.name, "required field is missing")
		}
	}
}

func (d *decoder) exempt(n *yaml.Node, p string, dst *ExemptConfig, more map[string]func(*yaml.Node, string)) {
	h := map[string]func(*yaml.Node, string){
		"exempt_roles": func(n *yaml.Node, p string) {
			d.strs(n, p, &dst.ExemptRoles, oneOf(destinationRoles, "destination role"))
		},
		"exempt_members": func(n *yaml.Node, p string) { d.strs(n, p, &dst.ExemptMembers, matches(reMember, "member id")) },
	}
	for k, v := range more {
		h[k] = v
	}
	d.mapping(n, p, h)
}

func (d *decoder) minimise(n *yaml.Node, path, docKind string) []MinimiseEntry {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.problem(n, path, "must be a list of allow-list entries, got %s", kindName(n))
		return nil
	}
	fields := knownFields(docKind)
	out := []MinimiseEntry{}
	for i, en := range n.Content {
		en = resolve(en)
		p := fmt.Sprintf("%s[%d]", path, i)
		e := MinimiseEntry{Roles: []string{"*"}, Line: en.Line}
		var gotFields bool
		h := map[string]func(*yaml.Node, string){
			"roles": func(n *yaml.Node, p string) {
				d.strs(n, p, &e.Roles, oneOfOrStar(destinationRoles, "destination role"))
			},
			"members": func(n *yaml.Node, p string) { d.strs(n, p, &e.Members, matches(reMember, "member id")) },
			"fields": func(n *yaml.Node, p string) {
				gotFields = true
				d.strs(n, p, &e.Fields, fieldName(fields, docKind+" field"))
			},
		}
		if docKind == "case" {
			e.CaseTypes = []string{"*"}
			h["case_types"] = func(n *yaml.Node, p string) { d.strs(n, p, &e.CaseTypes, oneOfOrStar(caseTypes, "case type")) }
			h["person_fields"] = func(n *yaml.Node, p string) {
				d.strs(n, p, &e.PersonFields, fieldName(knownFields("person"), "person field"))
			}
		}
		d.mapping(en, p, h)
		if !gotFields && en.Kind == yaml.MappingNode {
			d.problem(en, join(p, "fields"), "required field is missing (list the fields that may travel)")
		}
		out = append(out, e)
	}
	return out
}

func (d *decoder) custom(n *yaml.Node, path string) []CustomRule {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.problem(n, path, "must be a list of rules, got %s", kindName(n))
		return nil
	}
	out := []CustomRule{}
	ids := map[string]int{}
	for i, rn := range n.Content {
		rn = resolve(rn)
		p := fmt.Sprintf("%s[%d]", path, i)
		r := CustomRule{Kinds: []string{"case.create", "case.update"}, Line: rn.Line}
		var effectNode, redactNode *yaml.Node
		d.mapping(rn, p, map[string]func(*yaml.Node, string){
			"id": func(n *yaml.Node, p string) {
				d.str(n, p, &r.ID, func(s string) string {
					if strings.HasPrefix(s, "FLX-") {
						return fmt.Sprintf("%q: ids starting with FLX- are reserved for built-in rules", s)
					}
					return matches(reRuleID, "rule id (capitals, digits and dashes, e.g. XA-NO-PHOTO)")(s)
				})
			},
			"description": func(n *yaml.Node, p string) { d.str(n, p, &r.Description, nil) },
			"kinds":       func(n *yaml.Node, p string) { d.strs(n, p, &r.Kinds, oneOf(envelopeKinds, "envelope kind")) },
			"when": func(n *yaml.Node, p string) {
				r.whenLine, r.whenColumn = n.Line, n.Column
				d.str(n, p, &r.When, nil)
			},
			"effect": func(n *yaml.Node, p string) {
				effectNode = n
				d.str(n, p, &r.Effect, oneOf([]string{RuleDeny, RuleNeedsReview, RuleRedact}, "effect"))
			},
			"redact": func(n *yaml.Node, p string) {
				redactNode = n
				d.strs(n, p, &r.Redact, func(s string) string {
					pp, err := parsePointer(s)
					if err != nil {
						return err.Error()
					}
					if req := requiredPointer(pp); req {
						return fmt.Sprintf("%s is a required field of schema v1 and can never be redacted", s)
					}
					return ""
				})
			},
			"reason": func(n *yaml.Node, p string) { d.str(n, p, &r.Reason, nil) },
		})
		if rn.Kind != yaml.MappingNode {
			continue
		}
		for _, req := range []struct{ v, name string }{{r.ID, "id"}, {r.When, "when"}, {r.Effect, "effect"}, {r.Reason, "reason"}} {
			if strings.TrimSpace(req.v) == "" && !d.hasProblemAt(join(p, req.name)) {
				d.problem(rn, join(p, req.name), "required field is missing or empty")
			}
		}
		if r.ID != "" {
			if line, dup := ids[r.ID]; dup {
				d.problem(rn, join(p, "id"), "rule id %q is already used on line %d", r.ID, line)
			}
			ids[r.ID] = rn.Line
		}
		if r.Effect == RuleRedact && len(r.Redact) == 0 && !d.hasProblemAt(join(p, "redact")) {
			where := rn
			if effectNode != nil {
				where = effectNode
			}
			d.problem(where, join(p, "redact"), "effect redact needs a non-empty redact list of JSON pointers")
		}
		if r.Effect != "" && r.Effect != RuleRedact && len(r.Redact) > 0 {
			d.problem(redactNode, join(p, "redact"), "redact is only used with effect redact (effect is %s)", r.Effect)
		}
		if len(r.Kinds) == 0 && !d.hasProblemAt(join(p, "kinds")) {
			d.problem(rn, join(p, "kinds"), "must list at least one envelope kind")
		}
		out = append(out, r)
	}
	return out
}

func (d *decoder) hasProblemAt(field string) bool {
	for _, p := range d.problems {
		if p.Field == field || strings.HasPrefix(p.Field, field+"[") {
			return true
		}
	}
	return false
}

// requiredPointer reports whether p names a field schema v1 requires (in any
// document kind) or a whole person: such pointers are never redactable.
func requiredPointer(p pointer) bool {
	switch {
	case len(p) == 1:
		return p[0] == "*" || contains(requiredCase, p[0]) || contains(requiredResponse, p[0]) ||
			(contains(requiredMessage, p[0]) && p[0] != "body" && p[0] != "media") || contains(requiredWithdraw, p[0])
	case len(p) == 2 && p[0] == "persons":
		return true // a whole person: ids are referenced elsewhere
	case len(p) == 3 && p[0] == "persons":
		return p[2] == "*" || contains(requiredPerson, p[2])
	case len(p) == 2 && p[0] == "origin":
		return p[1] == "*" || p[1] == "member" || p[1] == "created_at"
	}
	return false
}
