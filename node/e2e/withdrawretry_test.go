package e2e

import (
	"context"
	"net"
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

// TestWithdrawalOutlastsMaxAttempts withdraws a case from a peer that is
// down for longer than MaxAttempts allows: the create is dead-lettered,
// but the case.withdraw is retried with backoff until the peer is back,
// and the operator sees the recipient as unconfirmed in the metrics
// (flx_withdrawals_unconfirmed) until its confirmation arrives.
func TestWithdrawalOutlastsMaxAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, threeMembers...)
	lnA := nodetest.Listen(t, f.Member(t, "XA-RC"))
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	addrB := lnB.Addr().String()
	lnB.Close() // XB-RC is down
	f.Sign(t)
	m := node.NewMetrics(nil)
	delivery := node.DeliveryOptions{Workers: 2, MaxAttempts: 2, Backoff: backoff.Policy{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond},
		RequestTimeout: 5 * time.Second, Lease: 15 * time.Second, PollInterval: 20 * time.Millisecond}
	xa := nodetest.Start(t, f, "XA-RC", lnA, nodetest.Options{Delivery: &delivery, Metrics: m})
	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := xa.Forward(ctx, cw, demoCase, "XB-RC"); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, 30*time.Second, "the create dead-lettered", func() bool {
		rows := allOutbox(t, xa.Store, store.OutboxFilter{Destination: "XB-RC"})
		return len(rows) == 1 && rows[0].State == store.Dead
	})
	wr, err := xa.Withdraw(ctx, cw, demoCase, schema.WithdrawalReason("consent_withdrawn"))
	if err != nil || len(wr.SentTo) != 1 {
		t.Fatalf("withdraw: %+v %v; want XB-RC asked (the dead create was attempted)", wr, err)
	}
	nodetest.WaitFor(t, 30*time.Second, "the withdrawal tried more than MaxAttempts times", func() bool {
		for _, r := range allOutbox(t, xa.Store, store.OutboxFilter{Destination: "XB-RC"}) {
			if r.Kind == string(federation.KindCaseWithdraw) {
				if r.State == store.Dead {
					t.Fatalf("the withdrawal was dead-lettered after %d attempts", r.Attempts)
				}
				return r.Attempts > 2*delivery.MaxAttempts
			}
		}
		return false
	})
	// The operator sees it while the peer is down: the metric and the
	// listing count the withdrawal still on its way.
	if v := gauge(t, m, "flx_withdrawals_unconfirmed"); v != 1 {
		t.Errorf("flx_withdrawals_unconfirmed %v while XB-RC is down, want 1", v)
	}
	if ps, err := xa.UnconfirmedWithdrawals(ctx); err != nil || len(ps) != 1 || ps[0].State != node.WithdrawalUndelivered ||
		ps[0].Attempts == 0 || ps[0].LastError == "" || ps[0].NextAttemptAt.IsZero() {
		t.Errorf("unconfirmed withdrawals while XB-RC is down: %+v %v", ps, err)
	}
	lnB2, err := net.Listen("tcp", addrB)
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Start(t, f, "XB-RC", lnB2, nodetest.Options{})
	nodetest.WaitFor(t, 30*time.Second, "XB-RC unconfirmed, then confirmed, at XA-RC", func() bool {
		rs, err := xa.Store.ListRecipients(ctx, demoCase)
		return err == nil && len(rs) == 1 && !rs[0].WithdrawalConfirmedAt.IsZero()
	})
	if v := gauge(t, m, "flx_withdrawals_unconfirmed"); v != 0 {
		t.Errorf("flx_withdrawals_unconfirmed %v after the confirmation, want 0", v)
	}
}

// gauge reads an unlabelled gauge of m.
func gauge(t *testing.T, m *node.Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// TestUnconfirmedWithdrawalIsSentAgain: XB-RC receives XA-RC's withdrawal
// but its confirmations cannot reach XA-RC (XA-RC takes no inbound
// connections). XA-RC lists XB-RC as unconfirmed (UnconfirmedWithdrawals,
// the metric) and sends the withdrawal again with a growing wait, each
// time audited; once XA-RC is reachable the confirmation arrives, the
// listing empties and the re-sending stops.
func TestUnconfirmedWithdrawalIsSentAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, threeMembers...)
	lnA := nodetest.Listen(t, f.Member(t, "XA-RC"))
	addrA := lnA.Addr().String()
	lnA.Close() // XA-RC sends, but nothing reaches it
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	m := node.NewMetrics(nil)
	dsnA := nodetest.DSN(t, nodetest.SQLite)
	retry := func(o *node.Options) {
		o.WithdrawalRetry = node.WithdrawalRetryOptions{Backoff: backoff.Policy{Initial: 150 * time.Millisecond, Max: 600 * time.Millisecond}, Every: 25 * time.Millisecond}
	}
	xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{DSN: dsnA, Metrics: m, Tune: retry})
	nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{})
	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := xa.Forward(ctx, cw, demoCase, "XB-RC"); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, 15*time.Second, "the case delivered to XB-RC", func() bool {
		rs, err := xa.Store.ListRecipients(ctx, demoCase)
		return err == nil && len(rs) == 1
	})
	if wr, err := xa.Withdraw(ctx, cw, demoCase, schema.WithdrawalReason("consent_withdrawn")); err != nil || len(wr.SentTo) != 1 {
		t.Fatalf("withdraw: %+v %v", wr, err)
	}
	delivered := func() []time.Time {
		var at []time.Time
		for _, r := range allOutbox(t, xa.Store, store.OutboxFilter{Destination: "XB-RC", State: store.Delivered}) {
			if r.Kind == string(federation.KindCaseWithdraw) {
				at = append(at, r.DeliveredAt)
			}
		}
		return at
	}
	nodetest.WaitFor(t, 15*time.Second, "the withdrawal delivered three times", func() bool { return len(delivered()) >= 3 })
	at := delivered()
	// The wait after the n-th delivery is the backoff's n-th ceiling
	// (150 ms, then 300 ms): the gaps are at least that, so they grow.
	if g1, g2 := at[1].Sub(at[0]), at[2].Sub(at[1]); g1 < 145*time.Millisecond || g2 < 295*time.Millisecond {
		t.Errorf("waits between sends %v then %v: want at least 150 ms, then at least 300 ms", g1, g2)
	}
	ps, err := xa.UnconfirmedWithdrawals(ctx)
	if err != nil || len(ps) != 1 || ps[0].Member != "XB-RC" || ps[0].CaseID != demoCase || ps[0].Sends < 3 {
		t.Fatalf("unconfirmed withdrawals %+v %v", ps, err)
	}
	if ps[0].State == node.WithdrawalUnconfirmed && !ps[0].NextSendAt.After(ps[0].LastSentAt) {
		t.Errorf("next send %v not after the last %v", ps[0].NextSendAt, ps[0].LastSentAt)
	}
	if v := gauge(t, m, "flx_withdrawals_unconfirmed"); v != 1 {
		t.Errorf("flx_withdrawals_unconfirmed %v, want 1", v)
	}
	if resent, _ := xa.Store.ListAudit(ctx, store.AuditFilter{Action: "case.withdraw.resend", Limit: 100}); len(resent) < 2 {
		t.Errorf("%d resends audited, want at least 2", len(resent))
	}

	// XA-RC becomes reachable: XB-RC's confirmations arrive.
	xa.Stop()
	lnA2, err := net.Listen("tcp", addrA)
	if err != nil {
		t.Fatal(err)
	}
	xa = nodetest.Start(t, f, "XA-RC", lnA2, nodetest.Options{DSN: dsnA, Metrics: m, Tune: retry})
	nodetest.WaitFor(t, 20*time.Second, "XB-RC's confirmation at XA-RC", func() bool {
		rs, err := xa.Store.ListRecipients(ctx, demoCase)
		return err == nil && len(rs) == 1 && !rs[0].WithdrawalConfirmedAt.IsZero()
	})
	// A resend queued just before the confirmation arrived is still listed
	// (undelivered) until it is delivered: the list must then empty.
	nodetest.WaitFor(t, 20*time.Second, "no unconfirmed withdrawal after the confirmation", func() bool {
		ps, err = xa.UnconfirmedWithdrawals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(ps) == 0
	})
	if v := gauge(t, m, "flx_withdrawals_unconfirmed"); v != 0 {
		t.Errorf("flx_withdrawals_unconfirmed %v after the confirmation, want 0", v)
	}
	sends := len(delivered())
	time.Sleep(750 * time.Millisecond) // longer than the backoff's ceiling
	if after := len(delivered()); after > sends+1 {
		t.Errorf("the withdrawal was sent %d more times after the confirmation", after-sends)
	}
}
