package node

import (
	"sync"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/schema"
)

// admittedEnvelopes hands what receipt parsed of an envelope (its claims
// and, for a case, the body decoded into schema.Case from the tree schema
// validation made) to inbox processing, which reads the same envelope back
// from the store: processing then neither parses the JWS nor decodes the
// body again (~80 µs of a received case's CPU in `flx bench exchange`).
//
// It is keyed by the SHA-256 of the exact envelope bytes (the inbox row's
// sha256, which Verify computed), so a hit is what parsing those bytes
// again gives; each entry is taken once, so the value never has two users.
// An entry never taken (an envelope refused after its checks, a duplicate,
// a rolled back transaction, processing far behind receipt or in another
// process) falls out as new ones arrive, and processing parses the
// envelope itself. Two generations bound it, in entries and in bytes
// (envelopes over admittedMaxBytes are never kept).
type admittedEnvelopes struct {
	mu        sync.Mutex
	cur, prev map[string]admitted
	curBytes  int
}

// admitted is what receipt parsed of one envelope.
type admitted struct {
	claims federation.Claims
	c      *schema.Case // case.create and case.update; nil otherwise
	size   int
}

const (
	admittedSize     = 4096     // entries per generation
	admittedBudget   = 16 << 20 // bytes per generation (body ~3 times: claims, tree strings, decoded case)
	admittedMaxBytes = 64 << 10
)

func (a *admittedEnvelopes) put(sha string, claims federation.Claims, c *schema.Case) {
	size := 3 * len(claims.Body)
	if size > 3*admittedMaxBytes || sha == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cur) >= admittedSize || a.curBytes+size > admittedBudget {
		a.prev, a.cur, a.curBytes = a.cur, nil, 0
	}
	if a.cur == nil {
		a.cur = make(map[string]admitted, 256)
	}
	if old, ok := a.cur[sha]; ok {
		a.curBytes -= old.size
	}
	a.cur[sha] = admitted{claims: claims, c: c, size: size}
	a.curBytes += size
}

func (a *admittedEnvelopes) take(sha string) (admitted, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.cur[sha]; ok {
		delete(a.cur, sha)
		a.curBytes -= e.size
		return e, true
	}
	if e, ok := a.prev[sha]; ok {
		delete(a.prev, sha)
		return e, true
	}
	return admitted{}, false
}
