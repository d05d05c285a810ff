package node

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
)

// DefaultQueriesPerMinute is how many match queries one member may send
// a minute (and at once) when MatchOptions.QueriesPerMinute is 0.
const DefaultQueriesPerMinute = 60

// queryLimiter is a token bucket per member for incoming match queries
// (conformance/SPEC.md FLX-MAT-007): every query answered compares an
// encoding with every person held, so a member sending many could probe
// who is held; past the bucket the query is refused with rate_limited and
// the sender's delivery retries after Retry-After.
type queryLimiter struct {
	mu      sync.Mutex
	perMin  float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newQueryLimiter(perMinute int) *queryLimiter {
	if perMinute == 0 {
		perMinute = DefaultQueriesPerMinute
	}
	if perMinute < 0 {
		return nil
	}
	return &queryLimiter{perMin: float64(perMinute), buckets: map[string]*bucket{}}
}

// take takes a token of member's bucket at now; when there is none it
// returns how long until there is one.
func (l *queryLimiter) take(member string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[member]
	if !ok {
		b = &bucket{tokens: l.perMin, at: now}
		l.buckets[member] = b
	}
	if el := now.Sub(b.at); el > 0 {
		b.tokens = math.Min(l.perMin, b.tokens+el.Minutes()*l.perMin)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.perMin * float64(time.Minute))
	return false, wait
}

// limitQueries refuses a match query from a member past its bucket.
func (n *Node) limitQueries(env *federation.Envelope) error {
	if env.Kind != federation.KindMatchQuery || n.queryLimit == nil {
		return nil
	}
	ok, wait := n.queryLimit.take(env.Issuer, n.o.Now())
	if ok {
		return nil
	}
	n.log.Info("match query refused: rate", "peer", env.Issuer)
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	return &Error{Code: problem.RateLimited,
		Msg: fmt.Sprintf("more than %g match queries a minute from %s: retry in %d s", n.queryLimit.perMin, env.Issuer, secs)}
}
