package policy

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/schema"
)

// testNow is the evaluation time of every test: fixed so golden decisions
// and retention checks are stable.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

var allKinds = []string{"case.create", "case.update", "case.response", "message.deliver", "case.withdraw"}

// The destinations used across the tests (no real country or member).
var (
	dstXB   = Destination{Member: "XB-RC", Country: "XB", Role: "society", Active: true, Accepts: allKinds}
	dstXC   = Destination{Member: "XC-RC", Country: "XC", Role: "society", Active: true, Accepts: allKinds}
	dstXD   = Destination{Member: "XD-RC", Country: "XD", Role: "society", Active: true, Accepts: allKinds}
	dstCTA  = Destination{Member: "ICRC-CTA", Country: "XC", Role: "coordinator", Active: true, Accepts: allKinds}
	dstDel  = Destination{Member: "ICRC-XB", Country: "XB", Role: "delegation", Active: true, Accepts: allKinds}
	dstAuth = Destination{Member: "XB-AUTH", Country: "XB", Role: "non_movement", Active: true, Accepts: allKinds}
)

// sampleRules loads testdata/rules.yaml.
func sampleRules(t testing.TB) *Rules {
	t.Helper()
	r, err := Load("testdata/rules.yaml")
	if err != nil {
		t.Fatalf("load sample rules: %v", err)
	}
	return r
}

// rulesWith parses the minimal header plus extra YAML sections (all other
// settings keep their strict defaults).
func rulesWith(t testing.TB, extra string) *Rules {
	t.Helper()
	src := "schema: flx/policy/v1\nversion: test\nmember: XA-RC\ncountry: XA\n" + extra
	r, err := Parse([]byte(src), "test.yaml")
	if err != nil {
		t.Fatalf("parse rules: %v\n%s", err, src)
	}
	return r
}

// permissive opens up the defaults so that a table test sees only the rule
// under test: every sensitive category for every role, every field on
// every allow-list (named: "*" is refused in allow-lists).
var permissive = `
sensitive:
  require_marker: false
  roles:
    society: [ethnicity, religion, political_opinion, health, biometrics, sgbv]
    delegation: [ethnicity, religion, political_opinion, health, biometrics, sgbv]
    coordinator: [ethnicity, religion, political_opinion, health, biometrics, sgbv]
    non_movement: [ethnicity, religion, political_opinion, health, biometrics, sgbv]
` + openMinimise

// openMinimise puts every field of schema v1 on every allow-list.
var openMinimise = func() string {
	l := func(kind string) string { return "[" + strings.Join(knownFields(kind), ", ") + "]" }
	return `minimise:
  case:
    - fields: ` + l("case") + `
      person_fields: ` + l("person") + `
  response:
    - fields: ` + l("response") + `
  message:
    - fields: ` + l("message") + `
  withdrawal:
    - fields: ` + l("withdrawal") + `
`
}()

// baseCase is a valid tracing request on which no built-in rule fires for
// dstXB under the permissive rules: enquirer p1 with consent to transfer,
// sought person p2 with whereabouts, a verified relationship.
const baseCase = `{
  "schema": "flx/v1/case",
  "case_id": "XA-RC:T-1",
  "version": 2,
  "type": "tracing_request",
  "status": "tracing_in_progress",
  "origin": {"member": "XA-RC", "created_at": "2024-01-10T09:00:00Z"},
  "purpose": "tracing",
  "legal_basis": {"type": "consent"},
  "consents": [{"id": "c-1", "given_by": "p1", "capacity": "self",
    "scope": {"uses": ["tracing", "transfer"]}, "given_at": "2024-01-10T09:10:00Z", "form": "written"}],
  "retention_until": "2040-01-01",
  "persons": [
    {"id": "p1", "roles": ["enquirer"], "names": [{"value": "Amira Testova"}], "birth_date": "1980",
     "address": {"country": "XA", "locality": "Enquirerville"}, "contact": {"phones": ["+999 555 1111"]},
     "contact_preference": "agreed"},
    {"id": "p2", "roles": ["sought_person"], "names": [{"value": "Karo Sampleyan"}], "birth_date": "1975-03",
     "address": {"country": "XB", "locality": "Soughtown", "address_line": "7 Hidden Street"},
     "contact": {"phones": ["+999 555 2222"], "emails": ["karo.sampleyan@example.org"]},
     "last_known_location": {"place": {"country": "XB", "locality": "Lastseenburg"}, "date": "2023-05"},
     "photo": {"sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "media_type": "image/jpeg", "size_bytes": 1000},
     "contact_preference": "not_asked"}
  ],
  "relationships": [{"from": "p1", "to": "p2", "type": "sister", "verified": true}],
  "notes": [{"text": "Caseworker note about Soughtown market"}]
}`

func decodeMap(t testing.TB, s string) map[string]any {
	t.Helper()
	m, err := decodeObject([]byte(s))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return m
}

func encodeMap(t testing.TB, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// responseDoc is a response from XC-RC about baseCase's sought person p2,
// with the given extra members (JSON without braces).
func responseDoc(extra string) func(testing.TB) []byte {
	return func(t testing.TB) []byte {
		return merged(t, `{"schema":"flx/v1/response","case_id":"XA-RC:T-1","responder":"XC-RC","responded_at":"2025-05-01T10:00:00Z","sought_person":"p2"}`, extra)
	}
}

// merged sets the members of extra (JSON object members without braces)
// on the base object.
func merged(t testing.TB, base, extra string) []byte {
	t.Helper()
	m := decodeMap(t, base)
	if extra != "" {
		for k, v := range decodeMap(t, "{"+extra+"}") {
			m[k] = v
		}
	}
	return encodeMap(t, m)
}

// messageDoc is a message about baseCase from p2 (at XC-RC) to p1 (at
// XA-RC), with the given extra members.
func messageDoc(extra string) func(testing.TB) []byte {
	return func(t testing.TB) []byte {
		return merged(t, `{"schema":"flx/v1/message","message_id":"XC-RC:M-1","case_id":"XA-RC:T-1","created_at":"2025-05-01T10:00:00Z",`+
			`"from":{"person":"p2","member":"XC-RC"},"to":{"person":"p1","member":"XA-RC"}}`, extra)
	}
}

// caseWith returns baseCase changed by mutate.
func caseWith(t testing.TB, mutate func(m map[string]any)) []byte {
	t.Helper()
	m := decodeMap(t, baseCase)
	if mutate != nil {
		mutate(m)
	}
	return encodeMap(t, m)
}

// j decodes a JSON literal into a generic value (for mutations).
func j(t testing.TB, s string) any {
	t.Helper()
	m, err := decodeObject([]byte(`{"v":` + s + `}`))
	if err != nil {
		t.Fatalf("bad JSON literal %s: %v", s, err)
	}
	return m["v"]
}

func personAt(m map[string]any, i int) map[string]any { return list(m["persons"])[i].(map[string]any) }

func firedRule(d Decision, id string) (Fired, bool) {
	for _, f := range d.Fired {
		if f.RuleID == id {
			return f, true
		}
	}
	return Fired{}, false
}

func apply(t testing.TB, r *Rules, doc []byte, kind string, dst Destination, opts ...EvalOption) (Decision, []byte) {
	t.Helper()
	return New(r).Apply(context.Background(), doc, kind, dst, testNow, append(facts(doc), opts...)...)
}

// facts returns what the node tells the engine about a document: a case's
// own version as the current one, and for a response or message the schema
// example case it is about (when there is one). Options given after these
// override them.
func facts(doc []byte) []EvalOption {
	m, err := decodeObject(doc)
	if err != nil {
		return nil
	}
	if str(m["schema"]) == "flx/v1/case" {
		if v, ok := intVal(m["version"]); ok {
			return []EvalOption{CurrentVersion(v)}
		}
		return nil
	}
	for _, ex := range schema.Examples() {
		if ex.Kind == schema.KindCase && strings.Contains(string(ex.Doc), `"case_id": "`+str(m["case_id"])+`"`) {
			return []EvalOption{WithCase(ex.Doc)}
		}
	}
	if str(m["case_id"]) == "XA-RC:T-1" {
		return []EvalOption{WithCase([]byte(baseCase))}
	}
	return nil
}

func mustReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func describe(d Decision) string {
	var b strings.Builder
	b.WriteString(string(d.Effect))
	for _, f := range d.Fired {
		b.WriteString("\n  " + f.RuleID + " " + f.Effect + ": " + f.Reason)
		if len(f.Pointers) > 0 {
			b.WriteString(" " + strings.Join(f.Pointers, ","))
		}
	}
	return b.String()
}
