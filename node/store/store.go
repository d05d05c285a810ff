package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Errors returned (wrapped) by every implementation; test with errors.Is.
var (
	// ErrNotFound: no such case, inbox row, outbox row, receipt, recipient
	// or manifest.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: the row is not in the state or version the caller
	// expected (optimistic concurrency on a case, an outbox row claimed by
	// someone else, an inbox row already processed, a manifest version that
	// is lower than or differs from the one held).
	ErrConflict = errors.New("store: conflict")
	// ErrDuplicate: the key already exists (case id, outbox jti, manifest
	// version with the same bytes).
	ErrDuplicate = errors.New("store: duplicate")
	// ErrReplay: an envelope jti was already received with other bytes. The
	// error is a *ReplayError.
	ErrReplay = errors.New("store: replay: jti already received with different content")
	// ErrErased: the case (or the payload asked for) was erased.
	ErrErased = errors.New("store: erased")
	// ErrInvalid: the caller passed something the store cannot keep (empty
	// key, bad JSON where JSON is required, bad DSN).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrBusy: SQLite's single writer stayed busy for longer than the
	// writer wait (30s). A Store write called from inside Store.Tx (instead
	// of through the Tx) ends here rather than hanging.
	ErrBusy = errors.New("store: database busy")
)

// ReplayError reports a jti seen before with a different envelope hash.
// errors.Is(err, ErrReplay) is true for it.
type ReplayError struct {
	JTI    string
	Stored string // sha256 hex of the envelope received first
	Got    string // sha256 hex of this envelope
}

func (e *ReplayError) Error() string {
	return fmt.Sprintf("store: replay: jti %q already received with sha256 %s, got %s", e.JTI, e.Stored, e.Got)
}

// Is makes errors.Is(err, ErrReplay) hold.
func (e *ReplayError) Is(target error) bool { return target == ErrReplay }

// Dialect names the database behind a Store.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Store is the node's storage. Every method runs in its own transaction
// except Tx, which runs several in one. Implementations are safe for
// concurrent use; a PostgreSQL database may also be shared by several
// processes (node replicas).
type Store interface {
	Queries

	// Tx runs fn in one transaction: committed if fn returns nil, rolled
	// back if it returns an error or panics. Use only the Tx inside fn and
	// not after it returns: a Store write from inside fn waits for fn's own
	// transaction (SQLite: ErrBusy after 30s; PostgreSQL: a lock wait on the
	// same rows). Keep transactions short, and append audit last: on
	// PostgreSQL AppendAudit holds the audit-chain lock until commit.
	Tx(ctx context.Context, fn func(tx Tx) error) error

	// Dialect reports which database this is.
	Dialect() Dialect
	// Ping checks the database answers (health checks).
	Ping(ctx context.Context) error
	// PingWrite checks the database takes a write: it rewrites one row
	// (table write_probe) in its own transaction.
	PingWrite(ctx context.Context) error
	// Close releases the connections.
	Close() error
}

// Tx is the set of operations available inside Store.Tx.
type Tx interface {
	Queries
	// Savepoint runs fn, which uses this transaction, inside a savepoint:
	// if fn fails, what it wrote is rolled back and undone is its error,
	// the transaction going on as before fn. err is for the transaction
	// (the savepoint could not be taken, released or rolled back to): the
	// caller then fails it as a whole.
	Savepoint(ctx context.Context, fn func() error) (undone, err error)
}

// Open connects to the database named by dsn, applies pending migrations
// and returns the Store:
//
//	postgres://user@host:5432/db?sslmode=verify-full   (or postgresql://)
//	sqlite:/var/lib/flx/flx.db      (or sqlite:///abs, sqlite:rel.db; the path is literal)
//	file:/var/lib/flx/flx.db?...    (SQLite URI, for URI parameters)
//
// On SQLite the store itself sets WAL, busy_timeout, foreign_keys,
// synchronous=FULL, secure_delete and BEGIN IMMEDIATE. A PostgreSQL DSN must
// set sslmode explicitly (lib/pq's default may change).
func Open(ctx context.Context, dsn string, opts ...Option) (Store, error) {
	o := options{clock: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, o)
	case strings.HasPrefix(dsn, "sqlite:"), strings.HasPrefix(dsn, "file:"):
		return openSQLite(ctx, dsn, o)
	default:
		return nil, fmt.Errorf("store.Open: DSN must start with postgres://, sqlite: or file: : %w", ErrInvalid)
	}
}

// Option configures Open.
type Option func(*options)

type options struct {
	clock        func() time.Time
	maxOpenConns int
	statements   *atomic.Int64
}

// WithClock sets the clock used for timestamps the caller leaves zero.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.clock = now }
}

// WithStatementCounter counts in n every statement the store sends to its
// database, BEGIN and COMMIT included: on a connection that has run them
// before, each is one round trip (what a transaction waits on besides the
// database's own work).
func WithStatementCounter(n *atomic.Int64) Option {
	return func(o *options) { o.statements = n }
}

// WithMaxOpenConns caps the connection pool (PostgreSQL default 10; SQLite
// default 4: one writer at a time, readers alongside in WAL mode).
func WithMaxOpenConns(n int) Option {
	return func(o *options) { o.maxOpenConns = n }
}
