package main

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestOpenLoopSlowCallsDelayNoArrival: a --rate run is an open loop. Each
// call here blocks until every one of the arrivals has started, so a
// producer that waits for its call before taking the next arrival (a
// closed loop, as the bench's paced producers were) never gets them all
// under way and the test fails; and each call is given its due time on
// the fixed schedule, from which its latency is counted.
func TestOpenLoopSlowCallsDelayNoArrival(t *testing.T) {
	const n, rate = 40, 2000.0
	var started atomic.Int64
	all := make(chan struct{})
	start := time.Now()
	var mu sync.Mutex
	dues := map[int]time.Time{}
	st, err := runOpenLoop(t.Context(), n, rate, 64, start, func(i int, due time.Time) error {
		mu.Lock()
		dues[i] = due
		mu.Unlock()
		if started.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("an arrival waited for the calls before it")
		}
	})
	if err != nil {
		t.Fatalf("%v: %d of %d calls were under way (peak %d)", err, started.Load(), n, st.peak)
	}
	if st.peak != n || st.boundHits != 0 {
		t.Errorf("peak %d callers, bound reached %d times; want %d and 0", st.peak, st.boundHits, n)
	}
	for i := range n {
		if want := start.Add(time.Duration(i) * time.Second / rate); !dues[i].Equal(want) {
			t.Errorf("arrival %d due %v after the start, want %v (the schedule, not when a caller was free)", i, dues[i].Sub(start), want.Sub(start))
		}
	}
}

// TestOpenLoopBound: no more than the bound of calls run at once, an
// arrival that finds them all busy is counted, and an error stops further
// arrivals.
func TestOpenLoopBound(t *testing.T) {
	const callers = 4
	var running, most atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	var calls atomic.Int64
	st, err := runOpenLoop(t.Context(), 12, 1e6, callers, time.Now(), func(i int, _ time.Time) error {
		calls.Add(1)
		r := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
		}
		if r == callers {
			// Every caller is busy: give the next arrival (due already)
			// time to find none free before any is released.
			once.Do(func() { time.AfterFunc(300*time.Millisecond, func() { close(release) }) })
		}
		<-release
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if most.Load() > callers || st.peak > callers {
		t.Errorf("%d calls at once (peak reported %d), bound %d", most.Load(), st.peak, callers)
	}
	if st.boundHits == 0 || calls.Load() != 12 {
		t.Errorf("bound reached %d times, %d calls; want some, 12", st.boundHits, calls.Load())
	}

	boom := errors.New("boom")
	calls.Store(0)
	_, err = runOpenLoop(t.Context(), 1000, 1000, 1, time.Now(), func(i int, _ time.Time) error {
		calls.Add(1)
		if i == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() > 4 {
		t.Errorf("error %v after %d calls; want boom, and no arrival after it", err, calls.Load())
	}
}
