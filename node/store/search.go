package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// CaseSearchReader searches cases through the search index.
type CaseSearchReader interface {
	// SearchCases pages through the cases that hold, for every group of
	// q.AllOf, at least one of its keys, and for every range of q.Ranges a
	// key within it, and that pass the column filters; sorted by q.Sort.
	// ErrInvalid for a bad cursor, sort or range.
	SearchCases(ctx context.Context, q CaseQuery) (CasePage, error)
	// SearchIndexVersion returns the key version recorded with the index
	// (0 when none was recorded).
	SearchIndexVersion(ctx context.Context) (int, error)
}

// CaseSearch keeps the search index: a full-text index whose terms are the
// keys (GIN over a tsvector of exact lexemes on the case row on
// PostgreSQL, FTS5 on SQLite). The keys of a case are written with it by
// CreateCase, CreateCases and UpdateCase (NewCase.SearchKeys,
// CaseUpdate.SearchKeys) and deleted by EraseCase; these operations rebuild
// it when the rules that compute keys change.
type CaseSearch interface {
	CaseSearchReader
	// ReplaceSearchKeys sets the keys of a case that is not erased (the
	// index rebuild). ErrNotFound without such a case.
	ReplaceSearchKeys(ctx context.Context, caseID string, keys []string) error
	// SetSearchIndexVersion records the key version the index was built with.
	SetSearchIndexVersion(ctx context.Context, version int) error
}

// CaseImport creates cases in bulk.
type CaseImport interface {
	// CreateCases stores new cases with their first version and search
	// keys, all or nothing (one transaction when called on a Store). A case
	// whose id exists already (erased or not) is left as it is and listed
	// in BulkResult.Existing: importing the same list twice creates nothing
	// twice. ErrInvalid if a case lacks a required field or an id appears
	// twice in cs.
	CreateCases(ctx context.Context, cs []NewCase) (BulkResult, error)
	// CreateCasesMarked is CreateCases then MarkMatchPending(pending), in
	// one statement on PostgreSQL: a received batch's new cases and
	// their match-pending marks in one round trip.
	CreateCasesMarked(ctx context.Context, cs []NewCase, pending []PendingMatch) (BulkResult, error)
}

// BulkResult is the outcome of CreateCases: the ids created and those that
// existed already, each in the order given.
type BulkResult struct {
	Created  []string
	Existing []string
}

// CaseSort orders search results; ties are broken by case id in the same
// direction.
type CaseSort string

const (
	SortUpdatedDesc CaseSort = "-updated_at" // the default
	SortUpdatedAsc  CaseSort = "updated_at"
	SortCreatedDesc CaseSort = "-created_at"
	SortCreatedAsc  CaseSort = "created_at"
	SortIDAsc       CaseSort = "case_id"
)

// Sorts lists the orders SearchCases knows.
var Sorts = []CaseSort{SortUpdatedDesc, SortUpdatedAsc, SortCreatedDesc, SortCreatedAsc, SortIDAsc}

// KeyRange selects the keys From <= key <= To (both required).
type KeyRange struct{ From, To string }

// CaseQuery is the input of SearchCases. Empty fields match everything;
// erased cases never match (they have no keys).
type CaseQuery struct {
	AllOf  [][]string
	Ranges []KeyRange
	// Status and Type match any of their values.
	Status       []string
	Type         []string
	Origin       string
	UpdatedSince time.Time
	Sort         CaseSort
	// Cursor continues a previous page (CasePage.Next) of the same sort.
	Cursor string
	// Limit defaults to 50 and is capped at 1000.
	Limit int
}

// maxKeysPerGroup bounds one group (a query token gives 3 to 5 keys).
const maxKeysPerGroup = 64

// maxKeyLen bounds one key (a free-text word is cut at 40 bytes).
const maxKeyLen = 200

// validKey reports whether k can be a key of the index: lower-case ASCII
// letters, digits, '_' and '-' (what node/search computes), so that a key
// is one token of SQLite's FTS5 and one lexeme of a PostgreSQL tsquery,
// quoted without escapes.
func validKey(k string) bool {
	if k == "" || len(k) > maxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !keyByte(k[i]) {
			return false
		}
	}
	return true
}

func keyByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_' || b == '-'
}

// indexKeys returns keys without empty ones and duplicates, in order;
// ErrInvalid for a key validKey refuses.
func indexKeys(keys []string) ([]string, error) {
	seen := make(map[string]bool, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if k == "" || seen[k] {
			continue
		}
		if !validKey(k) {
			return nil, fmt.Errorf("search key %q: want 1 to %d of a-z, 0-9, '_', '-': %w", k, maxKeyLen, ErrInvalid)
		}
		seen[k] = true
		out = append(out, k)
	}
	return out, nil
}

// matchGroups writes groups of keys (OR within, AND across) as a tsquery
// (PostgreSQL) or an FTS5 MATCH expression (SQLite). Keys hold valid key
// bytes only: quoted, they need no escape.
func matchGroups(d Dialect, groups [][]string) string {
	and, or, q := " AND ", " OR ", `"`
	if d == Postgres {
		and, or, q = " & ", " | ", `'`
	}
	var sb strings.Builder
	for gi, g := range groups {
		if gi > 0 {
			sb.WriteString(and)
		}
		sb.WriteByte('(')
		for ki, k := range g {
			if ki > 0 {
				sb.WriteString(or)
			}
			sb.WriteString(q + k + q)
		}
		sb.WriteByte(')')
	}
	return sb.String()
}

// searchStmt is the statement of one page of SearchCases: none when no
// case can match.
type searchStmt struct {
	stmt string
	args []any
	n    int    // the page size (the statement reads one more)
	col  string // the sort column
	none bool
}

// searchStatement writes the statement of a page of cq (whose Sort it sets
// to the default when empty).
func (q *queries) searchStatement(ctx context.Context, cq *CaseQuery) (searchStmt, error) {
	n := limit(cq.Limit, 50)
	if cq.Sort == "" {
		cq.Sort = SortUpdatedDesc
	}
	col, desc := "", false
	switch cq.Sort {
	case SortUpdatedDesc, SortUpdatedAsc:
		col = "updated_at"
	case SortCreatedDesc, SortCreatedAsc:
		col = "created_at"
	case SortIDAsc:
		col = "case_id"
	default:
		return searchStmt{}, fmt.Errorf("store.SearchCases: sort %q: %w", cq.Sort, ErrInvalid)
	}
	desc = strings.HasPrefix(string(cq.Sort), "-")
	// Key groups become one query of the full-text index: GIN over a
	// tsvector of the keys (PostgreSQL), FTS5 (SQLite). A key no case can
	// hold leaves its group; a group left without keys matches nothing.
	// Ranges are checked on each case's own keys.
	none := false
	var groups [][]string
	for _, g := range cq.AllOf {
		if len(g) == 0 || len(g) > maxKeysPerGroup {
			return searchStmt{}, fmt.Errorf("store.SearchCases: a key group needs 1 to %d keys: %w", maxKeysPerGroup, ErrInvalid)
		}
		var ks []string
		for _, k := range g {
			if validKey(k) && !slices.Contains(ks, k) {
				ks = append(ks, k)
			}
		}
		none = none || len(ks) == 0
		groups = append(groups, ks)
	}
	for _, r := range cq.Ranges {
		if r.From == "" || r.To == "" || r.From > r.To {
			return searchStmt{}, fmt.Errorf("store.SearchCases: key range %q..%q: %w", r.From, r.To, ErrInvalid)
		}
	}
	pg := q.s.dialect == Postgres
	materialize := false
	from := ` FROM cases c`
	var w where
	switch {
	case len(groups) == 0 && rangesIndexed(cq.Ranges):
		// Ranges alone: through their own index (searchrange.go).
		var err error
		if materialize, err = q.rangeConditions(ctx, &w, cq.Ranges); err != nil {
			return searchStmt{}, fmt.Errorf("store.SearchCases: %w", err)
		}
	case pg:
		// The groups are one condition the GIN index answers, or the row
		// when the planner walks the cases in order. A range is checked
		// on the row only: as prefix terms of the index ('by_1':* for
		// birth years 1950-2000) it would merge the posting lists of a
		// hundred keys, most of the index (0.6 s over a million cases);
		// a range alone is dense (a few birth years) in practice.
		if len(groups) > 0 && !none {
			tsq := matchGroups(Postgres, groups)
			w.add(`c.search_keys @@ ?::tsquery`, tsq)
			var err error
			if materialize, err = q.fewMatches(ctx, tsq, n); err != nil {
				return searchStmt{}, fmt.Errorf("store.SearchCases: %w", err)
			}
		}
		for _, r := range cq.Ranges {
			w.add(`EXISTS (SELECT 1 FROM unnest(c.search_keys) u WHERE u.lexeme COLLATE "C" >= ? AND u.lexeme COLLATE "C" <= ?)`, r.From, r.To)
		}
	case len(groups) > 0:
		// SQLite: the FTS index finds the candidates, then the exact
		// ranges are checked on each candidate's keys.
		from = ` FROM case_fts f CROSS JOIN case_search_docs d ON d.id = f.rowid CROSS JOIN cases c ON c.case_id = d.case_id`
		w.add(`case_fts MATCH ?`, matchGroups(SQLite, groups))
		for _, r := range cq.Ranges {
			w.add(`EXISTS (SELECT 1 FROM json_each(d.keys) j WHERE j.value >= ? AND j.value <= ?)`, r.From, r.To)
		}
	case len(cq.Ranges) > 0:
		// Ranges alone of keys case_range_keys does not hold: the cases are
		// walked in order and each checked on its keys (a range as prefix
		// terms of the FTS index matches most cases: an age range took a
		// second over 100,000).
		from = ` FROM cases c JOIN case_search_docs d ON d.case_id = c.case_id`
		for _, r := range cq.Ranges {
			w.add(`EXISTS (SELECT 1 FROM json_each(d.keys) j WHERE j.value >= ? AND j.value <= ?)`, r.From, r.To)
		}
	}
	w.add("c.erased_at IS NULL")
	if len(cq.Status) > 0 {
		w.add(`c.status IN (`+placeholders(len(cq.Status))+`)`, anys(cq.Status)...)
	}
	if len(cq.Type) > 0 {
		w.add(`c.type IN (`+placeholders(len(cq.Type))+`)`, anys(cq.Type)...)
	}
	w.addIf(cq.Origin != "", "c.origin = ?", cq.Origin)
	// The cursor is a row comparison, (col, case_id) > (?, ?) (< when
	// descending), which both databases take as the start of the index
	// range they walk (cases_updated_idx, cases_created_idx, the primary
	// key). Written "col > ? OR (col = ? AND case_id > ?)" it was only a
	// filter: each page walked, and discarded, every case from the start
	// of the results, so a caseworker paging deep read quadratically.
	// Ascending by updated_at, the cursor and UpdatedSince are both lower
	// bounds: only the higher is written (as in ListCases: without
	// statistics PostgreSQL took the two for a selective condition and
	// sorted all they selected).
	since := !cq.UpdatedSince.IsZero()
	if cq.Cursor != "" {
		s, val, id, err := decodeSearchCursor(cq.Cursor)
		if err != nil || s != cq.Sort {
			return searchStmt{}, fmt.Errorf("store.SearchCases: bad cursor: %w", ErrInvalid)
		}
		op := ">"
		if desc {
			op = "<"
		}
		if col == "case_id" {
			w.add("c.case_id "+op+" ?", id)
		} else {
			at, err := time.Parse(timeLayout, val)
			if err != nil {
				return searchStmt{}, fmt.Errorf("store.SearchCases: bad cursor: %w", ErrInvalid)
			}
			w.add("(c."+col+", c.case_id) "+op+" (?, ?)", tv(at), id)
			if cq.Sort == SortUpdatedAsc && !at.Before(cq.UpdatedSince) {
				since = false
			}
		}
	}
	w.addIf(since, "c.updated_at >= ?", tv(cq.UpdatedSince))
	if none {
		return searchStmt{none: true}, nil
	}
	order := "c." + col
	if col != "case_id" {
		order += ", c.case_id"
	}
	if desc {
		order = strings.ReplaceAll(order, ",", " DESC,") + " DESC"
	}
	cols := "c." + strings.ReplaceAll(strings.Replace(caseCols, "document", "NULL", 1), ", ", ", c.")
	cols = strings.Replace(cols, "c.NULL", "NULL AS document", 1)
	stmt := `SELECT ` + cols + from + w.String() + fmt.Sprintf(` ORDER BY %s LIMIT %d`, order, n+1)
	if materialize {
		// Every match is fetched through the index, then sorted: left to
		// itself, PostgreSQL walks the cases in order and checks each,
		// which for a name held by one case in a thousand reads most of
		// the table before it fills a page. (SQLite: a rare range.)
		stmt = `WITH c AS MATERIALIZED (SELECT ` + cols + from + w.String() + `) SELECT * FROM c` +
			fmt.Sprintf(` ORDER BY %s LIMIT %d`, order, n+1)
	}
	return searchStmt{stmt: stmt, args: w.args, n: n, col: col}, nil
}

func (q *queries) SearchCases(ctx context.Context, cq CaseQuery) (CasePage, error) {
	st, err := q.searchStatement(ctx, &cq)
	if err != nil || st.none {
		return CasePage{}, err
	}
	n, col := st.n, st.col
	rows, err := q.query(ctx, st.stmt, st.args...)
	if err != nil {
		return CasePage{}, fmt.Errorf("store.SearchCases: %w", err)
	}
	defer rows.Close()
	var page CasePage
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return CasePage{}, fmt.Errorf("store.SearchCases: %w", err)
		}
		page.Cases = append(page.Cases, c)
	}
	if err := rows.Err(); err != nil {
		return CasePage{}, fmt.Errorf("store.SearchCases: %w", err)
	}
	if len(page.Cases) > n {
		page.Cases = page.Cases[:n]
		last := page.Cases[n-1]
		val := ""
		switch col {
		case "updated_at":
			val = last.UpdatedAt.UTC().Format(timeLayout)
		case "created_at":
			val = last.CreatedAt.UTC().Format(timeLayout)
		}
		page.Next = base64.RawURLEncoding.EncodeToString([]byte(string(cq.Sort) + "|" + val + "|" + last.ID))
	}
	return page, nil
}

// fewMatches reports whether PostgreSQL estimates that few cases match
// tsq: fewer than twice sqrt(page × cases), where fetching every match
// through the GIN index and sorting them reads fewer rows than walking the
// cases in order until a page is full (page × cases / matches rows). The
// estimate is the planner's, from the statistics of the keys (a key not
// among the most common is rarer than all of them).
func (q *queries) fewMatches(ctx context.Context, tsq string, page int) (bool, error) {
	var total float64
	if err := q.queryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'cases'::regclass`).Scan(&total); err != nil {
		return false, err
	}
	if total <= 0 { // never analyzed: a new database, small
		return true, nil
	}
	var plan []byte
	if err := q.queryRow(ctx, `EXPLAIN (FORMAT JSON) SELECT 1 FROM cases WHERE search_keys @@ ?::tsquery`, tsq).Scan(&plan); err != nil {
		return false, err
	}
	var p []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		}
	}
	if err := json.Unmarshal(plan, &p); err != nil || len(p) != 1 {
		return false, fmt.Errorf("plan estimate: %q", plan)
	}
	return p[0].Plan.Rows < 2*math.Sqrt(float64(page+1)*total), nil
}

func decodeSearchCursor(s string) (CaseSort, string, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", "", "", ErrInvalid
	}
	parts := strings.SplitN(string(b), "|", 3)
	if len(parts) != 3 || parts[2] == "" {
		return "", "", "", ErrInvalid
	}
	return CaseSort(parts[0]), parts[1], parts[2], nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// pgKeys is how PostgreSQL writes the keys of a case: a tsvector of exact
// lexemes from one text[] parameter.
const pgKeys = `array_to_tsvector(?::text[])`

// sqliteKeys returns the keys as case_search_docs holds them (a JSON
// array, which the FTS5 tokenizer splits into one token a key).
func sqliteKeys(keys []string) string {
	b, _ := json.Marshal(keys) // strings of key bytes only
	return string(b)
}

// setSearchKeys sets the keys of a case on SQLite (PostgreSQL writes them
// with the case row: see CreateCase, UpdateCase).
func (q *queries) setSearchKeys(ctx context.Context, caseID string, keys []string) error {
	if q.s.dialect == Postgres {
		if _, err := q.exec(ctx, `UPDATE cases SET search_keys = `+pgKeys+` WHERE case_id = ?`, keys, caseID); err != nil {
			return fmt.Errorf("search keys: %w", err)
		}
		return nil
	}
	if _, err := q.exec(ctx, `INSERT INTO case_search_docs (case_id, keys) VALUES (?, ?)
		ON CONFLICT (case_id) DO UPDATE SET keys = excluded.keys`, caseID, sqliteKeys(keys)); err != nil {
		return fmt.Errorf("search keys: %w", err)
	}
	return nil
}

// dropSearchKeys empties the index of a case (erasure).
func (q *queries) dropSearchKeys(ctx context.Context, caseID string) error {
	stmt := `DELETE FROM case_search_docs WHERE case_id = ?`
	if q.s.dialect == Postgres {
		stmt = `UPDATE cases SET search_keys = NULL WHERE case_id = ? AND search_keys IS NOT NULL`
	}
	if _, err := q.exec(ctx, stmt, caseID); err != nil {
		return fmt.Errorf("search keys: %w", err)
	}
	return nil
}

func (q *queries) ReplaceSearchKeys(ctx context.Context, caseID string, keys []string) error {
	var erased time.Time
	if err := q.queryRow(ctx, `SELECT erased_at FROM cases WHERE case_id = ?`, caseID).Scan(tc(&erased)); err != nil {
		return fmt.Errorf("store.ReplaceSearchKeys: %q: %w", caseID, notFound(err))
	}
	if !erased.IsZero() {
		return fmt.Errorf("store.ReplaceSearchKeys: %q: %w", caseID, ErrErased)
	}
	keys, err := indexKeys(keys)
	if err != nil {
		return fmt.Errorf("store.ReplaceSearchKeys: %w", err)
	}
	if err := q.setSearchKeys(ctx, caseID, keys); err != nil {
		return fmt.Errorf("store.ReplaceSearchKeys: %w", err)
	}
	return nil
}

func (q *queries) SearchIndexVersion(ctx context.Context) (int, error) {
	var v int64
	err := q.queryRow(ctx, `SELECT key_version FROM case_search_meta WHERE id = 1`).Scan(&v)
	if err != nil {
		if notFound(err) == ErrNotFound {
			return 0, nil
		}
		return 0, fmt.Errorf("store.SearchIndexVersion: %w", err)
	}
	return int(v), nil
}

func (q *queries) SetSearchIndexVersion(ctx context.Context, version int) error {
	if _, err := q.exec(ctx, `INSERT INTO case_search_meta (id, key_version) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET key_version = excluded.key_version`, version); err != nil {
		return fmt.Errorf("store.SetSearchIndexVersion: %w", err)
	}
	return nil
}

// casesPerInsert bounds a multi-row INSERT of cases (9 values a row).
const casesPerInsert = 200

func (q *queries) CreateCases(ctx context.Context, cs []NewCase) (BulkResult, error) {
	return q.createCases(ctx, cs, nil)
}

// CreateCasesMarked is CreateCases then MarkMatchPending(pending): on
// PostgreSQL in one statement (the marks go with the first chunk of
// cases), one round trip rather than two for a received batch.
func (q *queries) CreateCasesMarked(ctx context.Context, cs []NewCase, pending []PendingMatch) (BulkResult, error) {
	for _, p := range pending {
		if p.CaseID == "" {
			return BulkResult{}, fmt.Errorf("store.CreateCasesMarked: case id is required: %w", ErrInvalid)
		}
	}
	return q.createCases(ctx, cs, pending)
}

func (q *queries) createCases(ctx context.Context, cs []NewCase, pending []PendingMatch) (BulkResult, error) {
	var res BulkResult
	seen := make(map[string]bool, len(cs))
	for i := range cs {
		c := &cs[i]
		if c.ID == "" || c.Origin == "" || c.Type == "" || c.Status == "" || len(c.Document) == 0 {
			return res, fmt.Errorf("store.CreateCases: case %d: id, origin, type, status and document are required: %w", i, ErrInvalid)
		}
		if c.Version == 0 {
			c.Version = 1
		}
		if c.Version < 1 {
			return res, fmt.Errorf("store.CreateCases: case %q: version %d: %w", c.ID, c.Version, ErrInvalid)
		}
		if seen[c.ID] {
			return res, fmt.Errorf("store.CreateCases: case %q given twice: %w", c.ID, ErrInvalid)
		}
		seen[c.ID] = true
	}
	keys := make([][]string, len(cs))
	for i := range cs {
		var err error
		if keys[i], err = indexKeys(cs[i].SearchKeys); err != nil {
			return res, fmt.Errorf("store.CreateCases: case %q: %w", cs[i].ID, err)
		}
	}
	for start := 0; start < len(cs); start += casesPerInsert {
		chunk := cs[start:min(start+casesPerInsert, len(cs))]
		if q.s.dialect == Postgres {
			// One statement: the cases held already are those it did
			// not insert.
			created, err := q.createCasesPG(ctx, chunk, keys[start:start+len(chunk)], pending)
			if err != nil {
				return res, err
			}
			pending = nil
			for _, c := range chunk {
				if created[c.ID] {
					res.Created = append(res.Created, c.ID)
				} else {
					res.Existing = append(res.Existing, c.ID)
				}
			}
			continue
		}
		ids := make([]string, len(chunk))
		for i, c := range chunk {
			ids[i] = c.ID
		}
		exists, err := q.CasesHeld(ctx, ids)
		if err != nil {
			return res, fmt.Errorf("store.CreateCases: %w", err)
		}
		var fresh []int
		for i, c := range chunk {
			if exists[c.ID] {
				res.Existing = append(res.Existing, c.ID)
			} else {
				fresh = append(fresh, start+i)
			}
		}
		if len(fresh) == 0 {
			continue
		}
		// SQLite: the writer excludes every other, so the check holds.
		var cb, vb, kb strings.Builder
		cargs := make([]any, 0, 9*len(fresh))
		vargs := make([]any, 0, 5*len(fresh))
		var kargs []any
		cb.WriteString(`INSERT INTO cases (case_id, origin, type, status, version, document, created_at, updated_at) VALUES `)
		vb.WriteString(`INSERT INTO case_versions (case_id, version, status, created_at) VALUES `)
		kb.WriteString(`INSERT INTO case_search_docs (case_id, keys) VALUES `)
		for i, ci := range fresh {
			c := &cs[ci]
			if i > 0 {
				cb.WriteString(", ")
				vb.WriteString(", ")
				kb.WriteString(", ")
			}
			at := tv(q.s.now(c.At))
			cargs = append(cargs, c.ID, c.Origin, c.Type, c.Status, c.Version, c.Document, at, at)
			cb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			kb.WriteString("(?, ?)")
			kargs = append(kargs, c.ID, sqliteKeys(keys[ci]))
			vb.WriteString("(?, ?, ?, ?)")
			vargs = append(vargs, c.ID, c.Version, c.Status, at) // the document: the case's (versionDoc)
			res.Created = append(res.Created, c.ID)
		}
		if _, err := q.exec(ctx, cb.String(), cargs...); err != nil {
			return res, fmt.Errorf("store.CreateCases: %w", err)
		}
		if _, err := q.exec(ctx, vb.String(), vargs...); err != nil {
			return res, fmt.Errorf("store.CreateCases: versions: %w", err)
		}
		if _, err := q.exec(ctx, kb.String(), kargs...); err != nil {
			return res, fmt.Errorf("store.CreateCases: search keys: %w", err)
		}
	}
	if len(pending) > 0 { // SQLite, or no case to create
		if err := q.MarkMatchPending(ctx, pending); err != nil {
			return res, err
		}
	}
	return res, nil
}

// createCasesPG writes the cases cs that are not held yet, with their
// first versions, in one statement on PostgreSQL, and returns the ids it
// created: the rows as arrays (each case's search keys as one
// space-separated text: keys hold no space), data-modifying CTEs for the
// cases, their versions and their range keys (rangeKeysOf), and, when
// given, the match-pending marks
// pending (as MarkMatchPending writes them). A case held already (or created meanwhile by
// another transaction: ON CONFLICT waits for its commit) is left as it is,
// with no version written. One round trip, and one statement text whatever
// the batch size (parsed and planned once per connection).
func (q *queries) createCasesPG(ctx context.Context, cs []NewCase, keys [][]string, pending []PendingMatch) (map[string]bool, error) {
	n := len(cs)
	id, origin, typ, status, ks := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	at := make([]time.Time, n) // bound binary (pgTimes)
	version := make([]int64, n)
	doc := make([][]byte, n)
	for i := range cs {
		c := &cs[i]
		id[i], origin[i], typ[i], status[i], version[i], doc[i] = c.ID, c.Origin, c.Type, c.Status, c.Version, c.Document
		at[i], ks[i] = q.s.now(c.At), strings.Join(keys[i], " ")
	}
	// The documents go laid end to end in one bytea, each cut from it by
	// offset and length (packBytes: a bytea[] of 200 documents was
	// copied several times over in its encoding).
	blob, cut := packBytes(doc)
	defer putBlob(blob)
	created := make(map[string]bool, n)
	scan := func(rows *sqlx.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		created[id] = true
		return nil
	}
	// The range keys of each case (rangeKeysOf), inserted for the cases
	// the statement creates.
	var rkCase, rkKey []string
	for i := range cs {
		for _, k := range rangeKeysOf(keys[i]) {
			rkCase, rkKey = append(rkCase, cs[i].ID), append(rkKey, k)
		}
	}
	args := []any{rkCase, rkKey, id, origin, typ, status, version, cut[0].at, cut[0].len, at, ks, blob}
	marks := ""
	if len(pending) > 0 {
		pids, pversions := make([]string, len(pending)), make([]int64, len(pending))
		for i, p := range pending {
			pids[i], pversions[i] = p.CaseID, p.Version
		}
		args = append(args, pids, pversions)
		marks = `, mp AS (
			INSERT INTO match_pending (case_id, version)
			SELECT case_id, MAX(version) FROM unnest(?::text[], ?::bigint[]) AS u(case_id, version)
			GROUP BY case_id ORDER BY case_id
			ON CONFLICT (case_id) DO UPDATE SET version = excluded.version
			WHERE excluded.version > match_pending.version
		)`
	}
	if err := q.eachRow(ctx, scan, `WITH r AS (
			SELECT * FROM unnest(?::text[], ?::text[]) AS r(case_id, key)
		), c AS (
			SELECT u.case_id, u.origin, u.type, u.status, u.version, substring(b.blob FROM u.doc_at FOR u.doc_len) AS document,
				u.at, u.keys, u.pos
			FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::int[], ?::int[], ?::timestamptz[], ?::text[])
				WITH ORDINALITY AS u(case_id, origin, type, status, version, doc_at, doc_len, at, keys, pos),
				(SELECT ?::bytea AS blob) b
		), ins AS (
			INSERT INTO cases (case_id, origin, type, status, version, document, created_at, updated_at, search_keys)
			SELECT case_id, origin, type, status, version, document, at, at, array_to_tsvector(string_to_array(keys, ' '))
			FROM c ORDER BY pos
			ON CONFLICT (case_id) DO NOTHING
			RETURNING case_id
		), ver AS (
			INSERT INTO case_versions (case_id, version, status, created_at)
			SELECT c.case_id, c.version, c.status, c.at FROM c JOIN ins ON ins.case_id = c.case_id ORDER BY c.pos
		), rk AS (
			INSERT INTO case_range_keys (key, case_id)
			SELECT r.key, r.case_id FROM r JOIN ins ON ins.case_id = r.case_id
		)`+marks+`
		SELECT case_id FROM ins`, args...); err != nil {
		return nil, fmt.Errorf("store.CreateCases: %w", err)
	}
	if len(created) == n {
		q.s.wroteSearchKeys(keys...)
	} else {
		for i := range cs {
			if created[cs[i].ID] {
				q.s.wroteSearchKeys(keys[i])
			}
		}
	}
	return created, nil
}

// The Store forms: reads on the pool, writes in their own transaction.

func (s *sqlStore) SearchCases(ctx context.Context, q CaseQuery) (CasePage, error) {
	return s.read().SearchCases(ctx, q)
}

func (s *sqlStore) SearchIndexVersion(ctx context.Context) (int, error) {
	return s.read().SearchIndexVersion(ctx)
}

func (s *sqlStore) ReplaceSearchKeys(ctx context.Context, caseID string, keys []string) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.ReplaceSearchKeys(ctx, caseID, keys) })
	return err
}

func (s *sqlStore) SetSearchIndexVersion(ctx context.Context, version int) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.SetSearchIndexVersion(ctx, version) })
	return err
}

func (s *sqlStore) CreateCases(ctx context.Context, cs []NewCase) (BulkResult, error) {
	return write(ctx, s, func(q *queries) (BulkResult, error) { return q.CreateCases(ctx, cs) })
}

func (s *sqlStore) CreateCasesMarked(ctx context.Context, cs []NewCase, pending []PendingMatch) (BulkResult, error) {
	return write(ctx, s, func(q *queries) (BulkResult, error) { return q.CreateCasesMarked(ctx, cs, pending) })
}

func (r readOnly) SearchCases(ctx context.Context, q CaseQuery) (CasePage, error) {
	return r.s.SearchCases(ctx, q)
}

func (r readOnly) SearchIndexVersion(ctx context.Context) (int, error) {
	return r.s.SearchIndexVersion(ctx)
}

// Analyze refreshes the planner's statistics after a bulk load (the search
// index's selectivity changes the plans) and, on PostgreSQL, vacuums, so
// that the index answers from itself (what autovacuum does in time).
func Analyze(ctx context.Context, s Store) error {
	ss, ok := s.(*sqlStore)
	if !ok {
		return fmt.Errorf("store.Analyze: not a store of this package: %w", ErrInvalid)
	}
	stmt := `ANALYZE`
	if ss.dialect == Postgres {
		stmt = `VACUUM ANALYZE`
	}
	if _, err := ss.db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("store.Analyze: %w", err)
	}
	return nil
}
