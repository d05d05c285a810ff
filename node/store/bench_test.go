package store_test

import (
	"fmt"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// benchStores runs a benchmark against SQLite and PostgreSQL.
func benchStores(b *testing.B, fn func(b *testing.B, be *backend)) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) { fn(b, newBackend(b, d)) })
	}
}

// A ~2 KiB envelope, about the size of a signed tracing case.
var benchEnvelope = make([]byte, 2048)

// BenchmarkReceive: one received envelope (inbox row + receipt, one
// transaction, durable) per op.
func BenchmarkReceive(b *testing.B) {
	benchStores(b, func(b *testing.B, be *backend) {
		ctx := b.Context()
		env := append([]byte(nil), benchEnvelope...)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			jti := fmt.Sprint("bench-", i)
			copy(env, jti)
			if _, err := be.s.Receive(ctx, store.InboxItem{JTI: jti, Iss: memberB, Aud: memberA, Kind: "case.create",
				CaseID: "XB-RC:0001", Envelope: env}, store.Receipt{Raw: []byte("receipt-" + jti)}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOutboxCycle: Enqueue, ClaimDue and MarkDelivered of one envelope
// (three transactions) per op.
func BenchmarkOutboxCycle(b *testing.B) {
	benchStores(b, func(b *testing.B, be *backend) {
		ctx := b.Context()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if _, err := be.s.Enqueue(ctx, store.NewOutboxItem{Destination: memberB, CaseID: fmt.Sprintf("XA-RC:%d", i%50),
				Kind: "case.update", JTI: fmt.Sprint("bench-", i), Envelope: benchEnvelope}); err != nil {
				b.Fatal(err)
			}
			items, err := be.s.ClaimDue(ctx, store.ClaimRequest{Worker: "bench", Limit: 1})
			if err != nil || len(items) != 1 {
				b.Fatalf("claim: %d items, %v", len(items), err)
			}
			if err := be.s.MarkDelivered(ctx, items[0].ID, []byte("receipt")); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMarkDelivered: the receipts of a batch of 200 disclosing
// envelopes (one case each, so each adds a disclosure and a recipient)
// recorded by MarkDeliveredAll in one transaction. Compare ns/envelope.
func BenchmarkMarkDelivered(b *testing.B) {
	const batch = 200
	benchStores(b, func(b *testing.B, be *backend) {
		ctx := b.Context()
		rounds := 0
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			ds := make([]store.DeliveredRow, 0, batch)
			if err := be.s.Tx(ctx, func(tx store.Tx) error {
				for j := range batch {
					o, err := tx.Enqueue(ctx, store.NewOutboxItem{Destination: memberB, CaseID: fmt.Sprintf("XA-RC:%d-%d", i, j),
						CaseVersion: 1, Kind: "case.create", JTI: fmt.Sprintf("bench-%d-%d", i, j), Envelope: benchEnvelope, Discloses: true})
					if err != nil {
						return err
					}
					ds = append(ds, store.DeliveredRow{ID: o.ID, Receipt: benchEnvelope[:600]})
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := be.s.MarkDeliveredAll(ctx, ds); err != nil {
				b.Fatal(err)
			}
			rounds++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rounds*batch), "ns/envelope")
	})
}
