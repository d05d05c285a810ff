package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx": binary protocol, cached prepared statements
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"  // PostgreSQL driver "postgres" (admin.go: CREATE/DROP DATABASE)
	_ "modernc.org/sqlite" // SQLite driver "sqlite"

	"github.com/familylinks/flx/node/store/migrate"
)

func init() {
	// sqlx knows lib/pq's $1 placeholders but not modernc's driver name.
	sqlx.BindDriver("sqlite", sqlx.QUESTION)
}

//go:embed migrations
var migrationFiles embed.FS

// Advisory lock keys (PostgreSQL), arbitrary but fixed: "FLX" + a number.
const (
	lockMigrate  int64 = 0x464c5801
	lockAudit    int64 = 0x464c5802
	lockManifest int64 = 0x464c5803
)

// writerWait bounds how long a SQLite write waits for the writer.
const writerWait = 30 * time.Second

// sqlStore implements Store for both dialects.
type sqlStore struct {
	db      *sqlx.DB
	dialect Dialect
	clock   func() time.Time
	// writer serializes write transactions on SQLite (one writer per
	// database); nil on PostgreSQL.
	writer chan struct{}
	// flushOutsideLock: the role may write the WAL message flushDurable
	// uses, so a locked transaction can release its lock before its disk
	// wait (see tx). Without it (a managed server that revokes the
	// function), locked transactions commit durably as before.
	flushOutsideLock bool
	// dsn opens pools of their own for one worker (OwnPool); PostgreSQL.
	dsn string
	// searchPending cleans the search index's pending list (PostgreSQL).
	searchPending *searchPending
	// outboxVacuum vacuums the outbox as rows are claimed (PostgreSQL).
	outboxVacuum *outboxVacuum
	// statements counts what is sent to the database (WithStatementCounter).
	statements *atomic.Int64
}

// sent counts one statement sent (WithStatementCounter).
func (s *sqlStore) sent() {
	if s.statements != nil {
		s.statements.Add(1)
	}
}

func openPostgres(ctx context.Context, dsn string, o options) (*sqlStore, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("store.Open: postgres DSN: %w", ErrInvalid)
	}
	if u.Query().Get("sslmode") == "" {
		return nil, fmt.Errorf("store.Open: postgres DSN must set sslmode explicitly (e.g. verify-full): %w", ErrInvalid)
	}
	db, err := sqlx.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store.Open: %w", err)
	}
	n := o.maxOpenConns
	if n <= 0 {
		n = 10
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &sqlStore{db: db, dialect: Postgres, clock: o.clock, dsn: dsn,
		searchPending: new(searchPending), statements: o.statements}
	s.searchPending.clean = s.cleanSearchPending
	s.outboxVacuum = &outboxVacuum{every: outboxVacuumEvery, vacuum: s.vacuumOutbox}
	if err := s.init(ctx, "migrations/postgres", migrate.AdvisoryLock(lockMigrate)); err != nil {
		db.Close()
		return nil, err
	}
	// The pending list's limit is the index's own when it has one (a
	// reloption, which PostgreSQL's writers follow in its place), else
	// the session's gin_pending_list_limit.
	var pendingKB int64
	if err := db.QueryRowContext(ctx, `SELECT has_function_privilege('pg_logical_emit_message(boolean,text,text)', 'EXECUTE'),
		COALESCE((SELECT o.option_value::bigint FROM pg_class c, pg_options_to_table(c.reloptions) o
			WHERE c.oid = 'cases_search_keys_idx'::regclass AND o.option_name = 'gin_pending_list_limit'),
			(SELECT setting::bigint FROM pg_settings WHERE name = 'gin_pending_list_limit'))`).Scan(&s.flushOutsideLock, &pendingKB); err != nil {
		db.Close()
		return nil, fmt.Errorf("store.Open: %w", err)
	}
	s.searchPending.every = pendingKB * 1024 / 2
	return s, nil
}

func openSQLite(ctx context.Context, dsn string, o options) (*sqlStore, error) {
	conn, err := sqliteDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("store.Open: %w", err)
	}
	if err := sqliteWAL(ctx, conn); err != nil {
		return nil, fmt.Errorf("store.Open: %w", err)
	}
	db, err := sqlx.Open("sqlite", conn)
	if err != nil {
		return nil, fmt.Errorf("store.Open: %w", err)
	}
	n := o.maxOpenConns
	if n <= 0 {
		n = 4
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	s := &sqlStore{db: db, dialect: SQLite, clock: o.clock, writer: make(chan struct{}, 1), statements: o.statements}
	if err := s.init(ctx, "migrations/sqlite", nil); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// sqliteDSN turns sqlite:/path, sqlite:///path, sqlite:rel (a literal
// filesystem path) or a file: URI (SQLite URI parameters allowed) into a
// modernc DSN with the pragmas the store relies on: a busy timeout (other
// processes), foreign keys, synchronous=FULL (a receipt answered is on
// disk), secure_delete (erased bytes are zeroed, not left in free pages) and
// BEGIN IMMEDIATE (a transaction takes the write lock at once instead of
// failing to upgrade later). WAL is set once, by sqliteWAL.
func sqliteDSN(dsn string) (string, error) {
	var path, rawQuery string
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		// The rest is a filesystem path taken literally (a file: URI is the
		// way to pass SQLite URI parameters); escape what a URI interprets.
		path = strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		path = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	default: // file:
		rest := strings.TrimPrefix(strings.TrimPrefix(dsn, "file:"), "//")
		path, rawQuery, _ = strings.Cut(rest, "?")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("sqlite DSN query: %w", ErrInvalid)
	}
	if path == "" || path == ":memory:" || q.Get("mode") == "memory" {
		return "", fmt.Errorf("sqlite DSN needs a file path (in-memory databases are per connection): %w", ErrInvalid)
	}
	for _, p := range []string{"busy_timeout(10000)", "foreign_keys(1)", "synchronous(FULL)", "secure_delete(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode(), nil
}

// sqliteWAL switches the database file to WAL mode, which then persists in
// the file for every connection. The switch needs an exclusive lock and
// SQLite reports SQLITE_BUSY at once (no busy handler) while another
// process holds the write lock, e.g. when two processes open a new
// database together: retry for a while.
func sqliteWAL(ctx context.Context, conn string) error {
	db, err := sql.Open("sqlite", conn)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(writerWait)
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 250*time.Millisecond) {
		var mode string
		err := db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("sqlite: WAL mode unavailable for this file (journal_mode %q)", mode)
			}
			return nil
		}
		var se interface{ Code() int }
		if !errors.As(err, &se) || se.Code()&0xff != 5 /* SQLITE_BUSY */ || time.Now().After(deadline) {
			return fmt.Errorf("sqlite: set WAL mode: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

func (s *sqlStore) init(ctx context.Context, dir string, lock func(context.Context, *sql.Conn) (func(), error)) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store.Open: connect: %w", err)
	}
	migs, err := migrate.Load(migrationFiles, dir)
	if err != nil {
		return fmt.Errorf("store.Open: %w", err)
	}
	if s.writer != nil {
		if err := s.acquireWriter(ctx); err != nil {
			return fmt.Errorf("store.Open: %w", err)
		}
		defer s.releaseWriter()
	}
	if _, err := migrate.Up(ctx, s.db, migs, migrate.Options{Lock: lock, Now: s.clock}); err != nil {
		return fmt.Errorf("store.Open: %w", err)
	}
	return nil
}

func (s *sqlStore) Dialect() Dialect { return s.dialect }

func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store.Ping: %w", err)
	}
	return nil
}

func (s *sqlStore) PingWrite(ctx context.Context) error {
	return s.tx(ctx, func(q *queries) error {
		_, err := q.exec(ctx, `INSERT INTO write_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at`,
			tv(s.now(time.Time{})))
		if err != nil {
			return fmt.Errorf("store.PingWrite: %w", err)
		}
		return nil
	})
}

func (s *sqlStore) Close() error {
	if s.searchPending != nil {
		s.searchPending.wg.Wait() // a cleaning under way ends first
	}
	if s.outboxVacuum != nil {
		s.outboxVacuum.wg.Wait() // so does a vacuum
	}
	return s.db.Close()
}

func (s *sqlStore) acquireWriter(ctx context.Context) error {
	if s.writer == nil {
		return nil
	}
	select {
	case s.writer <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(writerWait)
	defer t.Stop()
	select {
	case s.writer <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("waited %s for the SQLite writer: %w", writerWait, ErrBusy)
	}
}

func (s *sqlStore) releaseWriter() {
	if s.writer != nil {
		<-s.writer
	}
}

// Tx implements Store.
func (s *sqlStore) Tx(ctx context.Context, fn func(tx Tx) error) error {
	return s.tx(ctx, func(q *queries) error { return fn(q) })
}

func (s *sqlStore) tx(ctx context.Context, fn func(q *queries) error) error {
	if err := s.acquireWriter(ctx); err != nil {
		return fmt.Errorf("store.Tx: %w", err)
	}
	defer s.releaseWriter()
	s.sent()
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store.Tx: begin: %w", err)
	}
	done := false
	defer func() {
		if !done { // error or panic
			_ = tx.Rollback()
		}
	}()
	q := &queries{s: s, x: tx, asyncAtLock: s.flushOutsideLock && !isRedoable(ctx)}
	if s.dialect == Postgres && isRedoable(ctx) {
		// Commit without waiting for the WAL flush (see Redoable).
		if _, err := q.exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return fmt.Errorf("store.Tx: %w", err)
		}
	}
	if err := fn(q); err != nil {
		return err
	}
	// A transaction that took an advisory lock (the audit chain, the
	// manifest) would hold it through the WAL flush of its commit, and every
	// other writer of the chain would wait for that disk write too. It
	// commits without waiting, which releases the lock, and then waits for
	// the flush outside the lock (flushDurable): it still returns only once
	// its commit is on disk.
	lockedDurable := s.flushOutsideLock && q.locked && !isRedoable(ctx)
	if lockedDurable && !q.asyncSet { // set with the lock (lock): one round trip less
		if _, err := q.exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return fmt.Errorf("store.Tx: %w", err)
		}
	}
	s.sent()
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store.Tx: commit: %w", err)
	}
	done = true
	if lockedDurable {
		if err := s.flushDurable(ctx); err != nil {
			return fmt.Errorf("store.Tx: committed, but not confirmed on disk: %w", err)
		}
	}
	if q.erased && s.dialect == SQLite {
		s.scrubWAL()
	}
	return nil
}

// scrubWAL moves the zeroed pages of an erasure out of the WAL into the
// database file and truncates the WAL, so erased bytes do not linger in
// it. A reader holding an older snapshot keeps the checkpoint from
// finishing: then it is tried again every second for a minute in the
// background (the erasure itself is committed; a checkpoint of a later
// erasure or SQLite's own also finishes it).
func (s *sqlStore) scrubWAL() {
	if s.checkpointTruncate() {
		return
	}
	go func() {
		for range 60 {
			time.Sleep(time.Second)
			if s.checkpointTruncate() {
				return
			}
		}
	}()
}

// checkpointTruncate reports whether a TRUNCATE checkpoint finished, or
// cannot be run at all (a closed store: nothing to retry).
func (s *sqlStore) checkpointTruncate() bool {
	var busy, frames, moved int
	err := s.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &moved)
	return err != nil || busy == 0
}

// flushDurable returns once every commit made before it is on disk (and on
// synchronous standbys, where the server has them). A transaction that
// writes WAL under an id commits durably, and the WAL flush of its commit
// covers every record written before it. A transaction that only takes an
// id (txid_current) writes no WAL of its own and commits without the
// flush; a transactional logical message is the smallest WAL write
// (PostgreSQL has no function that only waits for the flush).
func (s *sqlStore) flushDurable(ctx context.Context) error {
	s.sent()
	_, err := s.db.ExecContext(ctx, `SELECT pg_logical_emit_message(true, 'flx.flush', '')`)
	return err
}

// write runs fn in its own transaction and returns its result.
func write[T any](ctx context.Context, s *sqlStore, fn func(q *queries) (T, error)) (T, error) {
	var out T
	err := s.tx(ctx, func(q *queries) error {
		var err error
		out, err = fn(q)
		return err
	})
	return out, err
}

// read runs fn outside a transaction (reads see committed data).
func (s *sqlStore) read() *queries { return &queries{s: s, x: s.db} }

// queries runs the operations on a transaction or, for reads, the pool.
type queries struct {
	s      *sqlStore
	x      sqlx.ExtContext
	erased bool // EraseCase ran in this transaction
	locked bool // an advisory lock was taken in this transaction
	// asyncAtLock: the transaction flushes outside its locks (tx's
	// lockedDurable), so a lock taken also sets synchronous_commit off in
	// the same statement; asyncSet: that was done and stands.
	asyncAtLock, asyncSet bool
}

// Savepoint implements Tx. Savepoints do not nest here: fn must not call
// Savepoint.
func (q *queries) Savepoint(ctx context.Context, fn func() error) (undone, err error) {
	if _, err := q.exec(ctx, `SAVEPOINT flx_apply`); err != nil {
		return nil, fmt.Errorf("store.Savepoint: %w", err)
	}
	if undone = fn(); undone == nil {
		if _, err := q.exec(ctx, `RELEASE SAVEPOINT flx_apply`); err != nil {
			return nil, fmt.Errorf("store.Savepoint: release: %w", err)
		}
		return nil, nil
	}
	// A statement that failed on PostgreSQL left the transaction aborted:
	// rolling back to the savepoint makes it usable again. The context
	// may be what failed: the rollback does not depend on it.
	if _, err := q.exec(context.WithoutCancel(ctx), `ROLLBACK TO SAVEPOINT flx_apply`); err != nil {
		return undone, fmt.Errorf("store.Savepoint: roll back (after %v): %w", undone, err)
	}
	// A setting made since the savepoint is undone with it (the lock's
	// synchronous_commit): the commit sets it again if need be.
	q.asyncSet = false
	return undone, nil
}

func (q *queries) exec(ctx context.Context, query string, args ...any) (int64, error) {
	q.s.sent()
	res, err := q.x.ExecContext(ctx, q.s.rebind(query), args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (q *queries) queryRow(ctx context.Context, query string, args ...any) *sqlx.Row {
	q.s.sent()
	return q.x.QueryRowxContext(ctx, q.s.rebind(query), args...)
}

func (q *queries) query(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	q.s.sent()
	return q.x.QueryxContext(ctx, q.s.rebind(query), args...)
}

// rebind is s.db.Rebind(query), remembered per statement text on
// PostgreSQL: sqlx rewrites every ? of the text into a new string on every
// call, some 40 µs of a receiving transaction's CPU for its few long
// statements (a batch of one envelope), and nearly every text is a
// constant. Texts built per call (a list of placeholders) are remembered
// too, up to maxRebound texts in all; after that they are rewritten each
// time as before.
func (s *sqlStore) rebind(query string) string {
	if s.dialect != Postgres {
		return s.db.Rebind(query) // ? is SQLite's own: returned as it is
	}
	if r, ok := rebound.Load(query); ok {
		return r.(string)
	}
	r := s.db.Rebind(query)
	if reboundN.Add(1) <= maxRebound {
		rebound.Store(query, r)
	}
	return r
}

var (
	rebound  sync.Map // statement text with ? -> with $n (PostgreSQL)
	reboundN atomic.Int64
)

const maxRebound = 4096

// eachRow runs query and calls scan on every row it returns; the rows are
// closed whatever happens. The first error of the query, a scan or the
// iteration is returned as it is: the caller adds its context.
func (q *queries) eachRow(ctx context.Context, scan func(*sqlx.Rows) error, query string, args ...any) error {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// lock takes a transaction-scoped advisory lock on PostgreSQL. On SQLite
// the write transaction already excludes every other writer.
func (q *queries) lock(ctx context.Context, key int64) error {
	if q.s.dialect != Postgres {
		return nil
	}
	if q.asyncAtLock {
		// The commit will not wait for the WAL flush, which the
		// transaction then waits for outside the lock (tx): set here,
		// with the lock, rather than in a statement of its own before
		// the commit.
		_, err := q.exec(ctx, `SELECT pg_advisory_xact_lock(?), set_config('synchronous_commit', 'off', true)`, key)
		if err == nil {
			q.locked, q.asyncSet = true, true
		}
		return err
	}
	_, err := q.exec(ctx, `SELECT pg_advisory_xact_lock(?)`, key)
	if err == nil {
		q.locked = true
	}
	return err
}

// now returns t, or the clock when t is zero, in UTC at microsecond
// precision (what PostgreSQL keeps).
func (s *sqlStore) now(t time.Time) time.Time {
	if t.IsZero() {
		t = s.clock()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Opaque parameters (PostgreSQL). A statement sent often, with arrays of
// keys of a few elements, was planned at every call: pgx prepares it once
// per connection, and PostgreSQL keeps its generic plan only once that
// plan's estimated cost is no more than the custom plans' (those of its
// first 5 runs) plus their planning; a custom plan sees each array's
// length (1 or 2 keys) where the generic one assumes 10, so the generic
// plan never looked cheap enough, and the planning of every call cost more
// than its execution. A parameter passed through a scalar sub-select,
// "(SELECT ?::text[])", is a value no plan knows in advance, custom or
// generic, so both cost the same and PostgreSQL keeps the generic plan
// from the 6th run on: a statement so shaped must be one whose generic
// plan is right however its tables grow (probes of an index by key, in a
// LATERAL subquery with a LIMIT where a join could be planned instead;
// its own test on a young table).

// timeLayout is how times are bound: fixed width, so SQLite's text
// comparison is time order, and valid input for PostgreSQL TIMESTAMPTZ.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// pgTimes: a timestamptz[] parameter on PostgreSQL is bound as a
// []time.Time (from s.now: UTC, whole microseconds, as tv writes them),
// never as the []string of tv: pgx has no binary encoding of a string as
// a timestamptz, so it first failed to encode the array in binary (an
// error formatting every element with %#v, thrown away), then encoded it
// as text (each element quoted) for PostgreSQL to parse back: per batch
// statement, on the receiving path three times per batch.

// tv binds a time; the zero time is NULL.
func tv(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond).Format(timeLayout)
}

// nv binds a string; "" is NULL.
func nv(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// iv binds an int64; 0 is NULL.
func iv(i int64) any {
	if i == 0 {
		return nil
	}
	return i
}

// timeCol scans a TIMESTAMPTZ (time.Time) or SQLite TEXT time; NULL is the
// zero time.
type timeCol time.Time

func (t *timeCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*t = timeCol(time.Time{})
	case time.Time:
		*t = timeCol(x.UTC())
	case string:
		return t.parse(x)
	case []byte:
		return t.parse(string(x))
	default:
		return fmt.Errorf("store: cannot scan %T as time", v)
	}
	return nil
}

func (t *timeCol) parse(s string) error {
	p, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("store: bad stored time %q: %w", s, err)
	}
	*t = timeCol(p.UTC())
	return nil
}

// strCol scans a nullable text column; NULL is "".
type strCol string

func (c *strCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c = ""
	case string:
		*c = strCol(x)
	case []byte:
		*c = strCol(x)
	default:
		return fmt.Errorf("store: cannot scan %T as text", v)
	}
	return nil
}

// intCol scans a nullable integer column; NULL is 0.
type intCol int64

func (c *intCol) Scan(v any) error {
	var n sql.NullInt64
	if err := n.Scan(v); err != nil {
		return err
	}
	*c = intCol(n.Int64)
	return nil
}

func tc(t *time.Time) *timeCol { return (*timeCol)(t) }
func sc(s *string) *strCol     { return (*strCol)(s) }
func ic(i *int64) *intCol      { return (*intCol)(i) }

// notFound maps sql.ErrNoRows to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// limit applies a default and a cap to a page size.
func limit(n, def int) int {
	switch {
	case n <= 0:
		return def
	case n > 1000:
		return 1000
	}
	return n
}

// where builds a WHERE clause from conditions that are added only when set.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) addIf(ok bool, cond string, args ...any) {
	if ok {
		w.add(cond, args...)
	}
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// rowsOf returns n copies of the VALUES row row ("(?, ?)"), comma
// separated, for a multi-row INSERT.
func rowsOf(row string, n int) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
