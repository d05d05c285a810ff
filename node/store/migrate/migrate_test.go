package migrate_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite"

	"github.com/familylinks/flx/node/store/migrate"
)

func files(m map[string]string) fstest.MapFS {
	fs := fstest.MapFS{}
	for name, sql := range m {
		fs["m/"+name] = &fstest.MapFile{Data: []byte(sql)}
	}
	return fs
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    string
		wantErr bool
	}{
		{"ordered by version", map[string]string{"0010_c.sql": "c", "0002_b.sql": "b", "0001_a.sql": "a", "README.md": "x"},
			"[1:0001_a.sql 2:0002_b.sql 10:0010_c.sql]", false},
		{"version only", map[string]string{"7.sql": "x"}, "[7:7.sql]", false},
		{"duplicate version", map[string]string{"0001_a.sql": "a", "1_b.sql": "b"}, "", true},
		{"no version", map[string]string{"init.sql": "a"}, "", true},
		{"zero version", map[string]string{"0000_init.sql": "a"}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			migs, err := migrate.Load(files(tc.files), "m")
			if (err != nil) != tc.wantErr {
				t.Fatalf("Load: %v", err)
			}
			var got []string
			for _, m := range migs {
				got = append(got, fmt.Sprintf("%d:%s", m.Version, m.Name))
			}
			if err == nil && fmt.Sprint(got) != tc.want {
				t.Fatalf("Load = %v, want %s", got, tc.want)
			}
		})
	}
}

func TestUp(t *testing.T) {
	db := sqlx.MustOpen("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db"))
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	v1 := map[string]string{
		"0001_a.sql": "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);",
		"0002_b.sql": "CREATE TABLE b (y TEXT);",
	}
	load := func(m map[string]string) []migrate.Migration {
		t.Helper()
		migs, err := migrate.Load(files(m), "m")
		if err != nil {
			t.Fatal(err)
		}
		return migs
	}
	v2 := map[string]string{"0003_c.sql": "ALTER TABLE b ADD COLUMN z TEXT;"}
	for k, v := range v1 {
		v2[k] = v
	}
	broken := map[string]string{"0004_d.sql": "CREATE TABLE d (x INTEGER); THIS IS NOT SQL;"}
	for k, v := range v2 {
		broken[k] = v
	}
	tests := []struct {
		name    string
		migs    []migrate.Migration
		want    string
		wantErr error
	}{
		{"fresh database", load(v1), "[1 2]", nil},
		{"again: nothing", load(v1), "[]", nil},
		{"one more", load(v2), "[3]", nil},
		{"failing migration applies nothing", load(broken), "[]", errors.New("any")},
		{"older binary", load(v1), "[]", migrate.ErrTooNew},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			applied, err := migrate.Up(ctx, db, tc.migs, migrate.Options{})
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Up: %v", err)
			case tc.wantErr != nil && err == nil:
				t.Fatal("Up succeeded, want an error")
			case errors.Is(tc.wantErr, migrate.ErrTooNew) && !errors.Is(err, migrate.ErrTooNew):
				t.Fatalf("Up: %v, want ErrTooNew", err)
			}
			if got := fmt.Sprint(applied); got != "[]" && got != tc.want || got == "[]" && tc.want != "[]" {
				t.Fatalf("applied %v, want %s", applied, tc.want)
			}
		})
	}
	var n int
	if err := db.Get(&n, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'd'`); err != nil || n != 0 {
		t.Fatalf("table of the failed migration exists (%d, %v)", n, err)
	}
	if err := db.Get(&n, `SELECT COUNT(*) FROM a`); err != nil || n != 1 {
		t.Fatalf("migration 1 ran %d times (%v)", n, err)
	}
}
