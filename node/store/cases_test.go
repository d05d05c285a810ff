package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

func TestCreateCase(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		c := must[store.Case](t)(b.s.CreateCase(ctx, newCase("XA-RC:0001")))
		got := must[store.Case](t)(b.s.GetCase(ctx, "XA-RC:0001"))
		if got.ID != c.ID || got.Origin != memberA || got.Type != "tracing_request" || got.Status != "open" ||
			got.Version != 1 || !bytes.Equal(got.Document, caseDoc("XA-RC:0001", 1, "")) ||
			!got.CreatedAt.Equal(c.CreatedAt) || !got.UpdatedAt.Equal(c.CreatedAt) || got.Erased() {
			t.Fatalf("GetCase = %+v, created %+v", got, c)
		}
		v := must[store.CaseVersion](t)(b.s.GetCaseVersion(ctx, "XA-RC:0001", 1))
		if !bytes.Equal(v.Document, got.Document) || v.Status != "open" {
			t.Fatalf("version 1 = %+v", v)
		}

		tests := []struct {
			name string
			in   store.NewCase
			want error
		}{
			{"duplicate", newCase("XA-RC:0001"), store.ErrDuplicate},
			{"no id", func() store.NewCase { c := newCase(""); return c }(), store.ErrInvalid},
			{"no document", func() store.NewCase { c := newCase("XA-RC:0002"); c.Document = nil; return c }(), store.ErrInvalid},
			{"no status", func() store.NewCase { c := newCase("XA-RC:0003"); c.Status = ""; return c }(), store.ErrInvalid},
			{"negative version", func() store.NewCase { c := newCase("XA-RC:0004"); c.Version = -1; return c }(), store.ErrInvalid},
			{"received at version 7", func() store.NewCase { c := newCase("XB-RC:0007"); c.Version = 7; return c }(), nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := b.s.CreateCase(ctx, tc.in)
				mustErr(t, err, tc.want)
			})
		}
		if got := must[store.Case](t)(b.s.GetCase(ctx, "XB-RC:0007")); got.Version != 7 {
			t.Errorf("received case version = %d, want 7", got.Version)
		}
		_, err := b.s.GetCase(ctx, "XA-RC:nope")
		mustErr(t, err, store.ErrNotFound)
		_, err = b.s.GetCaseVersion(ctx, "XA-RC:0001", 2)
		mustErr(t, err, store.ErrNotFound)
	})
}

func TestUpdateCase(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		must[store.Case](t)(b.s.CreateCase(ctx, newCase("XA-RC:0001")))
		up := func(expected, version int64, status string) store.CaseUpdate {
			return store.CaseUpdate{ID: "XA-RC:0001", ExpectedVersion: expected, Version: version, Status: status,
				Document: caseDoc("XA-RC:0001", int(expected)+1, status)}
		}
		tests := []struct {
			name        string
			in          store.CaseUpdate
			want        error
			wantVersion int64
			wantStatus  string
		}{
			{"next version", up(1, 0, "transmitted"), nil, 2, "transmitted"},
			{"stale version", up(1, 0, "closed_negative"), store.ErrConflict, 2, "transmitted"},
			{"future expected version", up(5, 0, "closed_negative"), store.ErrConflict, 2, "transmitted"},
			{"keep status when empty", up(2, 0, ""), nil, 3, "transmitted"},
			{"origin's version jump", up(3, 9, "tracing_in_progress"), nil, 9, "tracing_in_progress"},
			{"version not above expected", up(9, 9, "closed"), store.ErrInvalid, 9, "tracing_in_progress"},
			{"unknown case", store.CaseUpdate{ID: "XA-RC:none", ExpectedVersion: 1, Document: []byte(`{}`)}, store.ErrNotFound, 9, "tracing_in_progress"},
			{"no document", store.CaseUpdate{ID: "XA-RC:0001", ExpectedVersion: 9}, store.ErrInvalid, 9, "tracing_in_progress"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := b.s.UpdateCase(ctx, tc.in)
				mustErr(t, err, tc.want)
				got := must[store.Case](t)(b.s.GetCase(ctx, "XA-RC:0001"))
				if got.Version != tc.wantVersion || got.Status != tc.wantStatus {
					t.Fatalf("after update: version %d status %q, want %d %q", got.Version, got.Status, tc.wantVersion, tc.wantStatus)
				}
			})
		}
		versions := must[[]store.CaseVersion](t)(b.s.ListCaseVersions(ctx, "XA-RC:0001"))
		var nums []int64
		for _, v := range versions {
			nums = append(nums, v.Version)
		}
		if fmt.Sprint(nums) != "[1 2 3 9]" {
			t.Fatalf("versions = %v, want [1 2 3 9]", nums)
		}
		if !bytes.Equal(versions[1].Document, caseDoc("XA-RC:0001", 2, "transmitted")) {
			t.Errorf("version 2 document = %s", versions[1].Document)
		}
		cur := must[store.Case](t)(b.s.GetCase(ctx, "XA-RC:0001"))
		if !bytes.Equal(cur.Document, versions[3].Document) || !cur.UpdatedAt.After(cur.CreatedAt) {
			t.Errorf("current = %+v", cur)
		}
	})
}

// Optimistic concurrency: of N writers that read the same version, exactly
// one wins; the others get ErrConflict and write nothing.
func TestUpdateCaseConcurrent(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		must[store.Case](t)(b.s.CreateCase(ctx, newCase("XA-RC:0001")))
		other := b.open(t) // a second process on PostgreSQL; a second pool on SQLite
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				s := b.s
				if i%2 == 1 {
					s = other
				}
				_, errs[i] = s.UpdateCase(ctx, store.CaseUpdate{ID: "XA-RC:0001", ExpectedVersion: 1,
					Status: fmt.Sprint("writer-", i), Document: caseDoc("XA-RC:0001", 2, fmt.Sprint(i))})
			})
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("unexpected error: %v", err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d writers won, want 1", wins)
		}
		if n := b.count(t, `SELECT COUNT(*) FROM case_versions WHERE case_id = ?`, "XA-RC:0001"); n != 2 {
			t.Fatalf("%d versions stored, want 2", n)
		}
	})
}

func TestListCases(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		base := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
		statuses := []string{"open", "transmitted", "closed_negative"}
		types := []string{"tracing_request", "safe_and_well"}
		origins := []string{memberA, memberB}
		// 30 cases; every three share an updated_at, so paging must break
		// ties on case_id.
		for i := range 30 {
			c := store.NewCase{ID: fmt.Sprintf("%s:%04d", origins[i%2], i), Origin: origins[i%2],
				Type: types[i%2], Status: statuses[i%3], Document: caseDoc("x", 1, fmt.Sprint(i)),
				At: base.Add(time.Duration(i/3) * time.Minute)}
			must[store.Case](t)(b.s.CreateCase(ctx, c))
		}
		must[store.ErasureResult](t)(b.s.EraseCase(ctx, "XA-RC:0000", store.Erasure{Reason: "erasure_request", At: base.Add(time.Hour)}))

		tests := []struct {
			name string
			f    store.CaseFilter
			want int
		}{
			{"all live", store.CaseFilter{}, 29},
			{"with tombstones", store.CaseFilter{IncludeErased: true}, 30},
			{"status", store.CaseFilter{Status: "transmitted"}, 10},
			{"type", store.CaseFilter{Type: "safe_and_well"}, 15},
			{"origin", store.CaseFilter{Origin: memberA}, 14},
			{"origin and status", store.CaseFilter{Origin: memberB, Status: "open"}, 5},
			{"updated since", store.CaseFilter{UpdatedSince: base.Add(5 * time.Minute)}, 15},
			{"updated since, tombstone moved", store.CaseFilter{UpdatedSince: base.Add(time.Hour), IncludeErased: true}, 1},
			{"nothing", store.CaseFilter{Status: "reunified"}, 0},
		}
		for _, tc := range tests {
			for _, pageSize := range []int{1, 4, 7, 100} {
				t.Run(fmt.Sprintf("%s/page%d", tc.name, pageSize), func(t *testing.T) {
					f := tc.f
					f.Limit = pageSize
					seen := map[string]bool{}
					var last store.Case
					for pages := 0; ; pages++ {
						if pages > 40 {
							t.Fatal("paging does not end")
						}
						p := must[store.CasePage](t)(b.s.ListCases(ctx, f))
						if len(p.Cases) > pageSize {
							t.Fatalf("page of %d > limit %d", len(p.Cases), pageSize)
						}
						for _, c := range p.Cases {
							if seen[c.ID] {
								t.Fatalf("%s listed twice", c.ID)
							}
							seen[c.ID] = true
							if last.ID != "" && (c.UpdatedAt.Before(last.UpdatedAt) ||
								c.UpdatedAt.Equal(last.UpdatedAt) && c.ID < last.ID) {
								t.Fatalf("%s listed after %s: not in (updated_at, id) order", c.ID, last.ID)
							}
							if c.Document != nil {
								t.Fatalf("document listed without IncludeDocuments")
							}
							last = c
						}
						if p.Next == "" {
							break
						}
						f.Cursor = p.Next
					}
					if len(seen) != tc.want {
						t.Fatalf("listed %d cases, want %d", len(seen), tc.want)
					}
				})
			}
		}
		p := must[store.CasePage](t)(b.s.ListCases(ctx, store.CaseFilter{IncludeDocuments: true, Limit: 2}))
		if len(p.Cases) != 2 || p.Cases[0].Document == nil {
			t.Errorf("IncludeDocuments: %+v", p.Cases)
		}
		_, err := b.s.ListCases(ctx, store.CaseFilter{Cursor: "not a cursor"})
		mustErr(t, err, store.ErrInvalid)
	})
}

// A page of ListCases reads the rows of that page, wherever it is in the
// listing: the cursor is the start of the index range. Written as "a > ?
// OR (a = ? AND b > ?)" it was a filter, and each page read every row
// from the start of the listing again (matching's sync pages through
// every case updated in the last minute: during a crisis list, tens of
// thousands, quadratically).
func TestListCasesPageReadsItsOwnRows(t *testing.T) {
	b := newBackend(t, store.Postgres)
	ctx := t.Context()
	base := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	const n, limit = 3000, 100
	cs := make([]store.NewCase, n)
	for i := range cs {
		cs[i] = newCase(fmt.Sprintf("XA-RC:%05d", i))
		cs[i].At = base.Add(time.Duration(i/4) * time.Second) // ties: 4 a second
	}
	must[store.BulkResult](t)(b.s.CreateCases(ctx, cs))
	err := b.s.Tx(ctx, func(tx store.Tx) error {
		f := store.CaseFilter{IncludeErased: true, UpdatedSince: base, Limit: limit}
		listed, most, _, err := pageRowsRead(t, tx, func() (int, bool, error) {
			p, err := tx.ListCases(ctx, f)
			f.Cursor = p.Next
			return len(p.Cases), p.Next != "", err
		})
		if err != nil {
			return err
		}
		if listed != n {
			t.Fatalf("listed %d cases, want %d", listed, n)
		}
		if most > 2*(limit+1) {
			t.Errorf("a page of %d read up to %d rows of cases, want at most %d", limit, most, 2*(limit+1))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A cursor and UpdatedSince together: the later of the two bounds holds,
// whichever it is.
func TestListCasesCursorAndUpdatedSince(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		base := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
		for i := range 10 {
			c := newCase(fmt.Sprintf("XA-RC:%04d", i))
			c.At = base.Add(time.Duration(i/2) * time.Minute)
			must[store.Case](t)(b.s.CreateCase(ctx, c))
		}
		// A cursor after the 3rd case (minute 1).
		p := must[store.CasePage](t)(b.s.ListCases(ctx, store.CaseFilter{Limit: 3}))
		ids := func(f store.CaseFilter) []string {
			var out []string
			for _, c := range must[store.CasePage](t)(b.s.ListCases(ctx, f)).Cases {
				out = append(out, c.ID[len("XA-RC:"):])
			}
			return out
		}
		for _, tc := range []struct {
			since time.Time
			want  string
		}{
			{base, "[0003 0004 0005 0006 0007 0008 0009]"},                  // the cursor is later
			{base.Add(time.Minute), "[0003 0004 0005 0006 0007 0008 0009]"}, // same minute: the cursor
			{base.Add(3 * time.Minute), "[0006 0007 0008 0009]"},            // UpdatedSince is later
		} {
			if got := fmt.Sprint(ids(store.CaseFilter{Cursor: p.Next, UpdatedSince: tc.since})); got != tc.want {
				t.Errorf("since %s after %s: %s, want %s", tc.since.Format("15:04"), p.Cases[2].ID, got, tc.want)
			}
		}
	})
}
