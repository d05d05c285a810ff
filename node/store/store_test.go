package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/familylinks/flx/node/internal/dbtest"
	"github.com/familylinks/flx/node/store"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// fakeClock advances 1ms on every reading, so store-stamped times are
// distinct and increasing; Set/Advance move it for lease and paging tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// backend is one database under test: the Store, its DSN, a raw connection
// (to tamper and to grep as an attacker or auditor would) and the clock.
type backend struct {
	dialect store.Dialect
	dsn     string
	path    string // SQLite file
	s       store.Store
	raw     *sqlx.DB
	clock   *fakeClock
}

// withAllStores runs fn against a fresh SQLite store and a fresh PostgreSQL
// store (skipped without PostgreSQL unless FLX_REQUIRE_POSTGRES=1), the two
// at once: SQLite works in this process while PostgreSQL works in its
// server, and the package's tests otherwise run one at a time.
func withAllStores(t *testing.T, fn func(t *testing.T, b *backend)) {
	t.Helper()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, newBackend(t, d))
		})
	}
}

// withEachStore is withAllStores one store after the other, for a test
// that sets a package knob (export_test.go) which the other store's run
// would read meanwhile.
func withEachStore(t *testing.T, fn func(t *testing.T, b *backend)) {
	t.Helper()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			fn(t, newBackend(t, d))
		})
	}
}

// withAllDurableStores is withAllStores with PostgreSQL sessions that keep
// the server's synchronous_commit (on), for the tests of the store's own
// settings of it and of its commits' durability (newBackend's sessions have
// it off).
func withAllDurableStores(t *testing.T, fn func(t *testing.T, b *backend)) {
	t.Helper()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, newDurableBackend(t, d))
		})
	}
}

// newBackend opens a fresh store of dialect d. On PostgreSQL its sessions
// have synchronous_commit off (asyncCommit): a commit returns without
// waiting for the server's WAL flush, which no test here needs (they stop
// stores, never the server), and that wait, one per commit, was most of
// the package's wall time.
func newBackend(t testing.TB, d store.Dialect) *backend {
	t.Helper()
	return newBackendCommit(t, d, true)
}

// newDurableBackend is newBackend with the server's synchronous_commit.
func newDurableBackend(t testing.TB, d store.Dialect) *backend {
	t.Helper()
	return newBackendCommit(t, d, false)
}

func newBackendCommit(t testing.TB, d store.Dialect, async bool) *backend {
	t.Helper()
	b := &backend{dialect: d, clock: newClock()}
	var rawDriver, rawDSN string
	switch d {
	case store.SQLite:
		b.path = dbtest.SQLitePathFrom(t, "migrated", func(path string) error { return migrated("sqlite:" + path) })
		b.dsn = "sqlite:" + b.path
		rawDriver, rawDSN = "sqlite", "file:"+b.path+"?_pragma=busy_timeout(10000)"
	case store.Postgres:
		b.dsn = dbtest.PostgresDSNFrom(t, "migrated", migrated)
		if async {
			b.dsn = asyncCommit(t, b.dsn)
		}
		rawDriver, rawDSN = "postgres", b.dsn
	}
	b.s = b.open(t)
	raw, err := sqlx.Open(rawDriver, rawDSN)
	if err != nil {
		t.Fatalf("raw open: %v", err)
	}
	t.Cleanup(func() { raw.Close() })
	b.raw = raw
	return b
}

// asyncCommit adds synchronous_commit=off to a PostgreSQL DSN (a run-time
// parameter of each session).
func asyncCommit(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("asyncCommit: %v", err)
	}
	q := u.Query()
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	return u.String()
}

// migrated applies every migration to the empty database dsn: newBackend
// copies a database migrated once per test binary (TestMigrations and the
// migration tests start from empty ones).
func migrated(dsn string) error {
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		return err
	}
	return s.Close()
}

// open opens another Store on the same database (another process, or a
// restart), with opts after the backend's clock.
func (b *backend) open(t testing.TB, opts ...store.Option) store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), b.dsn, append([]store.Option{store.WithClock(b.clock.Now)}, opts...)...)
	if err != nil {
		t.Fatalf("store.Open(%s): %v", b.dialect, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// exec runs raw SQL written with ? placeholders.
func (b *backend) exec(t testing.TB, query string, args ...any) {
	t.Helper()
	if _, err := b.raw.ExecContext(t.Context(), b.raw.Rebind(query), args...); err != nil {
		t.Fatalf("raw %q: %v", query, err)
	}
}

func (b *backend) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := b.raw.GetContext(t.Context(), &n, b.raw.Rebind(query), args...); err != nil {
		t.Fatalf("raw %q: %v", query, err)
	}
	return n
}

// tables lists the application tables.
func (b *backend) tables(t testing.TB) []string {
	t.Helper()
	q := `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`
	if b.dialect == store.SQLite {
		q = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1`
	}
	var out []string
	if err := b.raw.SelectContext(t.Context(), &out, q); err != nil {
		t.Fatalf("list tables: %v", err)
	}
	return out
}

// grep returns "table: row" for every row of every table whose content
// holds marker, as text or (PostgreSQL bytea output) hex.
func (b *backend) grep(t testing.TB, marker string) []string {
	t.Helper()
	needles := [][]byte{[]byte(marker), []byte(hex.EncodeToString([]byte(marker)))}
	return dbtest.GrepRows(t, b.raw, b.dialect == store.Postgres, b.tables(t), func(row []byte) bool {
		for _, n := range needles {
			if bytes.Contains(row, n) {
				return true
			}
		}
		return false
	})
}

// mustErr fails unless errors.Is(err, want) (want nil: err must be nil).
func mustErr(t testing.TB, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func must[T any](t testing.TB) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

// Fixtures use invented members and people only.
const (
	memberA = "XA-RC"
	memberB = "XB-RC"
	memberC = "XC-RC"
	cta     = "ICRC-CTA"
)

func caseDoc(id string, version int, extra string) []byte {
	return fmt.Appendf(nil, `{"schema":"flx/v1/case","case_id":%q,"version":%d,"persons":[{"id":"p1","names":[{"value":"Amira Testova %s"}]}]}`,
		id, version, extra)
}

func newCase(id string) store.NewCase {
	return store.NewCase{ID: id, Origin: memberA, Type: "tracing_request", Status: "open", Document: caseDoc(id, 1, "")}
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
