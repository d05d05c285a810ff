package media

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
)

// migratePostgres creates the media tables in db from the node's own store
// migration (read as a file: this package never imports node/store), so the
// store tested here is the store the node runs on.
func migratePostgres(t testing.TB, db *sql.DB) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "store", "migrations", "postgres", "0007_media.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(b)); err != nil {
		t.Fatalf("media migration: %v", err)
	}
}
