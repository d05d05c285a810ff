package dbtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	execpkg "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq" // PostgreSQL driver for CREATE/DROP DATABASE.
)

const (
	// EnvPostgres names a PostgreSQL server (any database on it; the
	// helper creates its own). Example:
	// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
	EnvPostgres = "FLX_TEST_POSTGRES"
	// EnvRequirePostgres=1 turns "no PostgreSQL" from a skip into a failure.
	EnvRequirePostgres = "FLX_REQUIRE_POSTGRES"

	// dockerCommand starts PostgreSQL in Docker (dockertest) in a process
	// of its own, run with `go run`: Docker's client libraries are then
	// compiled only when a test needs them, not for every test binary
	// that imports dbtest (54 packages, under the race detector and
	// without it). It purges the container when its standard input ends:
	// when stopContainer closes it, or this process ends.
	dockerCommand = "github.com/familylinks/flx/node/internal/dbtest/dockerpg"
)

// server is a PostgreSQL server shared by a test binary (see Main).
var shared struct {
	mu      sync.Mutex
	enabled bool // Main is wrapping this test binary
	base    string
	err     error
	started bool
	docker  *container

	// Under Main: databases are dropped off the tests' path (a DROP
	// DATABASE waits for a checkpoint) and Main waits for the drops;
	// templates are kept for the whole binary and dropped at its end.
	drops     sync.WaitGroup
	dropSlots chan struct{} // bounds the drops under way (connections)
	dropErrs  []string
	templates map[string]*template
}

// template is a database prepared once per test binary (PostgresDSNFrom,
// SQLitePathFrom) and copied for each test.
type template struct {
	once sync.Once
	base string // the PostgreSQL server
	name string // PostgreSQL database, or SQLite file
	err  error

	// PostgreSQL: the next copy, made in the background while a test
	// runs (a CREATE DATABASE takes a large part of a second on a busy
	// machine: once per test, it was much of the store's tests' time).
	// making is guarded by shared.mu; spare holds at most one copy, which
	// finish drops if no test took it.
	spare  chan string
	making bool
}

// Main runs the package's tests and then purges a Docker PostgreSQL
// container that PostgresDSN started for them. Without it each PostgresDSN
// call that needs Docker starts (and t.Cleanup purges) its own container.
// Under Main a test's databases are dropped after it ends, off its path
// (each DROP DATABASE waits for a checkpoint), and Main waits for them and
// fails the run if one could not be dropped; PostgresDSNFrom and
// SQLitePathFrom copy a database prepared once.
//
//	func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.enabled = true
	shared.dropSlots = make(chan struct{}, 4)
	shared.templates = map[string]*template{}
	shared.mu.Unlock()
	return finish(m.Run())
}

// finish waits for the drops under way, drops the templates and purges
// the container; a failed drop fails the run.
func finish(code int) int {
	shared.drops.Wait()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for _, e := range shared.dropErrs {
		fmt.Fprintln(os.Stderr, e)
		if code == 0 {
			code = 1
		}
	}
	for key, tp := range shared.templates {
		if tp.name == "" {
			continue
		}
		select {
		case name := <-tp.spare:
			if err := dropDatabase(tp.base, name); err != nil {
				fmt.Fprintf(os.Stderr, "dbtest: drop copy %s: %v\n", name, err)
			}
		default:
		}
		if strings.HasPrefix(key, "sqlite:") {
			os.RemoveAll(filepath.Dir(tp.name))
		} else if err := dropDatabase(tp.base, tp.name); err != nil {
			fmt.Fprintf(os.Stderr, "dbtest: drop template %s: %v\n", tp.name, err)
		}
	}
	if shared.docker != nil {
		if err := shared.docker.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "dbtest: %v\n", err)
		}
		shared.docker = nil
	}
	return code
}

// PostgresDSN returns the DSN of a new, empty PostgreSQL database that is
// dropped (WITH (FORCE)) when the test ends. The server comes from
// FLX_TEST_POSTGRES or else from a Docker container; with neither the test
// is skipped, or fails when FLX_REQUIRE_POSTGRES=1.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	return createDatabase(t, serverDSN(t), "")
}

// PostgresDSNFrom is PostgresDSN for a database that prepare has filled
// (a migrated schema): under Main, prepare runs once per test binary and
// key, on a template database that each call copies (CREATE DATABASE ...
// TEMPLATE), so tests skip repeating it; without Main each call prepares
// its own database. The template is dropped when the binary ends.
func PostgresDSNFrom(t testing.TB, key string, prepare func(dsn string) error) string {
	t.Helper()
	base := serverDSN(t)
	tp := sharedTemplate("postgres:" + key)
	if tp == nil {
		dsn := createDatabase(t, base, "")
		if err := prepare(dsn); err != nil {
			t.Fatalf("dbtest: prepare %s: %v", key, err)
		}
		return dsn
	}
	tp.once.Do(func() {
		name := databaseName()
		if err := exec(base, "CREATE DATABASE "+name); err != nil {
			tp.err = err
			return
		}
		shared.mu.Lock()
		tp.base, tp.name = base, name // dropped by Main from here on
		shared.mu.Unlock()
		dsn, err := withDatabase(base, name)
		if err == nil {
			err = prepare(dsn)
		}
		tp.err = err
	})
	if tp.err != nil {
		t.Fatalf("dbtest: template %s on %s: %v", key, redact(base), tp.err)
	}
	var name string
	select {
	case name = <-tp.spare:
	default:
		var err error
		if name, err = newDatabase(base, tp.name); err != nil {
			t.Fatalf("dbtest: create database from %s on %s: %v", tp.name, redact(base), err)
		}
	}
	tp.makeSpare()
	return useDatabase(t, base, name)
}

// makeSpare starts making the template's next copy in the background,
// unless one is made or under way; finish waits for it (shared.drops).
// A failure leaves no copy: the next call then creates its own, and
// reports the error if it fails again.
func (tp *template) makeSpare() {
	shared.mu.Lock()
	if tp.making || len(tp.spare) > 0 {
		shared.mu.Unlock()
		return
	}
	tp.making = true
	shared.drops.Add(1)
	shared.mu.Unlock()
	go func() {
		defer shared.drops.Done()
		name, err := newDatabase(tp.base, tp.name)
		if err == nil {
			tp.spare <- name // empty: only this goroutine fills it
		}
		shared.mu.Lock()
		tp.making = false
		shared.mu.Unlock()
	}()
}

// SQLitePathFrom is SQLitePath for a database file that prepare has
// filled: under Main, prepare runs once per test binary and key and each
// call gets a copy of the file; without Main each call prepares its own.
func SQLitePathFrom(t testing.TB, key string, prepare func(path string) error) string {
	t.Helper()
	path := SQLitePath(t)
	tp := sharedTemplate("sqlite:" + key)
	if tp == nil {
		if err := prepare(path); err != nil {
			t.Fatalf("dbtest: prepare %s: %v", key, err)
		}
		return path
	}
	tp.once.Do(func() {
		dir, err := os.MkdirTemp(memDir(), "flx-dbtest-")
		if err != nil {
			tp.err = err
			return
		}
		name := filepath.Join(dir, "flx.db")
		shared.mu.Lock()
		tp.name = name // removed by Main from here on
		shared.mu.Unlock()
		tp.err = prepare(name)
	})
	if tp.err != nil {
		t.Fatalf("dbtest: template %s: %v", key, tp.err)
	}
	// The WAL, if prepare's last connection left one, goes with the file.
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(tp.name + suffix)
		if errors.Is(err, fs.ErrNotExist) && suffix != "" {
			continue
		}
		if err == nil {
			err = os.WriteFile(path+suffix, b, 0o600)
		}
		if err != nil {
			t.Fatalf("dbtest: copy template %s: %v", key, err)
		}
	}
	return path
}

// sharedTemplate returns the template of key, or nil when Main is not
// wrapping the test binary.
func sharedTemplate(key string) *template {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.enabled {
		return nil
	}
	tp := shared.templates[key]
	if tp == nil {
		tp = &template{spare: make(chan string, 1)}
		shared.templates[key] = tp
	}
	return tp
}

// createDatabase creates a database on the server base, empty or a copy
// of the database from, and drops it when the test ends.
func createDatabase(t testing.TB, base, from string) string {
	t.Helper()
	name, err := newDatabase(base, from)
	if err != nil {
		t.Fatalf("dbtest: create database %s on %s: %v", name, redact(base), err)
	}
	return useDatabase(t, base, name)
}

// newDatabase creates a database on the server base, empty or a copy of
// the database from, and returns its name.
func newDatabase(base, from string) (string, error) {
	name := databaseName()
	stmt := "CREATE DATABASE " + name
	if from != "" {
		stmt += " TEMPLATE " + from
	}
	return name, exec(base, stmt)
}

// useDatabase returns the DSN of database name on base, dropped when the
// test ends.
func useDatabase(t testing.TB, base, name string) string {
	t.Helper()
	t.Cleanup(func() {
		shared.mu.Lock()
		async := shared.enabled
		if async {
			shared.drops.Add(1)
		}
		shared.mu.Unlock()
		if !async {
			if err := dropDatabase(base, name); err != nil {
				t.Errorf("dbtest: drop database %s: %v", name, err)
			}
			return
		}
		go func() {
			defer shared.drops.Done()
			shared.dropSlots <- struct{}{}
			defer func() { <-shared.dropSlots }()
			if err := dropDatabase(base, name); err != nil {
				shared.mu.Lock()
				shared.dropErrs = append(shared.dropErrs, fmt.Sprintf("dbtest: drop database %s (%s): %v", name, t.Name(), err))
				shared.mu.Unlock()
			}
		}()
	})
	dsn, err := withDatabase(base, name)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return dsn
}

// exec runs one statement on the server's admin database, for at most a
// minute. A copy from a template is retried while the template's last
// session is still ending (object_in_use: its client has closed, the
// server not yet).
func exec(base, stmt string) error {
	return execFor(base, stmt, time.Minute)
}

// execFor is exec with the given time limit.
func execFor(base, stmt string, limit time.Duration) error {
	admin, err := sql.Open("postgres", base)
	if err != nil {
		return fmt.Errorf("open %s: %w", redact(base), err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		_, err = admin.ExecContext(ctx, stmt)
		var pqErr *pq.Error
		if err == nil || !errors.As(err, &pqErr) || pqErr.Code != "55006" || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dropLimit bounds a DROP DATABASE, which on a server busy with other
// work took more than a minute: a node/e2e run whose tests all passed
// failed on eight drops cancelled after exec's minute (57014,
// query_canceled), on a 2-core machine at a load of about 20 whose
// PostgreSQL other test runs and benchmarks shared. Under Main the drops run off the tests'
// path, so a longer limit delays only the end of the binary.
const dropLimit = 5 * time.Minute

func dropDatabase(base, name string) error {
	return execFor(base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)", dropLimit)
}

// SQLitePath returns the path of a SQLite database file (not yet created) in
// a directory removed when the test ends. Open it as "sqlite:" + path.
// The directory is on a memory file system when the machine has one
// (memDir): the store opens SQLite with synchronous=FULL, and an fsync on
// disk per commit made the SQLite-backed tests' system time a large part
// of their CPU (a SIGKILLed node loses nothing there either: the page
// cache outlives the process).
func SQLitePath(t testing.TB) string {
	t.Helper()
	return filepath.Join(tempDir(t), "flx.db")
}

// memDirs are memory file systems, tried in order (Linux's /dev/shm).
var memDirs = []string{"/dev/shm"}

// memDir returns a writable directory of memDirs, or "".
var memDir = sync.OnceValue(func() string {
	for _, d := range memDirs {
		dir, err := os.MkdirTemp(d, "flx-dbtest-")
		if err != nil {
			continue
		}
		os.Remove(dir)
		return d
	}
	return ""
})

// tempDir is t.TempDir, on memDir when there is one.
func tempDir(t testing.TB) string {
	t.Helper()
	base := memDir()
	if base == "" {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp(base, "flx-dbtest-")
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("dbtest: remove %s: %v", dir, err)
		}
	})
	return dir
}

// serverDSN finds a PostgreSQL server or skips/fails the test.
func serverDSN(t testing.TB) string {
	t.Helper()
	if env := strings.TrimSpace(os.Getenv(EnvPostgres)); env != "" {
		dsn, err := withSSLMode(env)
		if err != nil {
			t.Fatalf("dbtest: %s: %v", EnvPostgres, err)
		}
		return dsn
	}
	shared.mu.Lock()
	enabled := shared.enabled
	shared.mu.Unlock()
	if enabled {
		return sharedContainer(t)
	}
	c, err := startContainer()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("dbtest: %v", err)
		}
	})
	return c.base
}

func sharedContainer(t testing.TB) string {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.started {
		shared.started = true
		shared.docker, shared.err = startContainer()
		if shared.err == nil {
			shared.base = shared.docker.base
		}
	}
	if shared.err != nil {
		unavailable(t, shared.err)
	}
	return shared.base
}

func unavailable(t testing.TB, cause error) {
	t.Helper()
	msg := fmt.Sprintf("PostgreSQL not available: set %s=postgres://user@host:5432/postgres?sslmode=disable "+
		"(the helper creates and drops its own databases there) or start a Docker engine; cause: %v", EnvPostgres, cause)
	if os.Getenv(EnvRequirePostgres) == "1" {
		t.Fatalf("%s (%s=1 makes this a failure)", msg, EnvRequirePostgres)
	}
	t.Skip(msg)
}

// dockerCmd is the command startContainer runs (dbtest's own tests run a
// stand-in).
var dockerCmd = func() *execpkg.Cmd { return execpkg.Command("go", "run", dockerCommand) }

// container is PostgreSQL in Docker, started by dockerCommand.
type container struct {
	base  string // the server's DSN
	cmd   *execpkg.Cmd
	stdin io.Closer
	log   *bytes.Buffer // the command's standard error
}

// startContainer starts PostgreSQL in Docker (dockerCommand) and waits
// until it answers.
func startContainer() (*container, error) {
	cmd := dockerCmd()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	c := &container{cmd: cmd, stdin: stdin, log: &bytes.Buffer{}}
	cmd.Stderr = c.log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("docker: go run %s: %w", dockerCommand, err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stdin.Close()
		werr := cmd.Wait()
		return nil, fmt.Errorf("docker: go run %s: %v: %s", dockerCommand, werr, strings.TrimSpace(c.log.String()))
	}
	c.base = strings.TrimSpace(line)
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := ping(c.base)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			_ = c.stop()
			return nil, fmt.Errorf("postgres container did not become ready: %w", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// stop has dockerCommand purge the container and waits for it.
func (c *container) stop() error {
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		return fmt.Errorf("purge postgres container: %w: %s", err, strings.TrimSpace(c.log.String()))
	}
	return nil
}

// ping connects to dsn.
func ping(dsn string) error {
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// databaseName is flx_<package dir>_<random>, a valid unquoted identifier.
func databaseName() string {
	pkg := "test"
	if wd, err := os.Getwd(); err == nil {
		pkg = filepath.Base(wd)
	}
	var b strings.Builder
	for _, r := range strings.ToLower(pkg) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	pkg = b.String()
	if len(pkg) > 30 {
		pkg = pkg[:30]
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	return "flx_" + pkg + "_" + hex.EncodeToString(rnd[:])
}

// withSSLMode adds sslmode=disable when the DSN does not set sslmode: lib/pq's
// default may change, and the tests must not depend on it.
func withSSLMode(dsn string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("want a postgres:// URL, got %q", redact(dsn))
	}
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

func withDatabase(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("parse DSN: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// redact hides a password in a DSN for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "<unparseable DSN>"
	}
	return u.Redacted()
}
