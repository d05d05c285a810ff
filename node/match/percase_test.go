package match

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/match/corpus"
	"github.com/familylinks/flx/schema"
)

// perCasePopulations are the generated populations the per-case
// benchmarks and the first-test equivalence check run over.
var perCasePopulations = []struct {
	name string
	make func(n int) (held, queries []*Person)
}{
	{"corpus", perCaseCorpus},
	{"fewgiven", perCaseFewGiven},
	{"exchange", perCaseExchange},
}

// BenchmarkMatchPerCase times what a node does for one new case when it
// holds 1,000, 10,000 or 100,000 persons: Match on an index that holds
// them (the other side's view included), and reports the CPU per case
// and the persons read from the blocks of its keys (pairs/case). Blocking
// should keep both about flat as the persons held grow. Two populations:
// the synthetic corpus (five naming traditions, typing errors), and a
// list where a dozen given names are shared by everyone (few, as in a
// real list, with family names of invented syllables and a birth month),
// where a key made of a given name and a letter names a block that grows
// with the list; and the list `flx bench exchange` sends (see
// perCaseExchange: two persons a case, a dozen given names, a birth
// year). The first metrics are per person asked for; put+session is per
// case, what a node does for a received case: Put, then a session of its
// own (persons-matched: whose candidates that session computes).
//
//	go test ./node/match -run XXX -bench MatchPerCase -benchtime 400x
func BenchmarkMatchPerCase(b *testing.B) {
	for _, pop := range perCasePopulations {
		for _, n := range []int{1000, 10000, 100000} {
			b.Run(fmt.Sprintf("%s/%d", pop.name, n), func(b *testing.B) {
				held, queries := pop.make(n)
				ix := NewIndex(Options{})
				for _, c := range byCase(held) {
					ix.Put(c[0].CaseID, c)
				}
				pairs := floor(ix, queries)
				cases := byCase(queries)
				b.ResetTimer()
				u0 := cputime.Process()
				for i := range b.N {
					ix.Match(queries[i%len(queries)])
				}
				cpu := cputime.Process() - u0
				// As a node matches a case: a session of its own.
				u0 = cputime.Process()
				for i := range b.N {
					ix.Session().MatchAll(queries[i%len(queries) : i%len(queries)+1])
				}
				scpu := cputime.Process() - u0
				// As a node takes in a received case: Put, then its
				// session (the index grows by the cases put).
				u0 = cputime.Process()
				for i := range b.N {
					c := cases[i%len(cases)]
					ix.Put(c[0].CaseID, c)
					ix.Session().MatchAll(c)
				}
				ncpu := cputime.Process() - u0
				b.StopTimer()
				// The persons whose candidates one case's session computes
				// (the case's, and its candidates' for their view).
				computed, cands := 0, 0
				for _, c := range cases {
					s := ix.Session()
					for _, r := range s.MatchAll(c) {
						cands += len(r)
					}
					computed += len(s.raw)
				}
				b.ReportMetric(float64(computed)/float64(len(cases)), "persons-matched/case")
				b.ReportMetric(float64(cands)/float64(len(cases)), "candidates/case")
				b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/case")
				b.ReportMetric(float64(scpu.Nanoseconds())/1e3/float64(b.N), "session-cpu-µs/case")
				b.ReportMetric(float64(ncpu.Nanoseconds())/1e3/float64(b.N), "put+session-cpu-µs/case")
				b.ReportMetric(float64(pairs)/float64(len(queries)), "pairs/case")
			})
		}
	}
}

// perCaseQueries is the number of new cases matched, cycled through.
const perCaseQueries = 400

// perCaseCorpus holds n persons of the corpus, half sought and half
// registered, and asks for other sought persons of the same corpus (half
// of them registered among those held).
func perCaseCorpus(n int) (held, queries []*Person) {
	c := corpus.Generate(corpus.Config{Seed: 23, Sought: n/2 + perCaseQueries, Registered: n / 2, Overlap: 0.5})
	prep := func(recs []corpus.Record) []*Person {
		out := make([]*Person, 0, len(recs))
		for i := range recs {
			if p, ok := Prepare(recs[i].CaseID, recs[i].CaseType, &recs[i].Person, refTime); ok {
				out = append(out, p)
			}
		}
		return out
	}
	sought := prep(c.Sought)
	held = append(prep(c.Registered), sought[perCaseQueries:]...)
	return held, sought[:perCaseQueries]
}

// perCaseFewGiven holds n sought persons of a list where six given names
// of each sex are everyone's, family names are three or four invented
// syllables, and birth dates are a month; it asks for other persons of
// the same list.
func perCaseFewGiven(n int) (held, queries []*Person) {
	r := rand.New(rand.NewPCG(31, 0x464c58))
	given := [2][]string{{"Mela", "Ranu", "Tiso", "Vada", "Kemi", "Losa"}, {"Dorek", "Pavun", "Tamos", "Rulan", "Bemir", "Goltav"}}
	syl := []string{"ka", "lo", "mi", "nu", "re", "sa", "to", "vi", "da", "go", "be", "zu", "po", "ri", "mo", "ne", "chu", "sho", "fe", "ly", "ha", "kry", "sty", "bra"}
	person := func(i int) *Person {
		var sb strings.Builder
		for k := 2 + r.IntN(3); k > 0; k-- {
			sb.WriteString(syl[r.IntN(len(syl))])
		}
		family := strings.ToUpper(sb.String()[:1]) + sb.String()[1:] + "enko"
		sex := r.IntN(2)
		sp := schema.Person{ID: "p1", Roles: []schema.PersonRole{schema.PersonSought},
			Names:     []schema.Name{{Value: given[sex][r.IntN(6)] + " " + family}},
			Sex:       [2]schema.Sex{schema.SexFemale, schema.SexMale}[sex],
			BirthDate: schema.PartialDate(fmt.Sprintf("%04d-%02d", 1940+r.IntN(80), 1+r.IntN(12)))}
		p, ok := Prepare(fmt.Sprintf("XA-RC:FEW-%07d", i), schema.CaseTracingRequest, &sp, refTime)
		if !ok {
			panic("not prepared")
		}
		return p
	}
	for i := range n {
		held = append(held, person(i))
	}
	for i := range perCaseQueries {
		queries = append(queries, person(n+i))
	}
	return held, queries
}

// perCaseExchange holds the persons of n/2 cases of the list `flx bench
// exchange` sends (see benchBody in node/cmd/flx): in each, an enquirer
// and a sought person, named in Cyrillic and in Latin letters, with one
// of six given names of their sex and a family name of two to four
// invented syllables and "enko" shared by both, a birth year from 1930
// to 2009 and their sex; and asks for other cases of the same list.
func perCaseExchange(n int) (held, queries []*Person) {
	r := rand.New(rand.NewPCG(37, 0x464c58))
	kase := func(i int) []*Person {
		id, sps := exchangeCase(r, i)
		var out []*Person
		for k := range sps {
			p, ok := Prepare(id, schema.CaseTracingRequest, &sps[k], refTime)
			if !ok {
				panic("not prepared")
			}
			out = append(out, p)
		}
		return out
	}
	for i := range n / 2 {
		held = append(held, kase(i)...)
	}
	for i := range perCaseQueries {
		queries = append(queries, kase(n/2+i)...)
	}
	return held, queries
}

// exchangeCase makes case i of the list `flx bench exchange` sends,
// drawing from r: its id and its enquirer and sought person.
func exchangeCase(r *rand.Rand, i int) (id string, ps []schema.Person) {
	given := [2][][2]string{{{"Mira", "Мира"}, {"Anna", "Анна"}, {"Olga", "Ольга"}, {"Vera", "Віра"}, {"Nina", "Ніна"}, {"Lida", "Ліда"}},
		{{"Illia", "Ілля"}, {"Pavlo", "Павло"}, {"Taras", "Тарас"}, {"Roman", "Роман"}, {"Denys", "Денис"}, {"Oleh", "Олег"}}}
	syl := [][2]string{{"ka", "ка"}, {"lo", "ло"}, {"mi", "мі"}, {"nu", "ну"}, {"re", "ре"}, {"sa", "са"}, {"to", "то"}, {"vi", "ві"},
		{"da", "да"}, {"go", "го"}, {"be", "бе"}, {"zu", "зу"}, {"po", "по"}, {"ri", "рі"}, {"mo", "мо"}, {"ne", "не"},
		{"chu", "чу"}, {"sho", "шо"}, {"fe", "фе"}, {"ly", "ли"}, {"ha", "ха"}, {"kry", "кри"}, {"sty", "сти"}, {"bra", "бра"}}
	upper := func(s string) string { r := []rune(s); return strings.ToUpper(string(r[:1])) + string(r[1:]) }
	var lat, cyr string
	for k := 2 + r.IntN(3); k > 0; k-- {
		sy := syl[r.IntN(len(syl))]
		lat, cyr = lat+sy[0], cyr+sy[1]
	}
	lat, cyr = upper(lat)+"enko", upper(cyr)+"енко"
	for k, role := range []schema.PersonRole{schema.PersonEnquirer, schema.PersonSought} {
		g := given[k][r.IntN(6)]
		ps = append(ps, schema.Person{ID: fmt.Sprintf("p%d", k+1), Roles: []schema.PersonRole{role},
			Names: []schema.Name{{Value: g[1] + " " + cyr, Part: schema.PartFull, Script: "Cyrl"},
				{Value: g[0] + " " + lat, Part: schema.PartFull, Script: "Latn"}},
			Sex:       [2]schema.Sex{schema.SexFemale, schema.SexMale}[k],
			BirthDate: schema.PartialDate(fmt.Sprint(1930 + r.IntN(80)))})
	}
	return fmt.Sprintf("XA-RC:BENCH-%07d", i), ps
}

// byCase groups persons in order by their case (consecutive persons of
// one case).
func byCase(ps []*Person) [][]*Person {
	var out [][]*Person
	for i, p := range ps {
		if i > 0 && p.CaseID == ps[i-1].CaseID {
			out[len(out)-1] = append(out[len(out)-1], p)
			continue
		}
		out = append(out, []*Person{p})
	}
	return out
}
