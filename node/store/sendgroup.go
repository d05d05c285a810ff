package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// What a group of forwards (node's sendAllIn) reads and writes, set-based:
// one statement per step for the whole group, not one per case.

// caseHeadCols is caseCols without the document (NULL in its place): a
// lock that needs the version and the tombstone mark does not read, nor
// detoast, the document.
var caseHeadCols = strings.Replace(caseCols, "document", "NULL", 1)

// LockCaseHeads is LockCase for several cases at once, in case-id order
// (two writers lock their common cases in the same order), each returned
// without its document (Document nil). A case id with no case row is
// absent from the map.
func (q *queries) LockCaseHeads(ctx context.Context, caseIDs []string) (map[string]Case, error) {
	out := make(map[string]Case, len(caseIDs))
	if len(caseIDs) == 0 {
		return out, nil
	}
	scan := func(rows *sqlx.Rows) error {
		c, err := scanCase(rows)
		if err != nil {
			return err
		}
		out[c.ID] = c
		return nil
	}
	var err error
	if q.s.dialect == Postgres {
		// One probe of the primary key per id, in id order, each row
		// locked as it is read: the lateral subquery (its LIMIT keeps the
		// planner from making it a join) cannot become a scan of the
		// table, which a planner estimating a young table would prefer.
		// Its parameter is opaque (sql.go): the generic plan is kept.
		err = q.eachRow(ctx, scan, `SELECT `+qualified("c.", caseHeadCols)+`
			FROM (SELECT DISTINCT id FROM unnest((SELECT ?::text[])) AS u(id) ORDER BY id) k,
				LATERAL (SELECT `+without("document", caseCols)+` FROM cases WHERE case_id = k.id LIMIT 1 FOR UPDATE) c
			ORDER BY k.id`, caseIDs)
	} else {
		// SQLite's single writer already serialises write transactions.
		err = q.eachOfIDs(ctx, caseIDs, scan, `SELECT `+caseHeadCols+` FROM cases WHERE `)
	}
	if err != nil {
		return nil, fmt.Errorf("store.LockCaseHeads: %w", err)
	}
	return out, nil
}

// CaseDest names the outbox rows of a case to one destination.
type CaseDest struct{ CaseID, Destination string }

// casesOutboxLimit bounds the rows ListCasesOutbox lists per key on
// PostgreSQL (as a forward's listing did, 1000).
const casesOutboxLimit = 1000

// ListCasesOutbox lists the outbox rows of kinds (all kinds if none) of
// each (case, destination) of keys, without their envelopes, by id.
func (q *queries) ListCasesOutbox(ctx context.Context, keys []CaseDest, kinds []string) ([]OutboxItem, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	cols := outboxHeadCols
	var out []OutboxItem
	scan := func(rows *sqlx.Rows) error {
		o, err := scanOutbox(rows)
		if err != nil {
			return err
		}
		out = append(out, o)
		return nil
	}
	if q.s.dialect == Postgres {
		cs, ds := make([]string, len(keys)), make([]string, len(keys))
		for i, k := range keys {
			cs[i], ds[i] = k.CaseID, k.Destination
		}
		kind := ``
		args := []any{cs, ds}
		if len(kinds) > 0 {
			kind = ` AND kind = ANY(CAST((SELECT ?::text[]) AS text[]))`
			args = append(args, kinds)
		}
		// Each key one probe of outbox_case_seq_key (case_id, destination).
		// Keys given twice would list their rows twice.
		seen := make(map[CaseDest]bool, len(keys))
		cs, ds = cs[:0], ds[:0]
		for _, k := range keys {
			if !seen[k] {
				seen[k] = true
				cs, ds = append(cs, k.CaseID), append(ds, k.Destination)
			}
		}
		args[0], args[1] = cs, ds
		// One probe of outbox_case_seq_key (case_id, destination, seq) per
		// key, as LockCaseHeads; its parameters opaque (sql.go).
		err := q.eachRow(ctx, scan, `SELECT `+qualified("o.", cols)+` FROM unnest((SELECT ?::text[]), (SELECT ?::text[])) AS k(case_id, destination),
			LATERAL (SELECT `+without("NULL", outboxHeadCols)+` FROM outbox WHERE case_id = k.case_id AND destination = k.destination`+kind+`
				ORDER BY seq LIMIT `+fmt.Sprint(casesOutboxLimit)+`) o
			ORDER BY o.id`, args...)
		if err != nil {
			return nil, fmt.Errorf("store.ListCasesOutbox: %w", err)
		}
		return out, nil
	}
	for lo := 0; lo < len(keys); lo += receiveChunk {
		chunk := keys[lo:min(lo+receiveChunk, len(keys))]
		args := make([]any, 0, 2*len(chunk)+len(kinds))
		for _, k := range chunk {
			args = append(args, k.CaseID, k.Destination)
		}
		kind := ``
		if len(kinds) > 0 {
			kind = ` AND kind IN (` + placeholders(len(kinds)) + `)`
			for _, k := range kinds {
				args = append(args, k)
			}
		}
		err := q.eachRow(ctx, scan, `SELECT `+cols+` FROM outbox
			WHERE (case_id, destination) IN (VALUES `+rowsOf("(?, ?)", len(chunk))+`)`+kind+` ORDER BY id`, args...)
		if err != nil {
			return nil, fmt.Errorf("store.ListCasesOutbox: %w", err)
		}
	}
	if len(keys) > receiveChunk {
		sortOutboxByID(out)
	}
	return out, nil
}

// qualified prefixes each column of cols (comma separated) with p; NULL
// stays.
func qualified(p, cols string) string {
	out := strings.Split(cols, ",")
	for i, c := range out {
		if c = strings.TrimSpace(c); c != "NULL" {
			c = p + c
		}
		out[i] = c
	}
	return strings.Join(out, ", ")
}

// without is cols (comma separated) without col.
func without(col, cols string) string {
	var out []string
	for _, c := range strings.Split(cols, ",") {
		if c = strings.TrimSpace(c); c != col {
			out = append(out, c)
		}
	}
	return strings.Join(out, ", ")
}

func sortOutboxByID(rows []OutboxItem) {
	for i := 1; i < len(rows); i++ {
		for j := i; j > 0 && rows[j].ID < rows[j-1].ID; j-- {
			rows[j], rows[j-1] = rows[j-1], rows[j]
		}
	}
}

// getCaseQueued is GetCasesQueued for one key (SQLite), ErrNotFound when
// there is no case row.
func (q *queries) getCaseQueued(ctx context.Context, caseID, dest, kind string) (Case, bool, error) {
	var queued bool
	var c Case
	err := q.queryRow(ctx, `SELECT `+caseCols+`, EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = cases.case_id
			AND o.destination = ? AND o.kind = ? AND o.state <> 'cancelled')
		FROM cases WHERE case_id = ?`, dest, kind, caseID).Scan(&c.ID, &c.Origin, &c.Type, &c.Status, &c.Version, &c.Document,
		tc(&c.CreatedAt), tc(&c.UpdatedAt), tc(&c.ErasedAt), sc(&c.EraseReason), &queued)
	if err != nil {
		return Case{}, false, fmt.Errorf("store.GetCasesQueued: %q: %w", caseID, notFound(err))
	}
	return c, queued, nil
}

// CaseQueued is what GetCasesQueued reads of one key: the case (zero, ID
// "", when there is no case row) and whether a row of the kind is queued.
type CaseQueued struct {
	Case   Case
	Queued bool
}

// GetCasesQueued reads each key's case and whether a row of kind about it
// for the destination is queued and not cancelled: one statement on
// PostgreSQL; out[i] for keys[i].
func (q *queries) GetCasesQueued(ctx context.Context, keys []CaseDest, kind string) ([]CaseQueued, error) {
	out := make([]CaseQueued, len(keys))
	if q.s.dialect != Postgres {
		for i, k := range keys {
			c, queued, err := q.getCaseQueued(ctx, k.CaseID, k.Destination, kind)
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				return nil, fmt.Errorf("store.GetCasesQueued: %w", err)
			default:
				out[i] = CaseQueued{Case: c, Queued: queued}
			}
		}
		return out, nil
	}
	cs, ds := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		cs[i], ds[i] = k.CaseID, k.Destination
	}
	// One probe of the primary key per key (a lateral subquery, as
	// LockCaseHeads), and one of outbox_case_seq_key (case_id,
	// destination) for its rows: a count of them, not EXISTS, since a
	// planner that expects EXISTS to stop at its first row prefers a
	// sequential scan of a young outbox (one it estimates at ten pages or
	// less), and a prepared statement keeps that plan once generic: it then
	// read the whole outbox for every case forwarded. A count reads every
	// row either way, and the index's few rows of the key cost less than
	// the table's.
	//
	// And PostgreSQL does keep that generic plan, after the statement's
	// 5th run on a connection, rather than planning every call: its
	// parameters come through scalar sub-selects (opaque parameters, sql.go), so a
	// custom plan costs what the generic one does. Planned at every call
	// (the arrays' lengths made every custom plan look cheaper than the
	// generic one, which assumes 10 keys), it cost ~0.2 ms of the sender's
	// database CPU per call, at 300 forwards/s (flx bench exchange --rate
	// 300) a fifth of it.
	err := q.eachRow(ctx, func(rows *sqlx.Rows) error {
		var pos int
		var r CaseQueued
		c := &r.Case
		if err := rows.Scan(&pos, &c.ID, &c.Origin, &c.Type, &c.Status, &c.Version, &c.Document,
			tc(&c.CreatedAt), tc(&c.UpdatedAt), tc(&c.ErasedAt), sc(&c.EraseReason), &r.Queued); err != nil {
			return err
		}
		if pos < 1 || pos > len(out) {
			return fmt.Errorf("key %d of %d", pos, len(out))
		}
		out[pos-1] = r
		return nil
	}, `SELECT k.pos, `+qualified("c.", caseCols)+`, (SELECT COUNT(*) FROM outbox o WHERE o.case_id = k.case_id
			AND o.destination = k.destination AND o.kind = (SELECT ?::text) AND o.state <> 'cancelled') > 0
		FROM unnest((SELECT ?::text[]), (SELECT ?::text[])) WITH ORDINALITY AS k(case_id, destination, pos),
			LATERAL (SELECT `+caseCols+` FROM cases WHERE case_id = k.case_id LIMIT 1) c`, kind, cs, ds)
	if err != nil {
		return nil, fmt.Errorf("store.GetCasesQueued: %w", err)
	}
	return out, nil
}

// RecordDecisions is RecordDecision for several decisions, in the order
// given (their ids ascending in that order): one statement on PostgreSQL.
func (q *queries) RecordDecisions(ctx context.Context, ds []Decision) ([]Decision, error) {
	out, err := checkDecisions(ds, q.s.now)
	if err != nil {
		return nil, fmt.Errorf("store.RecordDecisions: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	if q.s.dialect != Postgres || len(out) == 1 {
		// SQLite returns the rows of a multi-row RETURNING in no set
		// order, and its statements cost no round trip: one by one.
		for i := range out {
			d, err := q.RecordDecision(ctx, out[i])
			if err != nil {
				return nil, fmt.Errorf("store.RecordDecisions: %w", err)
			}
			out[i] = d
		}
		return out, nil
	}
	cs, dst, eff, doc := make([]string, len(out)), make([]string, len(out)), make([]string, len(out)), make([]string, len(out))
	at := make([]time.Time, len(out))
	for i, d := range out {
		cs[i], dst[i], eff[i], doc[i], at[i] = d.CaseID, d.Destination, d.Effect, string(d.Decision), d.CreatedAt
	}
	// The rows are inserted in the order of pos and each takes the next
	// id as it is inserted; RETURNING gives them back in that order.
	i := 0
	err = q.eachRow(ctx, func(rows *sqlx.Rows) error {
		if i >= len(out) {
			return fmt.Errorf("more rows than decisions")
		}
		if err := rows.Scan(&out[i].ID); err != nil {
			return err
		}
		if i > 0 && out[i].ID <= out[i-1].ID {
			return fmt.Errorf("decision ids out of order")
		}
		i++
		return nil
	}, `INSERT INTO policy_decisions (case_id, destination, effect, decision, created_at)
		SELECT case_id, destination, effect, decision, created_at
		FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[])
			WITH ORDINALITY AS d(case_id, destination, effect, decision, created_at, pos)
		ORDER BY pos RETURNING id`, cs, dst, eff, doc, at)
	if err == nil && i != len(out) {
		err = fmt.Errorf("%d of %d decisions returned", i, len(out))
	}
	if err != nil {
		return nil, fmt.Errorf("store.RecordDecisions: %w", err)
	}
	return out, nil
}

func (s *sqlStore) LockCaseHeads(ctx context.Context, caseIDs []string) (map[string]Case, error) {
	return write(ctx, s, func(q *queries) (map[string]Case, error) { return q.LockCaseHeads(ctx, caseIDs) })
}

func (s *sqlStore) ListCasesOutbox(ctx context.Context, keys []CaseDest, kinds []string) ([]OutboxItem, error) {
	return s.read().ListCasesOutbox(ctx, keys, kinds)
}

func (s *sqlStore) GetCasesQueued(ctx context.Context, keys []CaseDest, kind string) ([]CaseQueued, error) {
	return s.read().GetCasesQueued(ctx, keys, kind)
}

func (s *sqlStore) RecordDecisions(ctx context.Context, ds []Decision) ([]Decision, error) {
	return write(ctx, s, func(q *queries) ([]Decision, error) { return q.RecordDecisions(ctx, ds) })
}

// RecordSends records the decisions of a group of sends and queues their
// envelopes (RecordDecisions then EnqueueAll). On PostgreSQL it is one
// statement, not the two of those (and, for a batch, the savepoint pair
// around EnqueueAll's, which retries it when another writer took a seq):
// at 1,000 forwards/s (flx bench exchange --rate 1000) a group holds a few
// forwards, and its statements' fixed cost is most of what a forward
// costs the sender's database.
//
// The rows take their seqs as EnqueueAll's do (after the highest of their
// (case, destination) in the outbox). A writer that queues about a case
// without its lock (a match query, a relay) may take the same seq first:
// the row then waits for that writer's commit and is not inserted (ON
// CONFLICT DO NOTHING, as enqueueOnePG's), and is queued again by
// EnqueueAll, which then reads the seq taken. So that no row of a key can
// be queued before another of the same key that is tried again, items
// naming one (case, destination) twice go the two statements' way.
func (q *queries) RecordSends(ctx context.Context, ds []Decision, items []NewOutboxItem) ([]Decision, []OutboxItem, error) {
	if q.s.dialect != Postgres || len(ds) == 0 || !oneItemPerKey(items) {
		return q.recordSendsApart(ctx, ds, items)
	}
	decs, err := checkDecisions(ds, q.s.now)
	if err != nil {
		return nil, nil, fmt.Errorf("store.RecordSends: %w", err)
	}
	if err := checkEnqueue(items); err != nil {
		return nil, nil, err
	}
	n, m := len(decs), len(items)
	dcs, dst, eff, doc := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	dat := make([]time.Time, n)
	for i, d := range decs {
		dcs[i], dst[i], eff[i], doc[i], dat[i] = d.CaseID, d.Destination, d.Effect, string(d.Decision), d.CreatedAt
	}
	dest, caseID, kind, jti := make([]string, m), make([]string, m), make([]string, m), make([]string, m)
	next, created := make([]time.Time, m), make([]time.Time, m) // bound binary (pgTimes)
	own := make([]*time.Time, m)                                // nil: NULL
	version := make([]int64, m)
	env := make([][]byte, m)
	disc, wdr := make([]bool, m), make([]bool, m)
	out := make([]OutboxItem, m)
	for i, it := range items {
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
	blob, cut := packBytes(env)
	type got struct{ id, seq int64 }
	ids := make(map[string]got, m)
	di := 0
	// The decisions are inserted in the order of pos, each taking the
	// next id as it is (RETURNING gives them back in that order, as
	// RecordDecisions'); then the envelopes, as enqueuePG's. The arrays
	// are opaque parameters (sql.go): the statement is planned once per
	// connection, not at every call (its custom plans, which see arrays
	// of one or two elements, looked cheaper than the generic one, and a
	// forward alone cost the database ~0.3 ms more than the two
	// statements before); its generic plan probes outbox_case_seq_key
	// once per row (TestRecordSendsPlan).
	err = q.eachRow(ctx, func(rows *sqlx.Rows) error {
		var part int
		var id int64
		var j sql.NullString
		var seq sql.NullInt64
		if err := rows.Scan(&part, &id, &j, &seq); err != nil {
			return err
		}
		if part == 0 {
			if di >= n {
				return fmt.Errorf("more rows than decisions")
			}
			if di > 0 && id <= decs[di-1].ID {
				return fmt.Errorf("decision ids out of order")
			}
			decs[di].ID = id
			di++
			return nil
		}
		ids[j.String] = got{id, seq.Int64}
		return nil
	}, `WITH d AS (
			INSERT INTO policy_decisions (case_id, destination, effect, decision, created_at)
			SELECT case_id, destination, effect, decision, created_at
			FROM unnest((SELECT ?::text[]), (SELECT ?::text[]), (SELECT ?::text[]), (SELECT ?::text[]), (SELECT ?::timestamptz[]))
				WITH ORDINALITY AS d(case_id, destination, effect, decision, created_at, pos)
			ORDER BY pos RETURNING id
		), i AS (
			SELECT i.destination, i.case_id, i.case_version, i.kind, i.jti, substring(b.blob FROM i.env_at FOR i.env_len) AS envelope,
				i.next_at, i.created_at, i.discloses, i.withdraws, i.own_exp, i.pos
			FROM unnest((SELECT ?::text[]), (SELECT ?::text[]), (SELECT ?::bigint[]), (SELECT ?::text[]), (SELECT ?::text[]),
				(SELECT ?::int[]), (SELECT ?::int[]), (SELECT ?::timestamptz[]), (SELECT ?::timestamptz[]),
				(SELECT ?::boolean[]), (SELECT ?::boolean[]), (SELECT ?::timestamptz[]))
				WITH ORDINALITY AS i(destination, case_id, case_version, kind, jti, env_at, env_len, next_at, created_at, discloses, withdraws, own_exp, pos),
				(SELECT ?::bytea AS blob) b
		), o AS (
			INSERT INTO outbox (destination, case_id, case_version, kind, jti, seq, state,
				attempts, next_attempt_at, created_at, updated_at, discloses, withdraws, own_expires_at)
			SELECT i.destination, i.case_id, NULLIF(i.case_version, 0), i.kind, i.jti,
				COALESCE((SELECT MAX(o.seq) FROM outbox o WHERE o.case_id = i.case_id AND o.destination = i.destination), 0) + 1,
				'queued', 0, i.next_at, i.created_at, i.created_at, i.discloses, i.withdraws, i.own_exp
			FROM i ORDER BY i.pos
			ON CONFLICT (case_id, destination, seq) DO NOTHING
			RETURNING id, jti, seq
		), e AS (
			INSERT INTO outbox_envelopes (id, jti, envelope)
			SELECT o.id, o.jti, i.envelope FROM o JOIN i USING (jti)
		)
		SELECT 0, id, NULL::text, NULL::bigint FROM d
		UNION ALL SELECT 1, id, jti, seq FROM o`,
		dcs, dst, eff, doc, dat,
		dest, caseID, version, kind, jti, cut[0].at, cut[0].len, next, created, disc, wdr, own, blob)
	if err == nil && di != n {
		err = fmt.Errorf("%d of %d decisions returned", di, n)
	}
	if err != nil {
		if isUniqueViolation(err, "outbox_envelopes_jti_key") {
			return nil, nil, fmt.Errorf("store.RecordSends: jti already queued: %w", ErrDuplicate)
		}
		return nil, nil, fmt.Errorf("store.RecordSends: %w", err)
	}
	// A row whose seq another writer took meanwhile (see above) is queued
	// again, after it.
	var again []NewOutboxItem
	var at []int
	for i := range out {
		g, ok := ids[out[i].JTI]
		if !ok {
			again, at = append(again, items[i]), append(at, i)
			continue
		}
		out[i].ID, out[i].Seq = g.id, g.seq
	}
	if len(again) > 0 {
		more, err := q.EnqueueAll(ctx, again)
		if err != nil {
			return nil, nil, fmt.Errorf("store.RecordSends: %w", err)
		}
		for k, i := range at {
			out[i] = more[k]
		}
	}
	return decs, out, nil
}

// recordSendsApart is RecordSends in two steps (SQLite, and items naming
// one (case, destination) twice).
func (q *queries) recordSendsApart(ctx context.Context, ds []Decision, items []NewOutboxItem) ([]Decision, []OutboxItem, error) {
	decs, err := q.RecordDecisions(ctx, ds)
	if err != nil {
		return nil, nil, err
	}
	got, err := q.EnqueueAll(ctx, items)
	if err != nil {
		return nil, nil, err
	}
	return decs, got, nil
}

// oneItemPerKey reports whether no two items name the same (case,
// destination).
func oneItemPerKey(items []NewOutboxItem) bool {
	seen := make(map[CaseDest]bool, len(items))
	for _, it := range items {
		k := CaseDest{CaseID: it.CaseID, Destination: it.Destination}
		if seen[k] {
			return false
		}
		seen[k] = true
	}
	return true
}

// checkDecisions is what RecordDecisions refuses (ErrInvalid), and ds with
// their times set.
func checkDecisions(ds []Decision, now func(time.Time) time.Time) ([]Decision, error) {
	out := make([]Decision, len(ds))
	for i, d := range ds {
		if d.Destination == "" || d.Effect == "" || !json.Valid(d.Decision) {
			return nil, fmt.Errorf("destination, effect and a JSON decision are required: %w", ErrInvalid)
		}
		d.CreatedAt = now(d.CreatedAt)
		out[i] = d
	}
	return out, nil
}

func (s *sqlStore) RecordSends(ctx context.Context, ds []Decision, items []NewOutboxItem) ([]Decision, []OutboxItem, error) {
	var got []OutboxItem
	decs, err := write(ctx, s, func(q *queries) ([]Decision, error) {
		d, o, err := q.RecordSends(ctx, ds, items)
		got = o
		return d, err
	})
	return decs, got, err
}
