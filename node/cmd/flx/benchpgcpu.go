package main

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/familylinks/flx/node/cputime"
)

// pgServerCPU measures the CPU time of the PostgreSQL backends serving one
// database (the server runs on this machine: its processes' /proc stat),
// so that a benchmark counts the database's work beside its own process's.
// Backends that exit during the run are missed (the store keeps its
// connections open while busy): a lower bound. Zero where /proc or the
// database cannot be read, or the server is elsewhere.
type pgServerCPU struct {
	db    *sql.DB
	start map[int]time.Duration
}

func newPGServerCPU(ctx context.Context, dsn string) *pgServerCPU {
	if !strings.HasPrefix(dsn, "postgres") {
		return nil
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return nil
	}
	db.SetMaxOpenConns(1)
	p := &pgServerCPU{db: db}
	p.start = p.sample(ctx)
	return p
}

// sample returns the CPU time of each backend of the database but this
// probe's own.
func (p *pgServerCPU) sample(ctx context.Context) map[int]time.Duration {
	rows, err := p.db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	if err != nil {
		return nil
	}
	defer rows.Close()
	out := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) != nil {
			return nil
		}
		if d, ok := cputime.OfProcess(pid); ok {
			out[pid] = d
		}
	}
	return out
}

// used returns the CPU time the backends used since the probe started and
// closes it.
func (p *pgServerCPU) used(ctx context.Context) time.Duration {
	if p == nil {
		return 0
	}
	defer p.db.Close()
	var total time.Duration
	for pid, d := range p.sample(ctx) {
		total += d - p.start[pid]
	}
	return total
}
