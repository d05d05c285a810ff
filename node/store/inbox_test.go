package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/familylinks/flx/node/store"
)

func envelope(jti, caseID, extra string) store.InboxItem {
	return store.InboxItem{JTI: jti, Iss: memberB, Aud: memberA, Kind: "case.create", CaseID: caseID,
		Envelope: fmt.Appendf(nil, "eyJhbGciOiJFZERTQSJ9.%s.%s.%s", jti, caseID, extra)}
}

func receipt(jti string) store.Receipt {
	return store.Receipt{Status: "accepted", Raw: []byte("receipt-for-" + jti)}
}

func TestReceive(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		first := envelope("jti-1", "XB-RC:0001", "a")
		res := must[store.ReceiveResult](t)(b.s.Receive(ctx, first, receipt("jti-1")))
		if res.Duplicate || res.ID == 0 || res.ExistingReceipt != nil {
			t.Fatalf("first Receive = %+v", res)
		}
		got := must[store.InboxItem](t)(b.s.GetInbox(ctx, res.ID))
		if got.JTI != "jti-1" || got.Iss != memberB || got.Aud != memberA || got.Kind != "case.create" ||
			got.CaseID != "XB-RC:0001" || !bytes.Equal(got.Envelope, first.Envelope) || len(got.SHA256) != 64 ||
			got.ReceivedAt.IsZero() || !got.ProcessedAt.IsZero() {
			t.Fatalf("inbox row = %+v", got)
		}
		if r := must[store.Receipt](t)(b.s.GetReceipt(ctx, "jti-1")); r.Status != "accepted" || string(r.Raw) != "receipt-for-jti-1" {
			t.Fatalf("receipt = %+v", r)
		}

		tests := []struct {
			name    string
			item    store.InboxItem
			want    error
			dup     bool
			receipt string
		}{
			{name: "same bytes again", item: first, dup: true, receipt: "receipt-for-jti-1"},
			{name: "same jti, other bytes", item: envelope("jti-1", "XB-RC:0001", "b"), want: store.ErrReplay},
			{name: "same jti, other sender", item: func() store.InboxItem {
				i := envelope("jti-1", "XB-RC:0001", "a")
				i.Iss = memberC
				i.Envelope = append(i.Envelope, '!')
				return i
			}(), want: store.ErrReplay},
			{name: "sha256 given and right", item: func() store.InboxItem { i := envelope("jti-2", "", "a"); i.SHA256 = sha(i.Envelope); return i }()},
			{name: "sha256 given and wrong", item: func() store.InboxItem { i := envelope("jti-3", "", "a"); i.SHA256 = sha([]byte("x")); return i }(), want: store.ErrInvalid},
			{name: "no jti", item: envelope("", "", "a"), want: store.ErrInvalid},
			{name: "no envelope", item: store.InboxItem{JTI: "jti-4", Iss: memberB, Aud: memberA, Kind: "case.create"}, want: store.ErrInvalid},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				before := b.count(t, `SELECT COUNT(*) FROM inbox`) + b.count(t, `SELECT COUNT(*) FROM inbox WHERE receipt IS NOT NULL`)
				res, err := b.s.Receive(ctx, tc.item, receipt(tc.item.JTI))
				mustErr(t, err, tc.want)
				if res.Duplicate != tc.dup || string(res.ExistingReceipt) != tc.receipt {
					t.Fatalf("Receive = %+v, want duplicate=%v receipt %q", res, tc.dup, tc.receipt)
				}
				after := b.count(t, `SELECT COUNT(*) FROM inbox`) + b.count(t, `SELECT COUNT(*) FROM inbox WHERE receipt IS NOT NULL`)
				if (err != nil || tc.dup) && after != before {
					t.Fatalf("rows %d -> %d: a refused or duplicate Receive wrote something", before, after)
				}
			})
		}
		_, err := b.s.Receive(ctx, envelope("jti-1", "XB-RC:0001", "zzz"), receipt("jti-1"))
		var replay *store.ReplayError
		if !errors.As(err, &replay) || replay.JTI != "jti-1" || replay.Stored != got.SHA256 || replay.Stored == replay.Got {
			t.Fatalf("want a *ReplayError for jti-1, got %v", err)
		}
		_, err = b.s.GetReceipt(ctx, "jti-none")
		mustErr(t, err, store.ErrNotFound)
		_, err = b.s.GetInboxByJTI(ctx, "jti-none")
		mustErr(t, err, store.ErrNotFound)
	})
}

// The same envelope arriving on several connections at once (a peer's
// retries racing): exactly one is new, the others duplicates with its receipt.
func TestReceiveConcurrent(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		other := b.open(t)
		item := envelope("jti-race", "XB-RC:0001", "a")
		const n = 10
		var wg sync.WaitGroup
		results := make([]store.ReceiveResult, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				s := b.s
				if i%2 == 1 {
					s = other
				}
				results[i], errs[i] = s.Receive(ctx, item, store.Receipt{Raw: fmt.Appendf(nil, "receipt-%d", i)})
			})
		}
		wg.Wait()
		var fresh int
		var winner []byte
		for i, r := range results {
			mustErr(t, errs[i], nil)
			if !r.Duplicate {
				fresh++
				winner = fmt.Appendf(nil, "receipt-%d", i)
			}
		}
		if fresh != 1 {
			t.Fatalf("%d receives were new, want 1", fresh)
		}
		for _, r := range results {
			if r.Duplicate && !bytes.Equal(r.ExistingReceipt, winner) {
				t.Fatalf("duplicate got receipt %q, want the first %q", r.ExistingReceipt, winner)
			}
		}
	})
}

func TestInboxProcessing(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		var ids []int64
		for i := range 6 {
			item := envelope(fmt.Sprint("jti-", i), fmt.Sprintf("XB-RC:%04d", i%2), "a")
			if i == 5 {
				item.Kind, item.Iss = "message.deliver", memberC
			}
			ids = append(ids, must[store.ReceiveResult](t)(b.s.Receive(ctx, item, receipt(item.JTI))).ID)
		}
		mustErr(t, b.s.MarkProcessed(ctx, ids[0], ""), nil)
		mustErr(t, b.s.MarkProcessed(ctx, ids[1], "schema_invalid: /persons"), nil)
		mustErr(t, b.s.MarkProcessed(ctx, ids[0], ""), store.ErrConflict)
		mustErr(t, b.s.MarkProcessed(ctx, 99999, ""), store.ErrNotFound)

		failed := must[store.InboxItem](t)(b.s.GetInbox(ctx, ids[1]))
		if failed.ProcessedAt.IsZero() || failed.ProcessError != "schema_invalid: /persons" {
			t.Fatalf("failed row = %+v", failed)
		}

		// A restarted processor resumes from the unprocessed rows, in order.
		restarted := b.open(t)
		var resumed []int64
		for after := int64(0); ; {
			page := must[[]store.InboxItem](t)(restarted.ListUnprocessed(ctx, after, 2))
			if len(page) == 0 {
				break
			}
			for _, it := range page {
				if it.Envelope == nil {
					t.Fatal("ListUnprocessed must return envelopes")
				}
				resumed = append(resumed, it.ID)
			}
			after = page[len(page)-1].ID
		}
		if fmt.Sprint(resumed) != fmt.Sprint(ids[2:]) {
			t.Fatalf("unprocessed = %v, want %v", resumed, ids[2:])
		}

		tests := []struct {
			name string
			f    store.InboxFilter
			want []int64
		}{
			{"all", store.InboxFilter{}, ids},
			{"unprocessed", store.InboxFilter{State: "unprocessed"}, ids[2:]},
			{"processed", store.InboxFilter{State: "processed"}, ids[:1]},
			{"failed", store.InboxFilter{State: "failed"}, ids[1:2]},
			{"by sender", store.InboxFilter{Iss: memberC}, ids[5:]},
			{"by kind", store.InboxFilter{Kind: "case.create"}, ids[:5]},
			{"by case", store.InboxFilter{CaseID: "XB-RC:0001"}, []int64{ids[1], ids[3], ids[5]}},
			{"after id", store.InboxFilter{AfterID: ids[3]}, ids[4:]},
			{"limit", store.InboxFilter{Limit: 2}, ids[:2]},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				items := must[[]store.InboxItem](t)(b.s.ListInbox(ctx, tc.f))
				var got []int64
				for _, it := range items {
					if it.Envelope != nil {
						t.Fatal("envelope listed without IncludeEnvelope")
					}
					got = append(got, it.ID)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Fatalf("ListInbox = %v, want %v", got, tc.want)
				}
			})
		}
		withEnv := must[[]store.InboxItem](t)(b.s.ListInbox(ctx, store.InboxFilter{IncludeEnvelope: true, Limit: 1}))
		if len(withEnv) != 1 || withEnv[0].Envelope == nil {
			t.Fatalf("IncludeEnvelope: %+v", withEnv)
		}
		_, err := b.s.ListInbox(ctx, store.InboxFilter{State: "bogus"})
		mustErr(t, err, store.ErrInvalid)
	})
}

// TestListUnprocessedAcrossGaps: the first unprocessed rows after an id,
// in order, however far apart (ListUnprocessed reads windows of ids
// starting at the first unprocessed one).
func TestListUnprocessedAcrossGaps(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		var ids []int64
		for i := range 40 {
			item := envelope(fmt.Sprint("gap-", i), fmt.Sprintf("XB-RC:%04d", i), "a")
			ids = append(ids, must[store.ReceiveResult](t)(b.s.Receive(ctx, item, receipt(item.JTI))).ID)
		}
		left := []int64{ids[1], ids[2], ids[19], ids[20], ids[21], ids[39]} // gaps longer than a window of 4*2 ids
		keep := map[int64]bool{}
		for _, id := range left {
			keep[id] = true
		}
		for _, id := range ids {
			if !keep[id] {
				mustErr(t, b.s.MarkProcessed(ctx, id, ""), nil)
			}
		}
		tests := []struct {
			name  string
			after int64
			n     int
			want  []int64
		}{
			{"from the start, 2", 0, 2, left[:2]},
			{"from the start, 4: across a gap", 0, 4, left[:4]},
			{"after the first", ids[1], 3, left[1:4]},
			{"across two gaps", ids[2], 10, left[2:]},
			{"after the last", ids[39], 5, nil},
			{"all", 0, 100, left},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var got []int64
				for _, it := range must[[]store.InboxItem](t)(b.s.ListUnprocessed(ctx, tc.after, tc.n)) {
					got = append(got, it.ID)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Fatalf("ListUnprocessed(%d, %d) = %v, want %v", tc.after, tc.n, got, tc.want)
				}
			})
		}
	})
}

// TestReceiptsMigration: a database an older FLX left, with receipts in
// their own table, keeps every receipt on its inbox row when migration
// 0029 runs: GetReceipt reads it (its time the row's received_at) and a
// duplicate of the envelope gets it back; the receipts table is gone.
func TestReceiptsMigration(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := t.Context()
			b := migratedBefore(t, d, 29)
			at := "2026-01-01T00:00:00.000000Z"
			items := map[string]string{"jti-old-1": "rejected", "jti-old-2": "accepted"}
			for jti, status := range items {
				it := envelope(jti, "XB-RC:0001", "a")
				b.exec(t, `INSERT INTO inbox (jti, iss, aud, kind, case_id, sha256, envelope, received_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, it.JTI, it.Iss, it.Aud, it.Kind, it.CaseID, sha(it.Envelope), it.Envelope, at)
				b.exec(t, `INSERT INTO receipts (jti, status, receipt, created_at) VALUES (?, ?, ?, ?)`,
					jti, status, receipt(jti).Raw, at)
			}
			b.s = b.open(t) // applies 0029
			for jti, status := range items {
				r := must[store.Receipt](t)(b.s.GetReceipt(ctx, jti))
				if r.JTI != jti || r.Status != status || string(r.Raw) != string(receipt(jti).Raw) || r.CreatedAt.UTC().Format("2006-01-02") != "2026-01-01" {
					t.Fatalf("migrated receipt %+v", r)
				}
				res := must[store.ReceiveResult](t)(b.s.Receive(ctx, envelope(jti, "XB-RC:0001", "a"), receipt("other")))
				if !res.Duplicate || string(res.ExistingReceipt) != string(receipt(jti).Raw) {
					t.Fatalf("duplicate of a migrated envelope = %+v", res)
				}
			}
			var n int
			q := `SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'receipts'`
			if d == store.SQLite {
				q = `SELECT COUNT(*) FROM sqlite_master WHERE name = 'receipts'`
			}
			if err := b.raw.GetContext(ctx, &n, q); err != nil || n != 0 {
				t.Fatalf("receipts table left: %d %v", n, err)
			}
		})
	}
}
