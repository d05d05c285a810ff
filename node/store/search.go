package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"time"
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

// CaseSearch keeps the search index. The keys of a case are written with
// it by CreateCase, CreateCases and UpdateCase (NewCase.SearchKeys,
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

// denseKeys is the number of index entries from which a condition counts
// as dense (see SearchCases); counting stops there, so the estimate costs
// at most that many index entries per condition.
const denseKeys = 5000

func (q *queries) SearchCases(ctx context.Context, cq CaseQuery) (CasePage, error) {
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
		return CasePage{}, fmt.Errorf("store.SearchCases: sort %q: %w", cq.Sort, ErrInvalid)
	}
	desc = strings.HasPrefix(string(cq.Sort), "-")
	// The cases holding the keys are found first, through the (key,
	// case_id) index, and only then joined, filtered and sorted: left to
	// itself, PostgreSQL walks the cases newest first and probes each one's
	// keys, which over a million cases takes seconds for a rare name.
	type cond struct {
		sql  string
		args []any
	}
	var conds []cond
	for _, g := range cq.AllOf {
		if len(g) == 0 || len(g) > maxKeysPerGroup {
			return CasePage{}, fmt.Errorf("store.SearchCases: a key group needs 1 to %d keys: %w", maxKeysPerGroup, ErrInvalid)
		}
		conds = append(conds, cond{`%[1]skey IN (` + placeholders(len(g)) + `)`, anys(g)})
	}
	for _, r := range cq.Ranges {
		if r.From == "" || r.To == "" || r.From > r.To {
			return CasePage{}, fmt.Errorf("store.SearchCases: key range %q..%q: %w", r.From, r.To, ErrInvalid)
		}
		conds = append(conds, cond{`%[1]skey >= ? AND %[1]skey <= ?`, []any{r.From, r.To}})
	}
	// The most selective condition, if it holds fewer than denseKeys
	// entries, is materialized and the others probed per candidate; when
	// every condition is dense (an age range, a common word), matches are
	// dense too and walking the cases in order finds a page soonest.
	best, bestN := -1, int64(denseKeys)
	for i, cd := range conds {
		var n int64
		if err := q.queryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM case_search WHERE %s LIMIT %d) x`,
			fmt.Sprintf(cd.sql, ""), denseKeys), cd.args...).Scan(&n); err != nil {
			return CasePage{}, fmt.Errorf("store.SearchCases: %w", err)
		}
		if n < bestN {
			best, bestN = i, n
		}
	}
	from := ` FROM cases c`
	with := ""
	var w where
	if best >= 0 {
		with = `WITH m AS MATERIALIZED (SELECT DISTINCT case_id FROM case_search WHERE ` + fmt.Sprintf(conds[best].sql, "") + `) `
		from = ` FROM m JOIN cases c ON c.case_id = m.case_id`
		w.args = conds[best].args
	}
	for i, cd := range conds {
		if i != best {
			// A scalar subquery with LIMIT is probed per candidate through
			// (case_id, key); an EXISTS may be planned as a hash semi-join
			// that reads every entry of a dense condition (a common family
			// name beside a birth year took 100 ms at 100,000 cases).
			// When every condition is dense, the planner chooses (a hash
			// semi-join finds rare combinations of common keys soonest).
			probe := `EXISTS (SELECT 1 FROM case_search s WHERE s.case_id = c.case_id AND ` + fmt.Sprintf(cd.sql, "s.") + `)`
			if best >= 0 {
				probe = `(SELECT 1 FROM case_search s WHERE s.case_id = c.case_id AND ` + fmt.Sprintf(cd.sql, "s.") + ` LIMIT 1) IS NOT NULL`
			}
			w.add(probe, cd.args...)
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
	w.addIf(!cq.UpdatedSince.IsZero(), "c.updated_at >= ?", tv(cq.UpdatedSince))
	if cq.Cursor != "" {
		s, val, id, err := decodeSearchCursor(cq.Cursor)
		if err != nil || s != cq.Sort {
			return CasePage{}, fmt.Errorf("store.SearchCases: bad cursor: %w", ErrInvalid)
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
				return CasePage{}, fmt.Errorf("store.SearchCases: bad cursor: %w", ErrInvalid)
			}
			w.add("(c."+col+" "+op+" ? OR (c."+col+" = ? AND c.case_id "+op+" ?))", tv(at), tv(at), id)
		}
	}
	order := "c." + col
	if col != "case_id" {
		order += ", c.case_id"
	}
	if desc {
		order = strings.ReplaceAll(order, ",", " DESC,") + " DESC"
	}
	cols := "c." + strings.ReplaceAll(strings.Replace(caseCols, "document", "NULL", 1), ", ", ", c.")
	cols = strings.Replace(cols, "c.NULL", "NULL", 1)
	rows, err := q.query(ctx, with+`SELECT `+cols+from+w.String()+
		fmt.Sprintf(` ORDER BY %s LIMIT %d`, order, n+1), w.args...)
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

// keyRowsPerInsert bounds a multi-row INSERT (2 values a row; SQLite and
// PostgreSQL both take far more bound values than this).
const keyRowsPerInsert = 500

// insertSearchKeys adds the keys of a case (duplicates dropped).
func (q *queries) insertSearchKeys(ctx context.Context, caseID string, keys []string) error {
	return q.insertKeyRows(ctx, keyRows(caseID, keys))
}

type keyRow struct{ key, caseID string }

func keyRows(caseID string, keys []string) []keyRow {
	seen := make(map[string]bool, len(keys))
	out := make([]keyRow, 0, len(keys))
	for _, k := range keys {
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, keyRow{k, caseID})
	}
	return out
}

// keyRowsPerArray bounds one PostgreSQL insert of keys as two arrays.
const keyRowsPerArray = 20000

func (q *queries) insertKeyRows(ctx context.Context, rows []keyRow) error {
	if q.s.dialect == Postgres {
		// Two array parameters and one statement text, whatever the
		// number of rows: prepared once, no thousand-parameter binds.
		for len(rows) > 0 {
			chunk := rows[:min(len(rows), keyRowsPerArray)]
			rows = rows[len(chunk):]
			ks, ids := make([]string, len(chunk)), make([]string, len(chunk))
			for i, r := range chunk {
				ks[i], ids[i] = r.key, r.caseID
			}
			if _, err := q.exec(ctx, `INSERT INTO case_search (key, case_id)
				SELECT * FROM unnest(?::text[], ?::text[]) ON CONFLICT DO NOTHING`, ks, ids); err != nil {
				return fmt.Errorf("search keys: %w", err)
			}
		}
		return nil
	}
	for len(rows) > 0 {
		chunk := rows
		if len(chunk) > keyRowsPerInsert {
			chunk = chunk[:keyRowsPerInsert]
		}
		rows = rows[len(chunk):]
		var sb strings.Builder
		args := make([]any, 0, 2*len(chunk))
		sb.WriteString(`INSERT INTO case_search (key, case_id) VALUES `)
		for i, r := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?)")
			args = append(args, r.key, r.caseID)
		}
		sb.WriteString(` ON CONFLICT DO NOTHING`)
		if _, err := q.exec(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("search keys: %w", err)
		}
	}
	return nil
}

// replaceSearchKeys sets the keys of a case.
func (q *queries) replaceSearchKeys(ctx context.Context, caseID string, keys []string) error {
	if _, err := q.exec(ctx, `DELETE FROM case_search WHERE case_id = ?`, caseID); err != nil {
		return fmt.Errorf("search keys: %w", err)
	}
	return q.insertSearchKeys(ctx, caseID, keys)
}

func (q *queries) ReplaceSearchKeys(ctx context.Context, caseID string, keys []string) error {
	var erased time.Time
	if err := q.queryRow(ctx, `SELECT erased_at FROM cases WHERE case_id = ?`, caseID).Scan(tc(&erased)); err != nil {
		return fmt.Errorf("store.ReplaceSearchKeys: %q: %w", caseID, notFound(err))
	}
	if !erased.IsZero() {
		return fmt.Errorf("store.ReplaceSearchKeys: %q: %w", caseID, ErrErased)
	}
	if err := q.replaceSearchKeys(ctx, caseID, keys); err != nil {
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

// casesPerInsert bounds a multi-row INSERT of cases (8 values a row).
const casesPerInsert = 200

func (q *queries) CreateCases(ctx context.Context, cs []NewCase) (BulkResult, error) {
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
	for start := 0; start < len(cs); start += casesPerInsert {
		chunk := cs[start:min(start+casesPerInsert, len(cs))]
		ids := make([]any, len(chunk))
		for i, c := range chunk {
			ids[i] = c.ID
		}
		rows, err := q.query(ctx, `SELECT case_id FROM cases WHERE case_id IN (`+placeholders(len(ids))+`)`, ids...)
		if err != nil {
			return res, fmt.Errorf("store.CreateCases: %w", err)
		}
		exists := map[string]bool{}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return res, fmt.Errorf("store.CreateCases: %w", err)
			}
			exists[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, fmt.Errorf("store.CreateCases: %w", err)
		}
		var fresh []NewCase
		for _, c := range chunk {
			if exists[c.ID] {
				res.Existing = append(res.Existing, c.ID)
			} else {
				fresh = append(fresh, c)
			}
		}
		if len(fresh) == 0 {
			continue
		}
		var cb, vb strings.Builder
		cargs := make([]any, 0, 8*len(fresh))
		vargs := make([]any, 0, 5*len(fresh))
		cb.WriteString(`INSERT INTO cases (case_id, origin, type, status, version, document, created_at, updated_at) VALUES `)
		vb.WriteString(`INSERT INTO case_versions (case_id, version, status, document, created_at) VALUES `)
		var keys []keyRow
		for i, c := range fresh {
			if i > 0 {
				cb.WriteString(", ")
				vb.WriteString(", ")
			}
			cb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			vb.WriteString("(?, ?, ?, ?, ?)")
			at := tv(q.s.now(c.At))
			cargs = append(cargs, c.ID, c.Origin, c.Type, c.Status, c.Version, c.Document, at, at)
			vargs = append(vargs, c.ID, c.Version, c.Status, c.Document, at)
			keys = append(keys, keyRows(c.ID, c.SearchKeys)...)
			res.Created = append(res.Created, c.ID)
		}
		// A concurrent writer creating one of these ids between the check
		// and here makes the INSERT fail: the whole call rolls back.
		if _, err := q.exec(ctx, cb.String(), cargs...); err != nil {
			return res, fmt.Errorf("store.CreateCases: %w", err)
		}
		if _, err := q.exec(ctx, vb.String(), vargs...); err != nil {
			return res, fmt.Errorf("store.CreateCases: versions: %w", err)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i].key < keys[j].key })
		if err := q.insertKeyRows(ctx, keys); err != nil {
			return res, fmt.Errorf("store.CreateCases: %w", err)
		}
	}
	return res, nil
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
