package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// A Redoable transaction commits without waiting for the disk on
// PostgreSQL, and only that transaction: the setting does not stay on the
// pooled connection for the durable writes after it (queueing, receiving).
func TestRedoableIsScopedToItsTransaction(t *testing.T) {
	withAllDurableStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		s := b.open(t, store.WithMaxOpenConns(1)) // one connection: the same one each time
		want := map[bool]string{false: "on", true: "off"}
		if b.dialect == store.SQLite {
			want = map[bool]string{false: "", true: ""}
		}
		for i, redo := range []bool{false, true, false, true, false} {
			c := ctx
			if redo {
				c = store.Redoable(ctx)
			}
			err := s.Tx(c, func(tx store.Tx) error {
				got, err := store.SyncCommit(t, tx)
				if err != nil {
					return err
				}
				if got != want[redo] {
					t.Errorf("transaction %d (redoable %v): synchronous_commit %q, want %q", i, redo, got, want[redo])
				}
				_, err = tx.CreateCase(ctx, newCase(memberA+":redo-"+string(rune('a'+i))))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		// Committed all the same: visible to another connection.
		if n := b.count(t, `SELECT COUNT(*) FROM cases WHERE case_id LIKE ?`, memberA+":redo-%"); n != 5 {
			t.Fatalf("%d cases committed, want 5", n)
		}
	})
}

// errLost stands for a crash that loses a redoable commit: the database
// is left as if the transaction had never run, which a rollback also does.
var errLost = errors.New("commit lost in a crash")

// A lost record of a receipt (MarkDeliveredAll, redoable) is redone by the
// protocol: the row stays in flight and its case's next row stays held;
// after the lease the same bytes are claimed again, the receiver answers
// a duplicate without a second inbox row, and that receipt is recorded
// once.
func TestLostDeliveryMarkIsRedone(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		rcv := newBackend(t, b.dialect) // the receiver's database
		t0 := b.clock.Now()
		caseID := memberA + ":lost-mark"
		queued := must[[]store.OutboxItem](t)(b.s.EnqueueAll(ctx, []store.NewOutboxItem{
			{Destination: memberB, CaseID: caseID, Kind: "case.create", JTI: "lm-1", Envelope: []byte("envelope 1"), Discloses: true, At: t0},
			{Destination: memberB, CaseID: caseID, Kind: "case.update", JTI: "lm-2", Envelope: []byte("envelope 2"), Discloses: true, At: t0},
		}))
		claimed := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberB, Now: t0.Add(time.Second), Lease: time.Minute}))
		if len(claimed) != 1 || claimed[0].JTI != "lm-1" {
			t.Fatalf("first claim: %+v, want lm-1 alone", claimed)
		}
		receive := func(it store.OutboxItem) store.ReceiveResult {
			return must[store.ReceiveResult](t)(rcv.s.Receive(ctx, store.InboxItem{JTI: it.JTI, Iss: memberA, Aud: memberB,
				Kind: it.Kind, CaseID: it.CaseID, SHA256: sha(it.Envelope), Envelope: it.Envelope},
				store.Receipt{Status: "accepted", Raw: []byte("receipt " + it.JTI)}))
		}
		if r := receive(claimed[0]); r.Duplicate {
			t.Fatal("first receive: duplicate")
		}
		// The receipt is recorded, and the crash loses that commit.
		err := b.s.Tx(store.Redoable(ctx), func(tx store.Tx) error {
			if err := tx.MarkDeliveredAll(ctx, []store.DeliveredRow{{ID: claimed[0].ID, Receipt: []byte("receipt lm-1")}}); err != nil {
				return err
			}
			return errLost
		})
		if !errors.Is(err, errLost) {
			t.Fatalf("lost mark: %v", err)
		}
		if got := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, claimed[0].ID)); got.State != store.InFlight {
			t.Fatalf("after the lost mark: %s, want in_flight", got.State)
		}
		// Per-case order holds meanwhile: the next row of the case waits.
		if again := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberB, Now: t0.Add(30 * time.Second), Lease: time.Minute})); len(again) != 0 {
			t.Fatalf("claimed %+v during the lease", again)
		}
		// After the lease the same bytes go again, and the receiver
		// answers duplicate without storing anything twice.
		resent := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberB, Now: t0.Add(2 * time.Minute), Lease: time.Minute}))
		if len(resent) != 1 || resent[0].JTI != "lm-1" || string(resent[0].Envelope) != "envelope 1" || resent[0].Attempts != 2 {
			t.Fatalf("claim after the lease: %+v, want lm-1 again (attempt 2)", resent)
		}
		dup := receive(resent[0])
		if !dup.Duplicate || string(dup.ExistingReceipt) != "receipt lm-1" {
			t.Fatalf("resent: %+v, want a duplicate with the first receipt", dup)
		}
		if n := rcv.count(t, `SELECT COUNT(*) FROM inbox WHERE jti = ?`, "lm-1"); n != 1 {
			t.Fatalf("receiver holds %d inbox rows for lm-1", n)
		}
		if err := b.s.MarkDeliveredAll(ctx, []store.DeliveredRow{{ID: resent[0].ID, Receipt: dup.ExistingReceipt}}); err != nil {
			t.Fatal(err)
		}
		if n := b.count(t, `SELECT COUNT(*) FROM disclosures WHERE jti = ?`, "lm-1"); n != 1 {
			t.Fatalf("%d disclosures of lm-1, want 1", n)
		}
		next := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w", Destination: memberB, Now: t0.Add(2 * time.Minute), Lease: time.Minute}))
		if len(next) != 1 || next[0].ID != queued[1].ID {
			t.Fatalf("after the receipt: %+v, want lm-2", next)
		}
	})
}

// A lost processing transaction (redoable) leaves its inbox row
// unprocessed together with everything it did (the case, the audit entry),
// so processing it again applies it exactly once and the audit chain
// stays whole.
func TestLostProcessingIsRedone(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		caseID := memberA + ":lost-processing"
		env := caseDoc(caseID, 1, "")
		r := must[store.ReceiveResult](t)(b.s.Receive(ctx, store.InboxItem{JTI: "lp-1", Iss: memberA, Aud: memberB, Kind: "case.create",
			CaseID: caseID, SHA256: sha(env), Envelope: env}, store.Receipt{Status: "accepted", Raw: []byte("receipt lp-1")}))
		before := must[store.AuditVerification](t)(b.s.VerifyAudit(ctx))
		process := func(ctx context.Context, lose bool) error {
			return b.s.Tx(store.Redoable(ctx), func(tx store.Tx) error {
				if _, err := tx.CreateCase(ctx, newCase(caseID)); err != nil {
					return err
				}
				if err := tx.MarkProcessed(ctx, r.ID, ""); err != nil {
					return err
				}
				if _, err := tx.AppendAudit(ctx, store.AuditEntry{Actor: memberA, Action: "inbox.process", Object: caseID}); err != nil {
					return err
				}
				if lose {
					return errLost
				}
				return nil
			})
		}
		if err := process(ctx, true); !errors.Is(err, errLost) {
			t.Fatalf("lost processing: %v", err)
		}
		un := must[[]store.InboxItem](t)(b.s.ListUnprocessed(ctx, 0, 10))
		if len(un) != 1 || un[0].ID != r.ID {
			t.Fatalf("after the lost processing: unprocessed %+v, want row %d", un, r.ID)
		}
		if _, err := b.s.GetCase(ctx, caseID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("case after the lost processing: %v, want not found", err)
		}
		if err := process(ctx, false); err != nil {
			t.Fatalf("processing again: %v", err)
		}
		if un := must[[]store.InboxItem](t)(b.s.ListUnprocessed(ctx, 0, 10)); len(un) != 0 {
			t.Fatalf("unprocessed after the redo: %+v", un)
		}
		if n := b.count(t, `SELECT COUNT(*) FROM audit_log WHERE action = 'inbox.process' AND object = ?`, caseID); n != 1 {
			t.Fatalf("%d inbox.process audit entries, want 1", n)
		}
		after := must[store.AuditVerification](t)(b.s.VerifyAudit(ctx))
		if after.FirstBadSeq != 0 || after.Rows != before.Rows+1 {
			t.Fatalf("audit chain after the redo: %+v (before %+v)", after, before)
		}
	})
}

// The Store's MarkDeliveredAll and MarkDelivered commit without waiting
// for the WAL flush in their own statement on PostgreSQL (set_config,
// local to it): the setting does not stay on the pooled connection for
// the durable writes after it.
func TestDeliveryMarkRedoableIsScopedToItsStatement(t *testing.T) {
	withAllDurableStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		s := b.open(t, store.WithMaxOpenConns(1)) // one connection: the same one each time
		want := "on"
		if b.dialect == store.SQLite {
			want = ""
		}
		marks := map[string]func(id int64) error{
			"MarkDeliveredAll": func(id int64) error {
				return s.MarkDeliveredAll(ctx, []store.DeliveredRow{{ID: id, Receipt: []byte("receipt")}})
			},
			"MarkDelivered": func(id int64) error { return s.MarkDelivered(ctx, id, []byte("receipt")) },
		}
		for name, mark := range marks {
			o := enqueue(t, s, queue(memberB, memberA+":scope-"+name, "case.create", "scope-"+name))
			if got := claimJTIs(t, s, store.ClaimRequest{Destination: memberB, Limit: 10}); len(got) != 1 {
				t.Fatalf("%s: claimed %v", name, got)
			}
			if err := mark(o.ID); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got := must[store.OutboxItem](t)(s.GetOutbox(ctx, o.ID)); got.State != store.Delivered {
				t.Fatalf("%s: row is %s", name, got.State)
			}
			err := s.Tx(ctx, func(tx store.Tx) error {
				got, err := store.SyncCommit(t, tx)
				if err == nil && got != want {
					t.Errorf("after %s: synchronous_commit %q, want %q", name, got, want)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestLockSetsAsyncCommitWithIt: a durable transaction that takes the
// audit lock, and so commits without waiting for the flush and then waits
// for it outside the lock, sets synchronous_commit off in the statement
// that takes the lock, not in a statement of its own before the commit
// (one round trip less per audited transaction); the setting stays within
// that transaction, and what it wrote is committed.
func TestLockSetsAsyncCommitWithIt(t *testing.T) {
	withAllDurableStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		s := b.open(t, store.WithMaxOpenConns(1)) // one connection: the same one each time
		for i := range 2 {
			err := s.Tx(ctx, func(tx store.Tx) error {
				before, err := store.SyncCommit(t, tx)
				if err != nil {
					return err
				}
				if _, err := tx.AppendAudit(ctx, store.AuditEntry{Actor: "test", Action: "lock", Object: "XA-RC:lock"}); err != nil {
					return err
				}
				after, err := store.SyncCommit(t, tx)
				if err != nil {
					return err
				}
				want := [2]string{"on", "on"}
				switch {
				case b.dialect == store.SQLite:
					want = [2]string{"", ""}
				case store.FlushesOutsideLock(tx):
					want = [2]string{"on", "off"}
				}
				if before != want[0] || after != want[1] {
					t.Errorf("transaction %d: synchronous_commit %q before the lock, %q after it; want %q, %q", i, before, after, want[0], want[1])
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := must[[]store.AuditRecord](t)(s.ListAudit(ctx, store.AuditFilter{Object: "XA-RC:lock"})); len(got) != 2 {
			t.Fatalf("%d audit entries committed, want 2", len(got))
		}
	})
}
