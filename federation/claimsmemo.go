package federation

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
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
// dropped. Envelopes over claimsMemoMaxBytes are never kept, so the memo
// holds at most 2 × claimsMemoBudget of envelopes and bodies whatever peers
// send. Measured again after the parse was made cheaper (split at the dots,
// one validating walk of the claims, December 2026; BenchmarkClaimsOf*,
// ~4 KiB body, thread CPU): a hit costs 1.8-3.0 µs, a parse 8.3-13.4 µs,
// and Verify's put ~1 µs, so the memo still saves on the receiver (one
// read by the processor) and more on the sender (five or six reads).
type claimsMemo struct {
	mu         sync.Mutex
	cur, prev  map[uint64]memoEntry
	curBytes   int // envelope and body bytes held in cur
	prevBytes  int // and in prev
	generation int // entries per generation
	budget     int // envelope and body bytes per generation
}

// memoEntry is the claims read from raw. The key is a keyed 64-bit hash of
// raw (hash/maphash, a seed random per process), and a hit needs raw equal
// byte for byte: hashing is ten times cheaper than the SHA-256 this key
// was, read up to six times per envelope sent, and equality makes a
// collision a miss.
type memoEntry struct {
	raw []byte
	c   Claims
}

const (
	claimsMemoSize     = 8192     // per generation: more than a burst's processing backlog of cases
	claimsMemoBudget   = 32 << 20 // envelope and body bytes per generation (~6,000 cases of 2.5 KB)
	claimsMemoMaxBytes = 64 << 10 // larger envelopes are parsed each time
)

var memo = &claimsMemo{generation: claimsMemoSize, budget: claimsMemoBudget}

var memoSeed = maphash.MakeSeed()

// key is the memo key of raw; ok is false for envelopes never kept.
func (m *claimsMemo) key(raw []byte) (k uint64, ok bool) {
	if len(raw) > claimsMemoMaxBytes {
		return k, false
	}
	return maphash.Bytes(memoSeed, raw), true
}

func (m *claimsMemo) get(raw []byte) (Claims, bool) {
	k, ok := m.key(raw)
	if !ok {
		return Claims{}, false
	}
	return m.getK(k, raw)
}

// put keeps the claims of raw, keeping raw itself: the caller must not
// change it afterwards (Verify hands the envelope's own copy, ClaimsOf a
// new one).
func (m *claimsMemo) put(raw []byte, c Claims) {
	if k, ok := m.key(raw); ok {
		m.putK(k, raw, c)
	}
}

// getK and putK take the key (memo.key) computed once by a caller that
// both looks up and, on a miss, adds.
func (m *claimsMemo) getK(k uint64, raw []byte) (Claims, bool) {
	m.mu.Lock()
	e, ok := m.cur[k]
	if !ok {
		e, ok = m.prev[k]
	}
	m.mu.Unlock()
	if !ok || !bytes.Equal(e.raw, raw) {
		return Claims{}, false
	}
	c := e.c
	c.Body = append(json.RawMessage(nil), c.Body...) // callers own what they get
	return c, true
}

func (m *claimsMemo) putK(k uint64, raw []byte, c Claims) {
	c.Body = append(json.RawMessage(nil), c.Body...)
	size := len(raw) + len(c.Body)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.cur) >= m.generation || (m.budget > 0 && m.curBytes+size > m.budget) {
		m.prev, m.prevBytes, m.cur, m.curBytes = m.cur, m.curBytes, nil, 0
	}
	if m.cur == nil {
		m.cur = make(map[uint64]memoEntry, min(m.generation, 1024))
	}
	if old, ok := m.cur[k]; ok {
		m.curBytes -= len(old.raw) + len(old.c.Body)
	}
	m.cur[k] = memoEntry{raw: raw, c: c}
	m.curBytes += size
}

// Forget drops what the memo keeps of envelope raw, if anything: a receiver
// calls it once the envelope is applied, when nothing reads its claims
// again. A receiver that applies what it receives in the receiving
// transaction never read the entries Verify puts: they filled the memo (two
// generations of claimsMemoBudget) with envelopes done with, and pushed out
// those still to be read.
func Forget(raw []byte) {
	if k, ok := memo.key(raw); ok {
		memo.forget(k, raw)
	}
}

// MemoHolds reports whether the claims memo holds the claims of raw (for
// tests and diagnostics: nothing decides on it).
func MemoHolds(raw []byte) bool {
	_, ok := memo.get(raw)
	return ok
}

// MemoSize is what the claims memo holds, both generations: entries, and
// the envelope and body bytes they keep (flx bench exchange reports it).
func MemoSize() (entries, held int) { return memo.size() }

func (m *claimsMemo) size() (entries, held int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.cur) + len(m.prev), m.curBytes + m.prevBytes
}

func (m *claimsMemo) forget(k uint64, raw []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.cur[k]; ok && bytes.Equal(e.raw, raw) {
		delete(m.cur, k)
		m.curBytes -= len(e.raw) + len(e.c.Body)
	}
	if e, ok := m.prev[k]; ok && bytes.Equal(e.raw, raw) {
		delete(m.prev, k)
		m.prevBytes -= len(e.raw) + len(e.c.Body)
	}
}
