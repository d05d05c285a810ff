package store_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/familylinks/flx/node/store"
)

func appendAudit(t testing.TB, s store.Queries, n int) []store.AuditRecord {
	t.Helper()
	var out []store.AuditRecord
	for i := range n {
		out = append(out, must[store.AuditRecord](t)(s.AppendAudit(t.Context(), store.AuditEntry{
			Actor: "caseworker-7", Action: "case.update", Object: fmt.Sprintf("XA-RC:%04d", i),
			Details: json.RawMessage(fmt.Sprintf(`{ "version" : %d, "status": "open" }`, i+1)),
		})))
	}
	return out
}

func TestAuditAppendAndVerify(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		v := must[store.AuditVerification](t)(b.s.VerifyAudit(ctx))
		if !v.OK() || v.Rows != 0 || v.Head != "" {
			t.Fatalf("empty log: %+v", v)
		}
		recs := appendAudit(t, b.s, 5)
		if recs[0].Seq != 1 || recs[0].PrevHash != strings.Repeat("0", 64) || recs[4].Seq != 5 || recs[4].PrevHash != recs[3].Hash {
			t.Fatalf("chain: %+v", recs)
		}
		if string(recs[0].Details) != `{"version":1,"status":"open"}` {
			t.Fatalf("details stored as %s, want compacted JSON", recs[0].Details)
		}
		v = must[store.AuditVerification](t)(b.s.VerifyAudit(ctx))
		if !v.OK() || v.Rows != 5 || v.Head != recs[4].Hash {
			t.Fatalf("verify: %+v", v)
		}
		listed := must[[]store.AuditRecord](t)(b.s.ListAudit(ctx, store.AuditFilter{AfterSeq: 1, Limit: 2}))
		if len(listed) != 2 || listed[0].Seq != 2 || listed[0].Hash != recs[1].Hash || !listed[0].At.Equal(recs[1].At) {
			t.Fatalf("ListAudit = %+v", listed)
		}
		if got := must[[]store.AuditRecord](t)(b.s.ListAudit(ctx, store.AuditFilter{Object: "XA-RC:0003"})); len(got) != 1 || got[0].Seq != 4 {
			t.Fatalf("ListAudit by object = %+v", got)
		}
		tests := []struct {
			name string
			e    store.AuditEntry
		}{
			{"no actor", store.AuditEntry{Action: "x"}},
			{"no action", store.AuditEntry{Actor: "x"}},
			{"details not JSON", store.AuditEntry{Actor: "x", Action: "y", Details: json.RawMessage(`{nope`)}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := b.s.AppendAudit(ctx, tc.e)
				mustErr(t, err, store.ErrInvalid)
			})
		}
		// The database refuses edits too (until an owner disables that).
		for _, q := range []string{`UPDATE audit_log SET actor = 'x' WHERE seq = 1`, `DELETE FROM audit_log WHERE seq = 1`} {
			if _, err := b.raw.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err = %v, want append-only refusal", q, err)
			}
		}
	})
}

// An owner of the database disables the triggers and edits, deletes or
// reorders rows with raw SQL: VerifyAudit names the first bad row.
func TestAuditTamper(t *testing.T) {
	type tamper func(t *testing.T, b *backend, recs []store.AuditRecord)
	sqlTamper := func(stmts ...string) tamper {
		return func(t *testing.T, b *backend, _ []store.AuditRecord) {
			for _, s := range stmts {
				b.exec(t, s)
			}
		}
	}
	tests := []struct {
		name    string
		tamper  tamper
		wantBad int64
		problem string
	}{
		{"edit details", sqlTamper(`UPDATE audit_log SET details = '{"version":99,"status":"open"}' WHERE seq = 3`), 3, "edited"},
		{"edit actor", sqlTamper(`UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2`), 2, "edited"},
		{"edit time", sqlTamper(`UPDATE audit_log SET at = '2025-01-01T00:00:00.000000Z' WHERE seq = 4`), 4, "edited"},
		{"delete a middle row", sqlTamper(`DELETE FROM audit_log WHERE seq = 3`), 3, "missing"},
		{"delete the first row", sqlTamper(`DELETE FROM audit_log WHERE seq = 1`), 1, "missing"},
		{"reorder two rows", sqlTamper(
			`UPDATE audit_log SET seq = -2 WHERE seq = 2`,
			`UPDATE audit_log SET seq = 2 WHERE seq = 3`,
			`UPDATE audit_log SET seq = 3 WHERE seq = -2`), 2, "reordered"},
		{"delete a row and renumber", sqlTamper(
			`DELETE FROM audit_log WHERE seq = 3`,
			`UPDATE audit_log SET seq = 3 WHERE seq = 4`,
			`UPDATE audit_log SET seq = 4 WHERE seq = 5`), 3, "reordered"},
		{"edit and rehash the row", func(t *testing.T, b *backend, recs []store.AuditRecord) {
			r := recs[2]
			r.Details = json.RawMessage(`{"version":99}`)
			h, err := store.AuditHash(r.PrevHash, r)
			if err != nil {
				t.Fatal(err)
			}
			b.exec(t, `UPDATE audit_log SET details = ?, hash = ? WHERE seq = 3`, string(r.Details), h)
		}, 4, "reordered"},
	}
	withAllStores(t, func(t *testing.T, b *backend) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				b := newBackend(t, b.dialect)
				recs := appendAudit(t, b.s, 5)
				if b.dialect == store.Postgres {
					b.exec(t, `ALTER TABLE audit_log DISABLE TRIGGER USER`)
				} else {
					b.exec(t, `DROP TRIGGER audit_log_no_update`)
					b.exec(t, `DROP TRIGGER audit_log_no_delete`)
				}
				tc.tamper(t, b, recs)
				v := must[store.AuditVerification](t)(b.s.VerifyAudit(t.Context()))
				if v.OK() || v.FirstBadSeq != tc.wantBad || !strings.Contains(v.Problem, tc.problem) {
					t.Fatalf("VerifyAudit = %+v, want first bad %d (%s)", v, tc.wantBad, tc.problem)
				}
			})
		}
		// Cutting the tail leaves a valid shorter chain: only a head
		// anchored elsewhere (Head) shows it.
		t.Run("truncate the tail", func(t *testing.T) {
			b := newBackend(t, b.dialect)
			recs := appendAudit(t, b.s, 5)
			if b.dialect == store.Postgres {
				b.exec(t, `ALTER TABLE audit_log DISABLE TRIGGER USER`)
			} else {
				b.exec(t, `DROP TRIGGER audit_log_no_delete`)
			}
			b.exec(t, `DELETE FROM audit_log WHERE seq = 5`)
			v := must[store.AuditVerification](t)(b.s.VerifyAudit(t.Context()))
			if !v.OK() || v.Rows != 4 || v.Head == recs[4].Hash {
				t.Fatalf("VerifyAudit = %+v", v)
			}
		})
	})
}

// Appends from many goroutines and (PostgreSQL) two processes keep one chain.
func TestAuditConcurrent(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		other := b.open(t)
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				s := b.s
				if i%2 == 1 {
					s = other
				}
				for range 15 {
					if _, err := s.AppendAudit(t.Context(), store.AuditEntry{Actor: fmt.Sprint("w", i), Action: "outbox.deliver"}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		v := must[store.AuditVerification](t)(b.s.VerifyAudit(t.Context()))
		if !v.OK() || v.Rows != 90 {
			t.Fatalf("VerifyAudit = %+v", v)
		}
	})
}

// An audited transaction commits without holding the audit lock through the
// WAL flush, and still returns only once its commit is on disk: the WAL is
// flushed past where it stood before the transaction began. (On SQLite every
// commit waits for the disk.)
func TestAuditedTxDurableOnReturn(t *testing.T) {
	withAllDurableStores(t, func(t *testing.T, b *backend) {
		if b.dialect != store.Postgres {
			t.Skip("SQLite commits with synchronous=FULL")
		}
		for i := range 20 {
			var before string
			if err := b.raw.Get(&before, `SELECT pg_current_wal_insert_lsn()::text`); err != nil {
				t.Fatal(err)
			}
			if err := b.s.Tx(t.Context(), func(tx store.Tx) error {
				_, err := tx.AppendAudit(t.Context(), store.AuditEntry{Actor: "w", Action: "outbox.deliver", Object: fmt.Sprint(i)})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			var flushedPast bool
			if err := b.raw.Get(&flushedPast, `SELECT pg_current_wal_flush_lsn() > $1::pg_lsn`, before); err != nil {
				t.Fatal(err)
			}
			if !flushedPast {
				t.Fatalf("append %d: Tx returned before its commit was flushed (WAL flushed only to %s or before)", i, before)
			}
		}
		v := must[store.AuditVerification](t)(b.s.VerifyAudit(t.Context()))
		if !v.OK() || v.Rows != 20 {
			t.Fatalf("VerifyAudit = %+v", v)
		}
	})
}
