package policy

import (
	"slices"
	"strings"
	"testing"
)

// ruleCase is one table entry: the rule under test fires (with effect and,
// if given, exactly these pointers and a reason containing reasonHas) or
// does not fire.
type ruleCase struct {
	name      string
	rules     string // extra YAML on top of the header; "" means permissive
	kind      string // default case.create
	dst       *Destination
	doc       func(t testing.TB) []byte // default: baseCase changed by mutate
	mutate    func(t testing.TB, m map[string]any)
	opts      []EvalOption
	fires     bool
	effect    string
	ptrs      []string
	reasonHas string
}

func runRuleCases(t *testing.T, id string, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			extra := tc.rules
			if extra == "" {
				extra = permissive
			}
			r := rulesWith(t, extra)
			kind := tc.kind
			if kind == "" {
				kind = "case.create"
			}
			dst := dstXB
			if tc.dst != nil {
				dst = *tc.dst
			}
			var doc []byte
			if tc.doc != nil {
				doc = tc.doc(t)
			} else {
				doc = caseWith(t, func(m map[string]any) {
					if tc.mutate != nil {
						tc.mutate(t, m)
					}
				})
			}
			d, out := apply(t, r, doc, kind, dst, tc.opts...)
			for _, f := range d.Fired {
				if f.RuleID == ruleInput || f.RuleID == ruleOutput || f.RuleID == ruleError {
					t.Fatalf("evaluation did not complete: %s", describe(d))
				}
			}
			f, fired := firedRule(d, id)
			if fired != tc.fires {
				t.Fatalf("%s fired = %v, want %v\n%s", id, fired, tc.fires, describe(d))
			}
			if !fired {
				return
			}
			if f.Effect != tc.effect {
				t.Errorf("effect = %s, want %s", f.Effect, tc.effect)
			}
			if tc.ptrs != nil && !slices.Equal(f.Pointers, tc.ptrs) {
				t.Errorf("pointers = %v, want %v", f.Pointers, tc.ptrs)
			}
			if tc.reasonHas != "" && !strings.Contains(f.Reason, tc.reasonHas) {
				t.Errorf("reason %q does not contain %q", f.Reason, tc.reasonHas)
			}
			if f.Reason == "" || strings.Contains(f.Reason, "\n") {
				t.Errorf("reason must be one non-empty line: %q", f.Reason)
			}
			if f.Effect == RuleDeny && (d.Effect != Deny || out != nil) {
				t.Errorf("a deny rule fired but the decision is %s (output %d bytes)", d.Effect, len(out))
			}
		})
	}
}

func dstp(d Destination) *Destination { return &d }

func TestBaseCaseFiresNothing(t *testing.T) {
	d, out := apply(t, rulesWith(t, permissive), caseWith(t, nil), "case.create", dstXB)
	if d.Effect != Allow || len(d.Fired) != 0 {
		t.Fatalf("base case: %s", describe(d))
	}
	if string(out) != string(caseWith(t, nil)) {
		t.Errorf("allow without redactions must return the input bytes unchanged")
	}
}

func TestStatsReportNeedsNoCase(t *testing.T) {
	doc := []byte(`{"schema":"flx/v1/stats_report","member":"XA-RC","country":"XA","period":"2025-04","revision":1,"threshold":5,"rounding":5,` +
		`"counts":{"rcm_collected":10,"rcm_transmitted":null,"rcm_distributed":0,"phone_calls":0,"video_messages":0,"tracing_opened":15,` +
		`"tracing_located":0,"tracing_closed":0,"people_registered":0,"people_reunited":0,"children_reunited":0}}`)
	r := rulesWith(t, "")
	cta := dstCTA
	cta.Accepts = append(allKinds[:len(allKinds):len(allKinds)], "stats.report")
	if d, out := apply(t, r, doc, "stats.report", cta); d.Effect != Allow || string(out) != string(doc) {
		t.Errorf("a statistics report to the coordinator: %s", describe(d))
	}
	if d, _ := apply(t, r, doc, "stats.report", dstCTA); d.Effect != Deny {
		t.Errorf("a statistics report to a member that does not accept them: %s", describe(d))
	}
	inactive := cta
	inactive.Active = false
	if d, _ := apply(t, r, doc, "stats.report", inactive); d.Effect != Deny {
		t.Errorf("a statistics report to an inactive member: %s", describe(d))
	}
}

func TestRuleDestination(t *testing.T) {
	inactive := dstXB
	inactive.Active = false
	noCases := dstXB
	noCases.Accepts = []string{"message.deliver"}
	unknown := Destination{Member: "XQ-RC"}
	runRuleCases(t, "FLX-DP-DESTINATION", []ruleCase{
		{name: "eligible", fires: false},
		{name: "suspended member", dst: &inactive, fires: true, effect: RuleDeny, reasonHas: "suspended"},
		{name: "does not accept the kind", dst: &noCases, fires: true, effect: RuleDeny, reasonHas: "does not accept case.create"},
		{name: "not in the manifest", dst: &unknown, fires: true, effect: RuleDeny, reasonHas: "not a known member"},
		{name: "role may not receive the case type", rules: permissive + "destinations:\n  roles:\n    society: [safe_and_well]\n",
			fires: true, effect: RuleDeny, reasonHas: "tracing_request cases"},
		{name: "member list overrides its role (deny)", rules: permissive + "destinations:\n  roles:\n    society: [tracing_request]\n  members:\n    XB-RC: [safe_and_well]\n",
			fires: true, effect: RuleDeny},
		{name: "member list overrides its role (allow)", rules: permissive + "destinations:\n  roles:\n    society: []\n  members:\n    XB-RC: [tracing_request]\n",
			fires: false},
		{name: "withdrawal checked too", kind: "case.withdraw", dst: &inactive,
			doc: func(t testing.TB) []byte {
				return []byte(`{"schema":"flx/v1/withdrawal","case_id":"XA-RC:T-1","reason":"case_closed","withdrawn_at":"2025-05-01T00:00:00Z"}`)
			}, fires: true, effect: RuleDeny},
	})
}

func TestRulePurpose(t *testing.T) {
	set := func(p string) func(testing.TB, map[string]any) {
		return func(_ testing.TB, m map[string]any) { m["purpose"] = p }
	}
	runRuleCases(t, "FLX-DP-PURPOSE", []ruleCase{
		{name: "tracing", fires: false},
		{name: "family reunification", mutate: set("family_reunification"), fires: false},
		{name: "law enforcement", mutate: set("law_enforcement"), fires: true, effect: RuleDeny, reasonHas: "not a Restoring Family Links purpose"},
		{name: "immigration enforcement", mutate: set("immigration_enforcement"), fires: true, effect: RuleDeny},
		{name: "genealogy", mutate: set("genealogy"), fires: true, effect: RuleDeny},
		{name: "inheritance", mutate: set("inheritance"), fires: true, effect: RuleDeny},
		{name: "unlisted purpose", mutate: set("market_research"), fires: true, effect: RuleDeny, reasonHas: "not on this Society's list"},
		{name: "purpose the Society added", rules: permissive + "purposes:\n  allowed: [tracing, market_research]\n",
			mutate: set("market_research"), fires: false},
	})
}

func TestRuleCurrentVersion(t *testing.T) {
	runRuleCases(t, "FLX-DP-CURRENT-VERSION", []ruleCase{
		{name: "current", fires: false},
		{name: "superseded false", mutate: func(_ testing.TB, m map[string]any) { m["superseded"] = false }, fires: false},
		{name: "superseded", mutate: func(_ testing.TB, m map[string]any) { m["superseded"] = true },
			fires: true, effect: RuleDeny, reasonHas: "superseded"},
		{name: "matches the stored version", opts: []EvalOption{CurrentVersion(2)}, fires: false},
		{name: "older than the stored version", opts: []EvalOption{CurrentVersion(3)},
			fires: true, effect: RuleDeny, reasonHas: "Version 2 is not the current version (3)"},
	})
}

func TestRuleRetention(t *testing.T) {
	until := func(s string) func(testing.TB, map[string]any) {
		return func(_ testing.TB, m map[string]any) { m["retention_until"] = s }
	}
	created := func(s string) func(testing.TB, map[string]any) {
		return func(_ testing.TB, m map[string]any) {
			delete(m, "retention_until")
			m["origin"].(map[string]any)["created_at"] = s
		}
	}
	runRuleCases(t, "FLX-DP-RETENTION", []ruleCase{
		{name: "retention in the future", fires: false},
		{name: "last day of retention", mutate: until("2025-06-01"), fires: false},
		{name: "retention ended", mutate: until("2025-05-31"), fires: true, effect: RuleDeny, reasonHas: "ended on 2025-05-31"},
		{name: "default period not over", mutate: created("2024-01-10T09:00:00Z"), fires: false},
		{name: "default period over", mutate: created("2000-01-01T00:00:00Z"), fires: true, effect: RuleDeny, reasonHas: "default 25y"},
		{name: "per case type period", rules: permissive + "retention:\n  by_case_type:\n    tracing_request: 1y\n",
			mutate: created("2024-01-10T09:00:00Z"), fires: true, effect: RuleDeny, reasonHas: "2025-01-10"},
	})
}

func TestRuleLegalBasis(t *testing.T) {
	basis := func(s string) func(testing.TB, map[string]any) {
		return func(t testing.TB, m map[string]any) { m["legal_basis"] = j(t, s) }
	}
	runRuleCases(t, "FLX-DP-LEGAL-BASIS", []ruleCase{
		{name: "consent with a valid consent", fires: false},
		{name: "missing", mutate: func(_ testing.TB, m map[string]any) { delete(m, "legal_basis") },
			fires: true, effect: RuleDeny, reasonHas: "No legal basis"},
		{name: "documented vital interest", mutate: basis(`{"type":"vital_interest","justification":"cannot be asked yet","documented_by":"RFL officer","documented_at":"2024-01-10T09:00:00Z"}`),
			fires: false},
		{name: "undocumented vital interest", mutate: basis(`{"type":"vital_interest","justification":"cannot be asked"}`),
			fires: true, effect: RuleDeny, reasonHas: "missing documented_by, documented_at"},
		{name: "undocumented but documentation not required", rules: permissive + "legal_basis:\n  require_documentation: false\n",
			mutate: basis(`{"type":"vital_interest"}`), fires: false},
		{name: "basis not accepted", mutate: basis(`{"type":"other_documented","justification":"x","documented_by":"y","documented_at":"2024-01-10T09:00:00Z"}`),
			fires: true, effect: RuleDeny, reasonHas: `"other_documented" is not accepted`},
		{name: "consent basis, every consent withdrawn", mutate: func(_ testing.TB, m map[string]any) {
			list(m["consents"])[0].(map[string]any)["withdrawn_at"] = "2025-01-01T00:00:00Z"
		}, fires: true, effect: RuleDeny, reasonHas: "no consent in force"},
		{name: "consent basis, the only consent dated in the future", mutate: func(_ testing.TB, m map[string]any) {
			list(m["consents"])[0].(map[string]any)["given_at"] = "2030-01-01T00:00:00Z"
		}, fires: true, effect: RuleDeny, reasonHas: "no consent in force"},
		{name: "consent basis, the only consent undated", mutate: func(_ testing.TB, m map[string]any) {
			delete(list(m["consents"])[0].(map[string]any), "given_at")
		}, fires: true, effect: RuleDeny, reasonHas: "no consent in force"},
		{name: "documented in the future", mutate: basis(`{"type":"vital_interest","justification":"j","documented_by":"b","documented_at":"2030-01-10T09:00:00Z"}`),
			fires: true, effect: RuleDeny, reasonHas: "dated in the future"},
	})
}

func TestRuleConsentWithdrawn(t *testing.T) {
	withdraw := func(at string) func(testing.TB, map[string]any) {
		return func(_ testing.TB, m map[string]any) {
			list(m["consents"])[0].(map[string]any)["withdrawn_at"] = at
		}
	}
	runRuleCases(t, "FLX-DP-CONSENT-WITHDRAWN", []ruleCase{
		{name: "consent in force", fires: false},
		{name: "withdrawn", mutate: withdraw("2025-05-01T00:00:00Z"), fires: true, effect: RuleDeny, reasonHas: "withdrawn for p1"},
		{name: "withdrawal dated in the future", mutate: withdraw("2030-01-01T00:00:00Z"), fires: false},
		{name: "case closed after withdrawal", mutate: func(_ testing.TB, m map[string]any) { m["status"] = "closed_withdrawn" },
			fires: true, effect: RuleDeny, reasonHas: "closed because consent was withdrawn"},
		{name: "consent on a child's behalf withdrawn, the guardian's own in force", mutate: func(t testing.TB, m map[string]any) {
			m["consents"] = append(list(m["consents"]), j(t, `{"id":"c-2","given_by":"p1","on_behalf_of":"p2","capacity":"guardian","withdrawn_at":"2025-01-01T00:00:00Z"}`))
		}, fires: true, effect: RuleDeny, reasonHas: "withdrawn for p2"},
		{name: "one consent withdrawn, a later one in force", mutate: func(t testing.TB, m map[string]any) {
			withdraw("2025-01-01T00:00:00Z")(t, m)
			m["consents"] = append(list(m["consents"]), j(t, `{"id":"c-2","given_by":"p1","scope":{"uses":["tracing","transfer"]},"given_at":"2025-02-01T00:00:00Z"}`))
		}, fires: false},
	})
}

func TestRuleConsentScope(t *testing.T) {
	scope := func(s string) func(testing.TB, map[string]any) {
		return func(t testing.TB, m map[string]any) { list(m["consents"])[0].(map[string]any)["scope"] = j(t, s) }
	}
	nm := permissive + "non_movement:\n  allow: true\ndestinations:\n  roles:\n    non_movement: [tracing_request]\n"
	runRuleCases(t, "FLX-DP-CONSENT-SCOPE", []ruleCase{
		{name: "unrestricted transfer consent", fires: false},
		{name: "transfer not among the uses", mutate: scope(`{"uses":["tracing"]}`),
			fires: true, effect: RuleDeny, reasonHas: `does not include the use "transfer"`},
		{name: "other members named", mutate: scope(`{"uses":["transfer"],"members":["XC-RC"]}`),
			fires: true, effect: RuleDeny, reasonHas: "names other members than XB-RC"},
		{name: "member named", mutate: scope(`{"uses":["transfer"],"members":["XB-RC"]}`), fires: false},
		{name: "member named wins over countries", mutate: scope(`{"uses":["transfer"],"members":["XB-RC"],"countries":["XC"]}`), fires: false},
		{name: "other country", mutate: scope(`{"uses":["transfer"],"countries":["XC"]}`),
			fires: true, effect: RuleDeny, reasonHas: "country XB"},
		{name: "other role", mutate: scope(`{"uses":["transfer"],"roles":["coordinator"]}`),
			fires: true, effect: RuleDeny, reasonHas: "role society"},
		{name: "coordinator role covered", dst: dstp(dstCTA), mutate: scope(`{"uses":["transfer"],"roles":["coordinator"]}`), fires: false},
		{name: "non-Movement not consented", rules: nm, dst: dstp(dstAuth), fires: true, effect: RuleDeny, reasonHas: "outside the Movement"},
		{name: "non-Movement consented", rules: nm, dst: dstp(dstAuth), mutate: scope(`{"uses":["transfer"],"non_movement":true}`), fires: false},
		{name: "purpose must be a use", rules: permissive + "consent:\n  purpose_in_uses: true\n",
			mutate: func(t testing.TB, m map[string]any) { m["purpose"] = "family_news" },
			fires:  true, effect: RuleDeny, reasonHas: `"family_news"`},
		{name: "enquirer gave no consent", mutate: func(_ testing.TB, m map[string]any) {
			list(m["consents"])[0].(map[string]any)["given_by"] = "p2"
		}, fires: true, effect: RuleDeny, reasonHas: "enquirer p1 has given no consent"},
		{name: "documented basis names the enquirer, who gave no consent", mutate: func(t testing.TB, m map[string]any) {
			m["legal_basis"] = j(t, `{"type":"vital_interest","justification":"j","documented_by":"b","documented_at":"2024-01-10T09:00:00Z","applies_to":["p1"]}`)
			delete(m, "consents")
		}, fires: false},
		{name: "a basis recorded for someone else does not cover an enquirer without consent", mutate: func(t testing.TB, m map[string]any) {
			m["legal_basis"] = j(t, `{"type":"vital_interest","justification":"j","documented_by":"b","documented_at":"2024-01-10T09:00:00Z","applies_to":["p2"]}`)
			delete(m, "consents")
		}, fires: true, effect: RuleDeny, reasonHas: "enquirer p1 has given no consent, and no documented basis names them"},
		{name: "a basis without applies_to does not cover an enquirer without consent", mutate: func(t testing.TB, m map[string]any) {
			m["legal_basis"] = j(t, `{"type":"vital_interest","justification":"j","documented_by":"b","documented_at":"2024-01-10T09:00:00Z"}`)
			delete(m, "consents")
		}, fires: true, effect: RuleDeny, reasonHas: "enquirer p1"},
		{name: "vital interest naming the enquirer does not widen their consent", mutate: func(t testing.TB, m map[string]any) {
			m["legal_basis"] = j(t, `{"type":"vital_interest","justification":"j","documented_by":"b","documented_at":"2024-01-10T09:00:00Z","applies_to":["p1"]}`)
			scope(`{"uses":["transfer"],"members":["XC-RC"]}`)(t, m)
		}, fires: true, effect: RuleDeny, reasonHas: "names other members than XB-RC"},
		{name: "consent dated in the future is not in force", mutate: func(_ testing.TB, m map[string]any) {
			list(m["consents"])[0].(map[string]any)["given_at"] = "2030-01-01T00:00:00Z"
		}, fires: true, effect: RuleDeny, reasonHas: "p1 has no consent in force"},
		{name: "documented basis without applies_to, enquirer's own consent still limits", mutate: func(t testing.TB, m map[string]any) {
			m["legal_basis"] = j(t, `{"type":"vital_interest","justification":"j","documented_by":"b","documented_at":"2024-01-10T09:00:00Z"}`)
			scope(`{"uses":["transfer"],"members":["XC-RC"]}`)(t, m)
		}, fires: true, effect: RuleDeny},
		{name: "consent given for a sought person limits too", mutate: func(t testing.TB, m map[string]any) {
			m["consents"] = append(list(m["consents"]), j(t, `{"id":"c-2","given_by":"p2","scope":{"uses":["transfer"],"members":["XC-RC"]},"given_at":"2024-01-10T09:00:00Z"}`))
		}, fires: true, effect: RuleDeny, reasonHas: "the consent for p2"},
		{name: "response back to the case's origin", kind: "case.response", dst: dstp(Destination{Member: "XA-RC", Country: "XA", Role: "society", Active: true, Accepts: allKinds}),
			doc: responseDoc(`"outcome":"not_found"`), opts: []EvalOption{WithCase(caseWith(t, func(m map[string]any) {
				list(m["consents"])[0].(map[string]any)["scope"] = map[string]any{"uses": []any{"transfer"}, "members": []any{"XC-RC"}}
			}))}, fires: false},
		{name: "response to another member honours the case's consent", kind: "case.response",
			doc: responseDoc(`"outcome":"not_found"`), opts: []EvalOption{WithCase(caseWith(t, func(m map[string]any) {
				list(m["consents"])[0].(map[string]any)["scope"] = map[string]any{"uses": []any{"transfer"}, "members": []any{"XC-RC"}}
			}))}, fires: true, effect: RuleDeny, reasonHas: "names other members than XB-RC"},
		{name: "message honours the case's consent", kind: "message.deliver",
			doc: messageDoc(`"kind":"family_news","channel":"rcm","body":"All well"`), opts: []EvalOption{WithCase(caseWith(t, func(m map[string]any) {
				list(m["consents"])[0].(map[string]any)["scope"] = map[string]any{"uses": []any{"transfer"}, "roles": []any{"coordinator"}}
			}))}, fires: true, effect: RuleDeny, reasonHas: "role society"},
	})
}

func TestRuleMinorGuardian(t *testing.T) {
	child := func(t testing.TB, m map[string]any) { personAt(m, 0)["birth_date"] = "2015-04-02" }
	runRuleCases(t, "FLX-DP-MINOR-GUARDIAN", []ruleCase{
		{name: "adults only", fires: false},
		{name: "child enquirer consenting alone", mutate: child, fires: true, effect: RuleDeny, reasonHas: "Person p1 is under 18"},
		{name: "partial birth year counts as youngest possible", mutate: func(_ testing.TB, m map[string]any) { personAt(m, 1)["birth_date"] = "2007" },
			fires: true, effect: RuleDeny, reasonHas: "p2"},
		{name: "turned 18 whatever the day", mutate: func(_ testing.TB, m map[string]any) { personAt(m, 1)["birth_date"] = "2006" }, fires: false},
		{name: "age range", mutate: func(t testing.TB, m map[string]any) {
			delete(personAt(m, 1), "birth_date")
			personAt(m, 1)["age"] = j(t, `{"min":10,"max":12}`)
		}, fires: true, effect: RuleDeny},
		{name: "age estimated long ago", mutate: func(t testing.TB, m map[string]any) {
			delete(personAt(m, 1), "birth_date")
			personAt(m, 1)["age"] = j(t, `{"min":16,"max":17,"as_of":"2020-01"}`)
		}, fires: false},
		{name: "flagged minor", mutate: func(t testing.TB, m map[string]any) { personAt(m, 1)["vulnerabilities"] = j(t, `["minor"]`) },
			fires: true, effect: RuleDeny},
		{name: "best-interest assessment", mutate: func(t testing.TB, m map[string]any) {
			child(t, m)
			m["best_interest_assessment"] = j(t, `{"done_at":"2024-01-11T09:00:00Z","by":"child protection officer"}`)
		}, fires: false},
		{name: "best-interest assessment not enough by rule", rules: permissive + "minors:\n  best_interest_assessment_suffices: false\n",
			mutate: func(t testing.TB, m map[string]any) {
				child(t, m)
				m["best_interest_assessment"] = j(t, `{"done_at":"2024-01-11T09:00:00Z"}`)
			}, fires: true, effect: RuleDeny},
		{name: "guardian consent on behalf", mutate: func(t testing.TB, m map[string]any) {
			child(t, m)
			m["consents"] = append(list(m["consents"]), j(t, `{"id":"c-2","given_by":"p2","on_behalf_of":"p1","capacity":"guardian","scope":{"uses":["transfer"]},"given_at":"2024-01-10T09:00:00Z"}`))
		}, fires: false},
		{name: "guardian consent dated in the future", mutate: func(t testing.TB, m map[string]any) {
			child(t, m)
			m["consents"] = append(list(m["consents"]), j(t, `{"id":"c-2","given_by":"p2","on_behalf_of":"p1","capacity":"guardian","scope":{"uses":["transfer"]},"given_at":"2030-01-10T09:00:00Z"}`))
		}, fires: true, effect: RuleDeny},
		{name: "age unknown: held for review", mutate: func(_ testing.TB, m map[string]any) { delete(personAt(m, 1), "birth_date") },
			fires: true, effect: RuleNeedsReview, reasonHas: "age of p2 is not recorded"},
		{name: "best-interest assessment dated in the future", mutate: func(t testing.TB, m map[string]any) {
			child(t, m)
			m["best_interest_assessment"] = j(t, `{"done_at":"2030-01-11T09:00:00Z"}`)
		}, fires: true, effect: RuleDeny},
		{name: "consent by the recorded guardian", mutate: func(t testing.TB, m map[string]any) {
			child(t, m)
			personAt(m, 0)["guardian"] = "p2"
			m["consents"] = append(list(m["consents"]), j(t, `{"id":"c-2","given_by":"p2","scope":{"uses":["transfer"]},"given_at":"2024-01-10T09:00:00Z"}`))
		}, fires: false},
		{name: "withdrawn guardian consent", mutate: func(t testing.TB, m map[string]any) {
			child(t, m)
			m["consents"] = append(list(m["consents"]), j(t, `{"id":"c-2","given_by":"p2","on_behalf_of":"p1","capacity":"guardian","withdrawn_at":"2025-01-01T00:00:00Z"}`))
		}, fires: true, effect: RuleDeny},
		{name: "documented basis names the child", mutate: func(t testing.TB, m map[string]any) {
			personAt(m, 1)["birth_date"] = "2016"
			m["legal_basis"] = j(t, `{"type":"vital_interest","justification":"j","documented_by":"b","documented_at":"2024-01-10T09:00:00Z","applies_to":["p2"]}`)
		}, fires: false},
		{name: "documented basis not enough by rule", rules: permissive + "minors:\n  documented_basis_suffices: false\n",
			mutate: func(t testing.TB, m map[string]any) {
				personAt(m, 1)["birth_date"] = "2016"
				m["legal_basis"] = j(t, `{"type":"vital_interest","justification":"j","documented_by":"b","documented_at":"2024-01-10T09:00:00Z","applies_to":["p2"]}`)
			}, fires: true, effect: RuleDeny},
		{name: "configured age", rules: permissive + "minors:\n  age: 12\n", mutate: func(_ testing.TB, m map[string]any) { personAt(m, 1)["birth_date"] = "2010" }, fires: false},
	})
}

func TestRuleNonMovement(t *testing.T) {
	allow := permissive + "non_movement:\n  allow: true\ndestinations:\n  roles:\n    non_movement: [tracing_request]\n"
	consentNM := func(t testing.TB, m map[string]any) {
		list(m["consents"])[0].(map[string]any)["scope"] = j(t, `{"uses":["transfer"],"non_movement":true}`)
	}
	riskNotes := func(t testing.TB, m map[string]any) {
		m["risk"] = j(t, `{"notes":"Risk assessed with the family on 2024-01-12"}`)
	}
	runRuleCases(t, "FLX-DP-NON-MOVEMENT", []ruleCase{
		{name: "Movement member", fires: false},
		{name: "switched off", dst: dstp(dstAuth), fires: true, effect: RuleDeny, reasonHas: "do not allow sending outside the Movement"},
		{name: "no consent or vital interest", rules: allow, dst: dstp(dstAuth), fires: true, effect: RuleDeny, reasonHas: "consent naming recipients outside"},
		{name: "consent but no risk assessment", rules: allow, dst: dstp(dstAuth), mutate: consentNM, fires: true, effect: RuleDeny, reasonHas: "risk assessment"},
		{name: "consent and risk assessment", rules: allow, dst: dstp(dstAuth), mutate: func(t testing.TB, m map[string]any) { consentNM(t, m); riskNotes(t, m) }, fires: false},
		{name: "vital interest and risk assessment", rules: allow, dst: dstp(dstAuth), mutate: func(t testing.TB, m map[string]any) {
			m["legal_basis"] = j(t, `{"type":"vital_interest","justification":"j","documented_by":"b","documented_at":"2024-01-10T09:00:00Z"}`)
			delete(m, "consents")
			riskNotes(t, m)
		}, fires: false},
		{name: "risk assessment not required by rule", rules: permissive + "non_movement:\n  allow: true\n  require_risk_assessment: false\ndestinations:\n  roles:\n    non_movement: [tracing_request]\n",
			dst: dstp(dstAuth), mutate: consentNM, fires: false},
		{name: "a message", rules: allow, dst: dstp(dstAuth), kind: "message.deliver",
			doc: messageDoc(`"kind":"family_news","channel":"rcm","body":"We are well."`), fires: true, effect: RuleDeny},
	})
}

func TestRuleRefusal(t *testing.T) {
	all := []string{"/notes", "/persons/1/address", "/persons/1/contact", "/persons/1/last_known_location", "/persons/1/photo"}
	refused := func(_ testing.TB, m map[string]any) { personAt(m, 1)["contact_preference"] = "refused" }
	refusedCase := []EvalOption{WithCase(caseWith(t, func(m map[string]any) { refused(t, m) }))}
	runRuleCases(t, "FLX-DP-REFUSAL", []ruleCase{
		{name: "not asked", fires: false},
		{name: "agreed", mutate: func(_ testing.TB, m map[string]any) { personAt(m, 1)["contact_preference"] = "agreed" }, fires: false},
		{name: "refused", mutate: refused, fires: true, effect: RuleRedact, ptrs: all, reasonHas: "Person p2 declined contact"},
		{name: "refused: place of birth and shared places too", mutate: func(t testing.TB, m map[string]any) {
			refused(t, m)
			personAt(m, 1)["place_of_birth"] = j(t, `{"country":"XB","locality":"Birthville"}`)
			m["separation"] = j(t, `{"place":{"locality":"Partington"},"cause":"conflict"}`)
		}, fires: true, effect: RuleRedact, ptrs: []string{"/notes", "/persons/1/address", "/persons/1/contact", "/persons/1/last_known_location",
			"/persons/1/photo", "/persons/1/place_of_birth", "/separation"}},
		{name: "case status declined", mutate: func(_ testing.TB, m map[string]any) { m["status"] = "located_declined_contact" },
			fires: true, effect: RuleRedact, ptrs: all},
		{name: "response declined", kind: "case.response",
			doc:   responseDoc(`"outcome":"declined_contact","location":{"country":"XB","locality":"Soughtown"},"contact":{"phones":["+999 555 2222"]},"message":"I am well but do not wish contact.","notes":[{"text":"He lives at the shelter"}]`),
			fires: true, effect: RuleRedact, ptrs: []string{"/contact", "/location", "/notes"}},
		{name: "response located", kind: "case.response", doc: responseDoc(`"outcome":"located","location":{"country":"XB"}`), fires: false},
		{name: "a response naming someone else is about everyone", kind: "case.response", opts: refusedCase,
			doc:   responseDoc(`"outcome":"located","sought_person":"p1","location":{"country":"XB","locality":"Soughtown"}`),
			fires: true, effect: RuleRedact, ptrs: []string{"/location"}},
		{name: "response located, but the case records the refusal", kind: "case.response", opts: refusedCase,
			doc:   responseDoc(`"outcome":"located","location":{"country":"XB","locality":"Soughtown"},"message":"Tell them I am fine."`),
			fires: true, effect: RuleRedact, ptrs: []string{"/location"}},
		{name: "message from the person who refused: their address", kind: "message.deliver", opts: refusedCase,
			doc:   messageDoc(`"kind":"red_cross_message","channel":"rcm","body":"I am fine.","from":{"person":"p2","member":"XC-RC","address":{"locality":"Soughtown"}}`),
			fires: true, effect: RuleRedact, ptrs: []string{"/from/address"}},
		{name: "message to the person who refused: their address", kind: "message.deliver", opts: refusedCase,
			doc:   messageDoc(`"kind":"red_cross_message","channel":"rcm","body":"We miss you.","from":{"person":"p1","member":"XA-RC"},"to":{"person":"p2","member":"XC-RC","address":{"locality":"Soughtown"}}`),
			fires: true, effect: RuleRedact, ptrs: []string{"/to/address"}},
		{name: "a recorded message of the person who refused", kind: "message.deliver", opts: refusedCase,
			doc:   messageDoc(`"kind":"video_message","channel":"video","from":{"person":"p2","member":"XC-RC"},` + `"media":{"sha256":"` + strings.Repeat("ab", 32) + `","media_type":"video/mp4","size_bytes":100,"duration_seconds":3}`),
			fires: true, effect: RuleDeny, reasonHas: "recorded message"},
		{name: "a recorded message to the person who refused", kind: "message.deliver", opts: refusedCase,
			doc:   messageDoc(`"kind":"video_message","channel":"video","from":{"person":"p1","member":"XA-RC"},"to":{"person":"p2","member":"XC-RC"},` + `"media":{"sha256":"` + strings.Repeat("ab", 32) + `","media_type":"video/mp4","size_bytes":100,"duration_seconds":3}`),
			fires: false},
	})
}

func TestRuleLocatedPending(t *testing.T) {
	pendingCase := []EvalOption{WithCase(caseWith(t, func(m map[string]any) { m["status"] = "located_pending_consent" }))}
	runRuleCases(t, "FLX-DP-LOCATED-PENDING", []ruleCase{
		{name: "tracing in progress", fires: false},
		{name: "located, not asked", mutate: func(_ testing.TB, m map[string]any) { m["status"] = "located_pending_consent" },
			fires: true, effect: RuleRedact, ptrs: []string{"/notes", "/persons/1/address", "/persons/1/contact", "/persons/1/last_known_location", "/persons/1/photo"}},
		{name: "located and agreed", mutate: func(_ testing.TB, m map[string]any) {
			m["status"] = "located_pending_consent"
			personAt(m, 1)["contact_preference"] = "agreed"
		}, fires: false},
		{name: "response", kind: "case.response",
			doc:   responseDoc(`"outcome":"located_pending_consent","location":{"country":"XB","locality":"Soughtown"},"message":"Probably him"`),
			fires: true, effect: RuleRedact, ptrs: []string{"/location", "/message"}},
		{name: "response says located while the case says not asked: review", kind: "case.response", opts: pendingCase,
			doc:   responseDoc(`"outcome":"located","location":{"country":"XB","locality":"Soughtown"}`),
			fires: true, effect: RuleNeedsReview, reasonHas: "not yet asked"},
		{name: "message from the person not yet asked: their address", kind: "message.deliver", opts: pendingCase,
			doc:   messageDoc(`"kind":"family_news","channel":"verbal","body":"Hello.","from":{"person":"p2","member":"XC-RC","address":{"locality":"Soughtown"}}`),
			fires: true, effect: RuleRedact, ptrs: []string{"/from/address"}},
		{name: "a recorded message of the person not yet asked", kind: "message.deliver", opts: pendingCase,
			doc:   messageDoc(`"kind":"voice_message","channel":"voice","from":{"person":"p2","member":"XC-RC"},` + `"media":{"sha256":"` + strings.Repeat("ab", 32) + `","media_type":"video/mp4","size_bytes":100,"duration_seconds":3}`),
			fires: true, effect: RuleDeny, reasonHas: "recorded message"},
	})
}

func TestRuleUAM(t *testing.T) {
	uam := func(t testing.TB, m map[string]any) {
		personAt(m, 1)["vulnerabilities"] = j(t, `["unaccompanied_minor"]`)
		personAt(m, 1)["birth_date"] = "2015"
		m["best_interest_assessment"] = j(t, `{"done_at":"2024-01-11T09:00:00Z"}`)
		m["persons"] = append(list(m["persons"]), j(t, `{"id":"p3","roles":["caregiver"],"names":[{"value":"Carla Keeperova"}],"address":{"country":"XB","locality":"Foster Street"}}`))
		m["relationships"] = j(t, `[{"from":"p1","to":"p2","type":"sister","verified":false},{"from":"p3","to":"p2","type":"caregiver","verified":true}]`)
	}
	want := []string{"/notes", "/persons/1/address", "/persons/1/contact", "/persons/1/last_known_location", "/persons/1/photo", "/persons/2/address", "/persons/2/names"}
	uamCase := []EvalOption{WithCase(caseWith(t, func(m map[string]any) { uam(t, m) }))}
	runRuleCases(t, "FLX-DP-UAM", []ruleCase{
		{name: "no unaccompanied child", fires: false},
		{name: "family not verified (caregiver link does not count)", mutate: uam, fires: true, effect: RuleRedact, ptrs: want, reasonHas: "p2"},
		{name: "family verified", mutate: func(t testing.TB, m map[string]any) {
			uam(t, m)
			list(m["relationships"])[0].(map[string]any)["verified"] = true
		}, fires: false},
		{name: "a verified link to someone other than the enquirer does not count", mutate: func(t testing.TB, m map[string]any) {
			uam(t, m)
			m["persons"] = append(list(m["persons"]), j(t, `{"id":"p4","roles":["family_member"],"names":[{"value":"Cousin Testov"}]}`))
			m["relationships"] = append(list(m["relationships"]), j(t, `{"from":"p4","to":"p2","type":"cousin","verified":true}`))
		}, fires: true, effect: RuleRedact, ptrs: want},
		{name: "a verified parent counts", mutate: func(t testing.TB, m map[string]any) {
			uam(t, m)
			m["persons"] = append(list(m["persons"]), j(t, `{"id":"p4","roles":["family_member"],"names":[{"value":"Mother Testova"}]}`))
			m["relationships"] = append(list(m["relationships"]), j(t, `{"from":"p4","to":"p2","type":"mother","verified":true}`))
		}, fires: false},
		{name: "carer by any name: a foster carer who is a family member", mutate: func(t testing.TB, m map[string]any) {
			uam(t, m)
			personAt(m, 2)["roles"] = j(t, `["family_member"]`)
			m["relationships"] = j(t, `[{"from":"p1","to":"p2","type":"sister","verified":false},{"from":"p3","to":"p2","type":"foster_carer","verified":true}]`)
		}, fires: true, effect: RuleRedact, ptrs: want},
		{name: "carer by the child's guardian field", mutate: func(t testing.TB, m map[string]any) {
			uam(t, m)
			personAt(m, 2)["roles"] = j(t, `["family_member"]`)
			personAt(m, 1)["guardian"] = "p3"
			m["relationships"] = j(t, `[{"from":"p1","to":"p2","type":"sister","verified":false}]`)
		}, fires: true, effect: RuleRedact, ptrs: []string{"/notes", "/persons/1/address", "/persons/1/contact", "/persons/1/guardian",
			"/persons/1/last_known_location", "/persons/1/photo", "/persons/2/address", "/persons/2/names"}},
		{name: "exempt coordinator", rules: permissive + "unaccompanied_minors:\n  exempt_roles: [coordinator]\n", dst: dstp(dstCTA), mutate: uam, fires: false},
		{name: "role unaccompanied_child", mutate: func(t testing.TB, m map[string]any) {
			uam(t, m)
			personAt(m, 1)["vulnerabilities"] = j(t, `[]`)
			personAt(m, 1)["roles"] = j(t, `["sought_person","unaccompanied_child"]`)
		}, fires: true, effect: RuleRedact, ptrs: want},
		{name: "message from the carer: their name and address", kind: "message.deliver", opts: uamCase,
			doc:   messageDoc(`"kind":"family_news","channel":"verbal","body":"The boy is well.","from":{"person":"p3","name":"Carla Keeperova","member":"XC-RC","address":{"locality":"Foster Street"}}`),
			fires: true, effect: RuleRedact, ptrs: []string{"/from/address", "/from/name"}},
		{name: "a recorded message of the child", kind: "message.deliver", opts: uamCase,
			doc: messageDoc(`"kind":"voice_message","channel":"voice","from":{"person":"p2","member":"XC-RC"},` +
				`"media":{"sha256":"` + strings.Repeat("ab", 32) + `","media_type":"audio/ogg","size_bytes":100,"duration_seconds":3}`),
			fires: true, effect: RuleDeny, reasonHas: "recorded message of the child"},
		{name: "response about the child", kind: "case.response", opts: uamCase,
			doc:   responseDoc(`"outcome":"located","location":{"locality":"Foster Street"},"message":"He is safe."`),
			fires: true, effect: RuleRedact, ptrs: []string{"/location"}},
	})
}

func TestRuleVulnerable(t *testing.T) {
	flag := func(f string) func(testing.TB, map[string]any) {
		return func(t testing.TB, m map[string]any) {
			personAt(m, 1)["vulnerabilities"] = j(t, `["`+f+`"]`)
			list(m["relationships"])[0].(map[string]any)["verified"] = false
		}
	}
	want := []string{"/notes", "/persons/1/address", "/persons/1/contact", "/persons/1/last_known_location", "/persons/1/photo"}
	runRuleCases(t, "FLX-DP-VULNERABLE", []ruleCase{
		{name: "none", fires: false},
		{name: "elderly alone, unverified", mutate: flag("elderly_alone"), fires: true, effect: RuleRedact, ptrs: want, reasonHas: "elderly_alone"},
		{name: "woman at risk", mutate: flag("woman_at_risk"), fires: true, effect: RuleRedact},
		{name: "foreigner without representation", mutate: flag("foreigner_without_representation"), fires: true, effect: RuleRedact},
		{name: "verified relationship", mutate: func(t testing.TB, m map[string]any) {
			flag("elderly_alone")(t, m)
			list(m["relationships"])[0].(map[string]any)["verified"] = true
		}, fires: false},
		{name: "a verified relationship with someone else does not count", mutate: func(t testing.TB, m map[string]any) {
			flag("elderly_alone")(t, m)
			m["persons"] = append(list(m["persons"]), j(t, `{"id":"p3","roles":["family_member"],"names":[{"value":"Neighbour Testov"}]}`))
			m["relationships"] = append(list(m["relationships"]), j(t, `{"from":"p3","to":"p2","type":"brother","verified":true}`))
		}, fires: true, effect: RuleRedact, ptrs: want},
		{name: "a minor without a verified link", mutate: func(_ testing.TB, m map[string]any) {
			personAt(m, 1)["birth_date"] = "2015"
			list(m["relationships"])[0].(map[string]any)["verified"] = false
		}, fires: true, effect: RuleRedact, ptrs: want, reasonHas: "minor"},
		{name: "minors not counted by rule", rules: permissive + "vulnerable:\n  minors: false\n", mutate: func(_ testing.TB, m map[string]any) {
			personAt(m, 1)["birth_date"] = "2015"
			list(m["relationships"])[0].(map[string]any)["verified"] = false
		}, fires: false},
		{name: "flag not configured", mutate: flag("disability"), fires: false},
		{name: "exempt member", rules: permissive + "vulnerable:\n  exempt_members: [XB-RC]\n", mutate: flag("elderly_alone"), fires: false},
	})
}

func TestRuleDetention(t *testing.T) {
	det := func(agreed bool, typ string) func(testing.TB, map[string]any) {
		return func(t testing.TB, m map[string]any) {
			m["type"] = typ
			personAt(m, 1)["roles"] = j(t, `["sought_person","detainee"]`)
			d := j(t, `{"place":{"country":"XC","description":"Holding facility 3"},"authority":"Invented Ministry","detained_since":"2024-03","status":"interned"}`).(map[string]any)
			d["notification_agreed"] = agreed
			m["detention"] = d
		}
	}
	agreedCase := []EvalOption{WithCase(caseWith(t, func(m map[string]any) { det(true, "detention_notification")(t, m) }))}
	notAgreedCase := []EvalOption{WithCase(caseWith(t, func(m map[string]any) { det(false, "detention_notification")(t, m) }))}
	runRuleCases(t, "FLX-DP-DETENTION", []ruleCase{
		{name: "no detention", fires: false},
		{name: "to a society, not agreed", mutate: det(false, "tracing_request"), fires: true, effect: RuleDeny, reasonHas: "has not agreed"},
		{name: "to a society, agreed: notice only", mutate: det(true, "tracing_request"), fires: true, effect: RuleRedact,
			ptrs: []string{"/detention/authority", "/detention/detained_since", "/detention/status", "/notes",
				"/persons/1/address", "/persons/1/contact", "/persons/1/last_known_location", "/persons/1/photo"}, reasonHas: "only the notice"},
		{name: "notification not agreed", mutate: det(false, "detention_notification"), fires: true, effect: RuleDeny, reasonHas: "has not agreed"},
		{name: "detention notification without its detention block", mutate: func(t testing.TB, m map[string]any) {
			det(true, "detention_notification")(t, m)
			delete(m, "detention")
		}, fires: true, effect: RuleDeny, reasonHas: "no detention block"},
		{name: "a detainee without a detention block", mutate: func(t testing.TB, m map[string]any) {
			personAt(m, 1)["vulnerabilities"] = j(t, `["detainee"]`)
		}, fires: true, effect: RuleDeny, reasonHas: "no detention block"},
		{name: "to the ICRC", dst: dstp(dstCTA), mutate: det(false, "detention_notification"), fires: false},
		{name: "member under an access arrangement", rules: permissive + "detention:\n  members: [XB-RC]\n", mutate: det(false, "detention_notification"), fires: false},
		{name: "message from a detainee who did not agree", kind: "message.deliver", opts: notAgreedCase,
			doc: messageDoc(`"kind":"red_cross_message","channel":"rcm","body":"I am alive."`), fires: true, effect: RuleDeny},
		{name: "message from a detainee who agreed: their address stays behind", kind: "message.deliver", opts: agreedCase,
			doc:   messageDoc(`"kind":"red_cross_message","channel":"rcm","body":"I am alive.","from":{"person":"p2","member":"XC-RC","address":{"description":"Holding facility 3"}}`),
			fires: true, effect: RuleRedact, ptrs: []string{"/from/address"}},
		{name: "message to the ICRC", kind: "message.deliver", opts: notAgreedCase, dst: dstp(dstCTA),
			doc: messageDoc(`"kind":"red_cross_message","channel":"rcm","body":"We are well.","from":{"person":"p1","member":"XA-RC"},"to":{"person":"p2","member":"ICRC-CTA"}`), fires: false},
	})
}

func TestRuleSensitive(t *testing.T) {
	sens := func(t testing.TB, m map[string]any) {
		personAt(m, 1)["sensitive"] = j(t, `{"health":"Needs daily insulin","religion":"Invented faith"}`)
	}
	marked := func(t testing.TB, m map[string]any) { sens(t, m); m["sensitivity"] = j(t, `["health","religion"]`) }
	healthOnly := openMinimise + "sensitive:\n  roles:\n    society: [health]\n"
	runRuleCases(t, "FLX-DP-SENSITIVE", []ruleCase{
		{name: "no sensitive data", rules: healthOnly, fires: false},
		{name: "strict default: none to anyone, markers and free text too", rules: openMinimise, mutate: marked,
			fires: true, effect: RuleRedact, ptrs: []string{"/notes", "/persons/1/sensitive", "/sensitivity/0", "/sensitivity/1"}},
		{name: "allowed but not marked necessary", rules: healthOnly, mutate: sens, fires: true, effect: RuleRedact, ptrs: []string{"/notes", "/persons/1/sensitive"}},
		{name: "allowed and marked: only the other category goes", rules: healthOnly, mutate: marked, fires: true, effect: RuleRedact,
			ptrs: []string{"/notes", "/persons/1/sensitive/religion", "/sensitivity/1"}, reasonHas: "religion"},
		{name: "all allowed and marked", rules: openMinimise + "sensitive:\n  roles:\n    society: [health, religion]\n", mutate: marked, fires: false},
		{name: "member list overrides role", rules: openMinimise + "sensitive:\n  roles:\n    society: [health, religion]\n  members:\n    XB-RC: []\n", mutate: marked,
			fires: true, effect: RuleRedact, ptrs: []string{"/notes", "/persons/1/sensitive", "/sensitivity/0", "/sensitivity/1"}},
		{name: "markers not required", rules: openMinimise + "sensitive:\n  require_marker: false\n  roles:\n    society: [health, religion]\n", mutate: sens, fires: false},
		{name: "health-revealing vulnerabilities", rules: openMinimise, mutate: func(t testing.TB, m map[string]any) {
			personAt(m, 1)["vulnerabilities"] = j(t, `["elderly_alone","medical_condition","disability"]`)
			list(m["relationships"])[0].(map[string]any)["verified"] = true
		}, fires: true, effect: RuleRedact, ptrs: []string{"/notes", "/persons/1/vulnerabilities/1", "/persons/1/vulnerabilities/2"}},
		{name: "cause of death is health", rules: openMinimise, mutate: func(t testing.TB, m map[string]any) {
			m["death"] = j(t, `{"date":"2024","cause":"Untreated diabetes"}`)
		}, fires: true, effect: RuleRedact, ptrs: []string{"/death/cause", "/notes"}},
		{name: "detention marker without agreement", rules: openMinimise, mutate: func(t testing.TB, m map[string]any) {
			m["sensitivity"] = j(t, `["detention_details"]`)
		}, fires: true, effect: RuleRedact, ptrs: []string{"/notes", "/sensitivity/0"}},
	})
}

func TestRuleMinimise(t *testing.T) {
	all := strings.Join(knownFields("case"), ", ")
	runRuleCases(t, "FLX-DP-MINIMISE", []ruleCase{
		{name: "everything allowed", fires: false},
		{name: "default list drops notes for a society", rules: " ", fires: true, effect: RuleRedact, ptrs: []string{"/notes"}},
		{name: "the coordinator has an allow-list too", rules: " ", dst: dstp(dstCTA), fires: true, effect: RuleRedact, ptrs: []string{"/notes"}},
		{name: "no entry matches: required fields only", rules: "minimise:\n  case:\n    - roles: [coordinator]\n      fields: [" + all + "]\n",
			fires: true, effect: RuleRedact, ptrs: []string{
				"/consents", "/legal_basis", "/notes",
				"/persons/0/address", "/persons/0/birth_date", "/persons/0/contact", "/persons/0/contact_preference", "/persons/0/names", "/persons/0/roles",
				"/persons/1/address", "/persons/1/birth_date", "/persons/1/contact", "/persons/1/contact_preference", "/persons/1/last_known_location",
				"/persons/1/names", "/persons/1/photo", "/persons/1/roles", "/relationships", "/retention_until"}, reasonHas: "only required fields"},
		{name: "per case type and member", rules: "minimise:\n  case:\n    - case_types: [tracing_request]\n      members: [XB-RC]\n      roles: [\"*\"]\n      fields: [" + all + "]\n      person_fields: [id, names, roles]\n",
			fires: true, effect: RuleRedact, ptrs: []string{
				"/persons/0/address", "/persons/0/birth_date", "/persons/0/contact", "/persons/0/contact_preference",
				"/persons/1/address", "/persons/1/birth_date", "/persons/1/contact", "/persons/1/contact_preference", "/persons/1/last_known_location", "/persons/1/photo"}},
		{name: "message allow-list keeps the body", kind: "message.deliver", rules: "minimise:\n  message:\n    - fields: [schema]\n",
			doc:   messageDoc(`"kind":"family_news","channel":"rcm","body":"We are well.","to":{"person":"p1","name":"Amira Testova","address":{"country":"XA","locality":"Enquirerville"}}`),
			fires: true, effect: RuleRedact, ptrs: []string{"/from", "/to"}},
		{name: "withdrawal: the note stays behind by default", kind: "case.withdraw", rules: " ",
			doc: func(t testing.TB) []byte {
				return []byte(`{"schema":"flx/v1/withdrawal","case_id":"XA-RC:T-1","reason":"consent_withdrawn","withdrawn_at":"2025-05-01T00:00:00Z","person_ids":["p1"],"note":"She called from the shelter on Hidden Street"}`)
			}, fires: true, effect: RuleRedact, ptrs: []string{"/note"}},
		{name: "withdrawal confirmation", kind: "case.withdraw", rules: " ",
			doc: func(t testing.TB) []byte {
				return []byte(`{"schema":"flx/v1/withdrawal","case_id":"XA-RC:T-1","reason":"consent_withdrawn","withdrawn_at":"2025-05-01T00:00:00Z","confirms":"jti-1","erased_at":"2025-05-01T00:01:00Z"}`)
			}, fires: false},
	})
}

func TestRuleRiskCountry(t *testing.T) {
	fears := func(t testing.TB, m map[string]any) { personAt(m, 1)["feared_countries"] = j(t, `["XD"]`) }
	bare := "minimise:\n  case:\n    - fields: [schema, case_id, version, type, status, origin, purpose, persons, legal_basis, consents, retention_until]\n      person_fields: [id]\n" +
		"  response:\n    - fields: [schema, case_id, responder, outcome, responded_at]\n"
	fearedCase := []EvalOption{WithCase(caseWith(t, func(m map[string]any) { fears(t, m) }))}
	runRuleCases(t, "FLX-DP-RISK-COUNTRY", []ruleCase{
		{name: "no risk country", dst: dstp(dstXD), fires: false},
		{name: "destination feared by a person: deny", dst: dstp(dstXD), mutate: fears, fires: true, effect: RuleDeny, reasonHas: "a person in this case fears"},
		{name: "feared by the case's risk assessment", dst: dstp(dstXD), mutate: func(t testing.TB, m map[string]any) { m["risk"] = j(t, `{"feared_countries":["XD"]}`) },
			fires: true, effect: RuleDeny},
		{name: "feared, configured to review", rules: permissive + "risk:\n  feared_action: needs_review\n", dst: dstp(dstXD), mutate: fears, fires: true, effect: RuleNeedsReview},
		{name: "party to the conflict", dst: dstp(dstXD), mutate: func(t testing.TB, m map[string]any) { m["risk"] = j(t, `{"parties_to_conflict":["XD"]}`) },
			fires: true, effect: RuleNeedsReview},
		{name: "risk country configured to deny", rules: permissive + "risk:\n  action: deny\n  countries: [XD]\n", dst: dstp(dstXD), fires: true, effect: RuleDeny},
		{name: "global risk country", rules: permissive + "risk:\n  countries: [XB]\n", fires: true, effect: RuleNeedsReview, reasonHas: "identifying"},
		{name: "risk country for the case type", rules: permissive + "risk:\n  by_case_type:\n    tracing_request: [XB]\n", fires: true, effect: RuleNeedsReview},
		{name: "risk country for another case type", rules: permissive + "risk:\n  by_case_type:\n    death_notification: [XB]\n", fires: false},
		{name: "names alone are enough", dst: dstp(dstXD), mutate: func(t testing.TB, m map[string]any) {
			fears(t, m)
			for _, i := range []int{0, 1} {
				for _, f := range []string{"address", "contact", "last_known_location", "photo", "birth_date", "contact_preference", "roles"} {
					delete(personAt(m, i), f)
				}
			}
			delete(m, "notes")
		}, fires: true, effect: RuleDeny, reasonHas: "(identifying, protection)"},
		{name: "nothing personal left", rules: bare, dst: dstp(dstXD), mutate: fears, fires: false},
		{name: "a response to a feared country", kind: "case.response", dst: dstp(dstXD), opts: fearedCase,
			doc: responseDoc(`"outcome":"located","message":"I am fine."`), fires: true, effect: RuleDeny},
		{name: "a bare response to a feared country", kind: "case.response", rules: bare, dst: dstp(dstXD), opts: fearedCase,
			doc: responseDoc(`"outcome":"not_found"`), fires: false},
		{name: "a message to a risk country", kind: "message.deliver", rules: permissive + "risk:\n  countries: [XB]\n",
			doc: messageDoc(`"kind":"family_news","channel":"rcm","body":"We are well."`), fires: true, effect: RuleNeedsReview, reasonHas: "content"},
		{name: "no valid country in the manifest", dst: dstp(Destination{Member: "XQ-RC", Role: "society", Active: true, Accepts: allKinds}),
			fires: true, effect: RuleDeny, reasonHas: "unknown"},
	})
}

func TestRuleReview(t *testing.T) {
	runRuleCases(t, "FLX-DP-REVIEW", []ruleCase{
		{name: "no trigger", fires: false},
		{name: "non-Movement by default", rules: " ", dst: dstp(dstAuth), fires: true, effect: RuleNeedsReview, reasonHas: "destination role non_movement"},
		{name: "case type", rules: permissive + "review:\n  case_types: [tracing_request]\n", fires: true, effect: RuleNeedsReview},
		{name: "member", rules: permissive + "review:\n  destination_members: [XB-RC]\n", fires: true, effect: RuleNeedsReview},
		{name: "country", rules: permissive + "review:\n  destination_countries: [XB]\n", fires: true, effect: RuleNeedsReview},
		{name: "location data", rules: permissive + "review:\n  conditions: [location_data]\n", fires: true, effect: RuleNeedsReview},
		{name: "sensitive data absent", rules: permissive + "review:\n  conditions: [sensitive_data, detention]\n", fires: false},
		{name: "minor", rules: permissive + "review:\n  conditions: [minor]\n", mutate: func(t testing.TB, m map[string]any) {
			personAt(m, 1)["birth_date"] = "2016"
			m["best_interest_assessment"] = j(t, `{"done_at":"2024-01-11T09:00:00Z"}`)
		}, fires: true, effect: RuleNeedsReview, reasonHas: "minor"},
	})
}
