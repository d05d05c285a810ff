package match

import "testing"

// TestPutAllocations bounds the allocations of Put for a received case of
// the list `flx bench exchange` sends (two persons, refined name-pair
// blocks) in an index of 10,000 persons: its finer keys are built in
// buffers the index keeps rather than in slices grown anew per person
// and per key.
func TestPutAllocations(t *testing.T) {
	held, queries := perCaseExchange(10000)
	ix := NewIndex(Options{})
	for _, c := range byCase(held) {
		ix.Put(c[0].CaseID, c)
	}
	cases := byCase(queries)
	i := 0
	got := testing.AllocsPerRun(200, func() {
		c := cases[i%len(cases)]
		i++
		ix.Put(c[0].CaseID, c)
	})
	t.Logf("%.1f allocations a Put", got)
	if got > 10 {
		t.Errorf("%.1f allocations a Put of two persons, want 10 at most (12 before the finer keys were built in buffers the index keeps)", got)
	}
}
