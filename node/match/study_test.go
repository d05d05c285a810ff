package match

import (
	"math"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/match/corpus"
)

// TestLevelShares: among the pairs blocking brings together whose names
// weigh at least 5 bits (the pairs near a decision), the share of true
// matches (m) and of other pairs (u) at each level of each field, and
// log2(m/u). A study tool: FLX_MATCH_STUDY=1.
func TestLevelShares(t *testing.T) {
	if os.Getenv("FLX_MATCH_STUDY") == "" {
		t.Skip("FLX_MATCH_STUDY=1")
	}
	c := corpus.Generate(corpus.Config{Seed: 7, Sought: 20000, Registered: 20000, Overlap: 0.5})
	sought, reg, truth := prepared(t, c)
	ix := NewIndex(Options{})
	for _, p := range append(append([]*Person{}, reg...), sought...) {
		ix.Put(p.CaseID, []*Person{p})
	}
	m, u := map[string]float64{}, map[string]float64{}
	var nm, nu float64
	sc := &scratch{}
	for _, p := range sought {
		seen := map[*Person]bool{}
		for _, k := range p.keys {
			b := ix.blocks[k]
			if len(b) > ix.opts.MaxBlock || len(b) > ix.opts.MaxWordBlock && strings.HasPrefix(k, "n1:") {
				continue
			}
			for _, s := range b {
				q := ix.slots[s]
				if seen[q] || q.CaseID == p.CaseID || q.Side == SideSought {
					continue
				}
				seen[q] = true
				ca, cb := make([]int32, len(p.words)), make([]int32, len(q.words))
				ix.countWords(p, ca)
				ix.countWords(q, cb)
				cd := sc.explain(p, q, population{n: ix.n, ca: ca, cb: cb})
				if cd.Fields[0].Weight < 5 {
					continue
				}
				tgt, n := u, &nu
				if truth[p.Ref] == truth[q.Ref] {
					tgt, n = m, &nm
				}
				*n++
				for _, f := range cd.Fields {
					tgt[f.Field+":"+f.Level]++
				}
			}
		}
	}
	var keys []string
	for k := range u {
		keys = append(keys, k)
	}
	for k := range m {
		if _, ok := u[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	t.Logf("%0.f true pairs, %0.f others", nm, nu)
	for _, k := range keys {
		t.Logf("%-32s m %.4f u %.4f log2(m/u) %+.2f", k, m[k]/nm, u[k]/nu, math.Log2((m[k]/nm)/(u[k]/nu)))
	}
}
