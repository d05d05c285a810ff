package match

import (
	"sort"
	"strings"
	"time"

	"github.com/familylinks/flx/node/names"
	"github.com/familylinks/flx/schema"
)

// Side is the part a person plays in matching.
type Side string

// Sides. A sought person is compared with registered persons, with the
// sought persons of other requests (two families looking for the same
// person) and with enquirers (a sought person may be looking for their
// family too); never with a person of the same case.
const (
	SideSought     Side = "sought"
	SideRegistered Side = "registered"
	SideEnquirer   Side = "enquirer"
)

// SideOf returns the side of a person of a case of type ct, and false when
// the person takes no part in matching (a caregiver, a guardian, a family
// member who is not sought).
func SideOf(ct schema.CaseType, p *schema.Person) (Side, bool) {
	switch {
	case p.HasRole(schema.PersonSought):
		return SideSought, true
	case p.HasRole(schema.PersonDetainee), p.HasRole(schema.PersonDeceased), p.HasRole(schema.PersonUnaccompaniedChild):
		return SideRegistered, true
	case p.HasRole(schema.PersonEnquirer):
		return SideEnquirer, true
	}
	switch ct {
	case schema.CaseDetentionNotification, schema.CaseDeathNotification, schema.CaseUnaccompaniedMinorRegistration, schema.CaseSafeAndWell:
		if len(p.Roles) == 0 {
			return SideRegistered, true
		}
	}
	return "", false
}

// comparable reports whether persons on sides a and b are compared.
func comparable(a, b Side) bool {
	if a == SideSought || b == SideSought {
		return true
	}
	return false
}

// Ref names one person of one case.
type Ref struct {
	CaseID   string `json:"case_id"`
	PersonID string `json:"person_id"`
}

// rendering is one written form of a person's name: the tokens of one
// "full" value, or of the parts written in one script and scheme.
type rendering struct {
	tokens []int // indexes into Person.tokens
	names  []int // indexes into schema.Person.Names
}

// Person is a person prepared for matching: names analysed, dates turned
// into an interval of possible birth days. It holds personal data (derived
// from the case) and is kept only as long as the case.
type Person struct {
	Ref
	Side     Side
	CaseType schema.CaseType

	tokens     []names.Token
	renderings []rendering
	father     []names.Token
	sex        schema.Sex
	sexCode    uint8 // 0 unknown or other, 1 female, 2 male
	// words are the population keys of tokens (see wordKey), and
	// maxWords the number of words of the longest rendering.
	words    []string
	maxWords int
	// birth is the interval of possible birth days (days since 1970), and
	// birthPrec the precision of the birth date: 3 day, 2 month, 1 year,
	// 0 from an age range; hasBirth false when unknown.
	birthLo, birthHi int
	birthPrec        int
	hasBirth         bool
	country          string
	locality         string // phonetic forms of the place of birth, joined
	keys             []string
}

// Limits on what one person contributes, so that a hostile document cannot
// make matching slow: schema v1 allows 128 names of 256 characters.
const (
	maxRenderings = 16
	maxTokens     = 8 // per rendering
)

// Prepare prepares one person of a case for matching; ok is false when the
// person takes no part (no side, or no name with a letter). now is the
// reference date for ages without an as_of date.
func Prepare(caseID string, ct schema.CaseType, p *schema.Person, now time.Time) (*Person, bool) {
	side, ok := SideOf(ct, p)
	if !ok {
		return nil, false
	}
	m := &Person{Ref: Ref{CaseID: caseID, PersonID: p.ID}, Side: side, CaseType: ct, sex: p.Sex}
	tokIndex := map[string]int{}
	addTokens := func(r *rendering, toks []names.Token) {
		for _, t := range toks {
			if len(r.tokens) >= maxTokens {
				return
			}
			k := t.Phonetic
			if t.Abjad {
				k = "*" + t.Skeleton
			}
			i, seen := tokIndex[k]
			if !seen {
				i = len(m.tokens)
				tokIndex[k] = i
				m.tokens = append(m.tokens, t)
			}
			if !containsInt(r.tokens, i) {
				r.tokens = append(r.tokens, i)
			}
		}
	}
	groups := map[string]*rendering{}
	var order []string
	for i, n := range p.Names {
		if len(m.renderings)+len(groups) >= maxRenderings {
			break
		}
		switch n.Part {
		case schema.PartFather, schema.PartMother:
			if n.Part == schema.PartFather && len(m.father) < maxTokens {
				m.father = append(m.father, names.Analyze(n.Value)...)
			}
			continue
		}
		toks := names.Analyze(n.Value)
		if len(toks) == 0 {
			continue
		}
		if n.Part == schema.PartFull || n.Part == schema.PartAlias || n.Part == schema.PartNickname || n.Part == "" {
			r := rendering{names: []int{i}}
			addTokens(&r, toks)
			m.renderings = append(m.renderings, r)
			continue
		}
		script := n.Script
		if script == "" {
			script = string(names.DetectScript(n.Value))
		}
		g := script + "/" + string(n.Scheme)
		r := groups[g]
		if r == nil {
			r = &rendering{}
			groups[g] = r
			order = append(order, g)
		}
		r.names = append(r.names, i)
		addTokens(r, toks)
	}
	for _, g := range order {
		m.renderings = append(m.renderings, *groups[g])
	}
	if len(m.renderings) == 0 {
		return nil, false
	}
	for _, r := range m.renderings {
		m.maxWords = max(m.maxWords, len(r.tokens))
	}
	m.words = make([]string, len(m.tokens))
	for i, t := range m.tokens {
		m.words[i] = wordKey(t)
	}
	switch p.Sex {
	case schema.SexFemale:
		m.sexCode = 1
	case schema.SexMale:
		m.sexCode = 2
	}
	m.birthLo, m.birthHi, m.birthPrec, m.hasBirth = birthInterval(p, now)
	if p.PlaceOfBirth != nil {
		m.country = p.PlaceOfBirth.Country
		var loc []string
		for _, t := range names.Analyze(p.PlaceOfBirth.Locality) {
			loc = append(loc, t.Phonetic)
		}
		m.locality = strings.Join(loc, " ")
	}
	m.keys = blockingKeys(m)
	return m, true
}

// PersonsOf prepares every person of a case that takes part in matching.
func PersonsOf(c *schema.Case, now time.Time) []*Person {
	var out []*Person
	for i := range c.Persons {
		if p, ok := Prepare(c.CaseID, c.Type, &c.Persons[i], now); ok {
			out = append(out, p)
		}
	}
	return out
}

func containsInt(list []int, x int) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}

const day = 24 * time.Hour

func days(t time.Time) int { return int(t.Unix() / 86400) }

// birthInterval returns the days a person may have been born on: from the
// birth date when it can be read, else from the age range (as of its as_of
// date, or now).
func birthInterval(p *schema.Person, now time.Time) (lo, hi, prec int, ok bool) {
	if p.BirthDate != "" {
		first, last, err := p.BirthDate.Range()
		if err == nil {
			return days(first), days(last), map[int]int{4: 1, 7: 2, 10: 3}[len(p.BirthDate)], true
		}
	}
	if p.Age == nil || (p.Age.Min == nil && p.Age.Max == nil) {
		return 0, 0, 0, false
	}
	minAge, maxAge := 0, 120
	if p.Age.Min != nil {
		minAge = *p.Age.Min
	}
	if p.Age.Max != nil {
		maxAge = *p.Age.Max
	}
	if minAge > maxAge || minAge < 0 {
		return 0, 0, 0, false
	}
	asLo, asHi := now, now
	if p.Age.AsOf != "" {
		f, l, err := p.Age.AsOf.Range()
		if err != nil {
			return 0, 0, 0, false
		}
		asLo, asHi = f, l
	}
	// Aged a on day d: born after d - (a+1) years and on or before d - a
	// years.
	lo = days(asLo.AddDate(-(maxAge + 1), 0, 1))
	hi = days(asHi.AddDate(-minAge, 0, 0))
	return lo, hi, 0, true
}

// wordKey is the key under which a population counts a word: its
// skeleton, which agrees across scripts and transliterations, or for a
// word of fewer than two consonants ("v" and) its phonetic form.
func wordKey(t names.Token) string {
	if len(t.Skeleton) >= 2 {
		return t.Skeleton
	}
	return "v" + t.Phonetic
}

// Keys returns the person's blocking keys (see BlockingKeys).
func (p *Person) Keys() []string { return p.keys }

// blockingKeys returns, for each rendering, for every ordered pair of its
// words (a, b): the skeleton of a with the first letter of b's skeleton
// ("np:brdz|g"), so that the order of name parts does not matter and a
// typo past the first consonant of b does not hide the pair; and each
// word's skeleton of three letters or more alone ("n1:vnsn"), for a person
// known by one name. A word whose skeleton is shorter than two letters
// (Aiiy, Ali) stands for itself by its phonetic form ("v" + form). Second
// readings (Cyrillic г as h) add their own keys.
func blockingKeys(p *Person) []string {
	set := map[string]bool{}
	forms := func(t names.Token) []string {
		var out []string
		for _, s := range []string{t.Skeleton, t.AltSkeleton} {
			if len(s) >= 2 {
				out = append(out, s)
			}
		}
		if len(out) == 0 {
			out = append(out, "v"+t.Phonetic)
		}
		return out
	}
	for _, r := range p.renderings {
		for _, a := range r.tokens {
			fa := forms(p.tokens[a])
			for _, x := range fa {
				if len(x) >= 3 && x[0] != 'v' || len(x) >= 3 && p.tokens[a].Skeleton == x {
					set["n1:"+x] = true
				}
			}
			for _, b := range r.tokens {
				if a == b {
					continue
				}
				for _, x := range fa {
					for _, y := range forms(p.tokens[b]) {
						set["np:"+x+"|"+y[:1]] = true
					}
				}
			}
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Renderings returns the person's written names as lists of words, one
// list per rendering (for encodings: see node/match/pprl).
func (p *Person) Renderings() [][]names.Token {
	out := make([][]names.Token, len(p.renderings))
	for i, r := range p.renderings {
		for _, t := range r.tokens {
			out[i] = append(out[i], p.tokens[t])
		}
	}
	return out
}

// BirthYears returns the years the person may have been born in; ok is
// false when nothing is known.
func (p *Person) BirthYears() (lo, hi int, ok bool) {
	if !p.hasBirth {
		return 0, 0, false
	}
	y := func(d int) int { return time.Unix(int64(d)*86400, 0).UTC().Year() }
	return y(p.birthLo), y(p.birthHi), true
}

// Sex returns the person's sex as written in the case.
func (p *Person) Sex() schema.Sex { return p.sex }
