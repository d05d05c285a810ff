package store_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// TestSendGroupReads: a group of forwards locks its cases in one statement
// that reads no document, and reads what is queued of them in one that
// fetches only their rows (no scan of the outbox), also once the
// statements run from a generic plan (after the fifth run on a
// connection).
func TestSendGroupReads(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		var ids []string
		var items []store.NewOutboxItem
		for i := range 300 {
			id := fmt.Sprintf("XA-RC:G-%04d", i)
			ids = append(ids, id)
			must[store.Case](t)(b.s.CreateCase(ctx, newCase(id)))
			items = append(items,
				store.NewOutboxItem{Destination: memberB, CaseID: id, CaseVersion: 1, Kind: "case.create", JTI: fmt.Sprint("gb-", i), Envelope: []byte("env"), Discloses: true},
				store.NewOutboxItem{Destination: memberC, CaseID: id, CaseVersion: 1, Kind: "message.deliver", JTI: fmt.Sprint("gc-", i), Envelope: []byte("env"), Discloses: true})
		}
		must[[]store.OutboxItem](t)(b.s.EnqueueAll(ctx, items))
		group := append(append([]string{}, ids[100:140]...), "XA-RC:G-none")
		var keys []store.CaseDest
		for _, id := range group {
			keys = append(keys, store.CaseDest{CaseID: id, Destination: memberB})
		}
		for _, id := range group[:5] {
			keys = append(keys, store.CaseDest{CaseID: id, Destination: memberC}) // message.deliver rows: not listed
		}
		for round := range 8 {
			mustErr(t, b.s.Tx(ctx, func(tx store.Tx) error {
				before := must[int64](t)(store.RowsFetched(t, tx, "cases"))
				heads, err := tx.LockCaseHeads(ctx, group)
				if err != nil {
					return err
				}
				after := must[int64](t)(store.RowsFetched(t, tx, "cases"))
				if len(heads) != 40 {
					t.Fatalf("round %d: %d cases locked, want 40", round, len(heads))
				}
				for _, id := range group[:40] {
					if h := heads[id]; h.Version != 1 || h.Document != nil || h.Origin != memberA {
						t.Fatalf("round %d: case %s: %+v", round, id, h)
					}
				}
				if b.dialect == store.Postgres && after-before != 40 {
					t.Errorf("round %d: locking 40 cases fetched %d case rows", round, after-before)
				}
				before = must[int64](t)(store.RowsFetched(t, tx, "outbox"))
				scans := must[int64](t)(store.OutboxSeqScans(t, tx))
				rows, err := tx.ListCasesOutbox(ctx, keys, []string{"case.create", "case.update"})
				if err != nil {
					return err
				}
				after = must[int64](t)(store.RowsFetched(t, tx, "outbox"))
				if len(rows) != 40 {
					t.Fatalf("round %d: %d rows listed, want 40", round, len(rows))
				}
				for i, r := range rows {
					if r.Destination != memberB || r.Kind != "case.create" || r.Envelope != nil || (i > 0 && r.ID <= rows[i-1].ID) {
						t.Fatalf("round %d: row %d: %+v", round, i, r)
					}
				}
				if b.dialect == store.Postgres {
					if n := must[int64](t)(store.OutboxSeqScans(t, tx)) - scans; n != 0 || after-before > 45 {
						t.Errorf("round %d: listing 45 keys' rows fetched %d outbox rows in %d sequential scans, want at most 45 and none", round, after-before, n)
					}
				}
				return nil
			}), nil)
		}
	})
}

// TestRecordDecisions: decisions recorded together get ids ascending in
// the order given and read back as recorded one by one.
func TestRecordDecisions(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		var in []store.Decision
		for i := range 5 {
			in = append(in, store.Decision{CaseID: "XA-RC:D-1", Destination: memberB, Effect: []string{"allow", "deny", "needs_review"}[i%3],
				Decision: json.RawMessage(fmt.Sprintf(`{"n": %d}`, i))})
		}
		var out []store.Decision
		mustErr(t, b.s.Tx(ctx, func(tx store.Tx) error {
			var err error
			out, err = tx.RecordDecisions(ctx, in)
			return err
		}), nil)
		got := must[[]store.Decision](t)(b.s.ListDecisions(ctx, "XA-RC:D-1"))
		if len(out) != 5 || len(got) != 5 {
			t.Fatalf("recorded %d, read %d", len(out), len(got))
		}
		for i := range got {
			if got[i].ID != out[i].ID || string(got[i].Decision) != string(in[i].Decision) || got[i].Effect != in[i].Effect || !got[i].CreatedAt.Equal(out[i].CreatedAt) {
				t.Errorf("decision %d: recorded %+v, read %+v", i, out[i], got[i])
			}
		}
		_, err := b.s.RecordDecisions(ctx, []store.Decision{{CaseID: "x", Destination: memberB, Effect: "allow", Decision: json.RawMessage(`{`)}})
		mustErr(t, err, store.ErrInvalid)
	})
}

// TestGetCasesQueued: each key's case and whether a row of the kind to
// the member is queued and not cancelled, in one read, in the order of the
// keys (a key given twice read twice, a case not held zero).
func TestGetCasesQueued(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		must[store.Case](t)(b.s.CreateCase(ctx, newCase("XA-RC:Q-1")))
		must[store.Case](t)(b.s.CreateCase(ctx, newCase("XA-RC:Q-2")))
		keys := []store.CaseDest{{CaseID: "XA-RC:Q-1", Destination: memberB}, {CaseID: "XA-RC:none", Destination: memberB},
			{CaseID: "XA-RC:Q-2", Destination: memberB}, {CaseID: "XA-RC:Q-1", Destination: memberC}, {CaseID: "XA-RC:Q-1", Destination: memberB}}
		check := func(want ...bool) {
			t.Helper()
			got, err := b.s.GetCasesQueued(ctx, keys, "case.create")
			mustErr(t, err, nil)
			if len(got) != len(keys) {
				t.Fatalf("%d results for %d keys", len(got), len(keys))
			}
			for i, k := range keys {
				c := got[i].Case
				switch {
				case k.CaseID == "XA-RC:none" && (c.ID != "" || got[i].Queued):
					t.Errorf("key %d: a case not held read as %+v", i, got[i])
				case k.CaseID != "XA-RC:none" && (c.ID != k.CaseID || c.Version != 1 || c.Document == nil):
					t.Errorf("key %d: case %q version %d", i, c.ID, c.Version)
				case got[i].Queued != want[i]:
					t.Errorf("key %d (%s to %s): queued %v, want %v", i, k.CaseID, k.Destination, got[i].Queued, want[i])
				}
			}
		}
		check(false, false, false, false, false)
		must[store.OutboxItem](t)(b.s.Enqueue(ctx, store.NewOutboxItem{Destination: memberC, CaseID: "XA-RC:Q-1", Kind: "case.create", JTI: "q-c", Envelope: []byte("e")}))
		must[store.OutboxItem](t)(b.s.Enqueue(ctx, store.NewOutboxItem{Destination: memberB, CaseID: "XA-RC:Q-1", Kind: "message.deliver", JTI: "q-m", Envelope: []byte("e")}))
		check(false, false, false, true, false)
		must[store.OutboxItem](t)(b.s.Enqueue(ctx, store.NewOutboxItem{Destination: memberB, CaseID: "XA-RC:Q-1", Kind: "case.create", JTI: "q-b", Envelope: []byte("e")}))
		check(true, false, false, true, true)
	})
}
