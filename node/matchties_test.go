package node_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/match"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// TestMatchingTiesPastTheBound: one family seeks "Ahmed Ali", born 1980,
// and 30 detainees of that name and year are registered one after the
// other, all alike. Each detainee has one candidate, the sought person,
// and lists it; the sought person has 30 tied candidates and lists the
// first 20 (match.DefaultMaxCandidates). Every pair is in one of the two
// lists, so every pair is stored and every detainee's caseworker sees
// the family. Before, the refresh of the sought person's list after each
// registration deleted the pairs its own cut left out, though the other
// side listed them: 10 detainees were named by no candidate at all.
func TestMatchingTiesPastTheBound(t *testing.T) {
	t.Parallel()
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := fedtest.New(t, "XA-RC:XA:society")
			xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, DSN: nodetest.DSN(t, d)})
			cw := node.Actor{Name: "cw-anna", Role: "caseworker"}
			ahmed := func(id string, role schema.PersonRole) schema.Person {
				return person(id, role, "1980", name("Ahmed", "given", "Latn"), name("Ali", "family", "Latn"))
			}
			if _, err := xa.CreateCase(ctx, cw, caseOf(t, "XA-RC:TR-00", schema.CaseTracingRequest, 1, ahmed("p1", schema.PersonSought))); err != nil {
				t.Fatal(err)
			}
			const n = 30
			for i := range n {
				id := fmt.Sprintf("XA-RC:DN-%02d", i)
				if _, err := xa.CreateCase(ctx, cw, caseOf(t, id, schema.CaseDetentionNotification, 1, ahmed("d1", schema.PersonDetainee))); err != nil {
					t.Fatal(err)
				}
			}
			// The family's list is truncated, and says so; no detainee's is.
			if past, err := xa.View().MatchesPast(ctx, "XA-RC:TR-00"); err != nil || fmt.Sprint(past) != "map[p1:10]" {
				t.Errorf("past the family's bound: %v, %v; want p1:10", past, err)
			}
			for i := range n {
				id := fmt.Sprintf("XA-RC:DN-%02d", i)
				if past, err := xa.View().MatchesPast(ctx, id); err != nil || len(past) != 0 {
					t.Errorf("past %s's bound: %v, %v", id, past, err)
				}
				ms, err := xa.View().ListMatches(ctx, store.MatchFilter{CaseID: id})
				if err != nil {
					t.Fatal(err)
				}
				if len(ms) != 1 || ms[0].ACase != "XA-RC:TR-00" {
					t.Errorf("%s: candidates %+v, want the one with XA-RC:TR-00", id, ms)
				}
			}
		})
	}
}

// TestMatchingTiesGenerated: random populations where many persons tie
// (a few names, each held by up to 35 registrations and 8 families
// seeking, some with a full birth date), created one by one in a random
// order on SQLite and PostgreSQL. The candidates stored are the same on
// both, and a pair the unbounded matching lists is stored unless both
// cases say their lists are truncated (MatchesPast). After the bulk match
// job the candidates are exactly the pairs that one of
// the two persons' bounded lists holds (match.Index.MatchCut on the same
// persons), and every pair the unbounded matching lists is stored unless
// both persons' lists are truncated.
func TestMatchingTiesGenerated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for seed := range uint64(2) {
		r := rand.New(rand.NewPCG(seed, 5))
		type kase struct {
			id  string
			doc []byte
		}
		var cases []kase
		used := map[string]bool{}
		for _, nm := range [][2]string{{"Ahmed", "Ali"}, {"Ahmad", "Ali"}, {"Karo", "Hovsampelyan"}}[:1+r.IntN(3)] {
			sought, reg := r.IntN(9), r.IntN(36)
			for i := range sought + reg {
				n := r.IntN(10000)
				for used[fmt.Sprint(n)] {
					n = r.IntN(10000)
				}
				used[fmt.Sprint(n)] = true
				birth := "1980"
				if r.IntN(4) == 0 {
					birth = "1980-05-02"
				}
				if i < sought {
					id := fmt.Sprintf("XA-RC:TR-%04d", n)
					cases = append(cases, kase{id, caseOf(t, id, schema.CaseTracingRequest, 1,
						person("p1", schema.PersonSought, birth, name(nm[0], "given", "Latn"), name(nm[1], "family", "Latn")))})
				} else {
					id := fmt.Sprintf("XA-RC:DN-%04d", n)
					cases = append(cases, kase{id, caseOf(t, id, schema.CaseDetentionNotification, 1,
						person("d1", schema.PersonDetainee, birth, name(nm[0], "given", "Latn"), name(nm[1], "family", "Latn")))})
				}
			}
		}
		r.Shuffle(len(cases), func(i, j int) { cases[i], cases[j] = cases[j], cases[i] })

		// What the bounded lists hold, and the pairs past both bounds.
		bounded, all := match.NewIndex(match.Options{}), match.NewIndex(match.Options{MaxCandidates: 1 << 20})
		var ps []*match.Person
		for _, c := range cases {
			sc, err := schema.ParseCase(c.doc)
			if err != nil {
				t.Fatal(err)
			}
			p := match.PersonsOf(sc, time.Now())
			bounded.Put(c.id, p)
			all.Put(c.id, p)
			ps = append(ps, p...)
		}
		pairKey := func(a, b string) string {
			if a > b {
				a, b = b, a
			}
			return a + " " + b
		}
		want := map[string]bool{}
		truncated := map[string]bool{}
		for _, p := range ps {
			l, past := bounded.MatchCut(p)
			for _, c := range l {
				want[pairKey(c.A.CaseID, c.B.CaseID)] = true
			}
			truncated[p.CaseID] = len(past) > 0
		}
		stored := func(xa *nodetest.Node) map[string]bool {
			out := map[string]bool{}
			for _, m := range openMatches(t, xa.View()) {
				out[pairKey(m.ACase, m.BCase)] = true
			}
			return out
		}
		both := 0 // pairs past both bounds
		for _, p := range ps {
			for _, c := range all.Match(p) {
				if !want[pairKey(c.A.CaseID, c.B.CaseID)] {
					both++
				}
			}
		}
		if both == 0 {
			t.Fatalf("seed %d: no pair past both bounds: the population ties too little", seed)
		}
		var perCase []map[string]bool
		for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
			f := fedtest.New(t, "XA-RC:XA:society")
			xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, DSN: nodetest.DSN(t, d)})
			cw := node.Actor{Name: "cw-anna", Role: "caseworker"}
			for _, c := range cases {
				if _, err := xa.CreateCase(ctx, cw, c.doc); err != nil {
					t.Fatal(err)
				}
			}
			perCase = append(perCase, stored(xa))
			// Case by case too (a case past the bound of a new case's list
			// whose own list was not truncated is matched again, and then
			// lists it), a pair not stored is past both bounds.
			for _, p := range ps {
				for _, c := range all.Match(p) {
					k := pairKey(c.A.CaseID, c.B.CaseID)
					if perCase[len(perCase)-1][k] {
						continue
					}
					pa, err := xa.View().MatchesPast(ctx, c.A.CaseID)
					if err != nil {
						t.Fatal(err)
					}
					pb, err := xa.View().MatchesPast(ctx, c.B.CaseID)
					if err != nil {
						t.Fatal(err)
					}
					if len(pa) == 0 || len(pb) == 0 {
						t.Fatalf("seed %d, %s, case by case: %s not stored, past the bounds %v, %v", seed, d, k, pa, pb)
					}
				}
			}
			if _, err := xa.RematchHeld(ctx); err != nil {
				t.Fatal(err)
			}
			got := stored(xa)
			if !maps.Equal(got, want) {
				t.Fatalf("seed %d, %s: after the bulk job, stored %d pairs, the bounded lists hold %d", seed, d, len(got), len(want))
			}
			// A pair not stored is past the bounds of both persons' lists,
			// and the node says both are truncated.
			says := func(caseID string) bool {
				past, err := xa.View().MatchesPast(ctx, caseID)
				if err != nil {
					t.Fatal(err)
				}
				if (len(past) > 0) != truncated[caseID] {
					t.Fatalf("seed %d, %s: %s past the bound %v, want truncated %v", seed, d, caseID, past, truncated[caseID])
				}
				return len(past) > 0
			}
			for _, p := range ps {
				for _, c := range all.Match(p) {
					k := pairKey(c.A.CaseID, c.B.CaseID)
					if !got[k] && !(says(c.A.CaseID) && says(c.B.CaseID)) {
						t.Fatalf("seed %d, %s: %s not stored, though one list is not truncated", seed, d, k)
					}
				}
			}
		}
		if !maps.Equal(perCase[0], perCase[1]) {
			t.Fatalf("seed %d: matching case by case stored %d pairs on SQLite, %d on PostgreSQL", seed, len(perCase[0]), len(perCase[1]))
		}
	}
}
