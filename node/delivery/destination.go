package delivery

import (
	"sync"
	"time"

	"github.com/familylinks/flx/node/backoff"
	"github.com/familylinks/flx/node/store"
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
	// What the kicks since the loop's last claim began announce (each
	// comes after the commit of what it announces): anon, rows not named
	// (Kick, KickFor); announced, rows named by their outbox id
	// (KickRows), each with the claim generation it came in (gen: claims
	// begun). A kick is stale when every row it names was claimed since
	// (the claim began after their commit but before their kick): it
	// makes no claim, which would find nothing.
	anon      bool
	announced map[int64]uint64
	gen       uint64
	// claimed and claimedBefore are the rows the last two claims took
	// that no kick had named yet: a kick that names them, coming after
	// that claim, is stale.
	claimed, claimedBefore map[int64]struct{}
}

// maxAnnounced bounds the rows named by kicks and not yet seen claimed (a
// backlog queued faster than it goes): past it they are forgotten, and
// every kick makes a claim, as an anonymous one does.
const maxAnnounced = 1 << 16

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
	d.mu.Lock()
	d.anon = true
	d.mu.Unlock()
	d.signal()
}

// announce names rows queued (their outbox ids, committed) that the kick
// to come is for.
func (d *Destination) announce(ids []int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.anon {
		return // a claim comes anyway, and sees them
	}
	if d.announced == nil {
		d.announced = make(map[int64]uint64, len(ids))
	}
	for _, id := range ids {
		if _, ok := d.claimed[id]; ok {
			delete(d.claimed, id)
			continue
		}
		if _, ok := d.claimedBefore[id]; ok {
			delete(d.claimedBefore, id)
			continue
		}
		d.announced[id] = d.gen
	}
	if len(d.announced) > maxAnnounced {
		d.announced, d.anon = nil, true
	}
}

// signal wakes the destination's loop.
func (d *Destination) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// kickRunning kicks the destination's loop if one runs, and reports
// whether it did. A loop that ends takes the kick (stop) and has Run look
// again, so a row queued as it ends waits for no poll.
// With anon, the kick names no row (otherwise announce named them).
func (d *Destination) kickRunning(anon bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running {
		return false
	}
	if anon {
		d.anon = true
	}
	d.signal()
	return true
}

// claimBegins takes back the kicks: the loop is about to claim, and
// everything they announced was committed before, so the claim sees it.
// It returns the claim's generation, for claimDone.
func (d *Destination) claimBegins() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.wake:
	default:
	}
	d.anon = false
	d.gen++
	return d.gen
}

// claimDone forgets the rows the claim of generation gen took (those no
// kick named yet are kept, for the kick to come, until two claims later), and, when
// it took less than it asked for (all that was claimable), every row
// announced before it began: those it left were not claimable (another
// claim's, not due, or behind a row of their case not yet delivered,
// which the recording of that row's receipt claims after).
func (d *Destination) claimDone(gen uint64, items []store.OutboxItem, short bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.claimedBefore, d.claimed = d.claimed, d.claimedBefore
	clear(d.claimed)
	for _, it := range items {
		if _, ok := d.announced[it.ID]; ok {
			delete(d.announced, it.ID)
			continue
		}
		if d.claimed == nil {
			d.claimed = make(map[int64]struct{}, len(items))
		}
		d.claimed[it.ID] = struct{}{}
	}
	if short {
		for id, g := range d.announced {
			if g < gen {
				delete(d.announced, id)
			}
		}
	}
}

// fresh reports whether a wake of the loop is for rows not yet claimed:
// an anonymous kick, or a row announced and not seen claimed since.
func (d *Destination) fresh() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.anon || len(d.announced) > 0
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
		return d.anon || len(d.announced) > 0
	default:
		return false
	}
}
