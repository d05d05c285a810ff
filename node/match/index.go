package match

import (
	"runtime"
	"sort"
	"sync"
)

// DefaultThreshold is the score at or above which a pair is a candidate.
const DefaultThreshold = 0.5

// DefaultMaxBlock is the largest block (persons sharing one blocking key)
// that matching reads: a key shared by more persons (a very common name
// alone) says too little to be worth comparing them all, and other keys of
// the same person (two words together) still find the match.
const DefaultMaxBlock = 2000

// Options tune matching.
type Options struct {
	// Threshold is the lowest score kept (DefaultThreshold when 0).
	Threshold float64
	// MaxBlock is the largest block read (DefaultMaxBlock when 0).
	MaxBlock int
}

func (o Options) withDefaults() Options {
	if o.Threshold == 0 {
		o.Threshold = DefaultThreshold
	}
	if o.MaxBlock == 0 {
		o.MaxBlock = DefaultMaxBlock
	}
	return o
}

// Index holds prepared persons by blocking key, for matching one new or
// changed person at a time. It is safe for concurrent use.
type Index struct {
	opts    Options
	mu      sync.RWMutex
	persons map[Ref]*Person
	byCase  map[string][]Ref
	blocks  map[string]map[Ref]struct{}
}

// NewIndex returns an empty index.
func NewIndex(opts Options) *Index {
	return &Index{
		opts:    opts.withDefaults(),
		persons: map[Ref]*Person{},
		byCase:  map[string][]Ref{},
		blocks:  map[string]map[Ref]struct{}{},
	}
}

// Len returns the number of persons held.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.persons)
}

// Put adds the persons of one case, replacing what the index held for that
// case (a new version of a case replaces the old one).
func (ix *Index) Put(caseID string, persons []*Person) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.removeLocked(caseID)
	for _, p := range persons {
		if p.CaseID != caseID {
			continue
		}
		ix.persons[p.Ref] = p
		ix.byCase[caseID] = append(ix.byCase[caseID], p.Ref)
		for _, k := range p.keys {
			b := ix.blocks[k]
			if b == nil {
				b = map[Ref]struct{}{}
				ix.blocks[k] = b
			}
			b[p.Ref] = struct{}{}
		}
	}
}

// Remove forgets a case's persons (erasure, withdrawal).
func (ix *Index) Remove(caseID string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.removeLocked(caseID)
}

func (ix *Index) removeLocked(caseID string) {
	for _, r := range ix.byCase[caseID] {
		p := ix.persons[r]
		for _, k := range p.keys {
			if b := ix.blocks[k]; b != nil {
				delete(b, r)
				if len(b) == 0 {
					delete(ix.blocks, k)
				}
			}
		}
		delete(ix.persons, r)
	}
	delete(ix.byCase, caseID)
}

// Match returns the candidates of p among the persons held, best first.
// p need not be in the index. Pairs within one case, and pairs where
// neither side is sought, are never candidates.
func (ix *Index) Match(p *Person) []Candidate {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	seen := map[Ref]bool{}
	var out []Candidate
	for _, k := range p.keys {
		b := ix.blocks[k]
		if len(b) > ix.opts.MaxBlock {
			continue
		}
		for r := range b {
			if seen[r] {
				continue
			}
			seen[r] = true
			q := ix.persons[r]
			if q.CaseID == p.CaseID || !comparable(p.Side, q.Side) {
				continue
			}
			a, b := p, q
			if b.Side == SideSought && a.Side != SideSought {
				a, b = b, a
			}
			if c := Compare(a, b); c.Score >= ix.opts.Threshold {
				out = append(out, c)
			}
		}
	}
	sortCandidates(out)
	return out
}

func sortCandidates(cs []Candidate) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Score != cs[j].Score {
			return cs[i].Score > cs[j].Score
		}
		if cs[i].A != cs[j].A {
			return less(cs[i].A, cs[j].A)
		}
		return less(cs[i].B, cs[j].B)
	})
}

func less(a, b Ref) bool {
	if a.CaseID != b.CaseID {
		return a.CaseID < b.CaseID
	}
	return a.PersonID < b.PersonID
}

// Batch matches every sought person against a set of other persons (which
// may include sought persons of other cases) in parallel, and returns the
// candidates, best first. Its cost grows with the number of pairs that
// share a blocking key, not with the product of the two sets.
func Batch(sought, others []*Person, opts Options) []Candidate {
	ix := NewIndex(opts)
	byCase := map[string][]*Person{}
	for _, p := range others {
		byCase[p.CaseID] = append(byCase[p.CaseID], p)
	}
	for id, ps := range byCase {
		ix.Put(id, ps)
	}
	workers := runtime.GOMAXPROCS(0)
	results := make([][]Candidate, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(sought); i += workers {
				if sought[i].Side != SideSought {
					continue
				}
				results[w] = append(results[w], ix.Match(sought[i])...)
			}
		}(w)
	}
	wg.Wait()
	var out []Candidate
	for _, r := range results {
		out = append(out, r...)
	}
	sortCandidates(out)
	return out
}
