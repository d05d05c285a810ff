package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// DestinationLookup finds a member in the federation manifest. The node
// supplies it (policy cannot import federation).
type DestinationLookup func(member string) (Destination, bool)

// CheckRequest is the input of `flx policy check --rules F --case C --to M`.
type CheckRequest struct {
	// RulesPath is the rules file; Rules, if set, is used instead.
	RulesPath string
	Rules     *Rules
	// CasePath is the document to check (a case, response, message or
	// withdrawal; the kind is read from its schema field).
	CasePath string
	// To is the destination member id, resolved with Lookup. A member the
	// lookup does not know is checked as unknown (and denied).
	To     string
	Lookup DestinationLookup
	// Kind overrides the envelope kind (default: case.create for version
	// 1 of a case, case.update for later versions, else from the schema).
	Kind string
	// Now is the evaluation time (default: time.Now()).
	Now time.Time
	// CurrentVersion, if > 0, is the case's current version in the store;
	// by default a case file is taken as the current version of its case.
	CurrentVersion int64
	// CaseContextPath is the case a response or message is about (see
	// WithCase); without it a response or message is denied.
	CaseContextPath string
}

// CheckResult is the outcome of Check.
type CheckResult struct {
	Decision Decision `json:"decision"`
	// Document is what would be sent (nil when denied).
	Document json.RawMessage `json:"document,omitempty"`
}

// Exit codes for `flx policy check`.
const (
	ExitAllow       = 0 // allow or allow_with_redactions
	ExitDeny        = 1
	ExitUsage       = 2 // the caller's: bad arguments, unreadable or invalid rules file
	ExitNeedsReview = 3
)

// ExitCode maps the decision to the command's exit status.
func (r *CheckResult) ExitCode() int {
	switch r.Decision.Effect {
	case Allow, AllowWithRedactions:
		return ExitAllow
	case NeedsReview:
		return ExitNeedsReview
	default:
		return ExitDeny
	}
}

// Check runs the policy on one document for one destination, as `flx
// policy check` does. The error is for problems with the request itself
// (unreadable files, an invalid rules file); a document that may not be
// sent is a deny decision, not an error.
func Check(ctx context.Context, req CheckRequest) (*CheckResult, error) {
	rules := req.Rules
	if rules == nil {
		if req.RulesPath == "" {
			return nil, fmt.Errorf("policy check: no rules file given")
		}
		var err error
		if rules, err = Load(req.RulesPath); err != nil {
			return nil, err
		}
	}
	if req.CasePath == "" || req.To == "" {
		return nil, fmt.Errorf("policy check: a document (--case) and a destination (--to) are required")
	}
	doc, err := os.ReadFile(req.CasePath)
	if err != nil {
		return nil, fmt.Errorf("policy check: %w", err)
	}
	dst := Destination{Member: req.To}
	if req.Lookup != nil {
		if d, ok := req.Lookup(req.To); ok {
			dst = d
		}
	}
	kind := req.Kind
	if kind == "" {
		kind = inferKind(doc)
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	var opts []EvalOption
	cur := req.CurrentVersion
	if cur <= 0 {
		var head struct {
			Version int64 `json:"version"`
		}
		if json.Unmarshal(doc, &head) == nil {
			cur = head.Version
		}
	}
	if cur > 0 {
		opts = append(opts, CurrentVersion(cur))
	}
	if req.CaseContextPath != "" {
		cb, err := os.ReadFile(req.CaseContextPath)
		if err != nil {
			return nil, fmt.Errorf("policy check: %w", err)
		}
		opts = append(opts, WithCase(cb))
	}
	d, out := New(rules).Apply(ctx, doc, kind, dst, now, opts...)
	res := &CheckResult{Decision: d}
	if out != nil {
		res.Document = out
	}
	return res, nil
}

// inferKind guesses the envelope kind from a document's schema field.
func inferKind(doc []byte) string {
	var head struct {
		Schema  string          `json:"schema"`
		Version json.RawMessage `json:"version"`
	}
	_ = json.Unmarshal(doc, &head)
	switch head.Schema {
	case "flx/v1/case":
		if string(head.Version) == "1" {
			return "case.create"
		}
		return "case.update"
	case "flx/v1/response":
		return "case.response"
	case "flx/v1/message":
		return "message.deliver"
	case "flx/v1/withdrawal":
		return "case.withdraw"
	}
	return "unknown"
}

// Text renders the result for a terminal.
func (r *CheckResult) Text() string {
	d := r.Decision
	var b strings.Builder
	fmt.Fprintf(&b, "decision:    %s\n", strings.ToUpper(string(d.Effect)))
	if d.CaseID != "" {
		fmt.Fprintf(&b, "document:    %s %s", d.Kind, d.CaseID)
		if d.CaseVersion > 0 {
			fmt.Fprintf(&b, " v%d", d.CaseVersion)
		}
		b.WriteByte('\n')
	} else {
		fmt.Fprintf(&b, "document:    %s\n", d.Kind)
	}
	fmt.Fprintf(&b, "destination: %s\n", d.Destination)
	fmt.Fprintf(&b, "policy:      %s (%s)\n", d.PolicyVersion, d.PolicyHash)
	if len(d.Fired) == 0 {
		b.WriteString("rules fired: none\n")
	} else {
		b.WriteString("rules fired:\n")
		for _, f := range d.Fired {
			fmt.Fprintf(&b, "  %-28s %-12s %s\n", f.RuleID, f.Effect, f.Reason)
			for _, p := range f.Pointers {
				fmt.Fprintf(&b, "  %-28s %-12s   - %s\n", "", "", p)
			}
		}
	}
	if len(d.Redactions) > 0 {
		b.WriteString("removed:\n")
		for _, p := range d.Redactions {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	}
	switch d.Effect {
	case NeedsReview:
		b.WriteString("The forward is held until an operator approves or rejects it.\n")
	case Deny:
		b.WriteString("Nothing will be sent.\n")
	}
	return b.String()
}
