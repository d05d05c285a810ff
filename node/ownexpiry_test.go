package node_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// movableClock is a clock a test moves forward.
type movableClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *movableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *movableClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

// TestPrepareAttemptOwnExpiry: a row queued as this node's own envelope
// keeps the envelope's exp (OwnExpiresAt), and the attempt that finds it
// far from expiry sends the row as it is; one that finds it expiring
// re-signs it and the row keeps the new exp. Rows without it (queued
// before migration 0031, or made NULL by ReplaceEnvelope), rows routed
// through a relay and erased rows are handled by parsing, as before.
func TestPrepareAttemptOwnExpiry(t *testing.T) {
	t.Parallel()
	const ttl, skew = time.Hour, time.Minute
	tests := map[string]struct {
		prepare func(t *testing.T, xa *nodetest.Node, clk *movableClock, it store.OutboxItem) store.OutboxItem
		relay   bool // XB-RC through ICRC-CTA
		check   func(t *testing.T, before, after, row store.OutboxItem)
	}{
		"own, far from expiry: sent as queued": {
			check: func(t *testing.T, before, after, row store.OutboxItem) {
				t.Helper()
				sameRow(t, before, after, row)
				if row.OwnExpiresAt.IsZero() {
					t.Fatal("row lost its exp")
				}
			},
		},
		"own, expiring (clock moved): re-signed, new exp kept": {
			prepare: func(t *testing.T, _ *nodetest.Node, clk *movableClock, it store.OutboxItem) store.OutboxItem {
				clk.Add(ttl - skew/2)
				return it
			},
			check: func(t *testing.T, before, after, row store.OutboxItem) {
				t.Helper()
				resigned(t, before, after, row)
			},
		},
		"legacy row (NULL exp), far from expiry: parsed, sent as queued": {
			prepare: legacy,
			check: func(t *testing.T, before, after, row store.OutboxItem) {
				t.Helper()
				sameRow(t, before, after, row)
				if !row.OwnExpiresAt.IsZero() {
					t.Fatal("legacy row got an exp without a re-signing")
				}
			},
		},
		"legacy row (NULL exp), expiring: re-signed, exp kept from then on": {
			prepare: func(t *testing.T, xa *nodetest.Node, clk *movableClock, it store.OutboxItem) store.OutboxItem {
				it = legacy(t, xa, clk, it)
				clk.Add(ttl + time.Minute) // past exp
				return it
			},
			check: func(t *testing.T, before, after, row store.OutboxItem) {
				t.Helper()
				resigned(t, before, after, row)
			},
		},
		"routed through a relay: wrapped, exp no longer on the row": {
			relay: true,
			// The case went to XB-RC; its withdrawal travels through the
			// relay (a withdrawal always may: FLX-RLY-010).
			prepare: func(t *testing.T, xa *nodetest.Node, _ *movableClock, it store.OutboxItem) store.OutboxItem {
				ctx := context.Background()
				if err := xa.Store.MarkDelivered(ctx, it.ID, []byte("receipt")); err != nil {
					t.Fatal(err)
				}
				if _, err := xa.Withdraw(ctx, node.Actor{Name: "cw", Role: "caseworker"}, "XA-RC:TR-2024-0117", schema.ReasonCaseClosed); err != nil {
					t.Fatal(err)
				}
				claimed, err := xa.Store.ClaimDue(ctx, store.ClaimRequest{Worker: "t", Destination: "XB-RC", Now: time.Now().Add(time.Second)})
				if err != nil || len(claimed) != 1 || claimed[0].Kind != string(federation.KindCaseWithdraw) {
					t.Fatalf("claimed %+v: %v", claimed, err)
				}
				return claimed[0]
			},
			check: func(t *testing.T, before, after, row store.OutboxItem) {
				t.Helper()
				if before.OwnExpiresAt.IsZero() {
					t.Fatal("queued without its exp")
				}
				c, err := federation.ClaimsOf(row.Envelope)
				if err != nil || c.Kind != federation.KindRelayForward || c.Audience != "ICRC-CTA" {
					t.Fatalf("stored envelope %+v %v, want a relay.forward to ICRC-CTA", c, err)
				}
				if !row.OwnExpiresAt.IsZero() || !after.OwnExpiresAt.IsZero() {
					t.Fatalf("a relayed row keeps an own exp: row %v, attempt %v", row.OwnExpiresAt, after.OwnExpiresAt)
				}
				if row.JTI != before.JTI {
					t.Fatalf("jti %s, want the inner envelope's %s", row.JTI, before.JTI)
				}
			},
		},
		"erased: nothing to parse or send": {
			prepare: func(t *testing.T, _ *nodetest.Node, _ *movableClock, it store.OutboxItem) store.OutboxItem {
				it.Envelope = nil
				return it
			},
			check: func(t *testing.T, before, after, row store.OutboxItem) {
				t.Helper()
				if after.Envelope != nil || after.JTI != before.JTI {
					t.Fatalf("erased row prepared as %+v", after)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "ICRC-CTA:XC:coordinator")
			if tc.relay {
				f.Member(t, "XB-RC").RelayVia = []string{"ICRC-CTA"}
			}
			f.Sign(t)
			clk := &movableClock{at: time.Now().UTC()}
			xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, EnvelopeTTL: ttl, Skew: skew,
				Tune: func(o *node.Options) {
					o.Now = clk.Now
				}})
			cw := node.Actor{Name: "cw", Role: "caseworker"}
			const to = "XB-RC"
			if _, err := xa.CreateCase(ctx, cw, body(t, "case.tracing_request", nil)); err != nil {
				t.Fatal(err)
			}
			if _, err := xa.Forward(ctx, cw, "XA-RC:TR-2024-0117", to); err != nil {
				t.Fatal(err)
			}
			claimed, err := xa.Store.ClaimDue(ctx, store.ClaimRequest{Worker: "t", Destination: to, Now: time.Now().Add(time.Second)})
			if err != nil || len(claimed) != 1 {
				t.Fatalf("claimed %d: %v", len(claimed), err)
			}
			it := claimed[0]
			if tc.prepare != nil {
				it = tc.prepare(t, xa, clk, it)
			}
			after, err := xa.PrepareAttemptForTest(ctx, it)
			if err != nil {
				t.Fatal(err)
			}
			row, err := xa.Store.GetOutbox(ctx, it.ID)
			if err != nil {
				t.Fatal(err)
			}
			if it.Envelope != nil && (row.JTI != after.JTI || string(row.Envelope) != string(after.Envelope) || !row.OwnExpiresAt.Equal(after.OwnExpiresAt)) {
				t.Fatalf("attempt %s/%v and row %s/%v differ", after.JTI, after.OwnExpiresAt, row.JTI, row.OwnExpiresAt)
			}
			tc.check(t, it, after, row)
		})
	}
}

// legacy makes it a row as queued before migration 0031: no exp stored.
func legacy(t *testing.T, xa *nodetest.Node, _ *movableClock, it store.OutboxItem) store.OutboxItem {
	t.Helper()
	if err := xa.Store.ReplaceEnvelope(context.Background(), it.ID, it.Attempts, it.JTI, it.Envelope); err != nil {
		t.Fatal(err)
	}
	it.OwnExpiresAt = time.Time{}
	return it
}

func sameRow(t *testing.T, before, after, row store.OutboxItem) {
	t.Helper()
	if after.JTI != before.JTI || string(after.Envelope) != string(before.Envelope) || row.JTI != before.JTI {
		t.Fatalf("row changed: jti %s -> %s", before.JTI, row.JTI)
	}
}

// resigned checks that the row took a new envelope of its own whose exp
// the row keeps.
func resigned(t *testing.T, before, after, row store.OutboxItem) {
	t.Helper()
	if row.JTI == before.JTI || after.JTI != row.JTI {
		t.Fatalf("not re-signed: jti %s -> %s (attempt %s)", before.JTI, row.JTI, after.JTI)
	}
	c, err := federation.ClaimsOf(row.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	if row.OwnExpiresAt.IsZero() || !row.OwnExpiresAt.Equal(c.ExpiresAt) {
		t.Fatalf("row keeps exp %v, envelope has %v", row.OwnExpiresAt, c.ExpiresAt)
	}
	if !before.OwnExpiresAt.IsZero() && !row.OwnExpiresAt.After(before.OwnExpiresAt) {
		t.Fatalf("exp %v not later than %v", row.OwnExpiresAt, before.OwnExpiresAt)
	}
}
