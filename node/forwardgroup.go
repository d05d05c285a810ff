package node

import (
	"context"
	"sort"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
)

// sendGroup commits concurrent forwards together (group commit): a
// forward whose transaction would start while forwardGroups groups' are
// under way waits and joins the next group, which one of them runs as one
// transaction: send's transaction for all of them at once, set-based
// (sendAllIn), in case-id order, their audit records appended last. A forward alone goes at
// once, as before; under load, forwards cost one commit (one WAL flush)
// and one hold of the audit-chain lock per group, not per case: one at a
// time per case, the audit lock held through each commit's round trips
// bounded forwards to a few hundred per second, whatever the cores.
type sendGroup = groups[*groupedSend]

// forwardGroups is how many groups of forwards commit at once, leaving
// the rest of the store's connections to delivery and receipts. A group's
// transaction is a dozen statements whatever its size (sendAllIn), so
// fewer groups at once make larger groups and fewer statements per
// forward: at 1,000 forwards/s (flx bench exchange --rate 1000, sender's
// PostgreSQL) 2 groups made 6,800 and 23,200 statements in two runs where
// 3 made 10,300 and 27,600, and 10-16% less CPU. One group at a time
// (with readGroups 1), against two: the sender's PostgreSQL 518-522
// against 608-628 µs of CPU per envelope, and the forward itself shorter
// (p50 10.5-11.3 ms against 12.6-14.1, p99 41.7-42.8 against 47.2-58.5):
// a forward waits for the group under way, but that group is shorter when
// the cores are not also running a second one.
const forwardGroups = 1

// groupedSend is one forward waiting for its group's commit.
type groupedSend struct {
	ctx  context.Context
	a    Actor
	r    sendRequest
	dst  policy.Destination
	j    judged
	res  SendResult
	err  error
	done chan struct{}
}

// groupable is whether send's transaction for r can share a group: a
// caseworker's forward of a case (or an update propagated), not an
// approval nor a response or message sent by its own id (those record
// what became of the document).
func groupable(r sendRequest) bool {
	return r.approve == nil && r.docID == "" && r.held == 0 && r.caseVersion > 0 &&
		(r.kind == federation.KindCaseCreate || r.kind == federation.KindCaseUpdate)
}

// commitSendTx runs send's transaction for r: grouped with concurrent
// forwards when it can be, else alone.
func (n *Node) commitSendTx(ctx context.Context, a Actor, r sendRequest, dst policy.Destination, j judged, res *SendResult) error {
	if !groupable(r) {
		return n.o.Store.Tx(ctx, func(tx store.Tx) error {
			return n.sendIn(ctx, tx, a, r, dst, j, res)
		})
	}
	s := &groupedSend{ctx: ctx, a: a, r: r, dst: dst, j: j, res: *res, done: make(chan struct{})}
	n.sends.join(s, forwardGroups, forwardChunk, func() bool { return isDone(s.done) }, n.commitGroup)
	<-s.done
	*res = s.res
	return s.err
}

// commitGroup runs the transaction of a group (sendAllIn; a forward alone
// too, in a group of one): each forward in case-id order (as forwardBatch, so two writers lock common cases in
// the same order; two forwards of one case keep their order), the audit
// records last (after every case lock). A forward a check refuses is
// refused alone. If the transaction fails, each forward is tried again
// alone, so one forward's database error is not another's.
func (n *Node) commitGroup(batch []*groupedSend) {
	defer func() {
		for _, s := range batch {
			close(s.done)
		}
	}()
	live := batch[:0:0]
	for _, s := range batch {
		if err := s.ctx.Err(); err != nil {
			s.err = err // its caller is gone: nothing of it is written
			continue
		}
		live = append(live, s)
	}
	if len(live) == 0 {
		return
	}
	sort.SliceStable(live, func(i, j int) bool { return live[i].r.caseID < live[j].r.caseID })
	// The group's work outlives none of its callers' wishes: a caller that
	// leaves once the transaction started finds its forward committed, as
	// one leaving during its own commit may. A forward alone keeps its
	// caller's context.
	ctx := live[0].ctx
	if len(live) > 1 {
		ctx = context.WithoutCancel(ctx)
	}
	if err := n.commitShared(ctx, live); err != nil {
		if len(live) == 1 {
			live[0].err = err
			return
		}
		for _, s := range live {
			if err := n.commitShared(s.ctx, []*groupedSend{s}); err != nil {
				s.err = err
			}
		}
	}
}

// commitShared runs sends (sorted by case id) in one transaction
// (sendAllIn) and sets each one's result, or its refusal; on an error,
// none.
func (n *Node) commitShared(ctx context.Context, sends []*groupedSend) error {
	shared := make([]sharedSend, len(sends))
	for i, s := range sends {
		shared[i] = sharedSend{a: s.a, r: s.r, dst: s.dst, j: s.j, res: s.res}
	}
	results := make([]SendResult, len(sends))
	refused := make([]*Error, len(sends))
	n.metrics.sendGroup(len(sends))
	err := n.o.Store.Tx(ctx, func(tx store.Tx) error {
		return n.sendAllIn(ctx, tx, shared, results, refused)
	})
	if err != nil {
		return err
	}
	for i, s := range sends {
		s.res, s.err = results[i], nil
		if refused[i] != nil {
			s.err = refused[i]
		}
	}
	return nil
}
