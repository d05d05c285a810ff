package federation

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// ReplayGuard remembers which envelopes were received.
//
// Seen records jti with the SHA-256 of the envelope bytes until exp:
//   - first sighting: records it, returns (false, nil);
//   - same jti, same sha256: a re-send, returns (true, nil) — answer with a
//     "duplicate" receipt and do not process it again;
//   - same jti, other sha256: returns an error with code replay.
//
// jti uniqueness is per sender: pass ReplayKey(iss, jti) as jti (or use
// Envelope.CheckReplay). Implementations must be safe for concurrent use.
type ReplayGuard interface {
	Seen(ctx context.Context, jti string, sha256 string, exp time.Time) (dup bool, err error)
}

type seenEntry struct {
	sha256 string
	until  time.Time
}

// MemoryReplayGuard is an in-memory ReplayGuard for tests and single-process
// nodes without a database. Entries are kept until exp + grace; expired
// entries are swept at most once a minute, on a call to Seen.
type MemoryReplayGuard struct {
	now        func() time.Time
	grace      time.Duration
	pruneEvery time.Duration

	mu        sync.Mutex
	seen      map[string]seenEntry
	nextPrune time.Time
}

// NewMemoryReplayGuard returns an empty guard. now nil means time.Now. grace
// must be at least the verifier's skew (an envelope is accepted until
// exp + skew, so it must be remembered that long); 0 or less means
// DefaultSkew.
func NewMemoryReplayGuard(now func() time.Time, grace time.Duration) *MemoryReplayGuard {
	if now == nil {
		now = time.Now
	}
	if grace <= 0 {
		grace = DefaultSkew
	}
	return &MemoryReplayGuard{now: now, grace: grace, pruneEvery: time.Minute, seen: make(map[string]seenEntry)}
}

// Seen implements ReplayGuard.
func (g *MemoryReplayGuard) Seen(ctx context.Context, jti, sha256 string, exp time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if jti == "" || sha256 == "" {
		return false, fmt.Errorf("federation: replay guard: empty jti or sha256")
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if !now.Before(g.nextPrune) {
		g.pruneLocked(now)
		g.nextPrune = now.Add(g.pruneEvery)
	}
	if e, ok := g.seen[jti]; ok && now.Before(e.until) {
		if e.sha256 == sha256 {
			return true, nil
		}
		return false, newErr(CodeReplay, "jti already used for another envelope", nil)
	}
	g.seen[jti] = seenEntry{sha256: sha256, until: exp.Add(g.grace)}
	return false, nil
}

func (g *MemoryReplayGuard) pruneLocked(now time.Time) {
	for k, e := range g.seen {
		if !now.Before(e.until) {
			delete(g.seen, k)
		}
	}
}

// Len returns how many entries are held (expired ones not yet pruned
// included).
func (g *MemoryReplayGuard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.seen)
}
