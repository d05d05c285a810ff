package console

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/stats"
	"github.com/familylinks/flx/schema"
)

// statsTTL is how long computed statistics are reused: computing reads
// every version of every own case, and the months shown change slowly.
const statsTTL = 5 * time.Minute

// statsCache keeps the last computed counts.
type statsCache struct {
	mu   sync.Mutex
	at   time.Time
	res  *stats.Result
	prot stats.Protection
}

// ownStats returns this node's counts and the protection its reports
// apply, computed at most every statsTTL.
func (c *Console) ownStats(q *req) (*stats.Result, stats.Protection, error) {
	c.stats.mu.Lock()
	defer c.stats.mu.Unlock()
	now := c.o.Now()
	if c.stats.res != nil && now.Sub(c.stats.at) < statsTTL && !now.Before(c.stats.at) {
		return c.stats.res, c.stats.prot, nil
	}
	res, prot, err := c.o.Backend.OwnStats(q.Context(), q.actor())
	if err != nil {
		return nil, stats.Protection{}, err
	}
	if prot == (stats.Protection{}) {
		prot = stats.DefaultProtection
	}
	c.stats.res, c.stats.prot, c.stats.at = res, prot, now
	return res, prot, nil
}

// statsMonths are the lengths of history the page offers.
var statsMonths = []string{"6", "12", "24", "36"}

// ownReports turns the raw counts of the last months into the reports this
// node publishes (its protection: small counts suppressed, others
// rounded); nothing raw is shown or downloaded.
func (c *Console) ownReports(q *req, months int) ([]stats.Period, []schema.StatsReport, stats.Protection, error) {
	res, prot, err := c.ownStats(q)
	if err != nil {
		return nil, nil, prot, err
	}
	self := c.o.Backend.Self()
	country := "ZZ"
	if m := c.o.Backend.Manifest(); m != nil {
		if mb, ok := m.Member(self); ok && mb.Country != "" {
			country = mb.Country
		}
	}
	last := stats.PeriodOf(c.o.Now())
	first := last
	for i := 1; i < months; i++ {
		first = stats.PeriodOf(first.Start().AddDate(0, -1, 0))
	}
	var periods []stats.Period
	var reports []schema.StatsReport
	for p := first; !last.Before(p); p = p.Next() {
		r, err := prot.Report(self, country, p, 1, res.Periods[p])
		if err != nil {
			return nil, nil, prot, err
		}
		periods = append(periods, p)
		reports = append(reports, r)
	}
	return periods, reports, prot, nil
}

func monthChoices(lc *locale, cur int) []option {
	var out []option
	for _, m := range statsMonths {
		out = append(out, option{m, lc.T("stats.months", m), m == strconv.Itoa(cur)})
	}
	return out
}

func statsLength(q *req) int {
	n, _ := strconv.Atoi(pick(q.URL.Query().Get("months"), statsMonths))
	if n == 0 {
		n = 12
	}
	return n
}

// The drawing of one chart, in SVG user units.
const (
	chartW, chartH = 320, 150
	plotTop        = 16 // room for the scale's label
	plotH          = 110
	tickY          = plotTop + plotH + 16
)

type statBar struct {
	X, Y, W, H int
	TX         int
	Tick       string
	Label      string // the period, in words
	Text       string // the value as published
	Suppressed bool
}

type statChart struct {
	ID, Title string
	Bars      []statBar
	W, H      int
	Base      int // y of the axis
	MaxText   string
	None      bool // nothing in any month: the chart says so
	MidX      int  // where it says so
	MidY      int
}

type statRow struct {
	Title string
	Cells []string
}

// charts draws one bar chart per metric over the periods, from the
// published values: a suppressed value is a short hatched bar labelled
// "fewer than k". Right-to-left languages put the latest month on the left.
// shown is false when every value of every month is 0: nothing to draw.
func charts(v *view, prot stats.Protection, periods []stats.Period, reports []schema.StatsReport, rtl bool) (_ []statChart, _ []statRow, shown bool) {
	var out []statChart
	var rows []statRow
	n := len(periods)
	slot := chartW / max(n, 1)
	for _, m := range stats.Metrics {
		ch := statChart{ID: string(m), Title: v.T("metric." + string(m)), W: chartW, H: chartH, Base: plotTop + plotH,
			MidX: chartW / 2, MidY: plotTop + plotH/2}
		row := statRow{Title: ch.Title}
		vals := make([]*int, n)
		top := 0
		ch.None = true
		for i, r := range reports {
			vals[i] = metricValue(r.Counts, m)
			if vals[i] != nil {
				top = max(top, *vals[i])
			}
			if vals[i] == nil || *vals[i] != 0 {
				ch.None = false
			}
		}
		shown = shown || !ch.None
		top = max(top, prot.Threshold)
		ch.MaxText = v.Num(int64(top))
		for i, p := range periods {
			slotIdx := i
			if rtl {
				slotIdx = n - 1 - i
			}
			b := statBar{W: slot * 6 / 10, Label: v.Date(p.String())}
			b.X = slotIdx*slot + (slot-b.W)/2
			b.TX = slotIdx*slot + slot/2
			if p.Month == time.January || i == 0 {
				b.Tick = strconv.Itoa(p.Year%100) + "/" + strconv.Itoa(int(p.Month))
			} else {
				b.Tick = strconv.Itoa(int(p.Month))
			}
			if vals[i] == nil {
				b.Suppressed = true
				b.H = plotH * (prot.Threshold - 1) / top
				b.Text = v.T("stats.suppressed", prot.Threshold)
			} else {
				b.H = plotH * *vals[i] / top
				b.Text = v.Num(int64(*vals[i]))
			}
			b.Y = plotTop + plotH - b.H
			ch.Bars = append(ch.Bars, b)
			row.Cells = append(row.Cells, b.Text)
		}
		out = append(out, ch)
		rows = append(rows, row)
	}
	return out, rows, shown
}

func metricValue(c schema.StatsCounts, m stats.Metric) *int {
	switch m {
	case stats.RCMCollected:
		return c.RCMCollected
	case stats.RCMTransmitted:
		return c.RCMTransmitted
	case stats.RCMDistributed:
		return c.RCMDistributed
	case stats.PhoneCalls:
		return c.PhoneCalls
	case stats.VideoMessages:
		return c.VideoMessages
	case stats.TracingOpened:
		return c.TracingOpened
	case stats.TracingLocated:
		return c.TracingLocated
	case stats.TracingClosed:
		return c.TracingClosed
	case stats.PeopleRegistered:
		return c.PeopleRegistered
	case stats.PeopleReunited:
		return c.PeopleReunited
	case stats.ChildrenReunited:
		return c.ChildrenReunited
	}
	return nil
}

// isCoordinator reports whether this node is a coordinator in the held
// manifest: members send it their statistics reports (SPEC.md §17).
func (c *Console) isCoordinator() bool {
	m := c.o.Backend.Manifest()
	if m == nil {
		return false
	}
	mb, ok := m.Member(c.o.Backend.Self())
	return ok && mb.Role == federation.RoleCoordinator
}

// breakdown is a coordinator's table of received reports by member or by
// country, over all months: one row per key, one cell per metric, each the
// sum of published values, with the suppressed values it could not add.
type breakdown struct {
	Heads []string
	Rows  []statRow
}

func receivedBreakdown(v *view, rows []stats.Row, byMember bool) breakdown {
	var b breakdown
	for _, m := range stats.Metrics {
		b.Heads = append(b.Heads, v.T("metric."+string(m)))
	}
	for _, r := range rows {
		title := r.Country
		if byMember {
			title = r.Member + " (" + r.Country + ")"
		}
		row := statRow{Title: title}
		for _, m := range stats.Metrics {
			cell := r.Cells[m]
			text := v.Num(int64(cell.Sum))
			if cell.Suppressed > 0 {
				text += " " + v.T("stats.withheld", cell.Suppressed)
			}
			row.Cells = append(row.Cells, text)
		}
		b.Rows = append(b.Rows, row)
	}
	return b
}

func (c *Console) statsPage(w http.ResponseWriter, q *req) {
	months := statsLength(q)
	periods, reports, prot, err := c.ownReports(q, months)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	var byMember, byCountry *breakdown
	if c.isCoordinator() {
		v := c.newView(q, "stats.title")
		for _, mb := range []bool{true, false} {
			rows, err := c.o.Backend.ReceivedStats(q.Context(), q.actor(), stats.By{Member: mb, Country: true})
			if err != nil {
				c.fail(w, q, err)
				return
			}
			b := receivedBreakdown(v, rows, mb)
			if mb {
				byMember = &b
			} else {
				byCountry = &b
			}
		}
	}
	v := c.newView(q, "stats.title")
	chs, rows, shown := charts(v, prot, periods, reports, q.lc.rtl)
	if !shown {
		chs, rows = nil, nil
	}
	var heads []string
	for _, p := range periods {
		heads = append(heads, v.Date(p.String()))
	}
	c.render(w, q, http.StatusOK, "stats", struct {
		*view
		Charts    []statChart
		Rows      []statRow
		Periods   []string
		Months    []option
		Length    int
		Withheld  int
		Rounding  int
		ByMember  *breakdown
		ByCountry *breakdown
	}{v, chs, rows, heads, monthChoices(q.lc, months), months,
		prot.Threshold - 1, prot.Rounding, byMember, byCountry})
}

// statsCSV answers the same published numbers as the page, one row per
// month (stats.WriteCSV: a suppressed value counts 0 in its column and 1 in
// its _suppressed column).
func (c *Console) statsCSV(w http.ResponseWriter, q *req) {
	_, reports, _, err := c.ownReports(q, statsLength(q))
	if err != nil {
		c.fail(w, q, err)
		return
	}
	rows := stats.Aggregate(reports, stats.By{Member: true, Country: true, Period: true})
	if c.isCoordinator() {
		// A coordinator's download also holds what members reported to it,
		// per member, country and month: published values only.
		got, err := c.o.Backend.ReceivedStats(q.Context(), q.actor(), stats.By{Member: true, Country: true, Period: true})
		if err != nil {
			c.fail(w, q, err)
			return
		}
		for _, r := range got {
			if r.Member != c.o.Backend.Self() {
				rows = append(rows, r)
			}
		}
	}
	var buf bytes.Buffer
	if err := stats.WriteCSV(&buf, rows); err != nil {
		c.fail(w, q, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="flx-stats-`+c.o.Backend.Self()+`.csv"`)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
}
