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
)

// genesisHash is the prev_hash of the first audit row.
var genesisHash = hex.EncodeToString(make([]byte, sha256.Size))

// auditHash is sha256(prev_hash bytes || canonical row). The canonical row
// is a version tag then seq, at (fixed-width UTC), actor, action, object and
// details, each as an 8-byte big-endian length and the bytes, so no two rows
// encode alike.
func auditHash(prevHash string, r AuditRecord) (string, error) {
	prev, err := hex.DecodeString(prevHash)
	if err != nil || len(prev) != sha256.Size {
		return "", fmt.Errorf("bad prev_hash %q", prevHash)
	}
	h := sha256.New()
	h.Write(prev)
	var n [8]byte
	for _, f := range [][]byte{
		[]byte("flx-audit-v1"),
		[]byte(strconv.FormatInt(r.Seq, 10)),
		[]byte(r.At.UTC().Format(timeLayout)),
		[]byte(r.Actor),
		[]byte(r.Action),
		[]byte(r.Object),
		r.Details,
	} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
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
	// One chain: serialize appenders (across processes on PostgreSQL).
	if err := q.lock(ctx, lockAudit); err != nil {
		return AuditRecord{}, fmt.Errorf("store.AppendAudit: lock: %w", err)
	}
	r := AuditRecord{At: q.s.now(e.At), Actor: e.Actor, Action: e.Action, Object: e.Object,
		Details: json.RawMessage(buf.Bytes()), PrevHash: genesisHash}
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
