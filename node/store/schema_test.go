package store_test

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// column is a column as both dialects can describe it.
type column struct {
	class   string // text, int, bytes (SQLite's storage classes; see classOf)
	notNull bool
}

// index is an index reduced to what must match between dialects.
type index struct {
	columns string // comma-separated, in order
	unique  bool
	partial bool
}

// schema is a database's tables, their columns and their indexes. Indexes
// are keyed by name, except those that back a PRIMARY KEY or UNIQUE
// constraint, whose names differ by dialect: those are keyed by
// "unique(columns)".
type schema map[string]table

type table struct {
	columns map[string]column
	indexes map[string]index
}

// classOf maps a declared type to what SQLite stores it as: a PostgreSQL
// TIMESTAMPTZ is TEXT on SQLite, BOOLEAN and BIGINT are INTEGER, BYTEA is
// BLOB.
func classOf(dialect store.Dialect, typ string) string {
	t := strings.ToLower(typ)
	switch {
	case strings.Contains(t, "int"), t == "boolean":
		return "int"
	case t == "bytea", t == "blob":
		return "bytes"
	case t == "text", strings.HasPrefix(t, "timestamp"), strings.HasPrefix(t, "character"):
		return "text"
	}
	return "unknown " + string(dialect) + " type " + typ
}

func (b *backend) schema(t *testing.T) schema {
	t.Helper()
	ctx := t.Context()
	s := schema{}
	for _, name := range b.tables(t) {
		tb := table{columns: map[string]column{}, indexes: map[string]index{}}
		switch b.dialect {
		case store.SQLite:
			var cols []struct {
				CID     int     `db:"cid"`
				Name    string  `db:"name"`
				Type    string  `db:"type"`
				NotNull bool    `db:"notnull"`
				Default *string `db:"dflt_value"`
				PK      int     `db:"pk"`
			}
			if err := b.raw.SelectContext(ctx, &cols, `PRAGMA table_info(`+name+`)`); err != nil {
				t.Fatal(err)
			}
			for _, c := range cols {
				tb.columns[c.Name] = column{class: classOf(b.dialect, c.Type), notNull: c.NotNull || c.PK > 0}
			}
			var idxs []struct {
				Seq     int    `db:"seq"`
				Name    string `db:"name"`
				Unique  bool   `db:"unique"`
				Origin  string `db:"origin"`
				Partial bool   `db:"partial"`
			}
			if err := b.raw.SelectContext(ctx, &idxs, `PRAGMA index_list(`+name+`)`); err != nil {
				t.Fatal(err)
			}
			for _, ix := range idxs {
				var cols []string
				if err := b.raw.SelectContext(ctx, &cols, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, ix.Name); err != nil {
					t.Fatal(err)
				}
				key := ix.Name
				if ix.Origin != "c" { // pk, u: a constraint's index
					key = "unique(" + strings.Join(cols, ",") + ")"
				}
				tb.indexes[key] = index{columns: strings.Join(cols, ","), unique: ix.Unique, partial: ix.Partial}
			}
			// INTEGER PRIMARY KEY is the rowid: no index row lists it.
			pks := 0
			for _, c := range cols {
				if c.PK > 0 {
					pks++
				}
			}
			for _, c := range cols {
				if c.PK == 1 && pks == 1 && strings.EqualFold(c.Type, "INTEGER") {
					tb.indexes["unique("+c.Name+")"] = index{columns: c.Name, unique: true}
				}
			}
		case store.Postgres:
			var cols []struct {
				Name     string `db:"column_name"`
				Type     string `db:"data_type"`
				Nullable string `db:"is_nullable"`
			}
			if err := b.raw.SelectContext(ctx, &cols, `SELECT column_name, data_type, is_nullable FROM information_schema.columns
				WHERE table_schema = 'public' AND table_name = $1`, name); err != nil {
				t.Fatal(err)
			}
			for _, c := range cols {
				tb.columns[c.Name] = column{class: classOf(b.dialect, c.Type), notNull: c.Nullable == "NO"}
			}
			var idxs []struct {
				Name       string `db:"name"`
				Unique     bool   `db:"indisunique"`
				Constraint bool   `db:"is_constraint"`
				Partial    bool   `db:"partial"`
				Columns    string `db:"columns"`
			}
			if err := b.raw.SelectContext(ctx, &idxs, `SELECT c.relname AS name, i.indisunique,
				EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) AS is_constraint,
				i.indpred IS NOT NULL AS partial,
				(SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
					JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) AS columns
				FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class r ON r.oid = i.indrelid
				WHERE r.relname = $1 AND r.relnamespace = 'public'::regnamespace`, name); err != nil {
				t.Fatal(err)
			}
			for _, ix := range idxs {
				key := ix.Name
				if ix.Constraint {
					key = "unique(" + ix.Columns + ")"
				}
				tb.indexes[key] = index{columns: ix.Columns, unique: ix.Unique, partial: ix.Partial}
			}
		}
		s[name] = tb
	}
	return s
}

// diff lists what differs between the schemas of two dialects.
func diff(a, b schema) []string {
	var out []string
	names := map[string]bool{}
	for n := range a {
		names[n] = true
	}
	for n := range b {
		names[n] = true
	}
	for _, n := range slices.Sorted(mapKeys(names)) {
		ta, oka := a[n]
		tb, okb := b[n]
		if !oka || !okb {
			out = append(out, fmt.Sprintf("table %s: in sqlite %t, in postgres %t", n, oka, okb))
			continue
		}
		cols := map[string]bool{}
		for c := range ta.columns {
			cols[c] = true
		}
		for c := range tb.columns {
			cols[c] = true
		}
		for _, c := range slices.Sorted(mapKeys(cols)) {
			if ta.columns[c] != tb.columns[c] {
				out = append(out, fmt.Sprintf("%s.%s: sqlite %+v, postgres %+v", n, c, ta.columns[c], tb.columns[c]))
			}
		}
		idx := map[string]bool{}
		for i := range ta.indexes {
			idx[i] = true
		}
		for i := range tb.indexes {
			idx[i] = true
		}
		for _, i := range slices.Sorted(mapKeys(idx)) {
			xa, oka := ta.indexes[i]
			xb, okb := tb.indexes[i]
			if oka != okb || xa != xb {
				out = append(out, fmt.Sprintf("%s index %s: sqlite %+v (%t), postgres %+v (%t)", n, i, xa, oka, xb, okb))
			}
		}
	}
	return out
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestDialectsHaveEquivalentSchemas: after every migration, SQLite and
// PostgreSQL hold the same tables, columns (storage class and nullability)
// and indexes (columns, uniqueness, partial or not). A migration written
// for one dialect only, or differently, fails here.
func TestDialectsHaveEquivalentSchemas(t *testing.T) {
	lite, pg := newBackend(t, store.SQLite), newBackend(t, store.Postgres)
	a, b := lite.schema(t), pg.schema(t)
	if len(a) < 10 || len(a["outbox"].columns) < 20 || len(a["outbox"].indexes) < 5 || len(b["outbox"].indexes) < 5 {
		t.Fatalf("read %d tables, outbox with %d columns and %d/%d indexes: the test reads too little",
			len(a), len(a["outbox"].columns), len(a["outbox"].indexes), len(b["outbox"].indexes))
	}
	// The full-text search index is built differently on purpose
	// (migration 0017): a tsvector column of cases under a GIN index on
	// PostgreSQL, case_search_docs and an FTS5 table on SQLite. Each must
	// be there; everything else must match.
	for _, n := range []string{"case_search_docs", "case_fts", "case_fts_config", "case_fts_data", "case_fts_docsize", "case_fts_idx"} {
		if _, ok := a[n]; !ok {
			t.Errorf("SQLite has no table %s", n)
		}
		delete(a, n)
	}
	if _, ok := b["cases"].columns["search_keys"]; !ok {
		t.Error("PostgreSQL cases has no search_keys")
	}
	if ix := b["cases"].indexes["cases_search_keys_idx"]; ix.columns != "search_keys" {
		t.Errorf("PostgreSQL cases_search_keys_idx: %+v", ix)
	}
	delete(b["cases"].columns, "search_keys")
	delete(b["cases"].indexes, "cases_search_keys_idx")
	// SQLite keeps the outbox's table-level unique key (destination,
	// case_id, seq), which it cannot drop without rebuilding the table;
	// PostgreSQL dropped it for outbox_case_seq_key (migration 0030).
	if _, ok := a["outbox"].indexes["unique(destination,case_id,seq)"]; !ok {
		t.Error("SQLite outbox has no unique (destination, case_id, seq)")
	}
	delete(a["outbox"].indexes, "unique(destination,case_id,seq)")
	// Likewise the outbox's unique jti, whose index PostgreSQL moved to
	// outbox_envelopes (migration 0049), which has one on both.
	if _, ok := a["outbox"].indexes["unique(jti)"]; !ok {
		t.Error("SQLite outbox has no unique (jti)")
	}
	delete(a["outbox"].indexes, "unique(jti)")
	// Likewise disclosures' unique outbox_id, which PostgreSQL dropped
	// (migration 0040: TestDeliveryIndexEntries).
	if _, ok := a["disclosures"].indexes["unique(outbox_id)"]; !ok {
		t.Error("SQLite disclosures has no unique (outbox_id)")
	}
	delete(a["disclosures"].indexes, "unique(outbox_id)")
	if d := diff(a, b); len(d) > 0 {
		sort.Strings(d)
		t.Errorf("the dialects' schemas differ:\n\t%s", strings.Join(d, "\n\t"))
	}
	// The comparison sees a difference: one made on purpose.
	pg.exec(t, `CREATE INDEX probe_idx ON outbox (kind)`)
	pg.exec(t, `ALTER TABLE outbox ALTER COLUMN claimed_by SET NOT NULL`)
	got := strings.Join(diff(a, pg.schema(t)), "\n")
	for _, want := range []string{"outbox index probe_idx", "outbox.claimed_by"} {
		if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(got) {
			t.Errorf("a difference in %s went unseen:\n%s", want, got)
		}
	}
}
