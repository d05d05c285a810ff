package store

import (
	"context"
	"fmt"
	"time"
)

// FloorEnvelope is one envelope of SetInsertFloor: its bytes, its case's
// document and the case's search keys.
type FloorEnvelope struct {
	Envelope, Document []byte
	SearchKeys         []string
}

// FloorTables names the rows SetInsertFloor writes per envelope, as flx
// bench exchange prints them.
const FloorTables = "sender: outbox with its envelope; receiver: inbox with its receipt, cases with search keys " +
	"(PostgreSQL: the tsvector, and its range-key rows as CreateCases writes them; SQLite: case_search_docs, full-text and range keys by trigger), case_versions"

// FloorLeftOut names the rows an exchanged envelope writes that
// SetInsertFloor leaves out.
const FloorLeftOut = "sender: disclosures, case_recipients; receiver: audit_log (append-only: the floor could not remove it), " +
	"match_pending; and the updates: claim, delivered, processed"

// SetInsertFloor measures the database's floor for the rows an exchanged
// envelope writes (flx bench exchange; FloorTables, FloorLeftOut), written
// set-based, rowsPerTx envelopes per transaction in multi-row INSERTs,
// committed, on one connection, then deleted. measure, if not nil, is
// called once just before the first of these transactions with the
// process id of the PostgreSQL backend serving the connection (0 on
// SQLite); the function it returns is called once the last has committed,
// before the rows are removed: the caller reads the CPU time of the
// backend and of its own process there. SetInsertFloor returns the wall
// time between the two divided by len(envelopes).
func SetInsertFloor(ctx context.Context, st Store, envelopes []FloorEnvelope, receipt []byte, rowsPerTx int, measure func(backendPID int) (done func())) (time.Duration, error) {
	s, ok := st.(*sqlStore)
	if !ok {
		return 0, fmt.Errorf("store.SetInsertFloor: %w", ErrInvalid)
	}
	if rowsPerTx < 1 {
		rowsPerTx = 100
	}
	pg := s.dialect == Postgres
	now := time.Now().UTC()
	stamp := fmt.Sprintf("FLOOR-%d-", now.UnixNano())
	type insert struct {
		table, cols, row string
		args             []any
	}
	// The statements of every transaction, built before the clock starts.
	var txs [][]insert
	for lo := 0; lo < len(envelopes); lo += rowsPerTx {
		hi := min(lo+rowsPerTx, len(envelopes))
		var in, out, env, cs, vs, ks []any
		var rkCase, rkKey []string // PostgreSQL: the range keys, as CreateCases inserts them
		for i := lo; i < hi; i++ {
			e := envelopes[i]
			jti := fmt.Sprintf("%s%d", stamp, i)
			sum := sha256Hex(e.Envelope)
			keys, err := indexKeys(e.SearchKeys)
			if err != nil {
				return 0, fmt.Errorf("store.SetInsertFloor: %w", err)
			}
			in = append(in, jti, "XA-RC", "XB-RC", "case.create", jti, sum, e.Envelope, tv(now), "accepted", receipt)
			out = append(out, "XB-RC", jti, int64(1), "case.create", jti, int64(1), "queued", tv(now), tv(now), tv(now))
			env = append(env, jti, e.Envelope)
			cs = append(cs, jti, "XA-RC", "tracing_request", "open", int64(1), e.Document, tv(now), tv(now))
			if pg {
				cs = append(cs, keys)
				for _, k := range rangeKeysOf(keys) {
					rkCase, rkKey = append(rkCase, jti), append(rkKey, k)
				}
			} else {
				ks = append(ks, jti, sqliteKeys(keys))
			}
			vs = append(vs, jti, int64(1), "open", tv(now)) // its document is the case's (versionDoc)
		}
		caseCols, caseRow := "case_id, origin, type, status, version, document, created_at, updated_at", "(?, ?, ?, ?, ?, ?, ?, ?)"
		if pg {
			caseCols, caseRow = caseCols+", search_keys", "(?, ?, ?, ?, ?, ?, ?, ?, "+pgKeys+")"
		}
		envRow := "(?, ?)"
		if pg {
			envRow = "(?, ?::bytea)"
		}
		tx := []insert{
			{"outbox", "destination, case_id, case_version, kind, jti, seq, state, next_attempt_at, created_at, updated_at", "(" + placeholders(10) + ")", out},
			{"outbox_envelopes", "", envRow, env},
			{"inbox", "jti, iss, aud, kind, case_id, sha256, envelope, received_at, receipt_status, receipt", "(" + placeholders(10) + ")", in},
			{"cases", caseCols, caseRow, cs},
			{"case_versions", "case_id, version, status, created_at", "(?, ?, ?, ?)", vs},
		}
		if !pg {
			tx = append(tx, insert{"case_search_docs", "case_id, keys", "(?, ?)", ks})
		}
		for i := range tx {
			tx[i].row = rowsOf(tx[i].row, hi-lo)
		}
		if pg {
			tx = append(tx, insert{"case_range_keys", "", "", []any{rkCase, rkKey}})
		}
		txs = append(txs, tx)
	}
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return 0, fmt.Errorf("store.SetInsertFloor: %w", err)
	}
	defer conn.Close()
	var pid int
	if pg {
		if err := conn.QueryRowxContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			return 0, fmt.Errorf("store.SetInsertFloor: %w", err)
		}
	}
	done := func() {}
	if measure != nil {
		done = measure(pid)
	}
	start := time.Now()
	for _, stmts := range txs {
		tx, err := conn.BeginTxx(ctx, nil)
		if err != nil {
			return 0, fmt.Errorf("store.SetInsertFloor: %w", err)
		}
		q := &queries{s: s, x: tx}
		for _, st := range stmts {
			stmt := `INSERT INTO ` + st.table + ` (` + st.cols + `) VALUES ` + st.row
			if st.table == "case_range_keys" {
				stmt = `INSERT INTO case_range_keys (key, case_id) SELECT k, c FROM unnest(?::text[], ?::text[]) AS r(c, k)`
			}
			if st.table == "outbox_envelopes" {
				// Each envelope under the id its outbox row just took
				// (case_id is the jti: outbox_case_seq_key).
				stmt = `WITH v(jti, envelope) AS (VALUES ` + st.row + `)
					INSERT INTO outbox_envelopes (id, jti, envelope) SELECT o.id, v.jti, v.envelope
					FROM v JOIN outbox o ON o.case_id = v.jti AND o.destination = 'XB-RC' AND o.seq = 1`
			}
			if _, err := q.exec(ctx, stmt, st.args...); err != nil {
				_ = tx.Rollback()
				return 0, fmt.Errorf("store.SetInsertFloor: %s: %w", st.table, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, fmt.Errorf("store.SetInsertFloor: %w", err)
		}
	}
	spent := time.Since(start)
	done()
	if err := conn.Close(); err != nil {
		return 0, fmt.Errorf("store.SetInsertFloor: %w", err)
	}
	err = s.tx(ctx, func(q *queries) error {
		if _, err := q.exec(ctx, `DELETE FROM outbox_envelopes WHERE id IN (SELECT id FROM outbox WHERE case_id LIKE ?)`, stamp+"%"); err != nil {
			return fmt.Errorf("outbox_envelopes: %w", err)
		}
		for _, t := range []string{"case_search_docs", "case_range_keys", "case_versions", "cases", "inbox", "outbox"} {
			if t == "case_search_docs" && pg {
				continue
			}
			if _, err := q.exec(ctx, `DELETE FROM `+t+` WHERE case_id LIKE ?`, stamp+"%"); err != nil {
				return fmt.Errorf("%s: %w", t, err)
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
// to st's database (flx bench exchange reads their CPU time), but those of
// a watcher's connections (WatcherAppName): nil on SQLite.
// WatcherAppName is the application_name of connections that only watch
// a database whose backends' CPU is measured (flx bench exchange's own
// reads of a child node's database: its progress, every 250 ms a count of
// the whole outbox): BackendPIDs leaves them out.
const WatcherAppName = "flx-bench-watch"

func BackendPIDs(ctx context.Context, st Store) ([]int, error) {
	s, ok := st.(*sqlStore)
	if !ok || s.dialect != Postgres {
		return nil, nil
	}
	var pids []int
	if err := s.db.SelectContext(ctx, &pids, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()
		AND application_name IS DISTINCT FROM '`+WatcherAppName+`'`); err != nil {
		return nil, fmt.Errorf("store.BackendPIDs: %w", err)
	}
	return pids, nil
}

// WALPosition returns the position of the write-ahead log of st's
// PostgreSQL server (pg_current_wal_lsn, in bytes from its start): the
// difference of two positions is the WAL the server wrote between them,
// for all its databases. ok is false on SQLite.
func WALPosition(ctx context.Context, st Store) (pos uint64, ok bool, err error) {
	s, isSQL := st.(*sqlStore)
	if !isSQL || s.dialect != Postgres {
		return 0, false, nil
	}
	if err := s.db.GetContext(ctx, &pos, `SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint`); err != nil {
		return 0, false, fmt.Errorf("store.WALPosition: %w", err)
	}
	return pos, true, nil
}
