package schema

import (
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestPartialDateRange(t *testing.T) {
	tests := []struct {
		in          PartialDate
		first, last string
		ok          bool
	}{
		{"1986", "1986-01-01", "1986-12-31", true},
		{"2024-02", "2024-02-01", "2024-02-29", true},
		{"2023-02", "2023-02-01", "2023-02-28", true},
		{"2016-08-19", "2016-08-19", "2016-08-19", true},
		{"2019-13", "", "", false},
		{"86", "", "", false},
		{"", "", "", false},
		{"2023-02-29", "", "", false},
	}
	for _, tc := range tests {
		first, last, err := tc.in.Range()
		if (err == nil) != tc.ok {
			t.Errorf("Range(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && (!first.Equal(day(tc.first)) || !last.Equal(day(tc.last))) {
			t.Errorf("Range(%q) = %s..%s, want %s..%s", tc.in, first.Format(time.DateOnly), last.Format(time.DateOnly), tc.first, tc.last)
		}
	}
}

func TestAgeAt(t *testing.T) {
	ip := func(i int) *int { return &i }
	at := day("2024-06-01")
	tests := []struct {
		name     string
		p        Person
		min, max int
		ok       bool
	}{
		{"year only", Person{BirthDate: "2014"}, 9, 10, true},
		{"exact day, birthday passed", Person{BirthDate: "2006-05-31"}, 18, 18, true},
		{"exact day, birthday tomorrow", Person{BirthDate: "2006-06-02"}, 17, 17, true},
		{"exact day, birthday today", Person{BirthDate: "2006-06-01"}, 18, 18, true},
		{"month", Person{BirthDate: "2006-06"}, 17, 18, true},
		{"born later", Person{BirthDate: "2025"}, 0, 0, false},
		{"birth date wins over age", Person{BirthDate: "2014", Age: &Age{Min: ip(30)}}, 9, 10, true},
		{"age without as_of is current", Person{Age: &Age{Min: ip(9), Max: ip(11)}}, 9, 11, true},
		{"age as of a month", Person{Age: &Age{Min: ip(9), Max: ip(11), AsOf: "2024-05"}}, 9, 12, true},
		{"age as of years ago", Person{Age: &Age{Min: ip(9), Max: ip(11), AsOf: "2020"}}, 12, 16, true},
		{"age as of exact anniversary", Person{Age: &Age{Min: ip(10), Max: ip(10), AsOf: "2014-06-01"}}, 20, 20, true},
		{"age as of in the future", Person{Age: &Age{Min: ip(10), Max: ip(10), AsOf: "2030"}}, 10, 10, true},
		{"only min", Person{Age: &Age{Min: ip(60)}}, 60, 150, true},
		{"only max", Person{Age: &Age{Max: ip(5)}}, 0, 5, true},
		{"empty age", Person{Age: &Age{}}, 0, 0, false},
		{"nothing", Person{}, 0, 0, false},
		{"bad date", Person{BirthDate: "20x4"}, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			min, max, ok := tc.p.AgeAt(at)
			if ok != tc.ok || (ok && (min != tc.min || max != tc.max)) {
				t.Errorf("AgeAt = %d, %d, %v; want %d, %d, %v", min, max, ok, tc.min, tc.max, tc.ok)
			}
		})
	}
}

func TestDateTimeAndDate(t *testing.T) {
	tm, err := DateTime("2024-06-03t14:05:00+02:00").Time()
	if err != nil || !tm.Equal(time.Date(2024, 6, 3, 12, 5, 0, 0, time.UTC)) {
		t.Errorf("DateTime.Time() = %v, %v", tm, err)
	}
	if _, err := DateTime("2016-12-31T23:59:60Z").Time(); err == nil {
		t.Error("leap second parsed; the doc says it fails")
	}
	d, err := Date("2049-12-31").Time()
	if err != nil || !d.Equal(day("2049-12-31")) {
		t.Errorf("Date.Time() = %v, %v", d, err)
	}
}
