package httpapi

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/stats"
)

// StatsRow is one aggregate of the statistics reports a coordinator
// received: the dimensions kept ("" for those summed over), the number of
// reports summed, and per metric the sum of published values with the
// number of suppressed values it could not add.
type StatsRow struct {
	Member  string               `json:"member,omitempty"`
	Country string               `json:"country,omitempty"`
	Period  string               `json:"period,omitempty"`
	Reports int                  `json:"reports"`
	Counts  map[string]StatsCell `json:"counts"`
}

// StatsCell is one aggregated count.
type StatsCell struct {
	Sum        int `json:"sum"`
	Suppressed int `json:"suppressed"`
	MaxHidden  int `json:"max_hidden"`
}

// StatsList answers GET /api/v1/stats.
type StatsList struct {
	By   []string   `json:"by"`
	Rows []StatsRow `json:"rows"`
}

// stats serves the aggregates of received statistics reports:
// ?by=member,country,period (default period,country), ?period=YYYY-MM,
// ?format=json|csv. Reports hold no personal data (SPEC.md §17).
func (l *localAPI) stats(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	q := parseQuery(r, "by", "period", "format")
	format := q.enum("format", "json", "csv")
	period := q.str("period")
	byParam := q.str("by")
	if q.err != nil {
		l.fail(w, r, q.err)
		return
	}
	if byParam == "" {
		byParam = "period,country"
	}
	var by stats.By
	var dims []string
	for _, d := range strings.Split(byParam, ",") {
		switch d {
		case "member":
			by.Member = true
		case "country":
			by.Country = true
		case "period":
			by.Period = true
		default:
			writeProblem(w, node.CodeBadRequest, "by: member, country and period, comma-separated")
			return
		}
		dims = append(dims, d)
	}
	rows, err := l.n.StatsAggregate(r.Context(), period, by)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	if format == "csv" {
		var buf bytes.Buffer
		if err := stats.WriteCSV(&buf, rows); err != nil {
			l.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="flx-stats.csv"`)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(buf.Bytes())
		return
	}
	out := StatsList{By: dims, Rows: make([]StatsRow, 0, len(rows))}
	for _, row := range rows {
		sr := StatsRow{Member: row.Member, Country: row.Country, Period: row.Period, Reports: row.Reports, Counts: map[string]StatsCell{}}
		for m, c := range row.Cells {
			sr.Counts[string(m)] = StatsCell{Sum: c.Sum, Suppressed: c.Suppressed, MaxHidden: c.MaxHidden}
		}
		out.Rows = append(out.Rows, sr)
	}
	writeJSON(w, http.StatusOK, out)
}

// StatsSent answers POST /api/v1/stats/send.
type StatsSent struct {
	Queued int `json:"queued"`
}

// sendStats computes this member's statistics now and queues, for every
// coordinator, the report of each settled month not yet reported or whose
// published counts changed (what the periodic job does; SPEC.md §17 and
// the optional trigger of §12).
func (l *localAPI) sendStats(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	if !l.noQuery(w, r) {
		return
	}
	n, err := l.n.SendStats(r.Context())
	if err != nil {
		err = problem.Errorf(problem.Internal, "statistics: %v", err)
	}
	l.reply(w, r, http.StatusAccepted, StatsSent{Queued: n}, err)
}
