package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// SetInsertFloor measures the database's floor for the rows an exchanged
// envelope writes (flx bench exchange): for each envelope, an outbox row
// (sender), an inbox row with its receipt (receiver) and a case row
// (processing), written set-based, rowsPerTx envelopes per transaction in
// multi-row INSERTs, committed, then deleted. It returns the time spent in
// the committed transactions divided by len(envelopes): what no per-row
// design can beat on this database. The rows are removed afterwards (not
// counted).
func SetInsertFloor(ctx context.Context, st Store, envelopes [][]byte, receipt []byte, rowsPerTx int) (time.Duration, error) {
	s, ok := st.(*sqlStore)
	if !ok {
		return 0, fmt.Errorf("store.SetInsertFloor: %w", ErrInvalid)
	}
	if rowsPerTx < 1 {
		rowsPerTx = 100
	}
	now := time.Now().UTC()
	stamp := fmt.Sprintf("FLOOR-%d-", now.UnixNano())
	var spent time.Duration
	for lo := 0; lo < len(envelopes); lo += rowsPerTx {
		hi := min(lo+rowsPerTx, len(envelopes))
		n := hi - lo
		var in, out, cs []any
		for i := lo; i < hi; i++ {
			jti := fmt.Sprintf("%s%d", stamp, i)
			sum := sha256Hex(envelopes[i])
			in = append(in, jti, "XA-RC", "XB-RC", "case.create", jti, sum, envelopes[i], tv(now), "accepted", receipt)
			out = append(out, "XB-RC", jti, int64(1), "case.create", jti, envelopes[i], int64(1), "queued", tv(now), tv(now), tv(now))
			cs = append(cs, jti, "XA-RC", "tracing_request", "open", int64(1), envelopes[i], tv(now), tv(now))
		}
		start := time.Now()
		err := s.tx(ctx, func(q *queries) error {
			for _, st := range []struct {
				table, cols string
				args        []any
			}{
				{"inbox", "jti, iss, aud, kind, case_id, sha256, envelope, received_at, receipt_status, receipt", in},
				{"outbox", "destination, case_id, case_version, kind, jti, envelope, seq, state, next_attempt_at, created_at, updated_at", out},
				{"cases", "case_id, origin, type, status, version, document, created_at, updated_at", cs},
			} {
				per := strings.Count(st.cols, ",") + 1
				rows := make([]string, n)
				for i := range rows {
					rows[i] = "(" + placeholders(per) + ")"
				}
				if _, err := q.exec(ctx, `INSERT INTO `+st.table+` (`+st.cols+`) VALUES `+strings.Join(rows, ", "), st.args...); err != nil {
					return fmt.Errorf("%s: %w", st.table, err)
				}
			}
			return nil
		})
		spent += time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("store.SetInsertFloor: %w", err)
		}
	}
	err := s.tx(ctx, func(q *queries) error {
		for _, d := range []string{
			`DELETE FROM inbox WHERE jti LIKE ?`,
			`DELETE FROM outbox WHERE jti LIKE ?`, `DELETE FROM cases WHERE case_id LIKE ?`,
		} {
			if _, err := q.exec(ctx, d, stamp+"%"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store.SetInsertFloor: clean up: %w", err)
	}
	return spent / time.Duration(max(len(envelopes), 1)), nil
}

// BackendPIDs lists the process ids of the PostgreSQL backends connected
// to st's database (flx bench exchange reads their CPU time); nil on
// SQLite.
func BackendPIDs(ctx context.Context, st Store) ([]int, error) {
	s, ok := st.(*sqlStore)
	if !ok || s.dialect != Postgres {
		return nil, nil
	}
	var pids []int
	if err := s.db.SelectContext(ctx, &pids, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`); err != nil {
		return nil, fmt.Errorf("store.BackendPIDs: %w", err)
	}
	return pids, nil
}
