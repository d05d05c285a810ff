package search_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/familylinks/flx/node/names"
	"github.com/familylinks/flx/node/search"
	"github.com/familylinks/flx/schema"
)

// matches answers a compiled query against a case's keys as the store's
// index does.
func matches(keys []string, c search.Compiled) bool {
	for _, g := range c.Groups {
		if !slices.ContainsFunc(g, func(k string) bool { _, ok := slices.BinarySearch(keys, k); return ok }) {
			return false
		}
	}
	for _, r := range c.Ranges {
		if !slices.ContainsFunc(keys, func(k string) bool { return k >= r[0] && k <= r[1] }) {
			return false
		}
	}
	return true
}

func person(id string, names []string, born string, age *schema.Age, place *schema.Place) schema.Person {
	p := schema.Person{ID: id, BirthDate: schema.PartialDate(born), Age: age, Address: place}
	for _, n := range names {
		p.Names = append(p.Names, schema.Name{Value: n})
	}
	return p
}

func ip(i int) *int { return &i }

var now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func TestKeysAndQueries(t *testing.T) {
	cases := map[string]*schema.Case{
		"armenian": {CaseID: "XA-RC:TR-1", Origin: schema.Origin{CreatedAt: "2025-03-01T00:00:00Z", LocalRef: "KAR-77"},
			Persons: []schema.Person{person("p1", []string{"Կարո Հովհաննիսյան"}, "1984-05", nil, &schema.Place{Country: "XB", Locality: "Mockford"})},
			Notes:   []schema.Note{{Text: "Last seen near the river crossing"}}},
		"cyrillic": {CaseID: "XB-RC:DN-2", Origin: schema.Origin{CreatedAt: "2025-03-01T00:00:00Z"},
			Persons: []schema.Person{person("d1", []string{"Оганесян Карен"}, "", &schema.Age{Min: ip(40), Max: ip(45)}, nil)}},
		"arabic": {CaseID: "XC-RC:UM-3", Origin: schema.Origin{CreatedAt: "2025-03-01T00:00:00Z"},
			Persons: []schema.Person{person("c1", []string{"محمد عبد الرحمن"}, "2014", nil, &schema.Place{Country: "XC", Description: "Camp Seven"})}},
	}
	keys := map[string][]string{}
	for name, c := range cases {
		keys[name] = search.Keys(c)
		if !slices.IsSorted(keys[name]) {
			t.Fatalf("%s: keys not sorted", name)
		}
	}
	for _, tc := range []struct {
		name string
		q    search.Query
		want []string
	}{
		{"armenian script", search.Query{Name: "Հովհաննիսյան"}, []string{"armenian", "cyrillic"}},
		{"hovhannisyan", search.Query{Name: "Hovhannisyan"}, []string{"armenian", "cyrillic"}},
		{"ovanesyan", search.Query{Name: "Ovanesyan"}, []string{"armenian", "cyrillic"}},
		{"oganesyan", search.Query{Name: "Oganesyan"}, []string{"armenian", "cyrillic"}},
		{"cyrillic script", search.Query{Name: "Оганесян"}, []string{"armenian", "cyrillic"}},
		{"given and family", search.Query{Name: "Karo Hovhannisyan"}, []string{"armenian"}},
		{"muhammad", search.Query{Name: "Muhammad Abdurrahman"}, []string{"arabic"}},
		{"mohamed abdel rahman", search.Query{Name: "Mohamed Abdel Rahman"}, []string{"arabic"}},
		{"born year", search.Query{Born: "1984"}, []string{"armenian"}},
		{"born month", search.Query{Born: "1984-05"}, []string{"armenian"}},
		{"born day more precise than known", search.Query{Born: "1984-05-02"}, nil},
		{"born range", search.Query{BornFrom: 1979, BornTo: 1981}, []string{"cyrillic"}},
		{"age range overlaps age", search.Query{AgeMin: ip(30), AgeMax: ip(42)}, []string{"armenian", "cyrillic"}},
		{"child", search.Query{AgeMax: ip(17)}, []string{"arabic"}},
		{"place", search.Query{Place: "mockford"}, []string{"armenian"}},
		{"place country", search.Query{Place: "XC"}, []string{"arabic"}},
		{"free text note", search.Query{Text: "river"}, []string{"armenian"}},
		{"free text local ref", search.Query{Text: "kar-77"}, []string{"armenian"}},
		{"free text case id number", search.Query{Text: "tr 1"}, nil},
		{"free text place", search.Query{Text: "mockford"}, []string{"armenian"}},
		{"free text name in other script", search.Query{Text: "karo"}, []string{"armenian"}},
		{"all at once", search.Query{Name: "Oganesyan", Place: "Mockford", Born: "1984"}, []string{"armenian"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.q.Compile(now)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, name := range []string{"arabic", "armenian", "cyrillic"} {
				if matches(keys[name], c) {
					got = append(got, name)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("matched %v, want %v (query %+v)", got, tc.want, c)
			}
		})
	}
}

func TestQueryValidation(t *testing.T) {
	for _, tc := range []struct {
		q     search.Query
		param string
	}{
		{search.Query{Born: "84"}, "born"},
		{search.Query{Born: "1984-13"}, "born"},
		{search.Query{Born: "1984-5-1"}, "born"},
		{search.Query{Name: "---"}, "name"},
		{search.Query{Text: "a"}, "q"},
		{search.Query{Place: "a b c d e f g h i j k l m n o p q r s t u v w x y z aa bb cc dd ee ff gg hh ii jj kk ll mm"}, "place"},
		{search.Query{BornFrom: 2000, BornTo: 1990}, "born_from"},
		{search.Query{AgeMin: ip(50), AgeMax: ip(40)}, "age_min"},
		{search.Query{AgeMin: ip(-1)}, "age_min"},
	} {
		_, err := tc.q.Compile(now)
		var pe *search.ParamError
		if !errors.As(err, &pe) || pe.Param != tc.param {
			t.Errorf("%+v: error %v, want one on %s", tc.q, err, tc.param)
		}
	}
}

// TestKeysBounded: a hostile document cannot flood the index.
func TestKeysBounded(t *testing.T) {
	c := &schema.Case{CaseID: "XA-RC:1"}
	for i := range 3000 {
		c.Notes = append(c.Notes, schema.Note{Text: string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26)) + " word"})
	}
	c.Persons = []schema.Person{person("p1", nil, "", &schema.Age{Min: ip(0), Max: ip(150)}, nil)}
	if n := len(search.Keys(c)); n > 4000 {
		t.Fatalf("%d keys", n)
	}
}

func FuzzCompile(f *testing.F) {
	f.Add("Hovhannisyan", "river", "Mockford", "1984-05", 1980, 1990)
	f.Add("محمد", "", "", "", 0, 0)
	f.Fuzz(func(t *testing.T, name, text, place, born string, from, to int) {
		c, err := search.Query{Name: name, Text: text, Place: place, Born: born, BornFrom: from, BornTo: to}.Compile(now)
		if err != nil {
			var pe *search.ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		for _, g := range c.Groups {
			if len(g) == 0 || len(g) > 64 {
				t.Fatalf("group of %d keys", len(g))
			}
		}
		if len(c.Groups) > 3*search.MaxWords+1 {
			t.Fatalf("%d groups", len(c.Groups))
		}
		for _, r := range c.Ranges {
			if r[0] > r[1] {
				t.Fatalf("range %v", r)
			}
		}
	})
}

// TestKeysWithMemo: the keys of a case whose names go through a memo (as
// received cases do, the memo then read by matching) are its keys, and
// the memo then holds every name analysed.
func TestKeysWithMemo(t *testing.T) {
	for _, e := range schema.Examples() {
		if e.Kind != schema.KindCase {
			continue
		}
		c, err := schema.ParseCase(e.Doc)
		if err != nil {
			t.Fatal(err)
		}
		c.Persons = append(c.Persons, c.Persons...) // each name twice
		an := new(names.Memo)
		if got, want := search.KeysWith(c, an), search.Keys(c); !slices.Equal(got, want) {
			t.Fatalf("%s: keys with the memo\n%q\nwithout\n%q", e.Name, got, want)
		}
		for _, p := range c.Persons {
			for _, n := range p.Names {
				if got, want := an.Analyze(n.Value), names.Analyze(n.Value); !slices.Equal(got, want) {
					t.Fatalf("%s: memo holds %v for %q, want %v", e.Name, got, n.Value, want)
				}
			}
		}
	}
}
