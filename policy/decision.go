package policy

import (
	"fmt"
	"time"
)

// Effect is the outcome of a policy evaluation.
type Effect string

// Decision effects, in increasing precedence: when several rules fire, the
// decision takes the strongest effect (deny > needs_review >
// allow_with_redactions > allow).
const (
	Allow               Effect = "allow"
	AllowWithRedactions Effect = "allow_with_redactions"
	NeedsReview         Effect = "needs_review"
	Deny                Effect = "deny"
)

func (e Effect) rank() int {
	switch e {
	case Allow:
		return 0
	case AllowWithRedactions:
		return 1
	case NeedsReview:
		return 2
	default: // Deny and anything unknown: fail closed.
		return 3
	}
}

// Rule effects recorded in Fired.Effect.
const (
	RuleDeny        = "deny"         // the document must not leave
	RuleNeedsReview = "needs_review" // an operator must approve before it leaves
	RuleRedact      = "redact"       // the listed pointers are removed before it leaves
)

func ruleEffectToDecision(e string) Effect {
	switch e {
	case RuleRedact:
		return AllowWithRedactions
	case RuleNeedsReview:
		return NeedsReview
	default:
		return Deny
	}
}

// Fired records one rule that fired during an evaluation.
type Fired struct {
	RuleID string `json:"rule_id"`
	Effect string `json:"effect"` // deny | needs_review | redact
	Reason string `json:"reason"`
	// Pointers are the JSON pointers (into the input document) this rule
	// asked to remove; empty unless Effect is redact.
	Pointers []string `json:"pointers,omitempty"`
}

// Review records an operator's decision on a needs_review result.
type Review struct {
	Approved bool      `json:"approved"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
	Note     string    `json:"note,omitempty"`
}

// Decision is the result of evaluating the policy for one document and one
// destination. It is JSON-serialisable: the node stores it with the outbox
// entry, shows it to the caseworker and cites PolicyHash in receipts.
type Decision struct {
	Effect Effect `json:"effect"`
	// Kind is the envelope kind evaluated (case.create, case.update, ...).
	Kind string `json:"kind"`
	// CaseID and CaseVersion identify the document when it has them.
	CaseID      string `json:"case_id,omitempty"`
	CaseVersion int64  `json:"case_version,omitempty"`
	// Destination is the receiving member id.
	Destination string `json:"destination"`
	// Redactions are the JSON pointers removed from the input document,
	// sorted, with pointers under a removed ancestor left out.
	Redactions []string `json:"redactions"`
	// Fired lists every rule that fired, in evaluation order.
	Fired []Fired `json:"fired"`
	// PolicyVersion is the rules file's version field; PolicyHash is
	// "sha256:" followed by the hex SHA-256 of the rules file bytes.
	PolicyVersion string    `json:"policy_version"`
	PolicyHash    string    `json:"policy_hash"`
	EvaluatedAt   time.Time `json:"evaluated_at"`
	// Error is set when evaluation failed; the effect is then deny.
	Error string `json:"error,omitempty"`
	// Review is set once an operator approved or rejected a needs_review
	// decision (see Approve and Reject).
	Review *Review `json:"review,omitempty"`
}

// Allowed reports whether the (possibly redacted) document may be sent now.
func (d Decision) Allowed() bool {
	return d.Effect == Allow || d.Effect == AllowWithRedactions
}

// Approve records an operator's approval of a needs_review decision. The
// returned decision allows the forward, with the redactions already
// computed (deny and needs_review rules are kept in Fired for the record).
// Only needs_review decisions can be approved.
func (d Decision) Approve(by string, at time.Time, note string) (Decision, error) {
	if d.Effect != NeedsReview {
		return d, fmt.Errorf("policy: only a needs_review decision can be approved (effect is %s)", d.Effect)
	}
	if by == "" {
		return d, fmt.Errorf("policy: approval needs the operator's identity")
	}
	d.Review = &Review{Approved: true, By: by, At: at.UTC(), Note: note}
	d.Effect = Allow
	if len(d.Redactions) > 0 {
		d.Effect = AllowWithRedactions
	}
	return d, nil
}

// Reject records an operator's rejection of a needs_review decision; the
// result is deny.
func (d Decision) Reject(by string, at time.Time, note string) (Decision, error) {
	if d.Effect != NeedsReview {
		return d, fmt.Errorf("policy: only a needs_review decision can be rejected (effect is %s)", d.Effect)
	}
	if by == "" {
		return d, fmt.Errorf("policy: rejection needs the operator's identity")
	}
	d.Review = &Review{Approved: false, By: by, At: at.UTC(), Note: note}
	d.Effect = Deny
	return d, nil
}
