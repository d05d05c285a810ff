package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// queue is a row as the node queues it: its delivery discloses the case,
// and a case.withdraw is the withdrawal sent.
func queue(dest, caseID, kind, jti string) store.NewOutboxItem {
	return store.NewOutboxItem{Destination: dest, CaseID: caseID, Kind: kind, JTI: jti,
		Envelope: []byte("signed-envelope-" + jti), Discloses: true, Withdraws: kind == "case.withdraw"}
}

func enqueue(t testing.TB, s store.Queries, in store.NewOutboxItem) store.OutboxItem {
	t.Helper()
	return must[store.OutboxItem](t)(s.Enqueue(t.Context(), in))
}

// claimJTIs claims at now and returns the claimed jtis in claim order.
func claimJTIs(t testing.TB, s store.Store, r store.ClaimRequest) []string {
	t.Helper()
	if r.Worker == "" {
		r.Worker = "w1"
	}
	items := must[[]store.OutboxItem](t)(s.ClaimDue(t.Context(), r))
	jtis := []string{}
	for _, it := range items {
		if it.State != store.InFlight || it.ClaimedBy != r.Worker || it.Envelope == nil {
			t.Fatalf("claimed row = %+v", it)
		}
		jtis = append(jtis, it.JTI)
	}
	return jtis
}

func TestEnqueue(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		in := queue(memberB, "XA-RC:0001", "case.create", "o-1")
		in.CaseVersion = 3
		o := enqueue(t, b.s, in)
		got := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, o.ID))
		if got.Destination != memberB || got.CaseID != "XA-RC:0001" || got.CaseVersion != 3 || got.Kind != "case.create" ||
			got.JTI != "o-1" || !bytes.Equal(got.Envelope, in.Envelope) || got.Seq != 1 || got.State != store.Queued ||
			got.Attempts != 0 || got.NextAttemptAt.IsZero() || !got.NextAttemptAt.Equal(got.CreatedAt) {
			t.Fatalf("outbox row = %+v", got)
		}
		tests := []struct {
			name    string
			in      store.NewOutboxItem
			want    error
			wantSeq int64
		}{
			{"next for same case", queue(memberB, "XA-RC:0001", "case.update", "o-2"), nil, 2},
			{"same case, other destination", queue(memberC, "XA-RC:0001", "case.create", "o-3"), nil, 1},
			{"other case", queue(memberB, "XA-RC:0002", "case.create", "o-4"), nil, 1},
			{"duplicate jti", queue(memberC, "XA-RC:0009", "case.create", "o-1"), store.ErrDuplicate, 0},
			{"no envelope", store.NewOutboxItem{Destination: memberB, Kind: "case.create", JTI: "o-5"}, store.ErrInvalid, 0},
			{"no destination", queue("", "XA-RC:0001", "case.create", "o-6"), store.ErrInvalid, 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				o, err := b.s.Enqueue(ctx, tc.in)
				mustErr(t, err, tc.want)
				if o.Seq != tc.wantSeq {
					t.Fatalf("seq = %d, want %d", o.Seq, tc.wantSeq)
				}
			})
		}
		_, err := b.s.GetOutbox(ctx, 99999)
		mustErr(t, err, store.ErrNotFound)
	})
}

func TestClaimDue(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		now := b.clock.Now()
		enqueue(t, b.s, queue(memberB, "XA-RC:0001", "case.create", "a1"))
		enqueue(t, b.s, queue(memberB, "XA-RC:0001", "case.update", "a2"))
		enqueue(t, b.s, queue(memberB, "XA-RC:0001", "case.update", "a3"))
		enqueue(t, b.s, queue(memberB, "XA-RC:0002", "case.create", "b1"))
		enqueue(t, b.s, queue(memberC, "XA-RC:0001", "case.create", "c1"))
		later := queue(cta, "XA-RC:0003", "case.create", "later")
		later.NotBefore = now.Add(time.Hour)
		enqueue(t, b.s, later)
		at := now.Add(time.Minute)

		// Only the head of each (destination, case) is due; "later" is not due.
		if got := claimJTIs(t, b.s, store.ClaimRequest{Now: at, Destination: memberB, Lease: 24 * time.Hour}); fmt.Sprint(got) != "[a1 b1]" {
			t.Fatalf("claim for XB = %v, want [a1 b1]", got)
		}
		if got := claimJTIs(t, b.s, store.ClaimRequest{Now: at, Limit: 10, Lease: 24 * time.Hour}); fmt.Sprint(got) != "[c1]" {
			t.Fatalf("claim = %v, want [c1] (a2 waits for a1, later is not due)", got)
		}
		a1 := must[[]store.OutboxItem](t)(b.s.ListOutbox(ctx, store.OutboxFilter{CaseID: "XA-RC:0001", Destination: memberB}))[0]
		mustErr(t, b.s.MarkDelivered(ctx, a1.ID, []byte("receipt-a1")), nil)
		if got := claimJTIs(t, b.s, store.ClaimRequest{Now: at}); fmt.Sprint(got) != "[a2]" {
			t.Fatalf("after a1 delivered: %v, want [a2]", got)
		}
		// A failed a2 is retried later; a3 still waits behind it.
		a2row := listOne(t, b.s, "a2")
		mustErr(t, b.s.MarkFailed(ctx, a2row.ID, a2row.Attempts, "peer 503", at.Add(10*time.Minute)), nil)
		if got := claimJTIs(t, b.s, store.ClaimRequest{Now: at.Add(time.Minute)}); len(got) != 0 {
			t.Fatalf("claimed %v while a2 waits for its retry", got)
		}
		if got := claimJTIs(t, b.s, store.ClaimRequest{Now: at.Add(11 * time.Minute), Lease: 24 * time.Hour}); fmt.Sprint(got) != "[a2]" {
			t.Fatalf("retry: %v, want [a2]", got)
		}
		a2row = listOne(t, b.s, "a2")
		if a2row.Attempts != 2 || a2row.LastError != "peer 503" {
			t.Fatalf("a2 after retry claim = %+v", a2row)
		}
		if got := claimJTIs(t, b.s, store.ClaimRequest{Now: at.Add(2 * time.Hour), Limit: 1}); fmt.Sprint(got) != "[later]" {
			t.Fatalf("limit 1 at +2h: %v, want [later]", got)
		}
		_, err := b.s.ClaimDue(ctx, store.ClaimRequest{})
		mustErr(t, err, store.ErrInvalid)
	})
}

func listOne(t testing.TB, s store.Store, jti string) store.OutboxItem {
	t.Helper()
	for after := int64(0); ; {
		items := must[[]store.OutboxItem](t)(s.ListOutbox(t.Context(), store.OutboxFilter{AfterID: after}))
		if len(items) == 0 {
			t.Fatalf("no outbox row %s", jti)
		}
		for _, it := range items {
			if it.JTI == jti {
				return it
			}
		}
		after = items[len(items)-1].ID
	}
}

// A worker that crashes leaves rows in flight; once the lease expires
// another worker claims them, and the first worker's late report is refused.
func TestLeaseExpiry(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		t0 := b.clock.Now()
		o := enqueue(t, b.s, queue(memberB, "XA-RC:0001", "case.create", "o-1"))
		enqueue(t, b.s, queue(memberB, "XA-RC:0001", "case.update", "o-2"))
		first := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "crashed", Now: t0.Add(time.Second), Lease: time.Minute}))
		if len(first) != 1 || first[0].ID != o.ID || first[0].Attempts != 1 || !first[0].LeaseUntil.Equal(t0.Add(time.Second+time.Minute)) {
			t.Fatalf("first claim = %+v", first)
		}
		restarted := b.open(t)
		tests := []struct {
			name string
			at   time.Duration
			want string
		}{
			{"lease running", 30 * time.Second, "[]"},
			{"lease just ending", time.Second + time.Minute - time.Millisecond, "[]"},
			{"lease expired", time.Second + time.Minute, "[o-1]"},
			{"reclaimed lease running", 90 * time.Second, "[]"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got := claimJTIs(t, restarted, store.ClaimRequest{Worker: "w2", Now: t0.Add(tc.at), Lease: time.Minute})
				if fmt.Sprint(got) != tc.want {
					t.Fatalf("claim at +%s = %v, want %s", tc.at, got, tc.want)
				}
			})
		}
		row := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, o.ID))
		if row.Attempts != 2 || row.ClaimedBy != "w2" {
			t.Fatalf("reclaimed row = %+v", row)
		}
		// The crashed worker comes back with attempt 1: refused.
		mustErr(t, b.s.MarkFailed(ctx, o.ID, 1, "late", time.Time{}), store.ErrConflict)
		mustErr(t, b.s.MarkDead(ctx, o.ID, 1, "late"), store.ErrConflict)
		mustErr(t, restarted.MarkDelivered(ctx, o.ID, []byte("receipt")), nil)
		mustErr(t, b.s.MarkFailed(ctx, o.ID, 2, "after delivery", time.Time{}), store.ErrConflict)
		mustErr(t, b.s.MarkFailed(ctx, 99999, 1, "x", time.Time{}), store.ErrNotFound)
	})
}

func TestDeadLetter(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		now := b.clock.Now()
		o1 := enqueue(t, b.s, queue(memberB, "XA-RC:0001", "case.create", "o-1"))
		enqueue(t, b.s, queue(memberB, "XA-RC:0001", "case.update", "o-2"))
		const maxAttempts = 3
		for i := 1; i <= maxAttempts; i++ {
			items := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Now: now.Add(time.Duration(i) * time.Hour)}))
			if len(items) != 1 || items[0].ID != o1.ID || items[0].Attempts != i {
				t.Fatalf("attempt %d: claimed %+v", i, items)
			}
			if i < maxAttempts {
				mustErr(t, b.s.MarkFailed(ctx, o1.ID, i, "peer unreachable", now.Add(time.Duration(i)*time.Hour+time.Minute)), nil)
			} else {
				mustErr(t, b.s.MarkDead(ctx, o1.ID, i, "gave up after 3 attempts"), nil)
			}
		}
		dead := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, o1.ID))
		if dead.State != store.Dead || dead.LastError != "gave up after 3 attempts" || !dead.LeaseUntil.IsZero() {
			t.Fatalf("dead row = %+v", dead)
		}
		// The dead head blocks the rest of its case for that destination.
		if got := claimJTIs(t, b.s, store.ClaimRequest{Now: now.Add(24 * time.Hour)}); len(got) != 0 {
			t.Fatalf("claimed %v behind a dead row", got)
		}
		tests := []struct {
			name string
			id   int64
			want error
		}{
			{"requeue dead", o1.ID, nil},
			{"requeue queued", o1.ID, store.ErrConflict},
			{"requeue unknown", 99999, store.ErrNotFound},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) { mustErr(t, b.s.Requeue(ctx, tc.id), tc.want) })
		}
		re := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, o1.ID))
		if re.State != store.Queued || re.Attempts != 0 {
			t.Fatalf("requeued row = %+v", re)
		}
		if got := claimJTIs(t, b.s, store.ClaimRequest{Now: b.clock.Now()}); fmt.Sprint(got) != "[o-1]" {
			t.Fatalf("after requeue: %v", got)
		}
		// An operator may kill a queued row (attempt 0).
		o3 := enqueue(t, b.s, queue(memberC, "XA-RC:0003", "case.create", "o-3"))
		mustErr(t, b.s.MarkDead(ctx, o3.ID, 0, "operator"), nil)
		mustErr(t, b.s.MarkDead(ctx, o3.ID, 0, "operator"), store.ErrConflict)
	})
}

func TestDeliveryRecords(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		// The store records what the caller queued the row to record; it
		// does not read the kind (the node decides what a kind means).
		deliver := func(dest, kind, jti string, version int64, discloses, withdraws bool) {
			t.Helper()
			in := queue(dest, "XA-RC:0001", kind, jti)
			in.CaseVersion, in.Discloses, in.Withdraws = version, discloses, withdraws
			o := enqueue(t, b.s, in)
			items := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: dest}))
			if len(items) != 1 || items[0].ID != o.ID {
				t.Fatalf("claim %s: %+v", jti, items)
			}
			mustErr(t, b.s.MarkDelivered(ctx, o.ID, []byte("receipt-"+jti)), nil)
			mustErr(t, b.s.MarkDelivered(ctx, o.ID, []byte("again")), nil) // idempotent
			got := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, o.ID))
			if got.State != store.Delivered || string(got.Receipt) != "receipt-"+jti || got.DeliveredAt.IsZero() {
				t.Fatalf("delivered row = %+v", got)
			}
		}
		deliver(memberB, "case.create", "d-1", 1, true, false)
		deliver(memberB, "case.update", "d-2", 2, true, false)
		deliver(cta, "case.create", "d-3", 2, true, false)
		deliver(memberB, "case.withdraw", "d-4", 0, true, true)
		deliver(memberC, "case.withdraw", "d-5", 0, false, false) // records nothing
		deliver(cta, "any.kind", "d-6", 0, false, false)

		ds := must[[]store.Disclosure](t)(b.s.ListDisclosures(ctx, "XA-RC:0001"))
		var log []string
		for _, d := range ds {
			log = append(log, fmt.Sprintf("%s:%s:v%d", d.Member, d.JTI, d.CaseVersion))
		}
		if fmt.Sprint(log) != "[XB-RC:d-1:v1 XB-RC:d-2:v2 ICRC-CTA:d-3:v2 XB-RC:d-4:v0]" {
			t.Fatalf("disclosures = %v", log)
		}
		rs := must[[]store.Recipient](t)(b.s.ListRecipients(ctx, "XA-RC:0001"))
		if len(rs) != 2 || rs[0].Member != cta || rs[1].Member != memberB || rs[1].LastVersion != 2 ||
			rs[1].WithdrawalSentAt.IsZero() || !rs[0].WithdrawalSentAt.IsZero() || !rs[1].FirstDeliveredAt.Before(rs[1].LastDeliveredAt) {
			t.Fatalf("recipients = %+v", rs)
		}
		pending := must[[]store.Recipient](t)(b.s.ListPendingWithdrawals(ctx, 10))
		if len(pending) != 1 || pending[0].Member != memberB {
			t.Fatalf("pending withdrawals = %+v", pending)
		}
		mustErr(t, b.s.ConfirmWithdrawal(ctx, "XA-RC:0001", memberB, time.Time{}), nil)
		mustErr(t, b.s.ConfirmWithdrawal(ctx, "XA-RC:0001", memberC, time.Time{}), store.ErrNotFound)
		if pending := must[[]store.Recipient](t)(b.s.ListPendingWithdrawals(ctx, 10)); len(pending) != 0 {
			t.Fatalf("pending after confirmation = %+v", pending)
		}
	})
}

func TestOutboxStatsAndList(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		t0 := b.clock.Now()
		var ids []int64
		for i, dest := range []string{memberB, memberB, memberB, memberC, memberC} {
			ids = append(ids, enqueue(t, b.s, queue(dest, fmt.Sprintf("XA-RC:%04d", i), "case.create", fmt.Sprint("s-", i))).ID)
		}
		claimed := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberB, Limit: 2}))
		mustErr(t, b.s.MarkDelivered(ctx, claimed[0].ID, []byte("r")), nil)
		mustErr(t, b.s.MarkDead(ctx, ids[3], 0, "operator"), nil)

		// XB-RC has a queued row due; XC-RC only a queued one (its other is dead).
		if due := must[[]string](t)(b.s.DueDestinations(ctx, time.Time{})); fmt.Sprint(due) != "[XB-RC XC-RC]" {
			t.Fatalf("due destinations = %v", due)
		}
		mustErr(t, b.s.MarkFailed(ctx, claimed[1].ID, 0, "later", b.clock.Now().Add(time.Hour)), nil)
		if due := must[[]string](t)(b.s.DueDestinations(ctx, time.Time{})); fmt.Sprint(due) != "[XB-RC XC-RC]" {
			t.Fatalf("due destinations after a retry was put off = %v", due)
		}
		if due := must[[]string](t)(b.s.DueDestinations(ctx, b.clock.Now().Add(-time.Hour))); len(due) != 0 {
			t.Fatalf("nothing is due an hour ago: %v", due)
		}
		stats := must[[]store.DestinationStats](t)(b.s.OutboxStats(ctx))
		got := fmt.Sprint(len(stats))
		for _, s := range stats {
			got += fmt.Sprintf(" %s:q%d/f%d/d%d/x%d/c%d", s.Destination, s.Queued, s.InFlight, s.Delivered, s.Dead, s.Cancelled)
		}
		if got != "2 XB-RC:q2/f0/d1/x0/c0 XC-RC:q1/f0/d0/x1/c0" {
			t.Fatalf("stats = %s", got)
		}
		if !stats[0].OldestPending.After(t0) || !stats[0].OldestPending.Before(stats[1].OldestPending) {
			t.Fatalf("oldest pending: %v, %v", stats[0].OldestPending, stats[1].OldestPending)
		}

		tests := []struct {
			name string
			f    store.OutboxFilter
			want []int64
		}{
			{"all", store.OutboxFilter{}, ids},
			{"destination", store.OutboxFilter{Destination: memberC}, ids[3:]},
			{"state", store.OutboxFilter{State: store.Dead}, ids[3:4]},
			{"case", store.OutboxFilter{CaseID: "XA-RC:0002"}, ids[2:3]},
			{"after id and limit", store.OutboxFilter{AfterID: ids[0], Limit: 2}, ids[1:3]},
			{"pending", store.OutboxFilter{Pending: true}, []int64{ids[1], ids[2], ids[4]}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var got []int64
				for _, it := range must[[]store.OutboxItem](t)(b.s.ListOutbox(ctx, tc.f)) {
					if it.Envelope != nil {
						t.Fatal("envelope listed without IncludeEnvelope")
					}
					got = append(got, it.ID)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Fatalf("ListOutbox = %v, want %v", got, tc.want)
				}
			})
		}
		// Pending reads in-flight rows with the queued ones, and is not
		// to be combined with a state.
		inFlight := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberC, Limit: 1}))
		if len(inFlight) != 1 || inFlight[0].ID != ids[4] {
			t.Fatalf("claimed %+v, want row %d", inFlight, ids[4])
		}
		var pending []int64
		for _, it := range must[[]store.OutboxItem](t)(b.s.ListOutbox(ctx, store.OutboxFilter{Pending: true})) {
			pending = append(pending, it.ID)
		}
		if fmt.Sprint(pending) != fmt.Sprint([]int64{ids[1], ids[2], ids[4]}) {
			t.Fatalf("pending with one row in flight = %v", pending)
		}
		if _, err := b.s.ListOutbox(ctx, store.OutboxFilter{Pending: true, State: store.Queued}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("pending and a state: %v, want ErrInvalid", err)
		}
	})
}

// An envelope about to expire is re-signed before its next attempt: the
// row keeps its place (destination, case, seq) and takes the new jti and
// bytes, but only while the attempt that re-signed it still holds it.
func TestReplaceEnvelope(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		const caseID = "XA-RC:0001"
		o1 := enqueue(t, b.s, queue(memberB, caseID, "case.create", "r-1"))
		o2 := enqueue(t, b.s, queue(memberB, caseID, "case.update", "r-2"))
		mustErr(t, b.s.ReplaceEnvelope(ctx, o1.ID, 1, "r-1b", []byte("resigned")), store.ErrConflict) // queued, not in flight
		if got := claimJTIs(t, b.s, store.ClaimRequest{Destination: memberB}); fmt.Sprint(got) != "[r-1]" {
			t.Fatalf("claimed %v", got)
		}
		tests := []struct {
			name     string
			id       int64
			attempt  int
			jti      string
			envelope []byte
			want     error
		}{
			{"attempt 0", o1.ID, 0, "r-1b", []byte("x"), store.ErrInvalid},
			{"no jti", o1.ID, 1, "", []byte("x"), store.ErrInvalid},
			{"no envelope", o1.ID, 1, "r-1b", nil, store.ErrInvalid},
			{"jti of another row", o1.ID, 1, "r-2", []byte("x"), store.ErrDuplicate},
			{"other attempt", o1.ID, 2, "r-1b", []byte("x"), store.ErrConflict},
			{"row not in flight", o2.ID, 1, "r-2b", []byte("x"), store.ErrConflict},
			{"unknown row", 99999, 1, "r-9", []byte("x"), store.ErrNotFound},
			{"in flight at that attempt", o1.ID, 1, "r-1b", []byte("signed-envelope-r-1b"), nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				mustErr(t, b.s.ReplaceEnvelope(ctx, tc.id, tc.attempt, tc.jti, tc.envelope), tc.want)
			})
		}
		got := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, o1.ID))
		if got.JTI != "r-1b" || string(got.Envelope) != "signed-envelope-r-1b" || got.Seq != 1 || got.State != store.InFlight ||
			got.Attempts != 1 || got.Destination != memberB || got.CaseID != caseID || got.Kind != "case.create" {
			t.Fatalf("re-signed row = %+v", got)
		}
		if untouched := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, o2.ID)); untouched.JTI != "r-2" || string(untouched.Envelope) != "signed-envelope-r-2" {
			t.Fatalf("other row changed: %+v", untouched)
		}

		// Still the head of its case: the update waits; the retry carries
		// the new bytes, and the delivery is recorded under the new jti.
		mustErr(t, b.s.MarkFailed(ctx, o1.ID, 1, "http_503", time.Time{}), nil)
		items := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberB, Limit: 10}))
		if len(items) != 1 || items[0].ID != o1.ID || items[0].JTI != "r-1b" || string(items[0].Envelope) != "signed-envelope-r-1b" || items[0].Attempts != 2 {
			t.Fatalf("retry claimed %+v", items)
		}
		mustErr(t, b.s.MarkDelivered(ctx, o1.ID, []byte("receipt")), nil)
		ds := must[[]store.Disclosure](t)(b.s.ListDisclosures(ctx, caseID))
		if len(ds) != 1 || ds[0].JTI != "r-1b" {
			t.Fatalf("disclosures = %+v", ds)
		}
		mustErr(t, b.s.ReplaceEnvelope(ctx, o1.ID, 2, "r-1c", []byte("x")), store.ErrConflict) // delivered

		// A dead row requeued is re-signed on its next attempt like any other.
		if got := claimJTIs(t, b.s, store.ClaimRequest{Destination: memberB}); fmt.Sprint(got) != "[r-2]" {
			t.Fatalf("claimed %v", got)
		}
		mustErr(t, b.s.MarkDead(ctx, o2.ID, 1, "http_400: expired"), nil)
		mustErr(t, b.s.ReplaceEnvelope(ctx, o2.ID, 1, "r-2b", []byte("x")), store.ErrConflict) // dead
		mustErr(t, b.s.Requeue(ctx, o2.ID), nil)
		if got := claimJTIs(t, b.s, store.ClaimRequest{Destination: memberB}); fmt.Sprint(got) != "[r-2]" {
			t.Fatalf("claimed %v after requeue", got)
		}
		mustErr(t, b.s.ReplaceEnvelope(ctx, o2.ID, 1, "r-2b", []byte("signed-envelope-r-2b")), nil)

		// A worker whose lease ran out may not replace what the next one
		// is sending, nor may anyone re-sign an erased case's envelope.
		later := b.clock.Now().Add(time.Hour)
		re := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w2", Destination: memberB, Now: later}))
		if len(re) != 1 || re[0].ID != o2.ID || re[0].Attempts != 2 || re[0].JTI != "r-2b" {
			t.Fatalf("reclaimed %+v", re)
		}
		mustErr(t, b.s.ReplaceEnvelope(ctx, o2.ID, 1, "r-2c", []byte("x")), store.ErrConflict)
		must[store.ErasureResult](t)(b.s.EraseCase(ctx, caseID, store.Erasure{Reason: "consent_withdrawn"}))
		mustErr(t, b.s.ReplaceEnvelope(ctx, o2.ID, 2, "r-2c", []byte("x")), store.ErrConflict)
		if got := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, o2.ID)); got.Envelope != nil || got.JTI != "r-2b" {
			t.Fatalf("erased row = %+v", got)
		}
	})
}

// TestCancelledInFlightReleasedWhenAnswered: a row an erasure cancels while
// its attempt is under way keeps its lease, so the case's withdrawal waits
// for that attempt; once the attempt is answered (failed or dead) the
// withdrawal goes at once, not when the lease runs out.
func TestCancelledInFlightReleasedWhenAnswered(t *testing.T) {
	for _, answer := range []string{"failed", "dead", "unclaimed"} {
		t.Run(answer, func(t *testing.T) {
			withAllStores(t, func(t *testing.T, b *backend) {
				ctx := t.Context()
				t0 := b.clock.Now()
				const id = "XA-RC:0077"
				enqueue(t, b.s, queue(memberB, id, "case.update", "u-1"))
				claimed := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Now: t0.Add(time.Second), Lease: time.Hour}))
				if len(claimed) != 1 {
					t.Fatalf("claimed %d rows", len(claimed))
				}
				enqueue(t, b.s, queue(memberB, id, "case.withdraw", "w-1"))
				must[store.ErasureResult](t)(b.s.EraseCase(ctx, id, store.Erasure{Reason: "consent_withdrawn",
					KeepPendingKinds: []string{"case.withdraw"}}))
				if got := claimJTIs(t, b.s, store.ClaimRequest{Worker: "w", Now: t0.Add(2 * time.Second)}); len(got) != 0 {
					t.Fatalf("while the cancelled attempt is under way, claimed %v", got)
				}
				var err error
				switch answer {
				case "failed":
					err = b.s.MarkFailed(ctx, claimed[0].ID, claimed[0].Attempts, "http_503", t0.Add(time.Minute))
				case "dead":
					err = b.s.MarkDead(ctx, claimed[0].ID, claimed[0].Attempts, "http_422")
				default: // claimed, never sent
					err = b.s.Unclaim(ctx, claimed[0].ID, claimed[0].Attempts)
				}
				mustErr(t, err, store.ErrConflict)
				if got := claimJTIs(t, b.s, store.ClaimRequest{Worker: "w", Now: t0.Add(3 * time.Second)}); fmt.Sprint(got) != "[w-1]" {
					t.Fatalf("after the attempt was answered, claimed %v, want [w-1]; cancelled row %+v", got, must[store.OutboxItem](t)(b.s.GetOutbox(ctx, claimed[0].ID)))
				}
				if row := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, claimed[0].ID)); row.State != store.Cancelled {
					t.Fatalf("cancelled row is now %s", row.State)
				}
			})
		})
	}
}

// TestClaimExpiredWithinLimit: a claim takes rows whose lease expired
// first and counts them against its limit; due queued rows fill only what
// is left, and a row behind one of its case still in flight waits.
func TestClaimExpiredWithinLimit(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		t0 := b.clock.Now()
		for _, in := range []store.NewOutboxItem{
			queue(memberB, "XA-RC:A", "case.create", "e1"),
			queue(memberB, "XA-RC:B", "case.create", "e2"),
			queue(memberB, "XA-RC:C", "case.create", "e3"),
			queue(memberB, "XA-RC:A", "case.update", "e4"),
		} {
			in.At = t0
			enqueue(t, b.s, in)
		}
		later := t0.Add(2 * time.Minute)
		for _, tc := range []struct {
			name string
			r    store.ClaimRequest
			want string
		}{
			{"first claim", store.ClaimRequest{Worker: "crashed", Destination: memberB, Now: t0.Add(time.Second), Lease: time.Minute, Limit: 2}, "[e1 e2]"},
			{"expired leases fill the limit", store.ClaimRequest{Worker: "w2", Destination: memberB, Now: later, Lease: time.Minute, Limit: 2}, "[e1 e2]"},
			{"queued rows fill what is left", store.ClaimRequest{Worker: "w3", Destination: memberB, Now: later, Lease: time.Minute, Limit: 5}, "[e3]"},
			{"expired and queued together", store.ClaimRequest{Worker: "w4", Destination: memberB, Now: later.Add(2 * time.Minute), Lease: time.Minute, Limit: 5}, "[e1 e2 e3]"},
		} {
			if got := fmt.Sprint(claimJTIs(t, b.s, tc.r)); got != tc.want {
				t.Fatalf("%s: claimed %s, want %s", tc.name, got, tc.want)
			}
		}
	})
}

// TestUnclaim: a row claimed and never sent (node/delivery held it back,
// then its loop ended) goes back as it was before the claim: the attempt
// it did not make is not counted, its next attempt and last error stay
// (its backoff is not reset, not lengthened), and it is still the head of
// its case.
func TestUnclaim(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		t0 := b.clock.Now()
		o := enqueue(t, b.s, queue(memberB, "XA-RC:0001", "case.create", "o-1"))
		enqueue(t, b.s, queue(memberB, "XA-RC:0001", "case.update", "o-2"))
		first := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Now: t0.Add(time.Second), Lease: time.Hour}))
		if len(first) != 1 || first[0].ID != o.ID {
			t.Fatalf("first claim = %+v", first)
		}
		next := t0.Add(time.Minute)
		mustErr(t, b.s.MarkFailed(ctx, o.ID, 1, "http_503: busy", next), nil)
		before := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, o.ID))
		held := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Now: t0.Add(2 * time.Minute), Lease: time.Hour}))
		if len(held) != 1 || held[0].ID != o.ID || held[0].Attempts != 2 {
			t.Fatalf("second claim = %+v", held)
		}
		for _, tc := range []struct {
			name    string
			id      int64
			attempt int
			want    error
		}{
			{"no attempt", o.ID, 0, store.ErrInvalid},
			{"an earlier claim", o.ID, 1, store.ErrConflict},
			{"unknown row", 99999, 1, store.ErrNotFound},
			{"this claim", o.ID, 2, nil},
			{"twice", o.ID, 2, store.ErrConflict},
		} {
			t.Run(tc.name, func(t *testing.T) { mustErr(t, b.s.Unclaim(ctx, tc.id, tc.attempt), tc.want) })
		}
		got := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, o.ID))
		if got.State != store.Queued || got.Attempts != before.Attempts || !got.NextAttemptAt.Equal(before.NextAttemptAt) ||
			got.LastError != before.LastError || !got.LeaseUntil.IsZero() || got.ClaimedBy != "" {
			t.Fatalf("unclaimed row = %+v\nbefore the claim %+v", got, before)
		}
		// Still the head of its case: its update waits, and it is claimed
		// again as its next attempt (the second, not the third).
		if got := claimJTIs(t, b.s, store.ClaimRequest{Worker: "w", Now: t0.Add(3 * time.Minute)}); fmt.Sprint(got) != "[o-1]" {
			t.Fatalf("after the unclaim, claimed %v, want [o-1]", got)
		}
		if got := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, o.ID)); got.Attempts != 2 {
			t.Fatalf("claimed again at attempt %d, want 2", got.Attempts)
		}
	})
}
