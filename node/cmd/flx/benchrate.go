package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/policy"
)

// openLoopCallers bounds how many forwards a --rate run has under way at
// once: enough for 1,000/s to keep its schedule while a forward takes up
// to a quarter of a second, few enough that the store's connection pool,
// not the Go scheduler, is what they queue for. Reaching it is reported.
const openLoopCallers = 256

// openLoopStats is what keeping an open-loop schedule took.
type openLoopStats struct {
	callers   int           // the bound on calls under way at once
	peak      int           // calls under way at once, at the most
	boundHits int           // arrivals that found every caller busy and waited for one
	lateMax   time.Duration // the most a call started after its due time
	in        time.Duration // from the start to the last call returned
	inCalls   time.Duration // wall time in the calls, all of them
}

// dueAt is when arrival i of a schedule of rate per second from start is
// due: a fixed schedule, whatever became of the arrivals before it.
func dueAt(start time.Time, rate float64, i int) time.Time {
	return start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
}

// runOpenLoop calls call(i, due) for i from 0 to n-1, each as soon as it
// is due (dueAt), on a goroutine of its own, with at most callers calls
// under way: an open loop. A slow call delays no arrival after it (unless
// callers are all busy: then the next waits for one, counted in
// boundHits), so the latency of each is measured from its due time, not
// from when a closed-loop producer got round to it (coordinated omission).
// The first error stops further arrivals; runOpenLoop returns once every
// call started has returned.
func runOpenLoop(ctx context.Context, n int, rate float64, callers int, start time.Time, call func(i int, due time.Time) error) (openLoopStats, error) {
	st := openLoopStats{callers: callers}
	slots := make(chan struct{}, callers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	var failed atomic.Bool
	var inCalls atomic.Int64
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := 0; i < n && !failed.Load(); i++ {
		due := dueAt(start, rate, i)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				wg.Wait()
				return st, ctx.Err()
			}
		}
		select {
		case slots <- struct{}{}:
		default:
			st.boundHits++
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				wg.Wait()
				return st, ctx.Err()
			}
		}
		if failed.Load() {
			<-slots
			break
		}
		st.peak = max(st.peak, len(slots))
		st.lateMax = max(st.lateMax, time.Since(due))
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			err := call(i, due)
			inCalls.Add(int64(time.Since(t0)))
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				failed.Store(true)
			}
			<-slots
		}()
	}
	wg.Wait()
	st.in = time.Since(start)
	st.inCalls = time.Duration(inCalls.Load())
	return st, firstErr
}

// forwardRefusal says why a forward was not queued: its error, with the
// rules that fired when the policy refused or held it.
func forwardRefusal(caseID string, res node.SendResult, err error) error {
	d := res.Decision
	var ne *node.Error
	if errors.As(err, &ne) {
		if pd, ok := ne.Decision.(*policy.Decision); ok && pd != nil {
			d = *pd
		}
	}
	var fired []string
	for _, f := range d.Fired {
		if f.Effect != "redact" {
			fired = append(fired, f.RuleID+" ("+f.Effect+"): "+f.Reason)
		}
	}
	if err == nil {
		err = fmt.Errorf("%s, not queued", res.State)
	}
	return fmt.Errorf("forward %s: %w %v", caseID, err, fired)
}

// importBenchCases stores bodies as XA-RC's own cases (through the node's
// import, MaxImportBatch at a time), for a --rate run to forward.
func importBenchCases(ctx context.Context, rn *runningNode, bodies [][]byte) error {
	a := node.Actor{Name: "bench-import", Role: "caseworker"}
	for lo := 0; lo < len(bodies); lo += node.MaxImportBatch {
		hi := min(lo+node.MaxImportBatch, len(bodies))
		docs := make([]json.RawMessage, 0, hi-lo)
		for _, b := range bodies[lo:hi] {
			docs = append(docs, b)
		}
		res, err := rn.Node.ImportCases(ctx, a, docs, "")
		if err != nil {
			return fmt.Errorf("import the cases to forward: %w", err)
		}
		if len(res.Created) != hi-lo {
			return fmt.Errorf("import the cases to forward: %d created of %d", len(res.Created), hi-lo)
		}
	}
	return nil
}
