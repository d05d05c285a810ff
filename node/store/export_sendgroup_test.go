package store

import "context"

// SessionsWaitingForTx returns how many other sessions of tx's database
// wait for a transaction to end (a lock of type transactionid: an INSERT
// waiting on a unique key another transaction holds); 0 on SQLite.
func SessionsWaitingForTx(t interface{ Context() context.Context }, tx Tx) (int, error) {
	q := tx.(*queries)
	if q.s.dialect != Postgres {
		return 0, nil
	}
	var n int
	err := q.queryRow(t.Context(), `SELECT COUNT(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE NOT l.granted AND l.locktype = 'transactionid' AND a.datname = current_database()`).Scan(&n)
	return n, err
}

// WALInserted returns the server's WAL insert position (pg_lsn text) as
// tx sees it: past every record tx wrote so far.
func WALInserted(t interface{ Context() context.Context }, tx Tx) (string, error) {
	q := tx.(*queries)
	var lsn string
	err := q.queryRow(t.Context(), `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn)
	return lsn, err
}

// WALFlushedPast reports whether the server's WAL is flushed past lsn.
func WALFlushedPast(t interface{ Context() context.Context }, s Store, lsn string) (bool, error) {
	var ok bool
	err := s.(*sqlStore).db.QueryRowContext(t.Context(), `SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn`, lsn).Scan(&ok)
	return ok, err
}
