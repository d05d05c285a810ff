package search

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/familylinks/flx/node/names"
	"github.com/familylinks/flx/schema"
)

// Version identifies the rules of Keys: it changes when names.KeyVersion
// or these rules change, so that a node rebuilds an index built with other
// rules.
const Version = 100*names.KeyVersion + 1

// Key prefixes besides the name keys of node/names (t_, p_, s_).
const (
	prefixWord      = "w_"
	prefixPlace     = "pl_"
	prefixBirthDate = "bd_"
	prefixBirthYear = "by_"
)

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
	k := keySet{}
	ref := refYear(c)
	for i := range c.Persons {
		p := &c.Persons[i]
		for _, n := range p.Names {
			for _, key := range names.KeysOf(m.Analyze(n.Value)) {
				k.add(key)
			}
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

type keySet map[string]bool

func (k keySet) add(key string) {
	if len(k) < maxKeysPerCase {
		k[key] = true
	}
}

func (k keySet) sorted() []string {
	out := make([]string, 0, len(k))
	for key := range k {
		out = append(out, key)
	}
	sort.Strings(out)
	return out
}

// words adds the words of s in Latin letters, folded; free text leaves
// out words of two letters (of, in, by) that would match most cases.
func (k keySet) words(prefix, s string) {
	for _, w := range Words(s) {
		if prefix == prefixWord && len(w) < 3 && !isDigits(w) {
			continue
		}
		k.add(prefix + w)
	}
}

func (k keySet) place(p *schema.Place) {
	if p == nil {
		return
	}
	if p.Country != "" {
		k.add(prefixPlace + strings.ToLower(p.Country))
	}
	for _, s := range []string{p.AdminArea, p.Locality, p.AddressLine, p.Description} {
		k.words(prefixPlace, s)
	}
}

// birth adds the birth date as far as known and every year the person may
// have been born in.
func (k keySet) birth(p *schema.Person, ref int) {
	if d := string(p.BirthDate); d != "" {
		if _, _, err := p.BirthDate.Range(); err == nil {
			for _, n := range []int{4, 7, 10} {
				if len(d) >= n {
					k.add(prefixBirthDate + d[:n])
				}
			}
			k.add(prefixBirthYear + d[:4])
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
			k.add(prefixBirthYear + fmt.Sprintf("%04d", y))
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
	if s == "" {
		return nil
	}
	// Runs of digits stay as written (references, house numbers); the rest
	// goes to Latin letters.
	var f []string
	for _, run := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) }) {
		if isDigits(run) {
			f = append(f, run)
			continue
		}
		f = append(f, strings.FieldsFunc(names.Latin(run), func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
		})...)
	}
	var out []string
	for _, w := range f {
		if len(w) < 2 {
			continue
		}
		if len(w) > maxWordLen {
			w = w[:maxWordLen]
		}
		out = append(out, w)
	}
	return out
}

// yearKey is the by_ key of a year.
func yearKey(y int) string { return prefixBirthYear + fmt.Sprintf("%04d", y) }

// isDigits reports whether s is ASCII digits only.
func isDigits(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) || r > unicode.MaxASCII {
			return false
		}
	}
	return s != ""
}
