package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/familylinks/flx/node/internal/dbtest"
	"github.com/familylinks/flx/node/store"
)

func TestCreatePostgresDatabase(t *testing.T) {
	ctx := context.Background()
	server := dbtest.PostgresDSN(t) // a reachable server (and a database we may connect to)
	name := fmt.Sprintf("flx_admin_test_%d", time.Now().UnixNano())
	dsn, drop, err := store.CreatePostgresDatabase(ctx, server, name)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		drop(ctx)
		t.Fatalf("open the created database: %v", err)
	}
	st.Close()
	if err := drop(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := store.Open(ctx, dsn); err == nil {
		st.Close()
		t.Fatal("database still there after drop")
	}
	for _, bad := range []string{"", "Robert'); DROP TABLE x;--", "a b", "1abc"} {
		if _, _, err := store.CreatePostgresDatabase(ctx, server, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("name %q: err = %v, want ErrInvalid", bad, err)
		}
	}
	if _, _, err := store.CreatePostgresDatabase(ctx, "sqlite:/tmp/x", "ok_name"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("sqlite DSN: err = %v", err)
	}
}
