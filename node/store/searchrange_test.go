package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// searchAll pages through every result of q, two cases a page.
func searchAll(t *testing.T, s store.Store, q store.CaseQuery) []string {
	t.Helper()
	q.Limit = 2
	var out []string
	for {
		p := must[store.CasePage](t)(s.SearchCases(context.Background(), q))
		out = append(out, ids(p.Cases)...)
		if p.Next == "" {
			return out
		}
		q.Cursor = p.Next
	}
}

// TestSearchRangeIndex: a search by a range of birth years alone goes
// through case_range_keys (migration 0022): a rare range fetches its cases
// through that index, a dense one walks the cases in sort order with one
// probe each; both give the same pages, with column filters and two
// ranges, and follow creates, updates and erasure. What the index holds
// is what is found: a case whose entries are removed from it is not found
// although its own keys still hold the year. On both stores.
func TestSearchRangeIndex(t *testing.T) {
	// One store after the other: SetDenseRange sets a package knob.
	withEachStore(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		var cs []store.NewCase
		for i := range 200 {
			c := newCase(fmt.Sprintf("XA-RC:R%03d", i))
			c.SearchKeys = []string{"t_karo", fmt.Sprintf("by_%d", 1950+i%40)}
			if i%50 == 7 { // R007 and R107 born 1901, R057 and R157 in 1902
				c.SearchKeys = []string{"t_anahit", fmt.Sprintf("by_%d", 1901+(i/50)%2)}
			}
			if i == 57 {
				c.Status = "closed_negative"
			}
			cs = append(cs, c)
		}
		must[store.BulkResult](t)(b.s.CreateCases(ctx, cs))
		rare := store.KeyRange{From: "by_1900", To: "by_1909"}
		modes := []struct {
			name  string
			dense int // 0: the default
		}{{"rare range through the index", 0}, {"dense range walked in order", 1}}
		check := func(t *testing.T, want []string) {
			t.Helper()
			for _, m := range modes {
				t.Run(m.name, func(t *testing.T) {
					if m.dense > 0 {
						store.SetDenseRange(t, m.dense)
					}
					if got := searchAll(t, b.s, store.CaseQuery{Ranges: []store.KeyRange{rare}, Sort: store.SortIDAsc}); !slices.Equal(got, want) {
						t.Fatalf("by case id: %v, want %v", got, want)
					}
					got := searchAll(t, b.s, store.CaseQuery{Ranges: []store.KeyRange{rare}})
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Fatalf("newest first: %v, want %v", got, want)
					}
				})
			}
		}
		check(t, []string{"XA-RC:R007", "XA-RC:R057", "XA-RC:R107", "XA-RC:R157"})
		for _, m := range modes {
			t.Run(m.name, func(t *testing.T) {
				if m.dense > 0 {
					store.SetDenseRange(t, m.dense)
				}
				for _, tc := range []struct {
					name string
					q    store.CaseQuery
					want []string
				}{
					{"with a status", store.CaseQuery{Ranges: []store.KeyRange{rare}, Status: []string{"closed_negative"}}, []string{"XA-RC:R057"}},
					{"two ranges", store.CaseQuery{Ranges: []store.KeyRange{rare, {From: "by_1902", To: "by_1902"}}, Sort: store.SortIDAsc}, []string{"XA-RC:R057", "XA-RC:R157"}},
					{"no case", store.CaseQuery{Ranges: []store.KeyRange{{From: "by_1800", To: "by_1899"}}}, nil},
				} {
					if got := searchAll(t, b.s, tc.q); !slices.Equal(got, tc.want) {
						t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
					}
				}
				if got := searchAll(t, b.s, store.CaseQuery{Ranges: []store.KeyRange{{From: "by_1950", To: "by_1989"}}}); len(got) != 196 {
					t.Errorf("dense range: %d cases, want 196", len(got))
				}
			})
		}

		// Writes: one leaves the range by an update, one is erased, one is
		// created in it.
		r007 := must[store.Case](t)(b.s.GetCase(ctx, "XA-RC:R007"))
		must[store.Case](t)(b.s.UpdateCase(ctx, store.CaseUpdate{ID: r007.ID, ExpectedVersion: r007.Version, Type: r007.Type,
			Status: r007.Status, Document: caseDoc(r007.ID, 2, ""), SearchKeys: []string{"t_anahit", "by_1960"}}))
		must[store.ErasureResult](t)(b.s.EraseCase(ctx, "XA-RC:R057", store.Erasure{Reason: "consent_withdrawn"}))
		c := newCase("XA-RC:R900")
		c.SearchKeys = []string{"by_1905"}
		must[store.Case](t)(b.s.CreateCase(ctx, c))
		check(t, []string{"XA-RC:R107", "XA-RC:R157", "XA-RC:R900"})
		if n := b.count(t, `SELECT count(*) FROM case_range_keys WHERE case_id = ?`, "XA-RC:R057"); n != 0 {
			t.Fatalf("erased case has %d range keys", n)
		}
		b.exec(t, `DELETE FROM case_range_keys WHERE case_id = ?`, "XA-RC:R107")
		check(t, []string{"XA-RC:R157", "XA-RC:R900"})
	})
}

// TestSearchRangeIndexMigration: cases stored before migration 0022 get
// their range keys when it runs (an erased case none) and are found by a
// range alone. On both stores.
func TestSearchRangeIndexMigration(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			b := migratedBefore(t, d, 22)
			for i, id := range []string{"XA-RC:1", "XA-RC:2"} {
				b.exec(t, `INSERT INTO cases (case_id, origin, type, status, version, document, created_at, updated_at)
					VALUES (?, 'XA-RC', 'tracing_request', 'open', 1, ?, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')`,
					id, caseDoc(id, 1, ""))
				if i == 1 { // erased: no keys
					b.exec(t, `UPDATE cases SET erased_at = '2026-01-02T00:00:00.000000Z', document = NULL WHERE case_id = ?`, id)
					continue
				}
				if d == store.Postgres {
					b.exec(t, `UPDATE cases SET search_keys = array_to_tsvector(ARRAY['t_karo', 'by_1901']) WHERE case_id = ?`, id)
				} else {
					b.exec(t, `INSERT INTO case_search_docs (case_id, keys) VALUES (?, '["t_karo","by_1901"]')`, id)
				}
			}
			b.s = b.open(t) // applies 0022
			if n := b.count(t, `SELECT count(*) FROM case_range_keys`); n != 1 {
				t.Fatalf("%d range keys after the migration, want 1", n)
			}
			if got := searchAll(t, b.s, store.CaseQuery{Ranges: []store.KeyRange{{From: "by_1900", To: "by_1909"}}}); !slices.Equal(got, []string{"XA-RC:1"}) {
				t.Fatalf("found %v", got)
			}
		})
	}
}
