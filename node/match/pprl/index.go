package pprl

import (
	"sort"
	"time"
)

// DefaultThreshold is the Dice coefficient at or above which a held
// encoding answers a query (measured in doc.go).
const DefaultThreshold = 0.66

// DefaultMargin is how far below the best answer to a query an answer may
// fall: a held encoding more than DefaultMargin below the best is left
// out (another person explains the query better), unless its Dice reaches
// DefaultConfident.
const DefaultMargin = 0.05

// DefaultConfident is the Dice coefficient from which an answer is given
// however it ranks (two records of one person).
const DefaultConfident = 0.85

// Result is one answer to a query: the holder's opaque handle for one of
// its persons, and the Dice coefficient. Never a name.
type Result struct {
	Handle string  `json:"handle"`
	Score  float64 `json:"score"`
}

// Index holds a member's own encodings by block, to answer queries. It is
// not safe for concurrent writes.
type Index struct {
	encs    []*Encoding
	handles []string
	blocks  map[string][]int
}

// NewIndex returns an empty index.
func NewIndex() *Index { return &Index{blocks: map[string][]int{}} }

// Add holds an encoding under a handle (which must not reveal the person:
// a random id the holder maps to its case).
func (ix *Index) Add(handle string, e *Encoding) {
	i := len(ix.encs)
	ix.encs = append(ix.encs, e)
	ix.handles = append(ix.handles, handle)
	for _, b := range e.Blocks {
		ix.blocks[b] = append(ix.blocks[b], i)
	}
}

// Query returns the held encodings that share a block with q and reach
// threshold, best first, leaving out those more than DefaultMargin below
// the best unless they reach DefaultConfident. Expired encodings, held or
// queried, never match.
func (ix *Index) Query(q *Encoding, threshold float64, now time.Time) ([]Result, error) {
	if err := q.check(now); err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	var out []Result
	for _, b := range q.Blocks {
		for _, i := range ix.blocks[b] {
			if seen[i] {
				continue
			}
			seen[i] = true
			s, err := Dice(q, ix.encs[i], now)
			if err != nil {
				continue
			}
			if s >= threshold {
				out = append(out, Result{Handle: ix.handles[i], Score: s})
			}
		}
	}
	best := 0.0
	for _, r := range out {
		best = max(best, r.Score)
	}
	kept := out[:0]
	for _, r := range out {
		if r.Score >= best-DefaultMargin || r.Score >= DefaultConfident {
			kept = append(kept, r)
		}
	}
	out = kept
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Handle < out[j].Handle
	})
	return out, nil
}
