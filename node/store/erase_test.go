package store_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// marker stands for personal data: it must be nowhere after erasure.
const marker = "Karo-Sampleyan-7f3a9c"

func TestEraseCase(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		const id = "XA-RC:0042"
		// Big documents too, so SQLite puts them on overflow pages.
		big := strings.Repeat("x", 9000)
		must[store.Case](t)(b.s.CreateCase(ctx, store.NewCase{ID: id, Origin: memberA, Type: "tracing_request",
			Status: "open", Document: caseDoc(id, 1, marker)}))
		for v := int64(1); v < 4; v++ {
			must[store.Case](t)(b.s.UpdateCase(ctx, store.CaseUpdate{ID: id, ExpectedVersion: v,
				Document: caseDoc(id, int(v)+1, marker+big)}))
		}
		// What a peer sent about the case, and what we sent.
		in := store.InboxItem{JTI: "in-1", Iss: memberB, Aud: memberA, Kind: "case.response", CaseID: id,
			Envelope: []byte("jws." + marker + ".sig")}
		must[store.ReceiveResult](t)(b.s.Receive(ctx, in, store.Receipt{Raw: []byte("receipt-in-1")}))
		delivered := enqueue(t, b.s, store.NewOutboxItem{Destination: memberB, CaseID: id, Kind: "case.create", JTI: "out-1",
			Envelope: []byte("jws." + marker + big + ".sig"), Discloses: true})
		must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w"}))
		mustErr(t, b.s.MarkDelivered(ctx, delivered.ID, []byte("receipt-out-1")), nil)
		pending := enqueue(t, b.s, store.NewOutboxItem{Destination: memberB, CaseID: id, Kind: "case.update", JTI: "out-2",
			Envelope: []byte("jws." + marker + ".sig")})
		withdraw := enqueue(t, b.s, store.NewOutboxItem{Destination: memberB, CaseID: id, Kind: "case.withdraw", JTI: "out-3",
			Envelope: []byte(`jws.{"case_id":"XA-RC:0042","reason":"consent_withdrawn"}.sig`)})
		// An unrelated case must keep its data.
		must[store.Case](t)(b.s.CreateCase(ctx, store.NewCase{ID: "XA-RC:0043", Origin: memberA, Type: "tracing_request",
			Status: "open", Document: caseDoc("XA-RC:0043", 1, "Amira Testova")}))
		if hits := b.grep(t, marker); len(hits) == 0 {
			t.Fatal("test broken: marker not found before erasure")
		}

		res := must[store.ErasureResult](t)(b.s.EraseCase(ctx, id, store.Erasure{Reason: "consent_withdrawn",
			KeepPendingKinds: []string{"case.withdraw"}}))
		if !res.CaseFound || res.Versions != 4 || res.InboxEnvelopes != 1 || res.OutboxEnvelopes != 2 || res.OutboxCancelled != 1 {
			t.Fatalf("EraseCase = %+v", res)
		}
		if hits := b.grep(t, marker); len(hits) != 0 {
			t.Fatalf("personal data left after erasure:\n%s", strings.Join(hits, "\n"))
		}
		if b.dialect == store.SQLite {
			// Not only the tables: the database file and its WAL.
			for _, f := range []string{b.path, b.path + "-wal"} {
				data, err := os.ReadFile(f)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				if bytes.Contains(data, []byte(marker)) {
					t.Errorf("%s still holds the erased bytes", f)
				}
			}
		}

		c := must[store.Case](t)(b.s.GetCase(ctx, id))
		if !c.Erased() || c.Document != nil || c.EraseReason != "consent_withdrawn" || c.Version != 4 {
			t.Fatalf("tombstone = %+v", c)
		}
		for _, v := range must[[]store.CaseVersion](t)(b.s.ListCaseVersions(ctx, id)) {
			if v.Document != nil {
				t.Fatalf("version %d still has a document", v.Version)
			}
		}
		_, err := b.s.UpdateCase(ctx, store.CaseUpdate{ID: id, ExpectedVersion: 4, Document: []byte(`{}`)})
		mustErr(t, err, store.ErrErased)
		if got := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, pending.ID)); got.State != store.Cancelled || got.Envelope != nil {
			t.Fatalf("pending update = %+v, want cancelled without envelope", got)
		}
		mustErr(t, b.s.Requeue(ctx, pending.ID), store.ErrConflict)
		if got := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, withdraw.ID)); got.State != store.Queued || got.Envelope == nil {
			t.Fatalf("withdrawal = %+v, want still queued with its envelope", got)
		}
		if got := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, delivered.ID)); got.Envelope != nil || string(got.Receipt) != "receipt-out-1" {
			t.Fatalf("delivered row = %+v, want receipt kept, envelope gone", got)
		}
		// The withdrawal is next for XB (the cancelled update no longer blocks).
		claimed := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w"}))
		if len(claimed) != 1 || claimed[0].ID != withdraw.ID {
			t.Fatalf("claim after erasure = %+v", claimed)
		}
		// The replay guard survives erasure: same envelope is a duplicate,
		// other bytes under that jti are a replay.
		dup := must[store.ReceiveResult](t)(b.s.Receive(ctx, in, store.Receipt{Raw: []byte("x")}))
		if !dup.Duplicate || string(dup.ExistingReceipt) != "receipt-in-1" {
			t.Fatalf("receive after erasure = %+v", dup)
		}
		// The disclosure log stays (it holds no personal data).
		if ds := must[[]store.Disclosure](t)(b.s.ListDisclosures(ctx, id)); len(ds) != 1 || ds[0].Member != memberB {
			t.Fatalf("disclosures = %+v", ds)
		}
		if other := must[store.Case](t)(b.s.GetCase(ctx, "XA-RC:0043")); other.Erased() || other.Document == nil {
			t.Fatalf("unrelated case touched: %+v", other)
		}

		tests := []struct {
			name      string
			id        string
			e         store.Erasure
			want      error
			wantFound bool
		}{
			{"again", id, store.Erasure{Reason: "erasure_request"}, nil, true},
			{"unknown case", "XB-RC:none", store.Erasure{Reason: "erasure_request"}, nil, false},
			{"no reason", id, store.Erasure{}, store.ErrInvalid, false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				res, err := b.s.EraseCase(ctx, tc.id, tc.e)
				mustErr(t, err, tc.want)
				if res.CaseFound != tc.wantFound {
					t.Fatalf("CaseFound = %v", res.CaseFound)
				}
			})
		}
		if c := must[store.Case](t)(b.s.GetCase(ctx, id)); c.EraseReason != "consent_withdrawn" || !c.Erased() {
			t.Fatalf("erasing again changed the tombstone: %+v", c)
		}
	})
}

// Store.Tx: several writes commit together or not at all.
func TestTx(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		forward := func(tx store.Tx, id string) error {
			if _, err := tx.CreateCase(ctx, newCase(id)); err != nil {
				return err
			}
			if _, err := tx.RecordDecision(ctx, store.Decision{CaseID: id, Destination: memberB, Effect: "allow",
				Decision: json.RawMessage(`{"effect":"allow"}`)}); err != nil {
				return err
			}
			if _, err := tx.Enqueue(ctx, queue(memberB, id, "case.create", "jti-"+id)); err != nil {
				return err
			}
			_, err := tx.AppendAudit(ctx, store.AuditEntry{Actor: "caseworker-7", Action: "case.forward", Object: id})
			return err
		}
		counts := func() string {
			return fmt.Sprint(b.count(t, `SELECT COUNT(*) FROM cases`), b.count(t, `SELECT COUNT(*) FROM policy_decisions`),
				b.count(t, `SELECT COUNT(*) FROM outbox`), b.count(t, `SELECT COUNT(*) FROM audit_log`))
		}
		boom := fmt.Errorf("boom")
		tests := []struct {
			name       string
			fn         func(tx store.Tx) error
			want       error
			wantCounts string
		}{
			{"commit", func(tx store.Tx) error { return forward(tx, "XA-RC:0001") }, nil, "1 1 1 1"},
			{"error rolls back", func(tx store.Tx) error {
				if err := forward(tx, "XA-RC:0002"); err != nil {
					return err
				}
				return boom
			}, boom, "1 1 1 1"},
			{"store error rolls back", func(tx store.Tx) error {
				if err := forward(tx, "XA-RC:0003"); err != nil {
					return err
				}
				_, err := tx.CreateCase(ctx, newCase("XA-RC:0001"))
				return err
			}, store.ErrDuplicate, "1 1 1 1"},
			{"receive and apply", func(tx store.Tx) error {
				res, err := tx.Receive(ctx, envelope("in-1", "XB-RC:0009", "a"), receipt("in-1"))
				if err != nil {
					return err
				}
				if _, err := tx.CreateCase(ctx, store.NewCase{ID: "XB-RC:0009", Origin: memberB, Type: "tracing_request",
					Status: "transmitted", Document: caseDoc("XB-RC:0009", 1, "")}); err != nil {
					return err
				}
				return tx.MarkProcessed(ctx, res.ID, "")
			}, nil, "2 1 1 1"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				mustErr(t, b.s.Tx(ctx, tc.fn), tc.want)
				if got := counts(); got != tc.wantCounts {
					t.Fatalf("rows (cases decisions outbox audit) = %s, want %s", got, tc.wantCounts)
				}
			})
		}
		t.Run("panic rolls back", func(t *testing.T) {
			func() {
				defer func() {
					if recover() == nil {
						t.Fatal("panic swallowed")
					}
				}()
				_ = b.s.Tx(ctx, func(tx store.Tx) error {
					_ = forward(tx, "XA-RC:0004")
					panic("boom")
				})
			}()
			if got := counts(); got != "2 1 1 1" {
				t.Fatalf("rows = %s after panic", got)
			}
			// The store still works (the SQLite writer was released).
			must[store.Case](t)(b.s.CreateCase(ctx, newCase("XA-RC:0005")))
		})
		if v := must[store.AuditVerification](t)(b.s.VerifyAudit(ctx)); !v.OK() || v.Rows != 1 {
			t.Fatalf("audit after rollbacks: %+v", v)
		}
	})
}

// Erasing a case leaves none of its search keys in the full-text index
// (on SQLite, FTS5 kept a deleted row's terms in its segments).
func TestEraseLeavesNoSearchKeys(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		const id, key = "XA-RC:0301", "n_kzsampleyanqw"
		c := newCase(id)
		c.SearchKeys = []string{key, "y_1984"}
		must[store.Case](t)(b.s.CreateCase(ctx, c))
		if hits := b.grep(t, key); len(hits) == 0 {
			t.Fatal("test broken: key not found before erasure")
		}
		must[store.ErasureResult](t)(b.s.EraseCase(ctx, id, store.Erasure{Reason: "consent_withdrawn"}))
		if hits := b.grep(t, key); len(hits) != 0 {
			t.Fatalf("search key left after erasure:\n%s", strings.Join(hits, "\n"))
		}
	})
}
