package config

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Coordination configures the coordinator's part of the protocol
// (conformance/SPEC.md §14-§17): routes through relays, pulling, carried
// bundles and statistics reports.
type Coordination struct {
	// Routes sends envelopes for a member (key) through a relay (value),
	// besides the relay_via routes of the manifest. Env:
	// FLX_COORDINATION_ROUTES="XB-RC=ICRC-CTA,XC-RC=ICRC-CTA".
	Routes map[string]string `yaml:"routes"`
	// RelayWait is how long an envelope sent through a relay waits for the
	// final recipient's end-to-end receipt before it is sent again.
	RelayWait time.Duration `yaml:"relay_wait"`
	// PullInterval is how often a pull_only member pulls (at most 5m).
	PullInterval time.Duration `yaml:"pull_interval"`
	// PullLease is how long envelopes a member pulls from this node are
	// held for it before they are offered again (FLX-PUL-003; 1s..1h).
	PullLease time.Duration `yaml:"pull_lease"`
	// BundleKey is this member's private encryption key for carried bundles
	// (JWK, mode 0600); its public half is in the manifest's enc_jwks.
	BundleKey string `yaml:"bundle_key"`
	// StatsEvery is how often monthly statistics reports are computed and
	// queued for the coordinators (0 disables).
	StatsEvery time.Duration `yaml:"stats_every"`
	// StatsSettle is how long after a month ends its report waits.
	StatsSettle time.Duration `yaml:"stats_settle"`
	// StatsThreshold (k) suppresses counts from 1 to k-1 (3..100).
	StatsThreshold int `yaml:"stats_threshold"`
	// StatsRounding (b) rounds counts of k or more to a multiple of b (1..k).
	StatsRounding int `yaml:"stats_rounding"`
	// AuditHeadEvery is how often the node signs the head of its audit log
	// and sends it, when it changed, to its witnesses (SPEC.md §20; 0
	// disables).
	AuditHeadEvery time.Duration `yaml:"audit_head_every"`
	// AuditWitnesses are the members that witness this node's audit heads;
	// empty: every active coordinator that accepts audit.head. Env:
	// FLX_COORDINATION_AUDIT_WITNESSES="ICRC-CTA,XB-RC".
	AuditWitnesses []string `yaml:"audit_witnesses"`
}

func defaultCoordination() Coordination {
	return Coordination{
		Routes: map[string]string{}, RelayWait: 15 * time.Minute, PullInterval: time.Minute, PullLease: 2 * time.Minute, BundleKey: "keys/bundle.jwk",
		StatsEvery: 24 * time.Hour, StatsSettle: 72 * time.Hour, StatsThreshold: 5, StatsRounding: 5,
		AuditHeadEvery: time.Hour, AuditWitnesses: []string{},
	}
}

// parseRoutes reads "A=B,C=D".
func parseRoutes(v string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not MEMBER=RELAY", kv)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	return out, nil
}

func (c *Coordination) verify(bad func(field, format string, args ...any)) {
	keys := make([]string, 0, len(c.Routes))
	for k := range c.Routes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !memberRE.MatchString(k) || !memberRE.MatchString(c.Routes[k]) || k == c.Routes[k] {
			bad("coordination.routes", "%q: %q is not a route from one member id to another", k, c.Routes[k])
		}
	}
	if c.RelayWait < time.Minute {
		bad("coordination.relay_wait", "%s is below 1m", c.RelayWait)
	}
	if c.PullInterval < time.Second || c.PullInterval > 5*time.Minute {
		bad("coordination.pull_interval", "%s is outside 1s..5m (FLX-PUL-008)", c.PullInterval)
	}
	if c.PullLease < time.Second || c.PullLease > time.Hour {
		bad("coordination.pull_lease", "%s is outside 1s..1h", c.PullLease)
	}
	if c.StatsEvery < 0 || (c.StatsEvery > 0 && c.StatsEvery < time.Minute) {
		bad("coordination.stats_every", "%s: want 0 (off) or at least 1m", c.StatsEvery)
	}
	if c.AuditHeadEvery < 0 || (c.AuditHeadEvery > 0 && c.AuditHeadEvery < time.Minute) {
		bad("coordination.audit_head_every", "%s: want 0 (off) or at least 1m", c.AuditHeadEvery)
	}
	for _, w := range c.AuditWitnesses {
		if !memberRE.MatchString(w) {
			bad("coordination.audit_witnesses", "%q is not a member id", w)
		}
	}
	if c.StatsSettle < 0 {
		bad("coordination.stats_settle", "%s is negative", c.StatsSettle)
	}
	if c.StatsThreshold < 3 || c.StatsThreshold > 100 || c.StatsRounding < 1 || c.StatsRounding > c.StatsThreshold {
		bad("coordination.stats_threshold/stats_rounding", "want 3 <= k <= 100 and 1 <= b <= k (FLX-STA-002)")
	}
}
