package match

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/match/corpus"
	"github.com/familylinks/flx/schema"
)

// BenchmarkMatchPerCase times what a node does for one new case when it
// holds 1,000, 10,000 or 100,000 persons: Match on an index that holds
// them (the other side's view included), and reports the CPU per case
// and the persons read from the blocks of its keys (pairs/case). Blocking
// should keep both about flat as the persons held grow. Two populations:
// the synthetic corpus (five naming traditions, typing errors), and a
// list where a dozen given names are shared by everyone (few, as in a
// real list, with family names of invented syllables and a birth month),
// where a key made of a given name and a letter names a block that grows
// with the list.
//
//	go test ./node/match -run XXX -bench MatchPerCase -benchtime 400x
func BenchmarkMatchPerCase(b *testing.B) {
	for _, pop := range []struct {
		name string
		make func(n int) (held, queries []*Person)
	}{
		{"corpus", perCaseCorpus},
		{"fewgiven", perCaseFewGiven},
	} {
		for _, n := range []int{1000, 10000, 100000} {
			b.Run(fmt.Sprintf("%s/%d", pop.name, n), func(b *testing.B) {
				held, queries := pop.make(n)
				ix := NewIndex(Options{})
				for _, p := range held {
					ix.Put(p.CaseID, []*Person{p})
				}
				pairs := floor(ix, queries)
				b.ResetTimer()
				u0 := cpuTime()
				for i := range b.N {
					ix.Match(queries[i%len(queries)])
				}
				cpu := cpuTime() - u0
				// As a node matches a case: a session of its own.
				u0 = cpuTime()
				for i := range b.N {
					ix.Session().MatchAll(queries[i%len(queries) : i%len(queries)+1])
				}
				scpu := cpuTime() - u0
				b.StopTimer()
				b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/case")
				b.ReportMetric(float64(scpu.Nanoseconds())/1e3/float64(b.N), "session-cpu-µs/case")
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
