package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Match states: a candidate is open until a caseworker confirms or rejects
// it.
const (
	MatchOpen      = "open"
	MatchConfirmed = "confirmed"
	MatchRejected  = "rejected"
)

// MatchCandidate is a candidate match between two persons of two cases, as
// computed by node/match and decided by a caseworker.
type MatchCandidate struct {
	ID      int64
	ACase   string // the sought person's case (or, between two sought persons, the one matched first)
	APerson string
	BCase   string
	BPerson string
	Score   float64 // in [0, 1], kept to six decimals
	// Explanation is the field-by-field explanation (JSON: ids, levels and
	// weights, no names).
	Explanation json.RawMessage
	State       string // MatchOpen, MatchConfirmed, MatchRejected
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DecidedBy   string // the token name that confirmed or rejected it
	DecidedAt   time.Time
	// Remote is, for a candidate another member answered to a match
	// query, that member: BCase is then the member and BPerson the handle
	// it gave. Empty for a candidate between two cases held here.
	Remote string
	// AListed and BListed say which case's last matching lists the pair
	// (each person's list is bounded: a pair may be within one side's
	// bound and past the other's). Not kept for decided candidates.
	AListed, BListed bool
}

// NewMatchCandidate is one candidate of ReplaceMatches.
type NewMatchCandidate struct {
	ACase, APerson, BCase, BPerson string
	Score                          float64
	Explanation                    json.RawMessage
	Remote                         string // RecordRemoteMatches only
}

// MatchFilter selects candidates for ListMatches. Empty fields match
// everything.
type MatchFilter struct {
	State  string
	CaseID string // candidates naming this case on either side
	// AfterID continues a previous page (the last id seen).
	AfterID int64
	// Limit defaults to 100 and is capped at 1000.
	Limit int
}

// MatchReader reads candidate matches.
type MatchReader interface {
	// ListMatches pages through candidates by ascending id.
	ListMatches(ctx context.Context, f MatchFilter) ([]MatchCandidate, error)
	// GetMatch returns one candidate; ErrNotFound if there is none.
	GetMatch(ctx context.Context, id int64) (MatchCandidate, error)
	// MatchesPast returns, for each person of caseID whose list of
	// candidates is truncated, how many candidates its last matching
	// found past the bound (ReplaceMatchesMany's Past): none, when every
	// list holds all its candidates.
	MatchesPast(ctx context.Context, caseID string) (map[string]int, error)
}

// Matches keeps the candidate matches of the node's cases.
type Matches interface {
	MatchReader
	MatchBulk
	// ReplaceMatches records the candidates found by matching the persons
	// of caseID (its list): each of cands is added, or, when the pair is
	// held, refreshed (score and explanation) while it is open; its
	// updated_at changes only when one of them does. An open candidate
	// naming caseID that is not among cands is deleted unless the other
	// case's last matching listed it (each person's list is bounded, and a
	// pair within one side's bound may be past the other's: what either
	// side lists stays). A decided pair keeps its decision. Every
	// candidate must name caseID on one side and another case on the
	// other. ReplaceMatchesMany with one step.
	ReplaceMatches(ctx context.Context, caseID string, cands []NewMatchCandidate, at time.Time) error
	// DecideMatch confirms or rejects an open candidate (state
	// MatchConfirmed or MatchRejected). ErrNotFound if there is no such
	// candidate, ErrConflict if it is not open.
	DecideMatch(ctx context.Context, id int64, state, actor string, at time.Time) (MatchCandidate, error)
	// RecordRemoteMatches adds candidates another member answered to a
	// match query (Remote set on each; ACase the sought person's case
	// here, BCase the member, BPerson its handle). A pair already held is
	// left as it is. ReplaceMatches never drops them; erasing ACase does.
	RecordRemoteMatches(ctx context.Context, cands []NewMatchCandidate, at time.Time) error
	// DropInboxEnvelope drops the bytes of an inbox row whose content must
	// not be kept once used (a match query, once answered: its encoding is
	// personal data). The row, its sha256 and its receipt stay, so a copy
	// sent again is still a duplicate. ErrNotFound if there is no such row.
	DropInboxEnvelope(ctx context.Context, id int64) error
}

const matchCols = `id, a_case, a_person, b_case, b_person, score_ppm, explanation, state, created_at, updated_at, decided_by, decided_at, remote, a_listed, b_listed`

func scanMatch(r scanner) (MatchCandidate, error) {
	var m MatchCandidate
	var ppm int64
	var expl string
	err := r.Scan(&m.ID, &m.ACase, &m.APerson, &m.BCase, &m.BPerson, &ppm, &expl, &m.State,
		tc(&m.CreatedAt), tc(&m.UpdatedAt), sc(&m.DecidedBy), tc(&m.DecidedAt), sc(&m.Remote), &m.AListed, &m.BListed)
	m.Score = float64(ppm) / 1e6
	m.Explanation = json.RawMessage(expl)
	return m, err
}

func ppm(score float64) int64 {
	return int64(math.Round(min(max(score, 0), 1) * 1e6))
}

func (q *queries) ReplaceMatches(ctx context.Context, caseID string, cands []NewMatchCandidate, at time.Time) error {
	if caseID == "" {
		return fmt.Errorf("store.ReplaceMatches: case id is required: %w", ErrInvalid)
	}
	return q.ReplaceMatchesMany(ctx, []CaseCandidates{{CaseID: caseID, Cands: cands}}, at)
}

func (q *queries) RecordRemoteMatches(ctx context.Context, cands []NewMatchCandidate, at time.Time) error {
	at = q.s.now(at)
	for _, c := range cands {
		if c.Remote == "" || c.ACase == "" || c.APerson == "" || c.BCase == "" || c.BPerson == "" || !json.Valid(c.Explanation) {
			return fmt.Errorf("store.RecordRemoteMatches: a candidate needs the member, both sides and a JSON explanation: %w", ErrInvalid)
		}
		if _, err := q.exec(ctx, `INSERT INTO match_candidates
			(a_case, a_person, b_case, b_person, score_ppm, explanation, state, created_at, updated_at, remote)
			VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)
			ON CONFLICT (a_case, a_person, b_case, b_person) DO NOTHING`,
			c.ACase, c.APerson, c.BCase, c.BPerson, ppm(c.Score), string(c.Explanation), tv(at), tv(at), c.Remote); err != nil {
			return fmt.Errorf("store.RecordRemoteMatches: %w", err)
		}
	}
	return nil
}

func (q *queries) DecideMatch(ctx context.Context, id int64, state, actor string, at time.Time) (MatchCandidate, error) {
	if state != MatchConfirmed && state != MatchRejected {
		return MatchCandidate{}, fmt.Errorf("store.DecideMatch: state %q: %w", state, ErrInvalid)
	}
	at = q.s.now(at)
	n, err := q.exec(ctx, `UPDATE match_candidates SET state = ?, decided_by = ?, decided_at = ?, updated_at = ?
		WHERE id = ? AND state = 'open'`, state, actor, tv(at), tv(at), id)
	if err != nil {
		return MatchCandidate{}, fmt.Errorf("store.DecideMatch: %w", err)
	}
	m, err := q.GetMatch(ctx, id)
	if err != nil {
		return MatchCandidate{}, fmt.Errorf("store.DecideMatch: %w", err)
	}
	if n == 0 {
		return m, fmt.Errorf("store.DecideMatch: candidate %d is %s: %w", id, m.State, ErrConflict)
	}
	return m, nil
}

func (q *queries) GetMatch(ctx context.Context, id int64) (MatchCandidate, error) {
	m, err := scanMatch(q.queryRow(ctx, `SELECT `+matchCols+` FROM match_candidates WHERE id = ?`, id))
	if err != nil {
		return MatchCandidate{}, fmt.Errorf("store.GetMatch: %d: %w", id, notFound(err))
	}
	return m, nil
}

func (q *queries) ListMatches(ctx context.Context, f MatchFilter) ([]MatchCandidate, error) {
	n := limit(f.Limit, 100)
	var w where
	w.addIf(f.State != "", "state = ?", f.State)
	w.addIf(f.CaseID != "", "(a_case = ? OR b_case = ?)", f.CaseID, f.CaseID)
	w.addIf(f.AfterID > 0, "id > ?", f.AfterID)
	rows, err := q.query(ctx, `SELECT `+matchCols+` FROM match_candidates`+w.String()+
		fmt.Sprintf(` ORDER BY id LIMIT %d`, n), w.args...)
	if err != nil {
		return nil, fmt.Errorf("store.ListMatches: %w", err)
	}
	defer rows.Close()
	var out []MatchCandidate
	for rows.Next() {
		m, err := scanMatch(rows)
		if err != nil {
			return nil, fmt.Errorf("store.ListMatches: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.ListMatches: %w", err)
	}
	return out, nil
}

func (q *queries) MatchesPast(ctx context.Context, caseID string) (map[string]int, error) {
	rows, err := q.query(ctx, `SELECT person_id, past FROM match_past WHERE case_id = ?`, caseID)
	if err != nil {
		return nil, fmt.Errorf("store.MatchesPast: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var p string
		var n int
		if err := rows.Scan(&p, &n); err != nil {
			return nil, fmt.Errorf("store.MatchesPast: %w", err)
		}
		out[p] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.MatchesPast: %w", err)
	}
	return out, nil
}

func (q *queries) DropInboxEnvelope(ctx context.Context, id int64) error {
	n, err := q.exec(ctx, `UPDATE inbox SET envelope = NULL WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("store.DropInboxEnvelope: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store.DropInboxEnvelope: inbox row %d: %w", id, ErrNotFound)
	}
	q.erased = true
	return nil
}

// eraseMatches deletes every candidate naming caseID (EraseCase).
func (q *queries) eraseMatches(ctx context.Context, caseID string) (int64, error) {
	n, err := q.exec(ctx, `DELETE FROM match_candidates WHERE a_case = ? OR b_case = ?`, caseID, caseID)
	if err != nil {
		return 0, fmt.Errorf("eraseMatches: %w", err)
	}
	if _, err := q.exec(ctx, `DELETE FROM match_pending WHERE case_id = ?`, caseID); err != nil {
		return 0, fmt.Errorf("eraseMatches: pending: %w", err)
	}
	if _, err := q.exec(ctx, `DELETE FROM match_past WHERE case_id = ?`, caseID); err != nil {
		return 0, fmt.Errorf("eraseMatches: past: %w", err)
	}
	return n, nil
}

func (s *sqlStore) ReplaceMatches(ctx context.Context, caseID string, cands []NewMatchCandidate, at time.Time) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.ReplaceMatches(ctx, caseID, cands, at) })
	return err
}

func (s *sqlStore) RecordRemoteMatches(ctx context.Context, cands []NewMatchCandidate, at time.Time) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.RecordRemoteMatches(ctx, cands, at) })
	return err
}

func (s *sqlStore) DecideMatch(ctx context.Context, id int64, state, actor string, at time.Time) (MatchCandidate, error) {
	return write(ctx, s, func(q *queries) (MatchCandidate, error) { return q.DecideMatch(ctx, id, state, actor, at) })
}

func (s *sqlStore) DropInboxEnvelope(ctx context.Context, id int64) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.DropInboxEnvelope(ctx, id) })
	return err
}

func (s *sqlStore) GetMatch(ctx context.Context, id int64) (MatchCandidate, error) {
	return s.read().GetMatch(ctx, id)
}

func (s *sqlStore) ListMatches(ctx context.Context, f MatchFilter) ([]MatchCandidate, error) {
	return s.read().ListMatches(ctx, f)
}

func (s *sqlStore) MatchesPast(ctx context.Context, caseID string) (map[string]int, error) {
	return s.read().MatchesPast(ctx, caseID)
}

func (r readOnly) MatchesPast(ctx context.Context, caseID string) (map[string]int, error) {
	return r.s.MatchesPast(ctx, caseID)
}

func (r readOnly) GetMatch(ctx context.Context, id int64) (MatchCandidate, error) {
	return r.s.GetMatch(ctx, id)
}

func (r readOnly) ListMatches(ctx context.Context, f MatchFilter) ([]MatchCandidate, error) {
	return r.s.ListMatches(ctx, f)
}
