package match

import (
	"runtime"
	"testing"

	"github.com/familylinks/flx/node/internal/racetest"
)

// TestRetainedPerPerson bounds the memory a node keeps for each person its
// index holds, for the list `flx bench exchange` sends (perCaseExchange):
// the prepared person, and the index's blocks and finer blocks for it. A
// node holds every person of every case for as long as the case, so with
// 100,000 cases this is most of what stays live in the exchange, and the
// heap the collector lets grow is a multiple of it. Before the persons were
// compacted and finer blocks of one were held beside their key, it was
// about 1,725 and 615 bytes here (16,000 persons); now about 1,610 and
// 520.
func TestRetainedPerPerson(t *testing.T) {
	racetest.SkipComputation(t)
	if testing.Short() {
		t.Skip("builds an index of 16,000 persons")
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	h0 := heap()
	held, _ := perCaseExchange(16000)
	n := len(held)
	h1 := heap()
	ix := NewIndex(Options{})
	for _, c := range byCase(held) {
		ix.Put(c[0].CaseID, c)
	}
	h2 := heap()
	perPerson := float64(h1-h0) / float64(n)
	perIndexed := float64(h2-h1) / float64(n)
	t.Logf("%d persons: %.0f bytes each prepared, %.0f bytes each in the index", n, perPerson, perIndexed)
	if perPerson > 1660 {
		t.Errorf("a prepared person keeps %.0f bytes, over 1,660", perPerson)
	}
	if perIndexed > 570 {
		t.Errorf("the index keeps %.0f bytes per person, over 570", perIndexed)
	}
	runtime.KeepAlive(held)
	runtime.KeepAlive(ix)
}
