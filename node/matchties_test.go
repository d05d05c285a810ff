package node_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// TestMatchingTiesPastTheBound: one family seeks "Ahmed Ali", born 1980,
// and 30 detainees of that name and year are registered one after the
// other, all alike. Each detainee has one candidate, the sought person,
// and lists it; the sought person has 30 tied candidates and lists the
// first 20 (match.DefaultMaxCandidates). Every pair is in one of the two
// lists, so every pair is stored and every detainee's caseworker sees
// the family. Before, the refresh of the sought person's list after each
// registration deleted the pairs its own cut left out, though the other
// side listed them: 10 detainees were named by no candidate at all.
func TestMatchingTiesPastTheBound(t *testing.T) {
	t.Parallel()
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := fedtest.New(t, "XA-RC:XA:society")
			xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, DSN: nodetest.DSN(t, d)})
			cw := node.Actor{Name: "cw-anna", Role: "caseworker"}
			ahmed := func(id string, role schema.PersonRole) schema.Person {
				return person(id, role, "1980", name("Ahmed", "given", "Latn"), name("Ali", "family", "Latn"))
			}
			if _, err := xa.CreateCase(ctx, cw, caseOf(t, "XA-RC:TR-00", schema.CaseTracingRequest, 1, ahmed("p1", schema.PersonSought))); err != nil {
				t.Fatal(err)
			}
			const n = 30
			for i := range n {
				id := fmt.Sprintf("XA-RC:DN-%02d", i)
				if _, err := xa.CreateCase(ctx, cw, caseOf(t, id, schema.CaseDetentionNotification, 1, ahmed("d1", schema.PersonDetainee))); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				id := fmt.Sprintf("XA-RC:DN-%02d", i)
				ms, err := xa.View().ListMatches(ctx, store.MatchFilter{CaseID: id})
				if err != nil {
					t.Fatal(err)
				}
				if len(ms) != 1 || ms[0].ACase != "XA-RC:TR-00" {
					t.Errorf("%s: candidates %+v, want the one with XA-RC:TR-00", id, ms)
				}
			}
		})
	}
}
