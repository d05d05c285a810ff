package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"time"
)

// dbCommits are the transactions each node's PostgreSQL database
// committed (pg_stat_database.xact_commit), by member: with the envelopes
// of a run, the commits (and their WAL flushes) an envelope costs, which
// the batches at a rate decide and which CPU per envelope follows. The
// server publishes a backend's counts within about a second
// (PGSTAT_MIN_INTERVAL): readCommits after a run waits for that.
type dbCommits struct {
	ok bool
	by map[string]int64
}

// readCommits reads the commits of the databases of dsns (by member) on
// the server of each DSN.
func readCommits(ctx context.Context, dsns map[string]string) dbCommits {
	c := dbCommits{by: map[string]int64{}}
	for id, dsn := range dsns {
		if !strings.HasPrefix(dsn, "postgres") {
			return dbCommits{}
		}
		db, err := sql.Open("postgres", dsn)
		if err != nil {
			return dbCommits{}
		}
		var n int64
		err = db.QueryRowContext(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
		db.Close()
		if err != nil {
			return dbCommits{}
		}
		c.by[id] = n
	}
	c.ok = true
	return c
}

// commitsSettle is how long readCommits after a run waits first, for the
// backends' last counts to reach pg_stat_database.
const commitsSettle = 1100 * time.Millisecond

// printCommits says how many transactions each database committed per
// envelope between before and after (this bench's own reads included: a
// few in all).
func printCommits(out io.Writer, before, after dbCommits, n int) {
	if !before.ok || !after.ok || n <= 0 {
		return
	}
	per := func(id string) float64 { return float64(after.by[id]-before.by[id]) / float64(n) }
	fmt.Fprintf(out, "commits:    transactions committed per envelope (pg_stat_database): sender XA-RC %.2f, receiver XB-RC %.2f\n", per("XA-RC"), per("XB-RC"))
}
