package migrate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
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

// NoTransaction, as the first line of a migration file, runs the migration
// outside a transaction, each statement on its own (statements end with ';'
// at the end of a line): for what PostgreSQL refuses inside one, such as
// CREATE INDEX CONCURRENTLY. Such a migration must be safe to run again
// after an interruption (DROP INDEX CONCURRENTLY IF EXISTS first), since it
// is recorded only once every statement succeeded.
const NoTransaction = "-- flx:no-transaction"

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string // file name, e.g. 0001_init.sql
	SQL     string
	SHA256  string // lowercase hex of the file's bytes, recorded when applied
	NoTx    bool   // the file starts with NoTransaction
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
		sum := sha256.Sum256(b)
		first, _, _ := strings.Cut(string(b), "\n")
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b), SHA256: hex.EncodeToString(sum[:]),
			NoTx: strings.TrimSpace(first) == NoTransaction})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Options tune Up.
type Options struct {
	// Lock, when set, runs first on the connection Up uses throughout and
	// returns what releases it: on PostgreSQL a session advisory lock
	// (pg_advisory_lock), so that processes migrating one database at once
	// apply each migration exactly once, migrations outside a transaction
	// included. On SQLite it may be nil: each batch runs in a BEGIN
	// IMMEDIATE transaction, which excludes every other writer.
	Lock func(ctx context.Context, conn *sql.Conn) (unlock func(), err error)
	// Now stamps applied_at; time.Now when nil.
	Now func() time.Time
}

// ErrTooNew means the database has a migration this binary does not know:
// it was migrated by a newer FLX and must not be used by this one.
var ErrTooNew = errors.New("migrate: database schema is newer than this binary")

// ErrEdited means a migration file differs from the one applied to the
// database (its SHA-256 changed): the schema may not be what the file says,
// so nothing is applied. Restore the file; ship a change as a new migration.
var ErrEdited = errors.New("migrate: an applied migration was edited")

// Up applies every migration not yet recorded, in order, and returns the
// versions it applied (none when up to date). It first checks every
// recorded migration against its file (ErrEdited, ErrTooNew). Consecutive
// migrations run in one transaction, so a failing one leaves the database as
// it was before them; a NoTx migration runs on its own, outside one.
func Up(ctx context.Context, db *sqlx.DB, migs []Migration, opts Options) ([]int, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate.Up: connect: %w", err)
	}
	defer conn.Close()
	if opts.Lock != nil {
		unlock, err := opts.Lock(ctx, conn)
		if err != nil {
			return nil, fmt.Errorf("migrate.Up: lock: %w", err)
		}
		defer unlock()
	}
	r := runner{db: db, conn: conn, now: now}
	if err := r.ensureTable(ctx); err != nil {
		return nil, err
	}
	if err := r.verify(ctx, migs); err != nil {
		return nil, err
	}
	var applied []int
	for {
		done, err := r.done(ctx, r.conn)
		if err != nil {
			return applied, err
		}
		var batch []Migration
		for _, m := range migs {
			if done[m.Version] {
				continue
			}
			if m.NoTx && len(batch) > 0 {
				break
			}
			batch = append(batch, m)
			if m.NoTx {
				break
			}
		}
		if len(batch) == 0 {
			return applied, nil
		}
		var got []int
		if batch[0].NoTx {
			got, err = r.applyNoTx(ctx, batch[0])
		} else {
			got, err = r.applyTx(ctx, batch)
		}
		applied = append(applied, got...)
		if err != nil {
			return applied, err
		}
	}
}

type runner struct {
	db   *sqlx.DB
	conn *sql.Conn
	now  func() time.Time
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// ensureTable creates schema_migrations, or adds the checksum column to one
// made before checksums were recorded.
func (r *runner) ensureTable(ctx context.Context) error {
	if _, err := r.conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL,
	checksum   TEXT
)`); err != nil {
		return fmt.Errorf("migrate.Up: create schema_migrations: %w", err)
	}
	if r.hasChecksum(ctx) {
		return nil
	}
	if _, err := r.conn.ExecContext(ctx, `ALTER TABLE schema_migrations ADD COLUMN checksum TEXT`); err != nil && !r.hasChecksum(ctx) {
		return fmt.Errorf("migrate.Up: add schema_migrations.checksum: %w", err)
	}
	return nil
}

func (r *runner) hasChecksum(ctx context.Context) bool {
	rows, err := r.conn.QueryContext(ctx, `SELECT checksum FROM schema_migrations WHERE 1 = 0`)
	if err != nil {
		return false
	}
	rows.Close()
	return true
}

// verify compares every recorded migration with its file. A row recorded
// before checksums were kept gets the file's checksum now: from then on an
// edit is seen.
func (r *runner) verify(ctx context.Context, migs []Migration) error {
	byVersion := map[int]Migration{}
	for _, m := range migs {
		byVersion[m.Version] = m
	}
	rows, err := r.conn.QueryContext(ctx, `SELECT version, name, checksum FROM schema_migrations ORDER BY version`)
	if err != nil {
		return fmt.Errorf("migrate.Up: read schema_migrations: %w", err)
	}
	type row struct {
		version int
		name    string
		sum     sql.NullString
	}
	var have []row
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.version, &x.name, &x.sum); err != nil {
			rows.Close()
			return fmt.Errorf("migrate.Up: read schema_migrations: %w", err)
		}
		have = append(have, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate.Up: read schema_migrations: %w", err)
	}
	for _, x := range have {
		m, ok := byVersion[x.version]
		switch {
		case !ok:
			return fmt.Errorf("migrate.Up: version %d (%s): %w", x.version, x.name, ErrTooNew)
		case !x.sum.Valid || x.sum.String == "":
			if _, err := r.conn.ExecContext(ctx, r.db.Rebind(`UPDATE schema_migrations SET checksum = ? WHERE version = ? AND checksum IS NULL`),
				m.SHA256, m.Version); err != nil {
				return fmt.Errorf("migrate.Up: record the checksum of %s: %w", m.Name, err)
			}
		case x.sum.String != m.SHA256:
			return fmt.Errorf("migrate.Up: %s was applied with sha256 %s, the file now has %s: %w", m.Name, x.sum.String, m.SHA256, ErrEdited)
		}
	}
	return nil
}

// done returns the recorded versions.
func (r *runner) done(ctx context.Context, q execer) (map[int]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("migrate.Up: read schema_migrations: %w", err)
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("migrate.Up: read schema_migrations: %w", err)
		}
		out[v] = true
	}
	return out, rows.Err()
}

func (r *runner) record(ctx context.Context, q execer, m Migration) error {
	_, err := q.ExecContext(ctx, r.db.Rebind(`INSERT INTO schema_migrations (version, name, applied_at, checksum) VALUES (?, ?, ?, ?)`),
		m.Version, m.Name, r.now().UTC().Format(time.RFC3339Nano), m.SHA256)
	if err != nil {
		return fmt.Errorf("migrate.Up: record %s: %w", m.Name, err)
	}
	return nil
}

// applyTx applies batch in one transaction, skipping what another process
// recorded meanwhile.
func (r *runner) applyTx(ctx context.Context, batch []Migration) (applied []int, err error) {
	tx, err := r.conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate.Up: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
			applied = nil
		}
	}()
	done, err := r.done(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, m := range batch {
		if done[m.Version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return nil, fmt.Errorf("migrate.Up: %s: %w", m.Name, err)
		}
		if err := r.record(ctx, tx, m); err != nil {
			return nil, err
		}
		applied = append(applied, m.Version)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("migrate.Up: commit: %w", err)
	}
	return applied, nil
}

// applyNoTx runs m's statements one by one outside a transaction, then
// records it.
func (r *runner) applyNoTx(ctx context.Context, m Migration) ([]int, error) {
	for i, stmt := range Statements(m.SQL) {
		if _, err := r.conn.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("migrate.Up: %s, statement %d (outside a transaction; it runs again next time): %w", m.Name, i+1, err)
		}
	}
	if err := r.record(ctx, r.conn, m); err != nil {
		return nil, err
	}
	return []int{m.Version}, nil
}

// Statements splits a migration at the semicolons that end a line, leaving
// out comment lines and empty statements.
func Statements(sqlText string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sqlText, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || t == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			if s := strings.TrimSpace(cur.String()); s != ";" {
				out = append(out, s)
			}
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// AdvisoryLock is Options.Lock for PostgreSQL: a session advisory lock on
// key, held for the whole Up (migrations outside a transaction included)
// and released at once if the process dies. A process that finds it taken
// polls with pg_try_advisory_lock instead of waiting inside a statement: a
// session blocked in pg_advisory_lock holds a snapshot that CREATE INDEX
// CONCURRENTLY, run by the holder, would wait for, a deadlock.
func AdvisoryLock(key int64) func(ctx context.Context, conn *sql.Conn) (func(), error) {
	return func(ctx context.Context, conn *sql.Conn) (func(), error) {
		for delay := 10 * time.Millisecond; ; delay = min(2*delay, 500*time.Millisecond) {
			var ok bool
			if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
				return nil, err
			}
			if ok {
				return func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key) }, nil
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(delay):
			}
		}
	}
}
