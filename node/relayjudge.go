package node

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/policy"
)

// relayMayCarry checks, before an attempt sends this member's own envelope
// inner (a case, response or message) through the relay via, that the
// relay may hold what it carries in the clear. The send judged the relay
// of the route it had then (policy.Through); a route that changed since
// (a new relay_via in the manifest, a local route) is judged here, on the
// bytes as queued: a deny, or anything the relay's rules would still
// remove, refuses the attempt, so the row is retried and, if the route
// stays, dead-lettered, and nothing reaches the relay. A review the
// relay's rules ask for is not asked again here (an operator may have
// approved the send).
func (n *Node) relayMayCarry(ctx context.Context, inner []byte, caseID, via string) error {
	c, err := federation.ClaimsOf(inner)
	if err != nil {
		return fmt.Errorf("node: relay check: %w", err)
	}
	var opts []policy.EvalOption
	switch c.Kind {
	case federation.KindCaseCreate, federation.KindCaseUpdate:
		var v struct {
			Version int64 `json:"version"`
		}
		_ = json.Unmarshal(c.Body, &v)
		opts = append(opts, policy.CurrentVersion(v.Version))
	case federation.KindCaseResponse, federation.KindMessageDeliver:
		cs, err := n.o.Store.GetCase(ctx, caseID)
		if err != nil || cs.Erased() {
			return fmt.Errorf("node: relay check: the case of this %s is not held: nothing goes through %s", c.Kind, via)
		}
		opts = append(opts, policy.WithCase(cs.Document))
	default:
		return nil // withdrawals and confirmations always travel (FLX-RLY-010)
	}
	dst, _, err := n.destination(via)
	if err != nil {
		return fmt.Errorf("node: relay check: %w", err)
	}
	dst.Accepts = append(dst.Accepts, string(c.Kind)) // it carries, it does not process
	d := n.o.Policy.Evaluate(ctx, c.Body, string(c.Kind), dst, n.o.Now(), opts...)
	if d.Effect == policy.Deny || len(d.Redactions) > 0 {
		var rules []string
		for _, f := range d.Fired {
			if f.Effect != policy.RuleNeedsReview {
				rules = append(rules, f.RuleID)
			}
		}
		return fmt.Errorf("node: the route to %s now goes through %s, which may not hold this %s (%s): not sent",
			c.Audience, via, c.Kind, strings.Join(rules, ", "))
	}
	return nil
}
