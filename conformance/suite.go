package conformance

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// SuiteVersion is the version of this suite, recorded in every report.
const SuiteVersion = "flx-conformance 1.3.0"

// SpecVersion is the revision of SPEC.md the checks implement.
const SpecVersion = "flx/1 rev 4"

// Mode says what a check needs to run (SPEC.md §13.2).
type Mode string

// Modes.
const (
	ModeInbound  Mode = "inbound"  // always: the tester sends to the candidate
	ModeOutbound Mode = "outbound" // the trigger calls of SPEC.md §12 make the candidate send
	ModeSlow     Mode = "slow"     // waits minutes; only with Config.Slow
	// ModeManifest: the tester writes manifests to the file the candidate
	// reads its manifest from (Config.ManifestFile).
	ModeManifest Mode = "manifest"
)

// Status is the outcome of one check.
type Status string

// Statuses (SPEC.md §13.3).
const (
	StatusPass       Status = "pass"
	StatusFail       Status = "fail"
	StatusWarn       Status = "warn"
	StatusSkip       Status = "skip"
	StatusError      Status = "error"
	StatusNotChecked Status = "not_checked"
)

// Check is one check of the registry. Its ID is "<first requirement>/<slug>".
type Check struct {
	ID           string
	Requirements []string // requirement ids it covers (the first names it)
	Title        string
	Mode         Mode
	Level        string     // MUST (a failure fails) or SHOULD (a failure warns)
	Run          func(t *T) // a named function: checkSomething
	// Name is Run's name (filled by Checks): grep finds the check by it,
	// and Config.Only selects by it.
	Name string
}

// Area returns the check's area, e.g. "FLX-KEY".
func (c Check) Area() string { return areaOf(c.ID) }

func areaOf(id string) string {
	parts := strings.SplitN(id, "-", 3)
	if len(parts) < 2 {
		return id
	}
	return parts[0] + "-" + parts[1]
}

// Checks returns the checks of the registry, sorted by id, with their
// defaults (level MUST, mode inbound) and their function's name filled in.
func Checks() []Check {
	out := slices.Clone(registry)
	for i := range out {
		c := &out[i]
		if c.Level == "" {
			c.Level = "MUST"
		}
		if c.Mode == "" {
			c.Mode = ModeInbound
		}
		c.Name = funcName(c.Run)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// funcName is the name of a check function, without its package path.
func funcName(f func(*T)) string {
	if f == nil {
		return ""
	}
	name := runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
	return name[strings.LastIndexByte(name, '.')+1:]
}

// TB is the small test-like interface the assertion helpers take, so that
// checks run both inside the suite runner and under go test.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// T runs one check. Errorf marks the check failed and goes on; Fatalf
// marks it failed and stops it; Skipf and Abortf stop it as skipped or in
// error (the tester could not run it).
type T struct {
	*Env
	check  Check
	mu     sync.Mutex
	failed []string
	status Status
	reason string
	logs   []string
}

// Helper is a no-op (the interface matches testing.TB).
func (t *T) Helper() {}

// Errorf records a failure.
func (t *T) Errorf(format string, args ...any) {
	t.mu.Lock()
	t.failed = append(t.failed, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

// Fatalf records a failure and stops the check.
func (t *T) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	runtime.Goexit()
}

// Skipf stops the check as skipped.
func (t *T) Skipf(format string, args ...any) {
	t.mu.Lock()
	t.status, t.reason = StatusSkip, fmt.Sprintf(format, args...)
	t.mu.Unlock()
	runtime.Goexit()
}

// Abortf stops the check in error: the tester could not carry it out (a
// trigger call was refused, the tester's own listener failed, ...).
func (t *T) Abortf(format string, args ...any) {
	t.mu.Lock()
	t.status, t.reason = StatusError, fmt.Sprintf(format, args...)
	t.mu.Unlock()
	runtime.Goexit()
}

// Logf records a note shown with the result when the check fails.
func (t *T) Logf(format string, args ...any) {
	t.mu.Lock()
	t.logs = append(t.logs, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

// Result is the outcome of one check, or the not_checked entry of a
// requirement without a check.
type Result struct {
	Check        string   `json:"check"`
	Requirements []string `json:"requirements"`
	Level        string   `json:"level"`
	Area         string   `json:"area"`
	Mode         Mode     `json:"mode,omitempty"`
	Title        string   `json:"title"`
	Status       Status   `json:"status"`
	Reason       string   `json:"reason,omitempty"`
	DurationMS   int64    `json:"duration_ms"`
}

// Config configures Run.
type Config struct {
	// Dir is the conformance directory made by Init.
	Dir string
	// Target is the candidate's federation URL (default: its manifest endpoint).
	Target string
	// TriggerURL is the base URL of the candidate's trigger calls (SPEC.md
	// §12); empty skips the outbound checks. TriggerToken is the bearer
	// token (default: the one Init wrote).
	TriggerURL   string
	TriggerToken string
	// Only selects checks: each entry is a check id, a requirement id, an
	// id prefix ("FLX-KEY", "FLX-DLV-009") or the name of a check's
	// function ("checkReplaySameJTIOtherBytes"). Empty runs every check.
	Only []string
	// Slow enables the checks that wait minutes.
	Slow bool
	// Quiet is how long the tester watches for something that must not
	// arrive (default 8 s).
	Quiet time.Duration
	// Patience is how long the tester waits for something that must arrive
	// (default 90 s; SPEC.md allows the candidate 60 s for most).
	Patience time.Duration
	// ManifestFile enables manifest mode (SPEC.md §13.2): the file the
	// candidate reads its federation manifest from, which the tester
	// overwrites with the manifests of the manifest checks. ManifestRefresh
	// is how often the candidate re-reads it (default 1 s, as init
	// configures this project's node).
	ManifestFile    string
	ManifestRefresh time.Duration
	// CheckTimeout bounds one check (default 3 minutes).
	CheckTimeout time.Duration
	// Log receives one line per finished check (nil: none).
	Log io.Writer
}

// Selected reports whether a check is selected by only.
func Selected(c Check, only []string) bool {
	if len(only) == 0 {
		return true
	}
	for _, o := range only {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if c.ID == o || strings.HasPrefix(c.ID, o) || (c.Name != "" && strings.EqualFold(c.Name, o)) {
			return true
		}
		for _, r := range c.Requirements {
			if r == o || strings.HasPrefix(r, o) {
				return true
			}
		}
	}
	return false
}

// Run runs the selected checks against the candidate and returns the report.
// An error means the run could not start (no identity, the tester's listener
// could not bind); failures of the candidate are in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Quiet <= 0 {
		cfg.Quiet = 8 * time.Second
	}
	if cfg.Patience <= 0 {
		cfg.Patience = 90 * time.Second
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 3 * time.Minute
	}
	env, err := newEnv(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	rep := newReport(env, cfg)
	for _, c := range Checks() {
		if !Selected(c, cfg.Only) {
			continue
		}
		res := env.runCheck(ctx, c, cfg)
		rep.Results = append(rep.Results, res)
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, "%-5s %s %s\n", res.Status, res.Check, oneLine(res.Reason))
		}
	}
	if len(cfg.Only) == 0 {
		rep.addNotChecked()
	}
	rep.finish()
	return rep, nil
}

func (env *Env) runCheck(ctx context.Context, c Check, cfg Config) Result {
	res := Result{Check: c.ID, Requirements: c.Requirements, Level: c.Level, Area: c.Area(), Mode: c.Mode, Title: c.Title}
	switch {
	case c.Mode == ModeOutbound && env.trigger == nil:
		res.Status, res.Reason = StatusSkip, "outbound mode not enabled (no trigger URL, SPEC.md §12)"
		return res
	case c.Mode == ModeSlow && !cfg.Slow:
		res.Status, res.Reason = StatusSkip, "slow check: run with --slow"
		return res
	case c.Mode == ModeManifest && env.manifest == nil:
		res.Status, res.Reason = StatusSkip, "manifest mode not enabled (no manifest file, SPEC.md §13.2)"
		return res
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.CheckTimeout)
	defer cancel()
	t := &T{Env: env.with(cctx), check: c}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				t.mu.Lock()
				t.status, t.reason = StatusError, fmt.Sprintf("tester panic: %v", r)
				t.mu.Unlock()
			}
		}()
		c.Run(t)
	}()
	select {
	case <-done:
	case <-cctx.Done():
		t.Errorf("check did not finish within %s", cfg.CheckTimeout)
	}
	res.DurationMS = time.Since(start).Milliseconds()
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case len(t.failed) > 0:
		res.Status = StatusFail
		if c.Level == "SHOULD" {
			res.Status = StatusWarn
		}
		res.Reason = strings.Join(t.failed, "; ")
		if len(t.logs) > 0 {
			res.Reason += " [" + strings.Join(t.logs, "; ") + "]"
		}
	case t.status != "":
		res.Status, res.Reason = t.status, t.reason
	default:
		res.Status = StatusPass
	}
	return res
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
