package node

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/pull"
	"github.com/familylinks/flx/node/match"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// The per-case matching path, kept as the reference the bulk path is
// tested against (TestBulkMatchingAsPerCase): each case matched with
// Index.Match person by person, its candidates written with ReplaceMatches,
// one case after the other, as the node matched imports before the bulk
// path.

// MatchImportsPerCaseForTest makes n match each import case by case.
func (n *Node) MatchImportsPerCaseForTest() { n.matcher.importHook = n.rematchAllPerCase }

// RematchHeldPerCaseForTest is RematchHeld case by case.
func (n *Node) RematchHeldPerCaseForTest(ctx context.Context) error {
	m := n.matcher
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := n.loadMatchesLocked(ctx); err != nil {
		return err
	}
	ids := make([]string, 0, len(m.byCase))
	for id := range m.byCase {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return n.o.Store.Tx(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			if _, err := n.recordLocked(ctx, tx, id, false); err != nil {
				return err
			}
		}
		return nil
	})
}

// rematchAllPerCase is what matchImported did before the bulk path.
func (n *Node) rematchAllPerCase(ctx context.Context, cases []store.NewCase, parsed []*schema.Case) error {
	m := n.matcher
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := n.loadMatchesLocked(ctx); err != nil {
		return err
	}
	_, isNew, imported, done := n.putCasesLocked(cases, parsed)
	return n.o.Store.Tx(ctx, func(tx store.Tx) error {
		refresh := map[string]bool{}
		var order []string
		for _, c := range cases {
			r, err := n.recordLocked(ctx, tx, c.ID, isNew[c.ID])
			if err != nil {
				return err
			}
			order = pickRefresh(r, func(o string) bool { return imported[o] }, refresh, order)
		}
		for _, o := range order {
			if _, err := n.recordLocked(ctx, tx, o, false); err != nil {
				return err
			}
		}
		return tx.ClearMatchPending(ctx, done)
	})
}

// matchWriter stores candidates: the Store (a transaction per case) or one
// transaction for many (an import).
type matchWriter interface {
	ReplaceMatchesMany(ctx context.Context, steps []store.CaseCandidates, at time.Time) error
}

// recordLocked matches the persons of one case held and stores its
// candidates through w, case by case: the reference the bulk path
// (matchStepsLocked, writeStepsLocked) is tested against
// (TestBulkMatchingAsPerCase). A case
// new to the index with no candidate has none stored either: nothing is
// written. It returns what the case's matching found.
func (n *Node) recordLocked(ctx context.Context, w matchWriter, caseID string, isNew bool) (caseResult, error) {
	m := n.matcher
	var results, past [][]match.Candidate
	for _, p := range m.byCase[caseID] {
		l, pa := m.ix.MatchCut(p)
		results, past = append(results, l), append(past, pa)
	}
	r, err := m.caseCandidates(caseID, results, past)
	if err != nil {
		return caseResult{}, err
	}
	if isNew && len(r.cands) == 0 && len(r.past) == 0 {
		return caseResult{}, nil
	}
	if err := w.ReplaceMatchesMany(ctx, []store.CaseCandidates{{CaseID: caseID, Cands: r.cands, Past: r.past}}, n.o.Now()); err != nil {
		return caseResult{}, err
	}
	return r, nil
}

// QueueReceivedMatchesForTest makes inbox processing queue the cases it
// applies for the matching worker, which the test runs itself
// (DrainMatchQueueForTest).
func (n *Node) QueueReceivedMatchesForTest() { n.matchAsync.Store(true) }

// DrainMatchQueueForTest matches what is queued as the matching worker
// does, in batches, and returns when the queue is empty.
func (n *Node) DrainMatchQueueForTest(ctx context.Context) {
	for {
		select {
		case it := <-n.matchQ:
			n.matchQueued(ctx, it)
		default:
			return
		}
	}
}

// SetMatchQueueForTest makes the nodes created during t queue at most n
// received cases for the matching worker.
func SetMatchQueueForTest(t testing.TB, n int) {
	old := matchQueue
	matchQueue = n
	t.Cleanup(func() { matchQueue = old })
}

// HandToMatchingForTest records caseID as handed to n's matching at `at`
// (as processing a received case does while the worker runs): queued for
// the worker, or left to its match_pending mark.
func (n *Node) HandToMatchingForTest(caseID string, at time.Time, queued bool) {
	n.matcher.pending.add(caseID, at, queued)
}

// MatchHoldsForTest reports whether n's matching index holds caseID.
func (n *Node) MatchHoldsForTest(caseID string) bool {
	n.matcher.mu.Lock()
	defer n.matcher.mu.Unlock()
	_, ok := n.matcher.byCase[caseID]
	return ok
}

// CatchUpMatchingForTest runs the catch-up of marked cases and returns
// how many it matched.
func (n *Node) CatchUpMatchingForTest(ctx context.Context) (int, error) {
	return n.catchUpMatching(ctx)
}

// AdmittedForTest returns, without taking it, what receipt parsed of the
// envelope of that SHA-256 for processing.
func (n *Node) AdmittedForTest(sha string) (claims federation.Claims, c *schema.Case, ok bool) {
	a := &n.admitted
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.m[sha]
	return e.v.claims, e.v.c, ok
}

// ForgetAdmittedForTest drops what receipt parsed: processing parses every
// envelope itself, as after a restart.
func (n *Node) ForgetAdmittedForTest() {
	a := &n.admitted
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m, a.order, a.bytes = nil, nil, 0
}

// PrepareAttemptForTest is what the deliverer runs on a claimed row before
// it is sent (prepareAttempt).
func (n *Node) PrepareAttemptForTest(ctx context.Context, it store.OutboxItem) (store.OutboxItem, error) {
	return n.prepareAttempt(ctx, it)
}

// ApplyOnReceiveForTest turns applying in ReceiveBatch's transaction on or
// off (on by default): off, received envelopes wait for the processor.
func (n *Node) ApplyOnReceiveForTest(on bool) { n.noApplyOnReceive.Store(!on) }

// OpenMatchPoolForTest gives matching its connections of its own, as Run
// does, until the returned function closes them.
func (n *Node) OpenMatchPoolForTest() func() { return n.openMatchPool() }

// FlushMatchedMarksForTest clears the marks of the cases matched that
// wait in memory.
func (n *Node) FlushMatchedMarksForTest(ctx context.Context) error { return n.flushMatchedMarks(ctx) }

// PullQueueForTest is the queue n serves its pullers from.
func (n *Node) PullQueueForTest() pull.Queue { return outboxQueue{n} }

// SendBatchForTest hands envelopes for to to the delivery's wire as the
// deliverer does (media, routing, the client), and returns their results.
func (n *Node) SendBatchForTest(ctx context.Context, to string, envelopes [][]byte) []federation.Result {
	return mediaSender{n, &routedSender{n: n}}.SendBatch(ctx, to, envelopes)
}

// PendingForwardsForTest is how many forwards wait for a group to commit
// them (commitSendTx), and how many groups may run at once.
func (n *Node) PendingForwardsForTest() (pending, groups int) {
	n.sends.mu.Lock()
	defer n.sends.mu.Unlock()
	return len(n.sends.pending), forwardGroups
}

// LockMatcherForTest takes the matcher's lock, as a case written through
// the local API holds it while it stores its candidates (rematch), until
// the returned function is called.
func (n *Node) LockMatcherForTest() (unlock func()) {
	n.matcher.mu.Lock()
	return n.matcher.mu.Unlock
}
