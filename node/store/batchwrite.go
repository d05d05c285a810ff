package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ProcessedMark is one row of MarkProcessedAll: an inbox row and its
// permanent processing error (empty: processed).
type ProcessedMark struct {
	ID    int64
	Error string
}

// MarkProcessedAll is MarkProcessed for several rows: one UPDATE per
// distinct error (one in all for a batch that went well). All rows are
// marked or the error says why not: ErrNotFound if one does not exist,
// ErrConflict if one was already processed or is named twice; inside a Tx
// the caller rolls back.
func (q *queries) MarkProcessedAll(ctx context.Context, ms []ProcessedMark) error {
	if len(ms) == 0 {
		return nil
	}
	at := tv(q.s.now(time.Time{}))
	groups := map[string][]any{}
	var order []string
	seen := make(map[int64]bool, len(ms))
	for _, m := range ms {
		if seen[m.ID] {
			return fmt.Errorf("store.MarkProcessedAll: %d named twice: %w", m.ID, ErrConflict)
		}
		seen[m.ID] = true
		if _, ok := groups[m.Error]; !ok {
			order = append(order, m.Error)
		}
		groups[m.Error] = append(groups[m.Error], m.ID)
	}
	for _, e := range order {
		ids := groups[e]
		n, err := q.exec(ctx, `UPDATE inbox SET processed_at = ?, process_error = ? WHERE id IN (`+placeholders(len(ids))+`)
			AND processed_at IS NULL`, append([]any{at, nv(e)}, ids...)...)
		if err != nil {
			return fmt.Errorf("store.MarkProcessedAll: %w", err)
		}
		if n == int64(len(ids)) {
			continue
		}
		var held int64
		if err := q.queryRow(ctx, `SELECT COUNT(*) FROM inbox WHERE id IN (`+placeholders(len(ids))+`)`, ids...).Scan(&held); err != nil {
			return fmt.Errorf("store.MarkProcessedAll: %w", err)
		}
		if held < int64(len(ids)) {
			return fmt.Errorf("store.MarkProcessedAll: %d of %d rows do not exist: %w", int64(len(ids))-held, len(ids), ErrNotFound)
		}
		return fmt.Errorf("store.MarkProcessedAll: %d of %d rows already processed: %w", int64(len(ids))-n, len(ids), ErrConflict)
	}
	return nil
}

// auditChunk is how many audit rows AppendAuditAll writes per statement.
var auditChunk = 200

// AppendAuditAll appends entries to the audit chain in order, as
// AppendAudit would one after the other, with one lock, one read of the
// head and multi-row INSERTs: a batch extends the chain once.
func (q *queries) AppendAuditAll(ctx context.Context, es []AuditEntry) ([]AuditRecord, error) {
	if len(es) == 0 {
		return nil, nil
	}
	out := make([]AuditRecord, len(es))
	for i, e := range es {
		if e.Actor == "" || e.Action == "" {
			return nil, fmt.Errorf("store.AppendAuditAll: actor and action are required: %w", ErrInvalid)
		}
		details := []byte(e.Details)
		if len(details) == 0 {
			details = []byte("{}")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, details); err != nil {
			return nil, fmt.Errorf("store.AppendAuditAll: details: %v: %w", err, ErrInvalid)
		}
		out[i] = AuditRecord{At: q.s.now(e.At), Actor: e.Actor, Action: e.Action, Object: e.Object, Details: json.RawMessage(buf.Bytes())}
	}
	// One chain: serialize appenders (across processes on PostgreSQL).
	if err := q.lock(ctx, lockAudit); err != nil {
		return nil, fmt.Errorf("store.AppendAuditAll: lock: %w", err)
	}
	seq, prev := int64(0), genesisHash
	err := q.queryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store.AppendAuditAll: head: %w", err)
	}
	for i := range out {
		r := &out[i]
		seq++
		r.Seq, r.PrevHash = seq, prev
		if r.Hash, err = auditHash(prev, *r); err != nil {
			return nil, fmt.Errorf("store.AppendAuditAll: %w", err)
		}
		prev = r.Hash
	}
	for lo := 0; lo < len(out); lo += auditChunk {
		chunk := out[lo:min(lo+auditChunk, len(out))]
		var vals strings.Builder
		args := make([]any, 0, 8*len(chunk))
		for i, r := range chunk {
			if i > 0 {
				vals.WriteString(", ")
			}
			vals.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, r.Seq, tv(r.At), r.Actor, r.Action, r.Object, string(r.Details), r.PrevHash, r.Hash)
		}
		if _, err := q.exec(ctx, `INSERT INTO audit_log (seq, at, actor, action, object, details, prev_hash, hash) VALUES `+vals.String(), args...); err != nil {
			return nil, fmt.Errorf("store.AppendAuditAll: %w", err)
		}
	}
	return out, nil
}

func (s *sqlStore) MarkProcessedAll(ctx context.Context, ms []ProcessedMark) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.MarkProcessedAll(ctx, ms) })
	return err
}

func (s *sqlStore) AppendAuditAll(ctx context.Context, es []AuditEntry) ([]AuditRecord, error) {
	return write(ctx, s, func(q *queries) ([]AuditRecord, error) { return q.AppendAuditAll(ctx, es) })
}

func (q *queries) CasesHeld(ctx context.Context, caseIDs []string) (map[string]bool, error) {
	out := make(map[string]bool, len(caseIDs))
	for lo := 0; lo < len(caseIDs); lo += receiveChunk {
		chunk := caseIDs[lo:min(lo+receiveChunk, len(caseIDs))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.query(ctx, `SELECT case_id FROM cases WHERE case_id IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("store.CasesHeld: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store.CasesHeld: %w", err)
			}
			out[id] = true
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("store.CasesHeld: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store.CasesHeld: %w", err)
		}
	}
	return out, nil
}

func (s *sqlStore) CasesHeld(ctx context.Context, caseIDs []string) (map[string]bool, error) {
	return s.read().CasesHeld(ctx, caseIDs)
}
