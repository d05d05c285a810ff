package names

import "testing"

// TestAnalyzeAllocations: Analyze allocates its words once, drops
// articles and particles in place, and then allocates the tokens and
// their forms. It allocated the words slice as it grew and a second one
// for the words kept (2 and 4 allocations more for these values). A
// Cyrillic value is prepared from a table of runes (preparedTable), not
// by x/text's case folding (one allocation more).
func TestAnalyzeAllocations(t *testing.T) {
	for _, tc := range []struct {
		value string
		max   float64
	}{
		{"Mira Testova", 7},
		{"Ahmad bin Salim al-Rashid", 9},
		{"Мира Зукамиенко", 10},
	} {
		if got := testing.AllocsPerRun(100, func() { Analyze(tc.value) }); got > tc.max {
			t.Errorf("Analyze(%q): %v allocations, want at most %v", tc.value, got, tc.max)
		}
	}
}
