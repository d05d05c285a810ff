package store_test

import (
	"strings"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// TestHeldDocuments keeps responses and messages held for review by their
// decision: listed while they wait, resolved once (the bytes go, the hash
// stays), and erased with their case.
func TestHeldDocuments(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		const id, other = "XA-RC:0101", "XA-RC:0102"
		for _, c := range []string{id, other} {
			must[store.Case](t)(b.s.CreateCase(ctx, newCase(c)))
		}
		hold := func(caseID, docID, text string) int64 {
			t.Helper()
			d := must[store.Decision](t)(b.s.RecordDecision(ctx, store.Decision{CaseID: caseID, Destination: memberB, Effect: "needs_review", Decision: []byte(`{}`)}))
			doc := []byte(`{"message_id":"` + docID + `","body":"` + text + `"}`)
			mustErr(t, b.s.RecordHeldDocument(ctx, store.HeldDocument{DecisionID: d.ID, CaseID: caseID, Destination: memberB,
				Kind: "message.deliver", DocID: docID, SHA256: sha(doc), Document: doc}), nil)
			return d.ID
		}
		sent := hold(id, "XA-RC:M1", marker+"-sent")
		rejected := hold(id, "XA-RC:M2", marker+"-rejected")
		waiting := hold(id, "XA-RC:M3", marker+"-waiting")
		kept := hold(other, "XA-RC:M4", "Amira Testova")
		if err := b.s.RecordHeldDocument(ctx, store.HeldDocument{DecisionID: sent, CaseID: id, Destination: memberB,
			Kind: "message.deliver", DocID: "x", SHA256: "x", Document: []byte("x")}); err == nil {
			t.Fatal("a decision held two documents")
		}
		mustErr(t, b.s.RecordHeldDocument(ctx, store.HeldDocument{DecisionID: 99, CaseID: id}), store.ErrInvalid)

		list := must[[]store.HeldDocument](t)(b.s.ListHeldDocuments(ctx, 0))
		if len(list) != 4 || list[0].DecisionID != sent || list[0].Document != nil || list[0].DocID != "XA-RC:M1" {
			t.Fatalf("ListHeldDocuments = %+v", list)
		}
		mustErr(t, b.s.ResolveHeldDocument(ctx, sent, store.HeldSent, b.clock.Now()), nil)
		mustErr(t, b.s.ResolveHeldDocument(ctx, sent, store.HeldRejected, b.clock.Now()), store.ErrConflict)
		mustErr(t, b.s.ResolveHeldDocument(ctx, rejected, store.HeldRejected, b.clock.Now()), nil)
		mustErr(t, b.s.ResolveHeldDocument(ctx, 12345, store.HeldRejected, b.clock.Now()), store.ErrNotFound)
		mustErr(t, b.s.ResolveHeldDocument(ctx, waiting, store.HeldErased, b.clock.Now()), store.ErrInvalid)
		for did, want := range map[int64]string{sent: store.HeldSent, rejected: store.HeldRejected} {
			h := must[store.HeldDocument](t)(b.s.HeldDocument(ctx, did))
			if h.State != want || h.Document != nil || h.SHA256 == "" || h.ResolvedAt.IsZero() {
				t.Fatalf("decision %d: state %s, %d bytes, resolved %v", did, h.State, len(h.Document), h.ResolvedAt)
			}
		}
		if hits := b.grep(t, marker+"-rejected"); len(hits) != 0 {
			t.Fatalf("a rejected document's bytes are left:\n%s", strings.Join(hits, "\n"))
		}

		res := must[store.ErasureResult](t)(b.s.EraseCase(ctx, id, store.Erasure{Reason: "consent_withdrawn"}))
		if res.HeldDocuments != 1 {
			t.Fatalf("EraseCase dropped %d held documents, want 1", res.HeldDocuments)
		}
		if h := must[store.HeldDocument](t)(b.s.HeldDocument(ctx, waiting)); h.State != store.HeldErased || h.Document != nil || h.SHA256 == "" {
			t.Fatalf("held document of the erased case: state %s, %d bytes", h.State, len(h.Document))
		}
		if h := must[store.HeldDocument](t)(b.s.HeldDocument(ctx, sent)); h.State != store.HeldSent {
			t.Fatalf("a resolved document became %s", h.State)
		}
		if hits := b.grep(t, marker); len(hits) != 0 {
			t.Fatalf("held bytes left after erasure:\n%s", strings.Join(hits, "\n"))
		}
		list = must[[]store.HeldDocument](t)(b.s.ListHeldDocuments(ctx, 0))
		if len(list) != 1 || list[0].DecisionID != kept {
			t.Fatalf("ListHeldDocuments after erasure = %+v", list)
		}
	})
}

// TestListReviewCases lists the cases with a decision held for review, by
// case id, once each, leaving out the others and erased cases.
func TestListReviewCases(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		for _, c := range []string{"XA-RC:0203", "XA-RC:0201", "XA-RC:0202", "XA-RC:0204"} {
			must[store.Case](t)(b.s.CreateCase(ctx, newCase(c)))
		}
		for _, d := range []struct{ id, effect string }{
			{"XA-RC:0203", "needs_review"}, {"XA-RC:0203", "needs_review"}, {"XA-RC:0203", "allow"},
			{"XA-RC:0201", "needs_review"}, {"XA-RC:0202", "deny"}, {"XA-RC:0204", "needs_review"},
		} {
			must[store.Decision](t)(b.s.RecordDecision(ctx, store.Decision{CaseID: d.id, Destination: memberB, Effect: d.effect, Decision: []byte(`{}`)}))
		}
		must[store.ErasureResult](t)(b.s.EraseCase(ctx, "XA-RC:0204", store.Erasure{Reason: "consent_withdrawn"}))
		got := must[[]string](t)(b.s.ListReviewCases(ctx, 0))
		if strings.Join(got, ",") != "XA-RC:0201,XA-RC:0203" {
			t.Fatalf("ListReviewCases = %v", got)
		}
		if got := must[[]string](t)(b.s.ListReviewCases(ctx, 1)); len(got) != 1 {
			t.Fatalf("limit 1: %v", got)
		}
	})
}
