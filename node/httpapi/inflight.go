package httpapi

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/federation/problem"
)

// DefaultMaxInFlight is how many federation requests one member may have
// in flight at once (SPEC FLX-LIM-005). A request whose body is slow to
// come holds its handler until the read timeout, about 16 KiB each; over
// HTTP/2 one connection carries 250 of them and a member may open as many
// connections as it likes, so without a per-member bound one member's
// certificate can hold the node's memory. Honest senders keep far fewer
// (delivery workers, a pull, a media upload per session).
const DefaultMaxInFlight = 256

// inflightRetryAfter is the Retry-After, in seconds, of a request refused
// by the bound: the slots free as the member's requests end.
const inflightRetryAfter = 5

// WithMaxInFlight sets the per-member bound on requests in flight
// (default DefaultMaxInFlight; n <= 0 keeps the default).
func WithMaxInFlight(n int) FederationOption {
	return func(f *fedAPI) {
		if n > 0 {
			f.maxInFlight = n
		}
	}
}

// inflight bounds the requests each authenticated member has in flight:
// the one past the bound is answered 429 rate_limited with Retry-After at
// once, its body unread. It runs inside mtls.Middleware (the member is
// known) and around the whole router, 404 and 405 included.
type inflight struct {
	max  int
	mu   sync.Mutex
	busy map[string]int
	next http.Handler
}

func (b *inflight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	member, _ := mtls.PeerFromContext(r.Context())
	b.mu.Lock()
	if b.busy[member] >= b.max {
		b.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(inflightRetryAfter))
		writeProblem(w, problem.RateLimited, "too many requests in flight from this member")
		return
	}
	b.busy[member]++
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		if b.busy[member]--; b.busy[member] == 0 {
			delete(b.busy, member)
		}
		b.mu.Unlock()
	}()
	b.next.ServeHTTP(w, r)
}
