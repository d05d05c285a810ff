package search

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/node/names"
	"github.com/familylinks/flx/schema"
)

// Query is what a caseworker searches for. Every field set must hold for
// a case to match; empty fields match everything.
type Query struct {
	// Name is a name in any script: every word must match a name of the
	// case in one of its spellings.
	Name string
	// Text is free text: every word must be a word of the case (names in
	// Latin letters, places, notes, local reference).
	Text string
	// Place is place words: every word must be a word of one of the case's
	// places, or its country code.
	Place string
	// Born is a partial date (YYYY, YYYY-MM or YYYY-MM-DD) a person of the
	// case was born on: a case holding a birth date known only to the year
	// 1984 matches born=1984 but not born=1984-05.
	Born string
	// BornFrom and BornTo bound the years a person of the case may have
	// been born in (0: unbounded).
	BornFrom, BornTo int
	// AgeMin and AgeMax bound a person's age today (nil: unbounded); an
	// age range of the case matches when it overlaps.
	AgeMin, AgeMax *int
}

// Limits of a query.
const (
	MaxWords   = 12
	MaxTextLen = 500
)

// ParamError says which query parameter is wrong and why.
type ParamError struct {
	Param string
	Msg   string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Msg }

// Compiled is a query as the index answers it: cases holding a key of
// every group and a key within every range.
type Compiled struct {
	Groups [][]string
	Ranges [][2]string
}

// Empty reports whether the query selects nothing by key.
func (c Compiled) Empty() bool { return len(c.Groups) == 0 && len(c.Ranges) == 0 }

// Compile checks q and turns it into key groups and ranges; now dates
// ages.
func (q Query) Compile(now time.Time) (Compiled, error) {
	var c Compiled
	for _, f := range []struct{ param, v string }{{"name", q.Name}, {"q", q.Text}, {"place", q.Place}} {
		if len(f.v) > MaxTextLen {
			return c, &ParamError{f.param, fmt.Sprintf("longer than %d bytes", MaxTextLen)}
		}
	}
	if strings.TrimSpace(q.Name) != "" {
		terms := names.QueryTerms(q.Name)
		if len(terms) == 0 {
			return c, &ParamError{"name", "holds no letters"}
		}
		if len(terms) > MaxWords {
			return c, &ParamError{"name", fmt.Sprintf("more than %d words", MaxWords)}
		}
		c.Groups = append(c.Groups, terms...)
	}
	for _, f := range []struct{ param, v string }{{"q", q.Text}, {"place", q.Place}} {
		if strings.TrimSpace(f.v) == "" {
			continue
		}
		ws := Words(f.v)
		if len(ws) == 0 {
			return c, &ParamError{f.param, "holds no word of two letters or more"}
		}
		if len(ws) > MaxWords {
			return c, &ParamError{f.param, fmt.Sprintf("more than %d words", MaxWords)}
		}
		for _, w := range ws {
			if f.param == "place" {
				c.Groups = append(c.Groups, []string{prefixPlace + w})
				continue
			}
			// A free-text word is a word of the notes or references, a
			// name (in Latin letters) or a place word.
			g := []string{"t_" + w, prefixPlace + w}
			if len(w) >= 3 || isDigits(w) {
				g = append(g, prefixWord+w)
			}
			c.Groups = append(c.Groups, g)
		}
	}
	if q.Born != "" {
		if _, _, err := schema.PartialDate(q.Born).Range(); err != nil || !partialDate(q.Born) {
			return c, &ParamError{"born", "must be a date YYYY, YYYY-MM or YYYY-MM-DD"}
		}
		c.Groups = append(c.Groups, []string{prefixBirthDate + q.Born})
	}
	if q.BornFrom != 0 || q.BornTo != 0 {
		lo, hi := q.BornFrom, q.BornTo
		if lo == 0 {
			lo = 1
		}
		if hi == 0 {
			hi = 9999
		}
		if lo < 1 || hi > 9999 || lo > hi {
			return c, &ParamError{"born_from", "born_from and born_to must be years from 1 to 9999, born_from not after born_to"}
		}
		c.Ranges = append(c.Ranges, [2]string{yearKey(lo), yearKey(hi)})
	}
	if q.AgeMin != nil || q.AgeMax != nil {
		lo, hi := 0, 150
		if q.AgeMin != nil {
			lo = *q.AgeMin
		}
		if q.AgeMax != nil {
			hi = *q.AgeMax
		}
		if lo < 0 || hi > 150 || lo > hi {
			return c, &ParamError{"age_min", "age_min and age_max must be from 0 to 150, age_min not above age_max"}
		}
		y := now.Year()
		c.Ranges = append(c.Ranges, [2]string{yearKey(max(y-hi-1, 1)), yearKey(max(y-lo, 1))})
	}
	return c, nil
}

func partialDate(s string) bool {
	switch len(s) {
	case 4:
		return isDigits(s)
	case 7:
		return isDigits(s[:4]) && s[4] == '-' && isDigits(s[5:])
	case 10:
		return isDigits(s[:4]) && s[4] == '-' && isDigits(s[5:7]) && s[7] == '-' && isDigits(s[8:])
	}
	return false
}

// Int parses an optional integer parameter.
func Int(param, s string) (*int, error) {
	if s == "" {
		return nil, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return nil, &ParamError{param, "must be an integer"}
	}
	return &v, nil
}
