package e2e

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/backoff"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// TestWithdrawWaitsForInFlight withdraws a case while its case.create is
// under way to XB-RC (XB-RC stored it and holds its answer). The
// case.withdraw must reach XB-RC only after that answer (FLX-DLV-008,
// FLX-WDR-007): sent alongside, it could overtake the create on the wire,
// and XB-RC would keep the case after confirming its erasure.
//
// With two XA-RC replicas on one PostgreSQL database, the replica not busy
// with the create is free to claim the withdrawal.
func TestWithdrawWaitsForInFlight(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) { testWithdrawWaitsForInFlight(t, nodetest.SQLite, 1) })
	t.Run("postgres", func(t *testing.T) { testWithdrawWaitsForInFlight(t, nodetest.Postgres, 1) })
	t.Run("postgres, two XA-RC replicas", func(t *testing.T) { testWithdrawWaitsForInFlight(t, nodetest.Postgres, 2) })
}

func testWithdrawWaitsForInFlight(t *testing.T, d nodetest.Dialect, replicas int) {
	ctx := context.Background()
	f := fedtest.New(t, threeMembers...)
	lnA := nodetest.Listen(t, f.Member(t, "XA-RC"))
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	// XB-RC answers the first envelope it stores (the create) only once
	// released: stored, its receipt not yet sent.
	hold := func(st store.Store) store.Store {
		return holdAfterReceive{st, func() { once.Do(func() { close(held); <-release }) }}
	}
	dsnA := nodetest.DSN(t, d)
	// Each XA-RC replica counts its delivery polls and its claims for XB-RC.
	polls := make([]*pollCounter, replicas)
	counted := func(i int) func(store.Store) store.Store {
		return func(st store.Store) store.Store { polls[i] = &pollCounter{Store: st}; return polls[i] }
	}
	// The create's attempt must outlast the hold: once XA-RC's request
	// timeout ends it, the create is no longer in flight but failed, and
	// being cancelled it lets the withdrawal go at once (FLX-WDR-007), as
	// it did under load with the tests' 5 s timeout. So XA-RC waits for
	// its answer far longer than this test can hold it.
	slow := &node.DeliveryOptions{Workers: 4, MaxAttempts: 20, Backoff: backoff.Policy{Initial: 50 * time.Millisecond, Max: time.Second},
		RequestTimeout: 2 * time.Minute, Lease: 3 * time.Minute, PollInterval: 50 * time.Millisecond}
	xa := nodetest.Start(t, f, "XA-RC", lnA, nodetest.Options{Dialect: d, DSN: dsnA, WrapStore: counted(0), Delivery: slow})
	for i := 1; i < replicas; i++ {
		nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: d, DSN: dsnA, WrapStore: counted(i), Delivery: slow})
	}
	// The create stored by Store.Receive (held there), not applied as it
	// is stored in a transaction of its own (ApplyLater).
	xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{Dialect: d, WrapStore: hold,
		Tune: func(o *node.Options) { o.ApplyLater = true }})
	var released sync.Once
	unblock := func() { released.Do(func() { close(release) }) }
	t.Cleanup(unblock)

	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := xa.Forward(ctx, cw, demoCase, "XB-RC"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the create never reached XB-RC")
	}
	wr, err := xa.Withdraw(ctx, cw, demoCase, schema.WithdrawalReason("consent_withdrawn"))
	if err != nil || len(wr.SentTo) != 1 {
		t.Fatalf("withdraw: %+v %v", wr, err)
	}
	// While the create's answer is held, every replica polls the outbox
	// twenty times, and (with two replicas) one of them asks the store five
	// times for XB-RC's rows: each time the withdrawal, queued and due,
	// could have gone. Either replica may be the one busy with the create.
	for _, p := range polls {
		p.reset()
	}
	nodetest.WaitFor(t, 30*time.Second, "twenty delivery polls of every XA-RC replica", func() bool {
		claimed := replicas == 1
		for _, p := range polls {
			if p.due.Load() < 20 {
				return false
			}
			claimed = claimed || p.claims.Load() >= 5
		}
		return claimed
	})
	if rows := allInbox(t, xb.Store, store.InboxFilter{Kind: string(federation.KindCaseWithdraw)}); len(rows) != 0 {
		t.Errorf("the case.withdraw reached XB-RC while the case.create was still unanswered")
	}
	// The interleaving under test: all that time the create was in flight
	// (cancelled by the erasure, its attempt's lease kept), not a failed
	// attempt.
	for _, r := range allOutbox(t, xa.Store, store.OutboxFilter{Destination: "XB-RC"}) {
		if r.Kind == string(federation.KindCaseCreate) && (r.State != store.Cancelled || r.LeaseUntil.IsZero()) {
			t.Errorf("while XB-RC held its answer, the create was %s (lease %v, %q): no longer in flight", r.State, r.LeaseUntil, r.LastError)
		}
	}
	unblock()

	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range allOutbox(t, xa.Store, store.OutboxFilter{}) {
				t.Logf("XA outbox %d %s %s %s attempts %d by %s %q", r.ID, r.Destination, r.Kind, r.State, r.Attempts, r.ClaimedBy, r.LastError)
			}
			for _, r := range allInbox(t, xa.Store, store.InboxFilter{}) {
				t.Logf("XA inbox %d %s %s %v %q", r.ID, r.Iss, r.Kind, r.ProcessedAt, r.ProcessError)
			}
			for _, r := range allOutbox(t, xb.Store, store.OutboxFilter{}) {
				t.Logf("XB outbox %d %s %s %s attempts %d %q", r.ID, r.Destination, r.Kind, r.State, r.Attempts, r.LastError)
			}
			for _, r := range allInbox(t, xb.Store, store.InboxFilter{}) {
				t.Logf("XB inbox %d %s %s %v %q", r.ID, r.Iss, r.Kind, r.ProcessedAt, r.ProcessError)
			}
			rs, _ := xa.Store.ListRecipients(ctx, demoCase)
			t.Logf("XA recipients %+v", rs)
		}
	})
	nodetest.WaitFor(t, 30*time.Second, "XB-RC's confirmation at XA-RC", func() bool {
		rs, err := xa.Store.ListRecipients(ctx, demoCase)
		return err == nil && len(rs) == 1 && !rs[0].WithdrawalConfirmedAt.IsZero()
	})
	var kinds []string
	for _, r := range allInbox(t, xb.Store, store.InboxFilter{CaseID: demoCase}) {
		kinds = append(kinds, r.Kind)
	}
	if len(kinds) != 2 || kinds[0] != string(federation.KindCaseCreate) || kinds[1] != string(federation.KindCaseWithdraw) {
		t.Errorf("XB-RC received %v, want the create then the withdrawal", kinds)
	}
	if c, err := xb.Store.GetCase(ctx, demoCase); err != nil || !c.Erased() || c.Document != nil {
		t.Errorf("XB-RC after the withdrawal: erased %t document %t (%v)", c.Erased(), c.Document != nil, err)
	}
	for _, r := range allOutbox(t, xa.Store, store.OutboxFilter{Destination: "XB-RC", IncludeEnvelope: true}) {
		// The create was cancelled in flight, then its receipt came: it is
		// delivered, and its personal data erased all the same.
		if r.State != store.Delivered || (r.Kind == string(federation.KindCaseCreate) && r.Envelope != nil) {
			t.Errorf("XA-RC outbox row %d (%s): %s, envelope kept %t", r.ID, r.Kind, r.State, r.Envelope != nil)
		}
	}
	noProcessErrors(t, "XA-RC", xa.Store)
	noProcessErrors(t, "XB-RC", xb.Store)
}

// TestWithdrawWhilePeerDown withdraws a case whose create is still queued
// for a peer that is down: the create is cancelled and never sent, the
// withdrawal is, and the peer's confirmation is recorded (FLX-WDR-007).
// The withdrawal is the first thing XB-RC gets, so its confirmation can
// overtake XA-RC's recording of the withdrawal's receipt: XA-RC here
// records it late on purpose (recordLate holds MarkDelivered), after the
// confirmation arrived.
func TestWithdrawWhilePeerDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, threeMembers...)
	lnA := nodetest.Listen(t, f.Member(t, "XA-RC"))
	lnB := holdPort(t, nodetest.Listen(t, f.Member(t, "XB-RC"))) // down until up is set
	f.Sign(t)
	var withdrawRow atomic.Int64
	// XA-RC records the withdrawal's receipt only once it has tried to
	// apply XB-RC's confirmation and found no recipient to confirm yet: the
	// interleaving under test. The test fails if it is not reached.
	early := make(chan struct{})
	var earlyOnce sync.Once
	reached := atomic.Bool{}
	late := func(id int64) {
		if id != withdrawRow.Load() {
			return
		}
		select {
		case <-early:
			reached.Store(true)
		case <-time.After(20 * time.Second):
		}
	}
	xa := nodetest.Start(t, f, "XA-RC", lnA, nodetest.Options{WrapStore: func(st store.Store) store.Store {
		return recordLate{Store: st, hold: late, confirmed: func(err error) {
			if errors.Is(err, store.ErrNotFound) {
				earlyOnce.Do(func() { close(early) })
			}
		}}
	}})
	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := xa.Forward(ctx, cw, demoCase, "XB-RC"); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, 30*time.Second, "a failed attempt to XB-RC", func() bool {
		rows := allOutbox(t, xa.Store, store.OutboxFilter{Destination: "XB-RC"})
		return len(rows) == 1 && rows[0].Attempts >= 1 && rows[0].State == store.Queued
	})
	wr, err := xa.Withdraw(ctx, cw, demoCase, schema.WithdrawalReason("consent_withdrawn"))
	if err != nil || len(wr.SentTo) != 1 || wr.Cancelled != 1 {
		t.Fatalf("withdraw: %+v %v; want sent to XB-RC, one envelope cancelled", wr, err)
	}
	for _, r := range allOutbox(t, xa.Store, store.OutboxFilter{Destination: "XB-RC"}) {
		if r.Kind == string(federation.KindCaseWithdraw) {
			withdrawRow.Store(r.ID)
		}
	}
	lnB.up.Store(true)
	xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{})
	nodetest.WaitFor(t, 30*time.Second, "XB-RC's confirmation at XA-RC", func() bool {
		rs, err := xa.Store.ListRecipients(ctx, demoCase)
		return err == nil && len(rs) == 1 && !rs[0].WithdrawalConfirmedAt.IsZero()
	})
	rows := allInbox(t, xb.Store, store.InboxFilter{})
	if len(rows) != 1 || rows[0].Kind != string(federation.KindCaseWithdraw) {
		t.Fatalf("XB-RC received %d envelopes (first %+v); want only the withdrawal", len(rows), rows)
	}
	// A tombstone only (the case's create, had it arrived late, would
	// find it and be discarded).
	if c, err := xb.Store.GetCase(ctx, demoCase); err != nil || !c.Erased() || c.Document != nil {
		t.Errorf("XB-RC holds the case: %+v %v; want only a tombstone", c, err)
	}
	for _, r := range allOutbox(t, xa.Store, store.OutboxFilter{Destination: "XB-RC"}) {
		want := store.Delivered
		if r.Kind == string(federation.KindCaseCreate) {
			want = store.Cancelled
		}
		if r.State != want {
			t.Errorf("XA-RC outbox row %d (%s) is %s, want %s", r.ID, r.Kind, r.State, want)
		}
	}
	noProcessErrors(t, "XA-RC", xa.Store)
	noProcessErrors(t, "XB-RC", xb.Store)
	if !reached.Load() {
		t.Error("XA-RC never tried to apply the confirmation before recording the withdrawal's receipt: the interleaving under test was not reached")
	}
}

// recordLate is a store whose MarkDelivered first runs hold: the node has
// its peer's receipt and records it only when hold returns (a slow sender
// between the answer and its recording). confirmed sees the result of every
// ConfirmWithdrawal the node makes in a transaction.
type recordLate struct {
	store.Store
	hold      func(outboxID int64)
	confirmed func(error)
}

func (s recordLate) MarkDelivered(ctx context.Context, id int64, receipt []byte) error {
	s.hold(id)
	return s.Store.MarkDelivered(ctx, id, receipt)
}

func (s recordLate) Tx(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Tx(ctx, func(tx store.Tx) error { return fn(confirmSpy{tx, s.confirmed}) })
}

type confirmSpy struct {
	store.Tx
	seen func(error)
}

func (c confirmSpy) ConfirmWithdrawal(ctx context.Context, caseID, member string, at time.Time) error {
	err := c.Tx.ConfirmWithdrawal(ctx, caseID, member, at)
	c.seen(err)
	return err
}

// pollCounter counts a node's delivery polls (DueDestinations) and its
// claims for XB-RC since the last reset.
type pollCounter struct {
	store.Store
	due, claims atomic.Int64
}

func (p *pollCounter) reset() { p.due.Store(0); p.claims.Store(0) }

func (p *pollCounter) DueDestinations(ctx context.Context, now time.Time) ([]string, error) {
	p.due.Add(1)
	return p.Store.DueDestinations(ctx, now)
}

func (p *pollCounter) ClaimDue(ctx context.Context, r store.ClaimRequest) ([]store.OutboxItem, error) {
	if r.Destination == "XB-RC" {
		p.claims.Add(1)
	}
	return p.Store.ClaimDue(ctx, r)
}

// holdAfterReceive is a store whose Receive runs hold once the envelope is
// stored (committed) and before the node answers: a receiver slow between
// the two.
type holdAfterReceive struct {
	store.Store
	hold func()
}

func (s holdAfterReceive) Receive(ctx context.Context, item store.InboxItem, rc store.Receipt) (store.ReceiveResult, error) {
	r, err := s.Store.Receive(ctx, item, rc)
	if err == nil && !r.Duplicate {
		s.hold()
	}
	return r, err
}
