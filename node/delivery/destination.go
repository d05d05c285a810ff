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
	lastErr  string // reason label of the last failure
	running  bool   // a loop delivers to it now
	wake     chan struct{}
}

// State is a destination's backoff as the operator sees it and as the
// store keeps it across restarts.
type State struct {
	Name      string
	Failures  int       // failed rounds since the last success
	Until     time.Time // nothing is sent before (zero: healthy)
	LastError string    // reason label of the last failure
}

// NewDestination returns the state of destination name, healthy.
func NewDestination(name string, p backoff.Policy) *Destination {
	return &Destination{name: name, policy: p, wake: make(chan struct{}, 1)}
}

// kick tells the destination's loop that rows were queued.
func (d *Destination) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// kickRunning kicks the destination's loop if one runs, and reports
// whether it did. A loop that ends takes the kick (stop) and has Run look
// again, so a row queued as it ends waits for no poll.
func (d *Destination) kickRunning() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running {
		return false
	}
	d.kick()
	return true
}

// kicked takes back a kick: the loop is about to claim.
func (d *Destination) kicked() {
	select {
	case <-d.wake:
	default:
	}
}

func (d *Destination) wakeC() <-chan struct{} { return d.wake }

// Name is the destination's member id.
func (d *Destination) Name() string { return d.name }

// Success records a delivery: the destination is healthy again. It
// reports whether it was not (the change is worth saving).
func (d *Destination) Success() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	was := d.failures > 0 || !d.until.IsZero()
	d.failures, d.until, d.lastErr = 0, time.Time{}, ""
	return was
}

// Failure records a failed round of attempts at now, with the longest
// Retry-After the peer gave (zero for none) and the reason label of the
// failure, and returns the time before which nothing is sent to the
// destination.
func (d *Destination) Failure(now time.Time, retryAfter time.Duration, reason string) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failures++
	d.until = now.Add(d.policy.Wait(d.failures, retryAfter))
	d.lastErr = reason
	return d.until
}

// restore takes back a state saved before a restart, so that the backoff
// continues where it was (not from the first, short, wait).
func (d *Destination) restore(s State) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failures, d.until, d.lastErr = s.Failures, s.Until, s.LastError
}

// State returns the destination's backoff.
func (d *Destination) State() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return State{Name: d.name, Failures: d.failures, Until: d.until, LastError: d.lastErr}
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

// stop marks the loop as ended, and reports whether rows were queued
// since its last claim (a kick it did not take).
func (d *Destination) stop() bool {
	d.mu.Lock()
	defer d.mu.Unlock() // with running, so that kickRunning's kick is seen here
	d.running = false
	select {
	case <-d.wake:
		return true
	default:
		return false
	}
}
