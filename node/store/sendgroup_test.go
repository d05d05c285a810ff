package store_test

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

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

// TestRecordSends: a group's decisions (ids ascending in the order given)
// and envelopes (each with its seq after the highest of its key, and its
// envelope), as RecordDecisions and EnqueueAll write them; on PostgreSQL a
// row whose seq another writer, without the case's lock, took meanwhile
// waits for that writer's commit and is queued after its row, with the
// group's other writes kept; a jti already queued fails it.
func TestRecordSends(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		for _, id := range []string{"XA-RC:RS-1", "XA-RC:RS-2", "XA-RC:RS-3"} {
			must[store.Case](t)(b.s.CreateCase(ctx, newCase(id)))
		}
		item := func(caseID, jti string) store.NewOutboxItem {
			return store.NewOutboxItem{Destination: memberB, CaseID: caseID, CaseVersion: 1, Kind: "case.create", JTI: jti,
				Envelope: []byte("env-" + jti), Discloses: true}
		}
		must[[]store.OutboxItem](t)(b.s.EnqueueAll(ctx, []store.NewOutboxItem{item("XA-RC:RS-2", "rs-0")}))
		decs := []store.Decision{
			{CaseID: "XA-RC:RS-1", Destination: memberB, Effect: "allow", Decision: json.RawMessage(`{"n":1}`)},
			{CaseID: "XA-RC:RS-3", Destination: memberB, Effect: "deny", Decision: json.RawMessage(`{"n":2}`)},
			{CaseID: "XA-RC:RS-2", Destination: memberB, Effect: "allow", Decision: json.RawMessage(`{"n":3}`)},
		}
		items := []store.NewOutboxItem{item("XA-RC:RS-1", "rs-1"), item("XA-RC:RS-2", "rs-2")}
		// On PostgreSQL another writer takes RS-1's next seq first and
		// commits only once the group's statement waits for it.
		var other chan error
		var waited atomic.Bool
		if b.dialect == store.Postgres {
			other = make(chan error, 1)
			taken, done := make(chan struct{}), make(chan struct{})
			go func() {
				other <- b.s.Tx(ctx, func(tx store.Tx) error {
					if _, err := tx.Enqueue(ctx, item("XA-RC:RS-1", "rs-other")); err != nil {
						return err
					}
					close(taken)
					<-done
					return nil
				})
			}()
			<-taken
			go func() {
				// Until the group's INSERT waits for this transaction.
				deadline := time.Now().Add(5 * time.Second)
				for time.Now().Before(deadline) && !waited.Load() {
					waited.Store(waitsForTx(t, b))
					time.Sleep(5 * time.Millisecond)
				}
				close(done)
			}()
		}
		var gotDecs []store.Decision
		var got []store.OutboxItem
		mustErr(t, b.s.Tx(ctx, func(tx store.Tx) error {
			var err error
			gotDecs, got, err = tx.RecordSends(ctx, decs, items)
			return err
		}), nil)
		if other != nil {
			mustErr(t, <-other, nil)
			if !waited.Load() {
				t.Fatal("the group's statement never waited for the other writer")
			}
		}
		if len(gotDecs) != 3 || len(got) != 2 {
			t.Fatalf("%d decisions, %d rows", len(gotDecs), len(got))
		}
		for i, d := range gotDecs {
			if d.ID == 0 || (i > 0 && d.ID <= gotDecs[i-1].ID) || string(d.Decision) != string(decs[i].Decision) {
				t.Errorf("decision %d: %+v", i, d)
			}
			read := must[[]store.Decision](t)(b.s.ListDecisions(ctx, d.CaseID))
			if len(read) != 1 || read[0].ID != d.ID || read[0].Effect != d.Effect {
				t.Errorf("decision %d read back: %+v", i, read)
			}
		}
		wantSeq := map[string]int64{"rs-1": 1, "rs-2": 2}
		if b.dialect == store.Postgres {
			wantSeq["rs-1"] = 2 // after the other writer's
		}
		for _, o := range got {
			r := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, o.ID))
			if r.JTI != o.JTI || r.Seq != wantSeq[o.JTI] || o.Seq != r.Seq || r.State != store.Queued || string(r.Envelope) != "env-"+o.JTI {
				t.Errorf("row %s: returned %+v, read %+v, want seq %d", o.JTI, o, r, wantSeq[o.JTI])
			}
		}
		// A jti already queued: nothing of the group is written.
		err := b.s.Tx(ctx, func(tx store.Tx) error {
			_, _, err := tx.RecordSends(ctx, decs[:1], []store.NewOutboxItem{item("XA-RC:RS-3", "rs-2")})
			return err
		})
		mustErr(t, err, store.ErrDuplicate)
		if read := must[[]store.Decision](t)(b.s.ListDecisions(ctx, "XA-RC:RS-1")); len(read) != 1 {
			t.Errorf("a refused group left %d decisions of RS-1, want 1", len(read))
		}
	})
}

// waitsForTx reports whether a session of b's database waits for another
// transaction (an INSERT waiting on a unique key).
func waitsForTx(t *testing.T, b *backend) bool {
	var n int
	err := b.s.Tx(t.Context(), func(tx store.Tx) error {
		var err error
		n, err = store.SessionsWaitingForTx(t, tx)
		return err
	})
	return err == nil && n > 0
}

// TestRecordSendsPlan: RecordSends' statement, run from its generic plan
// (after its fifth run on a connection) made while the outbox was young,
// probes the outbox by key once it holds thousands of rows: no sequential
// scan, a few rows fetched per envelope.
func TestRecordSendsPlan(t *testing.T) {
	b := newBackend(t, store.Postgres)
	ctx := t.Context()
	for i := range 12 {
		must[store.Case](t)(b.s.CreateCase(ctx, newCase(fmt.Sprintf("XA-RC:RP-%02d", i))))
	}
	n := 0
	group := func(tx store.Tx, cases ...int) error {
		var ds []store.Decision
		var items []store.NewOutboxItem
		for _, c := range cases {
			id := fmt.Sprintf("XA-RC:RP-%02d", c)
			n++
			ds = append(ds, store.Decision{CaseID: id, Destination: memberB, Effect: "allow", Decision: json.RawMessage(`{}`)})
			items = append(items, store.NewOutboxItem{Destination: memberB, CaseID: id, CaseVersion: 1, Kind: "case.update",
				JTI: fmt.Sprint("rp-", n), Envelope: []byte("env"), Discloses: true})
		}
		_, _, err := tx.RecordSends(ctx, ds, items)
		return err
	}
	mustErr(t, b.s.Tx(ctx, func(tx store.Tx) error {
		for i := range 8 { // young outbox: the plan is made, generic from the 6th run on
			if err := group(tx, i%12, (i+1)%12); err != nil {
				return err
			}
		}
		var many []store.NewOutboxItem
		for i := range 4000 {
			many = append(many, store.NewOutboxItem{Destination: memberC, CaseID: fmt.Sprintf("XA-RC:RP-%02d", i%12), Kind: "message.deliver",
				JTI: fmt.Sprint("many-", i), Envelope: []byte("env")})
		}
		if _, err := tx.EnqueueAll(ctx, many); err != nil {
			return err
		}
		scans := must[int64](t)(store.OutboxSeqScans(t, tx))
		before := must[int64](t)(store.RowsFetched(t, tx, "outbox"))
		for i := range 4 {
			if err := group(tx, i, i+4); err != nil {
				return err
			}
		}
		after := must[int64](t)(store.RowsFetched(t, tx, "outbox"))
		t.Logf("4 groups of 2 envelopes over 4,000 rows: %d outbox rows fetched", after-before)
		if s := must[int64](t)(store.OutboxSeqScans(t, tx)) - scans; s != 0 || after-before > 40 {
			t.Errorf("4 groups of 2 envelopes over 4,000 rows: %d sequential scans of the outbox, %d rows fetched; want none and at most 40", s, after-before)
		}
		return nil
	}), nil)
}
