package match

import (
	"math"

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
// checked against the synthetic corpus (quality_test.go).
const (
	// A word agreeing exactly weighs log2(mWord / u), u the share of the
	// persons matched against who hold the word, clamped to
	// [wWordMin, wWordMax]; a fair agreement loses up to fairPenalty bits
	// (a random word is that much likelier to be merely close).
	mWord          = 0.9
	wWordMin       = 1.0
	wWordMax       = 15.0
	fairPenalty    = 6.0
	wWordWeak      = -2.0 // similarity in [tokNo, tokFair)
	wWordDisagree  = -6.0 // similarity under tokNo: another name (a sibling)
	wNameNone      = -12.0
	wBirthDay      = 12.0
	wBirthMonth    = 8.0
	wBirthYear     = 5.0
	wBirthRangeMin = 0.5
	wBirthNear     = -1.5
	wBirthFar      = -4.0
	wBirthConflict = -9.0
	wSexSame       = 0.8
	wSexDiffer     = -7.0
	wFatherSame    = 3.0
	wFatherDiffer  = -3.0
	wPlaceSame     = 2.0
	wPlaceDiffer   = -1.0
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

// Similarity thresholds for words.
const (
	tokClose = 0.92
	tokFair  = 0.84
	tokNo    = 0.75
)

// tokenSim is the similarity of two words: Jaro-Winkler on the phonetic
// forms, on the skeletons when either word was written without short
// vowels (and then a little lower: the skeleton says less).
func tokenSim(a, b *names.Token) float64 {
	if a.Abjad || b.Abjad {
		best := jaroWinkler(a.Skeleton, b.Skeleton)
		if a.AltSkeleton != "" {
			best = max(best, jaroWinkler(a.AltSkeleton, b.Skeleton))
			if b.AltSkeleton != "" {
				best = max(best, jaroWinkler(a.AltSkeleton, b.AltSkeleton))
			}
		}
		if b.AltSkeleton != "" {
			best = max(best, jaroWinkler(a.Skeleton, b.AltSkeleton))
		}
		return 0.97 * best
	}
	if a.Phonetic == b.Phonetic {
		return 1
	}
	s := jaroWinkler(a.Phonetic, b.Phonetic)
	if a.AltPhonetic != "" {
		s = max(s, jaroWinkler(a.AltPhonetic, b.Phonetic))
	}
	if b.AltPhonetic != "" {
		s = max(s, jaroWinkler(a.Phonetic, b.AltPhonetic))
	}
	return s
}

// population is what the weights know of the persons matched against: n
// persons, and for each word of the two persons compared, how many of the
// n hold it (nil: unknown, defaultWordCount each).
type population struct {
	n      int
	ca, cb []int32
}

func (p population) size() float64 { return float64(max(p.n, MinPopulation)) }

// offset is the evidence needed for a score of 0.5: the prior odds that a
// pair is a match are about 1 in the population's size.
func (p population) offset() float64 { return math.Log2(p.size()) }

func (p population) count(i, j int) int32 {
	if p.ca == nil || p.cb == nil {
		return defaultWordCount
	}
	return max(p.ca[i], p.cb[j], 1)
}

// wordWeight is the weight of two words of similarity s, of which count
// persons of the population hold the more common one.
func wordWeight(s float64, count int32, size float64) float64 {
	switch {
	case s < tokNo:
		return wWordDisagree
	case s < tokFair:
		return wWordWeak
	}
	w := math.Log2(mWord * size / float64(count))
	w = min(max(w, wWordMin), wWordMax)
	return w - fairPenalty*(1-s)/(1-tokFair)
}

// scratch holds the buffers of one goroutine's comparisons, so that the
// hot loop does not allocate.
type scratch struct {
	sims         []float64
	pairs        []tokPair
	usedA, usedB []bool
	got, best    []tokPair
	counts       []int32
	seen         []uint32
	gen          uint32
}

type tokPair struct {
	i, j int
	s    float64
}

// nameMatch is the best agreement between two renderings.
type nameMatch struct {
	level  string
	weight float64
	sim    float64
	ra, rb int
}

// compareNames finds the pair of renderings that agree best, matching
// words in any order (each word once, best pairs first); the matched word
// pairs are left in sc.best.
func (sc *scratch) compareNames(a, b *Person, pop population) nameMatch {
	nb := len(b.tokens)
	sims := grow(sc.sims, len(a.tokens)*nb)
	sc.sims = sims
	for i := range a.tokens {
		for j := range b.tokens {
			sims[i*nb+j] = tokenSim(&a.tokens[i], &b.tokens[j])
		}
	}
	sc.usedA = grow(sc.usedA, len(a.tokens))
	sc.usedB = grow(sc.usedB, nb)
	size := pop.size()
	best := nameMatch{level: "none", weight: wNameNone, ra: -1, rb: -1}
	sc.best = sc.best[:0]
	for ri := range a.renderings {
		ra := &a.renderings[ri]
		for rj := range b.renderings {
			rb := &b.renderings[rj]
			pairs := sc.pairs[:0]
			for _, i := range ra.tokens {
				for _, j := range rb.tokens {
					p := tokPair{i, j, sims[i*nb+j]}
					// Insertion, best first: at most 64 pairs.
					k := len(pairs)
					pairs = append(pairs, p)
					for k > 0 && pairs[k-1].s < p.s {
						pairs[k] = pairs[k-1]
						k--
					}
					pairs[k] = p
				}
			}
			sc.pairs = pairs
			n := min(len(ra.tokens), len(rb.tokens))
			clear(sc.usedA)
			clear(sc.usedB)
			got := sc.got[:0]
			weight, sum := 0.0, 0.0
			for _, p := range pairs {
				if len(got) == n {
					break
				}
				if sc.usedA[p.i] || sc.usedB[p.j] {
					continue
				}
				sc.usedA[p.i], sc.usedB[p.j] = true, true
				got = append(got, p)
				weight += wordWeight(p.s, pop.count(p.i, p.j), size)
				sum += p.s
			}
			sc.got = got
			if len(got) == 0 {
				continue
			}
			sim := sum / float64(len(got))
			if weight > best.weight || (weight == best.weight && sim > best.sim) {
				best = nameMatch{level: levelOf(got, n), weight: weight, sim: sim, ra: ri, rb: rj}
				sc.best = append(sc.best[:0], got...)
			}
		}
	}
	return best
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// levelOf names the agreement of the matched word pairs (best first) of
// two renderings whose shorter one has n words.
func levelOf(got []tokPair, n int) string {
	worst := got[len(got)-1].s
	switch {
	case n >= 2 && worst >= tokClose:
		return "all"
	case n >= 2 && worst >= tokFair:
		return "all_fair"
	case n == 1 && worst >= tokFair:
		return "single"
	case got[0].s >= tokFair:
		return "partial"
	}
	return "none"
}

// compareBirth compares the intervals of possible birth days.
func compareBirth(a, b *Person) (string, float64) {
	if !a.hasBirth || !b.hasBirth {
		return "unknown", 0
	}
	gap := 0
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

func compareSex(a, b *Person) (string, float64) {
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
	best := 0.0
	for i := range a.father {
		for j := range b.father {
			best = max(best, tokenSim(&a.father[i], &b.father[j]))
		}
	}
	switch {
	case best >= tokClose:
		return "same", wFatherSame, best
	case best < tokNo:
		return "differ", wFatherDiffer, best
	}
	return "similar", 0, best
}

func comparePlace(a, b *Person) (string, float64) {
	switch {
	case a.locality == "" || b.locality == "":
		return "unknown", 0
	case a.locality == b.locality && (a.country == b.country || a.country == "" || b.country == ""):
		return "same", wPlaceSame
	case a.country != "" && a.country == b.country:
		return "same_country", 0
	}
	return "differ", wPlaceDiffer
}

// otherWeight is the weight of every field but the name: cheap, so it is
// computed first and may spare the name comparison.
func otherWeight(a, b *Person) float64 {
	_, wb := compareBirth(a, b)
	_, ws := compareSex(a, b)
	_, wp := comparePlace(a, b)
	return wb + ws + wp
}

// evaluate returns the pair's weight, or ok false when it cannot reach
// need bits; nameCap bounds the name's weight (see Index.Match), and the
// names, the costly part, are compared only when the other fields and
// nameCap together could reach need.
func (sc *scratch) evaluate(a, b *Person, pop population, need, nameCap float64) (float64, bool) {
	w := otherWeight(a, b)
	hasFather := len(a.father) > 0 && len(b.father) > 0
	bound := w + nameCap
	if hasFather {
		bound += wFatherSame
	}
	if bound < need {
		return 0, false
	}
	if hasFather {
		_, wf, _ := compareFather(a, b)
		w += wf
	}
	w += sc.compareNames(a, b, pop).weight
	return w, w >= need
}

// explain builds the candidate of a pair, field by field.
func (sc *scratch) explain(a, b *Person, pop population) Candidate {
	nm := sc.compareNames(a, b, pop)
	name := Evidence{Field: "name", Level: nm.level, Similarity: round(nm.sim), Weight: nm.weight}
	if nm.ra >= 0 {
		name.Names = &NamePointers{A: a.renderings[nm.ra].names, B: b.renderings[nm.rb].names}
		size := pop.size()
		for _, p := range sc.best {
			name.Tokens = append(name.Tokens, round(p.s))
			name.TokenWeights = append(name.TokenWeights, round(wordWeight(p.s, pop.count(p.i, p.j), size)))
		}
	}
	birth := Evidence{Field: "birth"}
	birth.Level, birth.Weight = compareBirth(a, b)
	sex := Evidence{Field: "sex"}
	sex.Level, sex.Weight = compareSex(a, b)
	father := Evidence{Field: "father"}
	var fs float64
	father.Level, father.Weight, fs = compareFather(a, b)
	father.Similarity = round(fs)
	place := Evidence{Field: "place_of_birth"}
	place.Level, place.Weight = comparePlace(a, b)
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
