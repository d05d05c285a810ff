package conformance

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

//go:embed SPEC.md
var specMD []byte

// Requirement is one row of SPEC.md's requirement index (Appendix A).
type Requirement struct {
	ID      string
	Summary string
	Level   string // MUST, MUST NOT or SHOULD
	Checked string // the index's "checked" column
}

// IsChecked reports whether the index says the suite checks it in some mode
// ("yes", "outbound", "slow", possibly followed by a qualification).
func (r Requirement) IsChecked() bool {
	c := strings.TrimSpace(r.Checked)
	for _, p := range []string{"yes", "outbound", "slow", "manifest"} {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	return false
}

// Requirements parses SPEC.md's Appendix A.
func Requirements() []Requirement { return parseIndex(specMD) }

func parseIndex(md []byte) []Requirement {
	_, rest, ok := bytes.Cut(md, []byte("## Appendix A"))
	if !ok {
		return nil
	}
	rest, _, _ = bytes.Cut(rest, []byte("\n## "))
	var out []Requirement
	for _, line := range strings.Split(string(rest), "\n") {
		if !strings.HasPrefix(line, "| FLX-") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 5 {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		out = append(out, Requirement{ID: cells[0], Summary: cells[1], Level: cells[3], Checked: cells[4]})
	}
	return out
}

// Report is the result of one run (SPEC.md §13.4).
type Report struct {
	Format       string `json:"report"`
	Spec         string `json:"spec"`
	SuiteVersion string `json:"suite_version"`
	// SuiteRevision names the exact set of checks that ran (SuiteRevision):
	// two reports with the same revision were judged by the same checks.
	SuiteRevision string          `json:"suite_revision"`
	Target        ReportTarget    `json:"target"`
	Tester        ReportTester    `json:"tester"`
	Manifest      ReportManifest  `json:"manifest"`
	Modes         map[string]bool `json:"modes"`
	Timing        ReportTiming    `json:"timing"`
	Only          []string        `json:"only,omitempty"`
	StartedAt     time.Time       `json:"started_at"`
	FinishedAt    time.Time       `json:"finished_at"`
	Results       []Result        `json:"results"`
	Summary       map[Status]int  `json:"summary"`
	Verdict       string          `json:"verdict"`
}

// ReportTiming says how long the tester waited, and how the waits of the
// outbound checks were kept short (SPEC.md §13.2, §13.3).
type ReportTiming struct {
	QuietSeconds    float64 `json:"quiet_seconds"`
	PatienceSeconds float64 `json:"patience_seconds"`
	// RequestTimeoutSeconds is the candidate's delivery request timeout
	// as declared at init (120 when not): FLX-DLV-007 waits that long.
	RequestTimeoutSeconds float64 `json:"request_timeout_seconds"`
	// PullIntervalSeconds is a pull_only candidate's pull interval as
	// declared at init (300 when not): FLX-PUL-008 waits that long.
	PullIntervalSeconds float64 `json:"pull_interval_seconds"`
	// AuditHeadSeconds is how often the candidate sends a changed audit
	// head, as declared at init (0: not declared, FLX-WIT-001/head-resent
	// skipped).
	AuditHeadSeconds float64 `json:"audit_head_seconds,omitempty"`
	Note             string  `json:"note"`
}

// timingNote is the report's account of how long waits were shortened.
const timingNote = "outbound checks provoke at most 5 consecutive failed attempts, so their waits follow the " +
	"candidate's configured backoff (about 31 s from a 1 s start); a scenario's patience grows by 2^n s for n " +
	"provoked failures; manifest checks wait two of the candidate's manifest refresh intervals (--manifest-refresh) " +
	"for each manifest it must refuse; FLX-DLV-007 waits for a hung attempt to be given up as long as the candidate's " +
	"request timeout declared at init (request_timeout_seconds: this node's init configures and declares 5 s; 120 s, " +
	"the most FLX-DLV-007 allows, when not declared) plus the patience; FLX-PUL-008 waits the declared pull interval " +
	"(pull_interval_seconds: 1 s for this node, 300 s when not declared) and FLX-WIT-001/head-resent the declared audit-head " +
	"interval (audit_head_seconds: 60 s for this node with init --witness; skipped when not declared); nothing else " +
	"depends on the candidate's configuration"

// ReportTarget names the candidate.
type ReportTarget struct {
	Member   string   `json:"member"`
	Endpoint string   `json:"endpoint"`
	Pins     []string `json:"pins"`
}

// ReportTester names the tester member and the key that signs the report.
type ReportTester struct {
	Member string `json:"member"`
	KID    string `json:"kid"`
}

// ReportManifest names the conformance manifest.
type ReportManifest struct {
	Federation string `json:"federation"`
	Version    int64  `json:"version"`
	SHA256     string `json:"sha256"`
}

// ReportFormat is the value of the report's "report" member.
const ReportFormat = "flx-conformance-report/1"

// TypReport is the JWS typ of a signed report.
const TypReport = "flx-conformance-report+jws"

func newReport(env *Env, cfg Config) *Report {
	cand := env.id.Candidate()
	return &Report{
		Format: ReportFormat, Spec: SpecVersion, SuiteVersion: SuiteVersion, SuiteRevision: SuiteRevision(),
		Target: ReportTarget{Member: cand.ID, Endpoint: env.target.String(), Pins: cand.TLSSPKISHA256},
		Tester: ReportTester{Member: MemberTester, KID: env.id.Keys[keyTester].KID()},
		Manifest: ReportManifest{Federation: env.id.Manifest.Federation, Version: env.id.Manifest.Version,
			SHA256: sha256Hex(env.id.Manifest.Raw())},
		Modes: map[string]bool{"inbound": true, "outbound": env.trigger != nil, "manifest": env.manifest != nil, "slow": cfg.Slow},
		Timing: ReportTiming{QuietSeconds: cfg.Quiet.Seconds(), PatienceSeconds: cfg.Patience.Seconds(),
			RequestTimeoutSeconds: env.requestTimeout.Seconds(), PullIntervalSeconds: env.id.Settings.PullInterval().Seconds(),
			AuditHeadSeconds: float64(env.id.Settings.CandidateAuditHeadSeconds), Note: timingNote},
		Only:      cfg.Only,
		StartedAt: time.Now().UTC(),
	}
}

// addNotChecked lists the requirements without a check (SPEC.md Appendix A).
func (r *Report) addNotChecked() {
	covered := map[string]bool{}
	for _, res := range r.Results {
		for _, id := range res.Requirements {
			covered[id] = true
		}
	}
	for _, q := range Requirements() {
		if covered[q.ID] {
			continue
		}
		reason := q.Checked
		r.Results = append(r.Results, Result{
			Check: q.ID, Requirements: []string{q.ID}, Level: q.Level, Area: areaOf(q.ID),
			Title: q.Summary, Status: StatusNotChecked, Reason: reason,
		})
	}
}

func (r *Report) finish() {
	r.FinishedAt = time.Now().UTC()
	r.Summary = map[Status]int{}
	for _, s := range []Status{StatusPass, StatusFail, StatusWarn, StatusSkip, StatusError, StatusNotChecked} {
		r.Summary[s] = 0
	}
	for _, res := range r.Results {
		r.Summary[res.Status]++
	}
	switch {
	case r.Summary[StatusFail] > 0:
		r.Verdict = "fail"
	case r.Summary[StatusError] > 0:
		r.Verdict = "incomplete"
	default:
		r.Verdict = "pass"
	}
}

// ExitCode is the process status for the verdict: 0 pass, 1 fail, 2
// incomplete.
func (r *Report) ExitCode() int {
	switch r.Verdict {
	case "pass":
		return 0
	case "fail":
		return 1
	}
	return 2
}

// JSON encodes the report (indented; these bytes are what SignReport signs).
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteTable writes one row per result, then the counts and the verdict.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tTITLE\tWHY")
	for _, res := range r.Results {
		why := res.Reason
		if res.Status == StatusPass {
			why = ""
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", res.Check, res.Status, trim(res.Title, 70), oneLine(why))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	areas := map[string]map[Status]int{}
	for _, res := range r.Results {
		if areas[res.Area] == nil {
			areas[res.Area] = map[Status]int{}
		}
		areas[res.Area][res.Status]++
	}
	names := make([]string, 0, len(areas))
	for a := range areas {
		names = append(names, a)
	}
	sort.Strings(names)
	fmt.Fprintln(w)
	for _, a := range names {
		c := areas[a]
		fmt.Fprintf(w, "%-8s pass %d, fail %d, warn %d, skip %d, error %d, not checked %d\n", a,
			c[StatusPass], c[StatusFail], c[StatusWarn], c[StatusSkip], c[StatusError], c[StatusNotChecked])
	}
	s := r.Summary
	_, err := fmt.Fprintf(w, "\n%d pass, %d fail, %d warn, %d skip, %d error, %d not checked: verdict %s (%s, revision %s, %s)\n",
		s[StatusPass], s[StatusFail], s[StatusWarn], s[StatusSkip], s[StatusError], s[StatusNotChecked], r.Verdict, r.SuiteVersion, r.SuiteRevision, r.Spec)
	return err
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// JUnit XML (one testsuite per area).
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Name    string       `xml:"name,attr"`
	Tests   int          `xml:"tests,attr"`
	Fail    int          `xml:"failures,attr"`
	Errors  int          `xml:"errors,attr"`
	Skipped int          `xml:"skipped,attr"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name    string      `xml:"name,attr"`
	Tests   int         `xml:"tests,attr"`
	Fail    int         `xml:"failures,attr"`
	Errors  int         `xml:"errors,attr"`
	Skipped int         `xml:"skipped,attr"`
	Time    string      `xml:"time,attr"`
	Cases   []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// JUnit encodes the results as JUnit XML.
func (r *Report) JUnit() ([]byte, error) {
	root := junitSuites{Name: r.SuiteVersion + " against " + r.Target.Member}
	idx := map[string]int{}
	for _, res := range r.Results {
		i, ok := idx[res.Area]
		if !ok {
			i = len(root.Suites)
			idx[res.Area] = i
			root.Suites = append(root.Suites, junitSuite{Name: res.Area})
		}
		s := &root.Suites[i]
		c := junitCase{Name: res.Check, Classname: res.Area, Time: fmt.Sprintf("%.3f", float64(res.DurationMS)/1000)}
		msg := &junitMessage{Message: oneLine(res.Reason), Text: res.Reason}
		switch res.Status {
		case StatusFail:
			c.Failure = msg
			s.Fail++
		case StatusError:
			c.Error = msg
			s.Errors++
		case StatusSkip, StatusNotChecked:
			c.Skipped = msg
			s.Skipped++
		case StatusWarn:
			c.SystemOut = "warning (SHOULD not met): " + res.Reason
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	for i := range root.Suites {
		s := &root.Suites[i]
		var ms int64
		for _, res := range r.Results {
			if res.Area == s.Name {
				ms += res.DurationMS
			}
		}
		s.Time = fmt.Sprintf("%.3f", float64(ms)/1000)
		root.Tests += s.Tests
		root.Fail += s.Fail
		root.Errors += s.Errors
		root.Skipped += s.Skipped
	}
	b, err := xml.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// SignReport signs the report's JSON bytes as a compact JWS with typ
// flx-conformance-report+jws.
func SignReport(reportJSON []byte, key *jose.PrivateKey) ([]byte, error) {
	var r Report
	if err := json.Unmarshal(reportJSON, &r); err != nil || r.Format != ReportFormat {
		return nil, errors.New("conformance: not a conformance report")
	}
	return jose.Sign(reportJSON, TypReport, key)
}

// VerifyReport verifies a signed report with the tester's public key and
// returns the report and its exact JSON bytes.
func VerifyReport(signed []byte, key *jose.PublicKey) (*Report, []byte, error) {
	payload, _, err := jose.Verify(bytes.TrimSpace(signed), TypReport, func(kid string) (*jose.PublicKey, error) {
		if kid != key.KID() {
			return nil, fmt.Errorf("signed by key %q, not %q", kid, key.KID())
		}
		return key, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("conformance: report signature: %w", err)
	}
	var r Report
	if err := json.Unmarshal(payload, &r); err != nil {
		return nil, nil, fmt.Errorf("conformance: signed report does not decode: %w", err)
	}
	if r.Format != ReportFormat {
		return nil, nil, fmt.Errorf("conformance: report format %q", r.Format)
	}
	return &r, payload, nil
}

// SigningKey returns the tester's report signing key.
func (id *Identity) SigningKey() *jose.PrivateKey { return id.Keys[keyTester] }

// SuiteRevision identifies the checks of this build of the suite: "sha256:"
// and the first 16 hex digits of the SHA-256 over every check's id, level,
// mode, requirements and title, in id order, and the spec revision. A check
// added, dropped or changed in what it claims gives another revision, so a
// report says exactly which checks judged the candidate (SPEC.md §13.4).
func SuiteRevision() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", SpecVersion)
	for _, c := range Checks() {
		fmt.Fprintf(h, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Level, c.Mode, strings.Join(c.Requirements, ","), c.Title)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}
