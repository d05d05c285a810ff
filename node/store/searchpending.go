package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// searchPendingEvery is how many cases written with search keys (created,
// or updated with new keys) start a cleaning of the search index's pending
// list on PostgreSQL (cleanSearchPending).
var searchPendingEvery int64 = 1024

// searchPending keeps the pending list of the GIN index on cases'
// search_keys short. A GIN index with fastupdate (PostgreSQL's default)
// appends each new entry to a pending list, and the write that finds the
// list over gin_pending_list_limit (4 MB: about 4,000 cases here) moves
// the whole list into the index itself, in that write's statement: a
// receiving transaction now and then took hundreds of milliseconds more
// than the others (the longest store transactions of the exchange, its
// p99). Cleaned here in the background, on a connection of its own, a
// thousand cases at a time (a quarter of the limit: the entries of a key
// that many cases share are merged into the index once per cleaning, so
// cleaning much more often writes more), that work leaves the writers'
// transactions; a writer that finds the list long while a cleaning runs
// does not wait for it and leaves the list to it (PostgreSQL's cleaning is
// one at a time, and a writer only tries it).
type searchPending struct {
	written  atomic.Int64
	cleaning atomic.Bool
	off      atomic.Bool // the role may not clean the index (not its owner)
	wg       sync.WaitGroup
}

// wroteSearchKeys counts n cases written with search keys and starts a cleaning
// when enough were. PostgreSQL only (SQLite's full-text index merges its
// segments in its own writes, a little at a time).
func (s *sqlStore) wroteSearchKeys(n int) {
	p := s.searchPending
	if p == nil || n <= 0 || p.off.Load() {
		return
	}
	if p.written.Add(int64(n)) < searchPendingEvery || !p.cleaning.CompareAndSwap(false, true) {
		return
	}
	p.written.Store(0)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.cleaning.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.cleanSearchPending(ctx); err != nil && isInsufficientPrivilege(err) {
			p.off.Store(true) // left to the writers, as before
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
