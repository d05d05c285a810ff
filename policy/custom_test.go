package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func customRules(t testing.TB, rules string) *Rules {
	t.Helper()
	return rulesWith(t, permissive+"custom:\n"+rules)
}

func TestCustomRules(t *testing.T) {
	tests := []struct {
		name   string
		rule   string
		kind   string
		doc    []byte
		fires  bool
		effect string
		ptrs   []string
	}{
		{name: "deny on a case field", fires: true, effect: RuleDeny,
			rule: `  - {id: XA-T, when: 'case.type == "tracing_request" && destination.country == "XB"', effect: deny, reason: r}`},
		{name: "false does not fire", fires: false,
			rule: `  - {id: XA-T, when: 'destination.role == "coordinator"', effect: deny, reason: r}`},
		{name: "needs review", fires: true, effect: RuleNeedsReview,
			rule: `  - {id: XA-T, when: 'case.persons.exists(p, has(p.photo))', effect: needs_review, reason: r}`},
		{name: "source and numbers", fires: true, effect: RuleDeny,
			rule: `  - {id: XA-T, when: 'source.member == "XA-RC" && case.version >= 2 && case.version < 2.5', effect: deny, reason: r}`},
		{name: "time", fires: true, effect: RuleDeny,
			rule: `  - {id: XA-T, when: 'now - timestamp(case.origin.created_at) > duration("8760h")', effect: deny, reason: r}`},
		{name: "destination accepts and active", fires: true, effect: RuleDeny,
			rule: `  - {id: XA-T, when: 'destination.active && "case.create" in destination.accepts && kind == "case.create"', effect: deny, reason: r}`},
		{name: "string extension", fires: true, effect: RuleDeny,
			rule: `  - {id: XA-T, when: 'case.persons.exists(p, has(p.names) && p.names.exists(n, n.value.lowerAscii().contains("sampleyan")))', effect: deny, reason: r}`},
		{name: "redact with wildcard", fires: true, effect: RuleRedact, ptrs: []string{"/persons/0/contact", "/persons/1/contact", "/persons/1/photo"},
			rule: "  - id: XA-T\n    when: 'true'\n    effect: redact\n    redact: [/persons/*/contact, /persons/*/photo, /death]\n    reason: r"},
		{name: "redact nothing present does not fire", fires: false,
			rule: "  - id: XA-T\n    when: 'true'\n    effect: redact\n    redact: [/death, /persons/*/sensitive]\n    reason: r"},
		{name: "kind filter excludes", fires: false,
			rule: "  - id: XA-T\n    kinds: [message.deliver]\n    when: 'true'\n    effect: deny\n    reason: r"},
		{name: "on a message", fires: true, effect: RuleDeny, kind: "message.deliver",
			doc:  []byte(`{"schema":"flx/v1/message","message_id":"XA-RC:m-1","case_id":"XA-RC:T-1","kind":"family_news","channel":"rcm","created_at":"2025-05-01T00:00:00Z","body":"We are well."}`),
			rule: "  - id: XA-T\n    kinds: [message.deliver]\n    when: 'case.kind == \"family_news\"'\n    effect: deny\n    reason: r"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := customRules(t, tc.rule)
			kind, doc := tc.kind, tc.doc
			if kind == "" {
				kind = "case.create"
			}
			if doc == nil {
				doc = caseWith(t, nil)
			}
			d, _ := apply(t, r, doc, kind, dstXB)
			if d.Error != "" {
				t.Fatalf("evaluation error: %s", describe(d))
			}
			f, ok := firedRule(d, "XA-T")
			if ok != tc.fires {
				t.Fatalf("fired = %v, want %v: %s", ok, tc.fires, describe(d))
			}
			if !ok {
				return
			}
			if f.Effect != tc.effect || f.Reason != "r" {
				t.Errorf("fired %+v", f)
			}
			if tc.ptrs != nil && !slices.Equal(f.Pointers, tc.ptrs) {
				t.Errorf("pointers %v, want %v", f.Pointers, tc.ptrs)
			}
		})
	}
}

// Evaluation errors fail closed: deny, with the error as the reason.
func TestCustomRuleErrorsFailClosed(t *testing.T) {
	skipUnderRace(t) // the cost-limit case: 3 s of CPU under -race, 0.2 s without
	var big []string
	for i := 0; i < 100; i++ {
		big = append(big, fmt.Sprint(i))
	}
	l := "[" + strings.Join(big, ",") + "]"
	tests := []struct {
		name, when, want string
	}{
		{"absent field", `case.detention.place.country == "XD"`, "no such key"},
		{"cost limit", l + `.all(a, ` + l + `.all(b, ` + l + `.all(c, a + b + c >= 0)))`, "cost limit"},
		{"type error at run time", `case.persons[0].names[0].value > 3`, "no such overload"},
		{"index out of range", `case.persons[7].id == "x"`, "index"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := customRules(t, "  - {id: XA-ERR, when: '"+tc.when+"', effect: needs_review, reason: r}")
			d, out := apply(t, r, caseWith(t, nil), "case.create", dstXB)
			if d.Effect != Deny || out != nil {
				t.Fatalf("want deny without output, got %s", describe(d))
			}
			f, ok := firedRule(d, "XA-ERR")
			if !ok || f.Effect != RuleDeny || !strings.Contains(f.Reason, tc.want) || !strings.Contains(d.Error, tc.want) {
				t.Errorf("want a deny naming %q, got %s (error %q)", tc.want, describe(d), d.Error)
			}
		})
	}
}

func TestCancelledContextDenies(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, out := New(sampleRules(t)).Apply(ctx, caseWith(t, nil), "case.create", dstXB, testNow, facts(caseWith(t, nil))...)
	if d.Effect != Deny || out != nil || d.Error == "" {
		t.Fatalf("cancelled context: %s", describe(d))
	}
}

func TestCustomWhenSeesUnredactedCaseAndLateRulesSeeRedactions(t *testing.T) {
	// A custom redaction of every whereabouts field makes the review rule
	// (which runs later) see no location data left, and the free-text rule
	// remove the note that repeats a redacted town.
	r := rulesWith(t, permissive+`review:
  conditions: [location_data]
custom:
  - id: XA-NO-WHEREABOUTS
    when: 'destination.country == "XD"'
    effect: redact
    redact: [/persons/*/address, /persons/*/contact, /persons/*/last_known_location]
    reason: Whereabouts never go to XD.
`)
	d, out := apply(t, r, caseWith(t, nil), "case.create", dstXD)
	f, ok := firedRule(d, "FLX-DP-FREE-TEXT")
	if _, review := firedRule(d, "FLX-DP-REVIEW"); review || !ok || !slices.Equal(f.Pointers, []string{"/notes"}) || d.Effect != AllowWithRedactions || out == nil {
		t.Fatalf("got %s", describe(d))
	}
	if d, _ := apply(t, r, caseWith(t, nil), "case.create", dstXB); d.Effect != NeedsReview {
		t.Fatalf("to XB the location stays and the review condition holds it: %s", describe(d))
	}
}
