package match

import (
	"cmp"
	"hash/maphash"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
)

// DefaultThreshold is the score at or above which a pair is a candidate:
// a pair with about one chance in fifteen to be the same person is worth
// a caseworker's look, as long as neither person has a much better
// candidate (see DefaultOutrank). Measured in doc.go: at 100,000 x
// 100,000 about one candidate in three between 0.065 and 0.1 is right.
const DefaultThreshold = 0.065

// DefaultOutrank is how much heavier, in bits, another candidate of the
// same person must be to outrank a candidate: a person outranked by a
// candidate 2^DefaultOutrank times likelier is not listed, unless its own
// score reaches DefaultConfident.
const DefaultOutrank = 2.0

// DefaultConfident is the score from which a candidate is listed however
// it ranks: two registrations of one person, two families seeking the
// same person.
const DefaultConfident = 0.95

// DefaultMaxBlock is the largest block (persons sharing one blocking key)
// that matching reads: a key shared by more persons (a very common name
// alone) says too little to be worth comparing them all, and other keys of
// the same person (two words together) still find the match.
const DefaultMaxBlock = 2000

// DefaultMaxWordBlock is the largest block of one word alone ("n1:" keys)
// that matching reads: such a block finds a person known by one name, or
// one whose other name changed its first letter, and is worth reading
// only while few persons share the word.
const DefaultMaxWordBlock = 200

// DefaultRefineFrom is the size from which a block of a name part with
// the first letter of another ("np:", "nk:" keys) is read through its finer
// blocks: the same key with the first letters of the other part's
// skeleton, coarse or phonetic form, the phonetic one also less any one
// letter but the first (see fineKeys). A block of a common word with a
// letter grows with the persons held; its finer blocks keep the pairs
// whose other part agrees by its consonants, or within one typing error
// in its first letters (and anyhow past them), so that the persons
// compared stay few however many are held. An index holding 100,000
// persons who all share a dozen given names takes about twice the memory
// for its blocks (32 to 64 MiB, the persons themselves apart).
const DefaultRefineFrom = 128

// Options tune matching.
type Options struct {
	// Threshold is the lowest score kept (DefaultThreshold when 0).
	Threshold float64
	// MaxBlock is the largest block read (DefaultMaxBlock when 0), and
	// MaxWordBlock the largest block of one word alone
	// (DefaultMaxWordBlock when 0).
	MaxBlock, MaxWordBlock int
	// RefineFrom is the size from which a name-pair block is read
	// through its finer blocks (DefaultRefineFrom when 0; negative:
	// never).
	RefineFrom int
	// Outrank is the margin, in bits, by which another candidate of
	// either person outranks a candidate (DefaultOutrank when 0; a
	// negative value lists every candidate), and Confident the score from
	// which a candidate is listed however it ranks (DefaultConfident when
	// 0).
	Outrank, Confident float64
	// MaxCandidates is the most candidates Match returns for one person,
	// best first, ties by the other person's ref (DefaultMaxCandidates
	// when 0): a list holding one person many times (duplicates of a
	// crisis list) must not make matching, and what a node stores of it,
	// grow as the square of its size. MatchCut also returns those past it.
	MaxCandidates int
}

// DefaultMaxCandidates is the most candidates kept for one person.
const DefaultMaxCandidates = 20

func (o Options) withDefaults() Options {
	if o.MaxCandidates == 0 {
		o.MaxCandidates = DefaultMaxCandidates
	}
	if o.Threshold == 0 {
		o.Threshold = DefaultThreshold
	}
	if o.MaxBlock == 0 {
		o.MaxBlock = DefaultMaxBlock
	}
	if o.MaxWordBlock == 0 {
		o.MaxWordBlock = DefaultMaxWordBlock
	}
	if o.RefineFrom == 0 {
		o.RefineFrom = DefaultRefineFrom
	}
	if o.Outrank == 0 {
		o.Outrank = DefaultOutrank
	}
	if o.Confident == 0 {
		o.Confident = DefaultConfident
	}
	return o
}

// outranked reports whether c, a candidate of a person whose best other
// candidate weighs best bits, is outranked.
func (o Options) outranked(c *Candidate, best float64) bool {
	return o.Outrank >= 0 && c.Score < o.Confident && best >= c.Weight+o.Outrank
}

// Index holds prepared persons by blocking key, for matching one new or
// changed person at a time, and counts how many of them hold each name
// word, for the frequency-aware weights. It is safe for concurrent use.
//
// Persons live in numbered slots; blocks list slots. Removing a case
// forgets its persons, their keys and, when no one else holds them, the
// words counted: nothing of an erased person stays in the index.
type Index struct {
	opts Options
	mu   sync.RWMutex

	slots  []*Person
	wids   [][]int32  // by slot: the word id of each token
	meta   []slotMeta // by slot: what a query reads first, without loading the person
	caseNo map[string]int32
	nCases int32
	free   []int32
	n      int
	byCase map[string][]int32
	blocks map[string][]int32
	// refined are the name-pair keys whose persons are also held in finer
	// blocks (see fineKeys): a block is refined when it first grows past
	// Options.RefineFrom, and stays so while it holds anyone.
	refined map[string]bool
	fine    map[uint64][]int32 // finer blocks of two persons or more, by the hash of their key
	// fineOne are the finer blocks of one person (two in three in the
	// list `flx bench exchange` sends): a slot beside its key rather than
	// a slice of its own, which with its map entry was most of the
	// index's own memory per person.
	fineOne map[uint64]int32
	seed    maphash.Seed
	// putFine are the finer keys of the persons the last Put took in,
	// with the refined keys they were made for: a node matches the
	// persons of a case right after it puts them, and candidatesLocked
	// takes them from here rather than making them again. Emptied by
	// every Remove (nothing of an erased person stays).
	putFine []putFine
	lens    []int // Put's: the size of each of a person's blocks
	// Under the write lock: the buffers finer keys are built in, and
	// those putFine's keys and finer keys are cut from (emptied with
	// it), so that a Put allocates none of them anew.
	fb          fineBuf
	putKeys     []string
	putFineKeys []uint64
	grown       []string
	tmpFine     []uint64

	words     map[string]int32 // word key -> word id
	wordKeys  []string         // by word id
	counts    []int32          // by word id: persons holding the word
	freeWords []int32

	pool sync.Pool // *scratch

	// gen counts the changes (Put, Remove): a Session's candidates hold
	// only while it stays the same.
	gen uint64
}

// putFine are fineKeys(p, ..., want) for want the keys of p in keys.
type putFine struct {
	p    *Person
	keys []string
	fine []uint64
}

// slotMeta is what a query reads of each person its keys bring, in one
// place (24 bytes): most are left there, and reading four arrays by slot
// cost four cache misses each where the index is larger than the cache.
type slotMeta struct {
	vit    vitals // a copy of the person's vitals
	caseNo int32  // the number of its case (cheaper to compare than the id)
	sought bool   // the person is sought
}

// NewIndex returns an empty index.
func NewIndex(opts Options) *Index {
	return &Index{
		opts:    opts.withDefaults(),
		byCase:  map[string][]int32{},
		caseNo:  map[string]int32{},
		blocks:  map[string][]int32{},
		refined: map[string]bool{},
		fine:    map[uint64][]int32{},
		fineOne: map[uint64]int32{},
		seed:    maphash.MakeSeed(),
		words:   map[string]int32{},
	}
}

// Len returns the number of persons held.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.n
}

// Put adds the persons of one case, replacing what the index held for that
// case (a new version of a case replaces the old one). Persons of another
// case are ignored.
func (ix *Index) Put(caseID string, persons []*Person) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.gen++
	ix.removeLocked(caseID)
	for _, p := range persons {
		if p.CaseID != caseID {
			continue
		}
		cn, ok := ix.caseNo[caseID]
		if !ok {
			ix.nCases++
			cn = ix.nCases
			ix.caseNo[caseID] = cn
		}
		var s int32
		if k := len(ix.free); k > 0 {
			s, ix.free = ix.free[k-1], ix.free[:k-1]
		} else {
			s = int32(len(ix.slots))
			ix.slots = append(ix.slots, nil)
			ix.wids = append(ix.wids, nil)
			ix.meta = append(ix.meta, slotMeta{})
		}
		ix.slots[s] = p
		ix.meta[s] = slotMeta{vit: p.vitals, caseNo: cn, sought: p.Side == SideSought}
		ix.n++
		ix.byCase[caseID] = append(ix.byCase[caseID], s)
		ix.lens = ix.lens[:0]
		for _, k := range p.keys {
			b := append(ix.blocks[k], s)
			ix.blocks[k] = b
			ix.lens = append(ix.lens, len(b))
		}
		wids := make([]int32, len(p.words))
		for i, w := range p.words {
			id, ok := ix.words[w]
			if !ok {
				if k := len(ix.freeWords); k > 0 {
					id, ix.freeWords = ix.freeWords[k-1], ix.freeWords[:k-1]
					ix.wordKeys[id] = w
				} else {
					id = int32(len(ix.counts))
					ix.counts = append(ix.counts, 0)
					ix.wordKeys = append(ix.wordKeys, w)
				}
				ix.words[w] = id
			}
			wids[i] = id
			// A person counts once per word, however many times written.
			if !slices.Contains(wids[:i], id) {
				ix.counts[id]++
			}
		}
		ix.wids[s] = wids
		ix.refineLocked(p, s)
	}
}

// refineLocked holds slot s, just added to the blocks of p's keys, in the
// finer blocks of those of its keys that are refined, and refines the
// blocks it made grow past Options.RefineFrom: every person they hold
// joins its finer blocks.
func (ix *Index) refineLocked(p *Person, s int32) {
	if ix.opts.RefineFrom < 0 {
		return
	}
	// held and fine are cut from ix.putKeys and ix.putFineKeys (a later
	// append that moves them leaves these where they are).
	h0, f0 := len(ix.putKeys), len(ix.putFineKeys)
	grown := ix.grown[:0]
	for i, k := range p.keys { // ix.lens[i]: the size of block k
		switch {
		case !refinable(k):
		case ix.refined[k]:
			ix.putKeys = append(ix.putKeys, k)
		case ix.lens[i] > ix.opts.RefineFrom:
			grown = append(grown, k)
		}
	}
	held := ix.putKeys[h0:len(ix.putKeys):len(ix.putKeys)]
	if len(held) > 0 {
		ix.putFineKeys = appendFineKeys(ix.putFineKeys, &ix.fb, p, ix.seed, func(k []byte) bool { return ix.refined[string(k)] })
		fine := ix.putFineKeys[f0:len(ix.putFineKeys):len(ix.putFineKeys)]
		for _, f := range fine {
			ix.addLocked(f, s)
		}
		if len(grown) == 0 {
			ix.putFine = append(ix.putFine, putFine{p: p, keys: held, fine: fine})
		}
	}
	for _, k := range grown {
		ix.refined[k] = true
		for _, t := range ix.blocks[k] {
			ix.tmpFine = appendFineKeys(ix.tmpFine[:0], &ix.fb, ix.slots[t], ix.seed, func(c []byte) bool { return string(c) == k })
			for _, f := range ix.tmpFine {
				ix.addLocked(f, t)
			}
		}
	}
	clear(grown)
	ix.grown = grown[:0]
}

// addLocked adds slot s to the block of a finer key f (see fineKeys).
func (ix *Index) addLocked(f uint64, s int32) {
	if b, ok := ix.fine[f]; ok {
		ix.fine[f] = append(b, s)
		return
	}
	if t, ok := ix.fineOne[f]; ok {
		delete(ix.fineOne, f)
		ix.fine[f] = []int32{t, s}
		return
	}
	ix.fineOne[f] = s
}

// dropFineLocked takes slot s out of the block of a finer key f.
func (ix *Index) dropFineLocked(f uint64, s int32) {
	if t, ok := ix.fineOne[f]; ok {
		if t == s {
			delete(ix.fineOne, f)
		}
		return
	}
	if !dropSlot(ix.fine, f, s) {
		if b := ix.fine[f]; len(b) == 1 {
			delete(ix.fine, f)
			ix.fineOne[f] = b[0]
		}
	}
}

// dropLocked takes slot s out of block k.
func (ix *Index) dropLocked(k string, s int32) {
	if dropSlot(ix.blocks, k, s) {
		delete(ix.refined, k)
	}
}

// dropSlot takes slot s out of block k of m (order within a block does not
// matter) and deletes the block once empty, reporting whether it did. The
// block is read from its end, where the latest added are: a case put again
// soon after (an update, a received case matched after a sync took it in)
// is found there without reading a block of a common name grown to tens
// of thousands.
func dropSlot[K string | uint64](m map[K][]int32, k K, s int32) (emptied bool) {
	b := m[k]
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == s {
			b[i] = b[len(b)-1]
			b = b[:len(b)-1]
			break
		}
	}
	if len(b) == 0 {
		delete(m, k)
		return true
	}
	m[k] = b
	return false
}

// Remove forgets a case's persons (erasure, withdrawal).
func (ix *Index) Remove(caseID string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.gen++
	ix.removeLocked(caseID)
}

func (ix *Index) removeLocked(caseID string) {
	clear(ix.putFine)
	ix.putFine = ix.putFine[:0]
	clear(ix.putKeys) // nothing of an erased person stays
	ix.putKeys, ix.putFineKeys = ix.putKeys[:0], ix.putFineKeys[:0]
	for _, s := range ix.byCase[caseID] {
		p := ix.slots[s]
		if ix.opts.RefineFrom >= 0 && slices.ContainsFunc(p.keys, func(k string) bool { return ix.refined[k] }) {
			ix.tmpFine = appendFineKeys(ix.tmpFine[:0], &ix.fb, p, ix.seed, func(k []byte) bool { return ix.refined[string(k)] })
			for _, f := range ix.tmpFine {
				ix.dropFineLocked(f, s)
			}
		}
		for _, k := range p.keys {
			ix.dropLocked(k, s)
		}
		wids := ix.wids[s]
		for i, id := range wids {
			if slices.Contains(wids[:i], id) {
				continue
			}
			if ix.counts[id]--; ix.counts[id] == 0 {
				delete(ix.words, ix.wordKeys[id])
				ix.wordKeys[id] = ""
				ix.freeWords = append(ix.freeWords, id)
			}
		}
		ix.slots[s], ix.wids[s], ix.meta[s] = nil, nil, slotMeta{}
		ix.free = append(ix.free, s)
		ix.n--
	}
	delete(ix.byCase, caseID)
	delete(ix.caseNo, caseID)
	ix.fb.wipe()
}

func (ix *Index) scratch() *scratch {
	if sc, ok := ix.pool.Get().(*scratch); ok {
		return sc
	}
	return &scratch{}
}

// Match returns the candidates of p among the persons held, best first.
// p need not be in the index. Pairs within one case, and pairs where
// neither side is sought, are never candidates. A candidate is left out
// when p has another candidate, or the other person has another
// candidate among the persons held, Options.Outrank bits heavier, unless
// its score reaches Options.Confident. When a candidate is listed, a node
// matches its other person again so that what that person outranks is
// updated too. At most Options.MaxCandidates are listed: see MatchCut.
func (ix *Index) Match(p *Person) []Candidate {
	list, _ := ix.MatchCut(p)
	return list
}

// MatchCut is Match, and also returns the candidates past the bound
// (Options.MaxCandidates): those p's best does not outrank that come
// after the last listed, in the same order (the other persons' views of
// them are not read). The order is the score, best first, then the other
// person's ref (case id, person id), ascending: the same rule on both
// sides of every pair, so which of many tied candidates a person lists is
// decided by the candidates alone, never by the order the persons were
// held or read. A pair is within the bound of at least one of its persons
// unless both have candidates past it: a person whose list holds every
// candidate it has (past is empty) is listed by each of them, or lists
// it; when past is not empty the list is truncated, and says so.
func (ix *Index) MatchCut(p *Person) (list, past []Candidate) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	sc := ix.scratch()
	defer ix.pool.Put(sc)
	out, past := ix.firstCut(p, ix.matchLocked(p, sc, nil))
	past = slices.Clone(past)
	return ix.lastCut(p, out, func(q *Person) []Candidate { return ix.matchLocked(q, sc, nil) }), past
}

// firstCut is Match's first step on raw, p's candidates among the persons
// held (reused): it leaves out those p's best candidate outranks, orders
// the rest (sortFor) and keeps the first Options.MaxCandidates; past are
// the others (a slice of raw).
func (ix *Index) firstCut(p *Person, raw []Candidate) (kept, past []Candidate) {
	best := 0.0
	for _, c := range raw {
		best = max(best, c.Weight)
	}
	kept = raw[:0]
	for i := range raw {
		if !ix.opts.outranked(&raw[i], best) {
			kept = append(kept, raw[i])
		}
	}
	if len(kept) > ix.opts.MaxCandidates {
		// Only the first are worth the other side's view (lastCut),
		// which reads each one's own candidates.
		sortFor(p, kept)
		return kept[:ix.opts.MaxCandidates], kept[ix.opts.MaxCandidates:]
	}
	return kept, nil
}

// sortFor orders p's candidates best first, ties by the other person's
// ref: the same rule whichever person of a pair is matched.
func sortFor(p *Person, cs []Candidate) {
	other := func(c *Candidate) Ref {
		if c.A == p.Ref {
			return c.B
		}
		return c.A
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Score != cs[j].Score {
			return cs[i].Score > cs[j].Score
		}
		return less(other(&cs[i]), other(&cs[j]))
	})
}

// otherView returns the person held whose own candidates (but p) decide
// whether c, a candidate of p, is outranked on the other side; nil when
// that does not matter (c is confident, outranking is off, or the other
// person is not held).
func (ix *Index) otherView(p *Person, c *Candidate) *Person {
	if c.Score >= ix.opts.Confident || ix.opts.Outrank < 0 {
		return nil
	}
	other := c.B
	if other == p.Ref {
		other = c.A
	}
	if s, ok := ix.byRefLocked(other); ok {
		return ix.slots[s]
	}
	return nil
}

// lastCut is Match's last step on out (firstCut's, reused): a candidate is
// left out when the other person's best candidate but p outranks it;
// theirs gives a person's candidates among the persons held. The rest
// comes best first.
func (ix *Index) lastCut(p *Person, out []Candidate, theirs func(*Person) []Candidate) []Candidate {
	kept := out[:0]
	for i := range out {
		c := &out[i]
		if q := ix.otherView(p, c); q != nil {
			bestOther := 0.0
			for _, d := range theirs(q) {
				if d.A != p.Ref && d.B != p.Ref {
					bestOther = max(bestOther, d.Weight)
				}
			}
			if ix.opts.outranked(c, bestOther) {
				continue
			}
		}
		kept = append(kept, *c)
	}
	sortFor(p, kept)
	return kept
}

// byRefLocked finds the slot of a person held.
func (ix *Index) byRefLocked(r Ref) (int32, bool) {
	for _, s := range ix.byCase[r.CaseID] {
		if ix.slots[s].PersonID == r.PersonID {
			return s, true
		}
	}
	return 0, false
}

// Compare scores a pair as Match does, with the index's population (the
// pair need not be held).
func (ix *Index) Compare(a, b *Person) Candidate {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	sc := ix.scratch()
	defer ix.pool.Put(sc)
	ca, cb := make([]int32, len(a.words)), make([]int32, len(b.words))
	ix.countWords(a, ca)
	ix.countWords(b, cb)
	return sc.explain(a, b, population{n: ix.n, ca: ca, cb: cb})
}

// countWords writes into c the number of persons held that share each of
// p's words.
func (ix *Index) countWords(p *Person, c []int32) {
	for i, w := range p.words {
		c[i] = 0
		if id, ok := ix.words[w]; ok {
			c[i] = ix.counts[id]
		}
	}
}

// candidatesLocked returns the slots of the persons p is compared with
// (in sc.cands): those sharing a key with p, once each, on a side p is
// compared with, of another case. A block over Options.MaxBlock (of one
// word alone, over Options.MaxWordBlock) is not read; a refined block
// over Options.RefineFrom is read through p's finer keys under it. The
// caller holds the lock.
//
// Each key is looked up once. The slots read are told apart by a small
// hash set of the scratch's (in the cache, cleared per query) rather than
// by a mark per slot held, which cost a cache miss per slot read once the
// index outgrew the cache; the persons kept come in the order first
// read, as they did.
func (ix *Index) candidatesLocked(p *Person, sc *scratch) []int32 {
	pc := ix.caseNo[p.CaseID] // 0 when p's case is not held
	pSought := p.Side == SideSought
	sc.read = sc.read[:0]
	sc.refinedKeys = sc.refinedKeys[:0]
	total := 0
	for _, k := range p.keys {
		b := ix.blocks[k]
		switch {
		case ix.opts.RefineFrom >= 0 && len(b) > ix.opts.RefineFrom && ix.refined[k]:
			sc.refinedKeys = append(sc.refinedKeys, k)
		case len(b) > ix.opts.MaxBlock || len(b) > ix.opts.MaxWordBlock && strings.HasPrefix(k, "n1:"):
		case len(b) > 0:
			sc.read = append(sc.read, b)
			total += len(b)
		}
	}
	if len(sc.refinedKeys) > 0 {
		fine := ix.fineOfLocked(p, sc.refinedKeys, sc)
		// The slots of blocks of one, each read as a block of its own
		// (sc.one is not grown meanwhile).
		sc.one = slices.Grow(sc.one[:0], len(fine))
		// A finer key is in one map at most (addLocked, dropFineLocked).
		// The blocks of two or more first: most of a query's finer keys
		// name one (at 100,000 persons of the exchange list, 11.6 of 16
		// a person, 1.8 in fineOne, 2.6 in neither), and each look-up in
		// a map that outgrew the cache is a miss.
		for _, k := range fine {
			if b, ok := ix.fine[k]; ok {
				if len(b) <= ix.opts.MaxBlock {
					sc.read = append(sc.read, b)
					total += len(b)
				}
				continue
			}
			if s, ok := ix.fineOne[k]; ok && ix.opts.MaxBlock >= 1 {
				i := len(sc.one)
				sc.one = append(sc.one, s)
				sc.read = append(sc.read, sc.one[i:i+1:i+1])
				total++
			}
		}
	}
	sc.set.reset(total)
	out := sc.cands[:0]
	for _, b := range sc.read {
		for _, s := range b {
			if !sc.set.add(s) {
				continue
			}
			// comparable(p.Side, q.Side), on the slot's copy: a person
			// skipped is never loaded.
			if m := &ix.meta[s]; pc != 0 && m.caseNo == pc || !pSought && !m.sought {
				continue
			}
			out = append(out, s)
		}
	}
	clear(sc.read) // the blocks may change once the lock is released
	sc.cands = out
	return out
}

// fineOfLocked returns the finer keys of p's refined keys refined (those
// of p.keys that are refined and over Options.RefineFrom, in order): as
// the last Put made them when it made them for the same keys, else
// anew, in sc's buffers.
func (ix *Index) fineOfLocked(p *Person, refined []string, sc *scratch) []uint64 {
	for _, e := range ix.putFine {
		if e.p == p && slices.Equal(e.keys, refined) {
			return e.fine
		}
	}
	// fineKeys asks only for keys of p (sorted): a key of p is refined
	// when it is among those; any other is looked up as before.
	sc.fine = appendFineKeys(sc.fine[:0], &sc.fb, p, ix.seed, func(k []byte) bool {
		i := sort.Search(len(p.keys), func(i int) bool { return p.keys[i] >= string(k) })
		if i < len(p.keys) && p.keys[i] == string(k) {
			for _, r := range refined {
				if r == string(k) {
					return true
				}
			}
			return false
		}
		return ix.opts.RefineFrom >= 0 && len(ix.blocks[string(k)]) > ix.opts.RefineFrom && ix.refined[string(k)]
	})
	sc.fb.wipe()
	return sc.fine
}

// slotSet is a set of slots sized for the slots of one query: open
// addressing, slot+1 held (0 is empty).
type slotSet struct {
	t     []int32
	shift uint32
}

// reset empties the set and sizes it for n slots at most.
func (h *slotSet) reset(n int) {
	size, shift := 16, uint32(32-4)
	for size < 2*n {
		size *= 2
		shift--
	}
	if cap(h.t) < size {
		h.t = make([]int32, size)
	} else {
		h.t = h.t[:size]
		clear(h.t)
	}
	h.shift = shift
}

// add adds s and reports whether it was not there yet.
func (h *slotSet) add(s int32) bool {
	mask := uint32(len(h.t) - 1)
	for i := (uint32(s) * 0x9e3779b1) >> h.shift; ; i = (i + 1) & mask {
		switch h.t[i] {
		case 0:
			h.t[i] = s + 1
			return true
		case s + 1:
			return false
		}
	}
}

// matchLocked matches p, appending to out. The caller holds the lock.
func (ix *Index) matchLocked(p *Person, sc *scratch, out []Candidate) []Candidate {
	pop := population{n: ix.n}
	size, offset := pop.size(), pop.offset()
	needW := need(ix.opts.Threshold, offset)
	// p's word counts, and for k words matched the most they can weigh:
	// a word's weight falls as its count rises, and a pair's count is at
	// least p's.
	// In the scratch, reused from one person to the next: a candidate
	// keeps none of them.
	qc := grow(sc.qc, len(p.words))
	sc.qc = qc
	ix.countWords(p, qc)
	// pw: the caps of p's words, for every pair (see population.caps).
	pw := grow(sc.pw, len(qc))
	sc.pw = pw
	for i, c := range qc {
		pw[i] = wordCap(c, size)
	}
	caps := append(sc.caps[:0], pw...)
	sc.caps = caps
	slices.SortFunc(caps, func(x, y float64) int { return cmp.Compare(y, x) })
	for i := 1; i < len(caps); i++ {
		caps[i] += caps[i-1]
	}
	// A part written in two scripts (Ольга, Olga) is two words of one
	// weight: the caps summed count it twice, and partsCap once.
	partW := partsCap(p, pw)
	for _, s := range ix.candidatesLocked(p, sc) {
		m := &ix.meta[s]
		k := min(int(p.maxWords), int(m.vit.maxWords), len(caps))
		nameCap := 0.0
		if k > 0 {
			nameCap = min(caps[k-1], partW)
		}
		// evaluate's first test, on the copies by slot: a person who
		// cannot reach needW is never loaded (most of those compared).
		if otherWeight(&p.vitals, &m.vit)+nameCap+familyCap(&p.vitals, &m.vit) < needW {
			continue
		}
		sc.evaluated++
		q := ix.slots[s]
		sc.counts = grow(sc.counts, len(q.words))
		for i, id := range ix.wids[s] {
			sc.counts[i] = ix.counts[id]
		}
		pop := population{n: ix.n, ca: qc, cb: sc.counts, wa: pw}
		a, b := p, q
		if b.Side == SideSought && a.Side != SideSought {
			a, b = b, a
			pop.ca, pop.cb, pop.wa, pop.wb = pop.cb, pop.ca, nil, pw
		}
		if _, ok := sc.evaluate(a, b, pop, needW, nameCap); !ok {
			continue
		}
		if c := sc.explain(a, b, pop); c.Score >= ix.opts.Threshold {
			out = append(out, c)
		}
	}
	return out
}

// partsCap is the most p's name weighs with anyone's, pw the caps of its
// words (see population.caps). Names agree part by part, each part of p
// with one part of the other person at most, and a pair of words weighs
// at most the exact agreement of the commoner (a pair that disagrees,
// below 0): each part of p counts once, at its heaviest word's cap.
// This holds whichever person compareNames takes first, and nameBound,
// with p first, is at most this too.
func partsCap(p *Person, pw []float64) float64 {
	w := 0.0
	for _, sa := range p.slots {
		c := 0.0
		for _, i := range sa {
			c = max(c, pw[i])
		}
		w += c
	}
	return w
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
	var order []string
	for _, p := range others {
		if byCase[p.CaseID] == nil {
			order = append(order, p.CaseID)
		}
		byCase[p.CaseID] = append(byCase[p.CaseID], p)
	}
	for _, id := range order {
		ix.Put(id, byCase[id])
	}
	workers := runtime.GOMAXPROCS(0)
	results := make([][]Candidate, workers)
	var wg sync.WaitGroup
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			sc := &scratch{}
			var out []Candidate
			for i := w; i < len(sought); i += workers {
				if sought[i].Side != SideSought {
					continue
				}
				out = ix.matchLocked(sought[i], sc, out)
			}
			results[w] = out
		}(w)
	}
	wg.Wait()
	var out []Candidate
	for _, r := range results {
		out = append(out, r...)
	}
	out = filterOutranked(out, ix.opts)
	sortCandidates(out)
	return out
}

// filterOutranked leaves out the candidates outranked by another
// candidate of either person among cands.
func filterOutranked(cands []Candidate, o Options) []Candidate {
	if o.Outrank < 0 {
		return cands
	}
	best := map[Ref]float64{}
	for _, c := range cands {
		best[c.A] = max(best[c.A], c.Weight)
		best[c.B] = max(best[c.B], c.Weight)
	}
	kept := cands[:0]
	for i := range cands {
		c := &cands[i]
		if o.outranked(c, best[c.A]) || o.outranked(c, best[c.B]) {
			continue
		}
		kept = append(kept, *c)
	}
	return kept
}
