package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/internal/racetest"
	"github.com/familylinks/flx/node/match/corpus"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// caseOf writes a minimal case document holding persons.
func caseOf(t testing.TB, id string, ct schema.CaseType, version int, persons ...schema.Person) []byte {
	t.Helper()
	origin, _, _ := strings.Cut(id, ":")
	purpose := "tracing"
	if ct != schema.CaseTracingRequest && ct != schema.CaseReunificationRequest {
		purpose = "registration"
	}
	b, err := json.Marshal(map[string]any{
		"schema": "flx/v1/case", "case_id": id, "version": version, "type": ct, "status": "open",
		"origin":  map[string]any{"member": origin, "created_at": "2024-05-01T10:00:00Z"},
		"purpose": purpose, "persons": persons,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func person(id string, role schema.PersonRole, birth string, names ...schema.Name) schema.Person {
	return schema.Person{ID: id, Roles: []schema.PersonRole{role}, Names: names, BirthDate: schema.PartialDate(birth), Sex: schema.SexMale}
}

func name(value, part, script string) schema.Name {
	return schema.Name{Value: value, Part: schema.NamePart(part), Script: script}
}

func openMatches(t testing.TB, s store.View) []store.MatchCandidate {
	t.Helper()
	var out []store.MatchCandidate
	var after int64
	for {
		page, err := s.ListMatches(context.Background(), store.MatchFilter{State: store.MatchOpen, AfterID: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out
		}
		after = page[len(page)-1].ID
	}
}

// TestMatchingFollowsCases: candidates appear when a case is created,
// received or updated, go when a change makes the persons differ or a case
// is erased (withdrawn here, withdrawn by its origin, expired), survive a
// restart, and a caseworker's decision is audited once.
func TestMatchingFollowsCases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	dsn := nodetest.DSN(t, nodetest.SQLite)
	xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, DSN: dsn})
	cw := node.Actor{Name: "cw-anna", Role: "caseworker"}

	sought := person("p1", schema.PersonSought, "1990-03-14", name("Karo", "given", "Latn"), name("Hovsampelyan", "family", "Latn"))
	if _, err := xa.CreateCase(ctx, cw, caseOf(t, "XA-RC:TR-1", schema.CaseTracingRequest, 1, sought)); err != nil {
		t.Fatal(err)
	}
	if got := openMatches(t, xa.View()); len(got) != 0 {
		t.Fatalf("candidates with one case: %+v", got)
	}
	// A detention notification received from XB-RC, names in Armenian script.
	detainee := person("d1", schema.PersonDetainee, "1990", name("Կարո", "given", "Armn"), name("Հովսամփելյան", "family", "Armn"))
	reg := caseOf(t, "XB-RC:DN-1", schema.CaseDetentionNotification, 1, detainee)
	if _, err := xa.Receive(ctx, "XB-RC", f.Envelope(t, "XB-RC", "XA-RC", federation.KindCaseCreate, "XB-RC:DN-1", reg)); err != nil {
		t.Fatal(err)
	}
	if err := xa.ProcessInbox(ctx); err != nil {
		t.Fatal(err)
	}
	got := openMatches(t, xa.View())
	if len(got) != 1 || got[0].ACase != "XA-RC:TR-1" || got[0].APerson != "p1" || got[0].BCase != "XB-RC:DN-1" || got[0].BPerson != "d1" || got[0].Score < 0.5 {
		t.Fatalf("candidates after receiving: %+v", got)
	}
	var expl struct {
		Fields []struct{ Field, Level string } `json:"fields"`
	}
	if err := json.Unmarshal(got[0].Explanation, &expl); err != nil || len(expl.Fields) < 3 {
		t.Fatalf("explanation %s: %v", got[0].Explanation, err)
	}
	for _, w := range []string{"Karo", "Hovsampelyan", "Կարո"} {
		if strings.Contains(string(got[0].Explanation), w) {
			t.Fatalf("explanation repeats a name: %s", got[0].Explanation)
		}
	}

	// The origin's update to another person removes the candidate; back again restores it.
	other := person("d1", schema.PersonDetainee, "1961", name("Tigran", "given", "Latn"), name("Abgaryan", "family", "Latn"))
	receiveAndProcess(t, xa, f, federation.KindCaseUpdate, "XB-RC:DN-1", caseOf(t, "XB-RC:DN-1", schema.CaseDetentionNotification, 2, other))
	if got := openMatches(t, xa.View()); len(got) != 0 {
		t.Fatalf("candidates after the update: %+v", got)
	}
	receiveAndProcess(t, xa, f, federation.KindCaseUpdate, "XB-RC:DN-1", caseOf(t, "XB-RC:DN-1", schema.CaseDetentionNotification, 3, detainee))
	got = openMatches(t, xa.View())
	if len(got) != 1 {
		t.Fatalf("candidates after the second update: %+v", got)
	}

	// A restart loads the index from the store: a new registration of the
	// same person matches the sought person held before.
	xa.Stop()
	xa = nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, DSN: dsn})
	if err := xa.LoadMatching(ctx); err != nil {
		t.Fatal(err)
	}
	own := person("c1", schema.PersonDetainee, "1990-03", name("Каро Овсампелян", "full", "Cyrl"))
	if _, err := xa.CreateCase(ctx, cw, caseOf(t, "XA-RC:DN-2", schema.CaseDetentionNotification, 1, own)); err != nil {
		t.Fatal(err)
	}
	got = openMatches(t, xa.View())
	if len(got) != 2 || got[1].BCase != "XA-RC:DN-2" || got[1].ACase != "XA-RC:TR-1" {
		t.Fatalf("candidates after restart: %+v", got)
	}

	// Decisions: confirm once, audited; a second decision conflicts.
	m, err := xa.DecideMatch(ctx, cw, got[0].ID, node.MatchConfirm)
	if err != nil || m.State != store.MatchConfirmed || m.DecidedBy != "cw-anna" {
		t.Fatalf("confirm: %+v %v", m, err)
	}
	if _, err := xa.DecideMatch(ctx, cw, got[0].ID, node.MatchReject); problem.As(err).Code != problem.Conflict {
		t.Fatalf("second decision: %v", err)
	}
	if _, err := xa.DecideMatch(ctx, cw, 424242, node.MatchReject); problem.As(err).Code != problem.NotFound {
		t.Fatalf("unknown candidate: %v", err)
	}
	if _, err := xa.DecideMatch(ctx, cw, got[1].ID, "maybe"); problem.As(err).Code != problem.BadRequest {
		t.Fatalf("bad decision: %v", err)
	}
	audit, err := xa.View().ListAudit(ctx, store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range audit {
		if r.Action == "match.confirm" {
			n++
			if r.Object != fmt.Sprintf("match:%d", got[0].ID) || r.Actor != "cw-anna" || strings.Contains(string(r.Details), "Karo") {
				t.Fatalf("audit %+v %s", r, r.Details)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d match.confirm audit records", n)
	}

	// Erasure by the origin's withdrawal removes the received case's
	// candidates, confirmed or not; withdrawing our own case the rest.
	withdraw, _ := json.Marshal(schema.Withdrawal{Schema: "flx/v1/withdrawal", CaseID: "XB-RC:DN-1", Reason: "consent_withdrawn", WithdrawnAt: "2024-06-01T10:00:00Z"})
	receiveAndProcess(t, xa, f, federation.KindCaseWithdraw, "XB-RC:DN-1", withdraw)
	all, _ := xa.View().ListMatches(ctx, store.MatchFilter{})
	if len(all) != 1 || all[0].BCase != "XA-RC:DN-2" {
		t.Fatalf("after the origin's withdrawal: %+v", all)
	}
	if _, err := xa.Withdraw(ctx, cw, "XA-RC:DN-2", "case_closed"); err != nil {
		t.Fatal(err)
	}
	if all, _ := xa.View().ListMatches(ctx, store.MatchFilter{}); len(all) != 0 {
		t.Fatalf("after our withdrawal: %+v", all)
	}
	// The erased persons are out of the index too: the same person again
	// matches nothing erased.
	if _, err := xa.CreateCase(ctx, cw, caseOf(t, "XA-RC:DN-3", schema.CaseDetentionNotification, 1, own)); err != nil {
		t.Fatal(err)
	}
	for _, m := range openMatches(t, xa.View()) {
		if m.BCase == "XA-RC:DN-2" || m.BCase == "XB-RC:DN-1" || m.ACase == "XA-RC:DN-2" {
			t.Fatalf("erased case matched: %+v", m)
		}
	}
}

func receiveAndProcess(t testing.TB, n *nodetest.Node, f *fedtest.Federation, kind federation.Kind, caseID string, body []byte) {
	t.Helper()
	if _, err := n.Receive(context.Background(), "XB-RC", f.Envelope(t, "XB-RC", n.Self(), kind, caseID, body)); err != nil {
		t.Fatal(err)
	}
	if err := n.ProcessInbox(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestMatchingQualityThroughNode measures precision and recall of the
// candidates a node lists on the seeded corpus: sought persons created as
// the node's own cases, registrations received from XB-RC as signed
// envelopes, each matched as it arrives.
func TestMatchingQualityThroughNode(t *testing.T) {
	t.Parallel()
	racetest.SkipComputation(t)
	if testing.Short() {
		t.Skip("-short")
	}
	ctx := context.Background()
	c := corpus.Generate(corpus.Config{Seed: 16, Sought: 2000, Registered: 2000, Overlap: 0.5})
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})
	cw := node.Actor{Name: "cw-anna", Role: "caseworker"}
	truth := map[[2]string]int{}
	for i, r := range c.Sought {
		truth[[2]string{r.CaseID, r.Person.ID}] = r.Truth
		if _, err := xa.CreateCase(ctx, cw, caseOf(t, r.CaseID, r.CaseType, 1, r.Person)); err != nil {
			t.Fatal(err)
		}
		if i < len(c.Registered) {
			rg := c.Registered[i]
			truth[[2]string{rg.CaseID, rg.Person.ID}] = rg.Truth
			raw := f.Envelope(t, "XB-RC", "XA-RC", federation.KindCaseCreate, rg.CaseID, caseOf(t, rg.CaseID, rg.CaseType, 1, rg.Person))
			if _, err := xa.Receive(ctx, "XB-RC", raw); err != nil {
				t.Fatal(err)
			}
		}
		if i%50 == 0 {
			if err := xa.ProcessInbox(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := xa.ProcessInbox(ctx); err != nil {
		t.Fatal(err)
	}
	cands := openMatches(t, xa.View())
	correct := 0
	for _, m := range cands {
		if truth[[2]string{m.ACase, m.APerson}] == truth[[2]string{m.BCase, m.BPerson}] {
			correct++
		}
	}
	precision := float64(correct) / float64(max(len(cands), 1))
	recall := float64(correct) / float64(c.TruePairs())
	t.Logf("through the node, %d sought x %d registered: %d candidates, %d true pairs, precision %.3f recall %.3f",
		len(c.Sought), len(c.Registered), len(cands), c.TruePairs(), precision, recall)
	if precision < 0.90 || recall < 0.95 {
		t.Fatalf("precision %.3f recall %.3f: below the floors 0.90 and 0.95", precision, recall)
	}
}

// TestMatchingAcrossReplicas: two processes share one database; each
// matches the cases it writes against the cases the other wrote, once its
// index has synced, and forgets the other's erased cases.
func TestMatchingAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, one, two := twoReplicas(t)
	cw := node.Actor{Name: "cw-anna", Role: "caseworker"}
	sought := person("p1", schema.PersonSought, "1990-03-14", name("Karo", "given", "Latn"), name("Hovsampelyan", "family", "Latn"))
	if _, err := one.CreateCase(ctx, cw, caseOf(t, "XA-RC:TR-1", schema.CaseTracingRequest, 1, sought)); err != nil {
		t.Fatal(err)
	}
	if err := two.SyncMatching(ctx); err != nil {
		t.Fatal(err)
	}
	reg := person("d1", schema.PersonDetainee, "1990", name("Каро Овсампелян", "full", "Cyrl"))
	if _, err := two.CreateCase(ctx, cw, caseOf(t, "XA-RC:DN-1", schema.CaseDetentionNotification, 1, reg)); err != nil {
		t.Fatal(err)
	}
	if got := openMatches(t, two.View()); len(got) != 1 || got[0].ACase != "XA-RC:TR-1" {
		t.Fatalf("candidates at the second replica: %+v", got)
	}
	if _, err := one.Withdraw(ctx, cw, "XA-RC:TR-1", "case_closed"); err != nil {
		t.Fatal(err)
	}
	if err := two.SyncMatching(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := two.CreateCase(ctx, cw, caseOf(t, "XA-RC:DN-2", schema.CaseDetentionNotification, 1, reg)); err != nil {
		t.Fatal(err)
	}
	for _, m := range openMatches(t, two.View()) {
		if m.ACase == "XA-RC:TR-1" {
			t.Fatalf("the erased case still matched at the second replica: %+v", m)
		}
	}
}

// twoReplicas starts two XA-RC nodes (no loops) on one SQLite database,
// the second with its matching index loaded.
func twoReplicas(t *testing.T) (f *fedtest.Federation, one, two *nodetest.Node) {
	t.Helper()
	f = fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	dsn := nodetest.DSN(t, nodetest.SQLite)
	one = nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, DSN: dsn})
	two = nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, DSN: dsn})
	if err := two.LoadMatching(t.Context()); err != nil {
		t.Fatal(err)
	}
	return f, one, two
}

// TestSyncLeavesCasesToMatching: a sync pass does not take in a case this
// node handed to its own matching (which puts it in the index), so that a
// worker behind a long list does not prepare each case twice; one left so
// for longer than matching should take is taken in all the same.
func TestSyncLeavesCasesToMatching(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, one, two := twoReplicas(t)
	cw := node.Actor{Name: "cw-anna", Role: "caseworker"}
	sought := person("p1", schema.PersonSought, "1990-03-14", name("Karo", "given", "Latn"), name("Hovsampelyan", "family", "Latn"))
	// Received and processed by the first replica: its match_pending mark
	// stays until that replica clears its marks.
	raw := f.Envelope(t, "XB-RC", "XA-RC", federation.KindCaseCreate, "XB-RC:TR-1", caseOf(t, "XB-RC:TR-1", schema.CaseTracingRequest, 1, sought))
	if _, err := one.Receive(ctx, "XB-RC", raw); err != nil {
		t.Fatal(err)
	}
	if err := one.ProcessInbox(ctx); err != nil {
		t.Fatal(err)
	}
	mark := []store.PendingMatch{{CaseID: "XB-RC:TR-1", Version: 1}}
	if err := one.Store.MarkMatchPending(ctx, mark); err != nil {
		t.Fatal(err)
	}
	two.HandToMatchingForTest("XB-RC:TR-1", time.Now(), true)
	// Queued for the worker, the case is left to it by catch-up too.
	if k, err := two.CatchUpMatchingForTest(ctx); err != nil || k != 0 {
		t.Fatalf("catch-up matched %d cases (%v), want none: the case waits in the worker's queue", k, err)
	}
	if err := two.SyncMatching(ctx); err != nil {
		t.Fatal(err)
	}
	if two.MatchHoldsForTest("XB-RC:TR-1") {
		t.Fatal("the sync pass took in a case left to matching")
	}
	two.HandToMatchingForTest("XB-RC:TR-1", time.Now().Add(-6*time.Minute), false)
	if err := two.SyncMatching(ctx); err != nil {
		t.Fatal(err)
	}
	if !two.MatchHoldsForTest("XB-RC:TR-1") {
		t.Fatal("a case left to matching for six minutes was not taken in")
	}
	reg := person("d1", schema.PersonDetainee, "1990", name("Каро Овсампелян", "full", "Cyrl"))
	if _, err := two.CreateCase(ctx, cw, caseOf(t, "XA-RC:DN-1", schema.CaseDetentionNotification, 1, reg)); err != nil {
		t.Fatal(err)
	}
	if got := openMatches(t, two.View()); len(got) != 1 || got[0].ACase != "XB-RC:TR-1" {
		t.Fatalf("candidates at the second replica: %+v", got)
	}
	// Left to its mark (the worker's queue was full), catch-up matches it.
	if err := one.Store.MarkMatchPending(ctx, mark); err != nil {
		t.Fatal(err)
	}
	two.HandToMatchingForTest("XB-RC:TR-1", time.Now(), false)
	if k, err := two.CatchUpMatchingForTest(ctx); err != nil || k != 1 {
		t.Fatalf("catch-up matched %d cases (%v), want the one left to its mark", k, err)
	}
}

// TestReceivedBatchMatchingAsPerCase: cases received and processed in
// bulk, then matched by the matching worker in batches (what queued up
// while it worked), leave exactly the candidates that matching each
// received case as it is processed leaves (pairs, scores, explanations),
// on both stores: registrations first, then sought persons and an update
// of some registrations, then a withdrawal that erases a case.
func TestReceivedBatchMatchingAsPerCase(t *testing.T) {
	t.Parallel()
	racetest.SkipComputation(t)
	reg, sought := corpusCases(t, 47, 80)
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
			batched := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{NoRun: true, Dialect: d})
			perCase := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{NoRun: true, Dialect: d})
			batched.QueueReceivedMatchesForTest()
			nodes := []*nodetest.Node{batched, perCase}
			receive := func(kind federation.Kind, docs []json.RawMessage) {
				t.Helper()
				for _, doc := range docs {
					raw := f.Envelope(t, "XA-RC", "XB-RC", kind, schema.PeekCaseID(doc), doc)
					for _, n := range nodes {
						if _, err := n.Receive(ctx, "XA-RC", raw); err != nil {
							t.Fatal(err)
						}
					}
				}
				for _, n := range nodes {
					if err := n.ProcessInbox(ctx); err != nil {
						t.Fatal(err)
					}
				}
				batched.DrainMatchQueueForTest(ctx)
			}
			compare := func(when string) {
				t.Helper()
				got, want := candidateSummary(t, batched.Store), candidateSummary(t, perCase.Store)
				if len(want) == 0 {
					t.Fatalf("%s: the per-case path found no candidate: the corpus tests nothing", when)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: batched matching left %d candidates, per-case %d; first differences:\n%s", when, len(got), len(want), firstDiff(got, want))
				}
			}
			receive(federation.KindCaseCreate, reg)
			receive(federation.KindCaseCreate, sought)
			compare("after the sought persons")

			var updates []json.RawMessage
			for _, doc := range reg[:20] {
				updates = append(updates, bumpVersion(t, doc))
			}
			receive(federation.KindCaseUpdate, updates)
			compare("after updates")

			withdraw := withdrawalOf(t, schema.PeekCaseID(sought[0]))
			receive(federation.KindCaseWithdraw, []json.RawMessage{withdraw})
			compare("after a withdrawal")
		})
	}
}

// firstDiff lists the first lines only one of two sorted summaries holds.
func firstDiff(got, want []string) string {
	var b strings.Builder
	g, w := map[string]bool{}, map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		w[s] = true
	}
	k := 0
	for _, s := range got {
		if !w[s] && k < 5 {
			fmt.Fprintf(&b, "  only batched: %s\n", s)
			k++
		}
	}
	for _, s := range want {
		if !g[s] && k < 10 {
			fmt.Fprintf(&b, "  only per-case: %s\n", s)
			k++
		}
	}
	return b.String()
}

// bumpVersion returns doc at its version + 1.
func bumpVersion(t testing.TB, doc []byte) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	m["version"] = m["version"].(float64) + 1
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// withdrawalOf is the origin's withdrawal of caseID (consent withdrawn:
// the recipient erases the case).
func withdrawalOf(t testing.TB, caseID string) json.RawMessage {
	t.Helper()
	ex, ok := schema.ExampleNamed("withdrawal.consent_withdrawn")
	if !ok {
		t.Fatal("no withdrawal example")
	}
	var m map[string]any
	if err := json.Unmarshal(ex.Doc, &m); err != nil {
		t.Fatal(err)
	}
	m["case_id"] = caseID
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
