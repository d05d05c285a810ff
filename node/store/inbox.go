package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (q *queries) Receive(ctx context.Context, item InboxItem, receipt Receipt) (ReceiveResult, error) {
	if item.JTI == "" || item.Iss == "" || item.Aud == "" || item.Kind == "" || len(item.Envelope) == 0 || len(receipt.Raw) == 0 {
		return ReceiveResult{}, fmt.Errorf("store.Receive: jti, iss, aud, kind, envelope and receipt are required: %w", ErrInvalid)
	}
	sum := sha256Hex(item.Envelope)
	if item.SHA256 != "" && !strings.EqualFold(item.SHA256, sum) {
		return ReceiveResult{}, fmt.Errorf("store.Receive: sha256 %s does not match the envelope: %w", item.SHA256, ErrInvalid)
	}
	status := receipt.Status
	if status == "" {
		status = "accepted"
	}
	at := q.s.now(item.ReceivedAt)
	var id int64
	// The receipt is kept on the inbox row (migration 0029): one row per
	// envelope, its receipt's time the row's received_at.
	err := q.queryRow(ctx, `INSERT INTO inbox (jti, iss, aud, kind, case_id, sha256, envelope, received_at, receipt_status, receipt)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (jti) DO NOTHING RETURNING id`,
		item.JTI, item.Iss, item.Aud, item.Kind, item.CaseID, sum, item.Envelope, tv(at), status, receipt.Raw).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		// Seen before (ON CONFLICT waited for a concurrent insert to commit).
		var stored string
		var existing []byte
		err := q.queryRow(ctx, `SELECT id, sha256, receipt FROM inbox WHERE jti = ?`,
			item.JTI).Scan(&id, &stored, &existing)
		if err != nil {
			return ReceiveResult{}, fmt.Errorf("store.Receive: read existing %q: %w", item.JTI, err)
		}
		if stored != sum {
			return ReceiveResult{}, fmt.Errorf("store.Receive: %w", &ReplayError{JTI: item.JTI, Stored: stored, Got: sum})
		}
		return ReceiveResult{ID: id, Duplicate: true, ExistingReceipt: existing}, nil
	}
	if err != nil {
		return ReceiveResult{}, fmt.Errorf("store.Receive: %w", err)
	}
	return ReceiveResult{ID: id}, nil
}

// receiveChunk is how many envelopes ReceiveAll writes per statement.
var receiveChunk = 200

// ReceiveAll is Receive for several envelopes, set-based: per chunk one
// multi-row INSERT of the inbox rows, each with its receipt (ON CONFLICT
// DO NOTHING RETURNING), and one SELECT of the rows that were there
// before. Rows are written in the order given
// (callers sort by jti so that concurrent batches lock alike). An envelope
// named twice is a duplicate the second time, as it would be row by row.
func (q *queries) ReceiveAll(ctx context.Context, es []ReceiveEntry) ([]ReceiveResult, error) {
	out := make([]ReceiveResult, len(es))
	sums := make([]string, len(es))
	for i, e := range es {
		item, receipt := e.Item, e.Receipt
		if item.JTI == "" || item.Iss == "" || item.Aud == "" || item.Kind == "" || len(item.Envelope) == 0 || len(receipt.Raw) == 0 {
			return nil, fmt.Errorf("store.ReceiveAll: jti, iss, aud, kind, envelope and receipt are required: %w", ErrInvalid)
		}
		sums[i] = sha256Hex(item.Envelope)
		if item.SHA256 != "" && !strings.EqualFold(item.SHA256, sums[i]) {
			return nil, fmt.Errorf("store.ReceiveAll: sha256 %s does not match the envelope: %w", item.SHA256, ErrInvalid)
		}
	}
	for lo := 0; lo < len(es); lo += receiveChunk {
		hi := min(lo+receiveChunk, len(es))
		if err := q.receiveChunk(ctx, es[lo:hi], sums[lo:hi], out[lo:hi]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (q *queries) receiveChunk(ctx context.Context, es []ReceiveEntry, sums []string, out []ReceiveResult) error {
	if q.s.dialect == Postgres {
		inserted, err := q.receivePG(ctx, es, sums)
		if err != nil {
			return err
		}
		return q.receiveRest(ctx, es, sums, out, inserted)
	}
	args := make([]any, 0, 11*len(es))
	for i, e := range es {
		it := e.Item
		status := e.Receipt.Status
		if status == "" {
			status = "accepted"
		}
		at := tv(q.s.now(it.ReceivedAt))
		var processed any
		if e.Processed {
			processed = at
		}
		args = append(args, it.JTI, it.Iss, it.Aud, it.Kind, it.CaseID, sums[i], it.Envelope, at, status, e.Receipt.Raw, processed)
	}
	// Each row carries its receipt; of a jti named twice the first entry is
	// inserted (rows go in the order given), with its receipt.
	rows, err := q.query(ctx, `INSERT INTO inbox (jti, iss, aud, kind, case_id, sha256, envelope, received_at, receipt_status, receipt, processed_at)
		VALUES `+rowsOf("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", len(es))+` ON CONFLICT (jti) DO NOTHING RETURNING id, jti`, args...)
	if err != nil {
		return fmt.Errorf("store.ReceiveAll: %w", err)
	}
	inserted := make(map[string]int64, len(es))
	for rows.Next() {
		var id int64
		var jti string
		if err := rows.Scan(&id, &jti); err != nil {
			rows.Close()
			return fmt.Errorf("store.ReceiveAll: %w", err)
		}
		inserted[jti] = id
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("store.ReceiveAll: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store.ReceiveAll: %w", err)
	}
	return q.receiveRest(ctx, es, sums, out, inserted)
}

// receivePG writes a chunk's inbox rows, each with its receipt, in one
// statement on PostgreSQL: the rows go as arrays, inserted in the order
// given (of a jti named twice the first entry is inserted, with its
// receipt): one round trip and one statement text whatever the batch size.
// The envelopes and receipts go laid end to end in one bytea (packBytes),
// each row cut from it by offset and length. It returns the ids of the rows
// inserted, by jti.
func (q *queries) receivePG(ctx context.Context, es []ReceiveEntry, sums []string) (map[string]int64, error) {
	n := len(es)
	jti, iss, aud, kind, caseID, status := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	at := make([]time.Time, n) // bound binary (pgTimes)
	env, rcpt := make([][]byte, n), make([][]byte, n)
	processed := make([]bool, n)
	for i, e := range es {
		it := e.Item
		jti[i], iss[i], aud[i], kind[i], caseID[i], env[i] = it.JTI, it.Iss, it.Aud, it.Kind, it.CaseID, it.Envelope
		processed[i] = e.Processed
		at[i] = q.s.now(it.ReceivedAt)
		status[i], rcpt[i] = e.Receipt.Status, e.Receipt.Raw
		if status[i] == "" {
			status[i] = "accepted"
		}
	}
	blob, cuts := packBytes(env, rcpt)
	defer putBlob(blob)
	inserted := make(map[string]int64, n)
	err := q.eachRow(ctx, func(rows *sqlx.Rows) error {
		var id int64
		var j string
		if err := rows.Scan(&id, &j); err != nil {
			return err
		}
		inserted[j] = id
		return nil
	}, `INSERT INTO inbox (jti, iss, aud, kind, case_id, sha256, envelope, received_at, receipt_status, receipt, processed_at)
		SELECT e.jti, e.iss, e.aud, e.kind, e.case_id, e.sha256, substring(b.blob FROM e.env_at FOR e.env_len), e.received_at,
			e.status, substring(b.blob FROM e.receipt_at FOR e.receipt_len), CASE WHEN e.processed THEN e.received_at END
		FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::int[], ?::int[],
				?::timestamptz[], ?::text[], ?::int[], ?::int[], ?::bool[])
			WITH ORDINALITY AS e(jti, iss, aud, kind, case_id, sha256, env_at, env_len, received_at, status, receipt_at, receipt_len, processed, pos),
			(SELECT ?::bytea AS blob) b
		ORDER BY e.pos
		ON CONFLICT (jti) DO NOTHING RETURNING id, jti`,
		jti, iss, aud, kind, caseID, sums, cuts[0].at, cuts[0].len, at, status, cuts[1].at, cuts[1].len, processed, blob)
	if err != nil {
		return nil, fmt.Errorf("store.ReceiveAll: %w", err)
	}
	return inserted, nil
}

// cuts are where packBytes laid one list of byte strings: the 1-based
// offsets (for SQL's substring) and the lengths.
type cuts struct{ at, len []int32 }

// packBytes lays every byte string of lists end to end in one buffer,
// sized once, and says where each went. A bytea[] parameter is encoded by
// pgx element by element into a buffer that grows from 256 bytes in small
// steps: a batch of 50 envelopes (170 KB) was copied about five times over
// in the encoding, the largest Go-side cost of ReceiveAll. One bytea
// parameter is appended at once; it goes last, as every parameter is
// appended to the same buffer and one after it would copy it again.
//
// The buffer comes from blobs and goes back with putBlob once the
// statement has been sent (pgx copies each parameter into its message as
// it sends it, and keeps no reference after): a new one per batch was
// some 9 KB of every exchanged envelope's allocations, each zeroed, in
// `flx bench exchange`.
func packBytes(lists ...[][]byte) ([]byte, []cuts) {
	size := 0
	for _, l := range lists {
		for _, b := range l {
			size += len(b)
		}
	}
	var blob []byte
	if p, ok := blobs.Get().(*[]byte); ok && cap(*p) >= size {
		blob = (*p)[:0]
	} else {
		if ok {
			blobs.Put(p)
		}
		blob = make([]byte, 0, size)
	}
	out := make([]cuts, len(lists))
	for k, l := range lists {
		out[k] = cuts{at: make([]int32, len(l)), len: make([]int32, len(l))}
		for i, b := range l {
			out[k].at[i], out[k].len[i] = int32(len(blob)+1), int32(len(b))
			blob = append(blob, b...)
		}
	}
	return blob, out
}

// blobs holds packBytes's buffers for reuse; blobMaxKept bounds what it
// keeps (a batch of 50 envelopes is some 170 KB).
var blobs sync.Pool

const blobMaxKept = 4 << 20

// putBlob gives a buffer packBytes returned back for reuse, once nothing
// refers to it any more.
func putBlob(b []byte) {
	if cap(b) == 0 || cap(b) > blobMaxKept {
		return
	}
	b = b[:0]
	blobs.Put(&b)
}

// receiveRest fills out: the entries inserted (the first of each jti)
// get their ids; every other entry was there before and is read back as
// a duplicate or a replay.
func (q *queries) receiveRest(ctx context.Context, es []ReceiveEntry, sums []string, out []ReceiveResult, inserted map[string]int64) error {
	var again []int
	first := make(map[string]bool, len(es))
	for i, e := range es {
		id, ok := inserted[e.Item.JTI]
		if !ok || first[e.Item.JTI] {
			again = append(again, i)
			continue
		}
		first[e.Item.JTI] = true
		out[i] = ReceiveResult{ID: id}
	}
	if len(again) == 0 {
		return nil
	}
	// Seen before (ON CONFLICT waited for a concurrent insert to commit).
	var in strings.Builder
	args := make([]any, 0, len(again))
	for k, i := range again {
		if k > 0 {
			in.WriteString(", ")
		}
		in.WriteString("?")
		args = append(args, es[i].Item.JTI)
	}
	rows, err := q.query(ctx, `SELECT id, jti, sha256, receipt FROM inbox WHERE jti IN (`+in.String()+`)`, args...)
	if err != nil {
		return fmt.Errorf("store.ReceiveAll: read existing: %w", err)
	}
	type existing struct {
		id      int64
		sha256  string
		receipt []byte
	}
	held := make(map[string]existing, len(again))
	for rows.Next() {
		var x existing
		var jti string
		if err := rows.Scan(&x.id, &jti, &x.sha256, &x.receipt); err != nil {
			rows.Close()
			return fmt.Errorf("store.ReceiveAll: read existing: %w", err)
		}
		held[jti] = x
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("store.ReceiveAll: read existing: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store.ReceiveAll: read existing: %w", err)
	}
	for _, i := range again {
		jti := es[i].Item.JTI
		x, ok := held[jti]
		if !ok {
			return fmt.Errorf("store.ReceiveAll: read existing %q: %w", jti, ErrNotFound)
		}
		if x.sha256 != sums[i] {
			out[i] = ReceiveResult{Replay: &ReplayError{JTI: jti, Stored: x.sha256, Got: sums[i]}}
			continue
		}
		out[i] = ReceiveResult{ID: x.id, Duplicate: true, ExistingReceipt: x.receipt}
	}
	return nil
}

const inboxCols = `id, jti, iss, aud, kind, case_id, sha256, envelope, received_at, processed_at, process_error`

func scanInbox(r scanner) (InboxItem, error) {
	var i InboxItem
	err := r.Scan(&i.ID, &i.JTI, &i.Iss, &i.Aud, &i.Kind, &i.CaseID, &i.SHA256, &i.Envelope,
		tc(&i.ReceivedAt), tc(&i.ProcessedAt), sc(&i.ProcessError))
	return i, err
}

func (q *queries) GetInbox(ctx context.Context, id int64) (InboxItem, error) {
	i, err := scanInbox(q.queryRow(ctx, `SELECT `+inboxCols+` FROM inbox WHERE id = ?`, id))
	if err != nil {
		return InboxItem{}, fmt.Errorf("store.GetInbox: %d: %w", id, notFound(err))
	}
	return i, nil
}

func (q *queries) GetInboxByJTI(ctx context.Context, jti string) (InboxItem, error) {
	i, err := scanInbox(q.queryRow(ctx, `SELECT `+inboxCols+` FROM inbox WHERE jti = ?`, jti))
	if err != nil {
		return InboxItem{}, fmt.Errorf("store.GetInboxByJTI: %q: %w", jti, notFound(err))
	}
	return i, nil
}

func (q *queries) GetReceipt(ctx context.Context, jti string) (Receipt, error) {
	var r Receipt
	err := q.queryRow(ctx, `SELECT jti, receipt_status, receipt, received_at FROM inbox WHERE jti = ? AND receipt IS NOT NULL`, jti).
		Scan(&r.JTI, &r.Status, &r.Raw, tc(&r.CreatedAt))
	if err != nil {
		return Receipt{}, fmt.Errorf("store.GetReceipt: %q: %w", jti, notFound(err))
	}
	return r, nil
}

func (q *queries) ListInbox(ctx context.Context, f InboxFilter) ([]InboxItem, error) {
	var w where
	w.add("id > ?", f.AfterID)
	w.addIf(f.Iss != "", "iss = ?", f.Iss)
	w.addIf(f.Kind != "", "kind = ?", f.Kind)
	w.addIf(f.CaseID != "", "case_id = ?", f.CaseID)
	switch f.State {
	case "":
	case "unprocessed":
		w.add("processed_at IS NULL")
	case "processed":
		w.add("processed_at IS NOT NULL AND process_error IS NULL")
	case "failed":
		w.add("processed_at IS NOT NULL AND process_error IS NOT NULL")
	default:
		return nil, fmt.Errorf("store.ListInbox: state %q: %w", f.State, ErrInvalid)
	}
	cols := inboxCols
	if !f.IncludeEnvelope {
		cols = strings.Replace(cols, "envelope", "NULL", 1)
	}
	return q.listInbox(ctx, "store.ListInbox", `SELECT `+cols+` FROM inbox`+w.String()+
		fmt.Sprintf(` ORDER BY id LIMIT %d`, limit(f.Limit, 100)), w.args...)
}

// ListUnprocessed reads the rows window by window of ids, each window
// starting at the first unprocessed id (a min() that both databases answer
// from the head of the partial index inbox_unprocessed_idx): the rows
// read are bounded by the window, whatever the planner estimates. Read as
// one "id > ? ORDER BY id LIMIT n", PostgreSQL without statistics on a
// fast-growing inbox (no ANALYZE yet) chose a bitmap scan of every
// unprocessed row and a sort, so each call read the whole backlog.
func (q *queries) ListUnprocessed(ctx context.Context, afterID int64, n int) ([]InboxItem, error) {
	n = limit(n, 100)
	window := int64(4 * n)
	var out []InboxItem
	for len(out) < n {
		var first sql.NullInt64
		if err := q.queryRow(ctx, `SELECT min(id) FROM inbox WHERE processed_at IS NULL AND id > ?`, afterID).Scan(&first); err != nil {
			return nil, fmt.Errorf("store.ListUnprocessed: %w", err)
		}
		if !first.Valid {
			break
		}
		rows, err := q.listInbox(ctx, "store.ListUnprocessed", `SELECT `+inboxCols+` FROM inbox
			WHERE processed_at IS NULL AND id >= ? AND id < ?`+fmt.Sprintf(` ORDER BY id LIMIT %d`, n-len(out)), first.Int64, first.Int64+window)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
		afterID = first.Int64 + window - 1
	}
	return out, nil
}

func (q *queries) listInbox(ctx context.Context, op, query string, args ...any) ([]InboxItem, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	var out []InboxItem
	for rows.Next() {
		i, err := scanInbox(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, i)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

func (q *queries) MarkProcessed(ctx context.Context, id int64, processErr string) error {
	n, err := q.exec(ctx, `UPDATE inbox SET processed_at = ?, process_error = ? WHERE id = ? AND processed_at IS NULL`,
		tv(q.s.now(time.Time{})), nv(processErr), id)
	if err != nil {
		return fmt.Errorf("store.MarkProcessed: %w", err)
	}
	if n == 0 {
		var x int64
		if err := q.queryRow(ctx, `SELECT id FROM inbox WHERE id = ?`, id).Scan(&x); err != nil {
			return fmt.Errorf("store.MarkProcessed: %d: %w", id, notFound(err))
		}
		return fmt.Errorf("store.MarkProcessed: %d already processed: %w", id, ErrConflict)
	}
	return nil
}

// UnprocessedCases returns which of caseIDs have an inbox row not yet
// processed (committed, or written earlier in this transaction).
func (q *queries) UnprocessedCases(ctx context.Context, caseIDs []string) (map[string]bool, error) {
	out, err := q.caseIDSet(ctx, caseIDs, `SELECT DISTINCT case_id FROM inbox WHERE processed_at IS NULL AND `)
	if err != nil {
		return nil, fmt.Errorf("store.UnprocessedCases: %w", err)
	}
	return out, nil
}

// CaseStates answers UnprocessedCases and CasesHeld in one query on
// PostgreSQL; SQLite, whose writer has no round trip to save, asks both.
func (q *queries) CaseStates(ctx context.Context, caseIDs []string) (CaseStates, error) {
	out := CaseStates{Unprocessed: make(map[string]bool, len(caseIDs)), Held: make(map[string]bool, len(caseIDs))}
	if len(caseIDs) == 0 {
		return out, nil
	}
	if q.s.dialect != Postgres {
		var err error
		if out.Unprocessed, err = q.UnprocessedCases(ctx, caseIDs); err != nil {
			return CaseStates{}, fmt.Errorf("store.CaseStates: %w", err)
		}
		if out.Held, err = q.CasesHeld(ctx, caseIDs); err != nil {
			return CaseStates{}, fmt.Errorf("store.CaseStates: %w", err)
		}
		return out, nil
	}
	// The two queries of UnprocessedCases and CasesHeld, as they are
	// (their plans: the few unprocessed rows through the partial index
	// inbox_unprocessed_idx, the cases one key at a time, fenced as
	// eachOfIDs fences them from a generic plan that scans cases), in one
	// statement.
	err := q.eachRow(ctx, func(rows *sqlx.Rows) error {
		var unprocessed bool
		var id string
		if err := rows.Scan(&unprocessed, &id); err != nil {
			return err
		}
		if unprocessed {
			out.Unprocessed[id] = true
		} else {
			out.Held[id] = true
		}
		return nil
	}, `SELECT true, u.case_id FROM (SELECT DISTINCT case_id FROM inbox WHERE processed_at IS NULL AND case_id = ANY(?::text[])) u
		UNION ALL
		SELECT false, c.case_id FROM unnest(?::text[]) AS k(id), LATERAL (SELECT case_id FROM cases WHERE case_id = k.id OFFSET 0) c`,
		caseIDs, caseIDs)
	if err != nil {
		return CaseStates{}, fmt.Errorf("store.CaseStates: %w", err)
	}
	return out, nil
}
