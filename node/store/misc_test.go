package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/familylinks/flx/node/internal/dbtest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/node/store/migrate"
)

func TestManifests(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		_, err := b.s.LatestManifest(ctx)
		mustErr(t, err, store.ErrNotFound)
		m := func(v int64, raw string) store.Manifest { return store.Manifest{Version: v, Raw: []byte(raw)} }
		tests := []struct {
			name string
			m    store.Manifest
			want error
		}{
			{"first", m(3, "manifest-v3"), nil},
			{"newer", m(5, "manifest-v5"), nil},
			{"same again", m(5, "manifest-v5"), store.ErrDuplicate},
			{"same version, other bytes", m(5, "manifest-v5-forged"), store.ErrConflict},
			{"rollback", m(4, "manifest-v4"), store.ErrConflict},
			{"older held version", m(3, "manifest-v3"), store.ErrDuplicate},
			{"wrong sha256", store.Manifest{Version: 6, Raw: []byte("manifest-v6"), SHA256: sha([]byte("x"))}, store.ErrInvalid},
			{"right sha256", store.Manifest{Version: 6, Raw: []byte("manifest-v6"), SHA256: sha([]byte("manifest-v6"))}, nil},
			{"no version", m(0, "x"), store.ErrInvalid},
			{"no bytes", m(7, ""), store.ErrInvalid},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) { mustErr(t, b.s.SaveManifest(ctx, tc.m), tc.want) })
		}
		latest := must[store.Manifest](t)(b.s.LatestManifest(ctx))
		if latest.Version != 6 || string(latest.Raw) != "manifest-v6" || latest.SHA256 != sha([]byte("manifest-v6")) || latest.FetchedAt.IsZero() {
			t.Fatalf("latest = %+v", latest)
		}
		list := must[[]store.Manifest](t)(b.s.ListManifests(ctx, 2))
		if len(list) != 2 || list[0].Version != 6 || list[1].Version != 5 || list[0].Raw != nil {
			t.Fatalf("ListManifests = %+v", list)
		}
	})
}

func TestDecisions(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		// Kept byte for byte, whitespace and key order included.
		doc := json.RawMessage("{\"effect\": \"allow_with_redactions\",\n \"redactions\": [\"/persons/0/contact\"], \"reasons\":[{\"rule\":\"refusal\"}]}")
		d := must[store.Decision](t)(b.s.RecordDecision(ctx, store.Decision{CaseID: "XA-RC:0001", Destination: memberB,
			Effect: "allow_with_redactions", Decision: doc}))
		must[store.Decision](t)(b.s.RecordDecision(ctx, store.Decision{CaseID: "XA-RC:0001", Destination: memberC,
			Effect: "deny", Decision: json.RawMessage(`{"effect":"deny"}`)}))
		got := must[[]store.Decision](t)(b.s.ListDecisions(ctx, "XA-RC:0001"))
		if len(got) != 2 || got[0].ID != d.ID || !bytes.Equal(got[0].Decision, doc) || got[1].Effect != "deny" || got[0].CreatedAt.IsZero() {
			t.Fatalf("ListDecisions = %+v", got)
		}
		tests := []struct {
			name string
			d    store.Decision
		}{
			{"not JSON", store.Decision{Destination: memberB, Effect: "allow", Decision: json.RawMessage(`{`)}},
			{"no effect", store.Decision{Destination: memberB, Decision: json.RawMessage(`{}`)}},
			{"no destination", store.Decision{Effect: "allow", Decision: json.RawMessage(`{}`)}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := b.s.RecordDecision(ctx, tc.d)
				mustErr(t, err, store.ErrInvalid)
			})
		}
	})
}

// Re-opening applies nothing twice; concurrent Opens of a fresh database
// (two processes starting at once) both succeed; a database migrated by a
// newer binary is refused.
func TestMigrations(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		if b.dialect == store.SQLite {
			var mode string
			if err := b.raw.GetContext(t.Context(), &mode, `PRAGMA journal_mode`); err != nil || mode != "wal" {
				t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
			}
		}
		want := b.count(t, `SELECT COUNT(*) FROM schema_migrations`)
		if want == 0 {
			t.Fatal("no migrations recorded")
		}
		for range 2 {
			b.open(t)
		}
		if got := b.count(t, `SELECT COUNT(*) FROM schema_migrations`); got != want {
			t.Fatalf("schema_migrations rows %d -> %d after re-open", want, got)
		}
		must[store.Case](t)(b.s.CreateCase(t.Context(), newCase("XA-RC:0001")))
		if _, err := b.open(t).GetCase(t.Context(), "XA-RC:0001"); err != nil {
			t.Fatalf("data lost across re-open: %v", err)
		}

		t.Run("concurrent first open", func(t *testing.T) {
			fresh := &backend{dialect: b.dialect, clock: newClock()}
			if b.dialect == store.SQLite {
				fresh.dsn = "sqlite:" + dbtest.SQLitePath(t)
			} else {
				fresh.dsn = dbtest.PostgresDSN(t)
			}
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Go(func() {
					s, err := store.Open(t.Context(), fresh.dsn)
					if err == nil {
						s.Close()
					}
					errs[i] = err
				})
			}
			wg.Wait()
			for _, err := range errs {
				mustErr(t, err, nil)
			}
		})

		t.Run("newer database", func(t *testing.T) {
			b.exec(t, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 'x')`)
			_, err := store.Open(t.Context(), b.dsn)
			if !errors.Is(err, migrate.ErrTooNew) {
				t.Fatalf("Open = %v, want ErrTooNew", err)
			}
		})
	})
}

func TestOpenDSN(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		dsn  string
		want error
	}{
		{"sqlite: path", "sqlite:" + filepath.Join(dir, "a.db"), nil},
		{"sqlite:// URL", "sqlite://" + filepath.Join(dir, "b.db"), nil},
		{"file: URI", "file:" + filepath.Join(dir, "c.db") + "?cache=private", nil},
		{"path with URI characters", "sqlite:" + filepath.Join(dir, "d #1 ?%.db"), nil},
		{"in-memory", "sqlite::memory:", store.ErrInvalid},
		{"in-memory URI", "file:x?mode=memory", store.ErrInvalid},
		{"no path", "sqlite:", store.ErrInvalid},
		{"unknown scheme", "mysql://x", store.ErrInvalid},
		{"postgres without sslmode", "postgres://postgres@127.0.0.1:5432/postgres", store.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := store.Open(t.Context(), tc.dsn)
			mustErr(t, err, tc.want)
			if err != nil {
				return
			}
			defer s.Close()
			if s.Dialect() != store.SQLite {
				t.Fatalf("dialect = %s", s.Dialect())
			}
			mustErr(t, s.Ping(t.Context()), nil)
			must[store.Case](t)(s.CreateCase(t.Context(), newCase("XA-RC:0001")))
		})
	}
	// The odd path was used literally, not read as URI syntax.
	if _, err := os.Stat(filepath.Join(dir, "d #1 ?%.db")); err != nil {
		t.Fatal(err)
	}
}

// TestPayloadStorage: envelopes and documents over the TOAST threshold read
// back byte for byte; on PostgreSQL documents are compressed with lz4, not
// pglz (migration 0023); a received envelope whose row is over half a page
// is compressed with lz4 in its row (migration 0055), this one (9 KB) into
// it, and so is a queued envelope over the TOAST threshold (migration
// 0058; 0023 to 0057 kept it uncompressed).
func TestPayloadStorage(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		big := bytes.Repeat([]byte("eyJhbGciOiJFZERTQSJ9.payload-"), 300) // about 9 KB, compressible
		in := queue(memberB, "XA-RC:LZ4", "case.create", "lz4-out")
		in.Envelope = big
		o := enqueue(t, b.s, in)
		if got := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, o.ID)); !bytes.Equal(got.Envelope, big) {
			t.Fatalf("outbox envelope read back %d bytes, want %d", len(got.Envelope), len(big))
		}
		item := envelope("lz4-in", "XB-RC:LZ4", "a")
		item.Envelope = big
		must[store.ReceiveResult](t)(b.s.Receive(ctx, item, receipt("lz4-in")))
		if got := must[store.InboxItem](t)(b.s.GetInboxByJTI(ctx, "lz4-in")); !bytes.Equal(got.Envelope, big) {
			t.Fatalf("inbox envelope read back %d bytes, want %d", len(got.Envelope), len(big))
		}
		doc := []byte(`{"note":"` + string(bytes.Repeat([]byte("family news "), 400)) + `"}`)
		if _, err := b.s.CreateCase(ctx, store.NewCase{ID: "XB-RC:LZ4", Origin: memberB, Type: "tracing_request", Status: "open", Document: doc}); err != nil {
			t.Fatal(err)
		}
		if got := must[store.Case](t)(b.s.GetCase(ctx, "XB-RC:LZ4")); !bytes.Equal(got.Document, doc) {
			t.Fatalf("document read back %d bytes, want %d", len(got.Document), len(doc))
		}
		// Version 1's document goes to its own row when the case is updated.
		if _, err := b.s.UpdateCase(ctx, store.CaseUpdate{ID: "XB-RC:LZ4", ExpectedVersion: 1, Document: append([]byte(nil), doc...)}); err != nil {
			t.Fatal(err)
		}
		if b.dialect != store.Postgres {
			return
		}
		for _, tc := range []struct{ query, want string }{
			{`SELECT COALESCE(pg_column_compression(e.envelope), 'none') FROM outbox_envelopes e JOIN outbox o USING (id) WHERE o.jti = 'lz4-out'`, "lz4"},
			{`SELECT COALESCE(pg_column_compression(envelope), 'none') FROM inbox WHERE jti = 'lz4-in'`, "lz4"},
			{`SELECT pg_column_compression(document) FROM cases WHERE case_id = 'XB-RC:LZ4'`, "lz4"},
			{`SELECT pg_column_compression(document) FROM case_versions WHERE case_id = 'XB-RC:LZ4' AND version = 1`, "lz4"},
		} {
			var got string
			if err := b.raw.GetContext(ctx, &got, tc.query); err != nil {
				t.Fatalf("%s: %v", tc.query, err)
			}
			if got != tc.want {
				t.Errorf("%s = %q, want %q", tc.query, got, tc.want)
			}
		}
	})
}
