package schema

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// DateTime is an RFC 3339 date-time, kept exactly as written.
type DateTime string

// Time parses d. It fails on a leap second (23:59:60), which RFC 3339 and
// the schema allow but Go's time package does not.
func (d DateTime) Time() (time.Time, error) {
	return time.Parse(time.RFC3339Nano, strings.ToUpper(string(d)))
}

// Date is a full date YYYY-MM-DD.
type Date string

// Time returns the start of the day d, in UTC.
func (d Date) Time() (time.Time, error) {
	return time.Parse(time.DateOnly, string(d))
}

// PartialDate is a date known to the year (YYYY), month (YYYY-MM) or day
// (YYYY-MM-DD).
type PartialDate string

// Range returns the first and the last day the partial date may stand for,
// in UTC: "1986" gives 1986-01-01 and 1986-12-31.
func (d PartialDate) Range() (first, last time.Time, err error) {
	s := string(d)
	switch len(s) {
	case 4:
		y, err := strconv.Atoi(s)
		if err != nil {
			break
		}
		return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(y, 12, 31, 0, 0, 0, 0, time.UTC), nil
	case 7:
		t, err := time.Parse("2006-01", s)
		if err != nil {
			break
		}
		return t, t.AddDate(0, 1, -1), nil
	case 10:
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			break
		}
		return t, t, nil
	}
	return time.Time{}, time.Time{}, errors.New("schema: not a partial date: want YYYY, YYYY-MM or YYYY-MM-DD")
}

// AgeAt returns the range of ages, in whole years, that p may have at t:
// from the birth date if known, else from the age range, shifted by the time
// elapsed since its as_of date (an age range without as_of is taken as
// current). ok is false when neither is known or they cannot be read.
func (p *Person) AgeAt(t time.Time) (minAge, maxAge int, ok bool) {
	if p.BirthDate != "" {
		first, last, err := p.BirthDate.Range()
		if err != nil {
			return 0, 0, false
		}
		minAge, maxAge = yearsBetween(last, t), yearsBetween(first, t)
		return max(minAge, 0), max(maxAge, 0), maxAge >= 0
	}
	if p.Age == nil || (p.Age.Min == nil && p.Age.Max == nil) {
		return 0, 0, false
	}
	minAge, maxAge = 0, 150
	if p.Age.Min != nil {
		minAge = *p.Age.Min
	}
	if p.Age.Max != nil {
		maxAge = *p.Age.Max
	}
	if p.Age.AsOf != "" {
		first, last, err := p.Age.AsOf.Range()
		if err != nil {
			return 0, 0, false
		}
		// Someone aged a at some day in [first, last] is, at t, a plus at
		// least the whole years since last, and at most the whole years
		// since first plus one, a birthday having perhaps fallen in the
		// remaining part of a year (not when both are the same day of the
		// year and first is an exact day).
		if t.After(first) {
			minAge += max(yearsBetween(last, t), 0)
			maxAge += yearsBetween(first, t)
			if !first.Equal(last) || t.Month() != first.Month() || t.Day() != first.Day() {
				maxAge++
			}
		}
	}
	return minAge, maxAge, minAge <= maxAge
}

// yearsBetween returns the number of whole years from a to b (negative if b
// is before a), as a birthday count: 2000-03-01 to 2010-02-28 is 9.
func yearsBetween(a, b time.Time) int {
	y := b.Year() - a.Year()
	if b.Month() < a.Month() || (b.Month() == a.Month() && b.Day() < a.Day()) {
		y--
	}
	return y
}
