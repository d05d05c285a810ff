package store_test

import (
	"fmt"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// The statements a forward and a delivery send with a few keys each are
// planned once per connection, not at every call (opaque parameters,
// sql.go): PostgreSQL keeps their generic plan from the 6th run on. Planned
// at every call, the reads of a forward's case cost the sender's
// PostgreSQL more to plan than to run: at 300 forwards/s a fifth of its CPU.
func TestSenderStatementsKeepGenericPlans(t *testing.T) {
	ctx := t.Context()
	const calls = 20
	cases := []struct {
		name string
		part string // in the statement's text
		run  func(tx store.Tx, i int) error
	}{
		{"GetCasesQueued", "AS k(case_id, destination, pos)", func(tx store.Tx, i int) error {
			_, err := tx.GetCasesQueued(ctx, []store.CaseDest{{CaseID: fmt.Sprintf("XA-RC:plan-%d", i), Destination: memberB}}, "case.create")
			return err
		}},
		{"LockCaseHeads", "AS u(id) ORDER BY id", func(tx store.Tx, i int) error {
			_, err := tx.LockCaseHeads(ctx, []string{fmt.Sprintf("XA-RC:plan-%d", i)})
			return err
		}},
		{"ListCasesOutbox", "AS k(case_id, destination),", func(tx store.Tx, i int) error {
			_, err := tx.ListCasesOutbox(ctx, []store.CaseDest{{CaseID: fmt.Sprintf("XA-RC:plan-%d", i), Destination: memberB}}, []string{"case.create", "case.update"})
			return err
		}},
		// A delivery claims what its free slots can carry: a limit that
		// differs from claim to claim (1..Workers × BatchSize). In the
		// statement's text, each limit was a statement of its own,
		// prepared and planned anew on each connection (a custom plan
		// for each of its first 5 runs): at 1,000 forwards/s (flx bench
		// exchange --rate 1000) 44% of the sender's claims were planned,
		// each plan about as costly as the claim of a few rows.
		{"ClaimDue", "flx_claim_due", func(tx store.Tx, i int) error {
			if _, err := tx.EnqueueAll(ctx, benchEnvelopes(2000+i, 2)); err != nil {
				return err
			}
			_, err := tx.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberB, Limit: 1 + i%7*50})
			return err
		}},
		{"MarkDeliveredAll", "flx_mark_delivered", func(tx store.Tx, i int) error {
			items, err := tx.EnqueueAll(ctx, benchEnvelopes(1000+i, 2))
			if err != nil {
				return err
			}
			return tx.MarkDeliveredAll(ctx, []store.DeliveredRow{{ID: items[0].ID, Receipt: []byte("r")}, {ID: items[1].ID, Receipt: []byte("r")}})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t, store.Postgres) // young tables
			err := be.s.Tx(ctx, func(tx store.Tx) error {
				for i := range calls {
					if err := tc.run(tx, i); err != nil {
						return err
					}
				}
				generic, custom, err := store.PreparedPlans(t, tx, tc.part)
				if err != nil {
					return err
				}
				if generic+custom < calls {
					t.Fatalf("%d plans of statements with %q, want %d calls' (is the statement prepared?)", generic+custom, tc.part, calls)
				}
				if custom > 5 {
					t.Errorf("%d calls made %d custom plans and %d generic, want at most 5 custom (PostgreSQL's first runs)", calls, custom, generic)
				}
				// The generic plan, made while the tables were young, is
				// kept as they grow (no ANALYZE in between, as under a
				// steady load between two of autovacuum's rounds): it must
				// probe them by key, not scan them.
				if err := growOutbox(ctx, be); err != nil {
					return err
				}
				if _, err := be.raw.ExecContext(ctx, `INSERT INTO cases (case_id, origin, type, status, version, document, created_at, updated_at)
					SELECT 'XA-RC:OLD-' || g, 'XA-RC', 'tracing_request', 'open', 1, convert_to(repeat('x', 1500), 'UTF8'), now(), now()
					FROM generate_series(1, 3000) g`); err != nil {
					return err
				}
				scanned := func() int64 {
					var n int64
					for _, table := range []string{"outbox", "cases"} {
						r, err := store.RowsScanned(t, tx, table)
						if err != nil {
							t.Fatal(err)
						}
						n += r
					}
					return n
				}
				before := scanned()
				for i := range 5 {
					if err := tc.run(tx, calls+i); err != nil {
						return err
					}
				}
				if n := scanned() - before; n != 0 {
					t.Errorf("5 calls on grown tables read %d rows by sequential scans, want 0", n)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
