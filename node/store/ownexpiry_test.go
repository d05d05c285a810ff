package store_test

import (
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// TestOwnExpiresAt: a row keeps the OwnExpiresAt it was queued with (one
// row, a batch, or none: NULL), as claims and reads return it; re-signing
// (ReplaceOwnEnvelope) records the new exp, any other replacement
// (ReplaceEnvelope: a relay envelope) clears it, and erasure keeps it
// harmlessly with a NULL envelope.
func TestOwnExpiresAt(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		exp := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
		own := func(it store.NewOutboxItem, at time.Time) store.NewOutboxItem {
			it.OwnExpiresAt = at
			return it
		}
		one := enqueue(t, b.s, own(queue(memberB, "XA-RC:E1", "case.create", "e-1"), exp))
		none := enqueue(t, b.s, queue(memberB, "XA-RC:E2", "case.create", "e-2"))
		batch := must[[]store.OutboxItem](t)(b.s.EnqueueAll(ctx, []store.NewOutboxItem{
			own(queue(memberB, "XA-RC:E3", "case.create", "e-3"), exp.Add(time.Second)),
			queue(memberB, "XA-RC:E4", "case.create", "e-4"),
		}))
		single := must[[]store.OutboxItem](t)(b.s.EnqueueAll(ctx, []store.NewOutboxItem{
			own(queue(memberB, "XA-RC:E5", "case.create", "e-5"), exp.Add(2*time.Second)),
		}))
		want := map[string]time.Time{"e-1": exp, "e-2": {}, "e-3": exp.Add(time.Second), "e-4": {}, "e-5": exp.Add(2 * time.Second)}
		for _, it := range append(append([]store.OutboxItem{one, none}, batch...), single...) {
			if !it.OwnExpiresAt.Equal(want[it.JTI]) {
				t.Errorf("enqueue %s returned %v, want %v", it.JTI, it.OwnExpiresAt, want[it.JTI])
			}
		}
		claimed := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w1", Destination: memberB, Limit: 10}))
		if len(claimed) != 5 {
			t.Fatalf("claimed %d rows", len(claimed))
		}
		byJTI := map[string]store.OutboxItem{}
		for _, it := range claimed {
			byJTI[it.JTI] = it
			if !it.OwnExpiresAt.Equal(want[it.JTI]) {
				t.Errorf("claim of %s: %v, want %v", it.JTI, it.OwnExpiresAt, want[it.JTI])
			}
		}
		tests := []struct {
			name    string
			jti     string
			replace func(it store.OutboxItem) error
			want    time.Time
			err     error
		}{
			{"re-signed", "e-1", func(it store.OutboxItem) error {
				return b.s.ReplaceOwnEnvelope(ctx, it.ID, it.Attempts, "e-1b", []byte("renewed"), exp.Add(time.Hour))
			}, exp.Add(time.Hour), nil},
			{"re-signed legacy row", "e-2", func(it store.OutboxItem) error {
				return b.s.ReplaceOwnEnvelope(ctx, it.ID, it.Attempts, "e-2b", []byte("renewed"), exp)
			}, exp, nil},
			{"wrapped for a relay", "e-3", func(it store.OutboxItem) error {
				return b.s.ReplaceEnvelope(ctx, it.ID, it.Attempts, "e-3", []byte("relay.forward"))
			}, time.Time{}, nil},
			{"own without exp", "e-5", func(it store.OutboxItem) error {
				return b.s.ReplaceOwnEnvelope(ctx, it.ID, it.Attempts, "e-5b", []byte("renewed"), time.Time{})
			}, exp.Add(2 * time.Second), store.ErrInvalid},
			{"in a transaction", "e-4", func(it store.OutboxItem) error {
				return b.s.Tx(ctx, func(tx store.Tx) error {
					return tx.ReplaceOwnEnvelope(ctx, it.ID, it.Attempts, "e-4b", []byte("renewed"), exp)
				})
			}, exp, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				it := byJTI[tc.jti]
				mustErr(t, tc.replace(it), tc.err)
				got := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, it.ID))
				if !got.OwnExpiresAt.Equal(tc.want) {
					t.Fatalf("own_expires_at %v, want %v", got.OwnExpiresAt, tc.want)
				}
			})
		}
		// Erased: the envelope goes, the row reads back without error.
		if _, err := b.s.EraseCase(ctx, "XA-RC:E5", store.Erasure{Reason: "consent_withdrawn"}); err != nil {
			t.Fatal(err)
		}
		got := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, byJTI["e-5"].ID))
		if got.Envelope != nil {
			t.Fatalf("erased row keeps its envelope")
		}
	})
}
