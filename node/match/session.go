package match

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// A Session matches many persons against an index that does not change
// meanwhile, as Match would one after the other, but computes the
// candidates of each person among those held once however many times they
// are asked for (Match reads them for the person matched and again for
// each other person of its candidates, to see what that person
// outranks), and spreads the work over the cores. A node matching an
// import batch, or every case it holds, asks for the same persons many
// times over. A Session holds personal data derived from the index; drop
// it when done. Put or Remove on the index makes the session start over.
type Session struct {
	ix  *Index
	gen uint64
	raw map[*Person][]Candidate
}

// Session starts a session on the index.
func (ix *Index) Session() *Session {
	return &Session{ix: ix, raw: map[*Person][]Candidate{}}
}

// MatchAll returns, for each of ps, what Match returns for it on the index
// as it is.
func (s *Session) MatchAll(ps []*Person) [][]Candidate {
	lists, _ := s.MatchAllCut(ps)
	return lists
}

// MatchAllCut returns, for each of ps, what MatchCut returns for it on the
// index as it is.
func (s *Session) MatchAllCut(ps []*Person) (lists, past [][]Candidate) {
	ix := s.ix
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if s.gen != ix.gen {
		clear(s.raw)
		s.gen = ix.gen
	}
	s.fill(ps)
	// What Match does before it looks at the other persons' views, then
	// the views those persons need, then the rest.
	outs := make([][]Candidate, len(ps))
	past = make([][]Candidate, len(ps))
	var others []*Person
	asked := map[*Person]bool{}
	for i, p := range ps {
		outs[i], past[i] = ix.firstCut(p, slices.Clone(s.raw[p]))
		past[i] = slices.Clone(past[i])
		for j := range outs[i] {
			if q := ix.otherView(p, &outs[i][j]); q != nil && !asked[q] {
				asked[q] = true
				others = append(others, q)
			}
		}
	}
	s.fill(others)
	for i, p := range ps {
		outs[i] = ix.lastCut(p, outs[i], func(q *Person) []Candidate { return s.raw[q] })
	}
	return outs, past
}

// FillHeld computes at once the candidates among those held of every
// person the index holds, for a session that is to match them all (the
// bulk match job): it matches the sought persons only, on every core, and
// gives every other person the candidates naming it. A pair always has a
// sought person on one side and is scored with that person first, so
// matching a registered person would compare exactly the pairs its sought
// candidates' matching already compared, with the same result: this
// spares a third of the comparisons.
func (s *Session) FillHeld() {
	ix := s.ix
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if s.gen != ix.gen {
		clear(s.raw)
		s.gen = ix.gen
	}
	var sought []*Person
	for _, p := range ix.slots {
		if p != nil && p.Side == SideSought {
			sought = append(sought, p)
		}
	}
	s.fill(sought)
	inv := map[*Person][]Candidate{}
	for _, p := range sought {
		for _, c := range s.raw[p] {
			other := c.B
			if other == p.Ref {
				other = c.A
			}
			if sl, ok := ix.byRefLocked(other); ok && ix.slots[sl].Side != SideSought {
				inv[ix.slots[sl]] = append(inv[ix.slots[sl]], c)
			}
		}
	}
	for _, p := range ix.slots {
		if _, ok := s.raw[p]; p != nil && p.Side != SideSought && !ok {
			s.raw[p] = inv[p]
		}
	}
}

// fill computes the raw candidates of the persons not yet computed, in
// parallel. The caller holds the read lock.
func (s *Session) fill(ps []*Person) {
	var todo []*Person
	seen := map[*Person]bool{}
	for _, p := range ps {
		if _, ok := s.raw[p]; !ok && !seen[p] {
			seen[p] = true
			todo = append(todo, p)
		}
	}
	if len(todo) == 1 {
		// One person (a received case's, most often): here rather than
		// on a goroutine of its own.
		sc := s.ix.scratch()
		s.raw[todo[0]] = s.ix.matchLocked(todo[0], sc, nil)
		s.ix.pool.Put(sc)
		return
	}
	res := make([][]Candidate, len(todo))
	workers := min(runtime.GOMAXPROCS(0), len(todo))
	var wg sync.WaitGroup
	var next atomic.Int64 // persons cost very different amounts: taken one at a time
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// From the index's pool: a new scratch would allocate and
			// clear a mark for every person held, for each case matched.
			sc := s.ix.scratch()
			defer s.ix.pool.Put(sc)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(todo) {
					return
				}
				res[i] = s.ix.matchLocked(todo[i], sc, nil)
			}
		}()
	}
	wg.Wait()
	for i, p := range todo {
		s.raw[p] = res[i]
	}
}
