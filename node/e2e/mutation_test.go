package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
)

// mutationScenarios are variants of the demo case, each putting it in a
// situation a built-in rule guards (the first, the demo itself: a detainee,
// sensitive categories, notes). Canaries go in every canaryPointer.
var mutationScenarios = []struct {
	name string
	edit func(doc map[string]any)
}{
	{"demo", func(map[string]any) {}},
	{"missing person", notDetained},
	{"missing person, nothing sensitive", func(d map[string]any) {
		notDetained(d)
		delete(d, "sensitivity")
		for _, p := range d["persons"].([]any) {
			delete(p.(map[string]any), "sensitive")
		}
	}},
	{"forbidden purpose", func(d map[string]any) { d["purpose"] = "law_enforcement" }},
	{"retention ended", func(d map[string]any) { d["retention_until"] = "2020-01-01" }},
	{"case closed withdrawn", func(d map[string]any) { d["status"] = "closed_withdrawn" }},
	{"consent scope leaves the coordinator out", func(d map[string]any) {
		sc := d["consents"].([]any)[0].(map[string]any)["scope"].(map[string]any)
		sc["members"], sc["countries"], sc["roles"] = []any{"XB-RC"}, []any{"XB"}, []any{"society"}
	}},
	{"basis undocumented", func(d map[string]any) {
		d["legal_basis"] = map[string]any{"type": "vital_interest"}
	}},
	{"superseded version", func(d map[string]any) { d["superseded"] = true }},
	{"feared country", func(d map[string]any) { sought(d)["feared_countries"] = []any{"XB"} }},
	{"refusal", func(d map[string]any) { notDetained(d); sought(d)["contact_preference"] = "refused" }},
	{"located pending consent", func(d map[string]any) { notDetained(d); d["status"] = "located_pending_consent" }},
	{"vulnerable, link unverified", func(d map[string]any) {
		notDetained(d)
		sought(d)["vulnerabilities"] = []any{"elderly_alone"}
	}},
	{"minor without guardian consent", func(d map[string]any) { notDetained(d); sought(d)["birth_date"] = "2015" }},
	{"unaccompanied child and carer", func(d map[string]any) {
		notDetained(d)
		c := sought(d)
		c["birth_date"], c["roles"] = "2015-06", []any{"sought_person", "unaccompanied_child"}
		d["best_interest_assessment"] = map[string]any{"done_at": "2026-11-02T10:00:00Z"}
		// The carer is named with the office's canary (moved there).
		o := d["origin"].(map[string]any)
		d["persons"] = append(d["persons"].([]any), map[string]any{"id": "c3", "roles": []any{"caregiver"},
			"names": []any{map[string]any{"value": o["created_by_office"]}}, "birth_date": "1970"})
		o["created_by_office"] = "XA-RC office"
		d["relationships"] = append(d["relationships"].([]any), map[string]any{"from": "c3", "to": "p2", "type": "caregiver", "verified": true})
	}},
	{"withheld value repeated in free text", func(d map[string]any) {
		// The enquirer's religion (withheld) copied into a field that travels.
		d["origin"].(map[string]any)["created_by_office"] = d["persons"].([]any)[0].(map[string]any)["sensitive"].(map[string]any)["religion"]
	}},
}

func sought(d map[string]any) map[string]any { return d["persons"].([]any)[1].(map[string]any) }

// notDetained makes the sought person of the demo a missing person, not a
// detainee, so that the detention rule does not withhold his whereabouts.
func notDetained(d map[string]any) {
	delete(d, "detention")
	sought(d)["roles"] = []any{"sought_person"}
	d["separation"].(map[string]any)["cause"] = "conflict"
	d["sensitivity"] = []any{"ethnicity", "religion"}
}

// TestRuleMutationThroughNodes sends every mutation scenario, with
// canaries in every protected place of the demo case, from XA-RC through
// real nodes to XB-RC (a society) and ICRC-CTA (the coordinator), once
// under the strict policy and once with each built-in rule disabled in
// XA-RC's engine (policy.WithoutBuiltin). Under the strict policy
// no canary it withholds, and nothing of a case it refuses, may be at a
// peer, while every control arrives. With a rule disabled, the peers must
// hold something the strict policy withholds, for every rule that alone
// refuses a scenario or alone withholds a canary (a family news message to
// an addressee outside the case included); the rules that cannot be
// reached through this federation (destination checks, recipients outside
// the Movement, review triggers the strict default leaves unset) are
// reported, and policy's
// TestAdversarialRuleMutation needs every one of them.
func TestRuleMutationThroughNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, threeMembers...)
	peers := []string{"XB-RC", "ICRC-CTA"}
	lns := map[string]net.Listener{}
	for _, id := range peers {
		lns[id] = nodetest.Listen(t, f.Member(t, id))
	}
	f.Sign(t)
	nodes := map[string]*nodetest.Node{}
	dsn := map[string]string{}
	for _, id := range peers {
		dsn[id] = nodetest.DSN(t, nodetest.SQLite)
		nodes[id] = nodetest.Start(t, f, id, lns[id], nodetest.Options{DSN: dsn[id], NoMedia: true})
	}
	strict, err := policy.Default("XA-RC", "XA")
	if err != nil {
		t.Fatal(err)
	}
	expect := policy.New(strict)
	dsts := map[string]policy.Destination{}
	for _, id := range peers {
		mb, _ := nodes[id].Manifest().Member(id)
		d := policy.Destination{Member: mb.ID, Country: mb.Country, Role: string(mb.Role), Active: true}
		for _, k := range mb.Accepts {
			d.Accepts = append(d.Accepts, string(k))
		}
		dsts[id] = d
	}

	// pass sends every scenario under XA-RC's engine without the rule
	// (none: the strict policy) and returns what leaked, the controls that
	// did not arrive, and (strict pass) the rules that alone protect
	// something.
	pass := func(t *testing.T, tag, without string, only map[int]bool) (leaks, missing []string, sole map[string]map[int]bool) {
		o := nodetest.Options{NoMedia: true}
		o.Tune = func(no *node.Options) {
			// No retention sweep: it would erase the "retention ended"
			// case at start, racing with its forward.
			no.RetentionSweep = -1
			if without != "" {
				no.Policy = policy.New(strict, policy.WithoutBuiltin(without))
			}
		}
		xa := nodetest.Start(t, f, "XA-RC", nil, o)
		defer xa.Stop()
		type sent struct {
			i        int
			name, id string
			doc      []byte
			values   []string
		}
		var all []sent
		for i, sc := range mutationScenarios {
			if only != nil && !only[i] {
				continue
			}
			raw, canaries := plantCanaries(t, 1, fmt.Sprintf("%s%02d", tag, i))
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			id := fmt.Sprintf("XA-RC:MUT-%s-%02d", tag, i)
			m["case_id"] = id
			sc.edit(m)
			doc, _ := json.Marshal(m)
			if _, err := xa.CreateCase(ctx, cw, doc); err != nil {
				t.Fatalf("%s: create: %v", sc.name, err)
			}
			for _, to := range peers {
				// A policy refusal is an answer too; any other error (a
				// busy database under load, say) would pass for one and
				// hide a leak, so it fails the test.
				if _, err := xa.Forward(ctx, cw, id, to); err != nil && problem.CodeOf(err) != problem.PolicyDenied {
					t.Fatalf("%s: forward to %s: %v", sc.name, to, err)
				}
			}
			s := sent{i: i, name: sc.name, id: id, doc: doc}
			for _, ptr := range canaryPointers {
				if v := canaries[ptr]; strings.Contains(string(doc), v) {
					s.values = append(s.values, v)
				}
			}
			all = append(all, s)
		}
		// A message whose addressee, with an address, is not a person of
		// the case (FLX-DP-MESSAGE-PARTY), about a case the peer holds.
		type sentMsg struct {
			i       int
			id      string
			caseDoc []byte
			msg     []byte
			values  []string
		}
		var msgs []sentMsg
		if mi := len(mutationScenarios); only == nil || only[mi] {
			raw, _ := plantCanaries(t, 1, tag+"MSG")
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			id := fmt.Sprintf("XA-RC:MUT-%s-MSG", tag)
			m["case_id"] = id
			notDetained(m)
			caseDoc, _ := json.Marshal(m)
			if _, err := xa.CreateCase(ctx, cw, caseDoc); err != nil {
				t.Fatalf("message case: %v", err)
			}
			name, place, body := canaryValue(7, tag, "to/name"), canaryValue(7, tag, "to/address"), canaryValue(7, tag, "body")
			msg, _ := json.Marshal(map[string]any{
				"schema": "flx/v1/message", "message_id": "XA-RC:FN-" + tag, "case_id": id, "kind": "family_news", "channel": "verbal",
				"created_at": "2026-11-21T09:00:00Z", "from": map[string]any{"person": "p1", "member": "XA-RC"},
				"to":   map[string]any{"name": name, "member": "XB-RC", "address": map[string]any{"country": "XB", "locality": place}},
				"body": "We are all well. " + body, "lang": "en",
			})
			xa.SendMessage(ctx, cw, id, "XB-RC", msg) // held, or sent under a mutation
			msgs = append(msgs, sentMsg{i: mi, id: id, caseDoc: caseDoc, msg: msg, values: []string{name, place, body}})
		}
		nodetest.WaitFor(t, 30*time.Second, "XA-RC's outbox delivered and processed", func() bool {
			if rows, err := xa.Store.ListOutbox(ctx, store.OutboxFilter{Pending: true, Limit: 1}); err != nil || len(rows) > 0 {
				return false
			}
			for _, to := range peers {
				if rows, err := nodes[to].Store.ListInbox(ctx, store.InboxFilter{State: "unprocessed", Limit: 1}); err != nil || len(rows) > 0 {
					return false
				}
			}
			return true
		})
		sole = map[string]map[int]bool{}
		mark := func(rule string, i int) {
			if sole[rule] == nil {
				sole[rule] = map[int]bool{}
			}
			sole[rule][i] = true
		}
		for _, s := range all {
			for _, to := range peers {
				dec, _ := expect.Apply(ctx, s.doc, string(federation.KindCaseCreate), dsts[to], time.Now(), policy.CurrentVersion(1))
				held := peerHolds(t, nodes[to].Store, s.id)
				where := fmt.Sprintf("%s [%s] to %s (%s)", s.name, s.id, to, dec.Effect)
				if !dec.Allowed() && held != "" {
					leaks = append(leaks, where+": the case arrived")
				}
				if !dec.Allowed() {
					var by []string
					for _, fr := range dec.Fired {
						if fr.Effect != policy.RuleRedact {
							by = append(by, fr.RuleID)
						}
					}
					if len(by) == 1 {
						mark(by[0], s.i)
					}
					continue
				}
				for _, loc := range stringsIn(s.doc) {
					if !contains(s.values, loc.value) {
						continue
					}
					var by []string
					for _, fr := range dec.Fired {
						if withheld(loc.ptr, fr.Pointers) {
							by = append(by, fr.RuleID)
						}
					}
					if len(by) == 1 {
						mark(by[0], s.i)
					}
				}
				for _, v := range s.values {
					protected := false
					for _, loc := range stringsIn(s.doc) {
						if loc.value == v && withheld(loc.ptr, dec.Redactions) {
							protected = true
						}
					}
					switch has := strings.Contains(held, v) || (without == "" && inFiles(t, strings.TrimPrefix(dsn[to], "sqlite:"), v) != ""); {
					case protected && has:
						leaks = append(leaks, where+": "+v)
					case !protected && !has:
						missing = append(missing, where+": "+v)
					}
				}
			}
		}
		for _, sm := range msgs {
			dec, _ := expect.Apply(ctx, sm.msg, string(federation.KindMessageDeliver), dsts["XB-RC"], time.Now(), policy.WithCase(sm.caseDoc))
			held := peerHolds(t, nodes["XB-RC"].Store, sm.id)
			where := fmt.Sprintf("message about [%s] to XB-RC (%s)", sm.id, dec.Effect)
			if dec.Allowed() {
				t.Fatalf("%s: the strict policy lets the message go; the scenario needs it held", where)
			}
			var by []string
			for _, fr := range dec.Fired {
				if fr.Effect != policy.RuleRedact {
					by = append(by, fr.RuleID)
				}
			}
			if len(by) == 1 {
				mark(by[0], sm.i)
			}
			for _, v := range sm.values {
				if strings.Contains(held, v) {
					leaks = append(leaks, where+": "+v)
				}
			}
		}
		return leaks, missing, sole
	}

	leaks, missing, sole := pass(t, "S", "", nil)
	for _, l := range leaks {
		t.Errorf("strict policy: leak %s", l)
	}
	for _, m := range missing {
		t.Errorf("strict policy: control did not arrive: %s", m)
	}
	var ids []string
	for id := range sole {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var unreached []string
	for _, r := range policy.BuiltinRules() {
		if _, ok := sole[r.ID]; !ok {
			unreached = append(unreached, r.ID)
		}
	}
	for i, id := range ids {
		t.Run(id, func(t *testing.T) {
			// The scenarios in which the rule alone refuses or withholds.
			leaks, _, _ := pass(t, fmt.Sprintf("M%02d", i), id, sole[id])
			if len(leaks) == 0 {
				t.Fatalf("with %s disabled nothing the strict policy withholds reached a peer (it alone protects scenarios %v)", id, keysInt(sole[id]))
			}
			t.Logf("without %s: %d leaks, e.g. %s", id, len(leaks), leaks[0])
		})
	}
	t.Logf("%d case scenarios x %d destinations and a message; %d of %d built-in rules killed through real nodes %v; not reached alone here: %v",
		len(mutationScenarios), len(peers), len(ids), len(policy.BuiltinRules()), ids, unreached)
}

func keysInt(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

type location struct{ ptr, value string }

// stringsIn lists every string value of the JSON document with its pointer.
func stringsIn(doc []byte) []location {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil
	}
	var out []location
	var walk func(ptr string, v any)
	walk = func(ptr string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(ptr+"/"+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s/%d", ptr, i), e)
			}
		case string:
			out = append(out, location{ptr, x})
		}
	}
	walk("", v)
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// peerHolds is everything the peer stored about the case: its document,
// versions and the bodies of the envelopes it received ("" if none).
func peerHolds(t *testing.T, st store.Store, caseID string) string {
	t.Helper()
	ctx := context.Background()
	var all []byte
	if c, err := st.GetCase(ctx, caseID); err == nil {
		all = append(all, c.Document...)
	}
	vs, _ := st.ListCaseVersions(ctx, caseID)
	for _, v := range vs {
		all = append(all, v.Document...)
	}
	for _, r := range allInbox(t, st, store.InboxFilter{CaseID: caseID, IncludeEnvelope: true}) {
		if r.Envelope != nil {
			all = append(all, r.Envelope...)
			all = append(all, decodeJWS(t, r.Envelope).Body...)
		}
	}
	return string(all)
}
