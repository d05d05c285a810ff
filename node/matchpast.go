package node

import (
	"context"
	"maps"

	"github.com/familylinks/flx/node/store"
)

// MatchesNotListed returns, for each person of caseID, how many candidates
// past the bound of its list are stored by neither side: the case's last
// matching found them past the bound (store.MatchesPast), and the other
// person's list does not hold them either. A pair past this person's bound
// that the other person lists is stored, open and not listed by this
// case's side: it shows in the case's candidates, so it is not counted. A
// lower bound: a case registered since, past both bounds, does not match
// this case again. Only a case whose list is cut reads its open candidates
// (ids and flags, paged). The local API's past and the console's line say
// this count.
func (n *Node) MatchesNotListed(ctx context.Context, caseID string) (map[string]int, error) {
	v := n.View()
	past, err := v.MatchesPast(ctx, caseID)
	if err != nil || len(past) == 0 {
		return nil, err
	}
	f := store.MatchFilter{State: store.MatchOpen, CaseID: caseID, Limit: 1000}
	for {
		ms, err := v.ListMatches(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if m.Remote != "" {
				continue
			}
			if m.ACase == caseID && !m.AListed {
				past[m.APerson]--
			}
			if m.BCase == caseID && !m.BListed {
				past[m.BPerson]--
			}
		}
		if len(ms) < f.Limit {
			break
		}
		f.AfterID = ms[len(ms)-1].ID
	}
	maps.DeleteFunc(past, func(_ string, n int) bool { return n <= 0 })
	if len(past) == 0 {
		return nil, nil
	}
	return past, nil
}
