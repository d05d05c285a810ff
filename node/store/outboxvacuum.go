package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// outboxVacuumEvery is how many rows claimed on PostgreSQL start a vacuum
// of the outbox (outboxVacuum), read when a store opens.
var outboxVacuumEvery int64 = 10000

// outboxVacuum keeps the outbox's partial indexes free of the entries of
// rows that left their state. A claim moves a row out of
// outbox_dest_queued_idx (state 'queued') by writing a new version of it,
// and the old version's entry stays in that index, dead, until a VACUUM:
// dead entries of every row ever claimed, in the order claims take them,
// so each claim (and each poll's DueDestinations) walked all of them
// before the first row still queued. Without autovacuum, or before it
// comes round on a busy queue, 100,000 envelopes (flx bench exchange
// --n 100000 --kill xb) made each claim read about 3,400 blocks and the
// sender's PostgreSQL spend 744 µs per envelope, against about 100 over
// 20,000. Vacuumed here, in the background on a pool connection, once
// every outboxVacuumEvery rows claimed (one at a time; a vacuum under way
// by autovacuum is skipped, SKIP_LOCKED), the walk stays that short; the
// vacuum reads only the pages written since the last one, and the
// indexes. A role that does not own the table gets a warning from
// PostgreSQL and nothing done. SQLite deletes an index entry with its row.
type outboxVacuum struct {
	every     int64 // outboxVacuumEvery when the store opened
	claimed   atomic.Int64
	vacuuming atomic.Bool
	wg        sync.WaitGroup
	// vacuum runs the VACUUM; runs counts those finished (tests).
	vacuum func(context.Context) error
	runs   atomic.Int64
}

// claimedRows counts rows claimed and starts a vacuum when enough were
// and none is under way (PostgreSQL).
func (s *sqlStore) claimedRows(n int) {
	v := s.outboxVacuum
	if v == nil || n == 0 || v.claimed.Add(int64(n)) < v.every || !v.vacuuming.CompareAndSwap(false, true) {
		return
	}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		for {
			v.claimed.Store(0)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			// A failed vacuum leaves the walk longer until the next one
			// (outboxVacuumEvery rows later): nothing else depends on it.
			if v.vacuum(ctx) == nil {
				v.runs.Add(1)
			}
			cancel()
			// Rows claimed while it ran, past the threshold, are
			// vacuumed now: their claimers did not start one.
			v.vacuuming.Store(false)
			if v.claimed.Load() < v.every || !v.vacuuming.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}

// vacuumOutbox vacuums the outbox and its indexes.
func (s *sqlStore) vacuumOutbox(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `VACUUM (SKIP_LOCKED, INDEX_CLEANUP ON) outbox`)
	return err
}
