package store_test

import (
	"bytes"
	"testing"

	"github.com/familylinks/flx/node/store"
)

func TestGetOutboxByJTI(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		in := queue(memberB, "XA-RC:0001", "case.create", "o-jti-1")
		o := enqueue(t, b.s, in)
		got := must[store.OutboxItem](t)(b.s.GetOutboxByJTI(ctx, "o-jti-1"))
		if got.ID != o.ID || !bytes.Equal(got.Envelope, in.Envelope) || got.Destination != memberB {
			t.Fatalf("GetOutboxByJTI = %+v", got)
		}
		_, err := b.s.GetOutboxByJTI(ctx, "no-such-jti")
		mustErr(t, err, store.ErrNotFound)
		_, err = store.ReadOnly(b.s).GetOutboxByJTI(ctx, "o-jti-1")
		mustErr(t, err, nil)
	})
}

func TestStatsReports(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		rep := func(member, period string, rev int64) store.StatsReport {
			return store.StatsReport{Member: member, Period: period, Revision: rev, Country: "XA",
				Document: []byte(`{"member":"` + member + `"}`), JTI: member + period}
		}
		for _, r := range []store.StatsReport{rep("XB-RC", "2026-01", 1), rep("XA-RC", "2026-01", 1), rep("XA-RC", "2026-01", 2), rep("XA-RC", "2025-12", 1)} {
			if err := b.s.SaveStatsReport(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name string
			r    store.StatsReport
			want error
		}{
			{"same revision again", rep("XA-RC", "2026-01", 2), store.ErrDuplicate},
			{"no revision", rep("XA-RC", "2026-02", 0), store.ErrInvalid},
			{"no document", store.StatsReport{Member: "XA-RC", Period: "2026-02", Revision: 1}, store.ErrInvalid},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) { mustErr(t, b.s.SaveStatsReport(ctx, tc.r), tc.want) })
		}
		all := must[[]store.StatsReport](t)(store.ReadOnly(b.s).ListStatsReports(ctx, ""))
		var got []string
		for _, r := range all {
			got = append(got, r.Period+"/"+r.Member+"/"+string(rune('0'+r.Revision)))
			if r.ReceivedAt.IsZero() || r.Country != "XA" {
				t.Errorf("report %+v", r)
			}
		}
		want := []string{"2025-12/XA-RC/1", "2026-01/XA-RC/1", "2026-01/XA-RC/2", "2026-01/XB-RC/1"}
		if len(got) != len(want) {
			t.Fatalf("reports = %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("reports = %v, want %v", got, want)
			}
		}
		jan := must[[]store.StatsReport](t)(b.s.ListStatsReports(ctx, "2026-01"))
		if len(jan) != 3 {
			t.Fatalf("2026-01 has %d reports, want 3", len(jan))
		}
	})
}

// TestDropCarried: a relay drops the bytes of what it finished carrying
// for others (processed relay.forward inbox rows, delivered or cancelled
// relay.forward outbox rows), of one case or of all; what it still
// carries, its own envelopes and other kinds keep theirs; a copy sent
// again is still a duplicate.
func TestDropCarried(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		relayed := func(jti, caseID string) store.InboxItem {
			it := envelope(jti, caseID, "r")
			it.Kind = "relay.forward"
			return it
		}
		recv := func(it store.InboxItem, processed bool) int64 {
			res := must[store.ReceiveResult](t)(b.s.Receive(ctx, it, receipt(it.JTI)))
			if processed {
				mustErr(t, b.s.MarkProcessed(ctx, res.ID, ""), nil)
			}
			return res.ID
		}
		inDone := recv(relayed("r-1", "XA-RC:1"), true)
		inWaiting := recv(relayed("r-2", "XA-RC:1"), false)
		inOther := recv(relayed("r-3", "XA-RC:2"), true)
		inCase := recv(envelope("c-1", "XA-RC:1", "c"), true)
		outDone := enqueue(t, b.s, queue(memberB, "XA-RC:1", "relay.forward", "o-1"))
		mustErr(t, b.s.MarkDelivered(ctx, outDone.ID, []byte("rcpt")), nil)
		outQueued := enqueue(t, b.s, queue(memberB, "XA-RC:1", "relay.forward", "o-2"))
		outOwn := enqueue(t, b.s, queue(memberB, "XA-RC:1", "case.create", "o-3"))
		mustErr(t, b.s.MarkDelivered(ctx, outOwn.ID, []byte("rcpt")), nil)

		// The delivered relay row's bytes went with its delivery
		// (TestDeliveredCarriedBytesGo): only the inbox row is left.
		if n := must[int64](t)(b.s.DropCarried(ctx, "XA-RC:1")); n != 1 {
			t.Fatalf("DropCarried(XA-RC:1) dropped %d rows, want 1", n)
		}
		inBytes := func(id int64) bool { return must[store.InboxItem](t)(b.s.GetInbox(ctx, id)).Envelope != nil }
		outBytes := func(id int64) bool { return must[store.OutboxItem](t)(b.s.GetOutbox(ctx, id)).Envelope != nil }
		for _, c := range []struct {
			what string
			has  bool
			want bool
		}{
			{"processed relay inbox row", inBytes(inDone), false},
			{"unprocessed relay inbox row", inBytes(inWaiting), true},
			{"relay inbox row of another case", inBytes(inOther), true},
			{"a case received", inBytes(inCase), true},
			{"delivered relay outbox row", outBytes(outDone.ID), false},
			{"queued relay outbox row", outBytes(outQueued.ID), true},
			{"own delivered case", outBytes(outOwn.ID), true},
		} {
			if c.has != c.want {
				t.Errorf("%s: holds its bytes = %v, want %v", c.what, c.has, c.want)
			}
		}
		if n := must[int64](t)(b.s.DropCarried(ctx, "")); n != 1 {
			t.Fatalf("DropCarried(all) dropped %d rows, want 1 (the other case's)", n)
		}
		again := must[store.ReceiveResult](t)(b.s.Receive(ctx, relayed("r-1", "XA-RC:1"), receipt("r-1")))
		if !again.Duplicate {
			t.Fatalf("a relay envelope sent again after its bytes went: %+v", again)
		}
	})
}

// TestDeliveredCarriedBytesGo: a relay holds a chain it carries for others
// only while it carries it: recording the delivery of a relay.forward row
// (one by one or in a batch) drops its bytes in the same statement, keeping
// its receipt; this member's own delivered envelopes keep theirs, and so do
// relay rows not delivered.
func TestDeliveredCarriedBytesGo(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		one := enqueue(t, b.s, queue(memberB, "XA-RC:1", "relay.forward", "d-1"))
		batchA := enqueue(t, b.s, queue(memberB, "XA-RC:2", "relay.forward", "d-2"))
		batchB := enqueue(t, b.s, queue(memberB, "XA-RC:3", "relay.forward", "d-3"))
		own := enqueue(t, b.s, queue(memberB, "XA-RC:4", "case.create", "d-4"))
		ownBatch := enqueue(t, b.s, queue(memberB, "XA-RC:5", "case.create", "d-5"))
		waiting := enqueue(t, b.s, queue(memberB, "XA-RC:6", "relay.forward", "d-6"))
		mustErr(t, b.s.MarkDelivered(ctx, one.ID, []byte("rcpt-1")), nil)
		mustErr(t, b.s.MarkDelivered(ctx, own.ID, []byte("rcpt-4")), nil)
		mustErr(t, b.s.MarkDeliveredAll(ctx, []store.DeliveredRow{
			{ID: batchA.ID, Receipt: []byte("rcpt-2")}, {ID: ownBatch.ID, Receipt: []byte("rcpt-5")}, {ID: batchB.ID, Receipt: []byte("rcpt-3")},
		}), nil)
		for _, c := range []struct {
			what    string
			id      int64
			bytes   bool
			receipt string
		}{
			{"relay row delivered alone", one.ID, false, "rcpt-1"},
			{"relay row delivered in a batch", batchA.ID, false, "rcpt-2"},
			{"second relay row of the batch", batchB.ID, false, "rcpt-3"},
			{"own row delivered alone", own.ID, true, "rcpt-4"},
			{"own row delivered in a batch", ownBatch.ID, true, "rcpt-5"},
			{"relay row still queued", waiting.ID, true, ""},
		} {
			got := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, c.id))
			if (got.Envelope != nil) != c.bytes {
				t.Errorf("%s: holds its bytes = %v, want %v", c.what, got.Envelope != nil, c.bytes)
			}
			if string(got.Receipt) != c.receipt {
				t.Errorf("%s: receipt %q, want %q", c.what, got.Receipt, c.receipt)
			}
		}
	})
}

// TestCancelCarried: a relay cancels the relay.forward rows it still has to
// deliver, by id, dropping their bytes; delivered rows, rows of other kinds
// and rows not named stay as they are.
func TestCancelCarried(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		queued := enqueue(t, b.s, queue(memberB, "XA-RC:1", "relay.forward", "o-1"))
		dead := enqueue(t, b.s, queue(memberB, "XA-RC:1", "relay.forward", "o-2"))
		mustErr(t, b.s.MarkDead(ctx, dead.ID, 0, "refused"), nil)
		done := enqueue(t, b.s, queue(memberB, "XA-RC:1", "relay.forward", "o-3"))
		mustErr(t, b.s.MarkDelivered(ctx, done.ID, []byte("rcpt")), nil)
		own := enqueue(t, b.s, queue(memberB, "XA-RC:1", "case.create", "o-4"))
		other := enqueue(t, b.s, queue(memberB, "XA-RC:1", "relay.forward", "o-5"))

		n := must[int64](t)(b.s.CancelCarried(ctx, []int64{queued.ID, dead.ID, done.ID, own.ID}, "cancelled: withdrawn"))
		if n != 2 {
			t.Fatalf("CancelCarried cancelled %d rows, want 2", n)
		}
		for _, c := range []struct {
			what  string
			id    int64
			state store.OutboxState
			bytes bool
		}{
			{"queued relay row", queued.ID, store.Cancelled, false},
			{"dead relay row", dead.ID, store.Cancelled, false},
			{"delivered relay row (its bytes went with the delivery)", done.ID, store.Delivered, false},
			{"own case row", own.ID, store.Queued, true},
			{"relay row not named", other.ID, store.Queued, true},
		} {
			it := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, c.id))
			if it.State != c.state || (it.Envelope != nil) != c.bytes {
				t.Errorf("%s: %s, holds its bytes %v; want %s, %v", c.what, it.State, it.Envelope != nil, c.state, c.bytes)
			}
		}
		if it := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, queued.ID)); it.LastError != "cancelled: withdrawn" {
			t.Errorf("last error %q", it.LastError)
		}
		if n := must[int64](t)(b.s.CancelCarried(ctx, nil, "x")); n != 0 {
			t.Errorf("CancelCarried(none) = %d", n)
		}
	})
}
