package match

import (
	"math"
	"sort"

	"github.com/familylinks/flx/node/names"
	"github.com/xrash/smetrics"
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
	// Weight; candidates at or above the threshold are kept.
	Score float64 `json:"score"`
	// Weight is the sum of the fields' weights, in bits.
	Weight float64 `json:"weight"`
	// Fields explain the score field by field.
	Fields []Evidence `json:"fields"`
}

// Weights, in bits, for each field's levels. They were set by reasoning
// about how often each level occurs among true matches and among other
// pairs that share a blocking key, then checked against the synthetic
// corpus (see quality_test.go); doc.go lists them.
const (
	wNameAll       = 10.0 // every word of the shorter name agrees closely
	wNameAllFair   = 6.0  // every word agrees, one of them only fairly
	wNameOne       = 3.0  // only one word on one side, and it agrees
	wNamePartial   = -5.0 // some words agree, another clearly does not
	wNameNone      = -12.0
	wBirthDay      = 6.0
	wBirthMonth    = 3.0
	wBirthYear     = 2.5
	wBirthRange    = 1.0
	wBirthNear     = -1.5
	wBirthFar      = -4.0
	wBirthConflict = -9.0
	wSexSame       = 0.8
	wSexDiffer     = -7.0
	wFatherSame    = 3.0
	wFatherDiffer  = -3.0
	wPlaceSame     = 2.0
	wPlaceDiffer   = -1.0
	// offset centres the logistic: a pair needs offset bits of evidence
	// for a score of 0.5.
	offset = 10.0
)

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
		best := 0.0
		for _, x := range []string{a.Skeleton, a.AltSkeleton} {
			for _, y := range []string{b.Skeleton, b.AltSkeleton} {
				if x != "" && y != "" {
					best = max(best, smetrics.JaroWinkler(x, y, 0.7, 4))
				}
			}
		}
		return 0.97 * best
	}
	s := phonSim(a.Phonetic, b.Phonetic)
	if a.AltPhonetic != "" {
		s = max(s, phonSim(a.AltPhonetic, b.Phonetic))
	}
	if b.AltPhonetic != "" {
		s = max(s, phonSim(a.Phonetic, b.AltPhonetic))
	}
	return s
}

func phonSim(a, b string) float64 {
	if a == b {
		return 1
	}
	return smetrics.JaroWinkler(a, b, 0.7, 4)
}

// nameMatch is the best agreement between two renderings.
type nameMatch struct {
	level  string
	weight float64
	sim    float64
	ra, rb int
	sims   []float64
}

// compareNames finds the pair of renderings that agree best, matching
// words in any order (each word once, best pairs first).
func compareNames(a, b *Person) nameMatch {
	// Similarities of every word pair, computed once.
	sims := make([]float64, len(a.tokens)*len(b.tokens))
	for i := range a.tokens {
		for j := range b.tokens {
			sims[i*len(b.tokens)+j] = tokenSim(&a.tokens[i], &b.tokens[j])
		}
	}
	best := nameMatch{level: "none", weight: wNameNone, ra: -1, rb: -1}
	type pair struct {
		i, j int
		s    float64
	}
	var pairs []pair
	usedA, usedB := make([]bool, len(a.tokens)), make([]bool, len(b.tokens))
	for ri, ra := range a.renderings {
		for rj, rb := range b.renderings {
			pairs = pairs[:0]
			for _, i := range ra.tokens {
				for _, j := range rb.tokens {
					pairs = append(pairs, pair{i, j, sims[i*len(b.tokens)+j]})
				}
			}
			sort.Slice(pairs, func(x, y int) bool { return pairs[x].s > pairs[y].s })
			n := min(len(ra.tokens), len(rb.tokens))
			clear(usedA)
			clear(usedB)
			var got []float64
			for _, p := range pairs {
				if len(got) == n {
					break
				}
				if usedA[p.i] || usedB[p.j] {
					continue
				}
				usedA[p.i], usedB[p.j] = true, true
				got = append(got, p.s)
			}
			m := levelOf(got, n)
			m.ra, m.rb = ri, rj
			if m.weight > best.weight || (m.weight == best.weight && m.sim > best.sim) {
				best = m
			}
		}
	}
	return best
}

// levelOf grades the matched word similarities (best first) of two
// renderings whose shorter one has n words.
func levelOf(got []float64, n int) nameMatch {
	m := nameMatch{sims: got}
	if len(got) == 0 {
		m.level, m.weight = "none", wNameNone
		return m
	}
	sum := 0.0
	for _, s := range got {
		sum += s
	}
	m.sim = sum / float64(len(got))
	worst := got[len(got)-1]
	switch {
	case n >= 2 && worst >= tokClose:
		m.level, m.weight = "all", wNameAll+4*(m.sim-tokClose)/(1-tokClose)
	case n >= 2 && worst >= tokFair:
		// From wNameAllFair up to wNameAll as the words get closer.
		m.level, m.weight = "all_fair", wNameAllFair+(wNameAll-wNameAllFair)*(m.sim-tokFair)/(tokClose-tokFair)
		m.weight = min(m.weight, wNameAll)
	case n == 1 && worst >= tokClose:
		m.level, m.weight = "single", wNameOne
	case got[0] >= tokClose:
		m.level, m.weight = "partial", wNamePartial
	default:
		m.level, m.weight = "none", wNameNone
	}
	return m
}

// compareBirth compares the intervals of possible birth days.
func compareBirth(a, b *Person) Evidence {
	e := Evidence{Field: "birth"}
	if !a.hasBirth || !b.hasBirth {
		e.Level = "unknown"
		return e
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
		e.Level, e.Weight = "same_day", wBirthDay
	case gap == 0 && prec == 2:
		e.Level, e.Weight = "same_month", wBirthMonth
	case gap == 0 && prec == 1:
		e.Level, e.Weight = "same_year", wBirthYear
	case gap == 0:
		e.Level, e.Weight = "within_range", wBirthRange
		// A narrow range that agrees says more than a wide one.
		if w := max(a.birthHi-a.birthLo, b.birthHi-b.birthLo); w <= 3*366 {
			e.Weight += 1
		}
	case gap <= 400:
		e.Level, e.Weight = "within_a_year", wBirthNear
	case gap <= 3*366:
		e.Level, e.Weight = "within_3_years", wBirthFar
	default:
		e.Level, e.Weight = "conflict", wBirthConflict
	}
	return e
}

func compareSex(a, b *Person) Evidence {
	e := Evidence{Field: "sex"}
	known := func(s string) bool { return s == "female" || s == "male" }
	switch {
	case !known(string(a.sex)) || !known(string(b.sex)):
		e.Level = "unknown"
	case a.sex == b.sex:
		e.Level, e.Weight = "same", wSexSame
	default:
		e.Level, e.Weight = "differ", wSexDiffer
	}
	return e
}

func compareFather(a, b *Person) Evidence {
	e := Evidence{Field: "father"}
	if len(a.father) == 0 || len(b.father) == 0 {
		e.Level = "unknown"
		return e
	}
	best := 0.0
	for i := range a.father {
		for j := range b.father {
			best = max(best, tokenSim(&a.father[i], &b.father[j]))
		}
	}
	e.Similarity = round(best)
	switch {
	case best >= tokClose:
		e.Level, e.Weight = "same", wFatherSame
	case best < tokNo:
		e.Level, e.Weight = "differ", wFatherDiffer
	default:
		e.Level = "similar"
	}
	return e
}

func comparePlace(a, b *Person) Evidence {
	e := Evidence{Field: "place_of_birth"}
	switch {
	case a.locality == "" || b.locality == "":
		e.Level = "unknown"
	case a.locality == b.locality && (a.country == b.country || a.country == "" || b.country == ""):
		e.Level, e.Weight = "same", wPlaceSame
	case a.country != "" && a.country == b.country:
		e.Level = "same_country"
	default:
		e.Level, e.Weight = "differ", wPlaceDiffer
	}
	return e
}

// Compare scores a pair of persons field by field. It does not check sides
// or cases: the index does.
func Compare(a, b *Person) Candidate {
	nm := compareNames(a, b)
	name := Evidence{Field: "name", Level: nm.level, Similarity: round(nm.sim), Weight: nm.weight}
	if nm.ra >= 0 {
		name.Names = &NamePointers{A: a.renderings[nm.ra].names, B: b.renderings[nm.rb].names}
		for _, s := range nm.sims {
			name.Tokens = append(name.Tokens, round(s))
		}
	}
	c := Candidate{A: a.Ref, B: b.Ref, Fields: []Evidence{name, compareBirth(a, b), compareSex(a, b), compareFather(a, b), comparePlace(a, b)}}
	for i := range c.Fields {
		c.Fields[i].Weight = round(c.Fields[i].Weight)
		c.Weight += c.Fields[i].Weight
	}
	c.Weight = round(c.Weight)
	c.Score = round(1 / (1 + math.Exp2(-(c.Weight - offset))))
	return c
}

func round(x float64) float64 { return math.Round(x*1000) / 1000 }
