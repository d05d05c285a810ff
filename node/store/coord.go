package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The coordinator's part of the store (conformance/SPEC.md §14-§17): an
// outbox row found by its jti (end-to-end receipts of relayed envelopes and
// pull acknowledgements name envelopes by jti), and the statistics reports a
// coordinator receives.

// CoordinationReader reads what the coordination roles keep.
type CoordinationReader interface {
	// GetOutboxByJTI returns the outbox row whose jti is jti, with its
	// envelope; ErrNotFound if none.
	GetOutboxByJTI(ctx context.Context, jti string) (OutboxItem, error)
	// ListStatsReports returns the statistics reports received, every
	// revision, ordered by (period, member, revision); period "" means all.
	ListStatsReports(ctx context.Context, period string) ([]StatsReport, error)
}

// Coordination keeps what the coordination roles write.
type Coordination interface {
	CoordinationReader
	// SaveStatsReport keeps a received statistics report. Saving the same
	// (member, period, revision) again keeps the first: ErrDuplicate.
	SaveStatsReport(ctx context.Context, r StatsReport) error
	// DropCarried drops the bytes of the relay.forward rows about caseID
	// ("" for every case) that this member carried for others and is done
	// with: inbox rows processed (forwarded on, or refused) and outbox
	// rows delivered or cancelled. A relay holds what it carries only
	// while it carries it. The rows, their digests and receipts stay, so
	// a copy sent again is still a duplicate. It returns the rows dropped.
	DropCarried(ctx context.Context, caseID string) (int64, error)
	// CancelCarried cancels the relay.forward outbox rows ids that this
	// member carries for others and has not delivered (queued, in flight
	// or dead), dropping their bytes and keeping reason as their last
	// error; a row in flight keeps its lease, as EraseCase does. Rows of
	// other kinds or states are left alone. It returns the rows cancelled.
	CancelCarried(ctx context.Context, ids []int64, reason string) (int64, error)
}

// StatsReport is one received statistics report (schema v1 stats_report):
// counts without personal data, as signed by its member.
type StatsReport struct {
	Member     string
	Period     string // YYYY-MM
	Revision   int64
	Country    string
	Document   []byte // the report's JSON, as received
	JTI        string // the envelope that carried it
	ReceivedAt time.Time
}

func (q *queries) GetOutboxByJTI(ctx context.Context, jti string) (OutboxItem, error) {
	o, err := scanOutbox(q.queryRow(ctx, `SELECT `+outboxCols+` FROM outbox WHERE `+outboxByJTI, jti))
	if err != nil {
		return OutboxItem{}, fmt.Errorf("store.GetOutboxByJTI: %w", notFound(err))
	}
	return o, nil
}

func (q *queries) SaveStatsReport(ctx context.Context, r StatsReport) error {
	if r.Member == "" || r.Period == "" || r.Revision < 1 || len(r.Document) == 0 {
		return fmt.Errorf("store.SaveStatsReport: member, period, revision and document are required: %w", ErrInvalid)
	}
	var member string
	err := q.queryRow(ctx, `INSERT INTO stats_reports (member, period, revision, country, document, jti, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (member, period, revision) DO NOTHING RETURNING member`,
		r.Member, r.Period, r.Revision, r.Country, r.Document, r.JTI, tv(q.s.now(r.ReceivedAt))).Scan(&member)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store.SaveStatsReport: %s %s revision %d: %w", r.Member, r.Period, r.Revision, ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("store.SaveStatsReport: %w", err)
	}
	return nil
}

func (q *queries) ListStatsReports(ctx context.Context, period string) ([]StatsReport, error) {
	var w where
	w.addIf(period != "", `period = ?`, period)
	rows, err := q.query(ctx, `SELECT member, period, revision, country, document, jti, received_at FROM stats_reports`+
		w.String()+` ORDER BY period, member, revision`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("store.ListStatsReports: %w", err)
	}
	defer rows.Close()
	var out []StatsReport
	for rows.Next() {
		var r StatsReport
		if err := rows.Scan(&r.Member, &r.Period, &r.Revision, &r.Country, &r.Document, &r.JTI, tc(&r.ReceivedAt)); err != nil {
			return nil, fmt.Errorf("store.ListStatsReports: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store.ListStatsReports: %w", err)
	}
	return out, nil
}

func (q *queries) DropCarried(ctx context.Context, caseID string) (int64, error) {
	and, args := "", []any{}
	if caseID != "" {
		and, args = " AND case_id = ?", []any{caseID}
	}
	in, err := q.exec(ctx, `UPDATE inbox SET envelope = NULL WHERE kind = 'relay.forward' AND processed_at IS NOT NULL AND envelope IS NOT NULL`+and, args...)
	if err != nil {
		return 0, fmt.Errorf("store.DropCarried: inbox: %w", err)
	}
	out, err := q.exec(ctx, `UPDATE outbox_envelopes SET envelope = NULL WHERE envelope IS NOT NULL AND id IN
		(SELECT id FROM outbox WHERE kind = 'relay.forward' AND state IN ('delivered', 'cancelled')`+and+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("store.DropCarried: outbox: %w", err)
	}
	if in+out > 0 {
		q.erased = true
	}
	return in + out, nil
}

func (q *queries) CancelCarried(ctx context.Context, ids []int64, reason string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := []any{reason, tv(q.s.now(time.Time{}))}
	for _, id := range ids {
		args = append(args, id)
	}
	n, err := q.exec(ctx, `UPDATE outbox SET state = 'cancelled',
		lease_until = CASE WHEN state = 'in_flight' THEN lease_until END, last_error = ?, updated_at = ?
		WHERE kind = 'relay.forward' AND state IN ('queued', 'in_flight', 'dead') AND id IN (`+placeholders(len(ids))+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("store.CancelCarried: %w", err)
	}
	if n > 0 {
		// Their envelopes go (those cancelled before have none left).
		if _, err := q.exec(ctx, `UPDATE outbox_envelopes SET envelope = NULL WHERE id IN (SELECT id FROM outbox
			WHERE kind = 'relay.forward' AND state = 'cancelled' AND id IN (`+placeholders(len(ids))+`))`, args[2:]...); err != nil {
			return 0, fmt.Errorf("store.CancelCarried: envelopes: %w", err)
		}
		q.erased = true
	}
	return n, nil
}

func (s *sqlStore) CancelCarried(ctx context.Context, ids []int64, reason string) (int64, error) {
	return write(ctx, s, func(q *queries) (int64, error) { return q.CancelCarried(ctx, ids, reason) })
}

func (s *sqlStore) DropCarried(ctx context.Context, caseID string) (int64, error) {
	return write(ctx, s, func(q *queries) (int64, error) { return q.DropCarried(ctx, caseID) })
}

func (s *sqlStore) GetOutboxByJTI(ctx context.Context, jti string) (OutboxItem, error) {
	return s.read().GetOutboxByJTI(ctx, jti)
}

func (s *sqlStore) ListStatsReports(ctx context.Context, period string) ([]StatsReport, error) {
	return s.read().ListStatsReports(ctx, period)
}

func (s *sqlStore) SaveStatsReport(ctx context.Context, r StatsReport) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.SaveStatsReport(ctx, r) })
	return err
}

func (r readOnly) GetOutboxByJTI(ctx context.Context, jti string) (OutboxItem, error) {
	return r.s.GetOutboxByJTI(ctx, jti)
}

func (r readOnly) ListStatsReports(ctx context.Context, period string) ([]StatsReport, error) {
	return r.s.ListStatsReports(ctx, period)
}
