package match

import (
	"reflect"
	"testing"

	"github.com/familylinks/flx/node/match/corpus"
	"github.com/familylinks/flx/node/names"
	"github.com/familylinks/flx/schema"
)

// TestPersonsOfWithMemo: persons prepared from names analysed once (the
// memo filled by the case's search keys first, or by a person before)
// are those prepared from names analysed anew.
func TestPersonsOfWithMemo(t *testing.T) {
	c := corpus.Generate(corpus.Config{Seed: 7, Sought: 600, Registered: 600, Overlap: 0.5})
	for _, recs := range [][]corpus.Record{c.Sought, c.Registered} {
		for i := 0; i+1 < len(recs); i += 2 {
			// Two persons per case, the second sharing names with the first.
			second := recs[i+1].Person
			second.Names = append(append([]schema.Name(nil), second.Names...), recs[i].Person.Names...)
			cs := &schema.Case{CaseID: recs[i].CaseID, Type: recs[i].CaseType, Persons: []schema.Person{recs[i].Person, second}}
			want := PersonsOf(cs, refTime)
			an := new(names.Memo)
			if i%4 == 0 { // filled before, as search keys do
				for _, p := range cs.Persons {
					for _, n := range p.Names {
						an.Analyze(n.Value)
					}
				}
			}
			if got := PersonsOfWith(cs, refTime, an); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: prepared with the memo:\n%+v\nanew:\n%+v", cs.CaseID, got, want)
			}
			// Again from the same memo: the tokens it hands out are unchanged.
			if got := PersonsOfWith(cs, refTime, an); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: prepared twice with the memo differs", cs.CaseID)
			}
		}
	}
}
