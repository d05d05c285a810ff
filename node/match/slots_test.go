package match

import (
	"slices"
	"sort"
	"testing"

	"github.com/familylinks/flx/node/match/corpus"
)

// TestSlotsOfAsBefore checks slotsOf, which sorts its links with
// slices.SortStableFunc and builds in prepare's buffers, against the
// version that sorted with sort.SliceStable (below), on every person of a
// generated corpus and of the exchange list.
func TestSlotsOfAsBefore(t *testing.T) {
	c := corpus.Generate(corpus.Config{Seed: 41, Sought: 3000, Registered: 3000, Overlap: 0.5})
	var ps []*Person
	for _, recs := range [][]corpus.Record{c.Sought, c.Registered} {
		for i := range recs {
			if p, ok := Prepare(recs[i].CaseID, recs[i].CaseType, &recs[i].Person, refTime); ok {
				ps = append(ps, p)
			}
		}
	}
	held, _ := perCaseExchange(2000)
	ps = append(ps, held...)
	pb := new(prepBuf)
	for _, p := range ps {
		want := slotsOfReference(p)
		got := slotsOf(p, pb)
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("%v: slots %v, want %v", p.Ref, got, want)
		}
		if !slices.EqualFunc(p.slots, want, slices.Equal) {
			t.Fatalf("%v: prepared slots %v, want %v", p.Ref, p.slots, want)
		}
	}
}

func slotsOfReference(m *Person) [][]int {
	n := len(m.tokens)
	// in[i] is the set of renderings token i appears in.
	in := make([]uint32, n)
	for ri, r := range m.renderings {
		for _, t := range r.tokens {
			in[t] |= 1 << ri
		}
	}
	type link struct {
		i, j int
		g    agreement
		jw   float64
	}
	var links []link
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if in[i]&in[j] != 0 {
				continue
			}
			if g, jw, _ := compareWords(&m.tokens[i], &m.tokens[j]); g <= agreeEdit {
				links = append(links, link{i, j, g, jw})
			}
		}
	}
	sort.SliceStable(links, func(x, y int) bool {
		if links[x].g != links[y].g {
			return links[x].g < links[y].g
		}
		return links[x].jw > links[y].jw
	})
	slot := make([]int, n) // slot of each token; slots by their first token
	mask := make([]uint32, n)
	for i := range slot {
		slot[i], mask[i] = i, in[i]
	}
	for _, l := range links {
		a, b := slot[l.i], slot[l.j]
		if a == b || mask[a]&mask[b] != 0 {
			continue
		}
		for t := range slot {
			if slot[t] == b {
				slot[t] = a
			}
		}
		mask[a] |= mask[b]
	}
	var out [][]int
	index := in // read no more: by slot, 1 + its place in out (0: none yet)
	clear(index)
	for t, s := range slot {
		k := int(index[s]) - 1
		if k < 0 {
			k = len(out)
			index[s] = uint32(k + 1)
			out = append(out, nil)
		}
		out[k] = append(out[k], t)
	}
	return out
}
