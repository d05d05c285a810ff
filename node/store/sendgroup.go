package store

import (
	"context"
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
	out := make([]Decision, len(ds))
	for i, d := range ds {
		if d.Destination == "" || d.Effect == "" || !json.Valid(d.Decision) {
			return nil, fmt.Errorf("store.RecordDecisions: destination, effect and a JSON decision are required: %w", ErrInvalid)
		}
		d.CreatedAt = q.s.now(d.CreatedAt)
		out[i] = d
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
	err := q.eachRow(ctx, func(rows *sqlx.Rows) error {
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
