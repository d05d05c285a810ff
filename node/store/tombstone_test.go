package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// An erasure on behalf of the origin (a withdrawal) of a case not held
// leaves a tombstone: no document, erased, the origin's; a case created
// afterwards is a duplicate of it. Without an origin nothing is written.
// Erasing again finds the tombstone.
func TestEraseNotHeldLeavesTombstone(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		res := must[store.ErasureResult](t)(b.s.EraseCase(ctx, "XA-RC:0101", store.Erasure{Reason: "consent_withdrawn"}))
		if res.CaseFound || res.Tombstoned {
			t.Fatalf("without an origin: %+v", res)
		}
		if _, err := b.s.GetCase(ctx, "XA-RC:0101"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("without an origin, a case row: %v", err)
		}
		const id = "XA-RC:0102"
		res = must[store.ErasureResult](t)(b.s.EraseCase(ctx, id, store.Erasure{Reason: "consent_withdrawn", Origin: memberA}))
		if res.CaseFound || !res.Tombstoned {
			t.Fatalf("EraseCase = %+v, want a tombstone", res)
		}
		c := must[store.Case](t)(b.s.GetCase(ctx, id))
		if !c.Erased() || c.Document != nil || c.Origin != memberA || c.EraseReason != "consent_withdrawn" {
			t.Fatalf("tombstone %+v", c)
		}
		if vs := must[[]store.CaseVersion](t)(b.s.ListCaseVersions(ctx, id)); len(vs) != 0 {
			t.Fatalf("tombstone has versions %+v", vs)
		}
		_, err := b.s.CreateCase(ctx, newCase(id))
		mustErr(t, err, store.ErrDuplicate)
		_, err = b.s.UpdateCase(ctx, store.CaseUpdate{ID: id, ExpectedVersion: 1, Document: caseDoc(id, 2, "")})
		mustErr(t, err, store.ErrErased)
		res = must[store.ErasureResult](t)(b.s.EraseCase(ctx, id, store.Erasure{Reason: "consent_withdrawn", Origin: memberA}))
		if !res.CaseFound || res.Tombstoned {
			t.Fatalf("erasing again: %+v", res)
		}
		page := must[store.CasePage](t)(b.s.ListCases(ctx, store.CaseFilter{}))
		for _, c := range page.Cases {
			if c.ID == id {
				t.Fatal("a tombstone is listed among the cases held")
			}
		}
	})
}

// The tombstone and a case's creation cannot both happen, also between two
// Stores on one database (node replicas): whichever commits second fails
// (CreateCase: ErrDuplicate; EraseCase: ErrConflict, to be erased again)
// or, waiting for the first (SQLite's one writer), sees its row.
func TestTombstoneRacesCreate(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		other := b.open(t)
		erasure := store.Erasure{Reason: "consent_withdrawn", Origin: memberA}
		// hold runs first in a transaction kept open 300 ms, then second on
		// the other Store meanwhile; it returns second's error.
		hold := func(first func(store.Tx) error, second func() error) error {
			inside, done := make(chan struct{}), make(chan error, 1)
			go func() {
				done <- b.s.Tx(ctx, func(tx store.Tx) error {
					err := first(tx)
					close(inside)
					time.Sleep(300 * time.Millisecond)
					return err
				})
			}()
			<-inside
			err := second()
			mustErr(t, <-done, nil)
			return err
		}

		// Created first, tombstone second: the case is erased in the end.
		const a = "XA-RC:0201"
		err := hold(func(tx store.Tx) error { _, err := tx.CreateCase(ctx, newCase(a)); return err },
			func() error {
				res, err := other.EraseCase(ctx, a, erasure)
				if err == nil && (!res.CaseFound || res.Tombstoned) {
					t.Errorf("EraseCase after a create committed: %+v", res)
				}
				return err
			})
		t.Logf("EraseCase racing a create: %v", err)
		if err != nil {
			mustErr(t, err, store.ErrConflict)
			must[store.ErasureResult](t)(other.EraseCase(ctx, a, erasure))
		}
		if c := must[store.Case](t)(b.s.GetCase(ctx, a)); !c.Erased() || c.Document != nil {
			t.Fatalf("case %s kept: %+v", a, c)
		}

		// Tombstone first, created second: the create fails.
		const z = "XA-RC:0202"
		err = hold(func(tx store.Tx) error { _, err := tx.EraseCase(ctx, z, erasure); return err },
			func() error { _, err := other.CreateCase(ctx, newCase(z)); return err })
		mustErr(t, err, store.ErrDuplicate)
		if c := must[store.Case](t)(b.s.GetCase(ctx, z)); !c.Erased() || c.Document != nil {
			t.Fatalf("case %s stored over its tombstone: %+v", z, c)
		}
	})
}
