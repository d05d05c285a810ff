package match

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/names"
	"github.com/familylinks/flx/schema"
)

// BenchmarkReceiveExchange times what a node does for matching per case
// of the list `flx bench exchange` sends (see perCaseExchange) once its
// names are analysed (node.receivedKeys hands them on in a memo): prepare
// its two persons, put them in an index of 20,000 persons, match them in
// a session. Reports the process's CPU per case.
//
//	go test ./node/match -run '^$' -bench ReceiveExchange -benchmem
func BenchmarkReceiveExchange(b *testing.B) {
	const held = 20000
	type kase struct {
		id   string
		ps   []schema.Person
		memo *names.Memo
	}
	r := rand.New(rand.NewPCG(37, 0x464c58))
	given := [2][][2]string{{{"Mira", "Мира"}, {"Anna", "Анна"}, {"Olga", "Ольга"}, {"Vera", "Віра"}, {"Nina", "Ніна"}, {"Lida", "Ліда"}},
		{{"Illia", "Ілля"}, {"Pavlo", "Павло"}, {"Taras", "Тарас"}, {"Roman", "Роман"}, {"Denys", "Денис"}, {"Oleh", "Олег"}}}
	syl := [][2]string{{"ka", "ка"}, {"lo", "ло"}, {"mi", "мі"}, {"nu", "ну"}, {"re", "ре"}, {"sa", "са"}, {"to", "то"}, {"vi", "ві"},
		{"da", "да"}, {"go", "го"}, {"be", "бе"}, {"zu", "зу"}, {"po", "по"}, {"ri", "рі"}, {"mo", "мо"}, {"ne", "не"},
		{"chu", "чу"}, {"sho", "шо"}, {"fe", "фе"}, {"ly", "ли"}, {"ha", "ха"}, {"kry", "кри"}, {"sty", "сти"}, {"bra", "бра"}}
	upper := func(s string) string { r := []rune(s); return strings.ToUpper(string(r[:1])) + string(r[1:]) }
	mk := func(i int) kase {
		var lat, cyr string
		for k := 2 + r.IntN(3); k > 0; k-- {
			sy := syl[r.IntN(len(syl))]
			lat, cyr = lat+sy[0], cyr+sy[1]
		}
		lat, cyr = upper(lat)+"enko", upper(cyr)+"енко"
		c := kase{id: fmt.Sprintf("XA-RC:BENCH-%07d", i), memo: new(names.Memo)}
		for k, role := range []schema.PersonRole{schema.PersonEnquirer, schema.PersonSought} {
			g := given[k][r.IntN(6)]
			c.ps = append(c.ps, schema.Person{ID: fmt.Sprintf("p%d", k+1), Roles: []schema.PersonRole{role},
				Names: []schema.Name{{Value: g[1] + " " + cyr, Part: schema.PartFull, Script: "Cyrl"},
					{Value: g[0] + " " + lat, Part: schema.PartFull, Script: "Latn"}},
				Sex:       [2]schema.Sex{schema.SexFemale, schema.SexMale}[k],
				BirthDate: schema.PartialDate(fmt.Sprint(1930 + r.IntN(80)))})
		}
		return c
	}
	prep := func(c kase, now time.Time) []*Person {
		var out []*Person
		for i := range c.ps {
			if p, ok := prepare(c.id, schema.CaseTracingRequest, &c.ps[i], now, c.memo); ok {
				out = append(out, p)
			}
		}
		return out
	}
	ix := NewIndex(Options{})
	for i := range held / 2 {
		c := mk(i)
		ix.Put(c.id, prep(c, refTime))
	}
	recv := make([]kase, 2000)
	for i := range recv {
		recv[i] = mk(held/2 + i)
		prep(recv[i], refTime) // the names analysed, as received
	}
	b.ReportAllocs()
	b.ResetTimer()
	u0 := cputime.Process()
	for i := range b.N {
		c := recv[i%len(recv)]
		ps := prep(c, refTime)
		ix.Put(c.id, ps)
		ix.Session().MatchAll(ps)
	}
	b.ReportMetric(float64((cputime.Process()-u0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/case")
}
