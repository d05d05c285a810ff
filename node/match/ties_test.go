package match

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/familylinks/flx/schema"
)

// tiePopulation draws a population where many persons tie: a few names,
// each held by up to 30 sought and registered persons alike, some with a
// full birth date (a heavier agreement: another score), with case ids in
// no particular order.
func tiePopulation(t *testing.T, r *rand.Rand) []*Person {
	t.Helper()
	names := [][2]string{{"Ahmed", "Ali"}, {"Karo", "Hovsampelyan"}, {"Ahmad", "Ali"}}
	var out []*Person
	used := map[string]bool{}
	for _, nm := range names[:1+r.IntN(len(names))] {
		sought, reg := r.IntN(8), r.IntN(35)
		for i := range sought + reg {
			id := fmt.Sprintf("%04d", r.IntN(10000))
			for used[id] {
				id += "x"
			}
			used[id] = true
			birth := schema.PartialDate("1980")
			if r.IntN(4) == 0 {
				birth = "1980-05-02"
			}
			prefix := "DN-"
			if i < sought {
				prefix = "TR-"
			}
			out = append(out, pers{caseID: prefix + id, names: parts(nm[0], nm[1]), birth: birth, sex: schema.SexMale}.prepare(t))
		}
	}
	return out
}

func other(p *Person, c Candidate) Ref {
	if c.A == p.Ref {
		return c.B
	}
	return c.A
}

// TestBoundedListsCoverEveryPair: over random tie-heavy populations, with
// the bound (MaxCandidates) at 20 and at 5, against the same matching
// without a bound: every person's list is the first of its unbounded
// list, and all of it when nothing is past the bound; every pair the
// unbounded matching lists is listed by one of its two persons, or both
// persons' lists are truncated (candidates past the bound); and the lists
// do not depend on the order the persons were put in the index, nor on
// whether a Session or Match computed them.
func TestBoundedListsCoverEveryPair(t *testing.T) {
	sawCut, sawBothCut := 0, 0
	for seed := range uint64(12) {
		r := rand.New(rand.NewPCG(seed, 99))
		ps := tiePopulation(t, r)
		bound := []int{20, 5}[seed%2]
		put := func(ix *Index, order []int) {
			for _, i := range order {
				ix.Put(ps[i].CaseID, []*Person{ps[i]})
			}
		}
		order := r.Perm(len(ps))
		all, bounded, shuffled := NewIndex(Options{MaxCandidates: 1 << 20}), NewIndex(Options{MaxCandidates: bound}), NewIndex(Options{MaxCandidates: bound})
		put(all, order)
		put(bounded, order)
		put(shuffled, r.Perm(len(ps)))
		lists, past := bounded.Session().MatchAllCut(ps)
		listed := map[[2]Ref]bool{}
		for i, p := range ps {
			l, pa := bounded.MatchCut(p)
			l2, pa2 := shuffled.MatchCut(p)
			if !slices.EqualFunc(l, lists[i], sameCand) || !slices.EqualFunc(pa, past[i], sameCand) {
				t.Fatalf("seed %d: %s: MatchCut and MatchAllCut differ", seed, p.CaseID)
			}
			if !slices.EqualFunc(l, l2, sameCand) || !slices.EqualFunc(pa, pa2, sameCand) {
				t.Fatalf("seed %d: %s: the list depends on the order of Put:\n %v\n %v", seed, p.CaseID, refs(p, l), refs(p, l2))
			}
			if len(l) > bound {
				t.Fatalf("seed %d: %s lists %d, bound %d", seed, p.CaseID, len(l), bound)
			}
			for _, c := range l {
				listed[[2]Ref{p.Ref, other(p, c)}] = true
			}
		}
		for i, p := range ps {
			u := all.Match(p)
			if len(past[i]) == 0 && !slices.EqualFunc(lists[i], u, sameCand) {
				t.Fatalf("seed %d: %s: nothing past the bound, yet the list %v is not the unbounded %v", seed, p.CaseID, refs(p, lists[i]), refs(p, u))
			}
			if len(past[i]) > 0 {
				sawCut++
			}
			for _, c := range u {
				q := other(p, c)
				if listed[[2]Ref{p.Ref, q}] || listed[[2]Ref{q, p.Ref}] {
					continue
				}
				j := slices.IndexFunc(ps, func(x *Person) bool { return x.Ref == q })
				if len(past[i]) == 0 || len(past[j]) == 0 {
					t.Fatalf("seed %d: %s and %s: a candidate neither lists, though %s's list is not truncated",
						seed, p.CaseID, q.CaseID, map[bool]string{true: p.CaseID, false: q.CaseID}[len(past[i]) == 0])
				}
				sawBothCut++
			}
		}
	}
	if sawCut == 0 || sawBothCut == 0 {
		t.Fatalf("lists cut %d, pairs past both bounds %d: the populations tie too little", sawCut, sawBothCut)
	}
}

func sameCand(a, b Candidate) bool { return a.A == b.A && a.B == b.B && a.Score == b.Score }

func refs(p *Person, cs []Candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, other(p, c).CaseID)
	}
	return out
}
