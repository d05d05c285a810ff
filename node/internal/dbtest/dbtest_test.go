package dbtest

import (
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWithSSLMode(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"postgres://postgres@127.0.0.1:5432/postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", false},
		{"postgres://u@h/db?sslmode=verify-full", "postgres://u@h/db?sslmode=verify-full", false},
		{"postgresql://u@h/db?connect_timeout=5", "postgresql://u@h/db?connect_timeout=5&sslmode=disable", false},
		{"host=localhost user=postgres", "", true},
		{"mysql://u@h/db", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := withSSLMode(tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("withSSLMode(%q) = %q, %v; want %q (error %v)", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestDatabaseName(t *testing.T) {
	a, b := databaseName(), databaseName()
	if a == b {
		t.Fatalf("two calls gave %s", a)
	}
	if !strings.HasPrefix(a, "flx_dbtest_") || len(a) > 63 {
		t.Fatalf("name %q", a)
	}
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			t.Fatalf("name %q is not a plain identifier", a)
		}
	}
}

func TestSQLitePath(t *testing.T) {
	p := SQLitePath(t)
	if _, err := os.Stat(filepath.Dir(p)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("%s should not exist yet", p)
	}
}

// Each call is its own database, gone after the test.
func TestPostgresDSN(t *testing.T) {
	var names []string
	t.Run("create", func(t *testing.T) {
		for range 2 {
			dsn := PostgresDSN(t)
			u, err := url.Parse(dsn)
			if err != nil || u.Query().Get("sslmode") == "" {
				t.Fatalf("DSN %q must set sslmode", dsn)
			}
			db, err := sql.Open("postgres", dsn)
			if err != nil {
				t.Fatal(err)
			}
			var name string
			if err := db.QueryRowContext(t.Context(), `SELECT current_database()`).Scan(&name); err != nil {
				t.Fatal(err)
			}
			db.Close()
			names = append(names, name)
		}
		if names[0] == names[1] {
			t.Fatalf("both calls got database %s", names[0])
		}
	})
	if len(names) != 2 {
		return // skipped
	}
	db, err := sql.Open("postgres", serverDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range names {
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("database %s still exists after its test", name)
		}
	}
}

// fakeTB records Skip and Fatal instead of ending the test.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

var errStop = errors.New("stop")

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.skipped, f.msg = true, args[0].(string)
	panic(errStop)
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	panic(errStop)
}

func TestUnavailable(t *testing.T) {
	tests := []struct {
		require              string
		wantSkip, wantFailed bool
	}{
		{"", true, false},
		{"0", true, false},
		{"1", false, true},
	}
	for _, tc := range tests {
		t.Run("require="+tc.require, func(t *testing.T) {
			t.Setenv(EnvRequirePostgres, tc.require)
			f := &fakeTB{TB: t}
			func() {
				defer func() {
					if r := recover(); r != errStop {
						t.Fatalf("unavailable returned or panicked with %v", r)
					}
				}()
				unavailable(f, errors.New("no docker"))
			}()
			if f.skipped != tc.wantSkip || f.failed != tc.wantFailed {
				t.Fatalf("skipped %v failed %v", f.skipped, f.failed)
			}
			if !strings.Contains(f.msg, "PostgreSQL not available: set FLX_TEST_POSTGRES=postgres://") {
				t.Fatalf("message %q does not say how to provide PostgreSQL", f.msg)
			}
		})
	}
}

// Under Main, PostgresDSNFrom and SQLitePathFrom prepare once per key and
// hand out copies; the databases are dropped after their test (finish
// waits for the drops), the templates at the end.
func TestTemplates(t *testing.T) {
	underMain(t)
	var prepared int
	var names []string
	var files []string
	t.Run("copies", func(t *testing.T) {
		prepare := func(dsn string) error {
			prepared++
			db, err := sql.Open("postgres", dsn)
			if err != nil {
				return err
			}
			defer db.Close()
			_, err = db.Exec(`CREATE TABLE prepared (n int); INSERT INTO prepared VALUES (7)`)
			return err
		}
		for range 2 {
			dsn := PostgresDSNFrom(t, "k", prepare)
			db, err := sql.Open("postgres", dsn)
			if err != nil {
				t.Fatal(err)
			}
			var name string
			var n int
			err = db.QueryRowContext(t.Context(), `SELECT current_database(), n FROM prepared`).Scan(&name, &n)
			db.Close()
			if err != nil || n != 7 {
				t.Fatalf("copy %s: n %d, %v", name, n, err)
			}
			names = append(names, name)
		}
		for range 2 {
			p := SQLitePathFrom(t, "k", func(path string) error { prepared++; return os.WriteFile(path, []byte("sqlite file"), 0o600) })
			if b, err := os.ReadFile(p); err != nil || string(b) != "sqlite file" {
				t.Fatalf("copy %s: %q %v", p, b, err)
			}
			files = append(files, p)
		}
	})
	if len(names) != 2 {
		return // skipped
	}
	if prepared != 2 || names[0] == names[1] || files[0] == files[1] {
		t.Fatalf("prepared %d times (want once per dialect); databases %v; files %v", prepared, names, files)
	}
	shared.mu.Lock()
	tmpl, sqliteTmpl := shared.templates["postgres:k"].name, shared.templates["sqlite:k"].name
	shared.mu.Unlock()
	if code := finish(0); code != 0 {
		t.Fatalf("finish = %d", code)
	}
	db, err := sql.Open("postgres", serverDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range append(names, tmpl) {
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("database %s still exists after finish", name)
		}
	}
	if _, err := os.Stat(sqliteTmpl); !os.IsNotExist(err) {
		t.Errorf("SQLite template %s still there after finish: %v", sqliteTmpl, err)
	}
}

// Under Main, PostgresDSNFrom makes the next copy of a template while the
// test that took the last one runs: the next call gets a database that
// existed before it, and finish drops a copy no test took.
func TestTemplateCopiedAhead(t *testing.T) {
	underMain(t)
	admin, err := sql.Open("postgres", serverDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := databaseName()
	prefix := name[:len(name)-16] // flx_dbtest_
	existing := func() map[string]bool {
		rows, err := admin.QueryContext(t.Context(), `SELECT datname FROM pg_database WHERE datname LIKE $1 || '%'`, prefix)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]bool{}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			m[n] = true
		}
		return m
	}
	// waitNew waits (10 s at most) for a database of this package that is
	// not in seen, and returns the databases then.
	waitNew := func(seen map[string]bool) map[string]bool {
		for range 200 {
			now := existing()
			for n := range now {
				if !seen[n] {
					return now
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		return existing()
	}
	current := func(dsn string) string {
		db, err := sql.Open("postgres", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var name string
		if err := db.QueryRowContext(t.Context(), `SELECT current_database()`).Scan(&name); err != nil {
			t.Fatal(err)
		}
		return name
	}
	prepare := func(dsn string) error { return nil }
	var first, second string
	var before, after map[string]bool
	t.Run("copies", func(t *testing.T) {
		first = current(PostgresDSNFrom(t, "ahead", prepare))
		before = waitNew(existing())
		second = current(PostgresDSNFrom(t, "ahead", prepare))
		after = waitNew(existing())
	})
	if !before[second] {
		t.Errorf("the second copy %s was made during the call (want it made ahead, after the first call)", second)
	}
	if first == second {
		t.Fatalf("the same copy %s twice", first)
	}
	if code := finish(0); code != 0 {
		t.Fatalf("finish = %d", code)
	}
	for n := range after {
		if existing()[n] {
			t.Errorf("database %s still exists after finish (a copy made ahead, or the template)", n)
		}
	}
}

// underMain sets the package up as Main does (templates shared, drops in
// the background) for one test, and puts it back when the test ends.
func underMain(t *testing.T) {
	t.Helper()
	shared.mu.Lock()
	saved := shared.enabled
	shared.enabled, shared.dropSlots, shared.templates, shared.dropErrs = true, make(chan struct{}, 4), map[string]*template{}, nil
	shared.mu.Unlock()
	t.Cleanup(func() {
		shared.mu.Lock()
		shared.enabled, shared.templates = saved, nil
		shared.mu.Unlock()
	})
}

// The Docker fallback's process (dockerpg, here a stand-in in this test
// binary that hands out FLX_TEST_POSTGRES's server): startContainer reads
// the DSN it prints and waits until the server answers; the command keeps
// its container until stop closes its input, and then purges it; a
// command that fails says why.
func TestContainerCommand(t *testing.T) {
	env := os.Getenv(EnvPostgres)
	if env == "" {
		unavailable(t, errors.New(EnvPostgres+" not set: the stand-in hands out its server"))
	}
	want, err := withSSLMode(env)
	if err != nil {
		t.Fatal(err)
	}
	purged := filepath.Join(t.TempDir(), "purged")
	old := dockerCmd
	t.Cleanup(func() { dockerCmd = old })
	standIn := func(mode string) func() *osexec.Cmd {
		return func() *osexec.Cmd {
			c := osexec.Command(os.Args[0], "-test.run=^TestDockerpgStandIn$")
			c.Env = append(os.Environ(), "FLX_DBTEST_STAND_IN="+mode)
			return c
		}
	}
	dockerCmd = standIn(purged)
	c, err := startContainer()
	if err != nil {
		t.Fatal(err)
	}
	if c.base != want {
		t.Errorf("base %q, want %q", c.base, want)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(purged); err == nil {
		t.Fatal("the container was purged before stop")
	}
	if err := c.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(purged); err != nil {
		t.Fatalf("stop returned before the container was purged: %v", err)
	}

	dockerCmd = standIn("fail")
	if _, err := startContainer(); err == nil || !strings.Contains(err.Error(), "docker engine not reachable") {
		t.Fatalf("a failed command: %v", err)
	}
}

// TestDockerpgStandIn is dockerpg's stand-in for TestContainerCommand
// (run only by it): it prints FLX_TEST_POSTGRES's server, waits for its
// input to end, and then writes the file FLX_DBTEST_STAND_IN names, as
// dockerpg purges its container; with "fail", it fails as dockerpg does
// without a Docker engine.
func TestDockerpgStandIn(t *testing.T) {
	mode := os.Getenv("FLX_DBTEST_STAND_IN")
	switch mode {
	case "":
		t.Skip("run by TestContainerCommand")
	case "fail":
		fmt.Fprintln(os.Stderr, "dockerpg: docker engine not reachable")
		os.Exit(2)
	}
	dsn, err := withSSLMode(os.Getenv(EnvPostgres))
	if err != nil {
		os.Exit(2)
	}
	fmt.Println(dsn)
	_, _ = io.Copy(io.Discard, os.Stdin)
	time.Sleep(300 * time.Millisecond) // a purge takes time
	if err := os.WriteFile(mode, nil, 0o644); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}
