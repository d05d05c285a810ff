package match

import (
	"cmp"
	"math"
	"slices"

	"github.com/familylinks/flx/node/names"
)

// Evidence is what one field says about a pair: its level of agreement and
// the weight, in bits (log2 of a likelihood ratio, positive for a match),
// that the level adds to the pair's score.
type Evidence struct {
	// Field is name, birth, sex, father or place_of_birth.
	Field string `json:"field"`
	// Level is the level of agreement; see the levels table in doc.go.
	Level string `json:"level"`
	// Similarity is the field's similarity in [0, 1] where it has one.
	Similarity float64 `json:"similarity,omitempty"`
	// Weight is the level's weight in bits.
	Weight float64 `json:"weight"`
	// Names are, for the name and father fields, the indexes in each
	// person's names list of the written forms that agreed best: the
	// explanation points at the case documents and repeats no name.
	Names *NamePointers `json:"names,omitempty"`
	// Tokens are the similarities of the word pairs matched, best first.
	Tokens []float64 `json:"tokens,omitempty"`
	// TokenWeights are the weights, in bits, of the same word pairs: a
	// word that few persons matched against share weighs more than a
	// common one.
	TokenWeights []float64 `json:"token_weights,omitempty"`
}

// NamePointers point into the names lists of the two persons.
type NamePointers struct {
	A []int `json:"a"`
	B []int `json:"b"`
}

// Candidate is a likely match between two persons of different cases.
type Candidate struct {
	// A is the sought person (or, between two sought persons, the one
	// that was matched); B the other.
	A Ref `json:"a"`
	B Ref `json:"b"`
	// Score is the probability-like score in [0, 1]: the logistic of
	// Weight - Offset; candidates at or above the threshold are kept.
	Score float64 `json:"score"`
	// Weight is the sum of the fields' weights, in bits.
	Weight float64 `json:"weight"`
	// Offset is the evidence, in bits, that a pair needs for a score of
	// 0.5: log2 of the number of persons matched against (at least
	// MinPopulation). The more persons, the more look-alikes by chance.
	Offset float64 `json:"offset"`
	// Fields explain the score field by field.
	Fields []Evidence `json:"fields"`
}

// Weights, in bits, as in Fellegi-Sunter: log2(m/u), m the share of true
// matches at a level and u the share of other pairs. Name words take u
// from the population (see wordWeight); the rest were set by reasoning
// about those shares (doc.go lists the levels and their weights) and
// checked against the synthetic corpus (quality_test.go); within_3_years
// and a differing father take the shares measured among the pairs
// blocking brings together on seed 7 (FLX_MATCH_STUDY=1 go test
// ./node/match -run LevelShares -v): a sibling is born a few years apart,
// and a person's father is written as another spelling, not another name.
const (
	wNameNone      = -12.0
	wPartial       = -3.0
	wBirthDay      = 12.0
	wBirthMonth    = 8.0
	wBirthYear     = 5.0
	wBirthRangeMin = 0.5
	wBirthNear     = -0.5
	wBirthFar      = -7.0
	wBirthConflict = -12.0
	wSexSame       = 0.8
	wSexDiffer     = -10.0
	wFatherSame    = 3.0
	wFatherDiffer  = -5.0
	wPlaceSame     = 2.0
	wPlaceDiffer   = -3.0
	wPlaceCountry  = -1.0
	// birthSpanDays is the spread of birth days among persons matched
	// against (about 70 years): an interval of w days agrees with a random
	// person's by chance about w/birthSpanDays of the time.
	birthSpanDays = 70 * 365
	// defaultWordCount is how many of MinPopulation persons are taken to
	// share a word when nothing is known of the population (Compare
	// without an index).
	defaultWordCount = 4
)

// MinPopulation is the smallest population the weights assume: a node
// that holds few persons still sees names drawn from a larger world, so
// its first cases do not look unique.
const MinPopulation = 1000

// population is what the weights know of the persons matched against: n
// persons, and for each word of the two persons compared, how many of the
// n hold it (nil: unknown, defaultWordCount each).
type population struct {
	n      int
	ca, cb []int32
	// wa and wb, when not nil, are the caps of ca and cb (see caps),
	// computed once for a person compared with many.
	wa, wb []float64
}

func (p population) size() float64 { return float64(max(p.n, MinPopulation)) }

// offset is the evidence needed for a score of 0.5: the prior odds that a
// pair is a match are about 1 in the population's size.
func (p population) offset() float64 { return math.Log2(p.size()) }

// capsAB returns the caps of a's n words and b's m words (see caps): the
// ones given, else written into sc.capA and sc.capB.
func (sc *scratch) capsAB(pop population, n, m int) (wa, wb []float64) {
	wa, wb = pop.wa, pop.wb
	if wa == nil {
		sc.capA = pop.caps(sc.capA, pop.ca, n)
		wa = sc.capA
	}
	if wb == nil {
		sc.capB = pop.caps(sc.capB, pop.cb, m)
		wb = sc.capB
	}
	return wa, wb
}

// caps writes the exact-agreement weight of each word of a person whose
// word counts are c (nil: unknown).
func (p population) caps(dst []float64, c []int32, n int) []float64 {
	dst = grow(dst, n)
	size := p.size()
	for i := range dst {
		count := int32(defaultWordCount)
		if c != nil {
			count = c[i]
		}
		dst[i] = wordCap(count, size)
	}
	return dst
}

// scratch holds the buffers of one goroutine's comparisons, so that the
// hot loop does not allocate.
type scratch struct {
	grades       []wordPair
	pairs        []wordPair
	usedA, usedB []bool
	best         []wordPair
	capA, capB   []float64
	counts       []int32
	bound        []float64
	upper        []float64 // nameMayReach
	order        []int     // nameMayReach
	// stoppedEarly says whether the last nameMayReach refused before
	// computing every slot (for tests).
	stoppedEarly bool
	cands        []int32
	// evaluated counts the pairs matchLocked loaded the other person of
	// (past the first test), for tests.
	evaluated int
	// matchLocked's, for the person matched: its word counts, their
	// caps, and the caps summed heaviest first.
	qc       []int32
	pw, caps []float64
	// candidatesLocked's: the blocks to read, the keys read through
	// finer blocks, the slots seen.
	read        [][]int32
	one         []int32 // the slots of finer blocks of one (Index.fineOne)
	refinedKeys []string
	set         slotSet
	fb          fineBuf  // fineOfLocked's
	fine        []uint64 // fineOfLocked's
}

// wordPair is the agreement of word i of one person with word j of the
// other.
type wordPair struct {
	i, j   int
	si, sj int // slots of i and j
	g      agreement
	jw     float64
	weight float64
}

// nameMatch is the agreement of two persons' names.
type nameMatch struct {
	level  string
	weight float64
	sim    float64
}

// compareNames matches the name parts (slots) of two persons in any
// order, each part once, heaviest agreements first, each pair of parts by
// its best pair of spellings; as many parts as the longer rendering of
// the person with fewer words counts. The matched word pairs are left in
// sc.best.
func (sc *scratch) compareNames(a, b *Person, pop population) nameMatch {
	nb := len(b.tokens)
	capA, capB := sc.capsAB(pop, len(a.tokens), nb)
	grades := grow(sc.grades, len(a.tokens)*nb)
	sc.grades = grades
	for i := range a.tokens {
		for j := range b.tokens {
			g, jw, extra := compareWords(&a.tokens[i], &b.tokens[j])
			if (g == agreeFair || g == agreeWeak) && coarseAgree(a.coarse[i], b.coarse[j]) {
				// Another spelling of the sounds transliterations
				// write, drop or swap (Khugaiag, Khuhayah): as good
				// as one typing error. Such words look alike
				// (Jaro-Winkler at least tokNo): the others are not
				// looked at.
				g, extra = agreeEdit, coarseExtra
			}
			// The rarer word of the two says no more than the commoner.
			grades[i*nb+j] = wordPair{i: i, j: j, g: g, jw: jw, weight: wordWeight(g, min(capA[i], capB[j]), extra)}
		}
	}
	// The best spelling pair of each pair of slots, heaviest first.
	pairs := sc.pairs[:0]
	for si, sa := range a.slots {
		for sj, sb := range b.slots {
			best := wordPair{weight: math.Inf(-1)}
			for _, i := range sa {
				for _, j := range sb {
					if p := grades[i*nb+j]; p.weight > best.weight || p.weight == best.weight && p.jw > best.jw {
						best = p
					}
				}
			}
			best.si, best.sj = si, sj
			k := len(pairs)
			pairs = append(pairs, best)
			for k > 0 && (pairs[k-1].weight < best.weight || pairs[k-1].weight == best.weight && pairs[k-1].jw < best.jw) {
				pairs[k] = pairs[k-1]
				k--
			}
			pairs[k] = best
		}
	}
	sc.pairs = pairs
	sc.usedA = grow(sc.usedA, len(a.slots))
	sc.usedB = grow(sc.usedB, len(b.slots))
	clear(sc.usedA)
	clear(sc.usedB)
	n := min(len(a.slots), len(b.slots))
	got := sc.best[:0]
	weight, sum := 0.0, 0.0
	for _, p := range pairs {
		if len(got) == n {
			break
		}
		if sc.usedA[p.si] || sc.usedB[p.sj] {
			continue
		}
		sc.usedA[p.si], sc.usedB[p.sj] = true, true
		got = append(got, p)
		weight += p.weight
		sum += p.jw
	}
	sc.best = got
	if len(got) == 0 {
		return nameMatch{level: "none", weight: wNameNone}
	}
	level := levelOf(got, n)
	if level == "partial" {
		// Some parts agree and another clearly does not: a relative
		// shares the parts that agree (see wPartial).
		weight += wPartial
	}
	return nameMatch{level: level, weight: weight, sim: sum / float64(len(got))}
}

func appendNew(list []int, xs ...int) []int {
	for _, x := range xs {
		if !slices.Contains(list, x) {
			list = append(list, x)
		}
	}
	return list
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// levelOf names the agreement of the matched word pairs (heaviest first)
// of two renderings whose shorter one has n words: all (every word the
// same or the same skeleton), all_fair (every word at least within one
// typing error or fair), single (one word on one side, and it agrees),
// partial (some agree, another does not), none.
func levelOf(got []wordPair, n int) string {
	worst, bestG := agreeSame, agreeNone
	for _, p := range got {
		worst, bestG = max(worst, p.g), min(bestG, p.g)
	}
	switch {
	case n >= 2 && worst <= agreeSkeleton:
		return "all"
	case n >= 2 && worst <= agreeFair:
		return "all_fair"
	case n == 1 && worst <= agreeEdit:
		return "single"
	case bestG <= agreeEdit:
		return "partial"
	}
	return "none"
}

// compareBirth compares the intervals of possible birth days.
func compareBirth(a, b *vitals) (string, float64) {
	if !a.hasBirth || !b.hasBirth {
		return "unknown", 0
	}
	var gap int32
	switch {
	case a.birthHi < b.birthLo:
		gap = b.birthLo - a.birthHi
	case b.birthHi < a.birthLo:
		gap = a.birthLo - b.birthHi
	}
	prec := min(a.birthPrec, b.birthPrec)
	switch {
	case gap == 0 && prec == 3:
		return "same_day", wBirthDay
	case gap == 0 && prec == 2:
		return "same_month", wBirthMonth
	case gap == 0 && prec == 1:
		return "same_year", wBirthYear
	case gap == 0:
		// Intervals of wa and wb days overlap by chance about
		// (wa+wb)/birthSpanDays of the time.
		w := float64(a.birthHi - a.birthLo + b.birthHi - b.birthLo + 2)
		return "within_range", min(max(math.Log2(0.9*birthSpanDays/w), wBirthRangeMin), wBirthYear)
	case gap <= 400:
		return "within_a_year", wBirthNear
	case gap <= 3*366:
		return "within_3_years", wBirthFar
	}
	return "conflict", wBirthConflict
}

func compareSex(a, b *vitals) (string, float64) {
	switch {
	case a.sexCode == 0 || b.sexCode == 0:
		return "unknown", 0
	case a.sexCode == b.sexCode:
		return "same", wSexSame
	}
	return "differ", wSexDiffer
}

func compareFather(a, b *Person) (string, float64, float64) {
	if len(a.father) == 0 || len(b.father) == 0 {
		return "unknown", 0, 0
	}
	best, jw := agreeNone, 0.0
	for i := range a.father {
		for j := range b.father {
			g, s, _ := compareWords(&a.father[i], &b.father[j])
			best, jw = min(best, g), max(jw, s)
		}
	}
	switch {
	case best <= agreeEdit:
		return "same", wFatherSame, jw
	case best == agreeNone:
		return "differ", wFatherDiffer, jw
	}
	return "similar", 0, jw
}

// fatherWeight is compareFather's weight: the same, found without
// grading the other pairs once one pair agrees (their grades and
// Jaro-Winkler change nothing then).
func fatherWeight(a, b *Person) float64 {
	if len(a.father) == 0 || len(b.father) == 0 {
		return 0
	}
	best := agreeNone
	for i := range a.father {
		for j := range b.father {
			g, _, _ := compareWords(&a.father[i], &b.father[j])
			if g <= agreeEdit {
				return wFatherSame
			}
			best = min(best, g)
		}
	}
	if best == agreeNone {
		return wFatherDiffer
	}
	return 0
}

// comparePlace compares the places of birth: the same when every word of
// the shorter locality agrees (within one typing error) with a word of
// the other and the countries do not differ.
func comparePlace(a, b *Person) (string, float64) {
	if len(a.place) == 0 || len(b.place) == 0 {
		return "unknown", 0
	}
	x, y := a.place, b.place
	if len(x) > len(y) {
		x, y = y, x
	}
	same := a.country == b.country || a.country == "" || b.country == ""
	for i := 0; same && i < len(x); i++ {
		found := false
		for j := range y {
			if g, _, _ := compareWords(&x[i], &y[j]); g <= agreeEdit {
				found = true
				break
			}
		}
		same = found
	}
	switch {
	case same:
		return "same", wPlaceSame
	case a.country != "" && a.country == b.country:
		return "same_country", wPlaceCountry
	}
	return "differ", wPlaceDiffer
}

// familyCap is the most the father's name and the place of birth can
// weigh: nothing for a field either side lacks.
func familyCap(a, b *vitals) float64 {
	w := 0.0
	if a.hasFather && b.hasFather {
		w += wFatherSame
	}
	if a.hasPlace && b.hasPlace {
		w += wPlaceSame
	}
	return w
}

// otherWeight is the weight of birth and sex: cheap, so it is computed
// first and may spare the rest.
func otherWeight(a, b *vitals) float64 {
	_, wb := compareBirth(a, b)
	_, ws := compareSex(a, b)
	return wb + ws
}

// familyWeight discounts the father's name and the place of birth when
// the names disagree on a part: a brother or a cousin shares them with
// the person sought, so they then say "a relative" as much as "the same
// person".
func familyWeight(level string, w float64) float64 {
	if level == "partial" && w > 0 {
		return 0
	}
	return w
}

// evaluate returns the pair's weight, or ok false when it cannot reach
// need bits; nameCap bounds the name's weight (see Index.Match), and the
// names, the costly part, are compared only when the other fields and
// nameCap together could reach need.
func (sc *scratch) evaluate(a, b *Person, pop population, need, nameCap float64) (float64, bool) {
	w := otherWeight(&a.vitals, &b.vitals)
	if w+nameCap+familyCap(&a.vitals, &b.vitals) < need {
		return 0, false
	}
	wf := fatherWeight(a, b)
	_, wp := comparePlace(a, b)
	if w+nameCap+wf+wp < need {
		return 0, false
	}
	if !sc.nameMayReach(a, b, pop, w, wf, wp, need) {
		return 0, false
	}
	nm := sc.compareNames(a, b, pop)
	w += nm.weight + familyWeight(nm.level, wf) + familyWeight(nm.level, wp)
	return w, w >= need
}

// nameBound is at least the weight compareNames gives a and b, found
// without Jaro-Winkler: a pair of words weighs at most its exact
// agreement when spelled the same, half a bit less when it may agree by
// skeleton, typing error or coarse form, and wWordFair otherwise (fair,
// weak or none). The parts matched are of distinct parts of a, so their
// weight is at most that of a's heaviest parts, each by its best pair.
// Most pairs that blocking brings together share one part and differ in
// another: this spares comparing them in full (at 100,000 persons held,
// about 26 pairs of 27 whose other fields could reach the threshold).
func (sc *scratch) nameBound(a, b *Person, pop population) float64 {
	n := min(len(a.slots), len(b.slots))
	if n == 0 {
		return wNameNone
	}
	capA, capB := sc.capsAB(pop, len(a.tokens), len(b.tokens))
	best := grow(sc.bound, len(a.slots))
	sc.bound = best
	for si, sa := range a.slots {
		best[si] = slotBound(a, b, sa, capA, capB)
	}
	slices.SortFunc(best, func(x, y float64) int { return cmp.Compare(y, x) })
	sum := 0.0
	for _, w := range best[:n] {
		sum += w
	}
	return sum
}

// nameMayReach reports whether w+nameBound(a, b, pop)+wf+wp reaches
// need, as evaluate tests it, computing the bound slot by slot, the
// slots whose words weigh most first, and stopping as soon as the slots
// not yet computed, each counted at the heaviest exact agreement of its
// words (at least its bound: wordBound is at most the cap, and wWordFair
// below any cap), cannot lift the sum to need: most pairs refused
// disagree on a part, and taking the heaviest first (a rare family name
// before a common given name) refuses them at the first part computed.
// The sum so far is in another order than nameBound's, so a pair is
// refused early only when it falls short by more than boundSlack; the
// last test is nameBound's own.
func (sc *scratch) nameMayReach(a, b *Person, pop population, w, wf, wp, need float64) bool {
	sc.stoppedEarly = false
	n := min(len(a.slots), len(b.slots))
	if n == 0 || len(a.slots) < 2 {
		return w+sc.nameBound(a, b, pop)+wf+wp >= need
	}
	// When only a's n heaviest slots count, a slot below 0 may be left
	// out of the sum: it is bounded by the slots' sum above 0.
	some := n < len(a.slots)
	capA, capB := sc.capsAB(pop, len(a.tokens), len(b.tokens))
	up := grow(sc.upper, len(a.slots))
	sc.upper = up
	order := grow(sc.order, len(a.slots))
	sc.order = order
	for si, sa := range a.slots {
		up[si] = math.Inf(-1)
		for _, i := range sa {
			up[si] = max(up[si], capA[i])
		}
		// order: the slots by their caps, heaviest first (insertion:
		// a person has a few).
		k := si
		for k > 0 && up[order[k-1]] < up[si] {
			order[k] = order[k-1]
			k--
		}
		order[k] = si
	}
	best := grow(sc.bound, len(a.slots))
	sc.bound = best
	done := 0.0
	for k, si := range order {
		best[k] = slotBound(a, b, a.slots[si], capA, capB)
		if k == len(order)-1 {
			break
		}
		if some {
			done += max(best[k], 0)
		} else {
			done += best[k]
		}
		rest := 0.0
		for _, sj := range order[k+1:] {
			rest += max(up[sj], 0)
		}
		if w+(done+rest+boundSlack)+wf+wp < need {
			sc.stoppedEarly = true
			return false
		}
	}
	slices.SortFunc(best, func(x, y float64) int { return cmp.Compare(y, x) })
	sum := 0.0
	for _, x := range best[:n] {
		sum += x
	}
	return w+sum+wf+wp >= need
}

// boundSlack is far more than the rounding of a few sums of weights
// under 100 bits, in any order, and far less than any weight.
const boundSlack = 1e-9

// slotBound is nameBound's bound for one slot of a (the indexes sa of
// its tokens).
func slotBound(a, b *Person, sa []int, capA, capB []float64) float64 {
	best := math.Inf(-1)
	for _, i := range sa {
		for j := range b.tokens {
			capW := min(capA[i], capB[j])
			if capW <= best {
				continue
			}
			if len(a.letters) == len(a.tokens) && len(b.letters) == len(b.tokens) && !a.letters[i].mayAgree(&b.letters[j]) {
				best = max(best, wWordFair)
				continue
			}
			best = max(best, wordBound(&a.tokens[i], &b.tokens[j], a.coarse[i], b.coarse[j], capW))
		}
	}
	return best
}

// wordBound is at least the weight compareNames gives a pair of words
// whose exact agreement weighs capW (see nameBound); ca and cb are their
// coarse forms.
func wordBound(a, b *names.Token, ca, cb []string, capW float64) float64 {
	pa, pb := [2]string{a.Phonetic, a.AltPhonetic}, [2]string{b.Phonetic, b.AltPhonetic}
	for _, x := range pa {
		for _, y := range pb {
			if x != "" && sameString(x, y) {
				return capW
			}
		}
	}
	near := max(capW-abjadSkeletonReliefGap, wWordFair)
	sa, sb := [2]string{a.Skeleton, a.AltSkeleton}, [2]string{b.Skeleton, b.AltSkeleton}
	for _, x := range sa {
		for _, y := range sb {
			if len(x) >= 2 && len(y) >= 2 && equalButH(x, y) {
				return near
			}
		}
	}
	if coarseAgree(ca, cb) || oneEditAny(pa, pb, 1) > 0 || oneEditAny(sa, sb, 1) > 0 ||
		len(a.Latin) >= 1 && len(b.Latin) >= 1 && oneEdit(a.Latin, b.Latin) {
		return near
	}
	return wWordFair
}

// abjadSkeletonReliefGap is what the best agreement short of the same
// phonetic form loses at least: a skeleton agreement of a word written
// without short vowels.
const abjadSkeletonReliefGap = skeletonPenalty - abjadSkeletonRelief

// explain builds the candidate of a pair, field by field.
func (sc *scratch) explain(a, b *Person, pop population) Candidate {
	nm := sc.compareNames(a, b, pop)
	name := Evidence{Field: "name", Level: nm.level, Similarity: round(nm.sim), Weight: nm.weight}
	if len(sc.best) > 0 {
		name.Names = &NamePointers{}
		for _, p := range sc.best {
			name.Names.A = appendNew(name.Names.A, a.tokNames[p.i]...)
			name.Names.B = appendNew(name.Names.B, b.tokNames[p.j]...)
			name.Tokens = append(name.Tokens, round(p.jw))
			name.TokenWeights = append(name.TokenWeights, round(p.weight))
		}
		slices.Sort(name.Names.A)
		slices.Sort(name.Names.B)
	}
	birth := Evidence{Field: "birth"}
	birth.Level, birth.Weight = compareBirth(&a.vitals, &b.vitals)
	sex := Evidence{Field: "sex"}
	sex.Level, sex.Weight = compareSex(&a.vitals, &b.vitals)
	father := Evidence{Field: "father"}
	var fs float64
	father.Level, father.Weight, fs = compareFather(a, b)
	father.Similarity = round(fs)
	father.Weight = familyWeight(nm.level, father.Weight)
	place := Evidence{Field: "place_of_birth"}
	place.Level, place.Weight = comparePlace(a, b)
	place.Weight = familyWeight(nm.level, place.Weight)
	c := Candidate{A: a.Ref, B: b.Ref, Offset: round(pop.offset()), Fields: []Evidence{name, birth, sex, father, place}}
	for i := range c.Fields {
		c.Fields[i].Weight = round(c.Fields[i].Weight)
		c.Weight += c.Fields[i].Weight
	}
	c.Weight = round(c.Weight)
	c.Score = round(1 / (1 + math.Exp2(-(c.Weight - c.Offset))))
	return c
}

// Compare scores a pair of persons field by field, with no knowledge of
// the population: every name word is taken as shared by defaultWordCount
// of MinPopulation persons. [Index.Compare] weighs words by how many of
// the persons it holds share them. Compare does not check sides or cases:
// the index does.
func Compare(a, b *Person) Candidate {
	var sc scratch
	return sc.explain(a, b, population{})
}

// need is the weight a pair needs to reach threshold at offset bits.
func need(threshold, offset float64) float64 {
	if threshold <= 0 {
		return math.Inf(-1)
	}
	if threshold >= 1 {
		return math.Inf(1)
	}
	// 1/(1+2^-(w-offset)) >= t  <=>  w >= offset + log2(t/(1-t)); a
	// little slack for the rounding of weights in explain.
	return offset + math.Log2(threshold/(1-threshold)) - 0.01
}

func round(x float64) float64 { return math.Round(x*1000) / 1000 }
