package migrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string // file name, e.g. 0001_init.sql
	SQL     string
}

// Load reads dir in fsys: every *.sql file whose name starts with a positive
// number (0001_init.sql). Versions must be unique; gaps are allowed.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate.Load: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		prefix, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(strings.TrimSuffix(prefix, ".sql"))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migrate.Load: %s: name must start with a positive version number", e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrate.Load: version %d used by %s and %s", v, other, e.Name())
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrate.Load: %w", err)
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Options tune Up.
type Options struct {
	// Lock is run first inside the migration transaction. On PostgreSQL it
	// takes pg_advisory_xact_lock so concurrent Ups serialize; SQLite's
	// BEGIN IMMEDIATE already excludes other writers, so it may be nil.
	Lock func(ctx context.Context, tx *sqlx.Tx) error
	// Now stamps applied_at; time.Now when nil.
	Now func() time.Time
}

// ErrTooNew means the database has a migration this binary does not know:
// it was migrated by a newer FLX and must not be used by this one.
var ErrTooNew = errors.New("migrate: database schema is newer than this binary")

// Up applies every migration not yet recorded, in order, in one transaction,
// and returns the versions it applied (none when up to date).
func Up(ctx context.Context, db *sqlx.DB, migs []Migration, opts Options) (applied []int, err error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate.Up: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if opts.Lock != nil {
		if err := opts.Lock(ctx, tx); err != nil {
			return nil, fmt.Errorf("migrate.Up: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL
)`); err != nil {
		return nil, fmt.Errorf("migrate.Up: create schema_migrations: %w", err)
	}
	var have []int
	if err := tx.SelectContext(ctx, &have, `SELECT version FROM schema_migrations ORDER BY version`); err != nil {
		return nil, fmt.Errorf("migrate.Up: read schema_migrations: %w", err)
	}
	known := map[int]bool{}
	for _, m := range migs {
		known[m.Version] = true
	}
	done := map[int]bool{}
	for _, v := range have {
		if !known[v] {
			return nil, fmt.Errorf("migrate.Up: version %d: %w", v, ErrTooNew)
		}
		done[v] = true
	}
	for _, m := range migs {
		if done[m.Version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return nil, fmt.Errorf("migrate.Up: %s: %w", m.Name, err)
		}
		ins := tx.Rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`)
		if _, err := tx.ExecContext(ctx, ins, m.Version, m.Name, now().UTC().Format(time.RFC3339Nano)); err != nil {
			return nil, fmt.Errorf("migrate.Up: record %s: %w", m.Name, err)
		}
		applied = append(applied, m.Version)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("migrate.Up: commit: %w", err)
	}
	return applied, nil
}
