package match

import (
	"cmp"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"testing"
	"time"

	"github.com/familylinks/flx/node/cputime"
)

// BenchmarkReceiveGrowth times what a node does for each received case of
// the list `flx bench exchange` sends (perCaseExchange) when it holds n
// persons: Put, then a session of its own; and counts, per case matched,
// the pairs at each stage of matchLocked (stageCounts): read from the
// blocks, past the vitals' first test, past evaluate's tests before the
// names, past the name's bound, scored in full. The work per case should
// not grow with n.
//
//	go test ./node/match -run '^$' -bench ReceiveGrowth -benchtime 4000x -count 5
func BenchmarkReceiveGrowth(b *testing.B) {
	for _, n := range []int{20000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ix, queries := growthIndex(n)
			cases := byCase(queries)
			var st stages
			for _, q := range queries {
				st.add(stageCounts(ix, q))
			}
			if f := os.Getenv("FLX_GROWTH_PROFILE"); f != "" {
				out, err := os.Create(fmt.Sprintf("%s.%d", f, n))
				if err != nil {
					b.Fatal(err)
				}
				defer out.Close()
				if err := pprof.StartCPUProfile(out); err != nil {
					b.Fatal(err)
				}
				defer pprof.StopCPUProfile()
			}
			runtime.GC() // not the garbage of building the index
			b.ResetTimer()
			var put, sess time.Duration
			for i := range b.N {
				c := cases[i%len(cases)]
				u0 := cputime.Process()
				ix.Put(c[0].CaseID, c)
				u1 := cputime.Process()
				ix.Session().MatchAll(c)
				put, sess = put+u1-u0, sess+cputime.Process()-u1
			}
			b.StopTimer()
			cpu := put + sess
			b.ReportMetric(float64(put.Nanoseconds())/1e3/float64(b.N), "put-cpu-µs/case")
			b.ReportMetric(float64(sess.Nanoseconds())/1e3/float64(b.N), "session-cpu-µs/case")
			nq := float64(len(cases))
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/case")
			b.ReportMetric(float64(st.read)/nq, "read/case")
			b.ReportMetric(float64(st.vitals)/nq, "past-vitals/case")
			b.ReportMetric(float64(st.named)/nq, "past-bound/case")
			b.ReportMetric(float64(st.scored)/nq, "scored/case")
		})
	}
}

// BenchmarkMatchGrowth is BenchmarkReceiveGrowth's matching alone: the
// raw candidates of each person of the new cases (matchLocked) on an
// index of n persons that does not change.
func BenchmarkMatchGrowth(b *testing.B) {
	for _, n := range []int{20000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ix, queries := growthIndex(n)
			sc := &scratch{}
			runtime.GC()
			b.ResetTimer()
			u0 := cputime.Process()
			ix.mu.RLock()
			for i := range b.N {
				ix.matchLocked(queries[i%len(queries)], sc, nil)
			}
			ix.mu.RUnlock()
			cpu := cputime.Process() - u0
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/person")
		})
	}
}

// growthQueries is the number of new cases matched, each once (a case
// put again replaces itself, which a received case does not).
const growthQueries = 4000

// growthIndex returns an index of n persons of the exchange list, and the
// persons of growthQueries other cases of the same list.
func growthIndex(n int) (*Index, []*Person) {
	held, queries := perCaseExchange(n + 2*growthQueries)
	all := append(held, queries...)
	held, queries = all[:n], all[n:n+2*growthQueries]
	ix := NewIndex(Options{})
	for _, c := range byCase(held) {
		ix.Put(c[0].CaseID, c)
	}
	return ix, queries
}

// stages counts the pairs of one person's matching at each of
// matchLocked's steps.
type stages struct{ read, vitals, named, scored, kept int }

func (s *stages) add(t stages) {
	s.read += t.read
	s.vitals += t.vitals
	s.named += t.named
	s.scored += t.scored
	s.kept += t.kept
}

// stageCounts is matchLocked, counting.
func stageCounts(ix *Index, p *Person) stages {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var st stages
	sc := &scratch{}
	pop := population{n: ix.n}
	needW := need(ix.opts.Threshold, pop.offset())
	qc := make([]int32, len(p.words))
	ix.countWords(p, qc)
	pw := make([]float64, len(qc))
	for i, c := range qc {
		pw[i] = wordCap(c, pop.size())
	}
	caps := slices.Clone(pw)
	slices.SortFunc(caps, func(x, y float64) int { return cmp.Compare(y, x) })
	for i := 1; i < len(caps); i++ {
		caps[i] += caps[i-1]
	}
	for _, s := range slices.Clone(ix.candidatesLocked(p, sc)) {
		st.read++
		m := &ix.meta[s]
		k := min(int(p.maxWords), int(m.vit.maxWords), len(caps))
		nameCap := 0.0
		if k > 0 {
			nameCap = min(caps[k-1], partsCap(p, pw))
		}
		if otherWeight(&p.vitals, &m.vit)+nameCap+familyCap(&p.vitals, &m.vit) < needW {
			continue
		}
		st.vitals++
		q := ix.slots[s]
		cb := make([]int32, len(q.words))
		for i, id := range ix.wids[s] {
			cb[i] = ix.counts[id]
		}
		pp := population{n: ix.n, ca: qc, cb: cb, wa: pw}
		a, b := p, q
		if b.Side == SideSought && a.Side != SideSought {
			a, b = b, a
			pp.ca, pp.cb, pp.wa, pp.wb = pp.cb, pp.ca, nil, pw
		}
		w := otherWeight(&a.vitals, &b.vitals)
		wf := fatherWeight(a, b)
		_, wp := comparePlace(a, b)
		if w+nameCap+wf+wp < needW || !sc.nameMayReach(a, b, pp, w, wf, wp, needW) {
			continue
		}
		st.named++
		if _, ok := sc.evaluate(a, b, pp, needW, nameCap); !ok {
			continue
		}
		st.scored++
		if c := sc.explain(a, b, pp); c.Score >= ix.opts.Threshold {
			st.kept++
		}
	}
	return st
}
