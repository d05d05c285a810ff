package store_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// TestMarkDeliveredAll records a batch's deliveries in one transaction:
// all rows with their receipts and disclosures, or, when one row cannot be
// recorded, none of them.
func TestMarkDeliveredAll(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		var ids []int64
		for i := range 3 {
			ids = append(ids, enqueue(t, b.s, queue(memberB, fmt.Sprintf("XA-RC:%04d", i), "case.create", fmt.Sprintf("b-%d", i))).ID)
		}
		if got := claimJTIs(t, b.s, store.ClaimRequest{Destination: memberB, Limit: 10}); len(got) != 3 {
			t.Fatalf("claimed %v", got)
		}
		rows := func(ids ...int64) []store.DeliveredRow {
			var out []store.DeliveredRow
			for _, id := range ids {
				out = append(out, store.DeliveredRow{ID: id, Receipt: []byte(fmt.Sprintf("receipt-%d", id))})
			}
			return out
		}
		// A row that does not exist in the middle: nothing is recorded.
		err := b.s.MarkDeliveredAll(ctx, rows(ids[0], 999999, ids[1]))
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("MarkDeliveredAll with an unknown row = %v, want ErrNotFound", err)
		}
		if o := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, ids[0])); o.State != store.InFlight {
			t.Fatalf("after a failed batch the first row is %s", o.State)
		}
		mustErr(t, b.s.MarkDeliveredAll(ctx, rows(ids...)), nil)
		for i, id := range ids {
			o := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, id))
			if o.State != store.Delivered || string(o.Receipt) != fmt.Sprintf("receipt-%d", id) {
				t.Fatalf("row %d: %s %q", i, o.State, o.Receipt)
			}
			if ds := must[[]store.Disclosure](t)(b.s.ListDisclosures(ctx, fmt.Sprintf("XA-RC:%04d", i))); len(ds) != 1 {
				t.Fatalf("row %d: %d disclosures", i, len(ds))
			}
		}
	})
}

// TestPingWrite rewrites its one row each time.
func TestPingWrite(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		for range 2 {
			mustErr(t, b.s.PingWrite(t.Context()), nil)
		}
		var n int
		if err := b.raw.Get(&n, `SELECT count(*) FROM write_probe`); err != nil || n != 1 {
			t.Fatalf("write_probe holds %d rows (%v), want 1", n, err)
		}
	})
}

// TestMarkDeliveredAllMatchesRowByRow: on the same rows, MarkDeliveredAll
// leaves the outbox, the disclosures and the recipients as MarkDelivered
// called once per receipt does (times compared by presence: the clock
// ticks per reading). The rows: two versions of one case to one member
// (the later first), a withdrawal, a non-disclosing row, an already
// delivered row, a cancelled row, a row named twice, across chunks of 3.
func TestMarkDeliveredAllMatchesRowByRow(t *testing.T) {
	store.SetDeliverChunk(t, 3)
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := t.Context()
			type state struct {
				outbox     []store.OutboxItem
				disclosed  []store.Disclosure
				recipients []store.Recipient
			}
			run := func(batch bool) state {
				b := newBackend(t, d)
				in := []store.NewOutboxItem{
					queue(memberB, "XA-RC:0001", "case.create", "c1-v1"),
					queue(memberB, "XA-RC:0001", "case.update", "c1-v2"),
					queue(memberB, "XA-RC:0002", "case.create", "c2-v1"),
					queue(memberB, "XA-RC:0002", "case.withdraw", "c2-wd"),
					queue(memberC, "XA-RC:0001", "case.create", "c1-c"),
					queue(memberC, "XA-RC:0003", "message.deliver", "c3-msg"),
					queue(memberB, "XA-RC:0004", "case.create", "c4-done"),
					queue(memberB, "XA-RC:0005", "case.create", "c5-cancelled"),
					queue(memberC, "XA-RC:0006", "case.create", "c6-noversion"),
				}
				versions := []int64{1, 2, 1, 0, 4, 0, 1, 1, 0}
				var ids []int64
				for i, it := range in {
					it.CaseVersion = versions[i]
					if it.JTI == "c3-msg" {
						it.Discloses = false
					}
					ids = append(ids, enqueue(t, b.s, it).ID)
				}
				mustErr(t, b.s.MarkDelivered(ctx, ids[6], []byte("earlier")), nil)
				b.exec(t, `UPDATE outbox SET state = 'cancelled' WHERE id = ?`, ids[7])
				var ds []store.DeliveredRow
				for _, i := range []int{1, 0, 3, 2, 4, 6, 5, 7, 1, 8} {
					ds = append(ds, store.DeliveredRow{ID: ids[i], Receipt: []byte(fmt.Sprintf("receipt-%d-%d", i, len(ds)))})
				}
				if batch {
					mustErr(t, b.s.MarkDeliveredAll(ctx, ds), nil)
				} else {
					for _, r := range ds {
						mustErr(t, b.s.MarkDelivered(ctx, r.ID, r.Receipt), nil)
					}
				}
				var st state
				st.outbox = must[[]store.OutboxItem](t)(b.s.ListOutbox(ctx, store.OutboxFilter{Limit: 100}))
				for i := range st.outbox {
					o := &st.outbox[i]
					o.DeliveredAt = presence(o.DeliveredAt)
					o.UpdatedAt, o.CreatedAt, o.NextAttemptAt = time.Time{}, time.Time{}, time.Time{}
				}
				for _, c := range []string{"XA-RC:0001", "XA-RC:0002", "XA-RC:0003", "XA-RC:0004", "XA-RC:0005", "XA-RC:0006"} {
					for _, x := range must[[]store.Disclosure](t)(b.s.ListDisclosures(ctx, c)) {
						x.DeliveredAt = presence(x.DeliveredAt)
						st.disclosed = append(st.disclosed, x)
					}
					for _, r := range must[[]store.Recipient](t)(b.s.ListRecipients(ctx, c)) {
						r.FirstDeliveredAt, r.LastDeliveredAt = presence(r.FirstDeliveredAt), presence(r.LastDeliveredAt)
						r.WithdrawalSentAt, r.WithdrawalConfirmedAt = presence(r.WithdrawalSentAt), presence(r.WithdrawalConfirmedAt)
						st.recipients = append(st.recipients, r)
					}
				}
				return st
			}
			want, got := run(false), run(true)
			if len(want.disclosed) != 8 || len(want.recipients) != 6 {
				t.Fatalf("row by row: %d disclosures, %d recipients; the fixture is not what it claims", len(want.disclosed), len(want.recipients))
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("MarkDeliveredAll:\n%+v\nrow by row:\n%+v", got, want)
			}
		})
	}
}

// presence keeps only whether a time is set.
func presence(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.Unix(1, 0).UTC()
}

// TestReceiveAllAsReceive: a batch received with ReceiveAll leaves what
// Receive would leave envelope by envelope (new rows with their receipts,
// duplicates with the receipt stored first, replays refused and not
// written), also for a jti named twice in one batch and for batches larger
// than one statement.
func TestReceiveAllAsReceive(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		held := envelope("held-1", "XB-RC:0001", "a")
		heldRes := must[store.ReceiveResult](t)(b.s.Receive(ctx, held, receipt("held-1")))
		entry := func(it store.InboxItem) store.ReceiveEntry {
			return store.ReceiveEntry{Item: it, Receipt: receipt(it.JTI)}
		}
		es := []store.ReceiveEntry{
			entry(envelope("new-1", "XB-RC:0002", "a")),
			entry(held), // duplicate of a row held before
			entry(envelope("held-1", "XB-RC:0001", "other")), // replay
			entry(envelope("new-2", "XB-RC:0003", "a")),
			entry(envelope("new-2", "XB-RC:0003", "a")),     // named twice: a duplicate the second time
			entry(envelope("new-2", "XB-RC:0003", "other")), // and a replay with other bytes
		}
		for i := range 250 { // more than one statement's worth
			es = append(es, entry(envelope(fmt.Sprintf("bulk-%03d", i), fmt.Sprintf("XB-RC:B%03d", i), "a")))
		}
		got := must[[]store.ReceiveResult](t)(b.s.ReceiveAll(ctx, es))
		if len(got) != len(es) {
			t.Fatalf("%d results for %d entries", len(got), len(es))
		}
		check := func(i int, wantNew, wantDup, wantReplay bool) {
			t.Helper()
			r := got[i]
			switch {
			case wantReplay:
				if r.Replay == nil || !errors.Is(r.Replay, store.ErrReplay) || r.ID != 0 {
					t.Errorf("entry %d (%s) = %+v, want a replay", i, es[i].Item.JTI, r)
				}
			case wantDup:
				if !r.Duplicate || r.ID == 0 || r.Replay != nil || len(r.ExistingReceipt) == 0 {
					t.Errorf("entry %d (%s) = %+v, want a duplicate", i, es[i].Item.JTI, r)
				}
			case wantNew:
				if r.Duplicate || r.ID == 0 || r.Replay != nil {
					t.Errorf("entry %d (%s) = %+v, want a new row", i, es[i].Item.JTI, r)
				}
				row := must[store.InboxItem](t)(b.s.GetInbox(ctx, r.ID))
				if row.JTI != es[i].Item.JTI || row.CaseID != es[i].Item.CaseID || string(row.Envelope) != string(es[i].Item.Envelope) || len(row.SHA256) != 64 {
					t.Errorf("entry %d: inbox row %+v", i, row)
				}
				if rc := must[store.Receipt](t)(b.s.GetReceipt(ctx, es[i].Item.JTI)); string(rc.Raw) != "receipt-for-"+es[i].Item.JTI || rc.Status != "accepted" {
					t.Errorf("entry %d: receipt %+v", i, rc)
				}
			}
		}
		check(0, true, false, false)
		check(1, false, true, false)
		if got[1].ID != heldRes.ID || string(got[1].ExistingReceipt) != "receipt-for-held-1" {
			t.Errorf("duplicate of the held row = %+v, want id %d and its receipt", got[1], heldRes.ID)
		}
		check(2, false, false, true)
		check(3, true, false, false)
		check(4, false, true, false)
		if got[4].ID != got[3].ID {
			t.Errorf("second naming of new-2 points at row %d, the first at %d", got[4].ID, got[3].ID)
		}
		check(5, false, false, true)
		for i := 6; i < len(es); i++ {
			check(i, true, false, false)
		}
		rows := must[[]store.InboxItem](t)(b.s.ListInbox(ctx, store.InboxFilter{Limit: 1000}))
		if want := 1 + 2 + 250; len(rows) != want {
			t.Fatalf("%d inbox rows, want %d", len(rows), want)
		}
		// The same batch again: every entry a duplicate or a replay, nothing written.
		again := must[[]store.ReceiveResult](t)(b.s.ReceiveAll(ctx, es))
		for i, r := range again {
			if r.Replay == nil && !r.Duplicate {
				t.Errorf("again: entry %d = %+v", i, r)
			}
		}
		if rows := must[[]store.InboxItem](t)(b.s.ListInbox(ctx, store.InboxFilter{Limit: 1000})); len(rows) != 253 {
			t.Fatalf("again: %d inbox rows", len(rows))
		}
		// An invalid entry fails the whole call and writes nothing.
		bad := []store.ReceiveEntry{entry(envelope("bad-1", "", "a")), {Item: envelope("", "", "a"), Receipt: receipt("x")}}
		if _, err := b.s.ReceiveAll(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("ReceiveAll with an entry without jti = %v, want ErrInvalid", err)
		}
		if _, err := b.s.GetInboxByJTI(ctx, "bad-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("bad-1 after a refused batch: %v", err)
		}
	})
}

// TestMarkProcessedAll marks a batch's inbox rows in one statement, or
// none of them inside a Tx when one cannot be marked.
func TestMarkProcessedAll(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		var ids []int64
		for i := range 4 {
			jti := fmt.Sprintf("mp-%d", i)
			ids = append(ids, must[store.ReceiveResult](t)(b.s.Receive(ctx, envelope(jti, "", "a"), receipt(jti))).ID)
		}
		if err := b.s.MarkProcessed(ctx, ids[3], ""); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			ms   []store.ProcessedMark
			want error
		}{
			{"one already processed", []store.ProcessedMark{{ID: ids[0]}, {ID: ids[3]}}, store.ErrConflict},
			{"one missing", []store.ProcessedMark{{ID: ids[0]}, {ID: 999999}}, store.ErrNotFound},
			{"named twice", []store.ProcessedMark{{ID: ids[0]}, {ID: ids[0]}}, store.ErrConflict},
		}
		for _, tc := range tests {
			err := b.s.Tx(ctx, func(tx store.Tx) error { return tx.MarkProcessedAll(ctx, tc.ms) })
			if !errors.Is(err, tc.want) {
				t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
			}
			if got := must[store.InboxItem](t)(b.s.GetInbox(ctx, ids[0])); !got.ProcessedAt.IsZero() {
				t.Fatalf("%s: row %d marked by a rolled back batch", tc.name, ids[0])
			}
		}
		if err := b.s.MarkProcessedAll(ctx, []store.ProcessedMark{{ID: ids[0]}, {ID: ids[1], Error: "stale version"}, {ID: ids[2]}}); err != nil {
			t.Fatal(err)
		}
		for i, wantErr := range []string{"", "stale version", ""} {
			got := must[store.InboxItem](t)(b.s.GetInbox(ctx, ids[i]))
			if got.ProcessedAt.IsZero() || got.ProcessError != wantErr {
				t.Fatalf("row %d: processed %v, error %q; want error %q", i, got.ProcessedAt, got.ProcessError, wantErr)
			}
		}
	})
}

// TestAppendAuditAllExtendsTheChain: entries appended together chain as
// those appended one by one (VerifyAudit holds, seq follows on), and the
// records returned are the rows stored.
func TestAppendAuditAllExtendsTheChain(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		one := func(i int) store.AuditEntry {
			return store.AuditEntry{Actor: memberB, Action: "inbox.process", Object: fmt.Sprintf("XB-RC:%04d", i),
				Details: []byte(fmt.Sprintf(`{ "inbox_id" : %d }`, i)), At: at.Add(time.Duration(i) * time.Second)}
		}
		if _, err := b.s.AppendAudit(ctx, one(0)); err != nil {
			t.Fatal(err)
		}
		var es []store.AuditEntry
		for i := 1; i <= 230; i++ { // more than one statement's worth
			es = append(es, one(i))
		}
		recs := must[[]store.AuditRecord](t)(b.s.AppendAuditAll(ctx, es))
		if _, err := b.s.AppendAudit(ctx, one(231)); err != nil {
			t.Fatal(err)
		}
		v := must[store.AuditVerification](t)(b.s.VerifyAudit(ctx))
		if v.Rows != 232 || v.FirstBadSeq != 0 {
			t.Fatalf("VerifyAudit = %+v", v)
		}
		stored := must[[]store.AuditRecord](t)(b.s.ListAudit(ctx, store.AuditFilter{AfterSeq: 1, Limit: 230}))
		for i, r := range recs {
			s := stored[i]
			if r.Seq != int64(i+2) || r.Seq != s.Seq || r.Hash != s.Hash || r.PrevHash != s.PrevHash || string(s.Details) != fmt.Sprintf(`{"inbox_id":%d}`, i+1) || !s.At.Equal(es[i].At) {
				t.Fatalf("record %d = %+v, stored %+v", i, r, s)
			}
		}
		err := b.s.Tx(ctx, func(tx store.Tx) error {
			_, err := tx.AppendAuditAll(ctx, []store.AuditEntry{one(300), {Actor: memberB}})
			return err
		})
		if !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("an entry without action = %v, want ErrInvalid", err)
		}
		if v := must[store.AuditVerification](t)(b.s.VerifyAudit(ctx)); v.Rows != 232 {
			t.Fatalf("after a refused batch: %+v", v)
		}
	})
}

// TestCasesHeld names the cases held among those asked, erased ones
// included, in batches larger than one statement.
func TestCasesHeld(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		var ids []string
		for i := range 230 {
			ids = append(ids, fmt.Sprintf("XB-RC:H%03d", i))
		}
		for _, i := range []int{0, 7, 229} {
			if _, err := b.s.CreateCase(ctx, store.NewCase{ID: ids[i], Origin: memberB, Type: "tracing_request", Status: "open", Document: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.s.EraseCase(ctx, ids[7], store.Erasure{Reason: "consent_withdrawn"}); err != nil {
			t.Fatal(err)
		}
		held := must[map[string]bool](t)(b.s.CasesHeld(ctx, append(ids, "XB-RC:NONE")))
		if len(held) != 3 || !held[ids[0]] || !held[ids[7]] || !held[ids[229]] {
			t.Fatalf("CasesHeld = %v, want %s, %s and %s", held, ids[0], ids[7], ids[229])
		}
		if held := must[map[string]bool](t)(b.s.CasesHeld(ctx, nil)); len(held) != 0 {
			t.Fatalf("CasesHeld(nil) = %v", held)
		}
	})
}

// TestGetCases reads several cases in one call as GetCase reads each:
// document, version and tombstone alike, an id not held left out, in
// batches larger than one statement.
func TestGetCases(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		var ids []string
		for i := range 230 {
			ids = append(ids, fmt.Sprintf("XB-RC:G%03d", i))
		}
		held := []int{0, 7, 228, 229}
		for _, i := range held {
			doc := fmt.Sprintf(`{"n":%d}`, i)
			if _, err := b.s.CreateCase(ctx, store.NewCase{ID: ids[i], Origin: memberB, Type: "tracing_request", Status: "open", Version: int64(i + 1), Document: []byte(doc)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.s.EraseCase(ctx, ids[7], store.Erasure{Reason: "consent_withdrawn"}); err != nil {
			t.Fatal(err)
		}
		got := must[map[string]store.Case](t)(b.s.GetCases(ctx, append(ids, "XB-RC:NONE", ids[0])))
		if len(got) != len(held) {
			t.Fatalf("GetCases returned %d cases, want %d", len(got), len(held))
		}
		for _, i := range held {
			want := must[store.Case](t)(b.s.GetCase(ctx, ids[i]))
			if c, ok := got[ids[i]]; !ok || !reflect.DeepEqual(c, want) {
				t.Errorf("GetCases[%s] = %+v, want %+v", ids[i], c, want)
			}
		}
		if !got[ids[7]].Erased() || got[ids[7]].Document != nil {
			t.Errorf("erased case read as %+v", got[ids[7]])
		}
		if got := must[map[string]store.Case](t)(b.s.GetCases(ctx, nil)); len(got) != 0 {
			t.Fatalf("GetCases(nil) = %v", got)
		}
		err := b.s.Tx(ctx, func(tx store.Tx) error {
			got, err := tx.GetCases(ctx, []string{ids[228]})
			if err == nil && got[ids[228]].Version != 229 {
				t.Errorf("GetCases in a Tx = %+v", got)
			}
			return err
		})
		mustErr(t, err, nil)
	})
}

// TestGetCaseHeads reads cases as GetCases does but for the document:
// each case held with every other column alike, Document nil and the
// SHA-256 of the document held (zero for a tombstone), an id not held
// left out, in batches larger than one statement.
func TestGetCaseHeads(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		var ids []string
		for i := range 230 {
			ids = append(ids, fmt.Sprintf("XB-RC:H%03d", i))
		}
		held := []int{0, 7, 228, 229}
		for _, i := range held {
			doc := fmt.Sprintf(`{"n":%d,"text":%q}`, i, strings.Repeat("x", 100*i))
			if _, err := b.s.CreateCase(ctx, store.NewCase{ID: ids[i], Origin: memberB, Type: "tracing_request", Status: "open", Version: int64(i + 1), Document: []byte(doc)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.s.EraseCase(ctx, ids[7], store.Erasure{Reason: "consent_withdrawn"}); err != nil {
			t.Fatal(err)
		}
		all := append(ids, "XB-RC:NONE", ids[0])
		full := must[map[string]store.Case](t)(b.s.GetCases(ctx, all))
		got := must[map[string]store.CaseHead](t)(b.s.GetCaseHeads(ctx, all))
		if len(got) != len(held) {
			t.Fatalf("GetCaseHeads returned %d cases, want %d", len(got), len(held))
		}
		for _, i := range held {
			want := full[ids[i]]
			var sum [32]byte
			if want.Document != nil {
				sum = sha256.Sum256(want.Document)
			}
			want.Document = nil
			if h, ok := got[ids[i]]; !ok || !reflect.DeepEqual(h.Case, want) || h.DocumentSHA256 != sum {
				t.Errorf("GetCaseHeads[%s] = %+v, want %+v with sha256 %x", ids[i], h, want, sum)
			}
		}
		if h := got[ids[7]]; !h.Erased() || h.DocumentSHA256 != ([32]byte{}) {
			t.Errorf("erased case read as %+v", h)
		}
		err := b.s.Tx(ctx, func(tx store.Tx) error {
			got, err := tx.GetCaseHeads(ctx, []string{ids[228]})
			if err == nil && got[ids[228]].Version != 229 {
				t.Errorf("GetCaseHeads in a Tx = %+v", got)
			}
			return err
		})
		mustErr(t, err, nil)
	})
}

// TestEnqueueAllAsEnqueue: rows queued together are the rows Enqueue
// would queue one after the other (seq per destination and case following
// rows queued before, in the order given), claimed in that order; a jti
// already queued or named twice queues none of them.
func TestEnqueueAllAsEnqueue(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		first := enqueue(t, b.s, queue(memberB, "XA-RC:0001", "case.create", "e-0"))
		in := []store.NewOutboxItem{
			queue(memberB, "XA-RC:0001", "case.update", "e-1"),
			queue(memberC, "XA-RC:0001", "case.create", "e-2"),
			queue(memberB, "XA-RC:0002", "case.create", "e-3"),
			queue(memberB, "XA-RC:0001", "case.withdraw", "e-4"),
		}
		for i := range 230 { // more than one statement's worth
			in = append(in, queue(memberC, fmt.Sprintf("XA-RC:B%03d", i), "case.create", fmt.Sprintf("bulk-%03d", i)))
		}
		got := must[[]store.OutboxItem](t)(b.s.EnqueueAll(ctx, in))
		wantSeq := map[string]int64{"e-1": first.Seq + 1, "e-2": 1, "e-3": 1, "e-4": first.Seq + 2}
		for i, o := range got {
			stored := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, o.ID))
			if o.ID == 0 || stored.JTI != in[i].JTI || stored.Seq != o.Seq || stored.State != store.Queued || stored.Kind != in[i].Kind ||
				string(stored.Envelope) != string(in[i].Envelope) || stored.Discloses != in[i].Discloses || stored.Withdraws != in[i].Withdraws {
				t.Fatalf("row %d: returned %+v, stored %+v", i, o, stored)
			}
			if w, ok := wantSeq[o.JTI]; ok && o.Seq != w {
				t.Errorf("%s: seq %d, want %d", o.JTI, o.Seq, w)
			}
		}
		// Per-case order: e-0, then e-1, then e-4, one claim at a time.
		var order []string
		for range 3 {
			jtis := claimJTIs(t, b.s, store.ClaimRequest{Destination: memberB, Limit: 10})
			for _, j := range jtis {
				if j == "e-0" || j == "e-1" || j == "e-4" {
					order = append(order, j)
				}
			}
			rows := must[[]store.OutboxItem](t)(b.s.ListOutbox(ctx, store.OutboxFilter{Destination: memberB, State: store.InFlight, Limit: 10}))
			for _, r := range rows {
				if err := b.s.MarkDelivered(ctx, r.ID, []byte("receipt")); err != nil {
					t.Fatal(err)
				}
			}
		}
		if fmt.Sprint(order) != "[e-0 e-1 e-4]" {
			t.Fatalf("claimed %v, want [e-0 e-1 e-4]", order)
		}
		tests := []struct {
			name string
			in   []store.NewOutboxItem
			want error
		}{
			{"jti already queued", []store.NewOutboxItem{queue(memberB, "XA-RC:0009", "case.create", "new-1"), queue(memberB, "XA-RC:0009", "case.update", "e-3")}, store.ErrDuplicate},
			{"jti named twice", []store.NewOutboxItem{queue(memberB, "XA-RC:0009", "case.create", "new-1"), queue(memberB, "XA-RC:0009", "case.create", "new-1")}, store.ErrDuplicate},
			{"no envelope", []store.NewOutboxItem{{Destination: memberB, Kind: "case.create", JTI: "new-2"}}, store.ErrInvalid},
		}
		for _, tc := range tests {
			if _, err := b.s.EnqueueAll(ctx, tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		if rows := must[[]store.OutboxItem](t)(b.s.ListOutbox(ctx, store.OutboxFilter{CaseID: "XA-RC:0009", Limit: 10})); len(rows) != 0 {
			t.Fatalf("a refused batch left %d rows", len(rows))
		}
		// The sequence was not advanced by the refused batches.
		o := must[[]store.OutboxItem](t)(b.s.EnqueueAll(ctx, []store.NewOutboxItem{queue(memberB, "XA-RC:0009", "case.create", "new-3")}))
		if o[0].Seq != 1 {
			t.Fatalf("seq after refused batches = %d, want 1", o[0].Seq)
		}
	})
}

// TestDeliveryIndexEntries: on PostgreSQL, recording the receipt of a
// disclosing envelope (MarkDeliveredAll) writes one entry in each index
// of its outbox row, its disclosure and its recipient row that the new
// rows meet (the update is never HOT: the state changes). Those are the
// outbox's primary key and (case_id, destination, seq), the disclosure's
// primary key and (case_id, member), and the recipient's primary key:
// five, each with its WAL record. The unique index on
// disclosures.outbox_id, which no query used, was a seventh (dropped by
// migration 0040), the outbox's on jti a sixth (moved to
// outbox_envelopes, written once per envelope, by migration 0049).
func TestDeliveryIndexEntries(t *testing.T) {
	b := newBackend(t, store.Postgres)
	s := b.schema(t)
	var got []string
	for _, table := range []string{"outbox", "disclosures", "case_recipients"} {
		for name, ix := range s[table].indexes {
			if !ix.partial { // the outbox's partial indexes hold no delivered row
				got = append(got, table+" "+name)
			}
		}
	}
	sort.Strings(got)
	want := []string{"case_recipients unique(case_id,member)", "disclosures disclosures_case_idx", "disclosures unique(id)",
		"outbox outbox_case_seq_key", "outbox unique(id)"}
	if !slices.Equal(got, want) {
		t.Errorf("a delivered envelope writes an entry in each of\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}
