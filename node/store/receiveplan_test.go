package store_test

import (
	"fmt"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// The reads of a receiving transaction that look cases up by a list of ids
// (CaseStates, and eachOfIDs's CasesHeld, GetCases, GetCaseHeads) keep the
// generic plan PostgreSQL makes of them on young tables: it must probe
// cases by key as the table grows. Written "case_id = ANY(ids)", that plan
// (ten ids assumed, cases sized when planned) scanned all of cases for
// every batch received ever after, the costliest statement of receiving at
// small batches.
func TestReceiverCaseReadsKeepKeyedPlans(t *testing.T) {
	ctx := t.Context()
	const calls = 20
	ids := func(i int) []string {
		return []string{fmt.Sprintf("XA-RC:plan-%d", i), fmt.Sprintf("XA-RC:plan-%d-b", i), fmt.Sprintf("XA-RC:OLD-%d", i+1)}
	}
	cases := []struct {
		name string
		run  func(tx store.Tx, i int) error
	}{
		{"CaseStates", func(tx store.Tx, i int) error { _, err := tx.CaseStates(ctx, ids(i)); return err }},
		{"CasesHeld", func(tx store.Tx, i int) error { _, err := tx.CasesHeld(ctx, ids(i)); return err }},
		{"GetCases", func(tx store.Tx, i int) error { _, err := tx.GetCases(ctx, ids(i)); return err }},
		{"GetCaseHeads", func(tx store.Tx, i int) error { _, err := tx.GetCaseHeads(ctx, ids(i)); return err }},
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
				// Grown without ANALYZE in between, as under a steady
				// load between two of autovacuum's rounds.
				if _, err := be.raw.ExecContext(ctx, `INSERT INTO cases (case_id, origin, type, status, version, document, created_at, updated_at)
					SELECT 'XA-RC:OLD-' || g, 'XA-RC', 'tracing_request', 'open', 1, convert_to(repeat('x', 1500), 'UTF8'), now(), now()
					FROM generate_series(1, 3000) g`); err != nil {
					return err
				}
				before, err := store.RowsScanned(t, tx, "cases")
				if err != nil {
					return err
				}
				for i := range 5 {
					if err := tc.run(tx, calls+i); err != nil {
						return err
					}
				}
				after, err := store.RowsScanned(t, tx, "cases")
				if err != nil {
					return err
				}
				if n := after - before; n != 0 {
					t.Errorf("5 calls on a grown cases table read %d rows by sequential scans, want 0", n)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
