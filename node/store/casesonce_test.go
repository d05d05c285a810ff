package store_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// TestCaseDocumentWrittenOnce: a case's current document is written once,
// in its row of cases: its version row reads it from there (a received
// case was written twice, a tenth of the receiver's database work). An
// update moves the replaced version's document into that version's row;
// supersession and erasure still reach every version, and the erasure
// counts the current version's document as a version's erased.
func TestCaseDocumentWrittenOnce(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		one := newCase("XA-RC:ONCE-1")
		must[store.Case](t)(b.s.CreateCase(ctx, one))
		batch := []store.NewCase{newCase("XA-RC:ONCE-2"), newCase("XA-RC:ONCE-3")}
		must[store.BulkResult](t)(b.s.CreateCases(ctx, batch))
		if n := b.count(t, `SELECT COUNT(*) FROM case_versions WHERE document IS NOT NULL`); n != 0 {
			t.Fatalf("%d documents held in case_versions besides cases, want 0", n)
		}
		for _, c := range append(batch, one) {
			vs := must[[]store.CaseVersion](t)(b.s.ListCaseVersions(ctx, c.ID))
			if v := must[store.CaseVersion](t)(b.s.GetCaseVersion(ctx, c.ID, 1)); !bytes.Equal(v.Document, c.Document) ||
				len(vs) != 1 || !bytes.Equal(vs[0].Document, c.Document) {
				t.Fatalf("%s: version 1 reads %q, listed %+v", c.ID, v.Document, vs)
			}
		}
		doc2 := caseDoc(one.ID, 2, "updated")
		must[store.Case](t)(b.s.UpdateCase(ctx, store.CaseUpdate{ID: one.ID, ExpectedVersion: 1, Document: doc2}))
		vs := must[[]store.CaseVersion](t)(b.s.ListCaseVersions(ctx, one.ID))
		if len(vs) != 2 || !bytes.Equal(vs[0].Document, one.Document) || !bytes.Equal(vs[1].Document, doc2) {
			t.Fatalf("after the update: %+v", vs)
		}
		if n := b.count(t, `SELECT COUNT(*) FROM case_versions WHERE document IS NOT NULL`); n != 1 {
			t.Fatalf("%d documents in case_versions after an update, want 1 (version 1's)", n)
		}
		// A stale update moves nothing.
		if _, err := b.s.UpdateCase(ctx, store.CaseUpdate{ID: one.ID, ExpectedVersion: 1, Document: doc2}); err == nil {
			t.Fatal("stale update applied")
		}
		err := b.s.Tx(ctx, func(tx store.Tx) error {
			r, err := tx.SupersedeVersions(ctx, one.ID, store.Supersession{Below: 2})
			if err == nil && r.Versions != 1 {
				t.Errorf("superseded %d versions, want 1", r.Versions)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		v1 := must[store.CaseVersion](t)(b.s.GetCaseVersion(ctx, one.ID, 1))
		v2 := must[store.CaseVersion](t)(b.s.GetCaseVersion(ctx, one.ID, 2))
		if v1.Document != nil || v1.SHA256 != sha(one.Document) || !bytes.Equal(v2.Document, doc2) {
			t.Fatalf("after supersession: v1 %q %s, v2 %q", v1.Document, v1.SHA256, v2.Document)
		}
		for _, id := range []string{one.ID, batch[0].ID} {
			res := must[store.ErasureResult](t)(b.s.EraseCase(ctx, id, store.Erasure{Reason: "erasure_request"}))
			if res.Versions != 1 {
				t.Errorf("%s: erasure counted %d versions, want 1", id, res.Versions)
			}
			for _, v := range must[[]store.CaseVersion](t)(b.s.ListCaseVersions(ctx, id)) {
				if v.Document != nil {
					t.Errorf("%s: version %d still reads a document after the erasure", id, v.Version)
				}
			}
			if again := must[store.ErasureResult](t)(b.s.EraseCase(ctx, id, store.Erasure{Reason: "erasure_request"})); again.Versions != 0 {
				t.Errorf("%s: erased again, counted %d versions", id, again.Versions)
			}
		}
	})
}

// TestReplacedVersionKeptWhoeverUpdates: a case's version changed by a
// statement that does not move the replaced version's document into its
// row (a node of the previous release sharing the database during a
// rolling upgrade, which wrote it there when the version was made) still
// leaves that version readable: migration 0059's trigger moves it. An
// erasure, which leaves the version as it is, moves nothing.
func TestReplacedVersionKeptWhoeverUpdates(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		c := newCase("XA-RC:OLDREL-1")
		must[store.Case](t)(b.s.CreateCase(ctx, c))
		doc2 := caseDoc(c.ID, 2, "updated by the previous release")
		b.exec(t, `UPDATE cases SET version = 2, document = ? WHERE case_id = ?`, doc2, c.ID)
		if v1 := must[store.CaseVersion](t)(b.s.GetCaseVersion(ctx, c.ID, 1)); !bytes.Equal(v1.Document, c.Document) {
			t.Fatalf("version 1 reads %q after an update that did not move it, want its document", v1.Document)
		}
		// The document is held once more, in version 1's row, and only there.
		if n := b.count(t, `SELECT COUNT(*) FROM case_versions WHERE document IS NOT NULL`); n != 1 {
			t.Fatalf("%d documents in case_versions, want 1", n)
		}
		must[store.ErasureResult](t)(b.s.EraseCase(ctx, c.ID, store.Erasure{Reason: "erasure_request"}))
		if n := b.count(t, `SELECT COUNT(*) FROM case_versions WHERE document IS NOT NULL`); n != 0 {
			t.Fatalf("%d documents in case_versions after the erasure, want 0", n)
		}
	})
}
