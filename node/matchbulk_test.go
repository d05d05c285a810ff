package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/internal/racetest"
	"github.com/familylinks/flx/node/match/corpus"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// corpusCases is a generated multi-script corpus as case documents of
// XA-RC (registrations first, then the sought persons).
func corpusCases(t testing.TB, seed uint64, n int) (reg, sought []json.RawMessage) {
	t.Helper()
	c := corpus.Generate(corpus.Config{Seed: seed, Sought: n, Registered: n, Overlap: 0.5})
	for _, side := range []struct {
		recs []corpus.Record
		out  *[]json.RawMessage
	}{{c.Registered, &reg}, {c.Sought, &sought}} {
		for _, r := range side.recs {
			_, local, _ := strings.Cut(r.CaseID, ":")
			*side.out = append(*side.out, caseOf(t, "XA-RC:"+local, r.CaseType, 1, r.Person))
		}
	}
	return reg, sought
}

// candidateSummary is every candidate a node holds, ids and times left
// out, sorted.
func candidateSummary(t testing.TB, v store.View) []string {
	t.Helper()
	var out []string
	for after := int64(0); ; {
		page, err := v.ListMatches(context.Background(), store.MatchFilter{AfterID: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			out = append(out, fmt.Sprintf("%s/%s %s/%s %.6f %s %s %s", m.ACase, m.APerson, m.BCase, m.BPerson, m.Score, m.Explanation, m.State, m.DecidedBy))
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].ID
	}
	sort.Strings(out)
	return out
}

// TestBulkMatchingAsPerCase: importing a generated corpus (registrations,
// then sought persons, in batches, with decisions taken between them)
// leaves exactly the candidates the per-case path leaves (pairs, scores,
// explanations, states), on both stores; so does the bulk match job
// (RematchHeld) against matching every case held in turn.
func TestBulkMatchingAsPerCase(t *testing.T) {
	t.Parallel()
	racetest.SkipComputation(t)
	reg, sought := corpusCases(t, 31, 250)
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			f := fedtest.New(t, "XA-RC:XA:society")
			bulk := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, Dialect: d})
			perCase := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, Dialect: d})
			perCase.MatchImportsPerCaseForTest()
			cw := node.Actor{Name: "cw-anna", Role: "caseworker"}
			nodes := []*nodetest.Node{bulk, perCase}
			compare := func(when string) []string {
				t.Helper()
				got, want := candidateSummary(t, bulk.View()), candidateSummary(t, perCase.View())
				if !reflect.DeepEqual(got, want) {
					for i := range min(len(got), len(want)) {
						if got[i] != want[i] {
							t.Fatalf("%s: %d bulk, %d per-case candidates; first difference:\nbulk     %s\nper-case %s", when, len(got), len(want), got[i], want[i])
						}
					}
					t.Fatalf("%s: %d bulk, %d per-case candidates", when, len(got), len(want))
				}
				return got
			}
			imp := func(docs []json.RawMessage, batch int) {
				t.Helper()
				for i := 0; i < len(docs); i += batch {
					for _, n := range nodes {
						if _, err := n.ImportCases(ctx, cw, docs[i:min(i+batch, len(docs))], ""); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			imp(reg, 125)
			imp(sought[:125], 125)
			// Decide a few, the same on both: decided pairs stay as they
			// are whatever matching finds later.
			first := compare("after the first sought batch")
			if len(first) < 50 {
				t.Fatalf("%d candidates: the comparison says little", len(first))
			}
			for _, n := range nodes {
				open := openMatches(t, n.View())
				sort.Slice(open, func(i, j int) bool { return open[i].ACase+open[i].BCase < open[j].ACase+open[j].BCase })
				for i, m := range open[:6] {
					dec := []string{node.MatchConfirm, node.MatchReject}[i%2]
					if _, err := n.DecideMatch(ctx, cw, m.ID, dec); err != nil {
						t.Fatal(err)
					}
				}
			}
			imp(sought[125:], 125)
			all := compare("after every import")
			decided := 0
			for _, s := range all {
				if strings.Contains(s, "cw-anna") {
					decided++
				}
			}
			if decided != 6 {
				t.Fatalf("%d decided candidates, want 6", decided)
			}
			// The bulk job against every case matched in turn.
			if k, err := bulk.RematchHeld(ctx); err != nil || k != len(reg)+len(sought) {
				t.Fatalf("RematchHeld: %d, %v", k, err)
			}
			if err := perCase.RematchHeldPerCaseForTest(ctx); err != nil {
				t.Fatal(err)
			}
			compare("after the bulk match job")
		})
	}
}

// failMatchWrites fails every candidate write, as a crash right after the
// case's commit would leave it: the case is stored, its candidates not.
type failMatchWrites struct{ store.Store }

func (s failMatchWrites) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.Store.Tx(ctx, func(tx store.Tx) error { return fn(failMatchTx{tx}) })
}

func (s failMatchWrites) ReplaceMatches(context.Context, string, []store.NewMatchCandidate, time.Time) error {
	return fmt.Errorf("crashed before matching")
}

type failMatchTx struct{ store.Tx }

func (failMatchTx) ReplaceMatchesMany(context.Context, []store.CaseCandidates, time.Time) error {
	return fmt.Errorf("crashed before matching")
}

func (failMatchTx) ReplaceMatches(context.Context, string, []store.NewMatchCandidate, time.Time) error {
	return fmt.Errorf("crashed before matching")
}

// TestUnmatchedCaseMatchedAtStart: a case committed whose matching did not
// happen (created, imported or received and processed; a crash right after the commit,
// played by a store that fails every candidate write) gets its candidates
// when the node starts again, without any change to the case.
func TestUnmatchedCaseMatchedAtStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	dsn := nodetest.DSN(t, nodetest.SQLite)
	cw := node.Actor{Name: "cw-anna", Role: "caseworker"}
	sought := person("p1", schema.PersonSought, "1990-03-14", name("Karo", "given", "Latn"), name("Hovsampelyan", "family", "Latn"))
	detainee := person("d1", schema.PersonDetainee, "1990", name("Կարո", "given", "Armn"), name("Հովսամփելյան", "family", "Armn"))
	sought2 := person("p1", schema.PersonSought, "1984", name("Aram", "given", "Latn"), name("Ter-Vardanyan", "family", "Latn"))
	detainee2 := person("d1", schema.PersonDetainee, "1984-02-02", name("Арам", "given", "Cyrl"), name("Тер-Варданян", "family", "Cyrl"))

	// Matched before: a running node creates the sought person of the
	// received case below, finds nothing yet, and clears its mark when
	// it stops.
	sought3 := person("p1", schema.PersonSought, "1975-06", name("Lusine", "given", "Latn"), name("Abgaryan-Tesoyan", "family", "Latn"))
	first := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{DSN: dsn})
	if _, err := first.CreateCase(ctx, cw, caseOf(t, "XA-RC:TR-3", schema.CaseTracingRequest, 1, sought3)); err != nil {
		t.Fatal(err)
	}
	first.Stop()
	if marks, err := first.Store.ListMatchPending(ctx, "", 10); err != nil || len(marks) != 0 {
		t.Fatalf("marks after a clean stop: %+v, %v", marks, err)
	}

	crashing := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, DSN: dsn,
		WrapStore: func(s store.Store) store.Store { return failMatchWrites{s} }})
	if _, err := crashing.CreateCase(ctx, cw, caseOf(t, "XA-RC:TR-1", schema.CaseTracingRequest, 1, sought)); err != nil {
		t.Fatal(err)
	}
	if _, err := crashing.CreateCase(ctx, cw, caseOf(t, "XA-RC:DN-1", schema.CaseDetentionNotification, 1, detainee)); err != nil {
		t.Fatal(err)
	}
	if _, err := crashing.ImportCases(ctx, cw, []json.RawMessage{
		caseOf(t, "XA-RC:TR-2", schema.CaseTracingRequest, 1, sought2),
		caseOf(t, "XA-RC:DN-2", schema.CaseDetentionNotification, 1, detainee2),
	}, ""); err != nil {
		t.Fatal(err)
	}
	// A registration received from XB-RC, processed (case stored) and not
	// matched either.
	detainee3 := person("d1", schema.PersonDetainee, "1975", name("Լուսինե", "given", "Armn"), name("Աբգարյան-Տեսոյան", "family", "Armn"))
	receiveAndProcess(t, crashing, f, federation.KindCaseCreate, "XB-RC:DN-3", caseOf(t, "XB-RC:DN-3", schema.CaseDetentionNotification, 1, detainee3))
	if got := openMatches(t, crashing.View()); len(got) != 0 {
		t.Fatalf("candidates written through a failing store: %+v", got)
	}
	crashing.Stop()

	// Started again on the same database: the marks are matched at start.
	xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{DSN: dsn})
	want := map[string]bool{"XA-RC:TR-1 XA-RC:DN-1": true, "XA-RC:TR-2 XA-RC:DN-2": true, "XA-RC:TR-3 XB-RC:DN-3": true}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := map[string]bool{}
		for _, m := range openMatches(t, xa.View()) {
			got[m.ACase+" "+m.BCase] = true
		}
		if reflect.DeepEqual(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("candidates after the restart: %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Nothing stays marked once matched.
	deadline = time.Now().Add(5 * time.Second)
	for {
		marks, err := xa.Store.ListMatchPending(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(marks) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("marks left after catching up: %+v", marks)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
