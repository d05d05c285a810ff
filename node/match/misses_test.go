package match

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/match/corpus"
)

// TestMissesReport classifies, on the node's setting (every person, sought
// and registered, in one index; each sought person matched as a node
// matches a case), the true pairs that are not candidates: never in one
// block, in blocks too large to read, compared but under the threshold,
// or cut (outranked, or past MaxCandidates); and the wrong candidates by
// kind. A study tool: FLX_MATCH_MISSES=N runs it at N x N.
//
//	FLX_MATCH_MISSES=100000 go test ./node/match -run MissesReport -v -timeout 30m
func TestMissesReport(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("FLX_MATCH_MISSES"))
	if err != nil || n <= 0 {
		t.Skip("FLX_MATCH_MISSES=N runs it at N x N")
	}
	c := corpus.Generate(corpus.Config{Seed: 100, Sought: n, Registered: n, Overlap: 0.5})
	sought, reg, truth := prepared(t, c)
	// FLX_MATCH_SWEEP: match at a lower threshold and report precision
	// and recall at each threshold from there to the default (a candidate
	// is only ever outranked by a heavier one, so the candidates at a
	// threshold are those of a lower one that reach it).
	opts := Options{}
	sweep := os.Getenv("FLX_MATCH_SWEEP") != ""
	if sweep {
		opts.Threshold = 0.05
	}
	ix := NewIndex(opts)
	for _, p := range reg {
		ix.Put(p.CaseID, []*Person{p})
	}
	for _, p := range sought {
		ix.Put(p.CaseID, []*Person{p})
	}
	// As the bulk match job: every person held, the registered ones by
	// inversion.
	t0, cpu0 := time.Now(), cputime.Process()
	sess := ix.Session()
	sess.FillHeld()
	res := sess.MatchAll(append(append([]*Person{}, sought...), reg...))[:len(sought)]
	t.Logf("every person matched in %.1f s (%.1f s of CPU)", time.Since(t0).Seconds(), (cputime.Process() - cpu0).Seconds())
	type pair struct{ a, b Ref }
	got := map[pair]Candidate{}
	var cands []Candidate
	for _, cs := range res {
		for _, cd := range cs {
			k := pair{cd.A, cd.B}
			if cd.A.CaseID > cd.B.CaseID {
				k = pair{cd.B, cd.A}
			}
			if _, ok := got[k]; !ok {
				got[k] = cd
				cands = append(cands, cd)
			}
		}
	}
	if sweep {
		for _, th := range []float64{0.05, 0.06, 0.065, 0.07, 0.075, 0.08, 0.09, 0.1} {
			n, ok := 0, 0
			for _, cd := range cands {
				if cd.Score >= th {
					n++
					if truth[cd.A] == truth[cd.B] {
						ok++
					}
				}
			}
			t.Logf("threshold %.3f: %d candidates, %d correct: precision %.4f recall %.4f", th, n, ok, float64(ok)/float64(n), float64(ok)/float64(c.TruePairs()))
		}
		byLevel := map[string][2]int{}
		for _, cd := range cands {
			if cd.Score >= 0.1 {
				k := cd.Fields[0].Level + "/" + cd.Fields[1].Level
				v := byLevel[k]
				if truth[cd.A] == truth[cd.B] {
					v[0]++
				} else {
					v[1]++
				}
				byLevel[k] = v
			}
		}
		t.Logf("at 0.1, [correct wrong] by name/birth level: %v", byLevel)
		return
	}
	regByTruth := map[int][]*Person{}
	for _, p := range reg {
		regByTruth[truth[p.Ref]] = append(regByTruth[truth[p.Ref]], p)
	}
	recs := map[Ref]*corpus.Record{}
	for _, side := range [][]corpus.Record{c.Sought, c.Registered} {
		for i := range side {
			recs[Ref{CaseID: side[i].CaseID, PersonID: side[i].Person.ID}] = &side[i]
		}
	}
	kinds := map[string]int{}
	var examples []string
	truePairs, found := 0, 0
	sc := &scratch{}
	for _, s := range sought {
		for _, r := range regByTruth[truth[s.Ref]] {
			truePairs++
			k := pair{s.Ref, r.Ref}
			if s.CaseID > r.CaseID {
				k = pair{r.Ref, s.Ref}
			}
			if _, ok := got[k]; ok {
				found++
				continue
			}
			kind := ix.missKind(s, r, sc)
			kinds[kind]++
			if len(examples) < 400 || strings.Contains(kind, "would-pass") {
				examples = append(examples, fmt.Sprintf("%s\n  S %s\n  R %s\n  %s\n  S %s\n  R %s", kind, describe(recs[s.Ref]), describe(recs[r.Ref]), explainShort(ix.Compare(s, r)), tokens(s), tokens(r)))
			}
		}
	}
	wrong := map[string]int{}
	correct := 0
	for _, cd := range cands {
		if truth[cd.A] != truth[cd.B] && len(examples) < 800 {
			examples = append(examples, fmt.Sprintf("wrong\n  A %s\n  B %s\n  %s", describe(recs[cd.A]), describe(recs[cd.B]), explainShort(cd)))
		}
		switch {
		case truth[cd.A] == truth[cd.B]:
			correct++
		case strings.Contains(cd.A.CaseID, ":TR-") && strings.Contains(cd.B.CaseID, ":TR-"):
			wrong["sought-sought"]++
		default:
			wrong["sought-registered"]++
		}
	}
	t.Logf("%d x %d: %d true pairs, %d found; %d candidates, %d correct: precision %.4f recall %.4f", n, n, truePairs, found, len(cands), correct,
		float64(correct)/float64(len(cands)), float64(found)/float64(truePairs))
	t.Logf("misses by kind: %v; wrong candidates by kind: %v", kinds, wrong)
	sort.Strings(examples)
	if err := os.WriteFile(os.Getenv("FLX_MATCH_MISSES_OUT"), []byte(strings.Join(examples, "\n")), 0o644); err != nil {
		t.Log(err)
	}
}

// missKind says why a true pair is not a candidate.
func (ix *Index) missKind(s, r *Person, sc *scratch) string {
	shared, readable := 0, 0
	for _, k := range s.keys {
		if slices.Contains(r.keys, k) {
			shared++
		}
	}
	// Read: among the persons matching s compares (blocks over the
	// limits skipped, refined blocks read through s's finer keys).
	ix.mu.RLock()
	if slot, ok := ix.byRefLocked(r.Ref); ok && slices.Contains(ix.candidatesLocked(s, sc), slot) {
		readable++
	}
	ix.mu.RUnlock()
	c := ix.Compare(s, r)
	pass := "would-pass"
	if c.Score < ix.opts.Threshold {
		pass = "would-fail"
	}
	switch {
	case shared == 0:
		return "blocking:no-shared-key:" + pass
	case readable == 0:
		return "blocking:blocks-too-large-or-refined-apart:" + pass
	}
	if c.Score < ix.opts.Threshold {
		return "scoring:under-threshold"
	}
	return "cut:outranked-or-max"
}

func describe(r *corpus.Record) string {
	var b strings.Builder
	for _, n := range r.Person.Names {
		fmt.Fprintf(&b, "[%s %s/%s %q] ", n.Part, n.Script, n.Scheme, n.Value)
	}
	fmt.Fprintf(&b, "birth=%s", r.Person.BirthDate)
	if r.Person.Age != nil {
		fmt.Fprintf(&b, " age=%v-%v@%s", deref(r.Person.Age.Min), deref(r.Person.Age.Max), r.Person.Age.AsOf)
	}
	fmt.Fprintf(&b, " sex=%s", r.Person.Sex)
	return b.String()
}

func tokens(p *Person) string {
	var b strings.Builder
	for _, sl := range p.slots {
		b.WriteString("{")
		for _, i := range sl {
			t := p.tokens[i]
			fmt.Fprintf(&b, " %s/%s/%s", t.Phonetic, t.Skeleton, t.AltSkeleton)
		}
		b.WriteString(" } ")
	}
	return b.String()
}

func deref(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

func explainShort(c Candidate) string {
	var b strings.Builder
	fmt.Fprintf(&b, "score=%.3f w=%.1f off=%.1f", c.Score, c.Weight, c.Offset)
	for _, f := range c.Fields {
		fmt.Fprintf(&b, " %s:%s(%.1f)", f.Field, f.Level, f.Weight)
		if f.Field == "name" {
			fmt.Fprintf(&b, "%v", f.TokenWeights)
		}
	}
	return b.String()
}
