package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// TestSearchEqualsBruteForce: over a random corpus (keys drawn with skew,
// birth-year keys, statuses, types, erasures, cases written one by one and
// in bulk), every random query paged to its end returns exactly what a
// scan of the corpus in Go returns, in the same order, on both stores.
func TestSearchEqualsBruteForce(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(10, 12))
		statuses := []string{"open", "tracing_in_progress", "closed_negative"}
		types := []string{"tracing_request", "detention_notification"}
		type row struct {
			id, status, typ string
			at              time.Time
			keys            map[string]bool
			erased          bool
		}
		word := func() string { // skewed: w0 is common, w11 rare
			return fmt.Sprintf("t_w%d", min(int(r.ExpFloat64()*3), 11))
		}
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		const n = 240
		perm := r.Perm(n) // creation times not in id order
		var corpus []*row
		var bulk []store.NewCase
		for i := range n {
			c := &row{id: fmt.Sprintf("XA-RC:G%03d", i), status: statuses[r.IntN(len(statuses))], typ: types[r.IntN(len(types))],
				at: base.Add(time.Duration(perm[i]/3) * time.Minute), keys: map[string]bool{}} // some times shared: ties by id
			var keys []string
			for range 1 + r.IntN(5) {
				keys = append(keys, word())
			}
			keys = append(keys, fmt.Sprintf("by_%04d", 1950+r.IntN(60)))
			for _, k := range keys {
				c.keys[k] = true
			}
			corpus = append(corpus, c)
			nc := newCase(c.id)
			nc.Status, nc.Type, nc.SearchKeys, nc.At = c.status, c.typ, keys, c.at
			if i%2 == 0 {
				must[store.Case](t)(b.s.CreateCase(ctx, nc))
			} else {
				bulk = append(bulk, nc)
			}
		}
		must[store.BulkResult](t)(b.s.CreateCases(ctx, bulk))
		for _, c := range corpus {
			if r.IntN(10) == 0 {
				must[store.ErasureResult](t)(b.s.EraseCase(ctx, c.id, store.Erasure{Reason: "erasure_request"}))
				c.erased = true
			}
		}
		// With statistics, PostgreSQL estimates how many cases hold the
		// keys: common words walk the cases in order, rare ones are
		// fetched through the index and sorted; both paths run below.
		mustErr(t, store.Analyze(ctx, b.s), nil)
		for qi := range 120 {
			var q store.CaseQuery
			for range r.IntN(3) {
				var g []string
				for range 1 + r.IntN(3) {
					g = append(g, word())
				}
				q.AllOf = append(q.AllOf, g)
			}
			if r.IntN(3) == 0 {
				from := 1950 + r.IntN(60)
				q.Ranges = []store.KeyRange{{fmt.Sprintf("by_%04d", from), fmt.Sprintf("by_%04d", from+r.IntN(15))}}
			}
			if r.IntN(8) == 0 { // bounds of other lengths than the keys
				lo := r.IntN(7)
				q.Ranges = append(q.Ranges, store.KeyRange{From: fmt.Sprintf("t_w%d", lo), To: fmt.Sprintf("t_w%dz", lo+r.IntN(3))})
			}
			if r.IntN(3) == 0 {
				q.Status = []string{statuses[r.IntN(len(statuses))]}
			}
			if r.IntN(4) == 0 {
				q.Type = []string{types[r.IntN(len(types))]}
			}
			q.Sort = store.Sorts[r.IntN(len(store.Sorts))]
			q.Limit = 1 + r.IntN(40)

			var want []*row
			for _, c := range corpus {
				ok := !c.erased
				for _, g := range q.AllOf {
					ok = ok && slices.ContainsFunc(g, func(k string) bool { return c.keys[k] })
				}
				for _, kr := range q.Ranges {
					in := false
					for k := range c.keys {
						in = in || (k >= kr.From && k <= kr.To)
					}
					ok = ok && in
				}
				ok = ok && (q.Status == nil || slices.Contains(q.Status, c.status))
				ok = ok && (q.Type == nil || slices.Contains(q.Type, c.typ))
				if ok {
					want = append(want, c)
				}
			}
			desc := strings.HasPrefix(string(q.Sort), "-")
			slices.SortFunc(want, func(a, b *row) int {
				d := 0
				if q.Sort != store.SortIDAsc {
					d = a.at.Compare(b.at)
				}
				if d == 0 {
					d = strings.Compare(a.id, b.id)
				}
				if desc {
					d = -d
				}
				return d
			})
			var wantIDs, got []string
			for _, c := range want {
				wantIDs = append(wantIDs, c.id)
			}
			for pages := 0; ; pages++ {
				if pages > n {
					t.Fatalf("query %d: paging does not end", qi)
				}
				p := must[store.CasePage](t)(b.s.SearchCases(ctx, q))
				got = append(got, ids(p.Cases)...)
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
			}
			if !slices.Equal(got, wantIDs) {
				t.Fatalf("query %d %+v:\n got  %v\n want %v", qi, q, got, wantIDs)
			}
		}
	})
}
