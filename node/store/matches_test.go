package store_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/familylinks/flx/node/store"
)

func cand(a, ap, b, bp string, score float64) store.NewMatchCandidate {
	return store.NewMatchCandidate{ACase: a, APerson: ap, BCase: b, BPerson: bp, Score: score,
		Explanation: json.RawMessage(`{"fields":[{"field":"name","level":"all","weight":20}]}`)}
}

func TestMatches(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		const x, y, z = "XA-RC:1", "XA-RC:2", "XB-RC:3"
		mustErr(t, b.s.ReplaceMatches(ctx, x, []store.NewMatchCandidate{cand(x, "p1", y, "p2", 0.9), cand(x, "p1", z, "p3", 0.4)}, b.clock.Now()), nil)
		list := must[[]store.MatchCandidate](t)(b.s.ListMatches(ctx, store.MatchFilter{State: store.MatchOpen}))
		if len(list) != 2 || list[0].ACase != x || list[0].BPerson != "p2" || list[0].Score != 0.9 || list[1].Score != 0.4 {
			t.Fatalf("ListMatches = %+v", list)
		}
		var e map[string]any
		if err := json.Unmarshal(list[0].Explanation, &e); err != nil || e["fields"] == nil {
			t.Fatalf("explanation %s: %v", list[0].Explanation, err)
		}
		first, second := list[0].ID, list[1].ID

		// Confirm one; a second decision conflicts; an unknown id is not found.
		m := must[store.MatchCandidate](t)(b.s.DecideMatch(ctx, first, store.MatchConfirmed, "alice", b.clock.Now()))
		if m.State != store.MatchConfirmed || m.DecidedBy != "alice" || m.DecidedAt.IsZero() {
			t.Fatalf("DecideMatch = %+v", m)
		}
		_, err := b.s.DecideMatch(ctx, first, store.MatchRejected, "bob", b.clock.Now())
		mustErr(t, err, store.ErrConflict)
		_, err = b.s.DecideMatch(ctx, 999999, store.MatchRejected, "bob", b.clock.Now())
		mustErr(t, err, store.ErrNotFound)
		_, err = b.s.DecideMatch(ctx, second, "maybe", "bob", b.clock.Now())
		mustErr(t, err, store.ErrInvalid)

		// Matching y again with no candidates keeps the decided pair; matching
		// x again refreshes the open pair in place and adds a new one.
		mustErr(t, b.s.ReplaceMatches(ctx, y, nil, b.clock.Now()), nil)
		mustErr(t, b.s.ReplaceMatches(ctx, x, []store.NewMatchCandidate{cand(x, "p1", z, "p3", 0.5), cand(x, "p9", z, "p3", 0.2)}, b.clock.Now()), nil)
		all := must[[]store.MatchCandidate](t)(b.s.ListMatches(ctx, store.MatchFilter{}))
		if len(all) != 3 || all[0].ID != first || all[0].State != store.MatchConfirmed || all[1].ID != second || all[1].Score != 0.5 {
			t.Fatalf("after refresh: %+v", all)
		}
		// Matching x with nothing drops the open ones only.
		mustErr(t, b.s.ReplaceMatches(ctx, x, nil, b.clock.Now()), nil)
		all = must[[]store.MatchCandidate](t)(b.s.ListMatches(ctx, store.MatchFilter{}))
		if len(all) != 1 || all[0].ID != first {
			t.Fatalf("after empty refresh: %+v", all)
		}
		// Filters and pages.
		mustErr(t, b.s.ReplaceMatches(ctx, z, []store.NewMatchCandidate{cand(x, "p1", z, "p3", 0.5), cand(y, "p2", z, "p4", 0.3)}, b.clock.Now()), nil)
		if got := must[[]store.MatchCandidate](t)(b.s.ListMatches(ctx, store.MatchFilter{CaseID: y})); len(got) != 2 {
			t.Fatalf("by case y: %+v", got)
		}
		page := must[[]store.MatchCandidate](t)(b.s.ListMatches(ctx, store.MatchFilter{Limit: 1, AfterID: first}))
		if len(page) != 1 || page[0].ID <= first {
			t.Fatalf("page after %d: %+v", first, page)
		}
		if _, err := b.s.GetMatch(ctx, first); err != nil {
			t.Fatal(err)
		}
		// Bad input is refused and nothing is written.
		bad := cand(y, "p2", z, "p4", 0.3)
		mustErr(t, b.s.ReplaceMatches(ctx, x, []store.NewMatchCandidate{bad}, b.clock.Now()), store.ErrInvalid)
		bad = cand(x, "p2", z, "p4", 0.3)
		bad.Explanation = json.RawMessage(`{`)
		mustErr(t, b.s.ReplaceMatches(ctx, x, []store.NewMatchCandidate{bad}, b.clock.Now()), store.ErrInvalid)

		// Erasing a case deletes every candidate naming it, decided or not.
		res := must[store.ErasureResult](t)(b.s.EraseCase(ctx, z, store.Erasure{Reason: "consent_withdrawn"}))
		if res.Matches != 2 {
			t.Fatalf("erasure deleted %d candidates, want 2", res.Matches)
		}
		res = must[store.ErasureResult](t)(b.s.EraseCase(ctx, y, store.Erasure{Reason: "consent_withdrawn"}))
		if res.Matches != 1 || b.count(t, `SELECT COUNT(*) FROM match_candidates`) != 0 {
			t.Fatalf("erasure of y: %+v, rows left %d", res, b.count(t, `SELECT COUNT(*) FROM match_candidates`))
		}
	})
}

func TestDropInboxEnvelope(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		in := store.InboxItem{JTI: "q-1", Iss: memberB, Aud: memberA, Kind: "match.query", CaseID: "XB-RC:TR-1",
			Envelope: []byte("jws." + marker + ".sig")}
		r := must[store.ReceiveResult](t)(b.s.Receive(ctx, in, store.Receipt{Raw: []byte("receipt-q-1")}))
		mustErr(t, b.s.DropInboxEnvelope(ctx, r.ID), nil)
		if hits := b.grep(t, marker); len(hits) != 0 {
			t.Fatalf("encoding left: %v", hits)
		}
		again := must[store.ReceiveResult](t)(b.s.Receive(ctx, in, store.Receipt{Raw: []byte("receipt-q-1b")}))
		if !again.Duplicate {
			t.Fatal("a copy of a dropped envelope is not a duplicate")
		}
		mustErr(t, b.s.DropInboxEnvelope(ctx, 424242), store.ErrNotFound)
	})
}

// TestReplaceMatchesMany writes more candidates than one statement holds
// (200 a statement) with one pair named twice: every pair is kept once, the
// twice-named one with its last score.
func TestReplaceMatchesMany(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		const x = "XA-RC:many"
		var cs []store.NewMatchCandidate
		for i := range 450 {
			cs = append(cs, cand(x, "p1", fmt.Sprintf("XB-RC:%d", i), "p2", 0.5))
		}
		cs = append(cs, cand(x, "p1", "XB-RC:7", "p2", 0.8))
		mustErr(t, b.s.ReplaceMatches(ctx, x, cs, b.clock.Now()), nil)
		all := must[[]store.MatchCandidate](t)(b.s.ListMatches(ctx, store.MatchFilter{CaseID: x, Limit: 1000}))
		if len(all) != 450 {
			t.Fatalf("%d candidates, want 450", len(all))
		}
		for _, m := range all {
			if want := map[bool]float64{true: 0.8, false: 0.5}[m.BCase == "XB-RC:7"]; m.Score != want {
				t.Fatalf("%s score %v, want %v", m.BCase, m.Score, want)
			}
		}
	})
}

// TestMatchesListedByEitherSide: a candidate stays while the last
// matching of either of its cases lists it. Each person's list is bounded
// (node/match), and a pair within one side's bound can be past the
// other's: matching the other side again must not delete it (before, the
// last case matched decided alone, and the pair was lost to both). Once
// a case's matching no longer finds the pair a candidate at all, the
// other case's earlier listing of it goes too.
func TestMatchesListedByEitherSide(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		const s, r1, r2 = "XA-RC:TR-1", "XA-RC:DN-1", "XA-RC:DN-2"
		pairs := func() string {
			t.Helper()
			var out []string
			for _, m := range must[[]store.MatchCandidate](t)(b.s.ListMatches(ctx, store.MatchFilter{})) {
				out = append(out, m.BCase)
			}
			return fmt.Sprint(out)
		}
		step := func(id string, listed []store.NewMatchCandidate, past ...string) {
			t.Helper()
			st := store.CaseCandidates{CaseID: id, Cands: listed}
			for _, r := range past {
				st.Past = append(st.Past, store.MatchPair{ACase: s, APerson: "p1", BCase: r, BPerson: "d1"})
			}
			mustErr(t, b.s.ReplaceMatchesMany(ctx, []store.CaseCandidates{st}, b.clock.Now()), nil)
		}
		// Each registration lists the sought person; the sought person's
		// bounded list holds r1, r2 is past its bound.
		step(r1, []store.NewMatchCandidate{cand(s, "p1", r1, "d1", 0.5)})
		step(r2, []store.NewMatchCandidate{cand(s, "p1", r2, "d1", 0.5)})
		step(s, []store.NewMatchCandidate{cand(s, "p1", r1, "d1", 0.5)}, r2)
		if got := pairs(); got != "[XA-RC:DN-1 XA-RC:DN-2]" {
			t.Fatalf("after the sought person's bounded list: %s", got)
		}
		// Which side lists each, and what is past the sought person's bound.
		for _, m := range must[[]store.MatchCandidate](t)(b.s.ListMatches(ctx, store.MatchFilter{})) {
			if m.AListed != (m.BCase == r1) || !m.BListed {
				t.Fatalf("%s-%s listed by a %v, b %v", m.ACase, m.BCase, m.AListed, m.BListed)
			}
		}
		if got := must[map[string]int](t)(b.s.MatchesPast(ctx, s)); fmt.Sprint(got) != "map[p1:1]" {
			t.Fatalf("past the sought person's bound: %v", got)
		}
		if got := must[map[string]int](t)(b.s.MatchesPast(ctx, r1)); len(got) != 0 {
			t.Fatalf("past r1's bound: %v", got)
		}
		// r2 no longer lists it, and the sought person does not: it goes.
		step(r2, nil)
		if got := pairs(); got != "[XA-RC:DN-1]" {
			t.Fatalf("after r2 drops it: %s", got)
		}
		// r1 holds it past its bound, the sought person lists it: it
		// stays, until the sought person holds it past its bound too.
		step(r1, nil, r1)
		if got := pairs(); got != "[XA-RC:DN-1]" {
			t.Fatalf("after r1 drops it: %s", got)
		}
		step(s, nil, r1)
		if got := pairs(); got != "[]" {
			t.Fatalf("after both drop it: %s", got)
		}
		// The same in one batch.
		mustErr(t, b.s.ReplaceMatchesMany(ctx, []store.CaseCandidates{
			{CaseID: s, Cands: []store.NewMatchCandidate{cand(s, "p1", r1, "d1", 0.5)}, Past: []store.MatchPair{{s, "p1", r2, "d1"}}},
			{CaseID: r2, Cands: []store.NewMatchCandidate{cand(s, "p1", r2, "d1", 0.5)}},
			{CaseID: r1, Past: []store.MatchPair{{s, "p1", r1, "d1"}}},
		}, b.clock.Now()), nil)
		if got := pairs(); got != "[XA-RC:DN-1 XA-RC:DN-2]" {
			t.Fatalf("after one batch: %s", got)
		}
		// The sought person changed: neither pair is a candidate any more,
		// and r2's listing, made before, goes with it.
		step(s, nil)
		if got := pairs(); got != "[]" {
			t.Fatalf("after the sought person changed: %s", got)
		}
		if got := must[map[string]int](t)(b.s.MatchesPast(ctx, s)); len(got) != 0 {
			t.Fatalf("past the sought person's bound after it changed: %v", got)
		}
		// Erasure takes what was past the bound with the candidates.
		step(s, nil, r1, r2)
		must[store.ErasureResult](t)(b.s.EraseCase(ctx, s, store.Erasure{Reason: "consent_withdrawn"}))
		if got := must[map[string]int](t)(b.s.MatchesPast(ctx, s)); len(got) != 0 {
			t.Fatalf("past the bound after erasure: %v", got)
		}
	})
}
