package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// outboxEnvelope reads the envelope of the outbox row named outbox (NULL
// once dropped): envelopes have a table of their own (migration 0049).
const outboxEnvelope = `(SELECT e.envelope FROM outbox_envelopes e WHERE e.id = outbox.id)`

// outboxHasEnvelope: the row named outbox still has its envelope.
const outboxHasEnvelope = `EXISTS (SELECT 1 FROM outbox_envelopes e WHERE e.id = outbox.id AND e.envelope IS NOT NULL)`

// outboxByJTI names the outbox row whose jti is the one "?": through
// outbox_envelopes' unique index (the outbox has none on PostgreSQL).
const outboxByJTI = `id = (SELECT e.id FROM outbox_envelopes e WHERE e.jti = ?)`

// outboxColsWith is the columns of an OutboxItem with env in the envelope's
// place.
func outboxColsWith(env string) string {
	return `id, destination, case_id, case_version, kind, jti, ` + env + `, seq, state, attempts, next_attempt_at,
	lease_until, claimed_by, last_error, created_at, updated_at, delivered_at, receipt, discloses, withdraws, own_expires_at`
}

var (
	// outboxCols reads a row of the table outbox (not aliased) with its
	// envelope.
	outboxCols = outboxColsWith(outboxEnvelope)
	// outboxHeadCols reads a row without its envelope (NULL).
	outboxHeadCols = outboxColsWith("NULL")
)

// outboxRows scans and closes rows of outboxCols.
func outboxRows(rows *sqlx.Rows) ([]OutboxItem, error) {
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		o, err := scanOutbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

func scanOutbox(r scanner) (OutboxItem, error) {
	var o OutboxItem
	var state string
	err := r.Scan(&o.ID, &o.Destination, &o.CaseID, ic(&o.CaseVersion), &o.Kind, &o.JTI, &o.Envelope, &o.Seq,
		&state, &o.Attempts, tc(&o.NextAttemptAt), tc(&o.LeaseUntil), sc(&o.ClaimedBy), sc(&o.LastError),
		tc(&o.CreatedAt), tc(&o.UpdatedAt), tc(&o.DeliveredAt), &o.Receipt, &o.Discloses, &o.Withdraws, tc(&o.OwnExpiresAt))
	o.State = OutboxState(state)
	return o, err
}

func (q *queries) Enqueue(ctx context.Context, in NewOutboxItem) (OutboxItem, error) {
	if in.Destination == "" || in.Kind == "" || in.JTI == "" || len(in.Envelope) == 0 {
		return OutboxItem{}, fmt.Errorf("store.Enqueue: destination, kind, jti and envelope are required: %w", ErrInvalid)
	}
	if q.s.dialect == Postgres {
		// One statement, the one EnqueueAll sends (prepared once).
		out, err := q.enqueuePG(ctx, "store.Enqueue", []NewOutboxItem{in})
		if err != nil {
			return OutboxItem{}, err
		}
		return out[0], nil
	}
	at := q.s.now(in.At)
	next := at
	if !in.NotBefore.IsZero() {
		next = q.s.now(in.NotBefore)
	}
	// The row's seq follows the highest of its (case, destination): SQLite
	// has one writer, so no other can take the same one meanwhile.
	var id, seq int64
	err := q.queryRow(ctx, `INSERT INTO outbox (destination, case_id, case_version, kind, jti, seq, state,
		attempts, next_attempt_at, created_at, updated_at, discloses, withdraws, own_expires_at)
		VALUES (?, ?, ?, ?, ?, COALESCE((SELECT MAX(seq) FROM outbox WHERE case_id = ? AND destination = ?), 0) + 1, 'queued', 0, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (jti) DO NOTHING RETURNING id, seq`,
		in.Destination, in.CaseID, iv(in.CaseVersion), in.Kind, in.JTI, in.CaseID, in.Destination, tv(next), tv(at), tv(at),
		in.Discloses, in.Withdraws, tv(in.OwnExpiresAt)).Scan(&id, &seq)
	if errors.Is(err, sql.ErrNoRows) {
		return OutboxItem{}, fmt.Errorf("store.Enqueue: jti %q: %w", in.JTI, ErrDuplicate)
	}
	if err != nil {
		return OutboxItem{}, fmt.Errorf("store.Enqueue: %w", err)
	}
	if _, err := q.exec(ctx, `INSERT INTO outbox_envelopes (id, jti, envelope) VALUES (?, ?, ?)`, id, in.JTI, in.Envelope); err != nil {
		return OutboxItem{}, fmt.Errorf("store.Enqueue: envelope: %w", err)
	}
	return OutboxItem{ID: id, Destination: in.Destination, CaseID: in.CaseID, CaseVersion: in.CaseVersion,
		Kind: in.Kind, JTI: in.JTI, Envelope: in.Envelope, Seq: seq, State: Queued,
		NextAttemptAt: next, CreatedAt: at, UpdatedAt: at, Discloses: in.Discloses, Withdraws: in.Withdraws,
		OwnExpiresAt: ownExpiry(in.OwnExpiresAt)}, nil
}

func (q *queries) ClaimDue(ctx context.Context, r ClaimRequest) ([]OutboxItem, error) {
	if r.Worker == "" {
		return nil, fmt.Errorf("store.ClaimDue: worker is required: %w", ErrInvalid)
	}
	now := q.s.now(r.Now)
	lease := r.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	want := limit(r.Limit, 10)
	if q.s.dialect == Postgres {
		return q.claimPG(ctx, r, now, lease, want)
	}
	// Two claims, each an ordered walk of its own partial index that stops
	// at the limit (outbox_lease_idx, outbox_dest_queued_idx /
	// outbox_due_idx): a single query with an OR over both states made the
	// planner sort every due row, which with a queue of tens of thousands
	// cost more than the deliveries themselves. Crashed workers' rows
	// (expired leases) go first.
	out, err := q.claim(ctx, r, now, lease, claimExpired, want)
	if err != nil {
		return nil, err
	}
	if len(out) < want {
		more, err := q.claim(ctx, r, now, lease, claimQueued, want-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].NextAttemptAt.Equal(out[j].NextAttemptAt) {
			return out[i].NextAttemptAt.Before(out[j].NextAttemptAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// claimPG is ClaimDue's two claims in one statement on PostgreSQL, the
// function flx_claim_due (migration 0065): the expired leases first, then
// due queued rows up to what is left of the limit, each the same ordered
// walk of its partial index that stops at its limit (addCaseHead's per-case
// order, with the probe). The two sets are disjoint (in_flight, queued).
// One statement is atomic by itself: the Store form sends it without BEGIN
// and COMMIT (one round trip, not four). The function's plan is made once
// per connection and kept, and reaches the rows it claims by the outbox's
// primary key: the statement sent before updated "WHERE id IN (subquery)",
// which the planner made a hash join over a sequential scan of the whole
// outbox whenever the queue was long (TestClaimReadsNoOutboxRowsItDoesNotTake).
// One statement text whatever the limit and destination, prepared once per
// connection (a statement per limit was planned anew: at 1,000 forwards/s
// 34-44% of the sender's claims were planned).
func (q *queries) claimPG(ctx context.Context, r ClaimRequest, now time.Time, lease time.Duration, want int) ([]OutboxItem, error) {
	// Times bound binary (pgTimes): now is s.now's, UTC in whole µs.
	var dest *string
	if r.Destination != "" {
		dest = &r.Destination
	}
	rows, err := q.query(ctx, `SELECT * FROM flx_claim_due(?::text, ?::timestamptz, ?::timestamptz, ?::text, ?::int)`,
		r.Worker, now.Add(lease), now, dest, want)
	if err != nil {
		return nil, fmt.Errorf("store.ClaimDue: %w", err)
	}
	out, err := outboxRows(rows)
	if err != nil {
		return nil, fmt.Errorf("store.ClaimDue: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].NextAttemptAt.Equal(out[j].NextAttemptAt) {
			return out[i].NextAttemptAt.Before(out[j].NextAttemptAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// addCaseHead keeps per-case order in a claim of outbox row o (SQLite):
// only the head of each (destination, case) may go. A row cancelled by an
// erasure while in flight still blocks until its attempt is answered or
// its lease ends (EraseCase keeps the lease). One "?" bound to now (tv's
// text).
//
// PostgreSQL's claim (flx_claim_due, migration 0065) makes the check a
// scalar subquery instead: one probe of outbox_case_seq_key (case_id,
// destination, seq) per row the claim would take, which the planner cannot
// turn into a join, skipped for a case's first row (seq 1). As NOT EXISTS
// (an anti-join), a generic plan made while the outbox was young, and kept
// as it grew (until the next ANALYZE), probed the index by destination
// alone, its second column: each claim read every row to the destination
// for every row it took (flx bench exchange --rate 300: some runs' claims
// 9,000-16,000 blocks each, against ~100). SQLite keeps NOT EXISTS, which
// its claims' plans (TestSQLiteClaimsWalkTheirIndex) were made with.
func (w *where) addCaseHead(now any) {
	w.add(`NOT EXISTS (SELECT 1 FROM outbox p WHERE p.destination = o.destination AND p.case_id = o.case_id
		AND p.seq < o.seq AND (p.state NOT IN ('delivered', 'cancelled')
			OR (p.state = 'cancelled' AND p.lease_until > ?)))`, now)
}

// sqliteClaim is one of ClaimDue's two claims on SQLite: the rows it
// takes (cond, one "?" bound to now), their order, and the index that
// walks them in that order.
type sqliteClaim struct{ cond, order, index string }

var (
	// claimExpired takes crashed workers' rows, expired leases first. The
	// index is named: without statistics SQLite walked every row of the
	// destination by the (destination, case_id, seq) key and sorted them,
	// on every claim: a queue of 20,000 rows made the claims most of
	// flx bench exchange's CPU on SQLite.
	claimExpired = sqliteClaim{`o.state = 'in_flight' AND o.lease_until <= ?`, `o.lease_until, o.id`, `outbox_lease_idx`}
	// claimQueued takes due queued rows, walking (destination,
	// next_attempt_at, id), which SQLite chooses by itself.
	claimQueued = sqliteClaim{`o.state = 'queued' AND o.next_attempt_at <= ?`, `o.next_attempt_at, o.id`, `outbox_dest_queued_idx`}
)

// claimSelect is the SELECT of the ids claim c takes, up to n, and its
// arguments.
func (c sqliteClaim) claimSelect(r ClaimRequest, now time.Time, n int) (string, []any) {
	var w where
	w.add(c.cond, tv(now))
	w.addIf(r.Destination != "", `o.destination = ?`, r.Destination)
	w.addCaseHead(tv(now))
	return `SELECT o.id FROM outbox o INDEXED BY ` + c.index + w.String() + ` ORDER BY ` + c.order + fmt.Sprintf(` LIMIT %d`, n), w.args
}

// claim moves up to n rows that c takes to in_flight, walking them in
// order (SQLite).
func (q *queries) claim(ctx context.Context, r ClaimRequest, now time.Time, lease time.Duration, c sqliteClaim, n int) ([]OutboxItem, error) {
	due, dargs := c.claimSelect(r, now, n)
	args := append([]any{r.Worker, tv(now.Add(lease)), tv(now)}, dargs...)
	rows, err := q.query(ctx, `UPDATE outbox SET state = 'in_flight', claimed_by = ?, lease_until = ?,
		attempts = attempts + 1, updated_at = ? WHERE id IN (`+due+`) RETURNING `+outboxCols, args...)
	if err != nil {
		return nil, fmt.Errorf("store.ClaimDue: %w", err)
	}
	out, err := outboxRows(rows)
	if err != nil {
		return nil, fmt.Errorf("store.ClaimDue: %w", err)
	}
	return out, nil
}

// deliverChunk is how many receipts MarkDeliveredAll records per statement.
var deliverChunk = 200

// MarkDeliveredAll is MarkDelivered for every row, set-based: per chunk of
// receipts one UPDATE ... RETURNING of the rows not yet delivered, one
// multi-row INSERT of their disclosures, one multi-row upsert of the
// recipients and one UPDATE of the withdrawal marks. A row named twice keeps
// its first receipt, as it would row by row.
func (q *queries) MarkDeliveredAll(ctx context.Context, ds []DeliveredRow) error {
	at := q.s.now(time.Time{})
	uniq := firstReceipts(ds)
	for len(uniq) > 0 {
		n := min(len(uniq), deliverChunk)
		if err := q.markDeliveredChunk(ctx, uniq[:n], at); err != nil {
			return err
		}
		uniq = uniq[n:]
	}
	return nil
}

// firstReceipts is ds with each row's first receipt only.
func firstReceipts(ds []DeliveredRow) []DeliveredRow {
	seen := make(map[int64]bool, len(ds))
	uniq := make([]DeliveredRow, 0, len(ds))
	for _, d := range ds {
		if !seen[d.ID] {
			seen[d.ID] = true
			uniq = append(uniq, d)
		}
	}
	return uniq
}

// carriedKind is the kind of the rows a relay carries for others.
const carriedKind = "relay.forward"

// A relay holds a chain it carries for others only while it carries it,
// so the envelope of a delivered relay.forward row (carriedKind) is
// dropped with the write that records the delivery (its receipt, jti and
// disclosure stay); this member's own envelopes are kept.

// ids runs query (an UPDATE or DELETE ... RETURNING id) and returns the
// ids.
func (q *queries) ids(ctx context.Context, query string, args ...any) ([]int64, error) {
	var out []int64
	err := q.eachRow(ctx, func(rows *sqlx.Rows) error {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		out = append(out, id)
		return nil
	}, query, args...)
	return out, err
}

// dropEnvelopes drops the envelopes of the outbox rows ids (any number).
func (q *queries) dropEnvelopes(ctx context.Context, ids []int64) error {
	for lo := 0; lo < len(ids); lo += receiveChunk {
		chunk := ids[lo:min(lo+receiveChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if _, err := q.exec(ctx, `UPDATE outbox_envelopes SET envelope = NULL WHERE id IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
			return err
		}
	}
	return nil
}

// deliveredOutbox is what recording a delivery needs of its outbox row.
type deliveredOutbox struct {
	id                   int64
	destination, caseID  string
	caseVersion          int64
	kind, jti            string
	discloses, withdraws bool
}

// markDeliveredPG is markDeliveredChunk in one statement on PostgreSQL,
// the function flx_mark_delivered (migration 0054): the receipts go as
// two arrays, and it updates the rows, inserts their disclosures in the
// order of the receipts and upserts the recipients in key order (with the
// withdrawal mark). One round trip instead of three or four, and a plan
// made once per connection and kept, one that reads the outbox by id
// however large it grows (the function's own settings: generic plan, no
// sequential scan). It is atomic by itself: a receipt for a row that does
// not exist records nothing (the function then updates no row), so the
// Store form sends it without BEGIN and COMMIT; with redoable set it also
// commits without waiting for the WAL flush (set_config, local to the
// statement's own transaction: see Redoable), never to be set inside a
// caller's Tx.
func (q *queries) markDeliveredPG(ctx context.Context, ds []DeliveredRow, at time.Time, redoable bool) error {
	ids := make([]int64, len(ds))
	receipts := make([][]byte, len(ds))
	for i, d := range ds {
		ids[i], receipts[i] = d.ID, d.Receipt
	}
	async := ""
	if redoable {
		async = `, set_config('synchronous_commit', 'off', true)`
	}
	var missing int
	var set string // what set_config returns ("off"), unused
	dest := []any{&missing}
	if redoable {
		dest = append(dest, &set)
	}
	// at is s.now's: UTC, whole µs, bound binary (pgTimes).
	err := q.queryRow(ctx, `SELECT flx_mark_delivered(?::bigint[], ?::bytea[], ?::timestamptz)`+async, ids, receipts, at).Scan(dest...)
	if err != nil {
		return fmt.Errorf("store.MarkDeliveredAll: %w", err)
	}
	if missing > 0 {
		anyIDs := make([]any, len(ds))
		for i, d := range ds {
			anyIDs[i] = d.ID
		}
		if err := q.allExist(ctx, anyIDs, len(ds)); err != nil {
			return err
		}
		return fmt.Errorf("store.MarkDeliveredAll: %d of %d rows do not exist: %w", missing, len(ds), ErrNotFound)
	}
	return nil
}

func (q *queries) markDeliveredChunk(ctx context.Context, ds []DeliveredRow, at time.Time) error {
	if q.s.dialect == Postgres {
		return q.markDeliveredPG(ctx, ds, at, false)
	}
	// Receipts differ per row: a CASE over the ids, its parameters typed
	// as bytea on PostgreSQL (an untyped CASE is text there).
	blob := "?"
	if q.s.dialect == Postgres {
		blob = "CAST(? AS BYTEA)"
	}
	var cases, in strings.Builder
	args := []any{tv(at)}
	ids := make([]any, 0, len(ds))
	pos := make(map[int64]int, len(ds))
	for i, d := range ds {
		cases.WriteString(" WHEN ? THEN " + blob)
		args = append(args, d.ID, d.Receipt)
		if i > 0 {
			in.WriteString(", ")
		}
		in.WriteString("?")
		ids = append(ids, d.ID)
		pos[d.ID] = i
	}
	args = append(args, tv(at))
	args = append(args, ids...)
	// Any state but delivered: the peer's receipt says it was delivered (a
	// row cancelled by an erasure while in flight included), so record it.
	rows, err := q.query(ctx, `UPDATE outbox SET state = 'delivered', delivered_at = ?, receipt = CASE id`+cases.String()+` END,
		lease_until = NULL, updated_at = ? WHERE id IN (`+in.String()+`) AND state <> 'delivered'
		RETURNING id, destination, case_id, case_version, kind, jti, discloses, withdraws`, args...)
	if err != nil {
		return fmt.Errorf("store.MarkDeliveredAll: %w", err)
	}
	var done []deliveredOutbox
	var carried []int64
	for rows.Next() {
		var o deliveredOutbox
		if err := rows.Scan(&o.id, &o.destination, &o.caseID, ic(&o.caseVersion), &o.kind, &o.jti, &o.discloses, &o.withdraws); err != nil {
			rows.Close()
			return fmt.Errorf("store.MarkDeliveredAll: %w", err)
		}
		done = append(done, o)
		if o.kind == carriedKind {
			carried = append(carried, o.id)
			q.erased = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store.MarkDeliveredAll: %w", err)
	}
	if err := q.dropEnvelopes(ctx, carried); err != nil {
		return fmt.Errorf("store.MarkDeliveredAll: envelope: %w", err)
	}
	if len(done) < len(ds) {
		if err := q.allExist(ctx, ids, len(ds)); err != nil {
			return err
		}
	}
	// Disclosures in the order of the receipts, as row by row.
	sort.Slice(done, func(i, j int) bool { return pos[done[i].id] < pos[done[j].id] })
	var disc strings.Builder
	var dargs []any
	type pair struct{ caseID, member string }
	recip := map[pair]int{}
	var order []pair
	var versions []int64
	withdrawn := map[pair]bool{}
	for _, o := range done {
		if !o.discloses {
			continue
		}
		if len(dargs) > 0 {
			disc.WriteString(", ")
		}
		disc.WriteString("(?, ?, ?, ?, ?, ?, ?)")
		dargs = append(dargs, o.caseID, o.destination, o.kind, iv(o.caseVersion), o.id, o.jti, tv(at))
		// One statement may not update a row twice (PostgreSQL refuses):
		// one recipient row per (case, member), with the highest version.
		k := pair{o.caseID, o.destination}
		if i, ok := recip[k]; ok {
			versions[i] = max(versions[i], o.caseVersion)
		} else {
			recip[k] = len(order)
			order = append(order, k)
			versions = append(versions, o.caseVersion)
		}
		if o.withdraws {
			withdrawn[k] = true
		}
	}
	if len(dargs) == 0 {
		return nil
	}
	if _, err := q.exec(ctx, `INSERT INTO disclosures (case_id, member, kind, case_version, outbox_id, jti, delivered_at)
		VALUES `+disc.String(), dargs...); err != nil {
		return fmt.Errorf("store.MarkDeliveredAll: disclosure: %w", err)
	}
	// Upserted in key order: two batches touching the same recipients
	// lock them in the same order (no deadlock on PostgreSQL).
	idx := make([]int, len(order))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		ka, kb := order[idx[a]], order[idx[b]]
		return ka.caseID < kb.caseID || (ka.caseID == kb.caseID && ka.member < kb.member)
	})
	var rec, wdr strings.Builder
	var rargs, wargs []any
	wargs = append(wargs, tv(at))
	for n, i := range idx {
		k := order[i]
		if n > 0 {
			rec.WriteString(", ")
		}
		rec.WriteString("(?, ?, ?, ?, ?)")
		rargs = append(rargs, k.caseID, k.member, tv(at), tv(at), iv(versions[i]))
		if withdrawn[k] {
			if len(wargs) > 1 {
				wdr.WriteString(" OR ")
			}
			wdr.WriteString("(case_id = ? AND member = ?)")
			wargs = append(wargs, k.caseID, k.member)
		}
	}
	if _, err := q.exec(ctx, `INSERT INTO case_recipients (case_id, member, first_delivered_at, last_delivered_at, last_version)
		VALUES `+rec.String()+` ON CONFLICT (case_id, member) DO UPDATE SET
		last_delivered_at = excluded.last_delivered_at,
		last_version = CASE WHEN COALESCE(excluded.last_version, 0) > COALESCE(case_recipients.last_version, 0)
			THEN excluded.last_version ELSE case_recipients.last_version END`, rargs...); err != nil {
		return fmt.Errorf("store.MarkDeliveredAll: recipient: %w", err)
	}
	if len(wargs) > 1 {
		if _, err := q.exec(ctx, `UPDATE case_recipients SET withdrawal_sent_at = ? WHERE `+wdr.String(), wargs...); err != nil {
			return fmt.Errorf("store.MarkDeliveredAll: withdrawal: %w", err)
		}
	}
	return nil
}

// allExist fails with ErrNotFound naming the first of ids (n of them,
// distinct) that is not an outbox row.
func (q *queries) allExist(ctx context.Context, ids []any, n int) error {
	rows, err := q.query(ctx, `SELECT id FROM outbox WHERE id IN (?`+strings.Repeat(", ?", n-1)+`)`, ids...)
	if err != nil {
		return fmt.Errorf("store.MarkDeliveredAll: %w", err)
	}
	found := make(map[int64]bool, n)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("store.MarkDeliveredAll: %w", err)
		}
		found[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store.MarkDeliveredAll: %w", err)
	}
	for _, id := range ids {
		if !found[id.(int64)] {
			return fmt.Errorf("store.MarkDeliveredAll: %d: %w", id, ErrNotFound)
		}
	}
	return nil
}

func (q *queries) MarkDelivered(ctx context.Context, id int64, receipt []byte) error {
	at := q.s.now(time.Time{})
	var o OutboxItem
	var state string
	err := q.queryRow(ctx, `SELECT destination, case_id, case_version, kind, jti, state, discloses, withdraws FROM outbox WHERE id = ?`, id).
		Scan(&o.Destination, &o.CaseID, ic(&o.CaseVersion), &o.Kind, &o.JTI, &state, &o.Discloses, &o.Withdraws)
	if err != nil {
		return fmt.Errorf("store.MarkDelivered: %d: %w", id, notFound(err))
	}
	if OutboxState(state) == Delivered {
		return nil
	}
	// Any other state: the peer's receipt says it was delivered (a row
	// cancelled by an erasure while in flight included), so record it.
	n, err := q.exec(ctx, `UPDATE outbox SET state = 'delivered', delivered_at = ?, receipt = ?, lease_until = NULL,
		updated_at = ? WHERE id = ? AND state <> 'delivered'`, tv(at), receipt, tv(at), id)
	if err != nil {
		return fmt.Errorf("store.MarkDelivered: %w", err)
	}
	if n > 0 && o.Kind == carriedKind {
		if err := q.dropEnvelopes(ctx, []int64{id}); err != nil {
			return fmt.Errorf("store.MarkDelivered: envelope: %w", err)
		}
		q.erased = true
	}
	if n == 0 || !o.Discloses {
		return nil
	}
	if _, err := q.exec(ctx, `INSERT INTO disclosures (case_id, member, kind, case_version, outbox_id, jti, delivered_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, o.CaseID, o.Destination, o.Kind, iv(o.CaseVersion), id, o.JTI, tv(at)); err != nil {
		return fmt.Errorf("store.MarkDelivered: disclosure: %w", err)
	}
	if _, err := q.exec(ctx, `INSERT INTO case_recipients (case_id, member, first_delivered_at, last_delivered_at, last_version)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (case_id, member) DO UPDATE SET
		last_delivered_at = excluded.last_delivered_at,
		last_version = CASE WHEN COALESCE(excluded.last_version, 0) > COALESCE(case_recipients.last_version, 0)
			THEN excluded.last_version ELSE case_recipients.last_version END`,
		o.CaseID, o.Destination, tv(at), tv(at), iv(o.CaseVersion)); err != nil {
		return fmt.Errorf("store.MarkDelivered: recipient: %w", err)
	}
	if o.Withdraws {
		if _, err := q.exec(ctx, `UPDATE case_recipients SET withdrawal_sent_at = ? WHERE case_id = ? AND member = ?`,
			tv(at), o.CaseID, o.Destination); err != nil {
			return fmt.Errorf("store.MarkDelivered: withdrawal: %w", err)
		}
	}
	return nil
}

// outboxMiss explains why a conditional outbox update touched no row.
// releaseCancelled ends the lease of row id if an erasure cancelled it while
// the attempt of that lease was under way (EraseCase keeps the lease so
// that the case's later rows wait for the attempt): the attempt is now
// answered, and the case's withdrawal must not wait for the lease to run
// out (SPEC.md FLX-WDR-007).
func (q *queries) releaseCancelled(ctx context.Context, id int64, attempt int) error {
	query := `UPDATE outbox SET lease_until = NULL, claimed_by = NULL, updated_at = ?
		WHERE id = ? AND state = 'cancelled' AND lease_until IS NOT NULL`
	args := []any{tv(q.s.now(time.Time{})), id}
	if attempt > 0 {
		query += ` AND attempts = ?`
		args = append(args, attempt)
	}
	if _, err := q.exec(ctx, query, args...); err != nil {
		return fmt.Errorf("store: release the lease of cancelled row %d: %w", id, err)
	}
	return nil
}

func (q *queries) outboxMiss(ctx context.Context, op string, id int64) error {
	var state string
	if err := q.queryRow(ctx, `SELECT state FROM outbox WHERE id = ?`, id).Scan(&state); err != nil {
		return fmt.Errorf("%s: %d: %w", op, id, notFound(err))
	}
	return fmt.Errorf("%s: %d is %s or claimed again: %w", op, id, state, ErrConflict)
}

func (q *queries) MarkFailed(ctx context.Context, id int64, attempt int, reason string, nextAttemptAt time.Time) error {
	at := q.s.now(time.Time{})
	if nextAttemptAt.IsZero() {
		nextAttemptAt = at
	}
	query := `UPDATE outbox SET state = 'queued', next_attempt_at = ?, last_error = ?, lease_until = NULL,
		claimed_by = NULL, updated_at = ? WHERE id = ? AND state = 'in_flight'`
	args := []any{tv(nextAttemptAt), nv(reason), tv(at), id}
	if attempt > 0 {
		query += ` AND attempts = ?`
		args = append(args, attempt)
	}
	n, err := q.exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store.MarkFailed: %w", err)
	}
	if n == 0 {
		return q.outboxMiss(ctx, "store.MarkFailed", id)
	}
	return nil
}

func (q *queries) Unclaim(ctx context.Context, id int64, attempt int) error {
	if attempt < 1 {
		return fmt.Errorf("store.Unclaim: attempt is required: %w", ErrInvalid)
	}
	// The claim set only state, lease_until, claimed_by, attempts and
	// updated_at: next_attempt_at and last_error are still the row's
	// before it.
	n, err := q.exec(ctx, `UPDATE outbox SET state = 'queued', attempts = attempts - 1, lease_until = NULL,
		claimed_by = NULL, updated_at = ? WHERE id = ? AND state = 'in_flight' AND attempts = ?`,
		tv(q.s.now(time.Time{})), id, attempt)
	if err != nil {
		return fmt.Errorf("store.Unclaim: %w", err)
	}
	if n == 0 {
		return q.outboxMiss(ctx, "store.Unclaim", id)
	}
	return nil
}

func (q *queries) MarkDead(ctx context.Context, id int64, attempt int, reason string) error {
	query := `UPDATE outbox SET state = 'dead', last_error = ?, lease_until = NULL, updated_at = ? WHERE id = ?`
	args := []any{nv(reason), tv(q.s.now(time.Time{})), id}
	if attempt > 0 {
		query += ` AND state = 'in_flight' AND attempts = ?`
		args = append(args, attempt)
	} else {
		query += ` AND state IN ('queued', 'in_flight')`
	}
	n, err := q.exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store.MarkDead: %w", err)
	}
	if n == 0 {
		return q.outboxMiss(ctx, "store.MarkDead", id)
	}
	return nil
}

func (q *queries) Requeue(ctx context.Context, id int64) error {
	var state string
	var erased bool
	err := q.queryRow(ctx, `SELECT state, NOT `+outboxHasEnvelope+` FROM outbox WHERE id = ?`, id).Scan(&state, &erased)
	switch {
	case err != nil:
		return fmt.Errorf("store.Requeue: %d: %w", id, notFound(err))
	case OutboxState(state) != Dead:
		return fmt.Errorf("store.Requeue: %d is %s, not dead: %w", id, state, ErrConflict)
	case erased:
		return fmt.Errorf("store.Requeue: %d: envelope: %w", id, ErrErased)
	}
	at := q.s.now(time.Time{})
	n, err := q.exec(ctx, `UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = ?, lease_until = NULL,
		claimed_by = NULL, updated_at = ? WHERE id = ? AND state = 'dead'`, tv(at), tv(at), id)
	if err != nil {
		return fmt.Errorf("store.Requeue: %w", err)
	}
	if n == 0 {
		return q.outboxMiss(ctx, "store.Requeue", id)
	}
	return nil
}

func (q *queries) ReplaceEnvelope(ctx context.Context, id int64, attempt int, jti string, envelope []byte) error {
	return q.replaceEnvelope(ctx, "store.ReplaceEnvelope", id, attempt, jti, envelope, time.Time{})
}

func (q *queries) ReplaceOwnEnvelope(ctx context.Context, id int64, attempt int, jti string, envelope []byte, expiresAt time.Time) error {
	if expiresAt.IsZero() {
		return fmt.Errorf("store.ReplaceOwnEnvelope: expiresAt is required: %w", ErrInvalid)
	}
	return q.replaceEnvelope(ctx, "store.ReplaceOwnEnvelope", id, attempt, jti, envelope, expiresAt)
}

// replaceEnvelope is ReplaceEnvelope recording expiresAt as the row's
// own_expires_at (NULL when zero: the envelope is then parsed).
func (q *queries) replaceEnvelope(ctx context.Context, op string, id int64, attempt int, jti string, envelope []byte, expiresAt time.Time) error {
	if attempt < 1 || jti == "" || len(envelope) == 0 {
		return fmt.Errorf("%s: attempt, jti and envelope are required: %w", op, ErrInvalid)
	}
	var taken int
	if err := q.queryRow(ctx, `SELECT COUNT(*) FROM outbox_envelopes WHERE jti = ? AND id <> ?`, jti, id).Scan(&taken); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if taken > 0 {
		return fmt.Errorf("%s: jti %q: %w", op, jti, ErrDuplicate)
	}
	// The outbox row first, then its envelope, as an erasure writes them:
	// the row's lock keeps it in flight (not cancelled, not delivered)
	// until this transaction (storeops: write) commits.
	n, err := q.exec(ctx, `UPDATE outbox SET jti = ?, own_expires_at = ?, updated_at = ?
		WHERE id = ? AND state = 'in_flight' AND attempts = ? AND `+outboxHasEnvelope+``,
		jti, tv(expiresAt), tv(q.s.now(time.Time{})), id, attempt)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if n == 0 {
		return q.outboxMiss(ctx, op, id)
	}
	if n, err = q.exec(ctx, `UPDATE outbox_envelopes SET jti = ?, envelope = ? WHERE id = ? AND envelope IS NOT NULL`, jti, envelope, id); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %d: envelope dropped meanwhile: %w", op, id, ErrConflict)
	}
	return nil
}

// ownExpiry is t as the store keeps it (microseconds, UTC), zero as zero.
func ownExpiry(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

func (q *queries) GetOutbox(ctx context.Context, id int64) (OutboxItem, error) {
	o, err := scanOutbox(q.queryRow(ctx, `SELECT `+outboxCols+` FROM outbox WHERE id = ?`, id))
	if err != nil {
		return OutboxItem{}, fmt.Errorf("store.GetOutbox: %d: %w", id, notFound(err))
	}
	return o, nil
}

func (q *queries) ListOutbox(ctx context.Context, f OutboxFilter) ([]OutboxItem, error) {
	if f.Pending && f.State != "" {
		return nil, fmt.Errorf("store.ListOutbox: both a state and pending: %w", ErrInvalid)
	}
	var w where
	w.add("id > ?", f.AfterID)
	w.addIf(f.Destination != "", "destination = ?", f.Destination)
	w.addIf(f.State != "", "state = ?", string(f.State))
	w.addIf(f.Pending, "state IN (?, ?)", string(Queued), string(InFlight))
	// The predicate of the partial index that holds the rows the filter
	// asks for (outbox_dest_queued_idx, outbox_lease_idx,
	// outbox_stopped_idx), which the filter implies: a planner proves it
	// from this term, not from a bound state.
	switch {
	case f.Pending:
		w.add("state IN ('queued', 'in_flight')")
	case f.State == Queued:
		w.add("state = 'queued'")
	case f.State == InFlight:
		w.add("state = 'in_flight'")
	case f.State == Dead || f.State == Cancelled:
		w.add("state IN ('dead', 'cancelled')")
	}
	w.addIf(f.CaseID != "", "case_id = ?", f.CaseID)
	cols := outboxCols
	if !f.IncludeEnvelope {
		cols = outboxHeadCols
	}
	rows, err := q.query(ctx, `SELECT `+cols+` FROM outbox`+w.String()+
		fmt.Sprintf(` ORDER BY id LIMIT %d`, limit(f.Limit, 100)), w.args...)
	if err != nil {
		return nil, fmt.Errorf("store.ListOutbox: %w", err)
	}
	out, err := outboxRows(rows)
	if err != nil {
		return nil, fmt.Errorf("store.ListOutbox: %w", err)
	}
	return out, nil
}

func (q *queries) DueDestinations(ctx context.Context, now time.Time) ([]string, error) {
	now = q.s.now(now)
	// A skip scan of outbox_dest_queued_idx: one index probe per
	// destination for the next one and one for its earliest row, however
	// many rows are queued (a plain filter on next_attempt_at read every
	// due row on each poll). Expired leases are few: outbox_lease_idx.
	rows, err := q.query(ctx, `WITH RECURSIVE dests(d) AS (
			SELECT MIN(destination) FROM outbox WHERE state = 'queued'
			UNION ALL
			SELECT (SELECT MIN(o.destination) FROM outbox o WHERE o.state = 'queued' AND o.destination > dests.d)
			FROM dests WHERE dests.d IS NOT NULL)
		SELECT d FROM dests WHERE d IS NOT NULL
			AND (SELECT MIN(o.next_attempt_at) FROM outbox o WHERE o.state = 'queued' AND o.destination = dests.d) <= ?
		UNION SELECT destination FROM outbox WHERE state = 'in_flight' AND lease_until <= ? ORDER BY 1`, tv(now), tv(now))
	if err != nil {
		return nil, fmt.Errorf("store.DueDestinations: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("store.DueDestinations: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.DueDestinations: %w", err)
	}
	return out, nil
}

func (q *queries) OutboxStats(ctx context.Context) ([]DestinationStats, error) {
	rows, err := q.query(ctx, `SELECT destination,
		SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END),
		SUM(CASE WHEN state = 'in_flight' THEN 1 ELSE 0 END),
		SUM(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END),
		SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END),
		SUM(CASE WHEN state = 'cancelled' THEN 1 ELSE 0 END),
		MIN(CASE WHEN state IN ('queued', 'in_flight') THEN created_at END)
		FROM outbox GROUP BY destination ORDER BY destination`)
	if err != nil {
		return nil, fmt.Errorf("store.OutboxStats: %w", err)
	}
	defer rows.Close()
	var out []DestinationStats
	for rows.Next() {
		var d DestinationStats
		if err := rows.Scan(&d.Destination, &d.Queued, &d.InFlight, &d.Delivered, &d.Dead, &d.Cancelled,
			tc(&d.OldestPending)); err != nil {
			return nil, fmt.Errorf("store.OutboxStats: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.OutboxStats: %w", err)
	}
	return out, nil
}

func (q *queries) ListDisclosures(ctx context.Context, caseID string) ([]Disclosure, error) {
	rows, err := q.query(ctx, `SELECT id, case_id, member, kind, case_version, outbox_id, jti, delivered_at
		FROM disclosures WHERE case_id = ? ORDER BY id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("store.ListDisclosures: %w", err)
	}
	defer rows.Close()
	var out []Disclosure
	for rows.Next() {
		var d Disclosure
		if err := rows.Scan(&d.ID, &d.CaseID, &d.Member, &d.Kind, ic(&d.CaseVersion), &d.OutboxID, &d.JTI,
			tc(&d.DeliveredAt)); err != nil {
			return nil, fmt.Errorf("store.ListDisclosures: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.ListDisclosures: %w", err)
	}
	return out, nil
}

const recipientCols = `case_id, member, first_delivered_at, last_delivered_at, last_version, withdrawal_sent_at, withdrawal_confirmed_at`

func (q *queries) listRecipients(ctx context.Context, op, query string, args ...any) ([]Recipient, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	var out []Recipient
	for rows.Next() {
		var r Recipient
		if err := rows.Scan(&r.CaseID, &r.Member, tc(&r.FirstDeliveredAt), tc(&r.LastDeliveredAt), ic(&r.LastVersion),
			tc(&r.WithdrawalSentAt), tc(&r.WithdrawalConfirmedAt)); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

func (q *queries) ListRecipients(ctx context.Context, caseID string) ([]Recipient, error) {
	return q.listRecipients(ctx, "store.ListRecipients",
		`SELECT `+recipientCols+` FROM case_recipients WHERE case_id = ? ORDER BY member`, caseID)
}

func (q *queries) ListPendingWithdrawals(ctx context.Context, n int) ([]Recipient, error) {
	return q.listRecipients(ctx, "store.ListPendingWithdrawals",
		`SELECT `+recipientCols+` FROM case_recipients
		WHERE withdrawal_sent_at IS NOT NULL AND withdrawal_confirmed_at IS NULL
		ORDER BY withdrawal_sent_at, case_id, member`+fmt.Sprintf(` LIMIT %d`, limit(n, 100)))
}

func (q *queries) ConfirmWithdrawal(ctx context.Context, caseID, member string, at time.Time) error {
	n, err := q.exec(ctx, `UPDATE case_recipients SET withdrawal_confirmed_at = ? WHERE case_id = ? AND member = ?`,
		tv(q.s.now(at)), caseID, member)
	if err != nil {
		return fmt.Errorf("store.ConfirmWithdrawal: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store.ConfirmWithdrawal: %q never received %q: %w", member, caseID, ErrNotFound)
	}
	return nil
}
