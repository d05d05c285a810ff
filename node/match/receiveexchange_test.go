package match

import (
	"math/rand/v2"
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
	mk := func(i int) kase {
		id, ps := exchangeCase(r, i)
		return kase{id: id, ps: ps, memo: new(names.Memo)}
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
