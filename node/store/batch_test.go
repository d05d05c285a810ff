package store_test

import (
	"errors"
	"fmt"
	"testing"

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
