package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// TestReplaceMatchesManyAsSequential: ReplaceMatchesMany leaves the same
// candidates (pairs, scores, explanations, states, decisions) as
// ReplaceMatches called step by step, from the same starting candidates
// (open, decided, remote), over random steps that name a case several
// times, list a pair from both sides, hold it past their bound, or list
// nothing.
func TestReplaceMatchesManyAsSequential(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		sawOpen, sawDecided := false, false
		for round := range 6 {
			r := rand.New(rand.NewPCG(uint64(round), 7))
			seq, bulk := fmt.Sprintf("XA-RC:S%d-", round), fmt.Sprintf("XA-RC:B%d-", round)
			caseOf := func(prefix string, i int) string { return fmt.Sprintf("%s%d", prefix, i) }
			randomSteps := func(n int) [][2]any { // (case number, candidates as [other, ap, bp, ppm, past])
				var steps [][2]any
				for range n {
					c := r.IntN(8)
					var cs [][5]int
					for range r.IntN(4) {
						o := r.IntN(8)
						if o == c {
							continue
						}
						cs = append(cs, [5]int{o, r.IntN(2), r.IntN(2), 100000 + r.IntN(900000), r.IntN(3)})
					}
					steps = append(steps, [2]any{c, cs})
				}
				return steps
			}
			build := func(prefix string, steps [][2]any) []store.CaseCandidates {
				var out []store.CaseCandidates
				for _, st := range steps {
					c := st[0].(int)
					cc := store.CaseCandidates{CaseID: caseOf(prefix, c)}
					for _, x := range st[1].([][5]int) {
						a, b := c, x[0]
						if a > b {
							a, b = b, a // one order for a pair, as the node gives
						}
						if x[4] == 0 { // a candidate past the bound of the case's list
							cc.Past = append(cc.Past, store.MatchPair{ACase: caseOf(prefix, a), APerson: fmt.Sprintf("p%d", x[1]),
								BCase: caseOf(prefix, b), BPerson: fmt.Sprintf("p%d", x[2])})
							continue
						}
						m := cand(caseOf(prefix, a), fmt.Sprintf("p%d", x[1]), caseOf(prefix, b), fmt.Sprintf("p%d", x[2]), float64(x[3])/1e6)
						m.Explanation = json.RawMessage(fmt.Sprintf(`{"weight":%d}`, x[3]))
						cc.Cands = append(cc.Cands, m)
					}
					out = append(out, cc)
				}
				return out
			}
			// The same starting point under both prefixes: some rounds of
			// matching, some decisions, a remote candidate.
			start := randomSteps(10)
			decide := []int{r.IntN(6), 6 + r.IntN(6), 12 + r.IntN(6)}
			for _, prefix := range []string{seq, bulk} {
				for _, st := range build(prefix, start) {
					mustErr(t, b.s.ReplaceMatchesMany(ctx, []store.CaseCandidates{st}, b.clock.Now()), nil)
				}
				held := listAll(t, b, prefix)
				for i, d := range decide {
					if d < len(held) {
						state := []string{store.MatchConfirmed, store.MatchRejected}[i%2]
						must[store.MatchCandidate](t)(b.s.DecideMatch(ctx, held[d].ID, state, "cw-anna", b.clock.Now()))
					}
				}
				rm := cand(caseOf(prefix, 1), "p0", "XB-RC", "h-1", 0.7)
				rm.Remote = "XB-RC"
				mustErr(t, b.s.RecordRemoteMatches(ctx, []store.NewMatchCandidate{rm}, b.clock.Now()), nil)
			}
			steps := randomSteps(12)
			for _, st := range build(seq, steps) {
				mustErr(t, b.s.ReplaceMatchesMany(ctx, []store.CaseCandidates{st}, b.clock.Now()), nil)
			}
			mustErr(t, b.s.Tx(ctx, func(tx store.Tx) error {
				return tx.ReplaceMatchesMany(ctx, build(bulk, steps), b.clock.Now())
			}), nil)
			got, want := summary(listAll(t, b, bulk), bulk), summary(listAll(t, b, seq), seq)
			sawOpen = sawOpen || strings.Contains(fmt.Sprint(want), " open ")
			sawDecided = sawDecided || strings.Contains(fmt.Sprint(want), "cw-anna")
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d:\nbulk       %v\nsequential %v", round, got, want)
			}
		}
		if !sawOpen || !sawDecided {
			t.Fatalf("open candidates left %v, decided ones %v: the comparison says little", sawOpen, sawDecided)
		}
		// A candidate naming neither its step's case is refused.
		err := b.s.ReplaceMatchesMany(ctx, []store.CaseCandidates{{CaseID: "XA-RC:X", Cands: []store.NewMatchCandidate{cand("XA-RC:Y", "p1", "XA-RC:Z", "p1", 0.5)}}}, b.clock.Now())
		mustErr(t, err, store.ErrInvalid)
	})
}

func listAll(t *testing.T, b *backend, prefix string) []store.MatchCandidate {
	t.Helper()
	var out []store.MatchCandidate
	for after := int64(0); ; {
		page := must[[]store.MatchCandidate](t)(b.s.ListMatches(t.Context(), store.MatchFilter{AfterID: after, Limit: 1000}))
		for _, m := range page {
			if strings.HasPrefix(m.ACase, prefix) {
				out = append(out, m)
			}
		}
		if len(page) < 1000 {
			return out
		}
		after = page[len(page)-1].ID
	}
}

// summary is what a candidate says, its ids and times left out and the
// prefix of its cases dropped, sorted.
func summary(ms []store.MatchCandidate, prefix string) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s/%s %s/%s %.6f %s %s %s %s", strings.TrimPrefix(m.ACase, prefix), m.APerson,
			strings.TrimPrefix(m.BCase, prefix), m.BPerson, m.Score, m.Explanation, m.State, m.DecidedBy, m.Remote))
	}
	sort.Strings(out)
	return out
}

// TestMatchPending: marks are kept per case at the highest version marked
// (also when one call names a case twice),
// cleared only up to the version matched, listed in pages, and erased with
// the case.
func TestMatchPending(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		mustErr(t, b.s.Tx(ctx, func(tx store.Tx) error {
			return tx.MarkMatchPending(ctx, []store.PendingMatch{{CaseID: "XA-RC:1", Version: 1}, {CaseID: "XA-RC:2", Version: 1}, {CaseID: "XA-RC:3", Version: 4}})
		}), nil)
		// A case named twice in one call keeps its highest version.
		mustErr(t, b.s.MarkMatchPending(ctx, []store.PendingMatch{{CaseID: "XA-RC:2", Version: 2}, {CaseID: "XA-RC:3", Version: 3}, {CaseID: "XA-RC:2", Version: 1}}), nil)
		list := func() []store.PendingMatch {
			var out []store.PendingMatch
			after := ""
			for {
				page := must[[]store.PendingMatch](t)(b.s.ListMatchPending(ctx, after, 2))
				out = append(out, page...)
				if len(page) < 2 {
					return out
				}
				after = page[len(page)-1].CaseID
			}
		}
		want := []store.PendingMatch{{CaseID: "XA-RC:1", Version: 1}, {CaseID: "XA-RC:2", Version: 2}, {CaseID: "XA-RC:3", Version: 4}}
		if got := list(); !reflect.DeepEqual(got, want) {
			t.Fatalf("marks %v, want %v", got, want)
		}
		// Matching version 1 of case 2 leaves its version-2 mark.
		mustErr(t, b.s.ClearMatchPending(ctx, []store.PendingMatch{{CaseID: "XA-RC:1", Version: 1}, {CaseID: "XA-RC:2", Version: 1}}), nil)
		want = want[1:]
		if got := list(); !reflect.DeepEqual(got, want) {
			t.Fatalf("after clearing: %v, want %v", got, want)
		}
		must[store.Case](t)(b.s.CreateCase(ctx, newCase("XA-RC:3")))
		must[store.ErasureResult](t)(b.s.EraseCase(ctx, "XA-RC:3", store.Erasure{Reason: "consent_withdrawn"}))
		if got := list(); !reflect.DeepEqual(got, want[:1]) {
			t.Fatalf("after erasure: %v, want %v", got, want[:1])
		}
	})
}

// TestReplaceMatchesUnchangedKeepTime: matching again and finding a pair
// with the same score and explanation leaves its row as it is (updated_at
// is when it last changed, and the bulk job writes nothing for it); a pair
// whose score changed is refreshed. Both paths.
func TestReplaceMatchesUnchangedKeepTime(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		t0 := b.clock.Now()
		for _, tc := range []struct {
			x       string
			replace func(x string, cs []store.NewMatchCandidate, at time.Time) error
		}{
			{"XA-RC:one", func(x string, cs []store.NewMatchCandidate, at time.Time) error {
				return b.s.ReplaceMatches(ctx, x, cs, at)
			}},
			{"XA-RC:many", func(x string, cs []store.NewMatchCandidate, at time.Time) error {
				return b.s.ReplaceMatchesMany(ctx, []store.CaseCandidates{{CaseID: x, Cands: cs}}, at)
			}},
		} {
			x := tc.x
			mustErr(t, tc.replace(x, []store.NewMatchCandidate{cand(x, "p1", "XB-RC:1", "p1", 0.5), cand(x, "p1", "XB-RC:2", "p1", 0.6)}, t0), nil)
			later := t0.Add(time.Hour)
			mustErr(t, tc.replace(x, []store.NewMatchCandidate{cand(x, "p1", "XB-RC:1", "p1", 0.5), cand(x, "p1", "XB-RC:2", "p1", 0.7)}, later), nil)
			got := map[string]store.MatchCandidate{}
			for _, m := range must[[]store.MatchCandidate](t)(b.s.ListMatches(ctx, store.MatchFilter{CaseID: x})) {
				got[m.BCase] = m
			}
			if m := got["XB-RC:1"]; !m.UpdatedAt.Equal(t0) || m.Score != 0.5 {
				t.Errorf("%s: unchanged pair updated at %v (score %v), want %v", x, m.UpdatedAt, m.Score, t0)
			}
			if m := got["XB-RC:2"]; !m.UpdatedAt.Equal(later) || m.Score != 0.7 || !m.CreatedAt.Equal(t0) {
				t.Errorf("%s: changed pair %+v, want updated at %v with score 0.7", x, m, later)
			}
		}
	})
}

// TestOwnPool: the store OwnPool gives works while every connection of
// the store's own pool is held (a transaction open on its only one), on
// connections of its own; a read on the store's pool meanwhile waits.
// Its release closes its pool only. On SQLite it is the store itself.
func TestOwnPool(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		s := b.open(t, store.WithMaxOpenConns(1))
		own, release, err := s.(store.OwnPool).OwnPool(1)
		if err != nil {
			t.Fatal(err)
		}
		if b.dialect == store.SQLite {
			if own != s {
				t.Fatal("SQLite: OwnPool is not the store itself")
			}
			if err := release(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ListMatchPending(ctx, "", 1); err != nil {
				t.Fatalf("the store after release: %v", err)
			}
			return
		}
		// The store's only connection, held.
		holding, done := make(chan struct{}), make(chan struct{})
		go func() {
			_ = s.Tx(ctx, func(tx store.Tx) error {
				close(holding)
				<-done
				return nil
			})
		}()
		<-holding
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err = s.ListMatchPending(short, "", 1)
		cancel()
		if err == nil {
			t.Fatal("the store's pool answered with its only connection held: the test holds nothing")
		}
		within, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		mark := []store.PendingMatch{{CaseID: "XA-RC:OWN-1", Version: 1}}
		if err := own.Tx(within, func(tx store.Tx) error { return tx.MarkMatchPending(within, mark) }); err != nil {
			t.Fatalf("own pool, write: %v", err)
		}
		got, err := own.ListMatchPending(within, "", 10)
		if err != nil || len(got) != 1 || got[0] != mark[0] {
			t.Fatalf("own pool, read: %v %v", got, err)
		}
		close(done)
		if err := release(); err != nil {
			t.Fatal(err)
		}
		if _, err := own.ListMatchPending(ctx, "", 1); err == nil {
			t.Fatal("own pool answers after release")
		}
		if got, err := s.ListMatchPending(ctx, "", 10); err != nil || len(got) != 1 {
			t.Fatalf("the store after release: %v %v", got, err)
		}
	})
}

// ReplaceMatchesMany reads the candidates of the cases it names through
// the case indexes however many candidates are held: a batch of received
// cases (a few hundred) named as "a_case = ANY(ids)" made PostgreSQL
// without statistics scan the whole table twice per batch, so matching a
// crisis list cost more with every case matched before.
func TestReplaceMatchesManyReadsByCase(t *testing.T) {
	b := newBackend(t, store.Postgres)
	ctx := t.Context()
	// Candidates held already: 20,000 between other cases.
	if _, err := b.raw.ExecContext(ctx, `INSERT INTO match_candidates (a_case, a_person, b_case, b_person, score_ppm, explanation, state, created_at, updated_at)
		SELECT 'XA-RC:OLD-' || g, 'p1', 'XA-RC:OLD-' || (g + 1), 'p1', 500000, '{"fields":[]}', 'open', now(), now()
		FROM generate_series(1, 20000) g`); err != nil {
		t.Fatal(err)
	}
	// A batch of 300 cases, a candidate each.
	var steps []store.CaseCandidates
	for i := range 300 {
		a, o := fmt.Sprintf("XA-RC:NEW-%03d", i), fmt.Sprintf("XA-RC:OLD-%d", i+1)
		steps = append(steps, store.CaseCandidates{CaseID: a, Cands: []store.NewMatchCandidate{cand(a, "p1", o, "p1", 0.8)}})
	}
	err := b.s.Tx(ctx, func(tx store.Tx) error {
		before, err := store.RowsScanned(t, tx, "match_candidates")
		if err != nil {
			return err
		}
		if err := tx.ReplaceMatchesMany(ctx, steps, b.clock.Now()); err != nil {
			return err
		}
		after, err := store.RowsScanned(t, tx, "match_candidates")
		if err != nil {
			return err
		}
		if after != before {
			t.Errorf("ReplaceMatchesMany of 300 cases read %d rows of match_candidates by sequential scans, want 0", after-before)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT COUNT(*) FROM match_candidates WHERE a_case LIKE 'XA-RC:NEW-%'`); n != 300 {
		t.Fatalf("%d candidates of the batch held, want 300", n)
	}
}
