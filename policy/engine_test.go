package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/schema"
)

// The sought person refused contact, is a child and fears the destination's
// country: each rule does its part and the strongest effect wins.
func TestCombinationRefusalMinorRiskCountry(t *testing.T) {
	base := func(t testing.TB, m map[string]any) {
		p := personAt(m, 1)
		p["contact_preference"] = "refused"
		p["birth_date"] = "2012-05-01"
		p["feared_countries"] = j(t, `["XD"]`)
		p["sensitive"] = j(t, `{"health":"Needs daily insulin"}`)
		m["sensitivity"] = j(t, `["health"]`)
		m["best_interest_assessment"] = j(t, `{"done_at":"2024-01-11T09:00:00Z","by":"child protection officer"}`)
	}
	refused := []string{"/notes", "/persons/1/address", "/persons/1/contact", "/persons/1/last_known_location", "/persons/1/photo"}
	review := "risk:\n  feared_action: needs_review\n"
	tests := []struct {
		name       string
		rules      string
		mutate     func(testing.TB, map[string]any)
		dst        Destination
		effect     Effect
		fired      []string
		redactions []string
	}{
		{
			name: "to the country the child fears: deny, every rule reported", mutate: base, dst: dstXD,
			effect: Deny, fired: []string{"FLX-DP-REFUSAL", "FLX-DP-SENSITIVE", "FLX-DP-MINIMISE", "FLX-DP-RISK-COUNTRY"},
		},
		{
			name: "feared countries configured for review", rules: review + "sensitive:\n  roles:\n    society: [health]\n", mutate: base, dst: dstXD,
			effect: NeedsReview, fired: []string{"FLX-DP-REFUSAL", "FLX-DP-MINIMISE", "FLX-DP-RISK-COUNTRY"},
			redactions: refused,
		},
		{
			name: "no best-interest assessment: deny, other rules still reported", mutate: func(t testing.TB, m map[string]any) {
				base(t, m)
				delete(m, "best_interest_assessment")
			}, dst: dstXD,
			effect: Deny, fired: []string{"FLX-DP-MINOR-GUARDIAN", "FLX-DP-REFUSAL", "FLX-DP-SENSITIVE", "FLX-DP-MINIMISE", "FLX-DP-RISK-COUNTRY"},
		},
		{
			name: "to a country nobody fears", mutate: base, dst: dstXB,
			effect: AllowWithRedactions, fired: []string{"FLX-DP-REFUSAL", "FLX-DP-SENSITIVE", "FLX-DP-MINIMISE"},
			redactions: []string{"/notes", "/persons/1/address", "/persons/1/contact", "/persons/1/last_known_location", "/persons/1/photo", "/persons/1/sensitive", "/sensitivity/0"},
		},
		{
			name: "unaccompanied too: child's whereabouts already gone", rules: review + "review:\n  conditions: [unaccompanied_minor]\n", mutate: func(t testing.TB, m map[string]any) {
				base(t, m)
				personAt(m, 1)["vulnerabilities"] = j(t, `["unaccompanied_minor"]`)
				list(m["relationships"])[0].(map[string]any)["verified"] = false
			}, dst: dstXD,
			effect: NeedsReview, fired: []string{"FLX-DP-REFUSAL", "FLX-DP-UAM", "FLX-DP-SENSITIVE", "FLX-DP-MINIMISE", "FLX-DP-RISK-COUNTRY", "FLX-DP-REVIEW"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rulesWith(t, tc.rules)
			doc := caseWith(t, func(m map[string]any) { tc.mutate(t, m) })
			d, out := apply(t, r, doc, "case.create", tc.dst)
			var ids []string
			for _, f := range d.Fired {
				ids = append(ids, f.RuleID)
			}
			if d.Effect != tc.effect || !slices.Equal(ids, tc.fired) {
				t.Fatalf("got %s\nwant %s with %v", describe(d), tc.effect, tc.fired)
			}
			if tc.redactions != nil && !slices.Equal(d.Redactions, tc.redactions) {
				t.Errorf("redactions %v, want %v", d.Redactions, tc.redactions)
			}
			if (d.Effect == Deny) != (out == nil) {
				t.Errorf("output present = %v for %s", out != nil, d.Effect)
			}
			if out != nil {
				if err := schema.Validate(schema.KindCase, out); err != nil {
					t.Errorf("output does not validate: %v", err)
				}
				if bytes.Contains(out, []byte("7 Hidden Street")) {
					t.Error("the refusing person's address left the node")
				}
			}
		})
	}
}

func TestEffectPrecedence(t *testing.T) {
	rule := func(id, effect string) string {
		s := fmt.Sprintf("  - id: %s\n    when: 'true'\n    effect: %s\n    reason: r\n", id, effect)
		if effect == RuleRedact {
			s += "    redact: [/notes]\n"
		}
		return s
	}
	tests := []struct {
		effects []string
		want    Effect
	}{
		{nil, Allow},
		{[]string{RuleRedact}, AllowWithRedactions},
		{[]string{RuleRedact, RuleNeedsReview}, NeedsReview},
		{[]string{RuleNeedsReview, RuleRedact, RuleDeny}, Deny},
		{[]string{RuleDeny, RuleNeedsReview}, Deny},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.effects), func(t *testing.T) {
			var rs string
			for i, e := range tc.effects {
				rs += rule(fmt.Sprintf("XA-R%d", i), e)
			}
			extra := permissive
			if rs != "" {
				extra += "custom:\n" + rs
			}
			d, out := apply(t, rulesWith(t, extra), caseWith(t, nil), "case.create", dstXB)
			if d.Effect != tc.want {
				t.Errorf("effect %s, want %s", d.Effect, tc.want)
			}
			if (out == nil) != (tc.want == Deny) {
				t.Errorf("output %v for %s", out != nil, d.Effect)
			}
		})
	}
}

func TestApproveReject(t *testing.T) {
	r := rulesWith(t, "risk:\n  countries: [XB]\n")
	d := New(r).Evaluate(context.Background(), caseWith(t, nil), "case.create", dstXB, testNow, facts(caseWith(t, nil))...)
	if d.Effect != NeedsReview || len(d.Redactions) == 0 {
		t.Fatalf("setup: %s", describe(d))
	}
	at := testNow.Add(time.Hour)
	ok, err := d.Approve("operator-1", at, "Checked with the family")
	if err != nil || ok.Effect != AllowWithRedactions || ok.Review == nil || !ok.Review.Approved || ok.Review.By != "operator-1" {
		t.Fatalf("approve: %+v %v", ok, err)
	}
	if d.Effect != NeedsReview {
		t.Error("Approve changed the original decision")
	}
	no, err := d.Reject("operator-2", at, "")
	if err != nil || no.Effect != Deny || no.Review.Approved {
		t.Fatalf("reject: %+v %v", no, err)
	}
	if _, err := ok.Approve("x", at, ""); err == nil {
		t.Error("approving an allow decision must fail")
	}
	if _, err := d.Approve("", at, ""); err == nil {
		t.Error("approval without an operator must fail")
	}
}

func TestFailClosedOnBadInput(t *testing.T) {
	r := sampleRules(t)
	tests := []struct {
		name, kind, doc, want string
	}{
		{"not JSON", "case.create", `{"schema":`, "not a JSON object"},
		{"not an object", "case.create", `[1,2]`, "not a JSON object"},
		{"trailing data", "case.create", baseCase + ` {}`, "trailing data"},
		{"unknown kind", "case.delete", baseCase, "unknown envelope kind"},
		{"kind and document disagree", "message.deliver", baseCase, "does not validate"},
		{"invalid case", "case.create", `{"schema":"flx/v1/case","case_id":"XA-RC:1","version":1,"type":"tracing_request","status":"open","purpose":"tracing","persons":[]}`, "does not validate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, out := apply(t, r, []byte(tc.doc), tc.kind, dstXB)
			if d.Effect != Deny || out != nil || !strings.Contains(d.Error, tc.want) || len(d.Fired) != 1 || d.Fired[0].RuleID != ruleInput {
				t.Errorf("got %s (error %q)", describe(d), d.Error)
			}
			if d.PolicyHash != r.Hash || d.PolicyVersion != r.Version() {
				t.Error("a failed evaluation must still name the policy")
			}
		})
	}
}

// A redaction that would leave an invalid document denies instead.
func TestInvalidOutputDenies(t *testing.T) {
	r := customRules(t, "  - id: XA-NAMES\n    when: 'true'\n    effect: redact\n    redact: [/persons/*/names/*/value]\n    reason: r\n")
	d, out := apply(t, r, caseWith(t, nil), "case.create", dstXB)
	if d.Effect != Deny || out != nil {
		t.Fatalf("got %s", describe(d))
	}
	if f := d.Fired[len(d.Fired)-1]; f.RuleID != ruleOutput || !strings.Contains(f.Reason, "no longer validates") {
		t.Errorf("last fired %+v", f)
	}
}

func TestDecisionJSON(t *testing.T) {
	d, _ := apply(t, sampleRules(t), caseWith(t, nil), "case.update", dstXB)
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"effect":"allow_with_redactions"`, `"kind":"case.update"`, `"case_id":"XA-RC:T-1"`, `"case_version":2`,
		`"destination":"XB-RC"`, `"redactions":["/notes"]`, `"rule_id":"FLX-DP-MINIMISE"`, `"policy_version":"2025-06-sample-1"`,
		`"policy_hash":"sha256:`, `"evaluated_at":"2025-06-01T12:00:00Z"`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("JSON lacks %s: %s", k, b)
		}
	}
	var back Decision
	if err := json.Unmarshal(b, &back); err != nil || back.Effect != d.Effect || !slices.Equal(back.Redactions, d.Redactions) {
		t.Errorf("round trip: %+v %v", back, err)
	}
	allow, _ := apply(t, rulesWith(t, permissive), caseWith(t, nil), "case.create", dstXB)
	b, _ = json.Marshal(allow)
	if !strings.Contains(string(b), `"redactions":[]`) || !strings.Contains(string(b), `"fired":[]`) {
		t.Errorf("empty lists must be [] not null: %s", b)
	}
}

func TestEvaluateIsApplyWithoutBytes(t *testing.T) {
	e := New(sampleRules(t))
	for _, ex := range schema.Examples() {
		kind := envelopeFor(ex)
		a, _ := e.Apply(context.Background(), ex.Doc, kind, dstXB, testNow, facts(ex.Doc)...)
		b := e.Evaluate(context.Background(), ex.Doc, kind, dstXB, testNow, facts(ex.Doc)...)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s: Evaluate and Apply disagree", ex.Name)
		}
	}
}

func envelopeFor(ex schema.Example) string {
	switch ex.Kind {
	case schema.KindCase:
		return "case.create"
	case schema.KindResponse:
		return "case.response"
	case schema.KindMessage:
		return "message.deliver"
	default:
		return "case.withdraw"
	}
}

// checkNoTrace asserts the redaction property: every string (4 bytes or
// longer) under a redacted pointer is absent from the output bytes, unless
// the same text is still present, legitimately, in a part of the document
// that was not redacted.
func checkNoTrace(t *testing.T, label string, in []byte, d Decision, out []byte) {
	t.Helper()
	if out == nil || len(d.Redactions) == 0 {
		return
	}
	inDoc := decodeMap(t, string(in))
	// kept: every key and string of the input outside the redacted
	// subtrees, computed independently of the redaction code.
	var kept []string
	under := func(path string) bool {
		for _, r := range d.Redactions {
			if path == r || strings.HasPrefix(path, r+"/") {
				return true
			}
		}
		return false
	}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		if under(path) {
			return
		}
		switch x := v.(type) {
		case string:
			kept = append(kept, x)
		case map[string]any:
			for k, e := range x {
				kept = append(kept, k)
				walk(e, path+"/"+pointer{k}.String()[1:])
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s/%d", path, i))
			}
		}
	}
	walk(inDoc, "")
	for _, ps := range d.Redactions {
		p, err := parsePointer(ps)
		if err != nil {
			t.Fatalf("%s: bad pointer %q", label, ps)
		}
		v, ok := lookup(inDoc, p)
		if !ok {
			t.Fatalf("%s: redaction %s is not in the input", label, ps)
		}
		for _, s := range leafStrings(v, nil) {
			if len(s) < 4 {
				continue
			}
			legit := false
			for _, k := range kept {
				if strings.Contains(k, s) {
					legit = true
					break
				}
			}
			if legit {
				continue
			}
			enc, _ := json.Marshal(s)
			raw := bytes.Trim(enc, `"`)
			if bytes.Contains(out, raw) || bytes.Contains(out, []byte(s)) {
				t.Errorf("%s: redacted value %q (under %s) is still in the output", label, s, ps)
			}
		}
	}
}

func TestRedactionLeavesNoTraceExamples(t *testing.T) {
	rulesets := map[string]*Rules{"sample": sampleRules(t)}
	if r, err := Default("XA-RC", "XA"); err == nil {
		rulesets["default"] = r
	}
	for rn, r := range rulesets {
		e := New(r)
		for _, ex := range schema.Examples() {
			for _, dst := range []Destination{dstXB, dstXC, dstXD, dstCTA, dstDel, dstAuth} {
				d, out := e.Apply(context.Background(), ex.Doc, envelopeFor(ex), dst, testNow, facts(ex.Doc)...)
				label := fmt.Sprintf("%s/%s->%s", rn, ex.Name, dst.Member)
				checkNoTrace(t, label, ex.Doc, d, out)
				if out != nil {
					if err := schema.Validate(ex.Kind, out); err != nil {
						t.Errorf("%s: output does not validate: %v", label, err)
					}
				}
			}
		}
	}
}

// TestRedactionLeavesNoTraceRandom runs the property over random, valid case
// documents whose every string is a unique random token, so a leaked value
// cannot hide behind a legitimate copy.
func TestRedactionLeavesNoTraceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rulesets := []*Rules{sampleRules(t), rulesWith(t, ""), rulesWith(t, permissive)}
	dsts := []Destination{dstXB, dstXC, dstXD, dstCTA, dstDel, dstAuth}
	n := 400
	if testing.Short() {
		n = 50
	}
	var redacted int
	for i := 0; i < n; i++ {
		doc := randomCase(rng)
		if err := schema.Validate(schema.KindCase, doc); err != nil {
			t.Fatalf("generator produced an invalid case: %v\n%s", err, doc)
		}
		r := rulesets[rng.IntN(len(rulesets))]
		dst := dsts[rng.IntN(len(dsts))]
		d, out := New(r).Apply(context.Background(), doc, "case.update", dst, testNow, facts(doc)...)
		if d.Error != "" {
			t.Fatalf("evaluation error on a valid case: %s\n%s", describe(d), doc)
		}
		if len(d.Redactions) > 0 && out != nil {
			redacted++
		}
		checkNoTrace(t, fmt.Sprintf("random #%d -> %s", i, dst.Member), doc, d, out)
	}
	if redacted < n/10 {
		t.Errorf("only %d of %d random cases had redactions: the property is not exercised", redacted, n)
	}
}

// randomCase builds a valid, varied schema v1 case with unique tokens.
func randomCase(rng *rand.Rand) []byte {
	tok := func() string { return fmt.Sprintf("Tok%08x", rng.Uint32()) }
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	subset := func(l []string) []any {
		var out []any
		for _, s := range l {
			if rng.IntN(3) == 0 {
				out = append(out, s)
			}
		}
		return out
	}
	countries := []string{"XA", "XB", "XC", "XD"}
	place := func() map[string]any {
		p := map[string]any{"country": pick(countries), "locality": tok(), "address_line": tok() + " street"}
		if rng.IntN(2) == 0 {
			p["geo"] = map[string]any{"lat": json.Number(fmt.Sprintf("%d.%d", rng.IntN(80), rng.IntN(1000))), "lon": json.Number(fmt.Sprintf("%d.%d", rng.IntN(170), rng.IntN(1000)))}
		}
		return p
	}
	n := 1 + rng.IntN(4)
	var persons []any
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("p%d", i+1)
		ids = append(ids, id)
		p := map[string]any{"id": id}
		p["roles"] = append([]any{pick([]string{"enquirer", "sought_person", "family_member", "caregiver"})}, subset([]string{"guardian"})...)
		if i == 0 {
			p["roles"] = []any{"enquirer"}
		}
		p["names"] = []any{map[string]any{"value": tok() + " " + tok(), "part": "full"}}
		if rng.IntN(2) == 0 {
			p["birth_date"] = fmt.Sprintf("%d", 1940+rng.IntN(70))
		} else {
			p["age"] = map[string]any{"min": json.Number(fmt.Sprint(10 + rng.IntN(50))), "max": json.Number(fmt.Sprint(60 + rng.IntN(30)))}
		}
		if rng.IntN(2) == 0 {
			p["address"] = place()
		}
		if rng.IntN(2) == 0 {
			p["contact"] = map[string]any{"phones": []any{fmt.Sprintf("+999 %08d", rng.IntN(100000000))}, "emails": []any{tok() + "@example.org"}}
		}
		if rng.IntN(2) == 0 {
			p["last_known_location"] = map[string]any{"place": place(), "date": "2023-05"}
		}
		if rng.IntN(3) == 0 {
			p["photo"] = map[string]any{"sha256": fmt.Sprintf("%064x", rng.Uint64()), "media_type": "image/jpeg", "uri": "https://media.flx.invalid/" + tok()}
		}
		if v := subset([]string{"unaccompanied_minor", "separated_child", "minor", "elderly_alone", "woman_at_risk", "foreigner_without_representation", "disability"}); len(v) > 0 && rng.IntN(3) == 0 {
			p["vulnerabilities"] = v
		}
		if rng.IntN(2) == 0 {
			s := map[string]any{}
			for _, c := range subset(sensitiveCats) {
				s[c.(string)] = tok() + " sensitive"
			}
			if len(s) > 0 {
				p["sensitive"] = s
			}
		}
		p["contact_preference"] = pick([]string{"not_asked", "agreed", "refused"})
		if rng.IntN(3) == 0 {
			p["feared_countries"] = []any{pick(countries)}
		}
		persons = append(persons, p)
	}
	c := map[string]any{
		"schema": "flx/v1/case", "case_id": "XA-RC:" + tok(), "version": json.Number(fmt.Sprint(1 + rng.IntN(5))),
		"type":    pick(caseTypes),
		"status":  pick([]string{"open", "tracing_in_progress", "located_pending_consent", "located_declined_contact", "located_contact_restored"}),
		"origin":  map[string]any{"member": "XA-RC", "created_at": "2024-01-10T09:00:00Z", "local_ref": tok()},
		"purpose": pick([]string{"tracing", "family_reunification", "family_news", "child_protection", "tracing", "genealogy"}),
		"persons": persons,
	}
	switch rng.IntN(3) {
	case 0:
		c["legal_basis"] = map[string]any{"type": "consent"}
	case 1:
		c["legal_basis"] = map[string]any{"type": "vital_interest", "justification": tok(), "documented_by": tok(), "documented_at": "2024-01-10T09:00:00Z"}
	case 2:
		c["legal_basis"] = map[string]any{"type": "humanitarian_mandate", "justification": tok(), "documented_by": tok(), "documented_at": "2024-01-10T09:00:00Z", "applies_to": []any{pick(ids)}}
	}
	cs := []any{map[string]any{"id": "c-e", "given_by": "p1", "capacity": "self", "given_at": "2024-01-10T09:00:00Z",
		"scope": map[string]any{"uses": []any{"tracing", "transfer"}}}}
	for i := 0; i < rng.IntN(3); i++ {
		cons := map[string]any{"id": fmt.Sprintf("c-%d", i), "given_by": pick(ids), "capacity": pick([]string{"self", "guardian"}), "given_at": "2024-01-10T09:00:00Z",
			"scope": map[string]any{"uses": append([]any{"tracing"}, subset([]string{"transfer", "family_news"})...)}}
		if rng.IntN(3) == 0 {
			cons["scope"].(map[string]any)["members"] = []any{pick([]string{"XB-RC", "XC-RC", "ICRC-CTA"})}
		}
		if rng.IntN(4) == 0 {
			cons["withdrawn_at"] = "2025-01-01T00:00:00Z"
		}
		cs = append(cs, cons)
	}
	if len(cs) > 0 {
		c["consents"] = cs
	}
	if rng.IntN(3) > 0 {
		c["retention_until"] = fmt.Sprintf("%d-01-01", 2024+rng.IntN(30))
	}
	if len(ids) > 1 {
		c["relationships"] = []any{map[string]any{"from": ids[0], "to": ids[1], "type": "sibling", "verified": rng.IntN(2) == 0}}
	}
	if rng.IntN(3) == 0 {
		c["detention"] = map[string]any{"place": place(), "authority": tok(), "status": "interned", "notification_agreed": rng.IntN(4) > 0}
	}
	if rng.IntN(3) == 0 {
		c["separation"] = map[string]any{"place": place(), "cause": "conflict", "date": "2023"}
	}
	if rng.IntN(3) == 0 {
		c["risk"] = map[string]any{"feared_countries": []any{pick(countries)}, "notes": tok() + " risk"}
	}
	if rng.IntN(2) == 0 {
		c["notes"] = []any{map[string]any{"text": tok() + " note"}}
	}
	if rng.IntN(3) == 0 {
		c["best_interest_assessment"] = map[string]any{"done_at": "2024-01-11T09:00:00Z", "outcome": tok()}
	}
	if m := subset(append(append([]string(nil), sensitiveCats...), "detention_details")); len(m) > 0 {
		c["sensitivity"] = m
	}
	b, _ := json.Marshal(c)
	return b
}

func TestConcurrentUse(t *testing.T) {
	// One Engine serves every request of a node at once: concurrent
	// evaluations must give exactly what a lone evaluation gives.
	e := New(sampleRules(t))
	exs := schema.Examples()
	type result struct {
		d   Decision
		out []byte
	}
	want := make([]result, len(exs))
	for i, ex := range exs {
		d, out := e.Apply(context.Background(), ex.Doc, envelopeFor(ex), dstXB, testNow, facts(ex.Doc)...)
		want[i] = result{d, out}
	}
	const workers = 4
	errs := make(chan error, workers)
	for g := 0; g < workers; g++ {
		go func(g int) {
			for k := range exs {
				i := (k + g*len(exs)/workers) % len(exs) // each worker starts elsewhere
				d, out := e.Apply(context.Background(), exs[i].Doc, envelopeFor(exs[i]), dstXB, testNow, facts(exs[i].Doc)...)
				if d.Effect != want[i].d.Effect || !bytes.Equal(out, want[i].out) || !reflect.DeepEqual(d.Redactions, want[i].d.Redactions) {
					errs <- fmt.Errorf("worker %d, example %s: effect %s (alone %s), %d redactions (alone %d), output equal %t",
						g, exs[i].Name, d.Effect, want[i].d.Effect, len(d.Redactions), len(want[i].d.Redactions), bytes.Equal(out, want[i].out))
					return
				}
			}
			errs <- nil
		}(g)
	}
	for g := 0; g < workers; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
