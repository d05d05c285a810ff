package match

import (
	"fmt"
	"testing"
)

// TestMatchKeepsTheBestFew: one person registered many times (a list of
// duplicates) gets at most MaxCandidates candidates, the best first, and
// without the cap all of them.
func TestMatchKeepsTheBestFew(t *testing.T) {
	for _, tc := range []struct{ max, want int }{{5, 5}, {1000, 40}} {
		ix := NewIndex(Options{MaxCandidates: tc.max, Outrank: -1})
		for i := range 40 {
			p := pers{caseID: fmt.Sprintf("DN-%02d", i), names: parts("Karo", "Hovsampelyan"), birth: "1990"}.prepare(t)
			ix.Put(p.CaseID, []*Person{p})
		}
		got := ix.Match(pers{caseID: "TR-1", names: parts("Karo", "Hovsampelyan"), birth: "1990-03-14"}.prepare(t))
		if len(got) != tc.want {
			t.Fatalf("MaxCandidates %d: %d candidates, want %d", tc.max, len(got), tc.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Score > got[i-1].Score {
				t.Fatalf("not best first: %v", got)
			}
		}
	}
}
