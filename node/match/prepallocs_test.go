package match

import (
	"testing"

	"github.com/familylinks/flx/node/internal/racetest"
	"github.com/familylinks/flx/node/names"
	"github.com/familylinks/flx/schema"
)

// TestPrepareAllocations bounds the allocations of preparing a person of
// the list `flx bench exchange` sends (a name in Cyrillic and in Latin
// letters, a birth year), its names analysed beforehand as a node's memo
// does: its tokens, their names and its renderings are built in reused
// buffers and copied out once.
func TestPrepareAllocations(t *testing.T) {
	// Under the race detector a sync.Pool drops a share of what is put
	// back, and the buffers are made again.
	racetest.SkipComputation(t)
	sp := schema.Person{ID: "p2", Roles: []schema.PersonRole{schema.PersonSought},
		Names: []schema.Name{{Value: "Тарас Кабреенко", Part: schema.PartFull, Script: "Cyrl"},
			{Value: "Taras Kabreenko", Part: schema.PartFull, Script: "Latn"}},
		Sex: schema.SexMale, BirthDate: "1957"}
	memo := new(names.Memo)
	got := testing.AllocsPerRun(100, func() {
		if _, ok := prepare("XA-RC:BENCH-0000001", schema.CaseTracingRequest, &sp, refTime, memo); !ok {
			t.Fatal("not prepared")
		}
	})
	t.Logf("%.0f allocations a person", got)
	if got > 26 {
		t.Errorf("%.0f allocations a person, want 26 at most (46 before prepare reused its buffers)", got)
	}
}
