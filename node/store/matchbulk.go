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
	// Past are the pairs of the case's persons that are candidates but
	// past the bound of their lists (node/match MaxCandidates): not
	// listed by this case, though the other case may list them. A pair
	// naming the case that is in neither Cands nor Past is no candidate
	// any more (the case changed): the other case's listing of it, made
	// before, no longer holds either.
	Past []MatchPair
}

// MatchPair names the two persons of a candidate, as NewMatchCandidate
// does.
type MatchPair struct{ ACase, APerson, BCase, BPerson string }

// PendingMatch names a case version whose candidates are not yet computed.
type PendingMatch struct {
	CaseID  string
	Version int64
}

// MatchBulk writes the candidates of many cases at once, and keeps the
// durable record of the cases still to be matched.
type MatchBulk interface {
	// ReplaceMatchesMany leaves the candidates as ReplaceMatches called
	// for each of steps in turn would, with set-based statements. A
	// candidate is marked with which of its two cases list it: a step
	// listing the pair (Cands) marks its case and writes the score and
	// explanation (a new row is listed by no one else); a step holding
	// it past its bound (Past) unmarks its case alone; a step holding it
	// neither way unmarks both (the pair is no candidate any more, and
	// the other case's listing of it was made before). An open candidate
	// no case lists is deleted. Decided and remote candidates stay as
	// they are.
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
	matchRowsPerInsert = 300
	casesPerLookup     = 400
	casesPerArray      = 20000
)

func (q *queries) ReplaceMatchesMany(ctx context.Context, steps []CaseCandidates, at time.Time) error {
	type pair = struct{ a, ap, b, bp string }
	byCase := make(map[string][]int, len(steps)) // the steps of each case, in order
	for i, st := range steps {
		if st.CaseID == "" {
			return fmt.Errorf("store.ReplaceMatchesMany: step %d: case id is required: %w", i, ErrInvalid)
		}
		for _, c := range st.Cands {
			if c.APerson == "" || c.BPerson == "" || (c.ACase != st.CaseID && c.BCase != st.CaseID) || c.ACase == c.BCase || !json.Valid(c.Explanation) {
				return fmt.Errorf("store.ReplaceMatchesMany: a candidate must name case %q and another, both persons and a JSON explanation: %w", st.CaseID, ErrInvalid)
			}
		}
		byCase[st.CaseID] = append(byCase[st.CaseID], i)
	}
	// What each step holds of each pair: listed (the candidate) or past
	// its bound; by pair, in step order (most pairs are named by a step
	// or two: a slice, not a map, per pair).
	type hold struct {
		step   int
		listed *NewMatchCandidate
		past   bool
	}
	holds := map[pair][]hold{}
	var named []pair // in the order first named
	add := func(p pair, h hold) {
		hs, ok := holds[p]
		if !ok {
			named = append(named, p)
		}
		if n := len(hs); n > 0 && hs[n-1].step == h.step {
			// A pair listed twice by one step keeps its last candidate.
			if h.listed != nil {
				hs[n-1].listed = h.listed
			}
			hs[n-1].past = hs[n-1].past || h.past
			return
		}
		holds[p] = append(hs, h)
	}
	for i, st := range steps {
		for k := range st.Cands {
			c := &st.Cands[k]
			add(pair{c.ACase, c.APerson, c.BCase, c.BPerson}, hold{step: i, listed: c})
		}
		for _, mp := range st.Past {
			add(pair{mp.ACase, mp.APerson, mp.BCase, mp.BPerson}, hold{step: i, past: true})
		}
	}
	holdAt := func(p pair, i int) hold {
		for _, h := range holds[p] {
			if h.step == i {
				return h
			}
		}
		return hold{}
	}
	// final plays the steps naming either case of p in turn, from what is
	// held (exists, a, b): a step listing p lists it on its side (a new
	// row is listed by no one else); a step holding it past its bound
	// does not; a step not holding it at all ends every listing (p is no
	// candidate any more). A row no side lists goes. cand is the latest
	// candidate written, nil when none was.
	final := func(p pair, exists, a, b bool) (bool, bool, bool, *NewMatchCandidate) {
		var cand *NewMatchCandidate
		ia, ib := byCase[p.a], byCase[p.b]
		for len(ia) > 0 || len(ib) > 0 {
			var i int
			sideA := len(ib) == 0 || len(ia) > 0 && ia[0] < ib[0]
			if sideA {
				i, ia = ia[0], ia[1:]
			} else {
				i, ib = ib[0], ib[1:]
			}
			h := holdAt(p, i)
			switch {
			case h.listed != nil:
				if !exists {
					exists, a, b = true, false, false
				}
				cand = h.listed
				if sideA {
					a = true
				} else {
					b = true
				}
			case h.past:
				if sideA {
					a = false
				} else {
					b = false
				}
			default:
				a, b = false, false
			}
			if exists && !a && !b {
				exists, cand = false, nil
			}
		}
		return exists, a, b, cand
	}
	cases := make([]string, 0, len(byCase))
	for id := range byCase {
		cases = append(cases, id)
	}
	sort.Strings(cases)
	// Open candidates held that no case lists any more go; those whose
	// score, explanation or marks change are written; decided and remote
	// ones stay as they are.
	var drop []int64
	var marks [4][]int64     // candidates whose marks alone change, by 2*a+b
	seen := map[int64]bool{} // a candidate between two of the cases comes twice
	held := map[pair]bool{}
	var keep []listedCandidate
	err := q.matchesNaming(ctx, cases, func(m heldMatch) {
		if seen[m.id] {
			return
		}
		seen[m.id] = true
		p := pair{m.a, m.ap, m.b, m.bp}
		held[p] = true
		if m.state != MatchOpen || m.remote != "" {
			return
		}
		exists, a, b, cand := final(p, true, m.aListed, m.bListed)
		switch {
		case !exists:
			drop = append(drop, m.id)
		case cand != nil && (m.score != ppm(cand.Score) || m.expl != string(cand.Explanation)):
			keep = append(keep, listedCandidate{NewMatchCandidate: *cand, a: a, b: b})
		case a != m.aListed || b != m.bListed:
			k := 0
			if a {
				k = 2
			}
			if b {
				k++
			}
			marks[k] = append(marks[k], m.id)
		}
	})
	if err != nil {
		return fmt.Errorf("store.ReplaceMatchesMany: %w", err)
	}
	for _, p := range named {
		if held[p] {
			continue
		}
		if exists, a, b, cand := final(p, false, false, false); exists {
			keep = append(keep, listedCandidate{NewMatchCandidate: *cand, a: a, b: b})
		}
	}
	if err := q.deleteMatchIDs(ctx, drop); err != nil {
		return fmt.Errorf("store.ReplaceMatchesMany: %w", err)
	}
	for k, ids := range marks {
		if err := q.markMatchIDs(ctx, ids, k >= 2, k%2 == 1); err != nil {
			return fmt.Errorf("store.ReplaceMatchesMany: %w", err)
		}
	}
	if err := q.upsertMatches(ctx, keep, q.s.now(at)); err != nil {
		return fmt.Errorf("store.ReplaceMatchesMany: %w", err)
	}
	if err := q.replaceMatchesPast(ctx, steps, byCase, cases); err != nil {
		return fmt.Errorf("store.ReplaceMatchesMany: %w", err)
	}
	return nil
}

// replaceMatchesPast records, for the cases of steps (sorted in cases),
// how many candidates each of their persons has past its bound, as the
// last step of the case says (match_past).
func (q *queries) replaceMatchesPast(ctx context.Context, steps []CaseCandidates, byCase map[string][]int, cases []string) error {
	type row struct {
		caseID, person string
		n              int
	}
	var rows []row
	for _, id := range cases {
		st := steps[byCase[id][len(byCase[id])-1]]
		count := map[string]int{}
		var order []string
		for _, p := range st.Past {
			person := p.APerson
			if p.BCase == id {
				person = p.BPerson
			}
			if count[person] == 0 {
				order = append(order, person)
			}
			count[person]++
		}
		for _, p := range order {
			rows = append(rows, row{id, p, count[p]})
		}
	}
	for len(cases) > 0 {
		if q.s.dialect == Postgres {
			chunk := cases[:min(len(cases), casesPerArray)]
			cases = cases[len(chunk):]
			if _, err := q.exec(ctx, `DELETE FROM match_past WHERE case_id = ANY(?::text[])`, chunk); err != nil {
				return fmt.Errorf("past: %w", err)
			}
			continue
		}
		chunk := cases[:min(len(cases), casesPerLookup)]
		cases = cases[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if _, err := q.exec(ctx, `DELETE FROM match_past WHERE case_id IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
			return fmt.Errorf("past: %w", err)
		}
	}
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), 300)]
		rows = rows[len(chunk):]
		var sb strings.Builder
		args := make([]any, 0, 3*len(chunk))
		for i, r := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?)")
			args = append(args, r.caseID, r.person, r.n)
		}
		if _, err := q.exec(ctx, `INSERT INTO match_past (case_id, person_id, past) VALUES `+sb.String(), args...); err != nil {
			return fmt.Errorf("past: %w", err)
		}
	}
	return nil
}

// listedCandidate is a candidate to write with which sides list it
// (match_candidates.a_listed, b_listed).
type listedCandidate struct {
	NewMatchCandidate
	a, b bool
}

// heldMatch is a candidate as matchesNaming reads it.
type heldMatch struct {
	id               int64
	a, ap, b, bp     string
	score            int64
	expl, state      string
	remote           string
	aListed, bListed bool
}

// matchesNaming calls fn for every candidate naming one of cases (sorted,
// each once): by case through the two case indexes. PostgreSQL takes the
// ids as array parameters, many thousands a statement (the bulk match job
// names every case held); SQLite, in process, IN lists. State and remote
// are looked at by the caller: a condition on state makes SQLite walk
// every open candidate through the state index instead.
func (q *queries) matchesNaming(ctx context.Context, cases []string, fn func(heldMatch)) error {
	const cols = `id, a_case, a_person, b_case, b_person, score_ppm, explanation, state, remote, a_listed, b_listed`
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
			var m heldMatch
			if err := rows.Scan(&m.id, &m.a, &m.ap, &m.b, &m.bp, &m.score, &m.expl, &m.state, sc(&m.remote), &m.aListed, &m.bListed); err != nil {
				return err
			}
			fn(m)
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

// markMatchIDs sets which sides list the candidates ids.
func (q *queries) markMatchIDs(ctx context.Context, ids []int64, a, b bool) error {
	per := 900
	if q.s.dialect == Postgres {
		per = 50000
	}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), per)]
		ids = ids[len(chunk):]
		var err error
		if q.s.dialect == Postgres {
			_, err = q.exec(ctx, `UPDATE match_candidates SET a_listed = ?, b_listed = ? WHERE id = ANY(?::bigint[])`, a, b, chunk)
		} else {
			args := []any{a, b}
			for _, id := range chunk {
				args = append(args, id)
			}
			_, err = q.exec(ctx, `UPDATE match_candidates SET a_listed = ?, b_listed = ? WHERE id IN (`+placeholders(len(chunk))+`)`, args...)
		}
		if err != nil {
			return fmt.Errorf("mark: %w", err)
		}
	}
	return nil
}

// upsertClause refreshes an open candidate already held whose score,
// explanation or listing sides changed (updated_at is when its score or
// explanation last changed); a decided one keeps its decision, score and
// explanation.
const upsertClause = ` ON CONFLICT (a_case, a_person, b_case, b_person) DO UPDATE
	SET score_ppm = excluded.score_ppm, explanation = excluded.explanation,
		updated_at = CASE WHEN match_candidates.score_ppm <> excluded.score_ppm OR match_candidates.explanation <> excluded.explanation
			THEN excluded.updated_at ELSE match_candidates.updated_at END,
		a_listed = excluded.a_listed, b_listed = excluded.b_listed
	WHERE match_candidates.state = 'open'
		AND (match_candidates.score_ppm <> excluded.score_ppm OR match_candidates.explanation <> excluded.explanation
			OR match_candidates.a_listed <> excluded.a_listed OR match_candidates.b_listed <> excluded.b_listed)`

// upsertMatches adds candidates, or refreshes those held while open. On
// PostgreSQL, one statement per 20,000 rows with the columns as array
// parameters; on SQLite, multi-row VALUES lists. No pair is given twice.
func (q *queries) upsertMatches(ctx context.Context, cands []listedCandidate, at time.Time) error {
	t := tv(at)
	if q.s.dialect == Postgres {
		for len(cands) > 0 {
			chunk := cands[:min(len(cands), 20000)]
			cands = cands[len(chunk):]
			a, ap, b, bp, ex := make([]string, len(chunk)), make([]string, len(chunk)), make([]string, len(chunk)), make([]string, len(chunk)), make([]string, len(chunk))
			sc := make([]int64, len(chunk))
			al, bl := make([]bool, len(chunk)), make([]bool, len(chunk))
			for i, c := range chunk {
				a[i], ap[i], b[i], bp[i], sc[i], ex[i] = c.ACase, c.APerson, c.BCase, c.BPerson, ppm(c.Score), string(c.Explanation)
				al[i], bl[i] = c.a, c.b
			}
			if _, err := q.exec(ctx, `INSERT INTO match_candidates
				(a_case, a_person, b_case, b_person, score_ppm, explanation, state, created_at, updated_at, a_listed, b_listed)
				SELECT a, ap, b, bp, s, e, 'open', ?::timestamptz, ?::timestamptz, al, bl
				FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[], ?::boolean[], ?::boolean[]) AS t(a, ap, b, bp, s, e, al, bl)`+upsertClause,
				t, t, a, ap, b, bp, sc, ex, al, bl); err != nil {
				return fmt.Errorf("insert: %w", err)
			}
		}
		return nil
	}
	for len(cands) > 0 {
		chunk := cands[:min(len(cands), matchRowsPerInsert)]
		cands = cands[len(chunk):]
		var sb strings.Builder
		args := make([]any, 0, 10*len(chunk))
		for i, c := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)")
			args = append(args, c.ACase, c.APerson, c.BCase, c.BPerson, ppm(c.Score), string(c.Explanation), t, t, c.a, c.b)
		}
		if _, err := q.exec(ctx, `INSERT INTO match_candidates
			(a_case, a_person, b_case, b_person, score_ppm, explanation, state, created_at, updated_at, a_listed, b_listed)
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
