package store

import (
	"context"
	"strings"
	"time"

	"github.com/familylinks/flx/node/store/migrate"
)

// AuditHash lets the external tests forge a row the way an attacker who
// knows the algorithm would.
var AuditHash = auditHash

// SetDeliverChunk makes MarkDeliveredAll write n receipts per statement
// until the test ends, so a small test crosses chunk boundaries.
func SetDeliverChunk(t interface{ Cleanup(func()) }, n int) {
	old := deliverChunk
	deliverChunk = n
	t.Cleanup(func() { deliverChunk = old })
}

// MigrationsBefore returns the migrations of a dialect numbered below
// version, so that a test can build a database as an older FLX left it.
func MigrationsBefore(d Dialect, version int) ([]migrate.Migration, error) {
	migs, err := migrate.Load(migrationFiles, "migrations/"+string(d))
	if err != nil {
		return nil, err
	}
	var out []migrate.Migration
	for _, m := range migs {
		if m.Version < version {
			out = append(out, m)
		}
	}
	return out, nil
}

// SetDenseRange makes a range-only search of n or more index entries walk
// the cases in order (searchrange.go) until the test ends.
func SetDenseRange(t interface{ Cleanup(func()) }, n int) {
	old := denseRange
	denseRange = n
	t.Cleanup(func() { denseRange = old })
}

// SyncCommit returns the synchronous_commit setting in force in tx on
// PostgreSQL ("on", "off"); "" on SQLite.
func SyncCommit(t interface{ Context() context.Context }, tx Tx) (string, error) {
	q := tx.(*queries)
	if q.s.dialect != Postgres {
		return "", nil
	}
	var v string
	err := q.queryRow(t.Context(), `SHOW synchronous_commit`).Scan(&v)
	return v, err
}

// OutboxSeqScans returns how many sequential scans of the outbox tx made
// so far (pg_stat_xact_user_tables: this transaction's own counts, read on
// its connection); -1 on SQLite.
func OutboxSeqScans(t interface{ Context() context.Context }, tx Tx) (int64, error) {
	q := tx.(*queries)
	if q.s.dialect != Postgres {
		return -1, nil
	}
	var n int64
	err := q.queryRow(t.Context(), `SELECT COALESCE(SUM(seq_scan), 0) FROM pg_stat_xact_user_tables WHERE relname = 'outbox'`).Scan(&n)
	return n, err
}

// CaseRowsFetched returns how many rows of cases tx fetched so far, by
// index or sequential scan (pg_stat_xact_user_tables: this transaction's
// own counts, read on its connection); -1 on SQLite.
func CaseRowsFetched(t interface{ Context() context.Context }, tx Tx) (int64, error) {
	q := tx.(*queries)
	if q.s.dialect != Postgres {
		return -1, nil
	}
	var n int64
	err := q.queryRow(t.Context(), `SELECT COALESCE(SUM(COALESCE(idx_tup_fetch, 0) + seq_tup_read), 0) FROM pg_stat_xact_user_tables WHERE relname = 'cases'`).Scan(&n)
	return n, err
}

// RowsScanned returns how many rows of table tx read by sequential scans
// so far (pg_stat_xact_user_tables, as CaseRowsFetched); -1 on SQLite.
func RowsScanned(t interface{ Context() context.Context }, tx Tx, table string) (int64, error) {
	q := tx.(*queries)
	if q.s.dialect != Postgres {
		return -1, nil
	}
	var n int64
	err := q.queryRow(t.Context(), `SELECT COALESCE(SUM(seq_tup_read), 0) FROM pg_stat_xact_user_tables WHERE relname = ?`, table).Scan(&n)
	return n, err
}

// SearchPlan returns SQLite's plan (EXPLAIN QUERY PLAN, the detail of each
// step joined by "; ") of the statement SearchCases runs for cq in tx; ""
// on PostgreSQL.
func SearchPlan(t interface{ Context() context.Context }, tx Tx, cq CaseQuery) (string, error) {
	q := tx.(*queries)
	if q.s.dialect != SQLite {
		return "", nil
	}
	st, err := q.searchStatement(t.Context(), &cq)
	if err != nil || st.none {
		return "", err
	}
	rows, err := q.query(t.Context(), `EXPLAIN QUERY PLAN `+st.stmt, st.args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, notused int64
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return "", err
		}
		steps = append(steps, detail)
	}
	return strings.Join(steps, "; "), rows.Err()
}

// FlushesOutsideLock reports whether tx's store commits a transaction that
// took an advisory lock without waiting for the flush, then waits for it
// outside the lock (PostgreSQL with the permission to do so).
func FlushesOutsideLock(tx Tx) bool {
	q := tx.(*queries)
	return q.s.dialect == Postgres && q.s.flushOutsideLock
}

// RowsFetched returns how many rows of table tx fetched so far, by index
// or sequential scan (pg_stat_xact_user_tables, as CaseRowsFetched); -1 on
// SQLite.
func RowsFetched(t interface{ Context() context.Context }, tx Tx, table string) (int64, error) {
	q := tx.(*queries)
	if q.s.dialect != Postgres {
		return -1, nil
	}
	var n int64
	err := q.queryRow(t.Context(), `SELECT COALESCE(SUM(COALESCE(idx_tup_fetch, 0) + seq_tup_read), 0) FROM pg_stat_xact_user_tables WHERE relname = ?`, table).Scan(&n)
	return n, err
}

// IndexScans returns how many scans of index the transaction of tx has
// started so far (PostgreSQL; -1 on SQLite).
func IndexScans(t interface{ Context() context.Context }, tx Tx, index string) (int64, error) {
	q := tx.(*queries)
	if q.s.dialect != Postgres {
		return -1, nil
	}
	var n int64
	err := q.queryRow(t.Context(), `SELECT COALESCE(pg_stat_get_xact_numscans(?::regclass), 0)`, index).Scan(&n)
	return n, err
}

// SQLiteClaimPlans returns SQLite's plan (EXPLAIN QUERY PLAN, each step's
// detail joined by "; ") of the SELECT of each of ClaimDue's two claims
// (expired leases, then due queued rows) for destination at now; nil on
// PostgreSQL.
func SQLiteClaimPlans(t interface{ Context() context.Context }, tx Tx, destination string, now time.Time) ([]string, error) {
	q := tx.(*queries)
	if q.s.dialect != SQLite {
		return nil, nil
	}
	var plans []string
	for _, c := range []sqliteClaim{claimExpired, claimQueued} {
		stmt, args := c.claimSelect(ClaimRequest{Worker: "plan", Destination: destination}, now, 50)
		rows, err := q.query(t.Context(), `EXPLAIN QUERY PLAN `+stmt, args...)
		if err != nil {
			return nil, err
		}
		var steps []string
		for rows.Next() {
			var id, parent, notused int64
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				rows.Close()
				return nil, err
			}
			steps = append(steps, detail)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		plans = append(plans, strings.Join(steps, "; "))
	}
	return plans, nil
}

// SetSearchPendingEvery makes s clean its search index's pending list
// after n bytes of keys (0: never, as before the cleaning) until the test
// ends; SearchPendingIdle waits for a cleaning under way to end.
func SetSearchPendingEvery(t interface{ Cleanup(func()) }, s Store, n int64) {
	p := s.(*sqlStore).searchPending
	if p == nil {
		return
	}
	old := p.every
	p.every = n
	t.Cleanup(func() { p.every = old })
}

func SearchPendingIdle(s Store) {
	if p := s.(*sqlStore).searchPending; p != nil {
		p.wg.Wait()
	}
}

// ExecInTx runs stmt on tx's connection (a test's SET LOCAL).
func ExecInTx(t interface{ Context() context.Context }, tx Tx, stmt string) (int64, error) {
	return tx.(*queries).exec(t.Context(), stmt)
}

// PreparedPlans returns how many generic and custom plans PostgreSQL made
// so far of the statements prepared on tx's connection whose text
// contains part (pg_prepared_statements: pgx prepares each statement once
// per connection); -1, -1 on SQLite.
func PreparedPlans(t interface{ Context() context.Context }, tx Tx, part string) (generic, custom int64, err error) {
	q := tx.(*queries)
	if q.s.dialect != Postgres {
		return -1, -1, nil
	}
	err = q.queryRow(t.Context(), `SELECT COALESCE(SUM(generic_plans), 0), COALESCE(SUM(custom_plans), 0)
		FROM pg_prepared_statements WHERE strpos(statement, ?) > 0`, part).Scan(&generic, &custom)
	return generic, custom, err
}

// SetOutboxVacuumEvery sets how many rows claimed start a vacuum of the
// outbox in the stores opened from now on, for the test.
func SetOutboxVacuumEvery(t interface{ Cleanup(func()) }, n int64) {
	old := outboxVacuumEvery
	outboxVacuumEvery = n
	t.Cleanup(func() { outboxVacuumEvery = old })
}

// OutboxVacuums returns how many vacuums of the outbox s finished, and
// whether one is under way (PostgreSQL; 0, false on SQLite).
func OutboxVacuums(s Store) (int64, bool) {
	v := s.(*sqlStore).outboxVacuum
	if v == nil {
		return 0, false
	}
	return v.runs.Load(), v.vacuuming.Load()
}

// BlocksFetched returns how many blocks of relation (a table or an index)
// the transaction of tx has fetched so far (PostgreSQL; -1 on SQLite).
func BlocksFetched(t interface{ Context() context.Context }, tx Tx, relation string) (int64, error) {
	q := tx.(*queries)
	if q.s.dialect != Postgres {
		return -1, nil
	}
	var n int64
	err := q.queryRow(t.Context(), `SELECT pg_stat_get_xact_blocks_fetched(?::regclass)`, relation).Scan(&n)
	return n, err
}

// BackendPID returns the process id of the PostgreSQL backend of tx.
func BackendPID(t interface{ Context() context.Context }, tx Tx) (int, error) {
	var pid int
	err := tx.(*queries).queryRow(t.Context(), `SELECT pg_backend_pid()`).Scan(&pid)
	return pid, err
}
