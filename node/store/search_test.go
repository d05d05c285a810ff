package store_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/familylinks/flx/node/internal/dbtest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/node/store/migrate"
)

func ids(cs []store.Case) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// TestSearchCases: key groups (AND of ORs), key ranges, column filters,
// every sort with keyset paging, index kept in step with updates and
// emptied by erasure.
func TestSearchCases(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		mk := func(id, status, typ string, keys ...string) {
			c := newCase(id)
			c.Status, c.Type, c.SearchKeys = status, typ, keys
			must[store.Case](t)(b.s.CreateCase(ctx, c))
		}
		mk("XA-RC:1", "open", "tracing_request", "t_karo", "p_uvanasian", "by_1984", "by_1984")
		mk("XA-RC:2", "open", "tracing_request", "t_karo", "p_uvanisian", "by_1990")
		mk("XA-RC:3", "located_contact_restored", "tracing_request", "t_anahit", "p_uvanasian", "by_1962")
		mk("XA-RC:4", "open", "detention_notification", "t_karo", "by_1984")

		search := func(q store.CaseQuery) []string {
			t.Helper()
			return ids(must[store.CasePage](t)(b.s.SearchCases(ctx, q)).Cases)
		}
		for _, tc := range []struct {
			name string
			q    store.CaseQuery
			want []string
		}{
			{"one group", store.CaseQuery{AllOf: [][]string{{"t_karo"}}, Sort: store.SortIDAsc}, []string{"XA-RC:1", "XA-RC:2", "XA-RC:4"}},
			{"or within a group", store.CaseQuery{AllOf: [][]string{{"p_uvanasian", "p_uvanisian"}}, Sort: store.SortIDAsc}, []string{"XA-RC:1", "XA-RC:2", "XA-RC:3"}},
			{"and across groups", store.CaseQuery{AllOf: [][]string{{"t_karo"}, {"p_uvanasian", "p_uvanisian"}}, Sort: store.SortIDAsc}, []string{"XA-RC:1", "XA-RC:2"}},
			{"range", store.CaseQuery{Ranges: []store.KeyRange{{"by_1980", "by_1989"}}, Sort: store.SortIDAsc}, []string{"XA-RC:1", "XA-RC:4"}},
			{"status", store.CaseQuery{AllOf: [][]string{{"p_uvanasian"}}, Status: []string{"located_contact_restored"}}, []string{"XA-RC:3"}},
			{"type", store.CaseQuery{AllOf: [][]string{{"t_karo"}}, Type: []string{"detention_notification"}}, []string{"XA-RC:4"}},
			{"origin", store.CaseQuery{Origin: "XB-RC"}, nil},
			{"no match", store.CaseQuery{AllOf: [][]string{{"t_nobody"}}}, nil},
			{"newest first by default", store.CaseQuery{AllOf: [][]string{{"t_karo"}}}, []string{"XA-RC:4", "XA-RC:2", "XA-RC:1"}},
			{"oldest first", store.CaseQuery{AllOf: [][]string{{"t_karo"}}, Sort: store.SortCreatedAsc}, []string{"XA-RC:1", "XA-RC:2", "XA-RC:4"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := search(tc.q); !slices.Equal(got, tc.want) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			})
		}

		// Every sort pages through all matches, once each, in order.
		for _, s := range store.Sorts {
			var all []string
			q := store.CaseQuery{Sort: s, Limit: 1}
			for i := 0; ; i++ {
				p := must[store.CasePage](t)(b.s.SearchCases(ctx, q))
				all = append(all, ids(p.Cases)...)
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
				if i > 10 {
					t.Fatal("paging does not end")
				}
			}
			if len(all) != 4 {
				t.Fatalf("sort %s: paged %v", s, all)
			}
			// A cursor of one sort is refused by another.
			if s != store.SortIDAsc {
				p := must[store.CasePage](t)(b.s.SearchCases(ctx, store.CaseQuery{Sort: s, Limit: 1}))
				_, err := b.s.SearchCases(ctx, store.CaseQuery{Sort: store.SortIDAsc, Cursor: p.Next})
				mustErr(t, err, store.ErrInvalid)
			}
		}
		for _, bad := range []store.CaseQuery{
			{Sort: "name"},
			{Cursor: "!!"},
			{AllOf: [][]string{{}}},
			{Ranges: []store.KeyRange{{"by_2000", "by_1990"}}},
		} {
			_, err := b.s.SearchCases(ctx, bad)
			mustErr(t, err, store.ErrInvalid)
		}

		// An update replaces the keys; erasure removes them.
		cur := must[store.Case](t)(b.s.GetCase(ctx, "XA-RC:2"))
		must[store.Case](t)(b.s.UpdateCase(ctx, store.CaseUpdate{ID: cur.ID, ExpectedVersion: cur.Version, Document: caseDoc(cur.ID, 2, ""),
			SearchKeys: []string{"t_garo"}, Source: "inbox:jti-1"}))
		if got := search(store.CaseQuery{AllOf: [][]string{{"t_karo"}}, Sort: store.SortIDAsc}); !slices.Equal(got, []string{"XA-RC:1", "XA-RC:4"}) {
			t.Fatalf("after update: %v", got)
		}
		v := must[store.CaseVersion](t)(b.s.GetCaseVersion(ctx, "XA-RC:2", 2))
		if v.Source != "inbox:jti-1" {
			t.Fatalf("version source %q", v.Source)
		}
		must[store.ErasureResult](t)(b.s.EraseCase(ctx, "XA-RC:1", store.Erasure{Reason: "erasure_request"}))
		if got := search(store.CaseQuery{Ranges: []store.KeyRange{{"by_1984", "by_1984"}}}); !slices.Equal(got, []string{"XA-RC:4"}) {
			t.Fatalf("after erasure: %v", got)
		}
		if got := indexed(t, b, "XA-RC:1"); got != nil {
			t.Fatalf("erased case keeps keys %v", got)
		}
		mustErr(t, b.s.ReplaceSearchKeys(ctx, "XA-RC:1", []string{"t_karo"}), store.ErrErased)
		mustErr(t, b.s.ReplaceSearchKeys(ctx, "XA-RC:none", []string{"t_karo"}), store.ErrNotFound)
		mustErr(t, b.s.ReplaceSearchKeys(ctx, "XA-RC:3", []string{"t_karo"}), nil)
		if got := search(store.CaseQuery{AllOf: [][]string{{"t_karo"}}, Sort: store.SortIDAsc}); !slices.Equal(got, []string{"XA-RC:3", "XA-RC:4"}) {
			t.Fatalf("after replace: %v", got)
		}

		if v := must[int](t)(b.s.SearchIndexVersion(ctx)); v != 0 {
			t.Fatalf("fresh index version %d", v)
		}
		mustErr(t, b.s.SetSearchIndexVersion(ctx, 2), nil)
		mustErr(t, b.s.SetSearchIndexVersion(ctx, 3), nil)
		if v := must[int](t)(b.s.SearchIndexVersion(ctx)); v != 3 {
			t.Fatalf("index version %d", v)
		}
	})
}

// TestCreateCases: a bulk insert creates what is new, skips what exists
// (a re-run creates nothing twice), and writes nothing when one case is
// invalid.
func TestCreateCases(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		must[store.Case](t)(b.s.CreateCase(ctx, newCase("XA-RC:0003")))
		var batch []store.NewCase
		for i := range 450 {
			c := newCase(fmt.Sprintf("XA-RC:%04d", i))
			c.SearchKeys = []string{"t_bulk", fmt.Sprintf("t_n%d", i)}
			c.Document = caseDoc(c.ID, 1, "bulk")
			batch = append(batch, c)
		}
		res := must[store.BulkResult](t)(b.s.CreateCases(ctx, batch))
		if len(res.Created) != 449 || !slices.Equal(res.Existing, []string{"XA-RC:0003"}) {
			t.Fatalf("created %d, existing %v", len(res.Created), res.Existing)
		}
		// The case held already is left as it was: no second first
		// version, its document unchanged.
		if vs := must[[]store.CaseVersion](t)(b.s.ListCaseVersions(ctx, "XA-RC:0003")); len(vs) != 1 {
			t.Fatalf("held case has %d versions", len(vs))
		}
		if got := must[store.Case](t)(b.s.GetCase(ctx, "XA-RC:0003")); !bytes.Equal(got.Document, newCase("XA-RC:0003").Document) {
			t.Fatalf("held case's document replaced: %s", got.Document)
		}
		res = must[store.BulkResult](t)(b.s.CreateCases(ctx, batch))
		if len(res.Created) != 0 || len(res.Existing) != 450 {
			t.Fatalf("re-run created %d, existing %d", len(res.Created), len(res.Existing))
		}
		p := must[store.CasePage](t)(b.s.SearchCases(ctx, store.CaseQuery{AllOf: [][]string{{"t_bulk"}}, Limit: 1000}))
		if len(p.Cases) != 449 {
			t.Fatalf("search finds %d bulk cases", len(p.Cases))
		}
		if vs := must[[]store.CaseVersion](t)(b.s.ListCaseVersions(ctx, "XA-RC:0449")); len(vs) != 1 || vs[0].Version != 1 {
			t.Fatalf("versions %+v", vs)
		}

		bad := []store.NewCase{newCase("XA-RC:9001"), newCase("XA-RC:9002")}
		bad[1].Document = nil
		_, err := b.s.CreateCases(ctx, bad)
		mustErr(t, err, store.ErrInvalid)
		twice := []store.NewCase{newCase("XA-RC:9001"), newCase("XA-RC:9001")}
		_, err = b.s.CreateCases(ctx, twice)
		mustErr(t, err, store.ErrInvalid)
		_, err = b.s.GetCase(ctx, "XA-RC:9001")
		mustErr(t, err, store.ErrNotFound)

		// All or nothing inside a transaction that fails later.
		err = b.s.Tx(ctx, func(tx store.Tx) error {
			if _, err := tx.CreateCases(ctx, []store.NewCase{newCase("XA-RC:9003")}); err != nil {
				return err
			}
			return fmt.Errorf("later step failed")
		})
		if err == nil {
			t.Fatal("Tx error lost")
		}
		_, err = b.s.GetCase(ctx, "XA-RC:9003")
		mustErr(t, err, store.ErrNotFound)
	})
}

// TestSearchDenseKeys: when every condition is dense (more index entries
// than the store materializes), the search walks the cases in order and
// still answers every condition.
func TestSearchDenseKeys(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		var batch []store.NewCase
		for i := range 5100 {
			c := newCase(fmt.Sprintf("XA-RC:D%05d", i))
			c.SearchKeys = []string{"w_common", fmt.Sprintf("by_%04d", 1900+i%100)}
			if i%2 == 0 {
				c.Status = "tracing_in_progress"
			}
			batch = append(batch, c)
		}
		must[store.BulkResult](t)(b.s.CreateCases(ctx, batch))
		p := must[store.CasePage](t)(b.s.SearchCases(ctx, store.CaseQuery{AllOf: [][]string{{"w_common"}},
			Ranges: []store.KeyRange{{"by_1910", "by_1911"}}, Status: []string{"open"}, Sort: store.SortIDAsc, Limit: 1000}))
		// i%100 in {10, 11} and i odd (open): i%100 == 11, 51 cases.
		if len(p.Cases) != 51 || p.Cases[0].ID != "XA-RC:D00011" {
			t.Fatalf("%d cases, first %+v", len(p.Cases), p.Cases[:min(1, len(p.Cases))])
		}
	})
}

// indexed returns the keys the full-text index holds for a case, read from
// the index itself: the tsvector under the GIN index (PostgreSQL), the FTS5
// table's own tokens (SQLite: fts5vocab over case_fts).
func indexed(t *testing.T, b *backend, caseID string) []string {
	t.Helper()
	var keys []string
	var err error
	switch b.dialect {
	case store.Postgres:
		err = b.raw.Select(&keys, `SELECT u.lexeme FROM cases c, unnest(c.search_keys) u WHERE c.case_id = $1 ORDER BY 1`, caseID)
	default:
		if _, err = b.raw.Exec(`CREATE VIRTUAL TABLE IF NOT EXISTS temp.case_fts_terms USING fts5vocab(main, case_fts, instance)`); err != nil {
			t.Fatalf("fts5vocab: %v", err)
		}
		err = b.raw.Select(&keys, `SELECT v.term FROM temp.case_fts_terms v JOIN case_search_docs d ON d.id = v.doc
			WHERE d.case_id = ? ORDER BY 1`, caseID)
		// A row without docs left in the FTS index would show as a term of
		// no case: count them too.
		var orphans int
		if err == nil {
			err = b.raw.Get(&orphans, `SELECT count(*) FROM temp.case_fts_terms v WHERE v.doc NOT IN (SELECT id FROM case_search_docs)`)
		}
		if orphans != 0 {
			t.Fatalf("%d index entries of no case", orphans)
		}
	}
	if err != nil {
		t.Fatalf("index of %s: %v", caseID, err)
	}
	return keys
}

// TestSearchIndexFollowsWrites: the full-text index itself (not only the
// search answers) holds the keys of every write, single or bulk, replaces
// them on update and rebuild, and holds nothing of an erased case; keys the
// index cannot hold are refused.
func TestSearchIndexFollowsWrites(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		c := newCase("XA-RC:1")
		c.SearchKeys = []string{"t_karo", "by_1984", "bd_1984-05", "t_karo", ""}
		must[store.Case](t)(b.s.CreateCase(ctx, c))
		bulk := newCase("XA-RC:2")
		bulk.SearchKeys = []string{"w_crossing", "pl_xb"}
		must[store.BulkResult](t)(b.s.CreateCases(ctx, []store.NewCase{bulk}))
		for _, tc := range []struct {
			id   string
			want []string
		}{
			{"XA-RC:1", []string{"bd_1984-05", "by_1984", "t_karo"}},
			{"XA-RC:2", []string{"pl_xb", "w_crossing"}},
		} {
			if got := indexed(t, b, tc.id); !slices.Equal(got, tc.want) {
				t.Fatalf("%s indexed %v, want %v", tc.id, got, tc.want)
			}
		}
		cur := must[store.Case](t)(b.s.GetCase(ctx, "XA-RC:1"))
		must[store.Case](t)(b.s.UpdateCase(ctx, store.CaseUpdate{ID: cur.ID, ExpectedVersion: cur.Version, Document: caseDoc(cur.ID, 2, ""),
			SearchKeys: []string{"t_garo"}}))
		if got := indexed(t, b, "XA-RC:1"); !slices.Equal(got, []string{"t_garo"}) {
			t.Fatalf("after update: %v", got)
		}
		mustErr(t, b.s.ReplaceSearchKeys(ctx, "XA-RC:2", []string{"w_bridge"}), nil)
		if got := indexed(t, b, "XA-RC:2"); !slices.Equal(got, []string{"w_bridge"}) {
			t.Fatalf("after rebuild: %v", got)
		}
		for _, id := range []string{"XA-RC:1", "XA-RC:2"} {
			must[store.ErasureResult](t)(b.s.EraseCase(ctx, id, store.Erasure{Reason: "erasure_request"}))
			if got := indexed(t, b, id); got != nil {
				t.Fatalf("erased %s keeps %v", id, got)
			}
		}
		for _, k := range []string{"T_karo", "t karo", `t_"x`, "t_ü", strings.Repeat("a", 201)} {
			bad := newCase("XA-RC:bad")
			bad.SearchKeys = []string{k}
			_, err := b.s.CreateCase(ctx, bad)
			mustErr(t, err, store.ErrInvalid)
			_, err = b.s.CreateCases(ctx, []store.NewCase{bad})
			mustErr(t, err, store.ErrInvalid)
		}
		// A query key the index cannot hold matches nothing.
		p := must[store.CasePage](t)(b.s.SearchCases(ctx, store.CaseQuery{AllOf: [][]string{{"T_KARO", `"`}}}))
		if len(p.Cases) != 0 {
			t.Fatalf("found %v", ids(p.Cases))
		}
	})
}

// TestSearchIndexMigration: a database an older FLX left, with keys in the
// former case_search table (one case erased since), gets them in the
// full-text index when migration 0017 runs; the erased case gets none.
func TestSearchIndexMigration(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			b := migratedBefore(t, d, 17)
			for i, id := range []string{"XA-RC:1", "XA-RC:2"} {
				b.exec(t, `INSERT INTO cases (case_id, origin, type, status, version, document, created_at, updated_at)
					VALUES (?, 'XA-RC', 'tracing_request', 'open', 1, ?, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')`,
					id, caseDoc(id, 1, ""))
				for _, k := range []string{"t_karo", fmt.Sprintf("by_198%d", i)} {
					b.exec(t, `INSERT INTO case_search (key, case_id) VALUES (?, ?)`, k, id)
				}
			}
			b.exec(t, `UPDATE cases SET erased_at = '2026-01-02T00:00:00.000000Z', document = NULL WHERE case_id = 'XA-RC:2'`)
			b.s = b.open(t) // applies 0017
			if got := indexed(t, b, "XA-RC:1"); !slices.Equal(got, []string{"by_1980", "t_karo"}) {
				t.Fatalf("migrated keys %v", got)
			}
			if got := indexed(t, b, "XA-RC:2"); got != nil {
				t.Fatalf("erased case has keys %v", got)
			}
			p := must[store.CasePage](t)(b.s.SearchCases(ctx, store.CaseQuery{AllOf: [][]string{{"t_karo"}}}))
			if !slices.Equal(ids(p.Cases), []string{"XA-RC:1"}) {
				t.Fatalf("found %v", ids(p.Cases))
			}
		})
	}
}

// migratedBefore is a new database of dialect d with the migrations before
// version applied (a database an older FLX left), and b.raw open on it.
func migratedBefore(t *testing.T, d store.Dialect, version int) *backend {
	t.Helper()
	b := &backend{dialect: d, clock: newClock()}
	driver, raw := "postgres", ""
	if d == store.SQLite {
		b.path = dbtest.SQLitePath(t)
		b.dsn, driver, raw = "sqlite:"+b.path, "sqlite", "file:"+b.path+"?_pragma=busy_timeout(10000)"
	} else {
		b.dsn = dbtest.PostgresDSN(t)
		raw = b.dsn
	}
	db, err := sqlx.Open(driver, raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b.raw = db
	old, err := store.MigrationsBefore(d, version)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Up(context.Background(), db, old, migrate.Options{}); err != nil {
		t.Fatal(err)
	}
	return b
}
