package delivery

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// recordGate is the fake outbox with the recording of chosen rows' receipts
// held until their gate opens (all rows' when all is set).
type recordGate struct {
	*fakeOutbox
	mu      sync.Mutex
	gates   map[int64]chan struct{}
	all     chan struct{}
	waiting atomic.Int32 // recordings held now
}

func (g *recordGate) hold(ids []int64, c chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gates == nil {
		g.gates = map[int64]chan struct{}{}
	}
	for _, id := range ids {
		g.gates[id] = c
	}
}

func (g *recordGate) MarkDelivered(ctx context.Context, id int64, receipt []byte) error {
	g.mu.Lock()
	gate := g.gates[id]
	if gate == nil {
		gate = g.all
	}
	g.mu.Unlock()
	if gate != nil {
		g.waiting.Add(1)
		<-gate
		g.waiting.Add(-1)
	}
	return g.fakeOutbox.MarkDelivered(ctx, id, receipt)
}

// withRecordGate makes b's Deliverer record receipts through g.
func withRecordGate(g *recordGate) benchOption {
	return func(b *bench) {
		b.wrap = func(o *fakeOutbox) Outbox { g.fakeOutbox = o; return g }
	}
}

// A request's slot is free once its answer is verified, before its
// receipts are recorded: rows queued meanwhile are claimed and sent while
// the store still writes the receipts of the two requests of less than a
// batch before them, rather than waiting for that write (a round trip and
// a statement, on a loaded machine several milliseconds) to end.
func TestSlotFreedBeforeReceiptsAreRecorded(t *testing.T) {
	g := &recordGate{all: make(chan struct{})}
	b := newBench(t, Options{Workers: 8, BatchSize: 10, Linger: -1, PollInterval: time.Hour}, realClock, withRecordGate(g))
	p := b.peers["XB-RC"]
	first := b.queue(t, "XB-RC", 1)
	b.run(t)
	openAtEnd(t, g.all) // before the Deliverer stops (cleanups run last first)
	waitFor(t, "the first request answered, its receipt being recorded", func() bool { return g.waiting.Load() == 1 })
	second := b.queueCase(t, "XB-RC", "XA-RC:SECOND")
	b.d.KickFor("XB-RC")
	waitFor(t, "the second request answered, its receipt being recorded", func() bool { return g.waiting.Load() == 2 })
	third := b.queueCase(t, "XB-RC", "XA-RC:THIRD")
	b.d.KickFor("XB-RC")
	waitFor(t, "the third request sent while the receipts of the first two are being recorded", func() bool { return p.calls.Load() == 3 })
	if s := b.states(slices.Concat(first, second)); s[0] != string(store.InFlight) || s[1] != string(store.InFlight) {
		t.Fatalf("the first two rows are %v while their receipts are held, want in_flight", s)
	}
	close(g.all)
	all := slices.Concat(first, second, third)
	waitFor(t, "all delivered", func() bool { return b.delivered(all) })
	if got := p.calls.Load(); got != 3 {
		t.Errorf("%d requests, want 3", got)
	}
}

// A claim made while a row's receipt is being recorded cannot take the
// next row of its case (per-case order); once the receipt is recorded
// that row goes, with nothing else queued to set off a claim: the loop
// claims again before it ends.
func TestNextRowOfACaseGoesOnceItsReceiptIsRecorded(t *testing.T) {
	g := &recordGate{}
	b := newBench(t, Options{Workers: 8, BatchSize: 10, Linger: -1, PollInterval: time.Hour}, realClock, withRecordGate(g))
	p := b.peers["XB-RC"]
	head := b.queueCase(t, "XB-RC", "XA-RC:X")
	next := b.queueCase(t, "XB-RC", "XA-RC:X")
	gate := make(chan struct{})
	g.hold(head, gate)
	b.run(t)
	openAtEnd(t, gate) // before the Deliverer stops (cleanups run last first)
	waitFor(t, "the head of the case answered, its receipt being recorded", func() bool { return g.waiting.Load() == 1 })
	// Another case's row, queued now, is claimed (and delivered) while the
	// head's receipt is held: that claim cannot take the case's next row.
	other := b.queueCase(t, "XB-RC", "XA-RC:Y")
	b.d.KickFor("XB-RC")
	waitFor(t, "the other case's row delivered", func() bool { return b.delivered(other) })
	time.Sleep(50 * time.Millisecond) // time enough for a claim that should not take it
	if s := b.states(next); s[0] != string(store.Queued) {
		t.Fatalf("the case's next row is %s while the head's receipt is held, want queued", s[0])
	}
	close(gate)
	waitFor(t, "the case's next row delivered", func() bool { return b.delivered(next) })
	p.mu.Lock()
	defer p.mu.Unlock()
	var order []int64
	for _, jti := range p.arrived {
		for _, id := range slices.Concat(head, next) {
			if b.outbox.get(id).JTI == jti {
				order = append(order, id)
			}
		}
	}
	if !slices.Equal(order, slices.Concat(head, next)) {
		t.Errorf("the case's rows reached the peer as %v, want %v", order, slices.Concat(head, next))
	}
}
