package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy is a jittered exponential backoff.
type Policy struct {
	Initial time.Duration // first ceiling; must be > 0
	Max     time.Duration // largest delay; must be >= Initial
	// Rand returns a value in [0,1); nil uses math/rand/v2. Tests inject it.
	Rand func() float64
}

// Delay returns the wait before attempt number attempt+1, given that
// attempt attempts (>= 1) have failed so far.
func (p Policy) Delay(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	ceiling := p.Initial
	for i := 1; i < attempt && ceiling < p.Max; i++ {
		ceiling *= 2
	}
	if ceiling > p.Max || ceiling <= 0 { // <= 0: overflow
		ceiling = p.Max
	}
	r := rand.Float64
	if p.Rand != nil {
		r = p.Rand
	}
	half := ceiling / 2
	return half + time.Duration(r()*float64(ceiling-half))
}

// Wait is the one backoff formula of delivery: the wait after failures
// consecutive failed attempts, and at least the peer's Retry-After, which is
// honoured up to Max (SPEC.md FLX-DLV-004..006). Both the wait before an
// envelope's next attempt and a destination's pause use it.
func (p Policy) Wait(failures int, retryAfter time.Duration) time.Duration {
	w := p.Delay(failures)
	if retryAfter > w {
		w = min(retryAfter, p.Max)
	}
	return w
}
