package node

import "sync"

// groups runs work items together, a group at a time: an item that
// arrives while limit groups are under way waits and joins the next, so
// under load the items share one statement or one transaction per group,
// and an item alone runs at once. It serves the forwards' reads of their
// cases (readToSend) and their transactions (commitSendTx).
type groups[T any] struct {
	mu      sync.Mutex
	pending []T
	running int // groups under way (at most the caller's limit)
}

// join adds item. If fewer than limit groups are under way, the caller
// leads: it runs the pending items, at most chunk at a time (run), until
// the group holding its own item is done (done reports it); the items that
// arrived meanwhile are handed to a new leader, so a caller waits for its
// own group only. A group takes what is pending when it starts: with
// several leaders, an item may be in another's group. join returns when
// the caller's leading is over (at once if it does not lead): the caller
// waits for its item's own signal.
func (g *groups[T]) join(item T, limit, chunk int, done func() bool, run func([]T)) {
	g.mu.Lock()
	g.pending = append(g.pending, item)
	lead := g.running < limit
	if lead {
		g.running++
	}
	g.mu.Unlock()
	if lead {
		g.lead(chunk, done, run)
	}
}

func (g *groups[T]) lead(chunk int, done func() bool, run func([]T)) {
	for {
		g.mu.Lock()
		batch := g.pending[:min(len(g.pending), chunk):min(len(g.pending), chunk)]
		g.pending = g.pending[len(batch):]
		g.mu.Unlock()
		run(batch)
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.running--
			g.mu.Unlock()
			return
		}
		if done != nil && done() {
			g.mu.Unlock()
			go g.lead(chunk, nil, run)
			return
		}
		g.mu.Unlock()
	}
}

// isDone reports whether ch is closed.
func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
