package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jmoiron/sqlx"
)

// ProcessedMark is one row of MarkProcessedAll: an inbox row and its
// permanent processing error (empty: processed).
type ProcessedMark struct {
	ID    int64
	Error string
	// Received: the row was written processed in this transaction
	// (ReceiveEntry.Processed); only a non-empty Error is written to it.
	Received bool
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
	var received []ProcessedMark
	for _, m := range ms {
		if seen[m.ID] {
			return fmt.Errorf("store.MarkProcessedAll: %d named twice: %w", m.ID, ErrConflict)
		}
		seen[m.ID] = true
		if m.Received {
			if m.Error != "" {
				received = append(received, m)
			}
			continue
		}
		if _, ok := groups[m.Error]; !ok {
			order = append(order, m.Error)
		}
		groups[m.Error] = append(groups[m.Error], m.ID)
	}
	for _, e := range order {
		ids := groups[e]
		var n int64
		var err error
		if q.s.dialect == Postgres {
			// One statement text for every batch size.
			arr := make([]int64, len(ids))
			for i, id := range ids {
				arr[i] = id.(int64)
			}
			n, err = q.exec(ctx, `UPDATE inbox SET processed_at = ?, process_error = ? WHERE id = ANY(?::bigint[])
				AND processed_at IS NULL`, at, nv(e), arr)
		} else {
			n, err = q.exec(ctx, `UPDATE inbox SET processed_at = ?, process_error = ? WHERE id IN (`+placeholders(len(ids))+`)
				AND processed_at IS NULL`, append([]any{at, nv(e)}, ids...)...)
		}
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
	// Rows written processed by ReceiveAll in this transaction, whose
	// processing failed: rare, one UPDATE each.
	for _, m := range received {
		n, err := q.exec(ctx, `UPDATE inbox SET process_error = ? WHERE id = ? AND processed_at IS NOT NULL`, m.Error, m.ID)
		if err != nil {
			return fmt.Errorf("store.MarkProcessedAll: %w", err)
		}
		if n != 1 {
			return fmt.Errorf("store.MarkProcessedAll: row %d was not written processed: %w", m.ID, ErrNotFound)
		}
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
	if q.s.dialect == Postgres {
		// One statement: the lock, the head, the hashes and the rows
		// (flx_audit_append).
		if err := q.appendAuditPG(ctx, out); err != nil {
			return nil, fmt.Errorf("store.AppendAuditAll: %w", err)
		}
		return out, nil
	}
	// One chain: SQLite's one writer excludes every other appender.
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
		args := make([]any, 0, 8*len(chunk))
		for _, r := range chunk {
			args = append(args, r.Seq, tv(r.At), r.Actor, r.Action, r.Object, string(r.Details), r.PrevHash, r.Hash)
		}
		if _, err := q.exec(ctx, `INSERT INTO audit_log (seq, at, actor, action, object, details, prev_hash, hash) VALUES `+rowsOf("(?, ?, ?, ?, ?, ?, ?, ?)", len(chunk)), args...); err != nil {
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
	out, err := q.caseIDSet(ctx, caseIDs, `SELECT case_id FROM cases WHERE `)
	if err != nil {
		return nil, fmt.Errorf("store.CasesHeld: %w", err)
	}
	return out, nil
}

// caseIDSet runs query, a SELECT of case_id that eachOfIDs completes with
// its case_id condition, over caseIDs and returns the ids it gives.
func (q *queries) caseIDSet(ctx context.Context, caseIDs []string, query string) (map[string]bool, error) {
	out := make(map[string]bool, len(caseIDs))
	err := q.eachOfIDs(ctx, caseIDs, func(rows *sqlx.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		out[id] = true
		return nil
	}, query)
	return out, err
}

// GetCases is GetCase for several cases in one query per chunk: the
// cases found, by id (an id not held is absent).
func (q *queries) GetCases(ctx context.Context, caseIDs []string) (map[string]Case, error) {
	out := make(map[string]Case, len(caseIDs))
	err := q.eachOfIDs(ctx, caseIDs, func(rows *sqlx.Rows) error {
		c, err := scanCase(rows)
		if err != nil {
			return err
		}
		out[c.ID] = c
		return nil
	}, `SELECT `+caseCols+` FROM cases WHERE `)
	if err != nil {
		return nil, fmt.Errorf("store.GetCases: %w", err)
	}
	return out, nil
}

// GetCaseHeads is GetCases without the documents: each case held, its
// Document nil, with the SHA-256 of its document (zero when it has none).
// On PostgreSQL the server hashes the document and sends 32 bytes in its
// place; SQLite, which has no SHA-256, reads it and hashes it here.
func (q *queries) GetCaseHeads(ctx context.Context, caseIDs []string) (map[string]CaseHead, error) {
	out := make(map[string]CaseHead, len(caseIDs))
	doc := `document`
	if q.s.dialect == Postgres {
		doc = `sha256(document)`
	}
	err := q.eachOfIDs(ctx, caseIDs, func(rows *sqlx.Rows) error {
		c, err := scanCase(rows)
		if err != nil {
			return err
		}
		var h CaseHead
		switch {
		case q.s.dialect == Postgres && len(c.Document) == sha256.Size:
			h.DocumentSHA256 = [sha256.Size]byte(c.Document)
		case q.s.dialect != Postgres && c.Document != nil:
			h.DocumentSHA256 = sha256.Sum256(c.Document)
		}
		c.Document = nil
		h.Case = c
		out[c.ID] = h
		return nil
	}, `SELECT `+strings.Replace(caseCols, `document`, doc, 1)+` FROM cases WHERE `)
	if err != nil {
		return nil, fmt.Errorf("store.GetCaseHeads: %w", err)
	}
	return out, nil
}

// eachOfIDs runs query (ending in WHERE) with "case_id" among ids, chunk
// by chunk, scanning each row (an id named twice may give its rows twice).
// On PostgreSQL the ids go as one array: one statement text whatever their
// number, parsed and planned once per connection; SQLite gets an IN list
// per chunk. The array is read one id at a time, each a probe of the
// query's own (OFFSET 0 fences it from being turned into a join), as in
// MatchesOfCases: written "case_id = ANY(ids)", the statement's generic
// plan (pgx prepares it; PostgreSQL keeps a generic plan after five
// executions) took an array for ten ids of a table it sized when it was
// planned, often empty, and scanned all of cases for every batch received
// ever after: at batches of five, the costliest statement of receiving,
// growing with every case held.
func (q *queries) eachOfIDs(ctx context.Context, ids []string, scan func(*sqlx.Rows) error, query string) error {
	per := receiveChunk
	if q.s.dialect == Postgres {
		per = casesPerArray
	}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), per)]
		ids = ids[len(chunk):]
		if q.s.dialect == Postgres {
			if err := q.eachRow(ctx, scan, `SELECT c.* FROM unnest(?::text[]) AS k(id),
				LATERAL (`+query+`case_id = k.id OFFSET 0) c`, chunk); err != nil {
				return err
			}
			continue
		}
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if err := q.eachRow(ctx, scan, query+`case_id IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
			return err
		}
	}
	return nil
}

func (s *sqlStore) CasesHeld(ctx context.Context, caseIDs []string) (map[string]bool, error) {
	return s.read().CasesHeld(ctx, caseIDs)
}

func (s *sqlStore) GetCases(ctx context.Context, caseIDs []string) (map[string]Case, error) {
	return s.read().GetCases(ctx, caseIDs)
}

func (s *sqlStore) GetCaseHeads(ctx context.Context, caseIDs []string) (map[string]CaseHead, error) {
	return s.read().GetCaseHeads(ctx, caseIDs)
}

// EnqueueAll is Enqueue for several envelopes, set-based: one read of the
// highest seq of each (destination, case) and one multi-row INSERT of the
// rows per chunk. Rows of one (destination, case) get consecutive seqs in the
// order given. ErrDuplicate if a jti is already queued or named twice:
// inside a Tx the caller rolls back.
func (q *queries) EnqueueAll(ctx context.Context, in []NewOutboxItem) ([]OutboxItem, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if err := checkEnqueue(in); err != nil {
		return nil, err
	}
	if q.s.dialect == Postgres {
		return q.enqueuePG(ctx, "store.EnqueueAll", in)
	}
	type key struct{ dest, caseID string }
	count := map[key]int64{}
	for _, it := range in {
		count[key{it.Destination, it.CaseID}]++
	}
	keys := make([]key, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].dest != keys[j].dest {
			return keys[i].dest < keys[j].dest
		}
		return keys[i].caseID < keys[j].caseID
	})
	// next[k] is the first seq of k's rows in this batch: one past the
	// highest of k in the outbox (SQLite has one writer).
	next := make(map[key]int64, len(keys))
	for lo := 0; lo < len(keys); lo += receiveChunk {
		chunk := keys[lo:min(lo+receiveChunk, len(keys))]
		args := make([]any, 0, 2*len(chunk))
		for _, k := range chunk {
			args = append(args, k.caseID, k.dest)
		}
		err := q.eachRow(ctx, func(rows *sqlx.Rows) error {
			var k key
			var last int64
			if err := rows.Scan(&k.caseID, &k.dest, &last); err != nil {
				return err
			}
			next[k] = last + 1
			return nil
		}, `WITH k(case_id, destination) AS (VALUES `+rowsOf("(?, ?)", len(chunk))+`)
			SELECT k.case_id, k.destination, COALESCE((SELECT MAX(o.seq) FROM outbox o WHERE o.case_id = k.case_id AND o.destination = k.destination), 0)
			FROM k`, args...)
		if err != nil {
			return nil, fmt.Errorf("store.EnqueueAll: sequence: %w", err)
		}
	}
	out := make([]OutboxItem, len(in))
	for i, it := range in {
		k := key{it.Destination, it.CaseID}
		at := q.s.now(it.At)
		nextAt := at
		if !it.NotBefore.IsZero() {
			nextAt = q.s.now(it.NotBefore)
		}
		out[i] = OutboxItem{Destination: it.Destination, CaseID: it.CaseID, CaseVersion: it.CaseVersion,
			Kind: it.Kind, JTI: it.JTI, Envelope: it.Envelope, Seq: next[k], State: Queued,
			NextAttemptAt: nextAt, CreatedAt: at, UpdatedAt: at, Discloses: it.Discloses, Withdraws: it.Withdraws,
			OwnExpiresAt: ownExpiry(it.OwnExpiresAt)}
		next[k]++
	}
	for lo := 0; lo < len(out); lo += receiveChunk {
		chunk := out[lo:min(lo+receiveChunk, len(out))]
		args := make([]any, 0, 13*len(chunk))
		for _, o := range chunk {
			args = append(args, o.Destination, o.CaseID, iv(o.CaseVersion), o.Kind, o.JTI, o.Seq,
				tv(o.NextAttemptAt), tv(o.CreatedAt), tv(o.UpdatedAt), o.Discloses, o.Withdraws, tv(o.OwnExpiresAt))
		}
		ids := make(map[string]int64, len(chunk))
		err := q.eachRow(ctx, func(rows *sqlx.Rows) error {
			var id int64
			var jti string
			if err := rows.Scan(&id, &jti); err != nil {
				return err
			}
			ids[jti] = id
			return nil
		}, `INSERT INTO outbox (destination, case_id, case_version, kind, jti, seq, state,
			attempts, next_attempt_at, created_at, updated_at, discloses, withdraws, own_expires_at)
			VALUES `+rowsOf("(?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?, ?)", len(chunk))+` ON CONFLICT (jti) DO NOTHING RETURNING id, jti`, args...)
		if err != nil {
			return nil, fmt.Errorf("store.EnqueueAll: %w", err)
		}
		envs := make([]any, 0, 3*len(chunk))
		for i := range chunk {
			id, ok := ids[chunk[i].JTI]
			if !ok {
				return nil, fmt.Errorf("store.EnqueueAll: jti %q: %w", chunk[i].JTI, ErrDuplicate)
			}
			chunk[i].ID = id
			envs = append(envs, id, chunk[i].JTI, chunk[i].Envelope)
		}
		if _, err := q.exec(ctx, `INSERT INTO outbox_envelopes (id, jti, envelope) VALUES `+rowsOf("(?, ?, ?)", len(chunk)), envs...); err != nil {
			return nil, fmt.Errorf("store.EnqueueAll: envelopes: %w", err)
		}
	}
	return out, nil
}

// checkEnqueue is what EnqueueAll refuses before writing: an item without
// destination, kind, jti or envelope (ErrInvalid), a jti named twice
// (ErrDuplicate).
func checkEnqueue(in []NewOutboxItem) error {
	jtis := make(map[string]bool, len(in))
	for _, it := range in {
		if it.Destination == "" || it.Kind == "" || it.JTI == "" || len(it.Envelope) == 0 {
			return fmt.Errorf("store.EnqueueAll: destination, kind, jti and envelope are required: %w", ErrInvalid)
		}
		if jtis[it.JTI] {
			return fmt.Errorf("store.EnqueueAll: jti %q named twice: %w", it.JTI, ErrDuplicate)
		}
		jtis[it.JTI] = true
	}
	return nil
}

// maxSeqTries bounds how often an enqueue is sent again after another
// writer took its seq: each time, another transaction queued a row of the
// same (case, destination) and committed, so a writer is starved only by
// that many others.
const maxSeqTries = 100

// retrySeq runs the batch enqueue fn until it no longer fails on the
// unique (case_id, destination, seq) index or in a deadlock between two
// writers of the same cases: the statement failed as a whole, so nothing
// of it remains. Inside a transaction the failure would abort it: fn then
// runs in a savepoint, rolled back before the next try (two round trips
// more; a caseworker's single envelope takes enqueueOnePG, which needs
// none).
func (q *queries) retrySeq(ctx context.Context, fn func() error) error {
	_, own := q.x.(*sqlx.DB) // not a transaction: each statement commits alone
	for try := 0; ; try++ {
		if !own {
			if _, err := q.exec(ctx, `SAVEPOINT flx_enqueue`); err != nil {
				return err
			}
		}
		err := fn()
		retry := isUniqueViolation(err, "outbox_case_seq_key") || isDeadlock(err)
		if !own {
			undo := `RELEASE SAVEPOINT flx_enqueue`
			if err != nil {
				undo = `ROLLBACK TO SAVEPOINT flx_enqueue`
			}
			if _, uerr := q.exec(ctx, undo); uerr != nil {
				return errors.Join(err, uerr)
			}
		}
		if !retry || try == maxSeqTries {
			return err
		}
	}
}

// isDeadlock reports whether err is PostgreSQL's deadlock_detected.
func isDeadlock(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "40P01"
}

// isUniqueViolation reports whether err is PostgreSQL's unique violation
// of constraint.
func isUniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == constraint
}

// enqueuePG is EnqueueAll in one statement on PostgreSQL: the rows go as
// arrays and take consecutive seqs per (destination, case), after the
// highest in the outbox, in the order given, and ids in that order. Two
// writers that take the same seq meet on the unique index
// outbox_case_seq_key: the later one waits for the first to commit and
// fails, and the statement is sent again (retrySeq). One round trip instead of two,
// and one statement text whatever the batch size (parsed and planned once
// per connection); a single envelope takes the one-row form
// (enqueueOnePG). The envelopes go laid end to end in one bytea
// (packBytes), as ReceiveAll's do: as a bytea[] they were the largest
// Go-side cost of queueing a batch.
func (q *queries) enqueuePG(ctx context.Context, op string, in []NewOutboxItem) ([]OutboxItem, error) {
	n := len(in)
	dest, caseID, kind, jti := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	next, created := make([]time.Time, n), make([]time.Time, n) // bound binary (pgTimes)
	own := make([]*time.Time, n)                                // nil: NULL
	version := make([]int64, n)
	env := make([][]byte, n)
	disc, wdr := make([]bool, n), make([]bool, n)
	out := make([]OutboxItem, n)
	for i, it := range in {
		at := q.s.now(it.At)
		nextAt := at
		if !it.NotBefore.IsZero() {
			nextAt = q.s.now(it.NotBefore)
		}
		out[i] = OutboxItem{Destination: it.Destination, CaseID: it.CaseID, CaseVersion: it.CaseVersion,
			Kind: it.Kind, JTI: it.JTI, Envelope: it.Envelope, State: Queued,
			NextAttemptAt: nextAt, CreatedAt: at, UpdatedAt: at, Discloses: it.Discloses, Withdraws: it.Withdraws,
			OwnExpiresAt: ownExpiry(it.OwnExpiresAt)}
		if !out[i].OwnExpiresAt.IsZero() {
			own[i] = &out[i].OwnExpiresAt
		}
		dest[i], caseID[i], version[i], kind[i], jti[i], env[i] = it.Destination, it.CaseID, it.CaseVersion, it.Kind, it.JTI, it.Envelope
		next[i], created[i] = nextAt, at
		disc[i], wdr[i] = it.Discloses, it.Withdraws
	}
	if n == 1 {
		return q.enqueueOnePG(ctx, op, out[0], next[0], created[0], own[0])
	}
	blob, cut := packBytes(env)
	defer putBlob(blob)
	type got struct{ id, seq int64 }
	var ids map[string]got
	err := q.retrySeq(ctx, func() error {
		ids = make(map[string]got, n)
		return q.eachRow(ctx, func(rows *sqlx.Rows) error {
			var g got
			var j string
			if err := rows.Scan(&g.id, &j, &g.seq); err != nil {
				return err
			}
			ids[j] = g
			return nil
		}, `WITH i AS (
			SELECT i.destination, i.case_id, i.case_version, i.kind, i.jti, substring(b.blob FROM i.env_at FOR i.env_len) AS envelope,
				i.next_at, i.created_at, i.discloses, i.withdraws, i.own_exp, i.pos
			FROM unnest(?::text[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::int[], ?::int[],
				?::timestamptz[], ?::timestamptz[], ?::boolean[], ?::boolean[], ?::timestamptz[])
				WITH ORDINALITY AS i(destination, case_id, case_version, kind, jti, env_at, env_len, next_at, created_at, discloses, withdraws, own_exp, pos),
				(SELECT ?::bytea AS blob) b
		), s AS (
			SELECT k.destination, k.case_id,
				COALESCE((SELECT MAX(o.seq) FROM outbox o WHERE o.case_id = k.case_id AND o.destination = k.destination), 0) AS last_seq
			FROM (SELECT DISTINCT destination, case_id FROM i) k
		), o AS (
			INSERT INTO outbox (destination, case_id, case_version, kind, jti, seq, state,
				attempts, next_attempt_at, created_at, updated_at, discloses, withdraws, own_expires_at)
			SELECT i.destination, i.case_id, NULLIF(i.case_version, 0), i.kind, i.jti,
				s.last_seq + ROW_NUMBER() OVER (PARTITION BY i.destination, i.case_id ORDER BY i.pos),
				'queued', 0, i.next_at, i.created_at, i.created_at, i.discloses, i.withdraws, i.own_exp
			FROM i JOIN s USING (destination, case_id)
			ORDER BY i.pos
			RETURNING id, jti, seq
		), e AS (
			INSERT INTO outbox_envelopes (id, jti, envelope)
			SELECT o.id, o.jti, i.envelope FROM o JOIN i USING (jti)
		)
		SELECT id, jti, seq FROM o`,
			dest, caseID, version, kind, jti, cut[0].at, cut[0].len, next, created, disc, wdr, own, blob)
	})
	if err != nil {
		// A jti already queued fails the statement (not ON CONFLICT DO
		// NOTHING): it is atomic on its own, so the Store form, sent
		// without BEGIN and COMMIT, leaves nothing of a refused batch.
		if isUniqueViolation(err, "outbox_envelopes_jti_key") {
			return nil, fmt.Errorf("%s: jti already queued: %w", op, ErrDuplicate)
		}
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	for i := range out {
		g, ok := ids[out[i].JTI]
		if !ok {
			return nil, fmt.Errorf("%s: jti %q: %w", op, out[i].JTI, ErrDuplicate)
		}
		out[i].ID, out[i].Seq = g.id, g.seq
	}
	return out, nil
}

// enqueueOnePG is enqueuePG for one envelope, what a caseworker's
// forward queues: the same write without the arrays, grouping, window and
// joins that order a batch, about a sixth less of the database's CPU for a
// statement run once per envelope.
func (q *queries) enqueueOnePG(ctx context.Context, op string, o OutboxItem, next, created time.Time, own *time.Time) ([]OutboxItem, error) {
	// A row of the same (case, destination) queued by another transaction
	// that has not committed yet holds the next seq in the unique index:
	// this INSERT waits for it, and once it has committed inserts nothing
	// (DO NOTHING, no error, so a caller's transaction goes on), and is
	// sent again: it then reads that row and takes the seq after it. Rows
	// of one case so commit in seq order, as behind the counter row's lock
	// before (migration 0034).
	var err error
	for try := 0; ; try++ {
		err = q.queryRow(ctx, `WITH o AS (
			INSERT INTO outbox (destination, case_id, case_version, kind, jti, seq, state,
				attempts, next_attempt_at, created_at, updated_at, discloses, withdraws, own_expires_at)
			VALUES (?, ?, NULLIF(?::bigint, 0), ?, ?,
				COALESCE((SELECT MAX(seq) FROM outbox WHERE case_id = ? AND destination = ?), 0) + 1,
				'queued', 0, ?::timestamptz, ?::timestamptz, ?::timestamptz, ?, ?, ?::timestamptz)
			ON CONFLICT (case_id, destination, seq) DO NOTHING
			RETURNING id, jti, seq
		), e AS (
			INSERT INTO outbox_envelopes (id, jti, envelope) SELECT id, jti, ?::bytea FROM o
		)
		SELECT id, seq FROM o`,
			o.Destination, o.CaseID, o.CaseVersion, o.Kind, o.JTI, o.CaseID, o.Destination, next, created, created,
			o.Discloses, o.Withdraws, own, o.Envelope).Scan(&o.ID, &o.Seq)
		if !errors.Is(err, sql.ErrNoRows) {
			break
		}
		if try == maxSeqTries {
			return nil, fmt.Errorf("%s: seq of %s to %s still taken after %d tries: %w", op, o.CaseID, o.Destination, try+1, err)
		}
	}
	if err != nil {
		if isUniqueViolation(err, "outbox_envelopes_jti_key") {
			return nil, fmt.Errorf("%s: jti %q: %w", op, o.JTI, ErrDuplicate)
		}
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return []OutboxItem{o}, nil
}

func (s *sqlStore) EnqueueAll(ctx context.Context, in []NewOutboxItem) ([]OutboxItem, error) {
	if s.dialect == Postgres {
		// One statement there (enqueuePG), atomic without BEGIN and
		// COMMIT: one round trip for a caseworker's single envelope,
		// not three. Its commit is durable (never Redoable): a queued
		// envelope is promised to go.
		return (&queries{s: s, x: s.db}).EnqueueAll(ctx, in)
	}
	return write(ctx, s, func(q *queries) ([]OutboxItem, error) { return q.EnqueueAll(ctx, in) })
}
