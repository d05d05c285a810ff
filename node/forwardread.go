package node

import (
	"context"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/store"
)

// caseReads reads the cases of concurrent forwards together (readToSend):
// a forward whose read would start while readGroups reads are under way
// joins the next, which reads every case waiting then in one statement
// (store.GetCasesQueued), as sendGroup commits their transactions
// together. A forward alone reads at once, as before; under load the
// forwards' reads cost one round trip, one statement and one connection
// per group, not per case.
type caseReads = groups[*caseRead]

// readGroups is how many groups of forwards read their cases at once
// (one: see forwardGroups).
const readGroups = 1

// readChunk bounds the cases of one read.
const readChunk = 256

// caseRead is one forward's read, waiting for its group's.
type caseRead struct {
	key  store.CaseDest
	got  store.CaseQueued
	err  error
	done chan struct{}
}

// readToSend reads the case caseID and whether a case.create of it to
// member to is queued (not cancelled), together with the reads of
// concurrent forwards. The case's ID is "" when there is no case row.
func (n *Node) readToSend(ctx context.Context, caseID, to string) (store.CaseQueued, error) {
	r := &caseRead{key: store.CaseDest{CaseID: caseID, Destination: to}, done: make(chan struct{})}
	// The group's read serves callers other than this one: it outlives
	// this caller's wish to leave.
	gctx := context.WithoutCancel(ctx)
	n.reads.join(r, readGroups, readChunk, func() bool { return isDone(r.done) },
		func(batch []*caseRead) { n.readGroup(gctx, batch) })
	select {
	case <-r.done:
		return r.got, r.err
	case <-ctx.Done():
		return store.CaseQueued{}, ctx.Err()
	}
}

// readGroup reads the cases of batch in one statement.
func (n *Node) readGroup(ctx context.Context, batch []*caseRead) {
	if len(batch) == 0 {
		return
	}
	keys := make([]store.CaseDest, len(batch))
	for i, r := range batch {
		keys[i] = r.key
	}
	got, err := n.o.Store.GetCasesQueued(ctx, keys, string(federation.KindCaseCreate))
	for i, r := range batch {
		if err != nil {
			r.err = err
		} else {
			r.got = got[i]
		}
		close(r.done)
	}
}
