package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
)

// Querier is what GrepRows reads through: a *sql.DB or *sqlx.DB.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// GrepRows returns "table: row" for every row of the named tables whose
// text, each column printed and followed by "|", satisfies holds. On
// PostgreSQL (postgres true) a row is read as its whole-row text form, so
// bytea columns come out as hex.
func GrepRows(t testing.TB, db Querier, postgres bool, tables []string, holds func(row []byte) bool) []string {
	t.Helper()
	var hits []string
	for _, table := range tables {
		q := `SELECT * FROM ` + table
		if postgres {
			q = `SELECT t::text FROM ` + table + ` t`
		}
		rows, err := db.QueryContext(t.Context(), q)
		if err != nil {
			t.Fatalf("grep %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatalf("grep %s: %v", table, err)
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("grep %s: %v", table, err)
			}
			var row []byte
			for _, v := range vals {
				row = fmt.Appendf(row, "%s|", v)
			}
			if holds(row) {
				hits = append(hits, table+": "+string(row))
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("grep %s: %v", table, err)
		}
		rows.Close()
	}
	return hits
}
