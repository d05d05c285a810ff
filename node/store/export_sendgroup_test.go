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
