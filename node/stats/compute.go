package stats

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/familylinks/flx/schema"
)

// Input is what the node hands in.
type Input interface {
	// Cases calls fn once per case that this member is the origin of, with
	// the versions of it the node holds, in ascending order of version (at
	// least the current one).
	Cases(ctx context.Context, fn func(versions []schema.Case) error) error
	// Messages calls fn once per message this member handled, with the
	// versions of it that this member recorded itself (not those received
	// from peers), oldest first.
	Messages(ctx context.Context, fn func(versions []schema.Message) error) error
}

// Documents is an Input over slices.
type Documents struct {
	CaseHistories    [][]schema.Case
	MessageHistories [][]schema.Message
}

// Cases implements Input.
func (d Documents) Cases(ctx context.Context, fn func([]schema.Case) error) error {
	for _, h := range d.CaseHistories {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(h); err != nil {
			return err
		}
	}
	return nil
}

// Messages implements Input.
func (d Documents) Messages(ctx context.Context, fn func([]schema.Message) error) error {
	for _, h := range d.MessageHistories {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(h); err != nil {
			return err
		}
	}
	return nil
}

// Period is a calendar month, UTC.
type Period struct {
	Year  int
	Month time.Month
}

// PeriodOf returns the month of t in UTC.
func PeriodOf(t time.Time) Period {
	t = t.UTC()
	return Period{t.Year(), t.Month()}
}

// ParsePeriod reads "YYYY-MM".
func ParsePeriod(s string) (Period, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil || len(s) != 7 {
		return Period{}, fmt.Errorf("stats: period %q is not YYYY-MM", s)
	}
	return PeriodOf(t), nil
}

// String returns "YYYY-MM".
func (p Period) String() string { return fmt.Sprintf("%04d-%02d", p.Year, int(p.Month)) }

// Start returns the first instant of the month.
func (p Period) Start() time.Time { return time.Date(p.Year, p.Month, 1, 0, 0, 0, 0, time.UTC) }

// End returns the first instant after the month.
func (p Period) End() time.Time { return p.Start().AddDate(0, 1, 0) }

// Next returns the following month.
func (p Period) Next() Period { return PeriodOf(p.End()) }

// Before reports whether p is earlier than q.
func (p Period) Before(q Period) bool {
	return p.Year < q.Year || (p.Year == q.Year && p.Month < q.Month)
}

// Metric names one count of a report, as named in schema v1's stats_report.
type Metric string

// The metrics, in the order of the report and the CSV.
const (
	RCMCollected     Metric = "rcm_collected"
	RCMTransmitted   Metric = "rcm_transmitted"
	RCMDistributed   Metric = "rcm_distributed"
	PhoneCalls       Metric = "phone_calls"
	VideoMessages    Metric = "video_messages"
	TracingOpened    Metric = "tracing_opened"
	TracingLocated   Metric = "tracing_located"
	TracingClosed    Metric = "tracing_closed"
	PeopleRegistered Metric = "people_registered"
	PeopleReunited   Metric = "people_reunited"
	ChildrenReunited Metric = "children_reunited"
)

// Metrics lists every metric in report order.
var Metrics = []Metric{RCMCollected, RCMTransmitted, RCMDistributed, PhoneCalls, VideoMessages,
	TracingOpened, TracingLocated, TracingClosed, PeopleRegistered, PeopleReunited, ChildrenReunited}

// field returns the report field of m.
func field(c *schema.StatsCounts, m Metric) **int {
	switch m {
	case RCMCollected:
		return &c.RCMCollected
	case RCMTransmitted:
		return &c.RCMTransmitted
	case RCMDistributed:
		return &c.RCMDistributed
	case PhoneCalls:
		return &c.PhoneCalls
	case VideoMessages:
		return &c.VideoMessages
	case TracingOpened:
		return &c.TracingOpened
	case TracingLocated:
		return &c.TracingLocated
	case TracingClosed:
		return &c.TracingClosed
	case PeopleRegistered:
		return &c.PeopleRegistered
	case PeopleReunited:
		return &c.PeopleReunited
	case ChildrenReunited:
		return &c.ChildrenReunited
	}
	panic("stats: unknown metric " + string(m))
}

// Counts are raw counts of one period. They are personal-data-free but not
// yet protected: never publish them; publish Protection.Report's result.
type Counts map[Metric]int

// Result is what Compute found.
type Result struct {
	Periods map[Period]Counts
	// Unreadable counts documents, or states, whose date could not be read
	// (they are left out); a data-quality figure for the operator's log.
	Unreadable int
}

func (r *Result) add(p Period, m Metric, n int) {
	if n == 0 {
		return
	}
	c := r.Periods[p]
	if c == nil {
		c = Counts{}
		r.Periods[p] = c
	}
	c[m] += n
}

// The case statuses that make a tracing request located, closed, reunited.
var (
	locatedStatuses = []schema.CaseStatus{schema.StatusLocatedPendingConsent, schema.StatusLocatedContactRestored, schema.StatusLocatedDeclinedContact}
	closedStatuses  = []schema.CaseStatus{schema.StatusClosedNegative, schema.StatusClosedWithdrawn, schema.StatusReunified, schema.StatusDeceased}
)

// registrationRoles are the roles of people a registration case registers.
var registrationRoles = map[schema.CaseType]schema.PersonRole{
	schema.CaseDetentionNotification:          schema.PersonDetainee,
	schema.CaseUnaccompaniedMinorRegistration: schema.PersonUnaccompaniedChild,
	schema.CaseDeathNotification:              schema.PersonDeceased,
}

// Compute counts member's activity per month from in. The rules:
//
//   - tracing_opened: a tracing_request case, in the month of its
//     origin.created_at;
//   - tracing_located: a tracing_request case the first time a version
//     carries a located_* status, in the month of that version's updated_at
//     (created_at for a first version without one);
//   - tracing_closed: a tracing_request case the first time a version
//     carries closed_negative, closed_withdrawn, reunified or deceased;
//   - people_registered: the persons of a detention_notification,
//     unaccompanied_minor_registration or death_notification case with the
//     role it registers (at least one per case), in the month of
//     origin.created_at;
//   - people_reunited: the first time any case is reunified, its persons
//     with role sought_person or unaccompanied_child (at least one), and
//     children_reunited those of them who are certainly under 18 then (by
//     birth date or age range), or carry the role unaccompanied_child or a
//     minor, unaccompanied_minor or separated_child vulnerability;
//   - rcm_collected / rcm_transmitted / rcm_distributed: a
//     red_cross_message the first time this member recorded it in that
//     delivery state, in the month of delivery.at (created_at without one);
//     a message whose first recorded version has no delivery state was
//     collected at its created_at;
//   - phone_calls: a phone_call_record, in the month of call.started_at
//     (created_at without one); video_messages: a video_message, in the
//     month of created_at.
//
// Cases of another origin are ignored (their origin counts them).
func Compute(ctx context.Context, in Input, member string) (*Result, error) {
	r := &Result{Periods: map[Period]Counts{}}
	err := in.Cases(ctx, func(versions []schema.Case) error {
		if len(versions) == 0 || versions[0].Origin.Member != member {
			return nil
		}
		vs := slices.Clone(versions)
		slices.SortStableFunc(vs, func(a, b schema.Case) int { return a.Version - b.Version })
		r.countCase(vs)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stats: reading cases: %w", err)
	}
	err = in.Messages(ctx, func(versions []schema.Message) error {
		if len(versions) > 0 {
			r.countMessage(versions)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stats: reading messages: %w", err)
	}
	return r, nil
}

// at returns the month of a date-time, or false (and counts it unreadable).
func (r *Result) at(d schema.DateTime) (Period, time.Time, bool) {
	t, err := d.Time()
	if d == "" || err != nil {
		r.Unreadable++
		return Period{}, time.Time{}, false
	}
	return PeriodOf(t), t, true
}

// versionTime is when a case version was made.
func versionTime(c *schema.Case) schema.DateTime {
	if c.UpdatedAt != "" {
		return c.UpdatedAt
	}
	return c.Origin.CreatedAt
}

func (r *Result) countCase(vs []schema.Case) {
	first := &vs[0]
	switch first.Type {
	case schema.CaseTracingRequest:
		if p, _, ok := r.at(first.Origin.CreatedAt); ok {
			r.add(p, TracingOpened, 1)
		}
		if v := firstIn(vs, locatedStatuses); v != nil {
			if p, _, ok := r.at(versionTime(v)); ok {
				r.add(p, TracingLocated, 1)
			}
		}
		if v := firstIn(vs, closedStatuses); v != nil {
			if p, _, ok := r.at(versionTime(v)); ok {
				r.add(p, TracingClosed, 1)
			}
		}
	}
	if role, ok := registrationRoles[first.Type]; ok {
		if p, _, ok := r.at(first.Origin.CreatedAt); ok {
			n := 0
			for i := range first.Persons {
				if first.Persons[i].HasRole(role) {
					n++
				}
			}
			r.add(p, PeopleRegistered, max(n, 1))
		}
	}
	if v := firstIn(vs, []schema.CaseStatus{schema.StatusReunified}); v != nil {
		if p, t, ok := r.at(versionTime(v)); ok {
			people, children := 0, 0
			for i := range v.Persons {
				pr := &v.Persons[i]
				if !pr.HasRole(schema.PersonSought) && !pr.HasRole(schema.PersonUnaccompaniedChild) {
					continue
				}
				people++
				if isChild(pr, t) {
					children++
				}
			}
			r.add(p, PeopleReunited, max(people, 1))
			r.add(p, ChildrenReunited, children)
		}
	}
}

// firstIn returns the first version whose status is in set, or nil.
func firstIn(vs []schema.Case, set []schema.CaseStatus) *schema.Case {
	for i := range vs {
		if slices.Contains(set, vs[i].Status) {
			return &vs[i]
		}
	}
	return nil
}

// isChild: certainly under 18 at t, or marked as a child.
func isChild(p *schema.Person, t time.Time) bool {
	if p.HasRole(schema.PersonUnaccompaniedChild) || p.HasVulnerability(schema.VulnMinor) ||
		p.HasVulnerability(schema.VulnUnaccompaniedMinor) || p.HasVulnerability(schema.VulnSeparatedChild) {
		return true
	}
	_, maxAge, ok := p.AgeAt(t)
	return ok && maxAge < 18
}

func (r *Result) countMessage(vs []schema.Message) {
	first := &vs[0]
	switch first.Kind {
	case schema.MessageRedCrossMessage:
		seen := map[schema.DeliveryState]bool{}
		for i := range vs {
			m := &vs[i]
			state, at := schema.DeliveryCollected, m.CreatedAt
			if m.Delivery != nil && m.Delivery.State != "" {
				state = m.Delivery.State
				if m.Delivery.At != "" {
					at = m.Delivery.At
				}
			} else if i > 0 {
				continue // a later version without a state records nothing new
			}
			var metric Metric
			switch state {
			case schema.DeliveryCollected:
				metric = RCMCollected
			case schema.DeliveryTransmitted:
				metric = RCMTransmitted
			case schema.DeliveryDistributed:
				metric = RCMDistributed
			default:
				continue
			}
			if seen[state] {
				continue
			}
			seen[state] = true
			if p, _, ok := r.at(at); ok {
				r.add(p, metric, 1)
			}
		}
	case schema.MessagePhoneCallRecord:
		at := first.CreatedAt
		if first.Call != nil && first.Call.StartedAt != "" {
			at = first.Call.StartedAt
		}
		if p, _, ok := r.at(at); ok {
			r.add(p, PhoneCalls, 1)
		}
	case schema.MessageVideo:
		if p, _, ok := r.at(first.CreatedAt); ok {
			r.add(p, VideoMessages, 1)
		}
	}
}

// CaseID is the case_id claim of a stats.report envelope for member and
// period: "<member>:stats-YYYY-MM". Revisions of one period share it, so
// that they are delivered in order like versions of a case.
func CaseID(member string, p Period) string { return member + ":stats-" + p.String() }

// Due returns the months to report at now: from first up to the last month
// that ended at least settle ago (a month is reported once it is over and
// its late records have had time to arrive). first is usually the month
// after the last one reported.
func Due(first Period, now time.Time, settle time.Duration) []Period {
	var out []Period
	for p := first; !p.End().Add(settle).After(now); p = p.Next() {
		out = append(out, p)
		if len(out) > 1200 {
			break // a century: a misconfigured first period, not a backlog
		}
	}
	return out
}

// itoa formats a count for CSV.
func itoa(n int) string { return strconv.Itoa(n) }
