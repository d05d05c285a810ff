package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// pendingEntryBytes is about what the pending list of a GIN index holds
// for one entry besides its key: the index tuple's header and item
// pointer, the key's length and alignment.
const pendingEntryBytes = 16

// searchPending keeps the pending list of the GIN index on cases'
// search_keys short. A GIN index with fastupdate (PostgreSQL's default)
// appends each new entry to a pending list, and the write that finds the
// list over gin_pending_list_limit (4 MB: about 4,000 cases here) moves
// the whole list into the index itself, in that write's statement: a
// receiving transaction now and then took hundreds of milliseconds more
// than the others (the longest store transactions of the exchange, its
// p99). Cleaned here in the background, on a connection of its own, when
// about half the limit was written (not much more often: the entries of a
// key many cases share are merged into the index once per cleaning, and
// cleaning every thousand cases wrote 2.6 times the WAL), that work
// leaves the writers' transactions; a writer that finds the list long
// while a cleaning runs does not wait for it and leaves the list to it
// (PostgreSQL's cleaning is one at a time, and a writer only tries it).
type searchPending struct {
	// every: the bytes of entries written (estimated) that start a
	// cleaning: half of gin_pending_list_limit.
	every    int64
	written  atomic.Int64
	cleaning atomic.Bool
	off      atomic.Bool // the role may not clean the index (not its owner)
	wg       sync.WaitGroup
	// clean moves the pending list into the index.
	clean func(context.Context) error
}

// wroteSearchKeys counts the search keys of cases written (created, or
// updated with new keys) and starts a cleaning when enough were.
// PostgreSQL only (SQLite's full-text index merges its segments in its
// own writes, a little at a time).
func (s *sqlStore) wroteSearchKeys(keys ...[]string) {
	if p := s.searchPending; p != nil {
		p.wrote(keys...)
	}
}

// wrote counts keys written and starts a cleaning when enough were and
// none is under way. A writer that crosses the threshold while a cleaning
// runs leaves its keys to that cleaning's goroutine, which looks again
// when it ends: keys written during a cleaning are never left in the
// list until some later write.
func (p *searchPending) wrote(keys ...[]string) {
	if p.every <= 0 || p.off.Load() {
		return
	}
	var n int64
	for _, ks := range keys {
		for _, k := range ks {
			n += int64(len(k)) + pendingEntryBytes
		}
	}
	if n == 0 || p.written.Add(n) < p.every || !p.cleaning.CompareAndSwap(false, true) {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			p.written.Store(0)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := p.clean(ctx)
			cancel()
			if err != nil && isInsufficientPrivilege(err) {
				p.off.Store(true) // left to the writers, as before
			}
			p.cleaning.Store(false)
			// A writer that crossed the threshold while this cleaning
			// ran lost the swap above and left its keys here.
			if p.off.Load() || p.written.Load() < p.every || !p.cleaning.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}

// cleanSearchPending moves the pending entries of the search index into
// the index (gin_clean_pending_list; the index's owner only).
func (s *sqlStore) cleanSearchPending(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `SELECT gin_clean_pending_list('cases_search_keys_idx'::regclass)`)
	return err
}

// isInsufficientPrivilege reports whether err is PostgreSQL's
// insufficient_privilege.
func isInsufficientPrivilege(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
}
