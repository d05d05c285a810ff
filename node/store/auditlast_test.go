package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// AppendAuditLast keeps the audit rows for the commit on PostgreSQL: the
// chain's lock is taken in the commit's own round trip, so a transaction
// whose last write is its audit rows does not hold the lock while this
// process reads the append's answer and sends the COMMIT. Shown with the
// lock held by another session: the transaction's work, after
// AppendAuditLast, goes on (AppendAuditAll there would wait for the lock),
// its commit waits for the lock, and once it is released the rows are in
// the chain, in order, and the transaction waited for its WAL flush.
func TestAuditLastTakesTheLockWithTheCommit(t *testing.T) {
	withAllDurableStores(t, func(t *testing.T, b *backend) {
		if b.dialect != store.Postgres {
			t.Skip("SQLite: one writer, the rows are appended at once")
		}
		ctx := t.Context()
		appendAudit(t, b.s, 2) // a chain to extend
		holder, err := b.raw.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Close()
		if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, store.LockAudit); err != nil {
			t.Fatal(err)
		}
		released := false
		release := func() {
			if !released {
				released = true
				if _, err := holder.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, store.LockAudit); err != nil {
					t.Error(err)
				}
			}
		}
		defer release()
		var walBefore string
		if err := b.raw.Get(&walBefore, `SELECT pg_current_wal_insert_lsn()::text`); err != nil {
			t.Fatal(err)
		}
		worked := make(chan struct{})
		txDone := make(chan error, 1)
		go func() {
			txDone <- b.s.Tx(ctx, func(tx store.Tx) error {
				for i := range 3 {
					if err := tx.AppendAuditLast(ctx, []store.AuditEntry{
						{Actor: "XB-RC", Action: "inbox.process", Object: fmt.Sprintf("XA-RC:last-%d", 2*i)},
						{Actor: "XB-RC", Action: "inbox.process", Object: fmt.Sprintf("XA-RC:last-%d", 2*i+1)},
					}); err != nil {
						return err
					}
					// More work after the rows kept: it does not wait for
					// the chain's lock.
					if _, err := store.ExecInTx(t, tx, `SELECT 1`); err != nil {
						return err
					}
				}
				close(worked)
				return nil
			})
		}()
		select {
		case <-worked:
		case err := <-txDone:
			t.Fatalf("transaction ended before its work was done: %v", err)
		case <-time.After(time.Minute): // a failure bound, not a timing
			t.Fatal("the transaction's work after AppendAuditLast waited for the audit lock held by another session")
		}
		// The commit waits for the lock: its session is seen waiting.
		for waiting := 0; waiting == 0; {
			select {
			case err := <-txDone:
				t.Fatalf("transaction committed while another session held the audit lock: %v", err)
			default:
			}
			if err := b.raw.Get(&waiting, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil {
				t.Fatal(err)
			}
		}
		release()
		if err := <-txDone; err != nil {
			t.Fatalf("Tx: %v", err)
		}
		var flushedPast bool
		if err := b.raw.Get(&flushedPast, `SELECT pg_current_wal_flush_lsn() > $1::pg_lsn`, walBefore); err != nil {
			t.Fatal(err)
		}
		if !flushedPast {
			t.Fatalf("Tx returned before its commit was flushed (WAL flushed only to %s or before)", walBefore)
		}
		recs := must[[]store.AuditRecord](t)(b.s.ListAudit(ctx, store.AuditFilter{AfterSeq: 2, Limit: 10}))
		if len(recs) != 6 {
			t.Fatalf("%d rows appended, want 6: %+v", len(recs), recs)
		}
		for i, r := range recs {
			if want := fmt.Sprintf("XA-RC:last-%d", i); r.Object != want || r.Seq != int64(3+i) {
				t.Fatalf("row %d: seq %d object %q, want seq %d object %q", i, r.Seq, r.Object, 3+i, want)
			}
		}
		if v := must[store.AuditVerification](t)(b.s.VerifyAudit(ctx)); !v.OK() || v.Rows != 8 {
			t.Fatalf("VerifyAudit = %+v", v)
		}
		// The connection is usable and outside any transaction: the next
		// transactions on the pool run as before.
		if err := b.s.Tx(ctx, func(tx store.Tx) error {
			_, err := tx.AppendAudit(ctx, store.AuditEntry{Actor: "XB-RC", Action: "after", Object: "XA-RC:after"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if v := must[store.AuditVerification](t)(b.s.VerifyAudit(ctx)); !v.OK() || v.Rows != 9 {
			t.Fatalf("VerifyAudit after = %+v", v)
		}
	})
}

// What AppendAuditLast keeps is in the chain in the order of the
// transaction's appends: read or extended in the transaction afterwards,
// the rows kept are written first; kept inside a savepoint rolled back,
// they are dropped, and rows kept before it that it wrote are kept again;
// a transaction rolled back appends none; bad entries are refused at once.
func TestAuditLastOrder(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		entry := func(obj string) []store.AuditEntry {
			return []store.AuditEntry{{Actor: "XB-RC", Action: "case.create", Object: obj, Details: json.RawMessage(`{"v": 1}`)}}
		}
		err := b.s.Tx(ctx, func(tx store.Tx) error {
			if err := tx.AppendAuditLast(ctx, entry("XA-RC:a")); err != nil {
				return err
			}
			// Read: a is written first and seen.
			got, err := tx.ListAudit(ctx, store.AuditFilter{})
			if err != nil {
				return err
			}
			if len(got) != 1 || got[0].Object != "XA-RC:a" {
				t.Errorf("ListAudit in the transaction after AppendAuditLast = %+v, want XA-RC:a", got)
			}
			if err := tx.AppendAuditLast(ctx, entry("XA-RC:b")); err != nil {
				return err
			}
			// Extended: b goes before c.
			if _, err := tx.AppendAudit(ctx, entry("XA-RC:c")[0]); err != nil {
				return err
			}
			if err := tx.AppendAuditLast(ctx, entry("XA-RC:d")); err != nil {
				return err
			}
			// A savepoint rolled back after writing d (AppendAuditAll)
			// and keeping x: d is kept again, x dropped.
			undone, err := tx.Savepoint(ctx, func() error {
				if _, err := tx.AppendAuditAll(ctx, entry("XA-RC:y")); err != nil {
					return err
				}
				if err := tx.AppendAuditLast(ctx, entry("XA-RC:x")); err != nil {
					return err
				}
				return errors.New("undo")
			})
			if err != nil || undone == nil {
				return fmt.Errorf("savepoint: undone %v, err %v", undone, err)
			}
			if err := tx.AppendAuditLast(ctx, []store.AuditEntry{{Actor: "XB-RC"}}); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("AppendAuditLast without an action: %v, want ErrInvalid", err)
			}
			return tx.AppendAuditLast(ctx, entry("XA-RC:e"))
		})
		if err != nil {
			t.Fatal(err)
		}
		err = b.s.Tx(ctx, func(tx store.Tx) error {
			if err := tx.AppendAuditLast(ctx, entry("XA-RC:rolled-back")); err != nil {
				return err
			}
			return errors.New("roll back")
		})
		if err == nil {
			t.Fatal("transaction that failed: nil error")
		}
		recs := must[[]store.AuditRecord](t)(b.s.ListAudit(ctx, store.AuditFilter{}))
		var objs []string
		for _, r := range recs {
			objs = append(objs, r.Object)
		}
		if want := "[XA-RC:a XA-RC:b XA-RC:c XA-RC:d XA-RC:e]"; fmt.Sprint(objs) != want {
			t.Fatalf("chain %v, want %s", objs, want)
		}
		if v := must[store.AuditVerification](t)(b.s.VerifyAudit(ctx)); !v.OK() || v.Rows != 5 {
			t.Fatalf("VerifyAudit = %+v", v)
		}
		if b.dialect != store.Postgres {
			return // SQLite stores a NUL in text
		}
		// Rows the database refuses when the commit sends them (a NUL in
		// text): the transaction is not committed, and says why.
		err = b.s.Tx(ctx, func(tx store.Tx) error {
			if _, err := tx.AppendAudit(ctx, entry("XA-RC:before-refused")[0]); err != nil {
				return err
			}
			return tx.AppendAuditLast(ctx, []store.AuditEntry{{Actor: "XB\x00RC", Action: "case.create", Object: "XA-RC:refused"}})
		})
		if !errors.Is(err, store.ErrAuditLast) {
			t.Fatalf("rows refused at the commit: %v, want ErrAuditLast", err)
		}
		if v := must[store.AuditVerification](t)(b.s.VerifyAudit(ctx)); !v.OK() || v.Rows != 5 {
			t.Fatalf("VerifyAudit after a refused commit = %+v, want the 5 rows before", v)
		}
		if err := b.s.Tx(ctx, func(tx store.Tx) error { return tx.AppendAuditLast(ctx, entry("XA-RC:f")) }); err != nil {
			t.Fatalf("after a refused commit: %v", err)
		}
		if v := must[store.AuditVerification](t)(b.s.VerifyAudit(ctx)); !v.OK() || v.Rows != 6 {
			t.Fatalf("VerifyAudit = %+v, want 6 rows", v)
		}
	})
}
