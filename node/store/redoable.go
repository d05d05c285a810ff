package store

import "context"

// Redoable marks the transactions run with the returned context (Store.Tx,
// and the store's own single-operation writes) as redone by the protocol if
// a crash loses them: on PostgreSQL they commit with synchronous_commit
// off, so the commit returns once its record is in the WAL buffers, not
// after the WAL flush (the WAL writer flushes within a few hundred
// milliseconds, or the next durable commit does). A crash of the database
// server may then lose the last such commits, never a part of one, and
// never one without every commit after it: PostgreSQL writes the WAL in
// order, and a durable commit flushes all that precedes it. So a durable
// write that read a redoable one is made durable with it.
//
// Only for work whose loss leaves what redoes it (conformance/SPEC.md,
// FLX-STO-030):
//   - the inbox processor's transaction: a lost one leaves its inbox row
//     unprocessed together with all its effects (case, versions, audit
//     entries, confirmations queued), and the row is processed again;
//   - the sender's record of a receipt (MarkDelivered, MarkDeliveredAll,
//     which do this themselves): a lost one leaves the row in flight, sent
//     again after its lease, and the receiver answers a duplicate by jti.
//
// Never for what is acknowledged to someone else: the receiver's store
// of an envelope with its receipt (the receipt promises it is durable),
// queueing (the caseworker is told it is queued), a claim (what it sends
// leaves the node: its durable commit first makes every redoable write it
// read durable). SQLite commits as always (synchronous=FULL).
func Redoable(ctx context.Context) context.Context {
	return context.WithValue(ctx, redoableKey{}, true)
}

type redoableKey struct{}

func isRedoable(ctx context.Context) bool {
	v, _ := ctx.Value(redoableKey{}).(bool)
	return v
}
