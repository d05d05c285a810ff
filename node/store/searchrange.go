package store

import (
	"context"
	"fmt"
	"strings"
)

// rangeKeyPrefix is the prefix of the keys case_range_keys holds (birth
// years, migration 0022): the keys a range of the search compiler spans.
const rangeKeyPrefix = "by_"

// rangeKeysOf returns the keys of keys (indexKeys's: without repeats)
// that case_range_keys holds for the case. On PostgreSQL the statements
// that insert a case with its keys insert these rows with it (since
// migration 0057; an UPDATE of the keys still goes through the trigger of
// 0022).
func rangeKeysOf(keys []string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k, rangeKeyPrefix) {
			out = append(out, k)
		}
	}
	return out
}

// denseRange is the number of case_range_keys entries from which a range
// is dense enough that walking the cases in sort order (each checked with
// one index probe) fills a page sooner than fetching every match through
// the index and sorting them: at 5,000 entries over a million cases, a
// page of 50 is found within about 10,000 cases walked.
var denseRange = 5000

// rangesIndexed reports whether case_range_keys answers every range: both
// ends carry its prefix, so every key between them does too.
func rangesIndexed(rs []KeyRange) bool {
	if len(rs) == 0 {
		return false
	}
	for _, r := range rs {
		if !strings.HasPrefix(r.From, rangeKeyPrefix) || !strings.HasPrefix(r.To, rangeKeyPrefix) {
			return false
		}
	}
	return true
}

// rangeConditions adds the conditions of ranges without key groups (a
// birth-year or age range, maybe with column filters) through
// case_range_keys: if the narrowest range holds fewer than denseRange
// entries, its cases are fetched through the index (materialize: then
// sorted), else the cases are walked in sort order and each is checked
// with one probe per range. Neither reads every case.
func (q *queries) rangeConditions(ctx context.Context, w *where, rs []KeyRange) (materialize bool, err error) {
	best, fewest := -1, denseRange
	for i, r := range rs {
		var n int
		if err := q.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM case_range_keys WHERE key >= ? AND key <= ? LIMIT ?) t`,
			r.From, r.To, denseRange).Scan(&n); err != nil {
			return false, fmt.Errorf("range size: %w", err)
		}
		if n < fewest {
			best, fewest = i, n
		}
	}
	for i, r := range rs {
		if i == best {
			w.add(`c.case_id IN (SELECT case_id FROM case_range_keys WHERE key >= ? AND key <= ?)`, r.From, r.To)
			continue
		}
		w.add(`EXISTS (SELECT 1 FROM case_range_keys r WHERE r.case_id = c.case_id AND r.key >= ? AND r.key <= ?)`, r.From, r.To)
	}
	return best >= 0, nil
}
