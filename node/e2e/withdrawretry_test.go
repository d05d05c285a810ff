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
