package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"

	"github.com/familylinks/flx/node/internal/dbtest"
	"github.com/familylinks/flx/node/store/migrate"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// database is a fresh database of each dialect, with the lock the store
// uses on it.
type database struct {
	name string
	db   *sqlx.DB
	lock func(ctx context.Context, conn *sql.Conn) (func(), error)
}

func withBoth(t *testing.T, fn func(t *testing.T, d database)) {
	t.Run("sqlite", func(t *testing.T) {
		db := sqlx.MustOpen("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db")+"?_pragma=busy_timeout(10000)&_txlock=immediate")
		t.Cleanup(func() { db.Close() })
		fn(t, database{name: "sqlite", db: db})
	})
	t.Run("postgres", func(t *testing.T) {
		db := sqlx.MustOpen("postgres", dbtest.PostgresDSN(t))
		t.Cleanup(func() { db.Close() })
		fn(t, database{name: "postgres", db: db, lock: migrate.AdvisoryLock(42)})
	})
}

func load(t *testing.T, m map[string]string) []migrate.Migration {
	t.Helper()
	migs, err := migrate.Load(files(m), "m")
	if err != nil {
		t.Fatal(err)
	}
	return migs
}

// TestEditedMigrationIsRefused: the checksum of every applied file is
// recorded; a file changed afterwards stops Up before it applies anything.
func TestEditedMigrationIsRefused(t *testing.T) {
	withBoth(t, func(t *testing.T, d database) {
		ctx := t.Context()
		v1 := map[string]string{"0001_a.sql": "CREATE TABLE a (x INTEGER);", "0002_b.sql": "CREATE TABLE b (y TEXT);"}
		if _, err := migrate.Up(ctx, d.db, load(t, v1), migrate.Options{Lock: d.lock}); err != nil {
			t.Fatal(err)
		}
		var sums []string
		if err := d.db.Select(&sums, `SELECT checksum FROM schema_migrations ORDER BY version`); err != nil {
			t.Fatal(err)
		}
		migs := load(t, v1)
		if len(sums) != 2 || sums[0] != migs[0].SHA256 || sums[1] != migs[1].SHA256 {
			t.Fatalf("recorded checksums %v, want those of the files", sums)
		}
		edited := map[string]string{"0001_a.sql": "CREATE TABLE a (x INTEGER); -- edited", "0002_b.sql": v1["0002_b.sql"],
			"0003_c.sql": "CREATE TABLE c (z TEXT);"}
		applied, err := migrate.Up(ctx, d.db, load(t, edited), migrate.Options{Lock: d.lock})
		if !errors.Is(err, migrate.ErrEdited) || len(applied) != 0 || !strings.Contains(err.Error(), "0001_a.sql") {
			t.Fatalf("Up with an edited migration: %v %v, want ErrEdited naming 0001_a.sql", applied, err)
		}
		if tableExists(t, d, "c") {
			t.Error("a new migration was applied although an old one was edited")
		}
		// Whitespace is an edit too: the bytes are what was applied.
		ws := map[string]string{"0001_a.sql": v1["0001_a.sql"] + "\n", "0002_b.sql": v1["0002_b.sql"]}
		if _, err := migrate.Up(ctx, d.db, load(t, ws), migrate.Options{Lock: d.lock}); !errors.Is(err, migrate.ErrEdited) {
			t.Errorf("a trailing newline: %v, want ErrEdited", err)
		}
	})
}

// TestChecksumsOfAnOlderTable: a schema_migrations made before checksums
// were kept gets them, and an edit is seen from then on.
func TestChecksumsOfAnOlderTable(t *testing.T) {
	withBoth(t, func(t *testing.T, d database) {
		ctx := t.Context()
		d.db.MustExec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`)
		d.db.MustExec(`CREATE TABLE a (x INTEGER)`)
		d.db.MustExec(d.db.Rebind(`INSERT INTO schema_migrations VALUES (1, '0001_a.sql', '2026-01-01T00:00:00Z')`))
		v := map[string]string{"0001_a.sql": "CREATE TABLE a (x INTEGER);", "0002_b.sql": "CREATE TABLE b (y TEXT);"}
		applied, err := migrate.Up(ctx, d.db, load(t, v), migrate.Options{Lock: d.lock})
		if err != nil || fmt.Sprint(applied) != "[2]" {
			t.Fatalf("Up on an older table: %v %v", applied, err)
		}
		v["0001_a.sql"] = "CREATE TABLE a (x BIGINT);"
		if _, err := migrate.Up(ctx, d.db, load(t, v), migrate.Options{Lock: d.lock}); !errors.Is(err, migrate.ErrEdited) {
			t.Errorf("edit after the backfill: %v, want ErrEdited", err)
		}
	})
}

func tableExists(t *testing.T, d database, name string) bool {
	t.Helper()
	var n int
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if d.name == "postgres" {
		q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
	}
	if err := d.db.Get(&n, d.db.Rebind(q), name); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// TestNoTransaction: CREATE INDEX CONCURRENTLY, which PostgreSQL refuses
// inside a transaction, runs as a migration marked NoTransaction, between
// transactional ones.
func TestNoTransaction(t *testing.T) {
	db := sqlx.MustOpen("postgres", dbtest.PostgresDSN(t))
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	concurrently := "DROP INDEX CONCURRENTLY IF EXISTS t_x_idx;\nCREATE INDEX CONCURRENTLY t_x_idx ON t (x);\n"
	inTx := map[string]string{"0001_t.sql": "CREATE TABLE t (x INTEGER);", "0002_idx.sql": concurrently}
	_, err := migrate.Up(ctx, db, load(t, inTx), migrate.Options{})
	if err == nil || !strings.Contains(err.Error(), "transaction") {
		t.Fatalf("CREATE INDEX CONCURRENTLY in a transaction: %v; want PostgreSQL to refuse it (the test proves nothing otherwise)", err)
	}
	v := map[string]string{
		"0001_t.sql":   "CREATE TABLE t (x INTEGER);",
		"0002_idx.sql": migrate.NoTransaction + "\n-- built without locking out writers\n" + concurrently,
		"0003_u.sql":   "CREATE TABLE u (y TEXT);",
	}
	migs := load(t, v)
	if migs[0].NoTx || !migs[1].NoTx || migs[2].NoTx {
		t.Fatalf("NoTx flags %t %t %t", migs[0].NoTx, migs[1].NoTx, migs[2].NoTx)
	}
	applied, err := migrate.Up(ctx, db, migs, migrate.Options{})
	if err != nil || fmt.Sprint(applied) != "[1 2 3]" {
		t.Fatalf("Up: %v %v", applied, err)
	}
	var valid bool
	if err := db.Get(&valid, `SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 't_x_idx'`); err != nil || !valid {
		t.Fatalf("index t_x_idx valid %t (%v)", valid, err)
	}
	if applied, err := migrate.Up(ctx, db, migs, migrate.Options{}); err != nil || len(applied) != 0 {
		t.Fatalf("again: %v %v", applied, err)
	}
}

// TestConcurrentUp: processes opening one PostgreSQL database at once apply
// each migration once, the one outside a transaction included.
func TestConcurrentUp(t *testing.T) {
	dsn := dbtest.PostgresDSN(t)
	migs := load(t, map[string]string{
		"0001_t.sql":   "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);",
		"0002_idx.sql": migrate.NoTransaction + "\nDROP INDEX CONCURRENTLY IF EXISTS t_x_idx;\nCREATE INDEX CONCURRENTLY t_x_idx ON t (x);\n",
		"0003_u.sql":   "INSERT INTO t VALUES (3);",
	})
	lock := migrate.AdvisoryLock(7)
	const procs = 4
	var wg sync.WaitGroup
	results := make([][]int, procs)
	errs := make([]error, procs)
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := sqlx.MustOpen("postgres", dsn)
			defer db.Close()
			results[i], errs[i] = migrate.Up(t.Context(), db, migs, migrate.Options{Lock: lock})
		}()
	}
	wg.Wait()
	total := 0
	for i := range procs {
		if errs[i] != nil {
			t.Fatalf("process %d: %v", i, errs[i])
		}
		total += len(results[i])
	}
	db := sqlx.MustOpen("postgres", dsn)
	defer db.Close()
	var rows int
	if err := db.Get(&rows, `SELECT COUNT(*) FROM t`); err != nil || rows != 2 || total != 3 {
		t.Errorf("rows in t %d (%v), migrations applied in all %d: each migration must run once", rows, err, total)
	}
}

func TestStatements(t *testing.T) {
	got := migrate.Statements("-- flx:no-transaction\n-- a comment\nDROP INDEX CONCURRENTLY IF EXISTS a;\n\nCREATE INDEX CONCURRENTLY a\n    ON t (x);\n;\nSELECT 1")
	want := []string{"DROP INDEX CONCURRENTLY IF EXISTS a;", "CREATE INDEX CONCURRENTLY a\n    ON t (x);", "SELECT 1"}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("Statements = %q, want %q", got, want)
	}
}
