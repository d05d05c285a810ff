package search

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/familylinks/flx/node/names"
	"github.com/familylinks/flx/schema"
)

// Version identifies the rules of Keys: it changes when names.KeyVersion
// or these rules change, so that a node rebuilds an index built with other
// rules.
const Version = 100*names.KeyVersion + 2

// Key prefixes besides the name keys of node/names (t_, p_, s_).
const (
	prefixWord      = "w_"
	prefixPlace     = "pl_"
	prefixBirthDate = "bd_"
	prefixBirthYear = "by_"
)

// latinMaxInput is how much of its input names.Latin reads, in runes.
const latinMaxInput = 1024

// Bounds that keep one hostile document from flooding the index.
const (
	maxKeysPerCase = 4000
	maxWordLen     = 40
	maxYearSpan    = 40
)

// Keys returns the search keys of a case document, sorted and without
// duplicates.
func Keys(c *schema.Case) []string { return KeysWith(c, nil) }

// KeysWith is [Keys] with the names analysed through m (nil: each
// analysed anew), which the case's preparation for matching can then read
// again without analysing them twice.
func KeysWith(c *schema.Case, m *names.Memo) []string {
	k := keySets.Get().(*keySet)
	defer k.release()
	ref := refYear(c)
	for i := range c.Persons {
		p := &c.Persons[i]
		for _, n := range p.Names {
			k.names(m.Analyze(n.Value))
		}
		k.birth(p, ref)
		for _, pl := range []*schema.Place{p.PlaceOfBirth, p.Address} {
			k.place(pl)
		}
		if p.LastKnownLocation != nil {
			k.place(p.LastKnownLocation.Place)
		}
	}
	if c.Separation != nil {
		k.place(c.Separation.Place)
	}
	if c.Detention != nil {
		k.place(c.Detention.Place)
	}
	if c.Death != nil {
		k.place(c.Death.Place)
		k.place(c.Death.RemainsLocation)
	}
	for _, n := range c.Notes {
		k.words(prefixWord, n.Text)
	}
	k.words(prefixWord, c.Origin.LocalRef)
	if _, local, ok := strings.Cut(c.CaseID, ":"); ok {
		k.words(prefixWord, local)
	}
	return k.sorted()
}

// keySet collects keys in the order made, repeats included, one after
// the other in one buffer: sorting them once as spans of it and dropping
// the repeats before any is made a string costs less than a set of
// strings grown key by key.
type keySet struct {
	buf   []byte
	spans [][2]int32 // start and end in buf of each key
}

// keySets keeps the buffers of keySet from one case to the next: a
// case's keys were built in a buffer allocated for it, grown twice or
// three times for a case of a few persons.
var keySets = sync.Pool{New: func() any {
	return &keySet{buf: make([]byte, 0, 4096), spans: make([][2]int32, 0, 256)}
}}

// Bounds of the buffers kept for the next case (a huge case's are left to
// the garbage collector).
const (
	maxKeptBuf   = 64 << 10
	maxKeptSpans = 8192
)

// release wipes k, so that no key of the case (names, places) outlives
// the call, and puts it back in keySets.
func (k *keySet) release() {
	if cap(k.buf) > maxKeptBuf || cap(k.spans) > maxKeptSpans {
		return
	}
	clear(k.buf[:cap(k.buf)])
	k.buf, k.spans = k.buf[:0], k.spans[:0]
	keySets.Put(k)
}

// add adds the key prefix+s.
func (k *keySet) add(prefix, s string) {
	start := int32(len(k.buf))
	k.buf = append(append(k.buf, prefix...), s...)
	k.spans = append(k.spans, [2]int32{start, int32(len(k.buf))})
}

// addYear adds the by_ key of a year of 1 to 9999 (yearKey).
func (k *keySet) addYear(y int) {
	start := int32(len(k.buf))
	k.buf = append(k.buf, prefixBirthYear...)
	k.buf = append(k.buf, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10))
	k.spans = append(k.spans, [2]int32{start, int32(len(k.buf))})
}

func (k *keySet) key(s [2]int32) []byte { return k.buf[s[0]:s[1]] }

// sorted returns the keys sorted and without repeats: the first
// maxKeysPerCase distinct keys in the order made, as a set that stops
// taking keys once it holds that many would keep. They are substrings of
// one string (one allocation): what holds them keeps them all.
func (k *keySet) sorted() []string {
	spans := k.spans
	if len(spans) > maxKeysPerCase {
		seen := make(map[string]bool, maxKeysPerCase)
		kept := spans[:0]
		for _, s := range spans {
			if len(seen) == maxKeysPerCase {
				break
			}
			if !seen[string(k.key(s))] {
				seen[string(k.key(s))] = true
				kept = append(kept, s)
			}
		}
		spans = kept
	}
	slices.SortFunc(spans, func(x, y [2]int32) int { return bytes.Compare(k.key(x), k.key(y)) })
	spans = slices.CompactFunc(spans, func(x, y [2]int32) bool { return bytes.Equal(k.key(x), k.key(y)) })
	spans = k.dropCoveredWords(spans)
	n := 0
	for _, s := range spans {
		n += int(s[1] - s[0])
	}
	var all strings.Builder // one allocation: the keys are substrings of it
	all.Grow(n)
	for _, s := range spans {
		all.Write(k.key(s))
	}
	str := all.String()
	out := make([]string, len(spans))
	off := 0
	for i, s := range spans {
		l := int(s[1] - s[0])
		out[i] = str[off : off+l]
		off += l
	}
	return out
}

// names adds the keys of name tokens: names.EachKey's, less the phonetic
// keys that a query cannot need. A query token's group (names.QueryTerms)
// holds its phonetic form next to that form's skeleton whenever the
// skeleton is a key (two letters or more), and a skeleton is a function of
// the phonetic form: a case holding p_X also holds s_skeleton(X), and every
// group holding p_X holds that skeleton too. So p_X is written only when
// its skeleton is too short to be a key (Ali: l), and the group still
// finds the case through the skeleton (a third of the name keys fewer,
// the same results: TestSearchKeysEquivalent in package node).
func (k *keySet) names(tokens []names.Token) {
	for i := range tokens {
		t := &tokens[i]
		k.add("t_", t.Latin)
		k.phonetic(t.Phonetic, t.Skeleton)
		if t.AltPhonetic != "" {
			k.phonetic(t.AltPhonetic, t.AltSkeleton)
		}
	}
}

// phonetic adds the key of a phonetic form and its skeleton: the
// skeleton's (s_) when it is a key, else the form's (p_).
func (k *keySet) phonetic(form, skeleton string) {
	if len(skeleton) >= 2 {
		k.add("s_", skeleton)
		return
	}
	k.add("p_", form)
}

// dropCoveredWords drops from sorted the free-text keys w_X of words
// that the case holds as a name (t_X) or place word (pl_X) too: a w_ key
// is only ever read in a free-text query word's group, which holds t_X and
// pl_X next to w_X (Query.Compile), so the case is found without it.
func (k *keySet) dropCoveredWords(sorted [][2]int32) [][2]int32 {
	has := func(prefix string, word []byte) bool {
		_, ok := slices.BinarySearchFunc(sorted, word, func(s [2]int32, w []byte) int { return compareJoined(k.key(s), prefix, w) })
		return ok
	}
	var drop []int // looked up in sorted whole, then dropped
	for i, s := range sorted {
		if w, ok := bytes.CutPrefix(k.key(s), []byte(prefixWord)); ok && (has("t_", w) || has(prefixPlace, w)) {
			drop = append(drop, i)
		}
	}
	for n, i := range drop {
		sorted = slices.Delete(sorted, i-n, i-n+1)
	}
	return sorted
}

// compareJoined is bytes.Compare(key, prefix+word) without joining them.
func compareJoined(key []byte, prefix string, word []byte) int {
	for i := 0; i < len(prefix); i++ {
		switch {
		case i == len(key) || key[i] < prefix[i]:
			return -1
		case key[i] > prefix[i]:
			return 1
		}
	}
	return bytes.Compare(key[len(prefix):], word)
}

// words adds the words of s in Latin letters, folded; free text leaves
// out words of two letters (of, in, by) that would match most cases.
func (k *keySet) words(prefix, s string) {
	eachWord(s, func(w string) {
		if prefix == prefixWord && len(w) < 3 && !isDigits(w) {
			return
		}
		k.add(prefix, w)
	})
}

func (k *keySet) place(p *schema.Place) {
	if p == nil {
		return
	}
	if p.Country != "" {
		k.add(prefixPlace, strings.ToLower(p.Country))
	}
	for _, s := range []string{p.AdminArea, p.Locality, p.AddressLine, p.Description} {
		k.words(prefixPlace, s)
	}
}

// birth adds the birth date as far as known and every year the person may
// have been born in.
func (k *keySet) birth(p *schema.Person, ref int) {
	if d := string(p.BirthDate); d != "" {
		if _, _, err := p.BirthDate.Range(); err == nil {
			for _, n := range []int{4, 7, 10} {
				if len(d) >= n {
					k.add(prefixBirthDate, d[:n])
				}
			}
			k.add(prefixBirthYear, d[:4])
			return
		}
	}
	if p.Age == nil || (p.Age.Min == nil && p.Age.Max == nil) {
		return
	}
	lo, hi := 0, 0
	switch {
	case p.Age.Min != nil && p.Age.Max != nil:
		lo, hi = *p.Age.Min, *p.Age.Max
	case p.Age.Min != nil:
		lo, hi = *p.Age.Min, *p.Age.Min
	default:
		lo, hi = *p.Age.Max, *p.Age.Max
	}
	if p.Age.AsOf != "" {
		if first, _, err := p.Age.AsOf.Range(); err == nil {
			ref = first.Year()
		}
	}
	if ref == 0 || lo < 0 || hi < lo || hi-lo > maxYearSpan {
		return
	}
	for y := ref - hi - 1; y <= ref-lo; y++ {
		if y > 0 && y < 10000 {
			k.addYear(y)
		}
	}
}

// refYear is the year an age without as_of was given: the case's creation.
func refYear(c *schema.Case) int {
	for _, d := range []schema.DateTime{c.Origin.CreatedAt, c.UpdatedAt} {
		if t, err := d.Time(); err == nil {
			return t.Year()
		}
	}
	return 0
}

// Words returns the words of s in lower-case Latin letters and digits
// (any script transliterated by node/names), each at most 40 bytes,
// without one-letter words.
func Words(s string) []string {
	var out []string
	eachWord(s, func(w string) { out = append(out, w) })
	return out
}

// eachWord calls f with each word Words returns, in order.
func eachWord(s string, f func(w string)) {
	emit := func(w string) {
		if len(w) < 2 {
			return
		}
		if len(w) > maxWordLen {
			w = w[:maxWordLen]
		}
		f(w)
	}
	// Runs of digits stay as written (references, house numbers); the rest
	// goes to Latin letters.
	for len(s) > 0 {
		i := strings.IndexFunc(s, isWordRune)
		if i < 0 {
			return
		}
		s = s[i:]
		j := strings.IndexFunc(s, func(r rune) bool { return !isWordRune(r) })
		if j < 0 {
			j = len(s)
		}
		run := s[:j]
		s = s[j:]
		switch {
		case isDigits(run):
			emit(run)
		case isASCIIAlnum(run):
			// What names.Latin makes of ASCII letters and digits: the
			// letters lower-cased, each digit a break, of the first
			// latinMaxInput.
			asciiLetterRuns(run[:min(len(run), latinMaxInput)], emit)
		default:
			for _, w := range strings.FieldsFunc(names.Latin(run), func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
			}) {
				emit(w)
			}
		}
	}
}

// isWordRune reports the runes words are made of.
func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) }

// isASCIIAlnum reports whether s is ASCII letters and digits only.
func isASCIIAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// asciiLetterRuns calls f with each run of letters of s (ASCII letters and
// digits), lower-cased: a substring of s when it is lower-case already.
func asciiLetterRuns(s string, f func(string)) {
	for i := 0; i < len(s); {
		if s[i] >= '0' && s[i] <= '9' {
			i++
			continue
		}
		j, upper := i, false
		for ; j < len(s) && !(s[j] >= '0' && s[j] <= '9'); j++ {
			upper = upper || s[j] >= 'A' && s[j] <= 'Z'
		}
		if w := s[i:j]; upper {
			f(strings.ToLower(w))
		} else {
			f(w)
		}
		i = j
	}
}

// yearKey is the by_ key of a year.
func yearKey(y int) string { return prefixBirthYear + year4(y) }

// year4 is fmt.Sprintf("%04d", y), without fmt for a year of 0 to 9999.
func year4(y int) string {
	if y < 0 || y > 9999 {
		return fmt.Sprintf("%04d", y)
	}
	b := [...]byte{byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10)}
	return string(b[:])
}

// isDigits reports whether s is ASCII digits only.
func isDigits(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) || r > unicode.MaxASCII {
			return false
		}
	}
	return s != ""
}
