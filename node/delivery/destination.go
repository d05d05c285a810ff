package delivery

import (
	"sync"
	"time"

	"github.com/familylinks/flx/node/backoff"
)

// Destination is the delivery state of one destination: how many attempts
// in a row failed, and until when it rests. Success clears it; Failure
// counts one more failure and returns the time of the next attempt, from the
// one backoff formula and at least the peer's Retry-After. It is safe for
// concurrent use.
type Destination struct {
	name   string
	policy backoff.Policy

	mu       sync.Mutex
	failures int
	until    time.Time
	running  bool // a loop delivers to it now
}

// NewDestination returns the state of destination name, healthy.
func NewDestination(name string, p backoff.Policy) *Destination {
	return &Destination{name: name, policy: p}
}

// Name is the destination's member id.
func (d *Destination) Name() string { return d.name }

// Success records a delivery: the destination is healthy again.
func (d *Destination) Success() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failures, d.until = 0, time.Time{}
}

// Failure records a failed round of attempts at now, with the longest
// Retry-After the peer gave (zero for none), and returns the time before
// which nothing is sent to the destination.
func (d *Destination) Failure(now time.Time, retryAfter time.Duration) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failures++
	d.until = now.Add(d.policy.Wait(d.failures, retryAfter))
	return d.until
}

// Failures is the number of failed rounds since the last success.
func (d *Destination) Failures() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failures
}

// Until is the time before which the destination rests (zero: it does not).
func (d *Destination) Until() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.until
}

// start marks a loop as delivering to the destination, if it may start at
// now: none is running and the destination does not rest.
func (d *Destination) start(now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running || now.Before(d.until) {
		return false
	}
	d.running = true
	return true
}

func (d *Destination) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.running = false
}
