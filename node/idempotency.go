package node

import (
	"context"
	"time"

	"github.com/familylinks/flx/node/store"
)

// IdempotencyTTL is how long the first answer to an Idempotency-Key is
// kept: a retry within it gets that answer, a key used after it is new.
const IdempotencyTTL = 24 * time.Hour

// BeginIdempotent starts a local API request sent with an Idempotency-Key
// under scope (the caller's credential): fresh when it is the first with
// this key, else the record of the first (running, or with its answer).
func (n *Node) BeginIdempotent(ctx context.Context, scope, key, requestHash string) (store.IdempotentRecord, bool, error) {
	now := n.o.Now()
	rec, fresh, err := n.o.Store.BeginIdempotent(ctx, store.IdempotentRequest{Scope: scope, Key: key, RequestHash: requestHash,
		At: now, ExpiredBefore: now.Add(-IdempotencyTTL)})
	if err != nil {
		return rec, false, internal("idempotency key", err)
	}
	return rec, fresh, nil
}

// FinishIdempotent keeps the answer of a request begun with BeginIdempotent.
func (n *Node) FinishIdempotent(ctx context.Context, scope, key string, a store.IdempotentAnswer) error {
	if err := n.o.Store.FinishIdempotent(ctx, scope, key, a); err != nil {
		return internal("idempotency key", err)
	}
	return nil
}

// AbandonIdempotent forgets a request begun with BeginIdempotent that ended
// without an answer worth keeping (a server error), so that a retry runs.
func (n *Node) AbandonIdempotent(ctx context.Context, scope, key string) error {
	if err := n.o.Store.AbandonIdempotent(ctx, scope, key); err != nil {
		return internal("idempotency key", err)
	}
	return nil
}
