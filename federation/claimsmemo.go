package federation

import (
	"crypto/sha256"
	"encoding/json"
	"sync"
)

// claimsMemo remembers the claims of the envelopes read most recently, keyed
// by their exact bytes: the sending side reads the same stored envelope five
// or six times per attempt (relay unwrapping, renewal, media, routing, the
// client), and the strict decode was ~17% of the node's CPU in
// `flx bench exchange`; on the receiving side Verify puts the claims it
// parsed, so that the inbox processor, behind receipt by a few thousand
// envelopes in a burst, does not parse the JWS again. The bytes are the
// key, so a hit is the same parse of the same input; only successful reads
// are kept. Two generations bound it: when the current one fills (in
// entries or in body bytes), it becomes the previous and the old previous is
// dropped. The key is the SHA-256 of the bytes, and envelopes over
// claimsMemoMaxBytes are never kept, so the memo holds at most 2 ×
// claimsMemoBudget of bodies whatever peers send.
type claimsMemo struct {
	mu         sync.Mutex
	cur, prev  map[[sha256.Size]byte]Claims
	curBytes   int // body bytes held in cur
	generation int // entries per generation
	budget     int // body bytes per generation
}

const (
	claimsMemoSize     = 8192     // per generation: more than a burst's processing backlog of cases
	claimsMemoBudget   = 16 << 20 // body bytes per generation (~6,000 cases of 2.5 KB)
	claimsMemoMaxBytes = 64 << 10 // larger envelopes are parsed each time
)

var memo = &claimsMemo{generation: claimsMemoSize, budget: claimsMemoBudget}

// key is the memo key of raw; ok is false for envelopes never kept.
func (m *claimsMemo) key(raw []byte) (k [sha256.Size]byte, ok bool) {
	if len(raw) > claimsMemoMaxBytes {
		return k, false
	}
	return sha256.Sum256(raw), true
}

func (m *claimsMemo) get(raw []byte) (Claims, bool) {
	k, ok := m.key(raw)
	if !ok {
		return Claims{}, false
	}
	return m.getK(k)
}

func (m *claimsMemo) put(raw []byte, c Claims) {
	if k, ok := m.key(raw); ok {
		m.putK(k, c)
	}
}

// getK and putK take the key (memo.key) computed once by a caller that
// both looks up and, on a miss, adds.
func (m *claimsMemo) getK(k [sha256.Size]byte) (Claims, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.cur[k]
	if !ok {
		c, ok = m.prev[k]
	}
	if ok {
		c.Body = append(json.RawMessage(nil), c.Body...) // callers own what they get
	}
	return c, ok
}

func (m *claimsMemo) putK(k [sha256.Size]byte, c Claims) {
	c.Body = append(json.RawMessage(nil), c.Body...)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.cur) >= m.generation || (m.budget > 0 && m.curBytes+len(c.Body) > m.budget) {
		m.prev, m.cur, m.curBytes = m.cur, nil, 0
	}
	if m.cur == nil {
		m.cur = make(map[[sha256.Size]byte]Claims, min(m.generation, 1024))
	}
	if old, ok := m.cur[k]; ok {
		m.curBytes -= len(old.Body)
	}
	m.cur[k] = c
	m.curBytes += len(c.Body)
}
