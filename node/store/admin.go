package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"regexp"
)

var dbNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CreatePostgresDatabase creates database name on the PostgreSQL server of
// serverDSN (a DSN whose user may CREATE DATABASE) and returns the DSN of
// the new database and a function that drops it (WITH (FORCE)). It is for
// benchmarks and tools that need a throwaway database; nodes are given
// their DSN by the operator.
func CreatePostgresDatabase(ctx context.Context, serverDSN, name string) (dsn string, drop func(context.Context) error, err error) {
	if !dbNameRE.MatchString(name) {
		return "", nil, fmt.Errorf("store.CreatePostgresDatabase: bad database name %q: %w", name, ErrInvalid)
	}
	u, err := url.Parse(serverDSN)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("store.CreatePostgresDatabase: want a postgres:// DSN: %w", ErrInvalid)
	}
	admin, err := sql.Open("postgres", serverDSN)
	if err != nil {
		return "", nil, fmt.Errorf("store.CreatePostgresDatabase: %w", err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("store.CreatePostgresDatabase: %w", err)
	}
	drop = func(ctx context.Context) error {
		db, err := sql.Open("postgres", serverDSN)
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return err
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}
