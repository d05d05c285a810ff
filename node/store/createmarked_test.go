package store_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// CreateCasesMarked writes the cases not held yet, each with its first
// version, and every match-pending mark given (the highest version of a
// case named twice; a mark of a held case too), in one call: on
// PostgreSQL one statement, whose parameters are ordered so that the
// documents' blob goes last.
func TestCreateCasesMarked(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		if _, err := b.s.CreateCase(ctx, newCase("XA-RC:HELD")); err != nil {
			t.Fatal(err)
		}
		cs := []store.NewCase{newCase("XA-RC:M1"), newCase("XA-RC:HELD"), newCase("XA-RC:M2")}
		for i := range cs {
			cs[i].Document = caseDoc(cs[i].ID, 1, fmt.Sprint("new ", i))
		}
		pending := []store.PendingMatch{{CaseID: "XA-RC:M2", Version: 1}, {CaseID: "XA-RC:HELD", Version: 3},
			{CaseID: "XA-RC:M1", Version: 1}, {CaseID: "XA-RC:M2", Version: 2}}
		res, err := b.s.CreateCasesMarked(ctx, cs, pending)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Created, []string{"XA-RC:M1", "XA-RC:M2"}) || !slices.Equal(res.Existing, []string{"XA-RC:HELD"}) {
			t.Fatalf("created %v, existing %v; want [XA-RC:M1 XA-RC:M2], [XA-RC:HELD]", res.Created, res.Existing)
		}
		for _, i := range []int{0, 2} {
			c, err := b.s.GetCase(ctx, cs[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			if string(c.Document) != string(cs[i].Document) || c.Version != 1 {
				t.Errorf("%s: version %d, document %s; want 1, %s", cs[i].ID, c.Version, c.Document, cs[i].Document)
			}
			vs, err := b.s.ListCaseVersions(ctx, cs[i].ID)
			if err != nil || len(vs) != 1 || string(vs[0].Document) != string(cs[i].Document) {
				t.Errorf("%s: versions %+v, %v; want its first, with its document", cs[i].ID, vs, err)
			}
		}
		held, err := b.s.GetCase(ctx, "XA-RC:HELD")
		if err != nil {
			t.Fatal(err)
		}
		if string(held.Document) != string(newCase("XA-RC:HELD").Document) {
			t.Errorf("held case rewritten: %s", held.Document)
		}
		marks, err := b.s.ListMatchPending(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.PendingMatch{{CaseID: "XA-RC:HELD", Version: 3}, {CaseID: "XA-RC:M1", Version: 1}, {CaseID: "XA-RC:M2", Version: 2}}
		if !slices.Equal(marks, want) {
			t.Errorf("marks %+v; want %+v", marks, want)
		}
	})
}
