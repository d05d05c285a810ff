package store

import "context"

// Redoable marks the transactions run with the returned context as redone
// by the protocol if a crash loses them: on PostgreSQL they commit with
// synchronous_commit off, so the commit returns once its record is in the
// WAL buffers, not after the WAL flush (the WAL writer flushes within
// three wal_writer_delay, or the next durable commit does). A crash of the
// database server may then lose the last such commits, never a part of
// one, and never one without every commit after it: PostgreSQL writes the
// WAL in order, and a durable commit flushes all that precedes it. So a
// durable write that read a redoable one makes it durable too. Pass the
// context to Store.Tx and to nothing else: it applies to every transaction
// run with it (queueing and claims on PostgreSQL, single statements, stay
// durable whatever the context).
//
// Only for work whose loss leaves what redoes it (conformance/SPEC.md §7,
// after FLX-RCP-006; deploy/RUNBOOK.md §9):
//   - the inbox processor's transaction: a lost one leaves its inbox row
//     unprocessed together with all its effects (case, versions, audit
//     entries, confirmations queued), and the row is processed again;
//   - the sender's record of receipts (MarkDelivered, MarkDeliveredAll,
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
