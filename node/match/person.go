package match

import (
	"bytes"
	"cmp"
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"sync"
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
	vitals
	// words are the population keys of tokens (see wordKey).
	words []string
	// slots group the tokens that spell one name part in different
	// renderings (Karo, Կարո, Каро), and tokNames are the indexes in the
	// case's names list of the names each token was written in.
	slots    [][]int
	tokNames [][]int
	country  string
	place    []names.Token // words of the place of birth
	keys     []string
	// coarse are the coarse forms of each token (see coarseForms), and
	// letters the letters of each token's forms (see letterSets).
	coarse  [][]string
	letters []letterSets
}

// vitals are what matching compares first, cheaply: an index keeps a
// copy by slot, read without loading the person, in 16 bytes (a quarter
// of a cache line: the persons a query reads are spread over the index).
type vitals struct {
	// birth is the interval of possible birth days (days since 1970,
	// within +-maxBirthDays), and birthPrec the precision of the birth
	// date: 3 day, 2 month, 1 year, 0 from an age range; hasBirth false
	// when unknown.
	birthLo, birthHi int32
	birthPrec        int8
	hasBirth         bool
	sexCode          uint8 // 0 unknown or other, 1 female, 2 male
	// hasFather and hasPlace say whether the father's name and the place
	// of birth are known: when either side lacks one it weighs nothing.
	hasFather, hasPlace bool
	// maxWords is the number of words of the longest rendering (at most
	// maxTokens); here, in the vitals' spare byte, it keeps a Person in a
	// smaller size class.
	maxWords uint8
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
	return prepare(caseID, ct, p, now, nil)
}

// prepare is Prepare with the names analysed through an (nil: each
// analysed anew).
func prepare(caseID string, ct schema.CaseType, p *schema.Person, now time.Time, an *names.Memo) (*Person, bool) {
	side, ok := SideOf(ct, p)
	if !ok {
		return nil, false
	}
	m := &Person{Ref: Ref{CaseID: caseID, PersonID: p.ID}, Side: side, CaseType: ct, sex: p.Sex}
	pb := prepBufs.Get().(*prepBuf)
	defer pb.done()
	m.tokens, m.tokNames, m.renderings = pb.tokens[:0], pb.tokNames[:0], pb.renderings[:0]
	pb.ints = pb.ints[:0]
	addTokens := func(r *rendering, toks []names.Token, name int) {
		for _, t := range toks {
			if len(r.tokens) >= maxTokens {
				return
			}
			// One token per phonetic form, or per skeleton for a word
			// written without short vowels (a person has a few).
			i := slices.IndexFunc(m.tokens, func(u names.Token) bool {
				if t.Abjad {
					return u.Abjad && u.Skeleton == t.Skeleton
				}
				return !u.Abjad && u.Phonetic == t.Phonetic
			})
			if i < 0 {
				i = len(m.tokens)
				m.tokens = append(m.tokens, t)
				m.tokNames = append(m.tokNames, nil)
				pb.tokens, pb.tokNames = m.tokens, m.tokNames
			}
			if !slices.Contains(m.tokNames[i], name) {
				if m.tokNames[i] == nil {
					m.tokNames[i] = pb.list()
				}
				m.tokNames[i] = append(m.tokNames[i], name)
			}
			if !containsInt(r.tokens, i) {
				if r.tokens == nil {
					r.tokens = pb.list()
				}
				r.tokens = append(r.tokens, i)
			}
		}
	}
	// Parts written in one script and scheme make renderings: the first
	// given name with the first family name, a second given name written
	// the same way (another hand, a typo) with the second family name, so
	// that two spellings of one word never count as two words.
	type group struct {
		r              rendering
		parts          []schema.NamePart
		script, scheme string
	}
	var groups []*group
	for i, n := range p.Names {
		if len(m.renderings)+len(groups) >= maxRenderings {
			break
		}
		switch n.Part {
		case schema.PartFather, schema.PartMother:
			if n.Part == schema.PartFather && len(m.father) < maxTokens {
				toks := an.Analyze(n.Value)
				m.father = append(m.father, toks[:min(len(toks), maxTokens-len(m.father))]...)
			}
			continue
		}
		toks := an.Analyze(n.Value)
		if len(toks) == 0 {
			continue
		}
		if n.Part == schema.PartFull || n.Part == schema.PartAlias || n.Part == schema.PartNickname || n.Part == "" {
			var r rendering
			addTokens(&r, toks, i)
			m.renderings = append(m.renderings, r)
			pb.renderings = m.renderings
			continue
		}
		script := n.Script
		if script == "" {
			script = string(names.DetectScript(n.Value))
		}
		var g *group
		for _, gi := range groups {
			if sameGroup(gi.script, gi.scheme, script, string(n.Scheme)) && !slices.Contains(gi.parts, n.Part) {
				g = gi
				break
			}
		}
		if g == nil {
			g = &group{script: script, scheme: string(n.Scheme)}
			groups = append(groups, g)
		}
		g.parts = append(g.parts, n.Part)
		addTokens(&g.r, toks, i)
	}
	for _, g := range groups {
		m.renderings = append(m.renderings, g.r)
	}
	pb.renderings = m.renderings
	if len(m.renderings) == 0 {
		return nil, false
	}
	for _, r := range m.renderings {
		m.maxWords = max(m.maxWords, uint8(len(r.tokens)))
	}
	m.slots = slotsOf(m, pb)
	pb.slots = m.slots
	m.coarse = make([][]string, len(m.tokens))
	m.letters = make([]letterSets, len(m.tokens))
	for i, t := range m.tokens {
		m.coarse[i] = coarseForms(t)
		m.letters[i] = lettersOf(&t, m.coarse[i])
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
	lo, hi, prec, ok := birthInterval(p, now)
	m.birthLo, m.birthHi, m.birthPrec, m.hasBirth = clampDays(lo), clampDays(hi), int8(prec), ok
	if p.PlaceOfBirth != nil {
		m.country = p.PlaceOfBirth.Country
		place := names.Analyze(p.PlaceOfBirth.Locality)
		// A copy: the analysis holds up to names.MaxTokens words.
		m.place = slices.Clone(place[:min(len(place), maxTokens)])
	}
	m.hasFather, m.hasPlace = len(m.father) > 0, len(m.place) > 0
	m.keys = blockingKeys(m)
	m.compact()
	return m, true
}

// prepBufs are prepare's buffers, reused: its tokens, the names of each,
// its renderings and their lists of indexes are built in them (grown by
// appending, they were a fifth of its allocations) and copied out by
// compact, so that nothing of one person is kept in them.
var prepBufs = sync.Pool{New: func() any { return new(prepBuf) }}

type prepBuf struct {
	tokens     []names.Token
	tokNames   [][]int
	renderings []rendering
	slots      [][]int
	ints       []int // the lists of list, maxTokens each
}

// list returns an empty list of indexes with room for maxTokens (a
// rendering holds that many tokens at most; a longer list of names is
// moved out of it by append).
func (pb *prepBuf) list() []int {
	if len(pb.ints)+maxTokens > cap(pb.ints) {
		pb.ints = make([]int, 0, max(64*maxTokens, 2*cap(pb.ints)))
	}
	n := len(pb.ints)
	pb.ints = pb.ints[:n+maxTokens]
	return pb.ints[n : n : n+maxTokens]
}

// done clears what pb holds of the person prepared (names, and slices
// into pb.ints) and puts it back.
func (pb *prepBuf) done() {
	clear(pb.tokens)
	clear(pb.tokNames)
	clear(pb.renderings)
	clear(pb.slots)
	pb.tokens, pb.tokNames, pb.renderings, pb.slots = pb.tokens[:0], pb.tokNames[:0], pb.renderings[:0], pb.slots[:0]
	prepBufs.Put(pb)
}

// compact moves what prepare built by appending into slices of the exact
// size, the small lists of indexes (renderings, slots, the names of each
// token) into one array and the coarse forms into another: an index keeps
// every person it holds for as long as the case, and the spare capacity
// and small allocations of those lists were some 7% of a person's memory
// (TestRetainedPerPerson). Nothing read changes (values and order are the
// same).
func (m *Person) compact() {
	m.tokens = slices.Clone(m.tokens)
	m.father = slices.Clone(m.father)
	n := 0
	for _, r := range m.renderings {
		n += len(r.tokens)
	}
	for _, s := range m.slots {
		n += len(s)
	}
	for _, t := range m.tokNames {
		n += len(t)
	}
	ints := make([]int, 0, n)
	pack := func(x []int) []int {
		if x == nil {
			return nil
		}
		k := len(ints)
		ints = append(ints, x...)
		return ints[k:len(ints):len(ints)]
	}
	m.renderings = slices.Clone(m.renderings)
	for i := range m.renderings {
		m.renderings[i].tokens = pack(m.renderings[i].tokens)
	}
	m.slots = slices.Clone(m.slots)
	for i := range m.slots {
		m.slots[i] = pack(m.slots[i])
	}
	m.tokNames = slices.Clone(m.tokNames)
	for i := range m.tokNames {
		m.tokNames[i] = pack(m.tokNames[i])
	}
	n = 0
	for _, c := range m.coarse {
		n += len(c)
	}
	forms := make([]string, 0, n)
	for i, c := range m.coarse {
		if c == nil {
			continue
		}
		k := len(forms)
		forms = append(forms, c...)
		m.coarse[i] = forms[k:len(forms):len(forms)]
	}
}

// sameGroup reports whether script1+"/"+scheme1 == script2+"/"+scheme2
// (the key parts are grouped by), without making the strings.
func sameGroup(script1, scheme1, script2, scheme2 string) bool {
	if len(script1)+len(scheme1) != len(script2)+len(scheme2) {
		return false
	}
	if script1 == script2 {
		return scheme1 == scheme2
	}
	if !strings.Contains(script1, "/") && !strings.Contains(script2, "/") {
		return false // the first "/" of each key ends two other scripts
	}
	return script1+"/"+scheme1 == script2+"/"+scheme2
}

// PersonsOf prepares every person of a case that takes part in matching.
func PersonsOf(c *schema.Case, now time.Time) []*Person { return PersonsOfWith(c, now, nil) }

// PersonsOfWith is [PersonsOf] with the names analysed through an (nil:
// each analysed anew), which may hold those the case's search keys
// analysed.
func PersonsOfWith(c *schema.Case, now time.Time, an *names.Memo) []*Person {
	var out []*Person
	for i := range c.Persons {
		if p, ok := prepare(c.CaseID, c.Type, &c.Persons[i], now, an); ok {
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

// maxBirthDays bounds the birth days held (some 735,000 years either
// side of 1970: any date a person can have; an absurd age range is
// clamped), so that the differences compareBirth takes fit in an int32.
const maxBirthDays = 1 << 28

func clampDays(d int) int32 { return int32(min(max(d, -maxBirthDays), maxBirthDays)) }

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

// slotsOf groups the tokens of a person that spell one name part: two
// tokens of different renderings that agree at least within one typing
// error join, strongest agreements first, as long as no slot holds two
// words of one rendering (a given and a family name stay apart).
func slotsOf(m *Person, pb *prepBuf) [][]int {
	n := len(m.tokens)
	// in[i] is the set of renderings token i appears in. (Arrays of a
	// few words stay on the stack.)
	var inA, maskA [2 * maxTokens]uint32
	var slotA [2 * maxTokens]int
	in, mask, slot := inA[:0], maskA[:0], slotA[:0]
	in, mask, slot = slices.Grow(in, n)[:n], slices.Grow(mask, n)[:n], slices.Grow(slot, n)[:n]
	for ri, r := range m.renderings {
		for _, t := range r.tokens {
			in[t] |= 1 << ri
		}
	}
	type link struct {
		i, j int
		g    agreement
		jw   float64
	}
	var linksA [2 * maxTokens]link
	links := linksA[:0]
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if in[i]&in[j] != 0 {
				continue
			}
			if g, jw, _ := compareWords(&m.tokens[i], &m.tokens[j]); g <= agreeEdit {
				links = append(links, link{i, j, g, jw})
			}
		}
	}
	// As sort.SliceStable did, without its allocations.
	slices.SortStableFunc(links, func(x, y link) int {
		switch {
		case x.g != y.g:
			return cmp.Compare(x.g, y.g)
		case x.jw > y.jw:
			return -1
		case x.jw < y.jw:
			return 1
		}
		return 0
	})
	// slot of each token; slots by their first token
	for i := range slot {
		slot[i], mask[i] = i, in[i]
	}
	for _, l := range links {
		a, b := slot[l.i], slot[l.j]
		if a == b || mask[a]&mask[b] != 0 {
			continue
		}
		for t := range slot {
			if slot[t] == b {
				slot[t] = a
			}
		}
		mask[a] |= mask[b]
	}
	out := pb.slots[:0] // copied out by compact
	index := in         // read no more: by slot, 1 + its place in out (0: none yet)
	clear(index)
	for t, s := range slot {
		k := int(index[s]) - 1
		if k < 0 {
			k = len(out)
			index[s] = uint32(k + 1)
			out = append(out, pb.list())
		}
		out[k] = append(out[k], t)
	}
	return out
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

// BlockingKeysVersion identifies the rules of [Person.Keys]: a store that
// persists keys records it and recomputes them when it changes.
const BlockingKeysVersion = 3

// blockingKeys returns, for every ordered pair (a, b) of words spelling two
// different name parts (slots) of the person: the skeleton of a with the
// first letter of b's skeleton ("np:brdz|g"), so that the order of name
// parts does not matter and a typo past the first consonant of b does not
// hide the pair; when b's skeleton starts with h, v or y, which
// transliterations write or drop (Hovsep, Ovsep; Wahid, Ouahid; Yusuf,
// Usuf), also with its second letter. And each word's skeleton of three
// letters or more alone ("n1:vnsn"), for a person known by one name and
// for a pair whose second words differ from the first letter: those
// blocks are read only while small (Options.MaxWordBlock). A word whose
// skeleton is shorter than two letters (Aiiy, Ali) stands for itself by
// its phonetic form ("v" + form). Second readings (Cyrillic г as h) add
// their own keys.
func blockingKeys(p *Person) []string {
	// The keys are written one after the other into one buffer (repeats
	// included), sorted and compacted as spans of it, and only then made
	// strings: a set of strings cost an allocation per key made and a map
	// to grow, for each person put.
	kb := keyBufs.Get().(*keyBuf)
	kb.buf, kb.spans = kb.buf[:0], kb.spans[:0]
	defer func() {
		if cap(kb.buf) <= 64<<10 { // not what a hostile person grew
			keyBufs.Put(kb)
		}
	}()
	forms := func(t *names.Token) ([2]string, int) {
		var out [2]string
		n := 0
		for _, s := range [2]string{t.Skeleton, t.AltSkeleton} {
			if len(s) >= 2 {
				out[n] = s
				n++
			}
		}
		if n == 0 {
			out[0], n = "v"+t.Phonetic, 1
		}
		return out, n
	}
	for i := range p.tokens {
		t := &p.tokens[i]
		fs, nf := forms(t)
		for _, x := range fs[:nf] {
			if len(x) >= 3 && x[0] != 'v' || len(x) >= 3 && t.Skeleton == x {
				kb.add("n1:", x, "", "")
			}
		}
	}
	// initials are the letters a word's skeleton starts with (its phonetic
	// form's when it has no consonant).
	initials := func(t *names.Token) ([6]string, int) {
		var out [6]string
		n := 0
		for _, s := range [3]string{t.Skeleton, t.AltSkeleton, t.Phonetic} {
			if s == "" || s == t.Phonetic && n > 0 {
				continue
			}
			out[n] = s[:1]
			n++
			if len(s) >= 2 && (s[0] == 'h' || s[0] == 'v' || s[0] == 'y') {
				out[n] = s[1:2]
				n++
			}
		}
		return out, n
	}
	for si, sa := range p.slots {
		for sj, sb := range p.slots {
			if si == sj {
				continue
			}
			for _, a := range sa {
				for _, b := range sb {
					fs, nf := forms(&p.tokens[a])
					is, ni := initials(&p.tokens[b])
					for _, x := range fs[:nf] {
						for _, y := range is[:ni] {
							kb.add("np:", x, "|", y)
						}
					}
				}
			}
		}
	}
	// Both words of two parts by their coarse forms (see coarseForms),
	// in one order: two spellings that differ in how each word writes
	// an h, a g, a kh or a zh still meet.
	for si := range p.slots {
		for sj := si + 1; sj < len(p.slots); sj++ {
			for _, a := range p.slots[si] {
				for _, b := range p.slots[sj] {
					for _, x := range p.coarse[a] {
						for _, y := range p.coarse[b] {
							if len(x)+len(y) < 3 {
								continue
							}
							if y < x {
								x, y = y, x
							}
							kb.add("nc:", x, "|", y)
						}
					}
				}
			}
		}
	}
	// A word's coarse form with the first letter of another part's: a
	// spelling that differs in how it writes the sounds of one word and
	// by a typing error in the other.
	for si, sa := range p.slots {
		for sj, sb := range p.slots {
			if si == sj {
				continue
			}
			for _, a := range sa {
				for _, x := range p.coarse[a] {
					if len(x) < 2 {
						continue
					}
					for _, b := range sb {
						for _, y := range p.coarse[b] {
							kb.add("nk:", x, "|", y[:1])
						}
					}
				}
			}
		}
	}
	return kb.keys()
}

// keyBufs are blockingKeys' buffers, reused (the keys are copied out).
var keyBufs = sync.Pool{New: func() any { return new(keyBuf) }}

// keyBuf collects keys as spans of one buffer.
type keyBuf struct {
	buf   []byte
	spans [][2]int32
}

// add adds the key a+b+c+d.
func (k *keyBuf) add(a, b, c, d string) {
	start := int32(len(k.buf))
	k.buf = append(append(append(append(k.buf, a...), b...), c...), d...)
	k.spans = append(k.spans, [2]int32{start, int32(len(k.buf))})
}

// keys returns the keys added, sorted and without repeats. Each is a
// string of its own: a key the index holds as a block's may outlive the
// person, and must not keep the others alive.
func (k *keyBuf) keys() []string {
	span := func(s [2]int32) []byte { return k.buf[s[0]:s[1]] }
	slices.SortFunc(k.spans, func(x, y [2]int32) int { return bytes.Compare(span(x), span(y)) })
	k.spans = slices.CompactFunc(k.spans, func(x, y [2]int32) bool { return bytes.Equal(span(x), span(y)) })
	keys := make([]string, len(k.spans))
	for i, s := range k.spans {
		keys[i] = string(span(s))
	}
	return keys
}

// coarseForms returns a word's coarse forms for blocking: its phonetic
// forms without vowels and without the sounds that transliterations most
// often write, drop or swap for one another: h, kh and g (Arabic ح, ه
// and خ, Armenian հ, written h, kh, g or nothing through Cyrillic г:
// Huzla, Uzla; Lahaz, Lagaz; Kamtuah, Kamtuakh), with zh as j (Zhekho,
// Jekho), and ch read both as sh (French) and as nothing (Greek χ).
// None when a form has no letter left.
func coarseForms(t names.Token) []string {
	var out []string
	add := func(b []byte) {
		if len(b) > 0 && !slices.Contains(out, string(b)) {
			out = append(out, string(b))
		}
	}
	for _, ph := range []string{t.Phonetic, t.AltPhonetic} {
		if ph == "" {
			continue
		}
		var sh, none []byte
		push := func(b []byte, c byte) []byte { // repeated letters collapse
			if len(b) > 0 && b[len(b)-1] == c {
				return b
			}
			return append(b, c)
		}
		for i := 0; i < len(ph); i++ {
			c := ph[i]
			switch c {
			case 'a', 'i', 'u', 'h', 'x', 'g':
				continue
			case 'y':
				c = 'j'
			}
			if c == 'q' {
				sh = push(sh, 'w')
				continue
			}
			sh, none = push(sh, c), push(none, c)
		}
		add(sh)
		add(none)
	}
	return out
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
	y := func(d int32) int { return time.Unix(int64(d)*86400, 0).UTC().Year() }
	return y(p.birthLo), y(p.birthHi), true
}

// Sex returns the person's sex as written in the case.
func (p *Person) Sex() schema.Sex { return p.sex }

// fineLetters is how many first letters of a form finer keys hold.
const fineLetters = 5

// refinable reports whether k is a name-pair key that an index may read
// through finer blocks (see fineKeys).
func refinable(k string) bool {
	return strings.HasPrefix(k, "np:") || strings.HasPrefix(k, "nk:")
}

// fineKeys returns the hashes of the finer keys, sorted and without
// repeats, of those
// of p's name-pair keys that want picks. A key "np:<x>|<y>" stands for
// word a's form x with the letter y that another part's word b starts
// with; "nk:<x>|<y>" the same with coarse forms. Its finer keys name what
// a pair of words must share to agree beyond that letter: for each word b
// that gives the key, "<key>/s<f>" for f the first fineLetters of b's
// skeletons (the same consonants, vowels differing), "<key>/c<f>" of its
// coarse forms (one name written another way), and "<key>/p<f>" for f the
// first fineLetters of its phonetic forms and, when f has three letters
// or more, f less one of its letters but the first: two words one typing
// error apart in those letters (a letter replaced, added, dropped, two
// swapped) share one (both less the letter that differs, or the longer
// less the one added), and so do two words that differ only past them.
// For a word written without short vowels, its skeletons take the
// place of the phonetic forms.
//
// An index holds the keys by their hash (seed): two keys of one hash
// share a block, which only adds persons to compare.
func fineKeys(p *Person, seed maphash.Seed, want func(coarse []byte) bool) []uint64 {
	return appendFineKeys(nil, &fineBuf{}, p, seed, want)
}

// fineBuf holds the bytes finer keys are built in, kept from one call to
// the next: grown anew per call, they were most of the allocations of a
// Put (a key is passed to a function, so it cannot stay on the stack).
type fineBuf struct{ buf, ck []byte }

// wipe clears the bytes of the keys last built (of names: an index
// keeps nothing of a person it erased).
func (fb *fineBuf) wipe() {
	clear(fb.buf[:cap(fb.buf)])
	clear(fb.ck[:cap(fb.ck)])
}

// appendFineKeys appends fineKeys(p, seed, want) to dst, building the
// keys in fb.
func appendFineKeys(dst []uint64, fb *fineBuf, p *Person, seed maphash.Seed, want func(coarse []byte) bool) []uint64 {
	n := len(dst)
	fb.each(p, want, func(k []byte) { dst = append(dst, maphash.Bytes(seed, k)) })
	slices.Sort(dst[n:])
	return dst[:n+len(slices.Compact(dst[n:]))]
}

// eachFineKey calls f with each finer key of fineKeys (repeats included;
// neither want nor f may keep its argument: the key is built in place,
// for every pair of words of a person matched).
func eachFineKey(p *Person, want func(coarse []byte) bool, f func(k []byte)) {
	(&fineBuf{}).each(p, want, f)
}

// each is eachFineKey building the keys in fb.
func (fb *fineBuf) each(p *Person, want func(coarse []byte) bool, f func(k []byte)) {
	buf, ck := fb.buf, fb.ck
	defer func() { fb.buf, fb.ck = buf, ck }()
	emit := func(coarse []byte, tag, s string, typo bool) {
		w := s[:min(len(s), fineLetters)]
		if w == "" {
			return
		}
		buf = append(append(append(append(buf[:0], coarse...), '/'), tag...), w...)
		f(buf)
		if typo && len(w) >= 3 {
			for i := 1; i < len(w); i++ {
				buf = append(append(append(append(append(buf[:0], coarse...), '/'), tag...), w[:i]...), w[i+1:]...)
				f(buf)
			}
		}
	}
	word := func(coarse []byte, b int) {
		if !want(coarse) {
			return
		}
		t := &p.tokens[b]
		emit(coarse, "s", t.Skeleton, t.Abjad)
		emit(coarse, "s", t.AltSkeleton, t.Abjad)
		for _, c := range p.coarse[b] {
			emit(coarse, "s", c, false)
		}
		emit(coarse, "p", t.Phonetic, !t.Abjad)
		emit(coarse, "p", t.AltPhonetic, !t.Abjad)
	}
	for si, sa := range p.slots {
		for sj, sb := range p.slots {
			if si == sj {
				continue
			}
			for _, a := range sa {
				ta := &p.tokens[a]
				// The forms of a the keys are made of: its skeletons of
				// two letters or more, else "v" and its phonetic form (v
				// written into the key: a string made of them would be
				// allocated).
				var xsA [2]string
				xs, v := xsA[:0], ""
				for _, x := range [2]string{ta.Skeleton, ta.AltSkeleton} {
					if len(x) >= 2 {
						xs = append(xs, x)
					}
				}
				if len(xs) == 0 {
					xs, v = append(xs, ta.Phonetic), "v"
				}
				for _, x := range xs {
					for _, b := range sb {
						tb := &p.tokens[b]
						n := 0
						for _, s := range [3]string{tb.Skeleton, tb.AltSkeleton, tb.Phonetic} {
							if s == "" || s == tb.Phonetic && n > 0 {
								continue
							}
							n++
							ck = append(append(append(append(append(ck[:0], "np:"...), v...), x...), '|'), s[0])
							word(ck, b)
							if len(s) >= 2 && (s[0] == 'h' || s[0] == 'v' || s[0] == 'y') {
								ck[len(ck)-1] = s[1]
								word(ck, b)
							}
						}
					}
				}
				for _, x := range p.coarse[a] {
					if len(x) < 2 {
						continue
					}
					for _, b := range sb {
						for _, y := range p.coarse[b] {
							ck = append(append(append(append(ck[:0], "nk:"...), x...), '|'), y[0])
							word(ck, b)
						}
					}
				}
			}
		}
	}
}

// letterSets are the letters of a token's forms as bit sets, one bit per
// letter (another byte shares one of six bits), by kind: phonetic and
// skeleton forms (second readings too), the Latin form, and coarse forms
// of two letters or more. Two words agree at best fairly unless some form
// of one has, among the same kind of forms of the other, at most one
// letter missing (one typing error, a leading h), or none for coarse
// forms, which agree only when equal (see mayAgree).
type letterSets struct {
	phon, skel       [2]uint32
	latin            uint32
	coarse           [4]uint32
	phonAll, skelAll uint32
	coarseAll        uint32
	nCoarse          uint8
	abjad            bool
}

func lettersOf(t *names.Token, coarse []string) letterSets {
	ls := letterSets{abjad: t.Abjad}
	for i, f := range [2]string{t.Phonetic, t.AltPhonetic} {
		ls.phon[i] = letterMask(f)
		ls.phonAll |= ls.phon[i]
	}
	for i, f := range [2]string{t.Skeleton, t.AltSkeleton} {
		ls.skel[i] = letterMask(f)
		ls.skelAll |= ls.skel[i]
	}
	ls.latin = letterMask(t.Latin)
	for _, f := range coarse {
		if len(f) < 2 {
			continue
		}
		if int(ls.nCoarse) == len(ls.coarse) {
			// More coarse forms than held (not so far): any may agree.
			ls.coarse[0], ls.coarseAll = 0, ^uint32(0)
			continue
		}
		ls.coarse[ls.nCoarse] = letterMask(f)
		ls.coarseAll |= ls.coarse[ls.nCoarse]
		ls.nCoarse++
	}
	return ls
}

func letterMask(f string) uint32 {
	var m uint32
	for i := 0; i < len(f); i++ {
		if c := f[i]; c >= 'a' && c <= 'z' {
			m |= 1 << (c - 'a')
		} else {
			m |= 1 << (26 + c%6)
		}
	}
	return m
}

// hBit is the bit of the letter h.
const hBit = 1 << ('h' - 'a')

// mayAgree reports whether two words may agree by more than Jaro-Winkler
// (as wordBound reads them, which reads more than compareWords): phonetic
// or skeleton forms the same or one typing error apart, skeletons a
// leading h apart, Latin forms one typing error apart, or a coarse form
// the same. Each of these leaves at most one letter of a form of a that
// is in no form of the same kind of b (none for coarse forms).
func (a *letterSets) mayAgree(b *letterSets) bool {
	for i := range a.phon {
		if a.phon[i] != 0 && bits.OnesCount32(a.phon[i]&^b.phonAll) <= 1 ||
			a.skel[i] != 0 && bits.OnesCount32(a.skel[i]&^b.skelAll) <= 1 {
			return true
		}
	}
	if a.latin != 0 && bits.OnesCount32(a.latin&^b.latin) <= 1 {
		return true
	}
	for _, c := range a.coarse[:a.nCoarse] {
		if c&^b.coarseAll == 0 {
			return true
		}
	}
	return false
}
