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
// from the store (a handoff): processing then neither parses the JWS nor
// decodes the body again (~50 µs of a received case's CPU in `flx bench
// exchange`). It is keyed by the SHA-256 of the exact envelope bytes (the
// inbox row's sha256, which Verify computed). An entry never taken (an
// envelope refused after its checks, a duplicate, a rolled back
// transaction, processing in another process) leaves after
// admittedMaxAge; envelopes over admittedMaxBytes are never kept; what is
// not held is parsed by processing itself.
type admittedEnvelopes struct {
	handoff[string, admitted]
}

// admitted is what receipt parsed of one envelope.
type admitted struct {
	claims federation.Claims
	c      *schema.Case // case.create and case.update; nil otherwise
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

var admittedLimits = handoffLimits{entries: admittedSize, bytes: admittedBudget, maxAge: admittedMaxAge}

// room reports whether an envelope with a body of n bytes would be kept:
// receipt decodes the case for processing only then.
func (a *admittedEnvelopes) room(n int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.roomLocked(3*n, time.Now())
}

func (a *admittedEnvelopes) roomLocked(size int, now time.Time) bool {
	return size <= 3*admittedMaxBytes && a.handoff.roomLocked(size, now, admittedLimits)
}

// put keeps what receipt parsed of the envelope whose SHA-256 is sha, if
// there is room; the same envelope again keeps its first parse.
func (a *admittedEnvelopes) put(sha string, claims federation.Claims, c *schema.Case) {
	size := 3 * len(claims.Body)
	if sha == "" || size > 3*admittedMaxBytes {
		return
	}
	a.handoff.put(sha, admitted{claims: claims, c: c}, size, time.Now(), admittedLimits, false)
}

// handoff holds values one stage of the node computed for a later stage
// that reads the same input again (admittedEnvelopes, decodedCases): the
// later stage takes each value once, by a key of the exact input, so a hit
// is what computing it again would give and the value never has two users.
//
// The later stage reads in the order the values were put, possibly far
// behind in a burst. So a full handoff keeps what it holds (what is read
// next) and new values go without: evicting the oldest would drop exactly
// those read next, and a burst longer than the bound would then never hit.
// A value never taken leaves after its limits' maxAge. Bounded in entries
// and in bytes (each value's size as its caller counts it).
type handoff[K comparable, V any] struct {
	mu    sync.Mutex
	m     map[K]handoffEntry[V]
	order []handoffRef[K] // in the order put; a ref whose entry left is skipped
	bytes int
	seq   uint64
}

type handoffEntry[V any] struct {
	v    V
	size int
	seq  uint64
}

type handoffRef[K comparable] struct {
	k   K
	seq uint64
	at  time.Time
}

// handoffLimits bounds a handoff.
type handoffLimits struct {
	entries, bytes int
	maxAge         time.Duration
}

// expireLocked drops, from the front, the refs of entries taken and the
// entries never taken in time.
func (h *handoff[K, V]) expireLocked(now time.Time, lim handoffLimits) {
	for len(h.order) > 0 {
		r := h.order[0]
		if e, ok := h.m[r.k]; ok && e.seq == r.seq {
			if now.Sub(r.at) < lim.maxAge {
				return
			}
			delete(h.m, r.k)
			h.bytes -= e.size
		}
		h.order[0] = handoffRef[K]{}
		h.order = h.order[1:]
	}
}

// roomLocked reports whether a value of size would be kept now.
func (h *handoff[K, V]) roomLocked(size int, now time.Time, lim handoffLimits) bool {
	h.expireLocked(now, lim)
	return len(h.m) < lim.entries && h.bytes+size <= lim.bytes
}

// put keeps v under k if there is room. A value already held under k
// stays, or, with replace, gives way to v (in its place in the order).
func (h *handoff[K, V]) put(k K, v V, size int, now time.Time, lim handoffLimits, replace bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expireLocked(now, lim)
	if e, ok := h.m[k]; ok {
		if replace {
			h.bytes += size - e.size
			e.v, e.size = v, size
			h.m[k] = e
		}
		return
	}
	if len(h.m) >= lim.entries || h.bytes+size > lim.bytes {
		return
	}
	if h.m == nil {
		h.m = make(map[K]handoffEntry[V], 256)
	}
	// Refs behind a young entry that stays are compacted away now and then.
	if len(h.order) >= 4*lim.entries {
		kept := h.order[:0]
		for _, r := range h.order {
			if e, ok := h.m[r.k]; ok && e.seq == r.seq {
				kept = append(kept, r)
			}
		}
		clear(h.order[len(kept):])
		h.order = kept
	}
	h.seq++
	h.m[k] = handoffEntry[V]{v: v, size: size, seq: h.seq}
	h.order = append(h.order, handoffRef[K]{k: k, seq: h.seq, at: now})
	h.bytes += size
}

// take removes and returns the value held under k.
func (h *handoff[K, V]) take(k K) (V, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	delete(h.m, k)
	h.bytes -= e.size
	return e.v, true
}
