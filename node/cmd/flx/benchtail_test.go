package main

import (
	"bytes"
	"database/sql"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
)

// TestTailOfStall: the slowest 1% are told apart from the rest. Envelopes
// due over 10 s at 100/s take 20 ms each, but those due in the 7th second
// wait 500 ms in XB-RC's store transaction (a stall): the tail's medians
// put the time in that stage, and its envelopes are all due in one second.
func TestTailOfStall(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var trs []trace
	for i := range 1000 {
		due := start.Add(time.Duration(i) * 10 * time.Millisecond)
		tr := trace{from: due, fine: true, queueTx: 5 * time.Millisecond, toClaim: time.Millisecond,
			claimed: 2 * time.Millisecond, request: 2 * time.Millisecond, commit: 10 * time.Millisecond}
		if i >= 700 && i < 710 { // due at 7.00-7.09 s
			tr.commit += 500 * time.Millisecond
		}
		tr.endToEnd = tr.queueTx + tr.toClaim + tr.claimed + tr.request + tr.commit
		trs = append(trs, tr)
	}
	tl := tailOf(trs, 0.99)
	if tl.n != 10 || tl.of != 1000 {
		t.Fatalf("tail of %d envelopes among %d, want 10 of 1000", tl.n, tl.of)
	}
	got := map[string]tailRow{}
	for _, r := range tl.rows {
		got[r.name] = r
	}
	if r := got["received -> stored at XB-RC"]; r.tail != 510*time.Millisecond || r.all != 10*time.Millisecond {
		t.Errorf("store stage: tail %s all %s, want 510ms and 10ms", r.tail, r.all)
	}
	if r := got["claim started -> request sent"]; r.tail != r.all {
		t.Errorf("claim stage: tail %s all %s, want equal (not where the tail went)", r.tail, r.all)
	}
	if tl.seconds != 1 || tl.runFor != 10 || len(tl.busiest) != 1 || tl.busiest[0].at != 7*time.Second || tl.busiest[0].n != 10 {
		t.Errorf("tail due in %d of %d seconds, busiest %+v; want all 10 at 7s of 10", tl.seconds, tl.runFor, tl.busiest)
	}
	var out bytes.Buffer
	tl.print(&out)
	for _, want := range []string{"the slowest 1% (10 of 1000 envelopes", "received -> stored at XB-RC", "due in 1 of the run's 10 seconds; most in one second: 10 at 7s",
		"due in the first second (100): p50 20ms  p99 20ms; after it (900): p50 20ms  p99 520ms"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed tail lacks %q:\n%s", want, out.String())
		}
	}
}

// TestTailOfSpread: a tail made by queueing spreads over the run.
func TestTailOfSpread(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var trs []trace
	for i := range 1000 {
		d := 20 * time.Millisecond
		if i%100 == 0 {
			d = 200 * time.Millisecond
		}
		trs = append(trs, trace{from: start.Add(time.Duration(i) * 10 * time.Millisecond), queueTx: d, endToEnd: d})
	}
	tl := tailOf(trs, 0.99)
	if tl.seconds != 10 {
		t.Errorf("tail due in %d seconds, want all 10", tl.seconds)
	}
	if len(tl.rows) != 4 { // without the finer stages: queue, to the peer, processed, end to end
		t.Errorf("%d rows without the finer stages, want 4: %+v", len(tl.rows), tl.rows)
	}
}

// TestHistPct reads quantiles of a runtime histogram as its buckets' upper
// bounds.
func TestHistPct(t *testing.T) {
	h := &metrics.Float64Histogram{Buckets: []float64{0, 0.001, 0.01, 0.1}, Counts: []uint64{90, 9, 1}}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.5, time.Millisecond}, {0.95, 10 * time.Millisecond}, {0.99, 10 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		if got := histPct(h, tc.p); got != tc.want {
			t.Errorf("histPct(%v) = %s, want %s", tc.p, got, tc.want)
		}
	}
	before := &metrics.Float64Histogram{Buckets: h.Buckets, Counts: []uint64{90, 9, 0}}
	if got := histPct(subHist(h, before), 0.5); got != 100*time.Millisecond {
		t.Errorf("the difference holds one value in the last bucket: p50 %s, want 100ms", got)
	}
	if got := histPct(&metrics.Float64Histogram{Buckets: h.Buckets, Counts: []uint64{0, 0, 0}}, 0.99); got != 0 {
		t.Errorf("empty histogram: %s, want 0", got)
	}
}

// TestWaitSamplerPrint: the states of each database's backends are
// averaged over the samples and shared out, the largest first.
func TestWaitSamplerPrint(t *testing.T) {
	w := &waitSampler{period: 20 * time.Millisecond, counts: map[string]map[string]int{}}
	for range 4 {
		w.add(map[string][]string{
			"XA-RC": {waitState("idle in transaction", "Client", "ClientRead"), waitState("active", "", ""), waitState("active", "Lock", "advisory")},
			"XB-RC": {waitState("active", "IO", "WALSync")},
		})
	}
	w.add(map[string][]string{"XA-RC": {waitState("active", "Lock", "advisory")}})
	var out bytes.Buffer
	w.print(&out)
	for _, want := range []string{
		"sampled every 20ms (5 samples)",
		"XA-RC: 2.60 busy on average; Lock:advisory 1.00 (38%); idle in transaction (waiting for the node) 0.80 (31%); running 0.80 (31%)",
		"XB-RC: 0.80 busy on average; IO:WALSync 0.80 (100%)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed waits lack %q:\n%s", want, out.String())
		}
	}
	var none *waitSampler
	none.stop()
	none.print(&out) // no server: nothing, no panic
}

// TestPrintPoolWaits: each node's waits for a store connection during the
// exchange, per envelope and on average.
func TestPrintPoolWaits(t *testing.T) {
	before := map[string]sql.DBStats{"XA-RC": {WaitCount: 10, WaitDuration: time.Second}, "XB-RC": {}}
	after := map[string]sql.DBStats{"XA-RC": {WaitCount: 110, WaitDuration: 2 * time.Second, MaxOpenConnections: 10}, "XB-RC": {MaxOpenConnections: 10}}
	var out bytes.Buffer
	printPoolWaits(&out, 1000, before, after)
	want := "pool:       waits for a store connection (all in use) during the exchange: XA-RC 100 (0.10 per envelope, 10ms on average; 10 connections at most); XB-RC 0 (0.00 per envelope, 0s on average; 10 connections at most)\n"
	if out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}
}

// TestEventsNear: the envelopes due within the window after an event
// (a GC, a checkpoint) are set apart from the others, whichever event
// came last before them.
func TestEventsNear(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var trs []trace
	for i := range 1000 { // 100/s for 10 s
		due := start.Add(time.Duration(i) * 10 * time.Millisecond)
		d := 20 * time.Millisecond
		if off := due.Sub(start); off >= 2*time.Second && off < 2500*time.Millisecond || off >= 6*time.Second && off < 6500*time.Millisecond {
			d = 300 * time.Millisecond
		}
		trs = append(trs, trace{from: due, endToEnd: d})
	}
	ne := eventsNear(trs, "GCs", []time.Time{start.Add(2 * time.Second), start.Add(6 * time.Second)}, 500*time.Millisecond)
	if ne.events != 2 || ne.nearN != 100 || ne.otherN != 900 || ne.nearP99 != 300*time.Millisecond || ne.other != 20*time.Millisecond {
		t.Errorf("got %+v; want 100 envelopes near the 2 GCs at p99 300ms, 900 others at 20ms", ne)
	}
	var out bytes.Buffer
	ne.print(&out)
	if want := "            2 GCs began; envelopes due within 500ms after one (100): p99 300ms; the others (900): p99 20ms\n"; out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}
	if ne := eventsNear(trs, "checkpoints", nil, 5*time.Second); ne.nearN != 0 || ne.otherN != 1000 {
		t.Errorf("no events: %+v, want every envelope among the others", ne)
	}
}

// TestWaitSamplerMaintenanceStarts: a run of maintenance begins at the
// first sample that finds it after one that did not.
func TestWaitSamplerMaintenanceStarts(t *testing.T) {
	w := &waitSampler{counts: map[string]map[string]int{}}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, running := range []bool{false, true, true, false, true, false, false} {
		w.maintenance(at.Add(time.Duration(i)*20*time.Millisecond), running)
	}
	got := w.maintenanceStarts()
	want := []time.Time{at.Add(20 * time.Millisecond), at.Add(80 * time.Millisecond)}
	if len(got) != len(want) || !got[0].Equal(want[0]) || !got[1].Equal(want[1]) {
		t.Errorf("maintenance began at %v, want %v", got, want)
	}
	var none *waitSampler
	if none.maintenanceStarts() != nil {
		t.Error("no sampler: want no starts")
	}
}

// TestWaitSamplerDuring: the states of the samples taken in a window of
// the run, averaged over them, the largest first.
func TestWaitSamplerDuring(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	w := &waitSampler{counts: map[string]map[string]int{}, timeline: []waitSample{
		{at: at.Add(-time.Second), got: map[string][]string{"XA-RC": {"running"}}},
		{at: at, got: map[string][]string{"XA-RC": {"IO:WALSync", "IO:WALSync"}, "XB-RC": {"running"}}},
		{at: at.Add(time.Second), got: map[string][]string{"XA-RC": {"IO:WALSync", "running"}}},
		{at: at.Add(2 * time.Second), got: map[string][]string{"XA-RC": {"running"}}},
	}}
	got := w.during(at, at.Add(2*time.Second))
	if want := "XA-RC 2.0 busy, IO:WALSync 1.5, running 0.5; XB-RC 0.5 busy, running 0.5"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := w.during(at.Add(time.Hour), at.Add(2*time.Hour)); got != "" {
		t.Errorf("no samples then: %q", got)
	}
}
