package pull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
)

// MemoryQueue is an in-memory Queue: the reference of the semantics the
// node's outbox-backed queue must have, and a queue for tests. It is safe for
// concurrent use.
type MemoryQueue struct {
	mu    sync.Mutex
	items []*memItem // in queue order
}

type memItem struct {
	member   string
	q        Queued
	leased   time.Time // zero: never leased
	done     bool
	receipt  *federation.Receipt
	refusal  federation.Code
	attempts int
}

// NewMemoryQueue returns an empty queue.
func NewMemoryQueue() *MemoryQueue { return &MemoryQueue{} }

// Add queues raw, an envelope for member of case caseID, with its jti.
func (mq *MemoryQueue) Add(member, jti, caseID string, raw []byte) {
	sum := sha256.Sum256(raw)
	mq.mu.Lock()
	defer mq.mu.Unlock()
	mq.items = append(mq.items, &memItem{member: member, q: Queued{
		JTI: jti, CaseID: caseID, SHA256: hex.EncodeToString(sum[:]), Raw: append([]byte(nil), raw...),
	}})
}

// Lease implements Queue.
func (mq *MemoryQueue) Lease(ctx context.Context, member string, lim Limit, now, until time.Time) ([]Queued, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if lim.Count <= 0 {
		return nil, false, fmt.Errorf("pull: lease of %d envelopes", lim.Count)
	}
	mq.mu.Lock()
	defer mq.mu.Unlock()
	var out []Queued
	var size int64
	more := false
	blocked := map[string]bool{} // cases with an earlier envelope waiting outside this answer
	for _, it := range mq.items {
		if it.member != member || it.done {
			continue
		}
		leasedElsewhere := it.leased.After(now)
		switch {
		case blocked[it.q.CaseID]:
			continue
		case leasedElsewhere:
			blocked[it.q.CaseID] = true
			continue
		case len(out) == lim.Count || (len(out) > 0 && lim.Bytes > 0 && size+int64(len(it.q.Raw)) > lim.Bytes):
			more = true
			blocked[it.q.CaseID] = true
			continue
		}
		it.leased = until
		it.attempts++
		size += int64(len(it.q.Raw))
		out = append(out, it.q)
	}
	return out, more, nil
}

// Lookup implements Queue.
func (mq *MemoryQueue) Lookup(ctx context.Context, member, jti string) (Queued, bool, error) {
	if err := ctx.Err(); err != nil {
		return Queued{}, false, err
	}
	mq.mu.Lock()
	defer mq.mu.Unlock()
	for _, it := range mq.items {
		if it.member == member && it.q.JTI == jti && !it.done {
			return it.q, true, nil
		}
	}
	return Queued{}, false, nil
}

// Delivered implements Queue.
func (mq *MemoryQueue) Delivered(ctx context.Context, member string, q Queued, receipt *federation.Receipt) error {
	return mq.finish(ctx, member, q, func(it *memItem) { it.receipt = receipt })
}

// Refused implements Queue.
func (mq *MemoryQueue) Refused(ctx context.Context, member string, q Queued, code federation.Code) error {
	return mq.finish(ctx, member, q, func(it *memItem) { it.refusal = code })
}

func (mq *MemoryQueue) finish(ctx context.Context, member string, q Queued, set func(*memItem)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	mq.mu.Lock()
	defer mq.mu.Unlock()
	for _, it := range mq.items {
		if it.member == member && it.q.JTI == q.JTI && it.q.SHA256 == q.SHA256 && !it.done {
			it.done = true
			set(it)
			return nil
		}
	}
	return nil // already done: acknowledgements are idempotent
}

// State is what MemoryQueue knows of one envelope.
type State struct {
	Member   string
	JTI      string
	Done     bool
	Receipt  *federation.Receipt
	Refusal  federation.Code
	Attempts int // how many times it was leased
}

// States returns the state of every envelope, in queue order.
func (mq *MemoryQueue) States() []State {
	mq.mu.Lock()
	defer mq.mu.Unlock()
	out := make([]State, 0, len(mq.items))
	for _, it := range mq.items {
		out = append(out, State{Member: it.member, JTI: it.q.JTI, Done: it.done, Receipt: it.receipt, Refusal: it.refusal, Attempts: it.attempts})
	}
	return out
}
