package dbtest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
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

// encodings returns the base64 forms of marker, of either alphabet at each
// alignment, without the characters that also encode its neighbours.
func encodings(marker string) []string {
	var out []string
	for pad := range 3 {
		for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.RawStdEncoding} {
			s := enc.EncodeToString(append(bytes.Repeat([]byte{0}, pad), marker...))
			out = append(out, s[(pad*8+5)/6:len(s)-2])
		}
	}
	return out
}

// Holds returns "table: row" for every row of every table of the database
// at dsn (a store DSN: "sqlite:<path>", or a PostgreSQL URL when postgres)
// that holds marker: as text (any case), or base64 of either alphabet at
// any alignment (envelopes are compact JWS), or base64 of that (an envelope
// inside a relay.forward), each also as hex (PostgreSQL's text of a
// bytea). The caller imports the store, which registers the drivers
// ("pgx", "sqlite").
func Holds(t testing.TB, postgres bool, dsn, marker string) []string {
	t.Helper()
	return HoldsEach(t, postgres, dsn, marker)[marker]
}

// HoldsEach is Holds for several markers in one reading of the database:
// the rows that hold each marker, by marker (markers held nowhere are
// absent).
func HoldsEach(t testing.TB, postgres bool, dsn string, markers ...string) map[string][]string {
	t.Helper()
	driver, conn, tables := "pgx", dsn,
		`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`
	if !postgres {
		driver, conn = "sqlite", strings.TrimPrefix(dsn, "sqlite:")
		tables = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	}
	db, err := sql.Open(driver, conn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	needles := map[string][][]byte{}
	for _, marker := range markers {
		ns := [][]byte{[]byte(strings.ToLower(marker)), []byte(hex.EncodeToString([]byte(marker)))}
		for _, b := range encodings(marker) {
			ns = append(ns, []byte(b), []byte(hex.EncodeToString([]byte(b))))
			// Encoded twice: an envelope inside a relay.forward (a chain a
			// relay carries).
			for _, bb := range encodings(b) {
				ns = append(ns, []byte(bb), []byte(hex.EncodeToString([]byte(bb))))
			}
		}
		needles[marker] = ns
	}
	rows, err := db.QueryContext(t.Context(), tables)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	held := map[string][]string{}
	for _, table := range names {
		GrepRows(t, db, postgres, []string{table}, func(row []byte) bool {
			lower := bytes.ToLower(row)
			for _, marker := range markers {
				for _, n := range needles[marker] {
					if bytes.Contains(row, n) || bytes.Contains(lower, n) {
						held[marker] = append(held[marker], table+": "+string(row))
						break
					}
				}
			}
			return false
		})
	}
	return held
}
