package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"
)

// groupRows is the most rows enqueueGroup merges into one statement.
const groupRows = 500

// groupInFlight is how many grouped statements may be under way at once:
// with two, one gathers and runs while the other waits for its commit to
// reach the disk; with one, each commit waited for the one before, and
// eight callers queued a third fewer envelopes per second than without
// grouping.
const groupInFlight = 2

// groupAlone: a call of more rows than this, a list queued at once, is
// sent at once on its own, in parallel with others, as before grouping:
// its commit is already shared by its rows, and queueing it behind the
// statement under way made a bulk import slower (one backend at a time
// instead of several).
const groupAlone = 16

// enqueueGroup is group commit for Store.EnqueueAll on PostgreSQL, where
// each call is one statement committed on its own (enqueuePG): callers
// that arrive while a statement is under way wait, and the first of them
// then sends all their rows as one statement, one round trip and one
// durable commit, instead of one WAL flush per caller. A caseworker queueing
// one envelope at a time otherwise pays a commit (and a wait for the disk)
// for every envelope.
//
// Every caller still gets its answer only after the statement holding its
// rows has committed, durably (never Redoable: a queued envelope is
// promised to go). The merged statement is atomic: if the server refuses
// it (a jti already queued, by one caller), nothing of it was written and
// each caller's rows are sent again alone, so a failing caller fails alone,
// with the error it would have had. An error that is not the server's
// answer (a lost connection: the commit may or may not have happened) goes
// to every caller of the statement, as it would to a caller of its own.
//
// At most groupInFlight statements are under way at a time: with those in
// flight, the callers behind them gather for the next, so the batch grows
// with the load and a lone caller waits for nobody. Only calls of a few rows (groupAlone)
// are grouped. Inside a caller's Tx nothing is grouped:
// the caller's other writes and reads belong to its own transaction.
type enqueueGroup struct {
	mu sync.Mutex
	// inflight is how many leaders are taking or sending a batch; calls
	// wait in pending only while all groupInFlight are.
	inflight int
	pending  []*enqueueCall
}

// enqueueCall is one caller's EnqueueAll waiting in an enqueueGroup.
type enqueueCall struct {
	ctx  context.Context
	in   []NewOutboxItem
	out  []OutboxItem
	err  error
	wake chan bool // true: lead the next batch; false: out and err are set
}

// do runs in as one caller of the group: run sends a batch of calls and
// sets each call's out and err.
func (g *enqueueGroup) do(ctx context.Context, in []NewOutboxItem, run func([]*enqueueCall)) ([]OutboxItem, error) {
	c := &enqueueCall{ctx: ctx, in: in, wake: make(chan bool, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	if g.inflight >= groupInFlight {
		g.mu.Unlock()
		if lead := <-c.wake; !lead {
			return c.out, c.err
		}
		g.mu.Lock()
	} else {
		g.inflight++
	}
	// c leads: it is the first pending call (it was when it was woken, or
	// it found a leader's place free, and then nobody waits).
	batch := g.take()
	g.mu.Unlock()
	run(batch)
	g.mu.Lock()
	if len(g.pending) > 0 {
		g.pending[0].wake <- true
	} else {
		g.inflight--
	}
	g.mu.Unlock()
	for _, b := range batch {
		if b != c {
			b.wake <- false
		}
	}
	return c.out, c.err
}

// take removes from pending the calls of the next batch: the first one,
// and those after it while the batch holds at most groupRows rows.
func (g *enqueueGroup) take() []*enqueueCall {
	n, rows := 1, len(g.pending[0].in)
	for n < len(g.pending) && rows+len(g.pending[n].in) <= groupRows {
		rows += len(g.pending[n].in)
		n++
	}
	batch := append([]*enqueueCall(nil), g.pending[:n]...)
	g.pending = append(g.pending[:0], g.pending[n:]...)
	return batch
}

// enqueueGrouped is Store.EnqueueAll on PostgreSQL through the group.
func (s *sqlStore) enqueueGrouped(ctx context.Context, in []NewOutboxItem) ([]OutboxItem, error) {
	// What the statement would refuse before it is sent, each caller's
	// own (ErrInvalid, a jti named twice), is answered before joining.
	if len(in) > groupAlone {
		return (&queries{s: s, x: s.db}).EnqueueAll(ctx, in)
	}
	if err := checkEnqueue(in); err != nil {
		return nil, err
	}
	return s.enq.do(ctx, in, s.runEnqueueBatch)
}

// runEnqueueBatch sends a batch of the group: a lone call as it would
// have been sent anyway, several as one statement.
func (s *sqlStore) runEnqueueBatch(batch []*enqueueCall) {
	q := &queries{s: s, x: s.db}
	// A caller that gave up while waiting is answered as a statement
	// with its ended context would be; once the statement is sent, it
	// is sent for all.
	live := batch[:0:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.err = fmt.Errorf("store.EnqueueAll: %w", err)
			continue
		}
		live = append(live, c)
	}
	batch = live
	if len(batch) == 0 {
		return
	}
	if len(batch) == 1 {
		c := batch[0]
		c.out, c.err = q.EnqueueAll(c.ctx, c.in)
		return
	}
	ctx, stop := anyAlive(batch)
	defer stop()
	var all []NewOutboxItem
	for _, c := range batch {
		all = append(all, c.in...)
	}
	out, err := q.enqueuePG(ctx, "store.EnqueueAll", all)
	var pe *pgconn.PgError
	if err != nil && (errors.Is(err, ErrDuplicate) || errors.As(err, &pe)) {
		// Refused by the server (a jti already queued is ErrDuplicate):
		// nothing was written. Each alone, so
		// that only a caller whose rows are refused gets an error.
		for _, c := range batch {
			c.out, c.err = q.EnqueueAll(c.ctx, c.in)
		}
		return
	}
	for _, c := range batch {
		if err != nil {
			c.err = err
			continue
		}
		c.out, out = out[:len(c.in):len(c.in)], out[len(c.in):]
	}
}

// anyAlive is a context for a statement sent for several callers: it ends
// when every caller's context has ended (no one is left waiting for the
// answer), not when the first does, which would fail the others.
func anyAlive(batch []*enqueueCall) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	var left atomic.Int64
	left.Store(int64(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, c := range batch {
		stops[i] = context.AfterFunc(c.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, s := range stops {
			s()
		}
		cancel()
	}
}
