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
	be := newBackend(t, store.Postgres)
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
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
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
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
