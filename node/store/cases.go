package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

const caseCols = `case_id, origin, type, status, version, document, created_at, updated_at, erased_at, erase_reason`

type scanner interface{ Scan(dest ...any) error }

func scanCase(r scanner) (Case, error) {
	var c Case
	err := r.Scan(&c.ID, &c.Origin, &c.Type, &c.Status, &c.Version, &c.Document,
		tc(&c.CreatedAt), tc(&c.UpdatedAt), tc(&c.ErasedAt), sc(&c.EraseReason))
	return c, err
}

func (q *queries) CreateCase(ctx context.Context, c NewCase) (Case, error) {
	if c.ID == "" || c.Origin == "" || c.Type == "" || c.Status == "" || len(c.Document) == 0 {
		return Case{}, fmt.Errorf("store.CreateCase: id, origin, type, status and document are required: %w", ErrInvalid)
	}
	if c.Version == 0 {
		c.Version = 1
	}
	if c.Version < 1 {
		return Case{}, fmt.Errorf("store.CreateCase: version %d: %w", c.Version, ErrInvalid)
	}
	keys, err := indexKeys(c.SearchKeys)
	if err != nil {
		return Case{}, fmt.Errorf("store.CreateCase: %w", err)
	}
	at := q.s.now(c.At)
	ins := `INSERT INTO cases (case_id, origin, type, status, version, document, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (case_id) DO NOTHING`
	args := []any{c.ID, c.Origin, c.Type, c.Status, c.Version, c.Document, tv(at), tv(at)}
	if q.s.dialect == Postgres { // the keys are a column of the case (see setSearchKeys)
		ins = `INSERT INTO cases (case_id, origin, type, status, version, document, created_at, updated_at, search_keys)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ` + pgKeys + `) ON CONFLICT (case_id) DO NOTHING`
		args = append(args, keys)
	}
	n, err := q.exec(ctx, ins, args...)
	if err != nil {
		return Case{}, fmt.Errorf("store.CreateCase: %w", err)
	}
	if n == 0 {
		return Case{}, fmt.Errorf("store.CreateCase: case %q: %w", c.ID, ErrDuplicate)
	}
	q.s.wroteSearchKeys(keys)
	if rk := rangeKeysOf(keys); q.s.dialect == Postgres && len(rk) > 0 {
		if _, err := q.exec(ctx, `INSERT INTO case_range_keys (key, case_id) SELECT k, ? FROM unnest(?::text[]) AS k`, c.ID, rk); err != nil {
			return Case{}, fmt.Errorf("store.CreateCase: range keys: %w", err)
		}
	}
	if _, err := q.exec(ctx, `INSERT INTO case_versions (case_id, version, status, created_at) VALUES (?, ?, ?, ?)`,
		c.ID, c.Version, c.Status, tv(at)); err != nil {
		return Case{}, fmt.Errorf("store.CreateCase: version: %w", err)
	}
	if q.s.dialect != Postgres {
		if err := q.setSearchKeys(ctx, c.ID, keys); err != nil {
			return Case{}, fmt.Errorf("store.CreateCase: %w", err)
		}
	}
	return Case{ID: c.ID, Origin: c.Origin, Type: c.Type, Status: c.Status, Version: c.Version,
		Document: c.Document, CreatedAt: at, UpdatedAt: at}, nil
}

func (q *queries) UpdateCase(ctx context.Context, u CaseUpdate) (Case, error) {
	if u.ID == "" || len(u.Document) == 0 || u.ExpectedVersion < 1 {
		return Case{}, fmt.Errorf("store.UpdateCase: id, expected version and document are required: %w", ErrInvalid)
	}
	if u.Version == 0 {
		u.Version = u.ExpectedVersion + 1
	}
	if u.Version <= u.ExpectedVersion {
		return Case{}, fmt.Errorf("store.UpdateCase: new version %d must be above %d: %w", u.Version, u.ExpectedVersion, ErrInvalid)
	}
	keys, err := indexKeys(u.SearchKeys)
	if err != nil {
		return Case{}, fmt.Errorf("store.UpdateCase: %w", err)
	}
	at := q.s.now(u.At)
	// The version being replaced keeps its document in its own row from
	// now on (it was held in the case's row only: see versionDoc), if
	// the case is at that version; otherwise the UPDATE below fails.
	if _, err := q.exec(ctx, `UPDATE case_versions SET document = (SELECT c.document FROM cases c
		WHERE c.case_id = case_versions.case_id AND c.version = case_versions.version AND c.erased_at IS NULL)
		WHERE case_id = ? AND version = ? AND document IS NULL AND document_sha256 IS NULL`, u.ID, u.ExpectedVersion); err != nil {
		return Case{}, fmt.Errorf("store.UpdateCase: previous version: %w", err)
	}
	set, args := "", []any{u.Version, nv(u.Type), nv(u.Status), u.Document, tv(at)}
	if q.s.dialect == Postgres { // the keys are a column of the case
		set = `, search_keys = ` + pgKeys
		args = append(args, keys)
	}
	n, err := q.exec(ctx, `UPDATE cases SET version = ?, type = COALESCE(?, type), status = COALESCE(?, status),
		document = ?, updated_at = ?`+set+` WHERE case_id = ? AND version = ? AND erased_at IS NULL`,
		append(args, u.ID, u.ExpectedVersion)...)
	if err != nil {
		return Case{}, fmt.Errorf("store.UpdateCase: %w", err)
	}
	if n == 0 {
		var version int64
		var erased time.Time
		err := q.queryRow(ctx, `SELECT version, erased_at FROM cases WHERE case_id = ?`, u.ID).Scan(&version, tc(&erased))
		switch {
		case err != nil:
			return Case{}, fmt.Errorf("store.UpdateCase: case %q: %w", u.ID, notFound(err))
		case !erased.IsZero():
			return Case{}, fmt.Errorf("store.UpdateCase: case %q: %w", u.ID, ErrErased)
		default:
			return Case{}, fmt.Errorf("store.UpdateCase: case %q is at version %d, not %d: %w", u.ID, version, u.ExpectedVersion, ErrConflict)
		}
	}
	c, err := scanCase(q.queryRow(ctx, `SELECT `+caseCols+` FROM cases WHERE case_id = ?`, u.ID))
	if err != nil {
		return Case{}, fmt.Errorf("store.UpdateCase: %w", err)
	}
	if _, err := q.exec(ctx, `INSERT INTO case_versions (case_id, version, status, created_at, source) VALUES (?, ?, ?, ?, ?)`,
		c.ID, c.Version, c.Status, tv(at), nv(u.Source)); err != nil {
		return Case{}, fmt.Errorf("store.UpdateCase: version: %w", err)
	}
	if q.s.dialect != Postgres {
		if err := q.setSearchKeys(ctx, c.ID, keys); err != nil {
			return Case{}, fmt.Errorf("store.UpdateCase: %w", err)
		}
	}
	q.s.wroteSearchKeys(keys)
	return c, nil
}

func (q *queries) GetCase(ctx context.Context, caseID string) (Case, error) {
	c, err := scanCase(q.queryRow(ctx, `SELECT `+caseCols+` FROM cases WHERE case_id = ?`, caseID))
	if err != nil {
		return Case{}, fmt.Errorf("store.GetCase: %q: %w", caseID, notFound(err))
	}
	return c, nil
}

func (q *queries) LockCase(ctx context.Context, caseID string) (Case, error) {
	lock := ""
	if q.s.dialect == Postgres {
		lock = " FOR UPDATE"
	}
	c, err := scanCase(q.queryRow(ctx, `SELECT `+caseCols+` FROM cases WHERE case_id = ?`+lock, caseID))
	if err != nil {
		return Case{}, fmt.Errorf("store.LockCase: %q: %w", caseID, notFound(err))
	}
	return c, nil
}

// versionDoc is the document of a version: the case's current version
// holds none in its own row (document and document_sha256 NULL) but
// reads the case's, which is written once, in cases; UpdateCase moves it
// into the version's row before the case takes the next. A version erased
// (its case's document erased too) or superseded (document_sha256 set)
// reads NULL.
const versionDoc = `COALESCE(v.document, (SELECT c.document FROM cases c WHERE c.case_id = v.case_id AND c.version = v.version
	AND v.document_sha256 IS NULL))`

const versionCols = `v.case_id, v.version, v.status, ` + versionDoc + `, v.created_at, v.document_sha256, v.source`

func scanVersion(r scanner) (CaseVersion, error) {
	var v CaseVersion
	err := r.Scan(&v.CaseID, &v.Version, &v.Status, &v.Document, tc(&v.CreatedAt), sc(&v.SHA256), sc(&v.Source))
	return v, err
}

func (q *queries) SupersedeVersions(ctx context.Context, caseID string, sp Supersession) (SupersessionResult, error) {
	var res SupersessionResult
	if caseID == "" || sp.Below < 1 {
		return res, fmt.Errorf("store.SupersedeVersions: case id and version are required: %w", ErrInvalid)
	}
	rows, err := q.query(ctx, `SELECT version, document FROM case_versions
		WHERE case_id = ? AND version < ? AND document IS NOT NULL`, caseID, sp.Below)
	if err != nil {
		return res, fmt.Errorf("store.SupersedeVersions: %w", err)
	}
	sums := map[int64]string{}
	for rows.Next() {
		var v int64
		var doc []byte
		if err := rows.Scan(&v, &doc); err != nil {
			rows.Close()
			return res, fmt.Errorf("store.SupersedeVersions: %w", err)
		}
		h := sha256.Sum256(doc)
		sums[v] = hex.EncodeToString(h[:])
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("store.SupersedeVersions: %w", err)
	}
	for v, sum := range sums {
		n, err := q.exec(ctx, `UPDATE case_versions SET document = NULL, document_sha256 = ? WHERE case_id = ? AND version = ?`, sum, caseID, v)
		if err != nil {
			return res, fmt.Errorf("store.SupersedeVersions: %w", err)
		}
		res.Versions += n
	}
	if len(sp.InboxKinds) > 0 && sp.InboxBefore > 0 {
		args := []any{caseID, sp.InboxBefore}
		for _, k := range sp.InboxKinds {
			args = append(args, k)
		}
		if res.InboxEnvelopes, err = q.exec(ctx, `UPDATE inbox SET envelope = NULL WHERE case_id = ? AND id < ?
			AND processed_at IS NOT NULL AND envelope IS NOT NULL AND kind IN (`+placeholders(len(sp.InboxKinds))+`)`, args...); err != nil {
			return res, fmt.Errorf("store.SupersedeVersions: inbox: %w", err)
		}
	}
	if res.Versions+res.InboxEnvelopes > 0 {
		q.erased = true
	}
	return res, nil
}

func (q *queries) GetCaseVersion(ctx context.Context, caseID string, version int64) (CaseVersion, error) {
	v, err := scanVersion(q.queryRow(ctx, `SELECT `+versionCols+` FROM case_versions v WHERE v.case_id = ? AND v.version = ?`, caseID, version))
	if err != nil {
		return CaseVersion{}, fmt.Errorf("store.GetCaseVersion: %q v%d: %w", caseID, version, notFound(err))
	}
	return v, nil
}

func (q *queries) ListCaseVersions(ctx context.Context, caseID string) ([]CaseVersion, error) {
	rows, err := q.query(ctx, `SELECT `+versionCols+` FROM case_versions v WHERE v.case_id = ? ORDER BY v.version`, caseID)
	if err != nil {
		return nil, fmt.Errorf("store.ListCaseVersions: %w", err)
	}
	defer rows.Close()
	var out []CaseVersion
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("store.ListCaseVersions: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.ListCaseVersions: %w", err)
	}
	return out, nil
}

func (q *queries) ListCases(ctx context.Context, f CaseFilter) (CasePage, error) {
	n := limit(f.Limit, 100)
	var w where
	w.addIf(f.Status != "", "status = ?", f.Status)
	w.addIf(f.Type != "", "type = ?", f.Type)
	w.addIf(f.Origin != "", "origin = ?", f.Origin)
	w.addIf(!f.IncludeErased, "erased_at IS NULL")
	w.addIf(f.IncludeErased, "(erased_at IS NULL OR type <> '')")
	// The cursor and UpdatedSince are both lower bounds of (updated_at,
	// case_id): only the higher is written. The cursor is a row
	// comparison, which both databases take as the start of the index
	// range; written "a > ? OR (a = ? AND b > ?)" it was only a filter,
	// and a page read (and discarded) every row from the start of the
	// listing (matching's sync paged through the tens of thousands of
	// cases of a crisis list quadratically). One bound, not both: without
	// statistics PostgreSQL took the two for a selective condition and
	// sorted all they selected rather than walk the index.
	var (
		at     time.Time
		id     string
		cursor = f.Cursor != ""
	)
	if cursor {
		var err error
		if at, id, err = decodeCaseCursor(f.Cursor); err != nil {
			return CasePage{}, fmt.Errorf("store.ListCases: %w", err)
		}
		cursor = !at.Before(f.UpdatedSince)
	}
	if cursor {
		w.add("(updated_at, case_id) > (?, ?)", tv(at), id)
	} else {
		w.addIf(!f.UpdatedSince.IsZero(), "updated_at >= ?", tv(f.UpdatedSince))
	}
	cols := strings.Replace(caseCols, "document", "NULL", 1)
	if f.IncludeDocuments {
		cols = caseCols
	}
	rows, err := q.query(ctx, `SELECT `+cols+` FROM cases`+w.String()+
		fmt.Sprintf(` ORDER BY updated_at, case_id LIMIT %d`, n+1), w.args...)
	if err != nil {
		return CasePage{}, fmt.Errorf("store.ListCases: %w", err)
	}
	defer rows.Close()
	var page CasePage
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return CasePage{}, fmt.Errorf("store.ListCases: %w", err)
		}
		page.Cases = append(page.Cases, c)
	}
	if err := rows.Err(); err != nil {
		return CasePage{}, fmt.Errorf("store.ListCases: %w", err)
	}
	if len(page.Cases) > n {
		page.Cases = page.Cases[:n]
		last := page.Cases[n-1]
		page.Next = encodeCaseCursor(last.UpdatedAt, last.ID)
	}
	return page, nil
}

func encodeCaseCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(timeLayout) + "|" + id))
}

func decodeCaseCursor(s string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("bad cursor: %w", ErrInvalid)
	}
	ts, id, ok := strings.Cut(string(b), "|")
	at, err := time.Parse(timeLayout, ts)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", fmt.Errorf("bad cursor: %w", ErrInvalid)
	}
	return at, id, nil
}

func (q *queries) PurgeTombstones(ctx context.Context, before time.Time) (int64, error) {
	if before.IsZero() {
		return 0, fmt.Errorf("store.PurgeTombstones: a time is required: %w", ErrInvalid)
	}
	n, err := q.exec(ctx, `DELETE FROM cases WHERE type = '' AND erased_at IS NOT NULL AND erased_at < ?
		AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.case_id = cases.case_id AND i.processed_at IS NULL)`, tv(before))
	if err != nil {
		return 0, fmt.Errorf("store.PurgeTombstones: %w", err)
	}
	return n, nil
}

func (q *queries) EraseCase(ctx context.Context, caseID string, e Erasure) (ErasureResult, error) {
	if caseID == "" || e.Reason == "" {
		return ErasureResult{}, fmt.Errorf("store.EraseCase: case id and reason are required: %w", ErrInvalid)
	}
	at := q.s.now(e.At)
	var res ErasureResult
	var erased time.Time
	lock := "" // serialised with LockCase (see there)
	if q.s.dialect == Postgres {
		lock = " FOR UPDATE"
	}
	err := q.queryRow(ctx, `SELECT erased_at FROM cases WHERE case_id = ?`+lock, caseID).Scan(tc(&erased))
	switch {
	case err == nil:
		res.CaseFound = true
	case !errors.Is(notFound(err), ErrNotFound):
		return res, fmt.Errorf("store.EraseCase: %w", err)
	}
	q.erased = true
	if !res.CaseFound && e.Origin != "" {
		n, err := q.exec(ctx, `INSERT INTO cases (case_id, origin, type, status, version, created_at, updated_at, erased_at, erase_reason)
			VALUES (?, ?, '', 'closed_withdrawn', 1, ?, ?, ?, ?) ON CONFLICT (case_id) DO NOTHING`,
			caseID, e.Origin, tv(at), tv(at), tv(at), e.Reason)
		if err != nil {
			return res, fmt.Errorf("store.EraseCase: tombstone: %w", err)
		}
		if n == 0 { // created since the read above (PostgreSQL: ON CONFLICT waited for its commit)
			return res, fmt.Errorf("store.EraseCase: case %q was created meanwhile: %w", caseID, ErrConflict)
		}
		res.Tombstoned = true
	}
	if res.CaseFound && erased.IsZero() {
		if _, err := q.exec(ctx, `UPDATE cases SET document = NULL, erased_at = ?, erase_reason = ?, updated_at = ? WHERE case_id = ?`,
			tv(at), e.Reason, tv(at), caseID); err != nil {
			return res, fmt.Errorf("store.EraseCase: %w", err)
		}
	}
	if err := q.dropSearchKeys(ctx, caseID); err != nil {
		return res, fmt.Errorf("store.EraseCase: %w", err)
	}
	// The current version's document was the case's (versionDoc), erased
	// above: counted as a version's document erased, as when it was held
	// twice.
	vargs := []any{caseID}
	current := ""
	if res.CaseFound && erased.IsZero() {
		current = ` OR (document_sha256 IS NULL AND version = (SELECT version FROM cases WHERE case_id = ?))`
		vargs = append(vargs, caseID)
	}
	if res.Versions, err = q.exec(ctx, `UPDATE case_versions SET document = NULL WHERE case_id = ? AND (document IS NOT NULL`+current+`)`, vargs...); err != nil {
		return res, fmt.Errorf("store.EraseCase: versions: %w", err)
	}
	// A relay.forward not yet processed is another member's chain this
	// node carries (a withdrawal to another member, above all): it is
	// forwarded, and its bytes dropped, when processed. On PostgreSQL one
	// may commit while this erasure runs, after the caller forwarded those
	// it saw.
	if res.InboxEnvelopes, err = q.exec(ctx, `UPDATE inbox SET envelope = NULL WHERE case_id = ? AND envelope IS NOT NULL
		AND NOT (kind = 'relay.forward' AND processed_at IS NULL)`, caseID); err != nil {
		return res, fmt.Errorf("store.EraseCase: inbox: %w", err)
	}
	// Undelivered rows: cancelled, unless of a kind to keep (the withdrawal).
	// A row in flight keeps its lease: the attempt under way may still
	// deliver it, and ClaimDue holds later rows (the withdrawal) until it is
	// answered or the lease ends (FLX-DLV-008, FLX-WDR-007).
	cancel := `UPDATE outbox SET state = 'cancelled',
		lease_until = CASE WHEN state = 'in_flight' THEN lease_until END, last_error = ?, updated_at = ?
		WHERE case_id = ? AND state IN ('queued', 'in_flight', 'dead')`
	args := []any{"cancelled: case erased (" + e.Reason + ")", tv(at), caseID}
	if len(e.KeepPendingKinds) > 0 {
		cancel += ` AND kind NOT IN (` + placeholders(len(e.KeepPendingKinds)) + `)`
		for _, k := range e.KeepPendingKinds {
			args = append(args, k)
		}
	}
	cancelled, err := q.ids(ctx, cancel+` RETURNING id`, args...)
	if err != nil {
		return res, fmt.Errorf("store.EraseCase: outbox: %w", err)
	}
	res.OutboxCancelled = int64(len(cancelled))
	// Then the envelopes (their own table, migration 0049) of every row
	// delivered or cancelled, those just cancelled included: after the
	// cancellation, so that a row delivered meanwhile loses its envelope
	// too. Counted as before: each row cancelled here, and each other row
	// whose envelope goes.
	dropped, err := q.ids(ctx, `UPDATE outbox_envelopes SET envelope = NULL WHERE envelope IS NOT NULL AND id IN
		(SELECT id FROM outbox WHERE case_id = ? AND state IN ('delivered', 'cancelled')) RETURNING id`, caseID)
	if err != nil {
		return res, fmt.Errorf("store.EraseCase: outbox: %w", err)
	}
	res.OutboxEnvelopes = res.OutboxCancelled
	now := make(map[int64]bool, len(cancelled))
	for _, id := range cancelled {
		now[id] = true
	}
	for _, id := range dropped {
		if !now[id] {
			res.OutboxEnvelopes++
		}
	}
	if res.Matches, err = q.eraseMatches(ctx, caseID); err != nil {
		return res, fmt.Errorf("store.EraseCase: %w", err)
	}
	if res.HeldDocuments, err = q.eraseHeld(ctx, caseID, at); err != nil {
		return res, fmt.Errorf("store.EraseCase: %w", err)
	}
	return res, nil
}
