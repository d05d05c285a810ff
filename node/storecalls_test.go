package node_test

import (
	"context"
	"sync/atomic"

	"github.com/familylinks/flx/node/store"
)

// watchStore counts what a node asks of its store on the forward path:
// its transactions (txs) and, apart, the reads and writes a forward makes
// before its transaction (outside) and in it (inside). before, if set, runs
// as each transaction starts, before it begins (a test holds some there).
// listed counts the outbox listings in transactions (part of inside),
// keysRead the (case, member) keys the forwards' reads before their
// transactions named.
type watchStore struct {
	store.Store
	txs, outside, inside, listed, keysRead *atomic.Int32
	before                                 func()
}

func newWatchStore(s store.Store) *watchStore {
	return &watchStore{Store: s, txs: &atomic.Int32{}, outside: &atomic.Int32{}, inside: &atomic.Int32{}, listed: &atomic.Int32{},
		keysRead: &atomic.Int32{}}
}

func (s *watchStore) Tx(ctx context.Context, fn func(store.Tx) error) error {
	s.txs.Add(1)
	if s.before != nil {
		s.before()
	}
	return s.Store.Tx(ctx, func(tx store.Tx) error { return fn(watchTx{tx, s.inside, s.listed}) })
}

func (s *watchStore) GetCase(ctx context.Context, id string) (store.Case, error) {
	s.outside.Add(1)
	return s.Store.GetCase(ctx, id)
}

func (s *watchStore) GetCasesQueued(ctx context.Context, keys []store.CaseDest, kind string) ([]store.CaseQueued, error) {
	s.outside.Add(1)
	s.keysRead.Add(int32(len(keys)))
	return s.Store.GetCasesQueued(ctx, keys, kind)
}

func (s *watchStore) ListOutbox(ctx context.Context, f store.OutboxFilter) ([]store.OutboxItem, error) {
	s.outside.Add(1)
	return s.Store.ListOutbox(ctx, f)
}

func (s *watchStore) ListCasesOutbox(ctx context.Context, keys []store.CaseDest, kinds []string) ([]store.OutboxItem, error) {
	s.outside.Add(1)
	return s.Store.ListCasesOutbox(ctx, keys, kinds)
}

// watchTx counts the forward path's operations in a transaction.
type watchTx struct {
	store.Tx
	n, listed *atomic.Int32
}

func (t watchTx) LockCase(ctx context.Context, id string) (store.Case, error) {
	t.n.Add(1)
	return t.Tx.LockCase(ctx, id)
}

func (t watchTx) LockCaseHeads(ctx context.Context, ids []string) (map[string]store.Case, error) {
	t.n.Add(1)
	return t.Tx.LockCaseHeads(ctx, ids)
}

func (t watchTx) ListOutbox(ctx context.Context, f store.OutboxFilter) ([]store.OutboxItem, error) {
	t.n.Add(1)
	t.listed.Add(1)
	return t.Tx.ListOutbox(ctx, f)
}

func (t watchTx) ListCasesOutbox(ctx context.Context, keys []store.CaseDest, kinds []string) ([]store.OutboxItem, error) {
	t.n.Add(1)
	t.listed.Add(1)
	return t.Tx.ListCasesOutbox(ctx, keys, kinds)
}

func (t watchTx) RecordDecision(ctx context.Context, d store.Decision) (store.Decision, error) {
	t.n.Add(1)
	return t.Tx.RecordDecision(ctx, d)
}

func (t watchTx) RecordDecisions(ctx context.Context, ds []store.Decision) ([]store.Decision, error) {
	t.n.Add(1)
	return t.Tx.RecordDecisions(ctx, ds)
}

func (t watchTx) Enqueue(ctx context.Context, in store.NewOutboxItem) (store.OutboxItem, error) {
	t.n.Add(1)
	return t.Tx.Enqueue(ctx, in)
}

func (t watchTx) EnqueueAll(ctx context.Context, in []store.NewOutboxItem) ([]store.OutboxItem, error) {
	t.n.Add(1)
	return t.Tx.EnqueueAll(ctx, in)
}

func (t watchTx) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditRecord, error) {
	t.n.Add(1)
	return t.Tx.AppendAudit(ctx, e)
}

func (t watchTx) AppendAuditAll(ctx context.Context, es []store.AuditEntry) ([]store.AuditRecord, error) {
	t.n.Add(1)
	return t.Tx.AppendAuditAll(ctx, es)
}
