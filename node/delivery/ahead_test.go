package delivery

import (
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// Rows queued while they are to wait before they go (for Linger, or for an
// answer while two requests of less than a batch are in flight) are
// claimed at once and held, so that when they may go no claim (a store
// round trip with its WAL flush) stands between that moment and their
// request; they still go then, not before, and each is claimed once.
func TestRowsThatWaitAreClaimedAhead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		linger time.Duration
		before int // rows queued, each with its kick, before the one that waits
	}{
		{"for Linger", time.Hour, 1},
		{"for an answer", -1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBench(t, Options{Workers: 4, BatchSize: 10, Linger: tc.linger, PollInterval: time.Hour}, realClock)
			p := b.peers["XB-RC"]
			release := p.holdAll(t)
			b.run(t)
			var ids []int64
			for i := range tc.before {
				ids = append(ids, b.queue(t, "XB-RC", 1)...)
				b.d.Kick()
				waitFor(t, "a request for each row queued so far", func() bool { return p.calls.Load() == int32(i+1) })
			}
			waiting := b.queue(t, "XB-RC", 1)
			b.d.Kick()
			waitFor(t, "the row that waits claimed while the requests before it are unanswered", func() bool {
				return b.outbox.get(waiting[0]).State == store.InFlight
			})
			if got := p.calls.Load(); got != int32(tc.before) {
				t.Fatalf("%d requests before any answer, want %d: the row claimed ahead went at once", got, tc.before)
			}
			release()
			ids = append(ids, waiting...)
			waitFor(t, "every row delivered", func() bool { return b.delivered(ids) })
			for _, id := range ids {
				if a := b.outbox.get(id).Attempts; a != 1 {
					t.Errorf("row %d claimed %d times, want once", id, a)
				}
			}
		})
	}
}
