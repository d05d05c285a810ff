package store_test

import (
	"errors"
	"fmt"
	"reflect"
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
