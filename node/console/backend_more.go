package console

import (
	"context"
	"errors"

	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/store"
)

// moreBackend is the part of Backend the search box, the inbox's reading
// pane and the candidate matches use.
type moreBackend interface {
	// SearchCases finds cases by names in any script, words, places and
	// dates (node.SearchCases; the search is audited).
	SearchCases(ctx context.Context, a node.Actor, q node.CaseSearch) (store.CasePage, error)
	// ReadReceived returns one received envelope and, when withContent,
	// the document it carried (the read is audited).
	ReadReceived(ctx context.Context, a node.Actor, inboxID int64, withContent bool) (node.ReceivedItem, error)
	// ListMatches pages through candidate matches (ids, scores and the
	// field-by-field explanation: no names).
	ListMatches(ctx context.Context, a node.Actor, f store.MatchFilter) ([]store.MatchCandidate, error)
	GetMatch(ctx context.Context, a node.Actor, id int64) (store.MatchCandidate, error)
	// MatchesNotListed returns, for each person of caseID whose list of
	// candidates was cut at the bound, at least how many candidates past
	// it no list holds (person ids and counts: no names).
	MatchesNotListed(ctx context.Context, a node.Actor, caseID string) (map[string]int, error)
	// DecideMatch confirms or rejects a candidate (audited); it sends
	// nothing.
	DecideMatch(ctx context.Context, a node.Actor, id int64, decision string) (store.MatchCandidate, error)
}

func (b nodeBackend) SearchCases(ctx context.Context, a node.Actor, q node.CaseSearch) (store.CasePage, error) {
	return b.n.SearchCases(ctx, a, q)
}

func (b nodeBackend) ReadReceived(ctx context.Context, a node.Actor, id int64, withContent bool) (node.ReceivedItem, error) {
	return b.n.ReadReceived(ctx, a, id, withContent)
}

func (b nodeBackend) ListMatches(ctx context.Context, _ node.Actor, f store.MatchFilter) ([]store.MatchCandidate, error) {
	return b.n.View().ListMatches(ctx, f)
}

func (b nodeBackend) GetMatch(ctx context.Context, _ node.Actor, id int64) (store.MatchCandidate, error) {
	m, err := b.n.View().GetMatch(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return m, problem.Errorf(problem.NotFound, "no candidate match %d", id)
	}
	return m, err
}

// MatchesNotListed is the node's count (Node.MatchesNotListed), as the
// local API's past.
func (b nodeBackend) MatchesNotListed(ctx context.Context, _ node.Actor, caseID string) (map[string]int, error) {
	return b.n.MatchesNotListed(ctx, caseID)
}

func (b nodeBackend) DecideMatch(ctx context.Context, a node.Actor, id int64, decision string) (store.MatchCandidate, error) {
	return b.n.DecideMatch(ctx, a, id, decision)
}
