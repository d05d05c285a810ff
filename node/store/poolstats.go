package store

import "database/sql"

// PoolStats returns the statistics of st's connection pool (database/sql):
// how many connections are open and in use, and how often, and for how
// long in all, a caller waited for one because all were in use (a queue
// on the path of every statement, which PostgreSQL's own views do not
// show). ok is false for a store that is not one of this package's.
func PoolStats(st Store) (stats sql.DBStats, ok bool) {
	s, ok := st.(*sqlStore)
	if !ok {
		return sql.DBStats{}, false
	}
	return s.db.Stats(), true
}
