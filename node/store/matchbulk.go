package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// CaseCandidates is the candidates found by matching the persons of one
// case: one ReplaceMatches call of ReplaceMatchesMany.
type CaseCandidates struct {
	CaseID string
	Cands  []NewMatchCandidate
}

// PendingMatch names a case version whose candidates are not yet computed.
type PendingMatch struct {
	CaseID  string
	Version int64
}

// MatchBulk writes the candidates of many cases at once, and keeps the
// durable record of the cases still to be matched.
type MatchBulk interface {
	// ReplaceMatchesMany leaves the candidates as ReplaceMatches called
	// for each of steps in turn would, with set-based statements: for
	// each pair, the last step naming either of its cases decides (kept
	// with that step's score and explanation while open, deleted while
	// open when that step does not list it); decided and remote
	// candidates stay as they are.
	ReplaceMatchesMany(ctx context.Context, steps []CaseCandidates, at time.Time) error
	// MarkMatchPending records, in the transaction that writes the cases,
	// that these case versions are to be matched.
	MarkMatchPending(ctx context.Context, ps []PendingMatch) error
	// ClearMatchPending forgets the marks of these cases at or below the
	// versions given (a later version marked meanwhile stays).
	ClearMatchPending(ctx context.Context, ps []PendingMatch) error
	// ListMatchPending returns up to limit marks (default 1000), by case id
	// after the one given.
	ListMatchPending(ctx context.Context, after string, limit int) ([]PendingMatch, error)
}

// OwnPool is implemented by a Store that can give one background worker
// connections of its own (the node's matching worker): on a pool shared
// with the requests in flight, each of the worker's reads and
// transactions waited for a connection behind them (in `flx bench
// exchange`, 0.8 s a wait with 32 deliveries in flight on 10
// connections), and matching fell ever further behind processing.
type OwnPool interface {
	// OwnPool returns the store on a pool of its own of at most conns
	// connections, and the function that closes that pool (the store's
	// own pool is untouched). On SQLite, where one writer at a time is
	// the limit, it returns the store itself and a release doing nothing.
	OwnPool(conns int) (st Store, release func() error, err error)
}

// OwnPool implements OwnPool. The pool connects lazily, like the store's.
func (s *sqlStore) OwnPool(conns int) (Store, func() error, error) {
	if s.dialect != Postgres || s.dsn == "" {
		return s, func() error { return nil }, nil
	}
	if conns < 1 {
		return nil, nil, fmt.Errorf("store.OwnPool: %d connections: %w", conns, ErrInvalid)
	}
	db, err := sqlx.Open("pgx", s.dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("store.OwnPool: %w", err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	own := *s
	own.db = db
	return &own, db.Close, nil
}

// matchRowsPerInsert bounds one multi-row candidate statement on SQLite
// (nine values a row) and casesPerLookup the case ids of one IN list.
// casesPerArray is the same on PostgreSQL, where the ids go as one array
// parameter.
const (
	matchRowsPerInsert = 400
	casesPerLookup     = 400
	casesPerArray      = 20000
)

func (q *queries) ReplaceMatchesMany(ctx context.Context, steps []CaseCandidates, at time.Time) error {
	type pair = struct{ a, ap, b, bp string }
	last := make(map[string]int, len(steps))
	for i, st := range steps {
		if st.CaseID == "" {
			return fmt.Errorf("store.ReplaceMatchesMany: step %d: case id is required: %w", i, ErrInvalid)
		}
		for _, c := range st.Cands {
			if c.APerson == "" || c.BPerson == "" || (c.ACase != st.CaseID && c.BCase != st.CaseID) || !json.Valid(c.Explanation) {
				return fmt.Errorf("store.ReplaceMatchesMany: a candidate must name case %q, both persons and a JSON explanation: %w", st.CaseID, ErrInvalid)
			}
		}
		last[st.CaseID] = i
	}
	// The pairs kept: those listed by the last step naming their cases
	// (a pair listed twice by one step keeps its last candidate).
	final := map[pair]int{}
	var keep []NewMatchCandidate
	for i, st := range steps {
		for _, c := range st.Cands {
			k, ok := last[c.ACase]
			if kb, okb := last[c.BCase]; okb && (!ok || kb > k) {
				k = kb
			}
			if k != i {
				continue
			}
			p := pair{c.ACase, c.APerson, c.BCase, c.BPerson}
			if j, ok := final[p]; ok {
				keep[j] = c
				continue
			}
			final[p] = len(keep)
			keep = append(keep, c)
		}
	}
	cases := make([]string, 0, len(last))
	for id := range last {
		cases = append(cases, id)
	}
	sort.Strings(cases)
	// Open candidates naming these cases that no step keeps go; those
	// kept that are held already as they are (open with the same score
	// and explanation, or decided) need no write.
	var drop []int64
	dropped := map[int64]bool{} // a candidate between two of the cases comes twice
	same := make([]bool, len(keep))
	err := q.matchesNaming(ctx, cases, func(id int64, p pair, score int64, expl, state, remote string) {
		j, kept := final[p]
		switch {
		case !kept && state == MatchOpen && remote == "" && !dropped[id]:
			dropped[id] = true
			drop = append(drop, id)
		case kept && (state != MatchOpen || score == ppm(keep[j].Score) && expl == string(keep[j].Explanation)):
			same[j] = true
		}
	})
	if err != nil {
		return fmt.Errorf("store.ReplaceMatchesMany: %w", err)
	}
	changed := keep[:0]
	for j, c := range keep {
		if !same[j] {
			changed = append(changed, c)
		}
	}
	keep = changed
	if err := q.deleteMatchIDs(ctx, drop); err != nil {
		return fmt.Errorf("store.ReplaceMatchesMany: %w", err)
	}
	if err := q.upsertMatches(ctx, keep, q.s.now(at)); err != nil {
		return fmt.Errorf("store.ReplaceMatchesMany: %w", err)
	}
	return nil
}

// matchesNaming calls fn for every candidate naming one of cases (sorted,
// each once): by case through the two case indexes. PostgreSQL takes the
// ids as array parameters, many thousands a statement (the bulk match job
// names every case held); SQLite, in process, IN lists. State and remote
// are looked at by the caller: a condition on state makes SQLite walk
// every open candidate through the state index instead.
func (q *queries) matchesNaming(ctx context.Context, cases []string, fn func(id int64, p struct{ a, ap, b, bp string }, score int64, expl, state, remote string)) error {
	const cols = `id, a_case, a_person, b_case, b_person, score_ppm, explanation, state, remote`
	per := casesPerLookup
	if q.s.dialect == Postgres && len(cases) > 0 {
		per = casesPerArray
		// Without statistics PostgreSQL puts the probes below at a
		// large share of the table each, and a cost that large would
		// have it compile the statement (JIT: half a second) for what
		// reads a few index pages. For the rest of the transaction (it
		// writes candidates: the same holds).
		if _, err := q.exec(ctx, `SET LOCAL jit = off`); err != nil {
			return err
		}
	}
	for len(cases) > 0 {
		chunk := cases[:min(len(cases), per)]
		cases = cases[len(chunk):]
		var query string
		var args []any
		if q.s.dialect == Postgres {
			// One index probe per case (the subqueries are fenced by
			// OFFSET 0, so the planner cannot turn them into a join).
			// Written "a_case = ANY(ids)", PostgreSQL without statistics
			// took the few hundred cases of a received batch for most of
			// the table and scanned all of it, twice per batch: matching
			// cost what the candidates of every case before had grown to.
			query = `SELECT m.* FROM unnest(?::text[]) AS k(c_id),
					LATERAL (SELECT ` + cols + ` FROM match_candidates WHERE a_case = k.c_id OFFSET 0) m
				UNION ALL SELECT m.* FROM unnest(?::text[]) AS k(c_id),
					LATERAL (SELECT ` + cols + ` FROM match_candidates WHERE b_case = k.c_id OFFSET 0) m`
			args = []any{chunk, chunk}
		} else {
			args = make([]any, 0, 2*len(chunk))
			for _, id := range chunk {
				args = append(args, id)
			}
			args = append(args, args...)
			in := placeholders(len(chunk))
			query = `SELECT ` + cols + ` FROM match_candidates WHERE a_case IN (` + in + `)
				UNION ALL SELECT ` + cols + ` FROM match_candidates WHERE b_case IN (` + in + `)`
		}
		err := q.eachRow(ctx, func(rows *sqlx.Rows) error {
			var id, score int64
			var p struct{ a, ap, b, bp string }
			var expl, state, remote string
			if err := rows.Scan(&id, &p.a, &p.ap, &p.b, &p.bp, &score, &expl, &state, sc(&remote)); err != nil {
				return err
			}
			fn(id, p, score, expl, state, remote)
			return nil
		}, query, args...)
		if err != nil {
			return err
		}
	}
	return nil
}

// deleteMatchIDs deletes candidates by id.
func (q *queries) deleteMatchIDs(ctx context.Context, ids []int64) error {
	if q.s.dialect == Postgres {
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), 50000)]
			ids = ids[len(chunk):]
			if _, err := q.exec(ctx, `DELETE FROM match_candidates WHERE id = ANY(?::bigint[])`, chunk); err != nil {
				return fmt.Errorf("delete: %w", err)
			}
		}
		return nil
	}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 900)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if _, err := q.exec(ctx, `DELETE FROM match_candidates WHERE id IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
	}
	return nil
}

// upsertClause refreshes an open candidate already held whose score or
// explanation changed (updated_at is when it last changed); a decided one
// keeps its decision, score and explanation.
const upsertClause = ` ON CONFLICT (a_case, a_person, b_case, b_person) DO UPDATE
	SET score_ppm = excluded.score_ppm, explanation = excluded.explanation, updated_at = excluded.updated_at
	WHERE match_candidates.state = 'open'
		AND (match_candidates.score_ppm <> excluded.score_ppm OR match_candidates.explanation <> excluded.explanation)`

// upsertMatches adds candidates, or refreshes those held while open. On
// PostgreSQL, one statement per 20,000 rows with the columns as array
// parameters; on SQLite, multi-row VALUES lists. No pair is given twice.
func (q *queries) upsertMatches(ctx context.Context, cands []NewMatchCandidate, at time.Time) error {
	t := tv(at)
	if q.s.dialect == Postgres {
		for len(cands) > 0 {
			chunk := cands[:min(len(cands), 20000)]
			cands = cands[len(chunk):]
			a, ap, b, bp, ex := make([]string, len(chunk)), make([]string, len(chunk)), make([]string, len(chunk)), make([]string, len(chunk)), make([]string, len(chunk))
			sc := make([]int64, len(chunk))
			for i, c := range chunk {
				a[i], ap[i], b[i], bp[i], sc[i], ex[i] = c.ACase, c.APerson, c.BCase, c.BPerson, ppm(c.Score), string(c.Explanation)
			}
			if _, err := q.exec(ctx, `INSERT INTO match_candidates
				(a_case, a_person, b_case, b_person, score_ppm, explanation, state, created_at, updated_at)
				SELECT a, ap, b, bp, s, e, 'open', ?::timestamptz, ?::timestamptz
				FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[]) AS t(a, ap, b, bp, s, e)`+upsertClause,
				t, t, a, ap, b, bp, sc, ex); err != nil {
				return fmt.Errorf("insert: %w", err)
			}
		}
		return nil
	}
	for len(cands) > 0 {
		chunk := cands[:min(len(cands), matchRowsPerInsert)]
		cands = cands[len(chunk):]
		var sb strings.Builder
		args := make([]any, 0, 8*len(chunk))
		for i, c := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?, 'open', ?, ?)")
			args = append(args, c.ACase, c.APerson, c.BCase, c.BPerson, ppm(c.Score), string(c.Explanation), t, t)
		}
		if _, err := q.exec(ctx, `INSERT INTO match_candidates
			(a_case, a_person, b_case, b_person, score_ppm, explanation, state, created_at, updated_at)
			VALUES `+sb.String()+upsertClause, args...); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
	}
	return nil
}

func (q *queries) MarkMatchPending(ctx context.Context, ps []PendingMatch) error {
	if q.s.dialect == Postgres {
		// One statement text for every batch size: the marks as arrays,
		// one row per case with its highest version, in key order.
		ids, versions := make([]string, len(ps)), make([]int64, len(ps))
		for i, p := range ps {
			if p.CaseID == "" {
				return fmt.Errorf("store.MarkMatchPending: case id is required: %w", ErrInvalid)
			}
			ids[i], versions[i] = p.CaseID, p.Version
		}
		if len(ps) == 0 {
			return nil
		}
		if _, err := q.exec(ctx, `INSERT INTO match_pending (case_id, version)
			SELECT case_id, MAX(version) FROM unnest(?::text[], ?::bigint[]) AS u(case_id, version)
			GROUP BY case_id ORDER BY case_id
			ON CONFLICT (case_id) DO UPDATE SET version = excluded.version
			WHERE excluded.version > match_pending.version`, ids, versions); err != nil {
			return fmt.Errorf("store.MarkMatchPending: %w", err)
		}
		return nil
	}
	for len(ps) > 0 {
		chunk := ps[:min(len(ps), 500)]
		ps = ps[len(chunk):]
		var sb strings.Builder
		args := make([]any, 0, 2*len(chunk))
		for i, p := range chunk {
			if p.CaseID == "" {
				return fmt.Errorf("store.MarkMatchPending: case id is required: %w", ErrInvalid)
			}
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?)")
			args = append(args, p.CaseID, p.Version)
		}
		if _, err := q.exec(ctx, `INSERT INTO match_pending (case_id, version) VALUES `+sb.String()+`
			ON CONFLICT (case_id) DO UPDATE SET version = excluded.version
			WHERE excluded.version > match_pending.version`, args...); err != nil {
			return fmt.Errorf("store.MarkMatchPending: %w", err)
		}
	}
	return nil
}

func (q *queries) ClearMatchPending(ctx context.Context, ps []PendingMatch) error {
	if q.s.dialect == Postgres && len(ps) > 0 {
		// One statement text for every batch size (an OR per mark was a
		// new statement to parse and plan for each new size).
		ids, versions := make([]string, len(ps)), make([]int64, len(ps))
		for i, p := range ps {
			ids[i], versions[i] = p.CaseID, p.Version
		}
		if _, err := q.exec(ctx, `DELETE FROM match_pending m USING unnest(?::text[], ?::bigint[]) AS u(case_id, version)
			WHERE m.case_id = u.case_id AND m.version <= u.version`, ids, versions); err != nil {
			return fmt.Errorf("store.ClearMatchPending: %w", err)
		}
		return nil
	}
	for len(ps) > 0 {
		chunk := ps[:min(len(ps), 500)]
		ps = ps[len(chunk):]
		var sb strings.Builder
		args := make([]any, 0, 2*len(chunk))
		for i, p := range chunk {
			if i > 0 {
				sb.WriteString(" OR ")
			}
			sb.WriteString("(case_id = ? AND version <= ?)")
			args = append(args, p.CaseID, p.Version)
		}
		if _, err := q.exec(ctx, `DELETE FROM match_pending WHERE `+sb.String(), args...); err != nil {
			return fmt.Errorf("store.ClearMatchPending: %w", err)
		}
	}
	return nil
}

func (q *queries) ListMatchPending(ctx context.Context, after string, limit int) ([]PendingMatch, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := q.query(ctx, fmt.Sprintf(`SELECT case_id, version FROM match_pending WHERE case_id > ? ORDER BY case_id LIMIT %d`, limit), after)
	if err != nil {
		return nil, fmt.Errorf("store.ListMatchPending: %w", err)
	}
	defer rows.Close()
	var out []PendingMatch
	for rows.Next() {
		var p PendingMatch
		if err := rows.Scan(&p.CaseID, &p.Version); err != nil {
			return nil, fmt.Errorf("store.ListMatchPending: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.ListMatchPending: %w", err)
	}
	return out, nil
}

// The Store forms: each its own transaction, reads on the pool.

func (s *sqlStore) ReplaceMatchesMany(ctx context.Context, steps []CaseCandidates, at time.Time) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.ReplaceMatchesMany(ctx, steps, at) })
	return err
}

func (s *sqlStore) MarkMatchPending(ctx context.Context, ps []PendingMatch) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.MarkMatchPending(ctx, ps) })
	return err
}

func (s *sqlStore) ClearMatchPending(ctx context.Context, ps []PendingMatch) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.ClearMatchPending(ctx, ps) })
	return err
}

func (s *sqlStore) ListMatchPending(ctx context.Context, after string, limit int) ([]PendingMatch, error) {
	return s.read().ListMatchPending(ctx, after, limit)
}
