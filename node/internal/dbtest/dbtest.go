package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq" // PostgreSQL driver for CREATE/DROP DATABASE.
	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"
)

const (
	// EnvPostgres names a PostgreSQL server (any database on it; the
	// helper creates its own). Example:
	// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
	EnvPostgres = "FLX_TEST_POSTGRES"
	// EnvRequirePostgres=1 turns "no PostgreSQL" from a skip into a failure.
	EnvRequirePostgres = "FLX_REQUIRE_POSTGRES"

	dockerImage = "postgres"
	dockerTag   = "15-alpine"
	// dockerExpiry is a safety net: Docker kills a container left behind by
	// a test binary that was itself killed before its cleanup ran.
	dockerExpiry = 15 * 60
)

// server is a PostgreSQL server shared by a test binary (see Main).
var shared struct {
	mu       sync.Mutex
	enabled  bool // Main is wrapping this test binary
	base     string
	err      error
	started  bool
	resource *dockertest.Resource
	pool     *dockertest.Pool
}

// Main runs the package's tests and then purges a Docker PostgreSQL
// container that PostgresDSN started for them. Without it each PostgresDSN
// call that needs Docker starts (and t.Cleanup purges) its own container.
//
//	func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.enabled = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.resource != nil {
		if err := shared.pool.Purge(shared.resource); err != nil {
			fmt.Fprintf(os.Stderr, "dbtest: purge postgres container: %v\n", err)
		}
		shared.resource = nil
	}
	return code
}

// PostgresDSN returns the DSN of a new, empty PostgreSQL database that is
// dropped (WITH (FORCE)) when the test ends. The server comes from
// FLX_TEST_POSTGRES or else from a Docker container; with neither the test
// is skipped, or fails when FLX_REQUIRE_POSTGRES=1.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := serverDSN(t)
	name := databaseName()
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatalf("dbtest: open %s: %v", redact(base), err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("dbtest: create database %s on %s: %v", name, redact(base), err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("postgres", base)
		if err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(base, name)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return dsn
}

// SQLitePath returns the path of a SQLite database file (not yet created) in
// a directory removed when the test ends. Open it as "sqlite:" + path.
func SQLitePath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "flx.db")
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
	base, pool, res, err := startContainer()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if err := pool.Purge(res); err != nil {
			t.Errorf("dbtest: purge postgres container: %v", err)
		}
	})
	return base
}

func sharedContainer(t testing.TB) string {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.started {
		shared.started = true
		shared.base, shared.pool, shared.resource, shared.err = startContainer()
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

// startContainer starts PostgreSQL in Docker and waits until it answers.
func startContainer() (string, *dockertest.Pool, *dockertest.Resource, error) {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return "", nil, nil, fmt.Errorf("docker: %w", err)
	}
	if err := pool.Client.Ping(); err != nil {
		return "", nil, nil, fmt.Errorf("docker engine not reachable: %w", err)
	}
	res, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: dockerImage,
		Tag:        dockerTag,
		Env:        []string{"POSTGRES_PASSWORD=flx", "POSTGRES_USER=flx", "POSTGRES_DB=postgres"},
		Cmd:        []string{"postgres", "-c", "fsync=off", "-c", "max_connections=200"},
	}, func(hc *docker.HostConfig) {
		hc.AutoRemove = true
		hc.RestartPolicy = docker.RestartPolicy{Name: "no"}
	})
	if err != nil {
		return "", nil, nil, fmt.Errorf("docker run %s:%s: %w", dockerImage, dockerTag, err)
	}
	_ = res.Expire(dockerExpiry)
	base := fmt.Sprintf("postgres://flx:flx@%s/postgres?sslmode=disable", res.GetHostPort("5432/tcp"))
	pool.MaxWait = 90 * time.Second
	err = pool.Retry(func() error {
		db, err := sql.Open("postgres", base)
		if err != nil {
			return err
		}
		defer db.Close()
		return db.Ping()
	})
	if err != nil {
		_ = pool.Purge(res)
		return "", nil, nil, fmt.Errorf("postgres container did not become ready: %w", err)
	}
	return base, pool, res, nil
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
