package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// session is a signed-in person. Only the SHA-256 of its id is kept as the
// map key, so a memory dump shows no usable cookie.
type session struct {
	principal Principal
	csrf      string // synchronizer token, sent back in every form
	created   time.Time
	lastSeen  time.Time
	expires   time.Time // absolute: sign-in + MaxAge, or the credential's expiry
}

// sessions is the in-memory session table of one process. A restart signs
// everyone out; replicas behind a load balancer need sticky sessions.
type sessions struct {
	mu    sync.Mutex
	m     map[[sha256.Size]byte]*session
	now   func() time.Time
	idle  time.Duration
	max   time.Duration
	swept time.Time
}

func newSessions(now func() time.Time, idle, max time.Duration) *sessions {
	return &sessions{m: map[[sha256.Size]byte]*session{}, now: now, idle: idle, max: max}
}

// randomToken returns 32 random bytes, base64url without padding.
func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func sessionKey(id string) [sha256.Size]byte { return sha256.Sum256([]byte(id)) }

// open starts a session for p and returns its id (the cookie value).
func (s *sessions) open(p Principal) (string, *session) {
	now := s.now()
	id := randomToken()
	se := &session{principal: p, csrf: randomToken(), created: now, lastSeen: now, expires: now.Add(s.max)}
	if !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(se.expires) {
		se.expires = p.ExpiresAt
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	s.m[sessionKey(id)] = se
	return id, se
}

// get returns the live session for id and marks it used; expired sessions
// are dropped.
func (s *sessions) get(id string) (*session, bool) {
	if id == "" || len(id) > 128 {
		return nil, false
	}
	now := s.now()
	k := sessionKey(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	se, ok := s.m[k]
	if !ok {
		return nil, false
	}
	if !now.Before(se.expires) || now.Sub(se.lastSeen) >= s.idle {
		delete(s.m, k)
		return nil, false
	}
	se.lastSeen = now
	cp := *se
	return &cp, true
}

// close ends a session (sign-out, or a credential no longer valid).
func (s *sessions) close(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sessionKey(id))
}

// count is the number of sessions held (tests, metrics).
func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// sweepLocked drops expired sessions at most once a minute.
func (s *sessions) sweepLocked(now time.Time) {
	if now.Sub(s.swept) < time.Minute {
		return
	}
	s.swept = now
	for k, se := range s.m {
		if !now.Before(se.expires) || now.Sub(se.lastSeen) >= s.idle {
			delete(s.m, k)
		}
	}
}

// validCSRF compares a submitted token with the session's in constant time.
func (se *session) validCSRF(got string) bool {
	return len(got) == len(se.csrf) && subtle.ConstantTimeCompare([]byte(got), []byte(se.csrf)) == 1
}
