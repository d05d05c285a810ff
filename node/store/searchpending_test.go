package store_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// TestSearchPendingCleaned: on PostgreSQL the pending list of the search
// index is moved into the index in the background once enough keys were
// written, so that no writer's statement has to (a receiving transaction
// that did took hundreds of milliseconds longer than the others): after
// the cases written, nothing is left in it for the next writer.
func TestSearchPendingCleaned(t *testing.T) {
	b := newBackend(t, store.Postgres)
	ctx := t.Context()
	store.SetSearchPendingEvery(t, b.s, 2000)
	for round := range 3 {
		var cs []store.NewCase
		for i := range 40 {
			id := fmt.Sprintf("XB-RC:P%d-%02d", round, i)
			cs = append(cs, store.NewCase{ID: id, Origin: memberB, Type: "tracing_request", Status: "open", Document: []byte(`{}`),
				SearchKeys: []string{"w_bench", fmt.Sprintf("p_name%d", i), fmt.Sprintf("by_19%02d", i)}})
		}
		if _, err := b.s.CreateCases(ctx, cs); err != nil {
			t.Fatal(err)
		}
	}
	store.SearchPendingIdle(b.s)
	var pages int64
	if err := b.raw.GetContext(ctx, &pages, `SELECT gin_clean_pending_list('cases_search_keys_idx'::regclass)`); err != nil {
		t.Fatal(err)
	}
	if pages != 0 {
		t.Fatalf("%d pages left in the search index's pending list after 120 cases written", pages)
	}
	page := must[store.CasePage](t)(b.s.SearchCases(ctx, store.CaseQuery{AllOf: [][]string{{"p_name7"}}, Limit: 10}))
	if len(page.Cases) != 3 {
		t.Fatalf("search after the cleaning: %d cases, want 3", len(page.Cases))
	}
}

// TestAuditAppendOneStatement: on PostgreSQL an append to the audit chain
// is one statement (flx_audit_append: the chain's lock, its head, the
// hashes and the rows), so that the lock is held for that statement and
// the commit, not for three round trips and the commit; the chain it
// writes verifies, row by row as AppendAudit and batch by batch as
// AppendAuditAll, from an empty log on.
func TestAuditAppendOneStatement(t *testing.T) {
	sent := &atomic.Int64{}
	b := newBackend(t, store.Postgres)
	b.s = b.open(t, store.WithStatementCounter(sent))
	ctx := t.Context()
	for i := range 3 {
		err := b.s.Tx(ctx, func(tx store.Tx) error {
			before := sent.Load()
			if _, err := tx.AppendAudit(ctx, store.AuditEntry{Actor: "XA-RC", Action: "inbox.process", Object: fmt.Sprint("XA-RC:", i)}); err != nil {
				return err
			}
			es := []store.AuditEntry{{Actor: "XA-RC", Action: "inbox.process", Object: "a", Details: []byte(`{"k": 1}`)},
				{Actor: "XA-RC", Action: "case.erase", Object: "b"}}
			recs, err := tx.AppendAuditAll(ctx, es)
			if err != nil {
				return err
			}
			if n := sent.Load() - before; n != 2 {
				t.Errorf("AppendAudit and AppendAuditAll sent %d statements, want 2", n)
			}
			if recs[1].PrevHash != recs[0].Hash || recs[1].Seq != recs[0].Seq+1 || recs[0].Seq != int64(3*i+2) {
				t.Errorf("records %+v", recs)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	v := must[store.AuditVerification](t)(b.s.VerifyAudit(ctx))
	if !v.OK() || v.Rows != 9 {
		t.Fatalf("verification %+v", v)
	}
}

// TestSearchPendingIndexLimit: the cleaning follows the search index's own
// gin_pending_list_limit when the index has one (PostgreSQL's writers
// follow it in the server's place): keys written past half of it are
// cleaned, though far below half of the server's 4 MB.
func TestSearchPendingIndexLimit(t *testing.T) {
	b := newBackend(t, store.Postgres)
	ctx := t.Context()
	b.exec(t, `ALTER INDEX cases_search_keys_idx SET (gin_pending_list_limit = 256)`)
	s := b.open(t)
	var cs []store.NewCase
	for i := range 500 { // ~ 500 × 10 × 30 bytes: past 128 kB, short of 256 kB
		keys := make([]string, 10)
		for k := range keys {
			keys[k] = fmt.Sprintf("p_limitkey%d_%04d", k, i)
		}
		cs = append(cs, store.NewCase{ID: fmt.Sprintf("XB-RC:L%04d", i), Origin: memberB, Type: "tracing_request", Status: "open",
			Document: []byte(`{}`), SearchKeys: keys})
	}
	for lo := 0; lo < len(cs); lo += 50 {
		if _, err := s.CreateCases(ctx, cs[lo:lo+50]); err != nil {
			t.Fatal(err)
		}
	}
	store.SearchPendingIdle(s)
	var pages int64
	if err := b.raw.GetContext(ctx, &pages, `SELECT gin_clean_pending_list('cases_search_keys_idx'::regclass)`); err != nil {
		t.Fatal(err)
	}
	if pages != 0 {
		t.Fatalf("%d pages left in the pending list: the cleaning did not follow the index's limit of 256 kB", pages)
	}
}
