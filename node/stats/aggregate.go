package stats

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/familylinks/flx/schema"
)

// Latest keeps, of each member's reports for one period, the highest
// revision (a revision replaces the earlier report; it is not added to it).
func Latest(reports []schema.StatsReport) []schema.StatsReport {
	type key struct{ member, period string }
	best := map[key]schema.StatsReport{}
	for _, r := range reports {
		k := key{r.Member, r.Period}
		if b, ok := best[k]; !ok || r.Revision > b.Revision {
			best[k] = r
		}
	}
	out := make([]schema.StatsReport, 0, len(best))
	for _, r := range best {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b schema.StatsReport) int {
		return strings.Compare(a.Period+"/"+a.Member, b.Period+"/"+b.Member)
	})
	return out
}

// By says which dimensions an aggregate keeps; the others are summed over.
type By struct {
	Member, Country, Period bool
}

// Key identifies a row: the kept dimensions, "" for those summed over.
type Key struct {
	Member  string
	Country string
	Period  string
}

// Cell is one aggregated count: the sum of the published values and the
// number of suppressed values that could not be added (each was from 1 to
// its report's threshold - 1). The true total lies between Sum + Suppressed
// and Sum + MaxHidden (up to the rounding of the published values).
type Cell struct {
	Sum        int
	Suppressed int
	MaxHidden  int // the sum of (threshold - 1) over the suppressed values
}

// Row is one aggregate.
type Row struct {
	Key
	Reports int // how many reports were summed
	Cells   map[Metric]Cell
}

// Aggregate sums reports by the dimensions of by, after Latest. It sees only
// published values, never raw counts: an aggregate can reveal nothing its
// reports did not.
func Aggregate(reports []schema.StatsReport, by By) []Row {
	rows := map[Key]*Row{}
	for _, r := range Latest(reports) {
		k := Key{}
		if by.Member {
			k.Member = r.Member
		}
		if by.Country {
			k.Country = r.Country
		}
		if by.Period {
			k.Period = r.Period
		}
		row := rows[k]
		if row == nil {
			row = &Row{Key: k, Cells: map[Metric]Cell{}}
			rows[k] = row
		}
		row.Reports++
		for _, m := range Metrics {
			c := row.Cells[m]
			if v := *field(&r.Counts, m); v != nil {
				c.Sum += *v
			} else {
				c.Suppressed++
				c.MaxHidden += r.Threshold - 1
			}
			row.Cells[m] = c
		}
	}
	out := make([]Row, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Row) int {
		return strings.Compare(a.Period+"/"+a.Country+"/"+a.Member, b.Period+"/"+b.Country+"/"+b.Member)
	})
	return out
}

// WriteCSV writes rows as CSV (RFC 4180): the columns member, country,
// period, reports, then for each metric its sum and its number of
// suppressed values ("<metric>" and "<metric>_suppressed"). Every value is a
// member id, a country code, a month or a number (none starts with = + - or
// @, so spreadsheets read no formula).
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	head := []string{"member", "country", "period", "reports"}
	for _, m := range Metrics {
		head = append(head, string(m), string(m)+"_suppressed")
	}
	if err := cw.Write(head); err != nil {
		return fmt.Errorf("stats: csv: %w", err)
	}
	for _, r := range rows {
		rec := []string{r.Member, r.Country, r.Period, itoa(r.Reports)}
		for _, m := range Metrics {
			c := r.Cells[m]
			rec = append(rec, itoa(c.Sum), itoa(c.Suppressed))
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("stats: csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("stats: csv: %w", err)
	}
	return nil
}
