package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// A page of SearchCases reads the rows of that page wherever it is in the
// results, for every sort: the cursor is the start of the index range the
// query walks. Written "a > ? OR (a = ? AND id > ?)" it was a filter, and
// page k read k pages of cases (before: up to 3,000 rows for the last page
// of 100 over 3,000 cases; after: 101).
func TestSearchCasesPageReadsItsOwnRows(t *testing.T) {
	b := newBackend(t, store.Postgres)
	ctx := t.Context()
	base := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	const n, limit = 3000, 100
	cs := make([]store.NewCase, n)
	for i := range cs {
		cs[i] = newCase(fmt.Sprintf("XA-RC:%05d", i))
		cs[i].At = base.Add(time.Duration(i/4) * time.Second) // ties: 4 a second
		cs[i].SearchKeys = []string{"t_common", fmt.Sprintf("t_w%d", i%7)}
	}
	must[store.BulkResult](t)(b.s.CreateCases(ctx, cs))
	// With statistics: a key every case holds is walked in sort order
	// (without, PostgreSQL fetches every match through the index and
	// sorts them, which reads all matches on every page by design).
	mustErr(t, store.Analyze(ctx, b.s), nil)
	queries := map[string]store.CaseQuery{
		"key":    {AllOf: [][]string{{"t_common"}}},
		"no key": {},
		"status": {Status: []string{"open"}},
		"since":  {UpdatedSince: base},
	}
	for name, q0 := range queries {
		for _, sort := range store.Sorts {
			t.Run(name+"/"+string(sort), func(t *testing.T) {
				err := b.s.Tx(ctx, func(tx store.Tx) error {
					q := q0
					q.Sort, q.Limit = sort, limit
					listed, most, pages, err := pageRowsRead(t, tx, func() (int, bool, error) {
						p, err := tx.SearchCases(ctx, q)
						q.Cursor = p.Next
						return len(p.Cases), p.Next != "", err
					})
					if err != nil {
						return err
					}
					if listed != n {
						t.Fatalf("listed %d cases, want %d", listed, n)
					}
					t.Logf("%d pages: at most %d rows of cases read a page", pages, most)
					if most > 2*(limit+1) {
						t.Errorf("a page of %d read up to %d rows of cases over %d pages, want at most %d", limit, most, pages, 2*(limit+1))
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// On SQLite, a page after a cursor starts in the index of its sort at the
// cursor (SEARCH ... (col,case_id)>(?,?)): written "a > ? OR (a = ? AND id
// > ?)" the walk began at the start of the index (SCAN ... USING INDEX).
func TestSearchCasesPageStartsAtTheCursorSQLite(t *testing.T) {
	b := newBackend(t, store.SQLite)
	ctx := t.Context()
	cs := make([]store.NewCase, 300)
	for i := range cs {
		cs[i] = newCase(fmt.Sprintf("XA-RC:%05d", i))
		cs[i].At = time.Date(2025, 3, 1, 8, 0, i/4, 0, time.UTC)
	}
	must[store.BulkResult](t)(b.s.CreateCases(ctx, cs))
	mustErr(t, store.Analyze(ctx, b.s), nil)
	for _, sort := range store.Sorts {
		for _, q := range []store.CaseQuery{{}, {Status: []string{"open"}}} {
			q.Sort, q.Limit = sort, 50
			p := must[store.CasePage](t)(b.s.SearchCases(ctx, q))
			q.Cursor = p.Next
			err := b.s.Tx(ctx, func(tx store.Tx) error {
				plan, err := store.SearchPlan(t, tx, q)
				if err != nil {
					return err
				}
				col := map[store.CaseSort]string{store.SortIDAsc: "case_id"}[sort]
				if col == "" {
					col = strings.TrimPrefix(string(sort), "-") + ",case_id"
				}
				if !strings.Contains(plan, "SEARCH c USING ") || !strings.Contains(plan, "("+col+")>") && !strings.Contains(plan, "("+col+")<") && !strings.Contains(plan, "("+col+">") {
					t.Errorf("%s %v: plan %q does not start at the cursor", sort, q.Status, plan)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestSearchPagingWhileWriting pages random queries to their end while
// cases are created and updated between pages, on both stores. Every
// page comes in the query's order after the cursor; a case that matched
// before the paging began and was not written meanwhile is listed exactly
// once; a case is listed twice only when an update moved it past the
// cursor (sorted by updated_at ascending), and never twice at one
// position; a case created meanwhile is listed at most once.
func TestSearchPagingWhileWriting(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(3, 47))
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		clock := base
		tick := func() time.Time { // several cases a second: ties on the time
			if r.IntN(3) == 0 {
				clock = clock.Add(time.Second)
			}
			return clock
		}
		type row struct {
			keys    []string
			version int64
			status  string
		}
		held := map[string]*row{}
		var idsHeld []string
		next := 0
		create := func() string {
			id := fmt.Sprintf("XA-RC:P%04d", r.IntN(10000)*10+next%10) // ids not in time order
			for held[id] != nil {
				id += "x"
			}
			next++
			c := newCase(id)
			c.SearchKeys = []string{fmt.Sprintf("t_w%d", r.IntN(3)), fmt.Sprintf("t_v%d", r.IntN(2))}
			c.Status = []string{"open", "tracing_in_progress"}[r.IntN(2)]
			c.At = tick()
			must[store.Case](t)(b.s.CreateCase(ctx, c))
			held[id] = &row{keys: c.SearchKeys, version: 1, status: c.Status}
			idsHeld = append(idsHeld, id)
			return id
		}
		for range 150 {
			create()
		}
		matches := func(q store.CaseQuery, c *row) bool {
			for _, g := range q.AllOf {
				ok := false
				for _, k := range g {
					for _, h := range c.keys {
						ok = ok || h == k
					}
				}
				if !ok {
					return false
				}
			}
			return len(q.Status) == 0 || q.Status[0] == c.status
		}
		for qi := range 40 {
			var q store.CaseQuery
			if r.IntN(3) > 0 {
				q.AllOf = [][]string{{fmt.Sprintf("t_w%d", r.IntN(3))}}
			}
			if r.IntN(3) == 0 {
				q.Status = []string{"open"}
			}
			q.Sort = store.Sorts[r.IntN(len(store.Sorts))]
			q.Limit = 1 + r.IntN(12)
			before := map[string]bool{}
			for id, c := range held {
				if matches(q, c) {
					before[id] = true
				}
			}
			written := map[string]bool{}
			seen := map[string]int{}
			desc := strings.HasPrefix(string(q.Sort), "-")
			key := func(c store.Case) string {
				switch q.Sort {
				case store.SortUpdatedAsc, store.SortUpdatedDesc:
					return c.UpdatedAt.UTC().Format(time.RFC3339Nano) + "|" + c.ID
				case store.SortCreatedAsc, store.SortCreatedDesc:
					return c.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + c.ID
				}
				return c.ID
			}
			last := ""
			for pages := 0; ; pages++ {
				if pages > len(held)+1 {
					t.Fatalf("query %d: paging does not end", qi)
				}
				p := must[store.CasePage](t)(b.s.SearchCases(ctx, q))
				for _, c := range p.Cases {
					k := key(c)
					if last != "" && (!desc && k <= last || desc && k >= last) {
						t.Fatalf("query %d %+v: %s listed after %s", qi, q, k, last)
					}
					last = k
					seen[c.ID]++
					if !matches(q, held[c.ID]) {
						t.Fatalf("query %d: %s listed but does not match", qi, c.ID)
					}
				}
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
				// Between pages: a case or two created, one updated
				// (a new updated_at, the same keys and status); over the
				// first 30 pages (sorted by time ascending, new cases
				// come after the cursor: paging would never end).
				if pages >= 30 {
					continue
				}
				for range r.IntN(3) {
					written[create()] = true
				}
				if r.IntN(2) == 0 {
					id := idsHeld[r.IntN(len(idsHeld))]
					c := held[id]
					must[store.Case](t)(b.s.UpdateCase(ctx, store.CaseUpdate{ID: id, ExpectedVersion: c.version,
						Status: c.status, Document: caseDoc(id, int(c.version+1), ""), At: tick(), SearchKeys: c.keys}))
					c.version++
					written[id] = true
				}
			}
			for id := range before {
				if !written[id] && seen[id] != 1 {
					t.Fatalf("query %d %+v: %s listed %d times, want once", qi, q, id, seen[id])
				}
			}
			for id, k := range seen {
				moved := q.Sort == store.SortUpdatedAsc && written[id] && before[id]
				if k > 1 && !moved {
					t.Fatalf("query %d %+v: %s listed %d times", qi, q, id, k)
				}
			}
		}
	})
}

// pageRowsRead pages through a listing in tx (page returns a page's
// length and whether another follows) and returns how many it listed, the
// most rows of cases one page read (CaseRowsFetched) and the pages.
func pageRowsRead(t *testing.T, tx store.Tx, page func() (int, bool, error)) (listed int, most int64, pages int, err error) {
	t.Helper()
	for {
		before, err := store.CaseRowsFetched(t, tx)
		if err != nil {
			return 0, 0, 0, err
		}
		n, more, err := page()
		if err != nil {
			return 0, 0, 0, err
		}
		after, err := store.CaseRowsFetched(t, tx)
		if err != nil {
			return 0, 0, 0, err
		}
		most = max(most, after-before)
		listed += n
		pages++
		if !more {
			return listed, most, pages, nil
		}
	}
}
