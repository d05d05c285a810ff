package node

import (
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/schema"
)

// admittedEnvelopes hands what receipt parsed of an envelope (its claims
// and, for a case, the body decoded into schema.Case from the tree schema
// validation made) to inbox processing, which reads the same envelope back
// from the store: processing then neither parses the JWS nor decodes the
// body again (~50 µs of a received case's CPU in `flx bench exchange`).
//
// It is keyed by the SHA-256 of the exact envelope bytes (the inbox row's
// sha256, which Verify computed), so a hit is what parsing those bytes
// again gives; each entry is taken once, so the value never has two users.
//
// Processing takes envelopes in the order they were received, possibly far
// behind receipt in a burst. So a full handoff keeps what it holds (the
// next to be processed) and new envelopes go without: evicting the oldest
// would drop exactly those processing reads next, and a burst longer than
// the bound would then never hit. An entry never taken (an envelope refused
// after its checks, a duplicate, a rolled back transaction, processing in
// another process) leaves after admittedMaxAge. It is bounded in entries
// and in bytes (envelopes over admittedMaxBytes are never kept); what is
// not held is parsed by processing itself.
type admittedEnvelopes struct {
	mu    sync.Mutex
	m     map[string]admitted
	order []admittedRef // in the order put; a ref whose entry left is skipped
	bytes int
	seq   uint64
}

// admitted is what receipt parsed of one envelope.
type admitted struct {
	claims federation.Claims
	c      *schema.Case // case.create and case.update; nil otherwise
	size   int
	seq    uint64
}

type admittedRef struct {
	sha string
	seq uint64
	at  time.Time
}

const (
	// 2048 entries: at 8192, `flx bench exchange --n 100000` peaked
	// at 1,757 MiB RSS against 1,216 without the handoff (a decoded case
	// is ~15 KB of heap, and the GC target is a multiple of the live
	// heap); at 2048 the 20,000 run peaked ~630 MiB (against ~720 at
	// 8192, ~530 without) for the same CPU per envelope within noise.
	admittedSize     = 2048     // entries
	admittedBudget   = 16 << 20 // bytes (each body counted 3 times: claims, validated tree, decoded case)
	admittedMaxBytes = 64 << 10
	admittedMaxAge   = 5 * time.Minute
)

// room reports whether an envelope with a body of n bytes would be kept:
// receipt decodes the case for processing only then.
func (a *admittedEnvelopes) room(n int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.roomLocked(3*n, time.Now())
}

func (a *admittedEnvelopes) roomLocked(size int, now time.Time) bool {
	if size > 3*admittedMaxBytes {
		return false
	}
	// Refs of entries taken, and entries never taken in time, leave from
	// the front.
	for len(a.order) > 0 {
		r := a.order[0]
		if e, ok := a.m[r.sha]; ok && e.seq == r.seq {
			if now.Sub(r.at) < admittedMaxAge {
				break
			}
			delete(a.m, r.sha)
			a.bytes -= e.size
		}
		a.order[0] = admittedRef{}
		a.order = a.order[1:]
	}
	return len(a.m) < admittedSize && a.bytes+size <= admittedBudget
}

func (a *admittedEnvelopes) put(sha string, claims federation.Claims, c *schema.Case) {
	size := 3 * len(claims.Body)
	if sha == "" {
		return
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.m[sha]; ok { // the same envelope again: its first parse stays
		return
	}
	if !a.roomLocked(size, now) {
		return
	}
	if a.m == nil {
		a.m = make(map[string]admitted, 256)
	}
	// Refs behind a young entry that stays are compacted away now and then.
	if len(a.order) >= 4*admittedSize {
		kept := a.order[:0]
		for _, r := range a.order {
			if e, ok := a.m[r.sha]; ok && e.seq == r.seq {
				kept = append(kept, r)
			}
		}
		clear(a.order[len(kept):])
		a.order = kept
	}
	a.seq++
	a.m[sha] = admitted{claims: claims, c: c, size: size, seq: a.seq}
	a.order = append(a.order, admittedRef{sha: sha, seq: a.seq, at: now})
	a.bytes += size
}

func (a *admittedEnvelopes) take(sha string) (admitted, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.m[sha]
	if ok {
		delete(a.m, sha)
		a.bytes -= e.size
	}
	return e, ok
}
