package stats

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/familylinks/flx/schema"
)

// Protection is the disclosure control applied to every published count.
type Protection struct {
	// Threshold is k: counts from 1 to k-1 are suppressed. At least 3.
	Threshold int
	// Rounding is b: counts of k or more are rounded to the nearest
	// multiple of b, halves up. From 1 to Threshold.
	Rounding int
}

// DefaultProtection is k = 5, b = 5.
var DefaultProtection = Protection{Threshold: 5, Rounding: 5}

// Validate checks the bounds that keep the rule sound: k >= 3 (a count of 1
// or 2 identifies), 1 <= b <= k (so a published count of k or more never
// rounds to 0), k <= 100.
func (p Protection) Validate() error {
	switch {
	case p.Threshold < 3 || p.Threshold > 100:
		return fmt.Errorf("stats: threshold %d: must be 3 to 100", p.Threshold)
	case p.Rounding < 1 || p.Rounding > p.Threshold:
		return fmt.Errorf("stats: rounding %d: must be 1 to the threshold (%d)", p.Rounding, p.Threshold)
	}
	return nil
}

// Apply protects one count: 0 stays 0, 1..k-1 becomes nil (suppressed), k
// or more is rounded to the nearest multiple of b, halves up.
func (p Protection) Apply(n int) *int {
	switch {
	case n <= 0:
		z := 0
		return &z
	case n < p.Threshold:
		return nil
	}
	r := (n + p.Rounding/2) / p.Rounding * p.Rounding // integer division: halves go up
	return &r
}

var (
	memberRe  = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,31}$`)
	countryRe = regexp.MustCompile(`^[A-Z]{2}$`)
)

// Report builds the protected report of member (of country) for one month
// from raw counts. revision is 1 for the first report of the month. The
// result is valid against schema v1 stats_report.
func (p Protection) Report(member, country string, period Period, revision int, c Counts) (schema.StatsReport, error) {
	if err := p.Validate(); err != nil {
		return schema.StatsReport{}, err
	}
	if !memberRe.MatchString(member) || !countryRe.MatchString(country) || revision < 1 {
		return schema.StatsReport{}, errors.New("stats: a report needs a member id, a country code and a revision of at least 1")
	}
	r := schema.StatsReport{
		Schema: schema.KindStatsReport.SchemaTag(), Member: member, Country: country, Period: period.String(),
		Revision: revision, Threshold: p.Threshold, Rounding: p.Rounding,
	}
	for _, m := range Metrics {
		*field(&r.Counts, m) = p.Apply(c[m])
	}
	return r, nil
}

// Body encodes a report as the body of a stats.report envelope and checks it
// against schema v1.
func Body(r schema.StatsReport) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("stats: encode report: %w", err)
	}
	if err := schema.Validate(schema.KindStatsReport, b); err != nil {
		return nil, fmt.Errorf("stats: report: %w", err)
	}
	return b, nil
}

// ParseReport reads and validates a received stats.report body.
func ParseReport(body []byte) (schema.StatsReport, error) {
	r, err := schema.ParseStatsReport(body)
	if err != nil {
		return schema.StatsReport{}, err
	}
	return *r, nil
}

// Check is what the coordinator verifies of a received report beyond its
// schema: it comes from the member it names (the envelope's iss), that
// member's country in the manifest, and the envelope's case_id.
func Check(r schema.StatsReport, iss, country, caseID string) error {
	p, err := ParsePeriod(r.Period)
	switch {
	case err != nil:
		return err
	case r.Member != iss:
		return fmt.Errorf("stats: a report about %s sent by %s", r.Member, iss)
	case r.Country != country:
		return fmt.Errorf("stats: %s reports country %s, the manifest says %s", r.Member, r.Country, country)
	case caseID != CaseID(r.Member, p):
		return fmt.Errorf("stats: case_id %q is not %q", caseID, CaseID(r.Member, p))
	}
	prot := Protection{Threshold: r.Threshold, Rounding: r.Rounding}
	if err := prot.Validate(); err != nil {
		return err
	}
	// Every count must be one that the protection can publish: 0, or a
	// multiple of b no smaller than what k rounds to. A node that sent a raw
	// small count is refused here rather than passed on.
	for _, m := range Metrics {
		v := *field(&r.Counts, m)
		if v != nil && *v != 0 && (*v%prot.Rounding != 0 || *v < prot.Threshold-prot.Rounding/2) {
			return fmt.Errorf("stats: %s is %d, which threshold %d and rounding %d never publish", m, *v, prot.Threshold, prot.Rounding)
		}
	}
	return nil
}
