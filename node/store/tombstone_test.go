package store_test

import (
	"errors"
	"fmt"
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

// PurgeTombstones deletes the tombstones of cases never held, erased before
// the time given, and nothing else: not a younger one, not the tombstone of
// a case held and erased (the case's record), not one whose case has an
// inbox row still to process (a late create racing the purge: it must
// still find the tombstone and be discarded), which goes once that row is
// processed. Neither listings nor the read of a case held are changed; a
// tombstone is listed with the erased cases only when the case was held.
// After the purge, a withdrawal processed anew leaves a new tombstone,
// and the replay records of the envelopes of the case stay.
func TestPurgeTombstones(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		erase := func(id string, at time.Time) {
			t.Helper()
			must[store.ErasureResult](t)(b.s.EraseCase(ctx, id, store.Erasure{Reason: "consent_withdrawn", At: at, Origin: memberA}))
		}
		const (
			old     = "XA-RC:PURGE-OLD"
			young   = "XA-RC:PURGE-YOUNG"
			waiting = "XA-RC:PURGE-WAITING"
			held    = "XA-RC:PURGE-HELD"
		)
		erase(old, t0)
		erase(young, t0.Add(2*time.Hour))
		erase(waiting, t0)
		must[store.Case](t)(b.s.CreateCase(ctx, newCase(held)))
		erase(held, t0)
		// A late create of waiting, stored and not yet processed.
		env := caseDoc(waiting, 1, "late")
		late := must[store.ReceiveResult](t)(b.s.Receive(ctx, store.InboxItem{JTI: "purge-late-1", Iss: memberA, Aud: memberB,
			Kind: "case.create", CaseID: waiting, SHA256: sha(env), Envelope: env}, store.Receipt{Status: "accepted", Raw: []byte("r")}))

		for _, c := range []string{old, young, waiting} {
			if !must[store.Case](t)(b.s.GetCase(ctx, c)).NeverHeld() {
				t.Fatalf("%s: not a tombstone of a case never held", c)
			}
		}
		if c := must[store.Case](t)(b.s.GetCase(ctx, held)); c.NeverHeld() || !c.Erased() {
			t.Fatalf("the erased case held is taken for a tombstone of a case never held: %+v", c)
		}
		page := must[store.CasePage](t)(b.s.ListCases(ctx, store.CaseFilter{IncludeErased: true, Limit: 1000}))
		if len(page.Cases) != 1 || page.Cases[0].ID != held {
			t.Fatalf("listing with the erased cases: %+v, want %s alone", page.Cases, held)
		}

		_, err := b.s.PurgeTombstones(ctx, time.Time{})
		mustErr(t, err, store.ErrInvalid)
		if n := must[int64](t)(b.s.PurgeTombstones(ctx, t0)); n != 0 {
			t.Fatalf("purged %d tombstones erased at the bound, want none (strictly before)", n)
		}
		if n := must[int64](t)(b.s.PurgeTombstones(ctx, t0.Add(time.Hour))); n != 1 {
			t.Fatalf("purged %d, want 1 (%s)", n, old)
		}
		_, err = b.s.GetCase(ctx, old)
		mustErr(t, err, store.ErrNotFound)
		for _, c := range []string{young, waiting, held} {
			must[store.Case](t)(b.s.GetCase(ctx, c))
		}
		// The late create is processed (the node discards it: it finds the
		// tombstone); then the tombstone may go.
		mustErr(t, b.s.MarkProcessed(ctx, late.ID, "case was erased here"), nil)
		if n := must[int64](t)(b.s.PurgeTombstones(ctx, t0.Add(time.Hour))); n != 1 {
			t.Fatalf("purged %d once the late create was processed, want 1 (%s)", n, waiting)
		}
		_, err = b.s.GetCase(ctx, waiting)
		mustErr(t, err, store.ErrNotFound)
		// Its replay record stays: the create sent again is a duplicate.
		again := must[store.ReceiveResult](t)(b.s.Receive(ctx, store.InboxItem{JTI: "purge-late-1", Iss: memberA, Aud: memberB,
			Kind: "case.create", CaseID: waiting, SHA256: sha(env), Envelope: env}, store.Receipt{Status: "accepted", Raw: []byte("r")}))
		if !again.Duplicate {
			t.Fatalf("the late create sent again after the purge: %+v, want a duplicate", again)
		}
		// A withdrawal processed anew after the purge leaves a new tombstone.
		res := must[store.ErasureResult](t)(b.s.EraseCase(ctx, old, store.Erasure{Reason: "consent_withdrawn", At: t0.Add(4 * time.Hour), Origin: memberA}))
		if res.CaseFound || !res.Tombstoned {
			t.Fatalf("withdrawal after the purge: %+v, want a new tombstone", res)
		}
		if n := must[int64](t)(b.s.PurgeTombstones(ctx, t0.Add(3*time.Hour))); n != 1 {
			t.Fatalf("purged %d, want 1 (%s; the new tombstone of %s is younger)", n, young, old)
		}
		if c := must[store.Case](t)(b.s.GetCase(ctx, held)); !c.Erased() || c.Document != nil {
			t.Fatalf("the erased case held after the purges: %+v", c)
		}
	})
}

// An erasure of a case leaves the bytes of the relay.forward rows of the
// case not yet processed: chains this node carries for others (a
// withdrawal on its way to another member, above all), which may commit
// while the erasure runs. Processed ones, and every other kind, lose their
// envelope.
func TestEraseKeepsUnprocessedChains(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		const id = "XA-RC:CHAINS"
		must[store.Case](t)(b.s.CreateCase(ctx, newCase(id)))
		receive := func(jti, kind string) int64 {
			t.Helper()
			env := fmt.Appendf(nil, "envelope %s", jti)
			return must[store.ReceiveResult](t)(b.s.Receive(ctx, store.InboxItem{JTI: jti, Iss: memberA, Aud: cta, Kind: kind,
				CaseID: id, SHA256: sha(env), Envelope: env}, store.Receipt{Status: "accepted", Raw: []byte("r")})).ID
		}
		done := receive("chain-done", "relay.forward")
		mustErr(t, b.s.MarkProcessed(ctx, done, ""), nil)
		waiting := receive("chain-waiting", "relay.forward")
		update := receive("update-waiting", "case.update")
		res := must[store.ErasureResult](t)(b.s.EraseCase(ctx, id, store.Erasure{Reason: "consent_withdrawn", Origin: memberA}))
		if res.InboxEnvelopes != 2 {
			t.Fatalf("EraseCase dropped %d inbox envelopes, want 2 (the processed chain, the update)", res.InboxEnvelopes)
		}
		for _, c := range []struct {
			id   int64
			kept bool
		}{{done, false}, {waiting, true}, {update, false}} {
			it := must[store.InboxItem](t)(b.s.GetInbox(ctx, c.id))
			if (it.Envelope != nil) != c.kept {
				t.Errorf("inbox row %d (%s): envelope kept %v, want %v", c.id, it.Kind, it.Envelope != nil, c.kept)
			}
		}
	})
}
