package main

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math"
	"runtime/metrics"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// trace is one envelope's stages (see stages), kept together so that the
// slowest envelopes can be told apart from the rest: the stages' own
// percentiles say how long each stage can be, not which of them made a
// slow envelope slow.
type trace struct {
	from                               time.Time // due (or queued)
	queueTx, toPeer, process, endToEnd time.Duration
	fine                               bool // the finer stages are set
	toClaim, claimed, request, commit  time.Duration
	fwd                                bool // Node.Forward's steps are set
	fwdCall, fwdRead, fwdSlot          time.Duration
	fwdJudge, fwdCommit                time.Duration
}

// tail is where the slowest envelopes' time went: the envelopes at or
// over the quantile q of end to end latency, each stage's median among
// them beside its median among all, and how they spread over the run
// (by the second they were due in): a tail made by queueing behind the
// load spreads over the run; one made by a stall (a pause, a checkpoint,
// periodic work, a timer) crowds into a few seconds.
type tail struct {
	q         float64
	first     time.Time // the first due time: second 0 of the run
	n, of     int
	threshold time.Duration
	rows      []tailRow
	seconds   int          // seconds of the run with a tail envelope due in them
	runFor    int          // seconds of the run (by due time)
	busiest   []tailSecond // the seconds holding the most tail envelopes, most first
	// The first second of the run (due then) apart from the rest: a
	// start (connections opened, caches filled) shows there.
	firstN, restN      int
	firstP50, firstP99 time.Duration
	restP50, restP99   time.Duration
}

type tailRow struct {
	name      string
	tail, all time.Duration // medians
}

type tailSecond struct {
	at time.Duration // offset of the second from the first due time
	n  int
}

// tailOf computes the tail of traces at quantile q (0.99: the slowest 1 %).
func tailOf(traces []trace, q float64) tail {
	t := tail{q: q, of: len(traces)}
	if len(traces) == 0 {
		return t
	}
	// The slowest by rank (ties broken by due time): a threshold would
	// take every envelope of a run whose latencies are mostly equal.
	byE2E := slices.Clone(traces)
	slices.SortStableFunc(byE2E, func(a, b trace) int { return cmp.Compare(a.endToEnd, b.endToEnd) })
	k := max(int(math.Ceil((1-q)*float64(len(traces))-1e-9)), 1)
	slow := byE2E[len(byE2E)-k:]
	t.threshold = slow[0].endToEnd.Round(100 * time.Microsecond)
	first, last := traces[0].from, traces[0].from
	for _, tr := range traces {
		if tr.from.Before(first) {
			first = tr.from
		}
		if tr.from.After(last) {
			last = tr.from
		}
	}
	t.n, t.first = len(slow), first
	t.runFor = int(last.Sub(first)/time.Second) + 1
	fine, fwd := true, true
	for _, tr := range traces {
		fine, fwd = fine && tr.fine, fwd && tr.fwd
	}
	stage := func(name string, f func(trace) time.Duration) {
		t.rows = append(t.rows, tailRow{name: name, tail: median(slow, f), all: median(traces, f)})
	}
	stage("due -> forward returned", func(tr trace) time.Duration { return tr.queueTx })
	if fwd {
		stage("  due -> the call", func(tr trace) time.Duration { return tr.fwdCall })
		stage("  the case read", func(tr trace) time.Duration { return tr.fwdRead })
		stage("  a slot to be judged", func(tr trace) time.Duration { return tr.fwdSlot })
		stage("  judged: policy, signature", func(tr trace) time.Duration { return tr.fwdJudge })
		stage("  the group's transaction", func(tr trace) time.Duration { return tr.fwdCommit })
	}
	if fine {
		stage("forwarded -> claim started", func(tr trace) time.Duration { return tr.toClaim })
		stage("claim started -> request sent", func(tr trace) time.Duration { return tr.claimed })
		stage("request sent -> received", func(tr trace) time.Duration { return tr.request })
		stage("received -> stored at XB-RC", func(tr trace) time.Duration { return tr.commit })
	} else {
		stage("forwarded -> received by XB-RC", func(tr trace) time.Duration { return tr.toPeer })
		stage("received -> processed", func(tr trace) time.Duration { return tr.process })
	}
	stage("due -> processed", func(tr trace) time.Duration { return tr.endToEnd })
	var head, rest []time.Duration
	for _, tr := range traces {
		if tr.from.Sub(first) < time.Second {
			head = append(head, tr.endToEnd)
		} else {
			rest = append(rest, tr.endToEnd)
		}
	}
	slices.Sort(head)
	slices.Sort(rest)
	t.firstN, t.firstP50, t.firstP99 = len(head), pct(head, 0.5), pct(head, 0.99)
	t.restN, t.restP50, t.restP99 = len(rest), pct(rest, 0.5), pct(rest, 0.99)
	per := map[int]int{}
	for _, tr := range slow {
		per[int(tr.from.Sub(first)/time.Second)]++
	}
	t.seconds = len(per)
	for s, n := range per {
		t.busiest = append(t.busiest, tailSecond{at: time.Duration(s) * time.Second, n: n})
	}
	sort.Slice(t.busiest, func(i, j int) bool {
		if t.busiest[i].n != t.busiest[j].n {
			return t.busiest[i].n > t.busiest[j].n
		}
		return t.busiest[i].at < t.busiest[j].at
	})
	if len(t.busiest) > 5 {
		t.busiest = t.busiest[:5]
	}
	return t
}

// median is the median of f over trs.
func median(trs []trace, f func(trace) time.Duration) time.Duration {
	d := make([]time.Duration, len(trs))
	for i, tr := range trs {
		d[i] = f(tr)
	}
	slices.Sort(d)
	return pct(d, 0.5)
}

func (t tail) print(out io.Writer) {
	if t.n == 0 {
		return
	}
	fmt.Fprintf(out, "tail:       the slowest %.0f%% (%d of %d envelopes, due -> processed >= %s): each stage's median among them, and among all\n",
		100*(1-t.q), t.n, t.of, t.threshold)
	for _, r := range t.rows {
		fmt.Fprintf(out, "            %-44s tail %8s  all %8s\n", r.name, r.tail, r.all)
	}
	fmt.Fprintf(out, "            due in %d of the run's %d seconds; most in one second:", t.seconds, t.runFor)
	for _, b := range t.busiest {
		fmt.Fprintf(out, " %d at %s", b.n, b.at)
	}
	fmt.Fprintln(out)
	if t.restN > 0 {
		fmt.Fprintf(out, "            due in the first second (%d): p50 %s  p99 %s; after it (%d): p50 %s  p99 %s\n",
			t.firstN, t.firstP50, t.firstP99, t.restN, t.restP50, t.restP99)
	}
}

// runtimeStats are the Go runtime's figures over the exchange, both nodes
// together (they share this process): garbage collections, their
// stop-the-world pauses, and how long runnable goroutines waited for a
// CPU (the scheduler's latency: the process's own queueing).
type runtimeStats struct {
	gcCycles uint64
	pauses   *metrics.Float64Histogram
	sched    *metrics.Float64Histogram
}

var runtimeSamples = []string{"/gc/cycles/total:gc-cycles", "/sched/pauses/total/gc:seconds", "/sched/latencies:seconds"}

func readRuntime() runtimeStats {
	s := make([]metrics.Sample, len(runtimeSamples))
	for i, n := range runtimeSamples {
		s[i].Name = n
	}
	metrics.Read(s)
	var r runtimeStats
	if s[0].Value.Kind() == metrics.KindUint64 {
		r.gcCycles = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindFloat64Histogram {
		r.pauses = s[1].Value.Float64Histogram()
	}
	if s[2].Value.Kind() == metrics.KindFloat64Histogram {
		r.sched = s[2].Value.Float64Histogram()
	}
	return r
}

// sub is what a histogram counted between before (b) and after (a), same buckets.
func subHist(a, b *metrics.Float64Histogram) *metrics.Float64Histogram {
	if a == nil || b == nil || len(a.Counts) != len(b.Counts) {
		return a
	}
	out := &metrics.Float64Histogram{Buckets: a.Buckets, Counts: make([]uint64, len(a.Counts))}
	for i := range a.Counts {
		out.Counts[i] = a.Counts[i] - b.Counts[i]
	}
	return out
}

// histPct is the upper bound of the bucket holding quantile p of h
// (p 1: the largest value's bucket); 0 when h counted nothing.
func histPct(h *metrics.Float64Histogram, p float64) time.Duration {
	if h == nil {
		return 0
	}
	var total uint64
	for _, c := range h.Counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(p * float64(total)))
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= want && c > 0 {
			hi := h.Buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = h.Buckets[i]
			}
			return time.Duration(hi * float64(time.Second))
		}
	}
	return 0
}

func histCount(h *metrics.Float64Histogram) uint64 {
	var total uint64
	if h != nil {
		for _, c := range h.Counts {
			total += c
		}
	}
	return total
}

// printRuntime says what the Go runtime did between before and after.
func printRuntime(out io.Writer, before, after runtimeStats) {
	pauses := subHist(after.pauses, before.pauses)
	sched := subHist(after.sched, before.sched)
	fmt.Fprintf(out, "runtime:    %d GCs in the exchange, %d stop-the-world pauses (p99 <= %s, max <= %s); goroutines runnable -> running p50 <= %s  p99 <= %s  p99.9 <= %s  max <= %s\n",
		after.gcCycles-before.gcCycles, histCount(pauses), histPct(pauses, 0.99), histPct(pauses, 1),
		histPct(sched, 0.5), histPct(sched, 0.99), histPct(sched, 0.999), histPct(sched, 1))
}

// checkpoints counts the PostgreSQL server's checkpoints (timed, and
// requested: by the WAL written, max_wal_size) and the buffers its
// backends had to write themselves, from pg_stat_bgwriter (PostgreSQL 16
// and before; nothing where it cannot be read): after a checkpoint
// starts, each page's first change writes the whole page to the WAL, and
// commits wait longer for their flush.
type checkpoints struct {
	ok                   bool
	timed, req, backends int64
}

func readCheckpoints(ctx context.Context, dsn string) checkpoints {
	if !strings.HasPrefix(dsn, "postgres") {
		return checkpoints{}
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return checkpoints{}
	}
	defer db.Close()
	var c checkpoints
	if db.QueryRowContext(ctx, `SELECT checkpoints_timed, checkpoints_req, buffers_backend FROM pg_stat_bgwriter`).Scan(&c.timed, &c.req, &c.backends) != nil {
		return checkpoints{}
	}
	c.ok = true
	return c
}

func printCheckpoints(out io.Writer, before, after checkpoints) {
	if !before.ok || !after.ok {
		return
	}
	fmt.Fprintf(out, "server:     during the exchange the PostgreSQL server (all its databases) began %d checkpoints (%d timed, %d for the WAL written); its backends wrote %d buffers themselves\n",
		after.timed-before.timed+after.req-before.req, after.timed-before.timed, after.req-before.req, after.backends-before.backends)
}

// eventClock records when things that stall a node began during the
// exchange: garbage collections (the runtime's cycle count, polled every
// 50 ms) and, on PostgreSQL, checkpoints (pg_stat_bgwriter, polled every
// 250 ms), so that the latency of the envelopes due just after them can
// be set beside the others'.
type eventClock struct {
	mu          sync.Mutex
	gcs, checks []time.Time
	cancel      context.CancelFunc
	done        chan struct{}
	stopped     sync.Once
}

func startEventClock(ctx context.Context, pgServer string) *eventClock {
	ctx, cancel := context.WithCancel(ctx)
	e := &eventClock{cancel: cancel, done: make(chan struct{})}
	var db *sql.DB
	if strings.HasPrefix(pgServer, "postgres") {
		if d, err := sql.Open("postgres", pgServer); err == nil {
			d.SetMaxOpenConns(1)
			db = d
		}
	}
	go func() {
		defer close(e.done)
		if db != nil {
			defer db.Close()
		}
		s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
		metrics.Read(s)
		gcs := s[0].Value.Uint64()
		checks := int64(-1)
		readChecks := func() int64 {
			var n int64
			if db == nil || db.QueryRowContext(ctx, `SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter`).Scan(&n) != nil {
				return -1
			}
			return n
		}
		checks = readChecks()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for tick := 1; ; tick++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			now := time.Now()
			metrics.Read(s)
			if g := s[0].Value.Uint64(); g > gcs {
				e.mu.Lock()
				for range g - gcs {
					e.gcs = append(e.gcs, now)
				}
				e.mu.Unlock()
				gcs = g
			}
			if tick%5 == 0 && checks >= 0 {
				if c := readChecks(); c > checks {
					e.mu.Lock()
					for range c - checks {
						e.checks = append(e.checks, now)
					}
					e.mu.Unlock()
					checks = c
				}
			}
		}
	}()
	return e
}

// stop ends the polling (again: nothing) and returns what it saw.
func (e *eventClock) stop() (gcs, checks []time.Time) {
	e.stopped.Do(func() {
		e.cancel()
		<-e.done
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.gcs), slices.Clone(e.checks)
}

// nearEvents is the latency of the envelopes due within window after an
// event beside the others'.
type nearEvents struct {
	name           string
	events         int
	window         time.Duration
	nearN, otherN  int
	nearP99, other time.Duration
}

func eventsNear(traces []trace, name string, at []time.Time, window time.Duration) nearEvents {
	ne := nearEvents{name: name, events: len(at), window: window}
	var near, other []time.Duration
	for _, tr := range traces {
		i, _ := slices.BinarySearchFunc(at, tr.from, func(a, b time.Time) int { return a.Compare(b) })
		// at[i-1] is the last event at or before the due time (at[i] is after it, or equal).
		hit := i < len(at) && at[i].Equal(tr.from) || i > 0 && tr.from.Sub(at[i-1]) < window
		if hit {
			near = append(near, tr.endToEnd)
		} else {
			other = append(other, tr.endToEnd)
		}
	}
	slices.Sort(near)
	slices.Sort(other)
	ne.nearN, ne.otherN, ne.nearP99, ne.other = len(near), len(other), pct(near, 0.99), pct(other, 0.99)
	return ne
}

func (ne nearEvents) print(out io.Writer) {
	if ne.nearN+ne.otherN == 0 {
		return
	}
	fmt.Fprintf(out, "            %d %s began; envelopes due within %s after one (%d): p99 %s; the others (%d): p99 %s\n",
		ne.events, ne.name, ne.window, ne.nearN, ne.nearP99, ne.otherN, ne.other)
}
