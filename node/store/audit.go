package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
)

// genesisHash is the prev_hash of the first audit row.
var genesisHash = hex.EncodeToString(make([]byte, sha256.Size))

// auditHash is sha256(prev_hash bytes || canonical row). The canonical row
// is a version tag then seq, at (fixed-width UTC), actor, action, object and
// details, each as an 8-byte big-endian length and the bytes, so no two rows
// encode alike. On PostgreSQL the chain is extended by flx_audit_append
// (migration 0053), which hashes the same bytes: the tag and seq, then the
// row's tail (auditTail) sent with it.
func auditHash(prevHash string, r AuditRecord) (string, error) {
	prev, err := hex.DecodeString(prevHash)
	if err != nil || len(prev) != sha256.Size {
		return "", fmt.Errorf("bad prev_hash %q", prevHash)
	}
	h := sha256.New()
	h.Write(prev)
	var n [8]byte
	for _, f := range [][]byte{[]byte("flx-audit-v1"), []byte(strconv.FormatInt(r.Seq, 10))} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	h.Write(auditTail(nil, r))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// auditTail appends to b the part of r's canonical encoding after its seq:
// at, actor, action, object and details, each length-prefixed.
func auditTail(b []byte, r AuditRecord) []byte {
	at := r.At.UTC().Format(timeLayout)
	for _, f := range []string{at, r.Actor, r.Action, r.Object, string(r.Details)} {
		b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

func (q *queries) AppendAudit(ctx context.Context, e AuditEntry) (AuditRecord, error) {
	if e.Actor == "" || e.Action == "" {
		return AuditRecord{}, fmt.Errorf("store.AppendAudit: actor and action are required: %w", ErrInvalid)
	}
	details := []byte(e.Details)
	if len(details) == 0 {
		details = []byte("{}")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, details); err != nil {
		return AuditRecord{}, fmt.Errorf("store.AppendAudit: details: %v: %w", err, ErrInvalid)
	}
	r := AuditRecord{At: q.s.now(e.At), Actor: e.Actor, Action: e.Action, Object: e.Object,
		Details: json.RawMessage(buf.Bytes()), PrevHash: genesisHash}
	if q.s.dialect == Postgres {
		rs := []AuditRecord{r}
		if err := q.appendAuditPG(ctx, rs); err != nil {
			return AuditRecord{}, fmt.Errorf("store.AppendAudit: %w", err)
		}
		return rs[0], nil
	}
	// One chain: SQLite's one writer excludes every other appender.
	err := q.queryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&r.Seq, &r.PrevHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return AuditRecord{}, fmt.Errorf("store.AppendAudit: head: %w", err)
	}
	r.Seq++
	if r.Hash, err = auditHash(r.PrevHash, r); err != nil {
		return AuditRecord{}, fmt.Errorf("store.AppendAudit: %w", err)
	}
	if _, err := q.exec(ctx, `INSERT INTO audit_log (seq, at, actor, action, object, details, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.Seq, tv(r.At), r.Actor, r.Action, r.Object, string(r.Details), r.PrevHash, r.Hash); err != nil {
		return AuditRecord{}, fmt.Errorf("store.AppendAudit: %w", err)
	}
	return r, nil
}

// appendAuditPG appends rs (At, Actor, Action, Object and Details set) to
// the chain in one statement on PostgreSQL (flx_audit_append, migration
// 0053: the chain's lock, its head, the hashes and the INSERT) and sets
// their Seq, PrevHash and Hash. The lock is held from this statement to the
// commit: one round trip, not the three of taking it, reading the head and
// inserting, each before the commit. Like lock, it sets synchronous_commit
// off with the lock when the transaction waits for its flush outside it.
//
// The hashing is not what an appended row costs PostgreSQL: rows of 50
// appended 10,000 at a time took 18-30 µs of backend CPU each as they are
// (5 rounds), 22-26 µs with the hashes made in Go instead (the head read
// under the lock, then a plain INSERT of the rows: a second statement)
// and 18-26 µs with the function's hash kept as bytea rather than hex:
// the INSERT, its two index entries and the statement are the cost.
func (q *queries) appendAuditPG(ctx context.Context, rs []AuditRecord) error {
	n := len(rs)
	ats, actors, actions, objects, details := make([]time.Time, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	tails := make([][]byte, n)
	for i, r := range rs {
		ats[i], actors[i], actions[i], objects[i], details[i] = r.At, r.Actor, r.Action, r.Object, string(r.Details) // r.At: q.s.now, bound binary (pgTimes)
		tails[i] = auditTail(nil, r)
	}
	i := 0
	err := q.eachRow(ctx, func(rows *sqlx.Rows) error {
		if i >= n {
			return fmt.Errorf("flx_audit_append returned more than %d rows", n)
		}
		if err := rows.Scan(&rs[i].Seq, &rs[i].PrevHash, &rs[i].Hash); err != nil {
			return err
		}
		i++
		return nil
	}, `SELECT r_seq, r_prev, r_hash FROM flx_audit_append(?, ?, ?::timestamptz[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bytea[])`,
		lockAudit, q.asyncAtLock, ats, actors, actions, objects, details, tails)
	if err != nil {
		return err
	}
	if i != n {
		return fmt.Errorf("flx_audit_append returned %d rows of %d", i, n)
	}
	q.locked = true
	if q.asyncAtLock {
		q.asyncSet = true
	}
	return nil
}

const auditCols = `seq, at, actor, action, object, details, prev_hash, hash`

func scanAudit(r scanner) (AuditRecord, error) {
	var a AuditRecord
	var details string
	err := r.Scan(&a.Seq, tc(&a.At), &a.Actor, &a.Action, &a.Object, &details, &a.PrevHash, &a.Hash)
	a.Details = json.RawMessage(details)
	return a, err
}

func (q *queries) ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	var w where
	w.add("seq > ?", f.AfterSeq)
	w.addIf(f.Actor != "", "actor = ?", f.Actor)
	w.addIf(f.Action != "", "action = ?", f.Action)
	w.addIf(f.Object != "", "object = ?", f.Object)
	return q.listAudit(ctx, `SELECT `+auditCols+` FROM audit_log`+w.String()+
		fmt.Sprintf(` ORDER BY seq LIMIT %d`, limit(f.Limit, 100)), w.args...)
}

func (q *queries) listAudit(ctx context.Context, query string, args ...any) ([]AuditRecord, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store.ListAudit: %w", err)
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		a, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("store.ListAudit: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.ListAudit: %w", err)
	}
	return out, nil
}

func (q *queries) VerifyAudit(ctx context.Context) (AuditVerification, error) {
	var v AuditVerification
	prev, want := genesisHash, int64(1)
	for {
		page, err := q.listAudit(ctx, `SELECT `+auditCols+` FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT 1000`, want)
		if err != nil {
			return v, fmt.Errorf("store.VerifyAudit: %w", err)
		}
		for _, r := range page {
			v.Rows++
			bad := func(problem string) (AuditVerification, error) {
				v.FirstBadSeq, v.Problem = want, problem
				return v, nil
			}
			if r.Seq != want {
				return bad(fmt.Sprintf("row %d is missing (next row is %d)", want, r.Seq))
			}
			if r.PrevHash != prev {
				return bad(fmt.Sprintf("row %d does not follow row %d (prev_hash differs): deleted or reordered", r.Seq, r.Seq-1))
			}
			h, err := auditHash(r.PrevHash, r)
			if err != nil || h != r.Hash {
				return bad(fmt.Sprintf("row %d does not match its hash: edited", r.Seq))
			}
			prev, want = r.Hash, want+1
		}
		if len(page) < 1000 {
			break
		}
	}
	if v.Rows > 0 {
		v.Head = prev
	}
	return v, nil
}
