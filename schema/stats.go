package schema

// Statistics reports (conformance/SPEC.md §17). A stats_report is not a case
// document: it is not among Kinds, which lists the documents a case
// exchange carries, but Validate knows it like the others.

// KindStatsReport is the document kind of a statistics report, the body of a
// stats.report envelope.
const KindStatsReport Kind = "stats_report"

// EnvelopeStatsReport is the envelope kind that carries a StatsReport.
const EnvelopeStatsReport = "stats.report"

// documentKinds are the kinds Validate compiles a schema for.
func documentKinds() []Kind {
	return append(Kinds(), KindStatsReport, KindMatchQuery, KindMatchAnswer)
}

// StatsReport is one member's activity counts for one calendar month (schema
// "flx/v1/stats_report"). It holds only numbers, a period, a member id and a
// country code: node/stats computes it so that no person can be singled out.
type StatsReport struct {
	// Schema is always "flx/v1/stats_report".
	Schema string `json:"schema"`
	// Member is the reporting member's id.
	Member string `json:"member"`
	// Country is the reporting member's country code.
	Country string `json:"country"`
	// Period is the month counted, "YYYY-MM" (UTC).
	Period string `json:"period"`
	// Revision is 1 for the first report of the period; a later revision
	// replaces it at the coordinator.
	Revision int `json:"revision"`
	// Threshold is k: a count from 1 to k-1 is reported as null.
	Threshold int `json:"threshold"`
	// Rounding is b: every count of k or more is rounded to the nearest
	// multiple of b (halves up).
	Rounding int         `json:"rounding"`
	Counts   StatsCounts `json:"counts"`
}

// StatsCounts are the counts of a StatsReport. Every member is present; nil
// (JSON null) means suppressed: from 1 to Threshold-1.
type StatsCounts struct {
	RCMCollected     *int `json:"rcm_collected"`
	RCMTransmitted   *int `json:"rcm_transmitted"`
	RCMDistributed   *int `json:"rcm_distributed"`
	PhoneCalls       *int `json:"phone_calls"`
	VideoMessages    *int `json:"video_messages"`
	TracingOpened    *int `json:"tracing_opened"`
	TracingLocated   *int `json:"tracing_located"`
	TracingClosed    *int `json:"tracing_closed"`
	PeopleRegistered *int `json:"people_registered"`
	PeopleReunited   *int `json:"people_reunited"`
	ChildrenReunited *int `json:"children_reunited"`
}

// ParseStatsReport validates doc as a statistics report and decodes it.
func ParseStatsReport(doc []byte) (*StatsReport, error) {
	return parseAs[StatsReport](KindStatsReport, doc)
}
