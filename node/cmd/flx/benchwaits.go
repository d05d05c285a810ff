package main

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// waitSampler samples, every period, what the PostgreSQL backends of the
// bench's databases are doing (pg_stat_activity): running (no wait
// event), waiting on a wait event (a lock: the audit chain's advisory lock
// is Lock:advisory; the WAL flush of a commit IO:WALSync; another
// backend's WAL write LWLock:WALWrite), or idle in a transaction, which
// is the backend waiting for the node between two statements (the node's
// own CPU, or its scheduling, holding the transaction and its locks
// open). Shares of those states say where a transaction's time goes on
// the database side, which the latency stages only see whole.
type waitSampler struct {
	db     *sql.DB
	names  map[string]string // database name -> member id
	period time.Duration

	mu      sync.Mutex
	samples int
	counts  map[string]map[string]int // member -> state -> backend samples
	// maint: the last sample found maintenance running; maintStarts: the
	// samples that found it after one that did not.
	maint       bool
	maintStarts []time.Time
	// timeline: each sample's states, for a window of the run (during).
	timeline []waitSample
	cancel   context.CancelFunc
	done     chan struct{}
	stopped  sync.Once
}

// startWaitSampler samples the backends of dsns' databases (member id ->
// DSN) through the server DSN server, every period, until stop. Nil where
// the server cannot be read (then nothing is printed).
func startWaitSampler(ctx context.Context, server string, dsns map[string]string, period time.Duration) *waitSampler {
	if !strings.HasPrefix(server, "postgres") {
		return nil
	}
	names := map[string]string{}
	for id, dsn := range dsns {
		u, err := url.Parse(dsn)
		if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
			return nil
		}
		names[strings.TrimPrefix(u.Path, "/")] = id
	}
	db, err := sql.Open("postgres", server)
	if err != nil {
		return nil
	}
	db.SetMaxOpenConns(1)
	if db.PingContext(ctx) != nil {
		db.Close()
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &waitSampler{db: db, names: names, period: period, counts: map[string]map[string]int{}, cancel: cancel, done: make(chan struct{})}
	go w.run(ctx)
	return w
}

func (w *waitSampler) run(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.period)
	defer t.Stop()
	dbs := make([]string, 0, len(w.names))
	for n := range w.names {
		dbs = append(dbs, n)
	}
	list := "'" + strings.Join(dbs, "','") + "'" // names the bench made: letters, digits, '_'
	// The store's own maintenance (the search index's pending list moved
	// into it, the outbox vacuumed) is told apart by its statement.
	q := `SELECT datname, state, coalesce(wait_event_type, ''), coalesce(wait_event, ''),
		CASE WHEN state = 'active' AND query LIKE '%gin_clean_pending_list%' THEN 'gin_clean_pending_list'
		     WHEN state = 'active' AND query ILIKE 'VACUUM%' THEN 'VACUUM' ELSE '' END
		FROM pg_stat_activity WHERE datname IN (` + list + `) AND state IN ('active', 'idle in transaction')`
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rows, err := w.db.QueryContext(ctx, q)
		if err != nil {
			continue
		}
		got := map[string][]string{}
		maint := false
		for rows.Next() {
			var dat, state, typ, ev, m string
			if rows.Scan(&dat, &state, &typ, &ev, &m) != nil {
				break
			}
			st := waitState(state, typ, ev)
			if m != "" {
				st, maint = "maintenance ("+m+")", true
			}
			got[w.names[dat]] = append(got[w.names[dat]], st)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			continue
		}
		w.add(got)
		w.maintenance(time.Now(), maint)
	}
}

// maintenance records when maintenance began: a sample that finds some
// after one that found none.
func (w *waitSampler) maintenance(at time.Time, running bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if running && !w.maint {
		w.maintStarts = append(w.maintStarts, at)
	}
	w.maint = running
}

// maintenanceStarts returns when the store's maintenance began (nil: no
// sampler).
func (w *waitSampler) maintenanceStarts() []time.Time {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.maintStarts)
}

// waitSample is one sample's states, by member.
type waitSample struct {
	at  time.Time
	got map[string][]string
}

// add counts one sample: the states of each member's backends.
func (w *waitSampler) add(got map[string][]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples++
	w.timeline = append(w.timeline, waitSample{at: time.Now(), got: got})
	for id, states := range got {
		if w.counts[id] == nil {
			w.counts[id] = map[string]int{}
		}
		for _, s := range states {
			w.counts[id][s]++
		}
	}
}

// waitState names what a backend does: "running" (active, no wait
// event), "idle in transaction (waiting for the node)", or the wait
// event as type:event.
func waitState(state, typ, ev string) string {
	switch {
	case state == "idle in transaction":
		return "idle in transaction (waiting for the node)"
	case typ == "":
		return "running"
	}
	return typ + ":" + ev
}

// stop ends the sampling (again: nothing).
func (w *waitSampler) stop() {
	if w == nil {
		return
	}
	w.stopped.Do(func() {
		w.cancel()
		<-w.done
		w.db.Close()
	})
}

// print gives, for each member, the backends' states over the samples:
// the average number of backends in each (busy: in a transaction or a
// statement) and its share of them, the largest first.
func (w *waitSampler) print(out io.Writer) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.samples == 0 {
		return
	}
	fmt.Fprintf(out, "waits:      the PostgreSQL backends of each database in a statement or a transaction, sampled every %s (%d samples):\n", w.period, w.samples)
	fmt.Fprintf(out, "            average backends in each state, and its share\n")
	for _, id := range []string{"XA-RC", "XB-RC"} {
		c := w.counts[id]
		total := 0
		type st struct {
			name string
			n    int
		}
		var sts []st
		for name, n := range c {
			total += n
			sts = append(sts, st{name, n})
		}
		slices.SortFunc(sts, func(a, b st) int {
			if a.n != b.n {
				return cmp.Compare(b.n, a.n)
			}
			return strings.Compare(a.name, b.name)
		})
		fmt.Fprintf(out, "            %s: %.2f busy on average", id, float64(total)/float64(w.samples))
		for i, s := range sts {
			if i == 6 {
				break
			}
			fmt.Fprintf(out, "; %s %.2f (%.0f%%)", s.name, float64(s.n)/float64(w.samples), 100*float64(s.n)/float64(total))
		}
		fmt.Fprintln(out)
	}
}

// poolWaits says, for each node, how often a statement or transaction
// waited for one of its store's pooled connections during the exchange,
// and for how long in all (database/sql's counts, from before and after).
func printPoolWaits(out io.Writer, n int, before, after map[string]sql.DBStats) {
	if len(after) == 0 {
		return
	}
	fmt.Fprintf(out, "pool:       waits for a store connection (all in use) during the exchange:")
	for i, id := range []string{"XA-RC", "XB-RC"} {
		a, ok := after[id]
		if !ok {
			continue
		}
		b := before[id]
		waits, waited := a.WaitCount-b.WaitCount, a.WaitDuration-b.WaitDuration
		avg := time.Duration(0)
		if waits > 0 {
			avg = waited / time.Duration(waits)
		}
		sep := ";"
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(out, "%s %s %d (%.2f per envelope, %s on average; %d connections at most)", sep, id, waits,
			float64(waits)/float64(max(n, 1)), avg.Round(10*time.Microsecond), a.MaxOpenConnections)
	}
	fmt.Fprintln(out)
}

// during gives, for each member, the average backends in each state over
// the samples taken in [from, to), the largest first (at most three), as
// one line's text; "" when none was taken then.
func (w *waitSampler) during(from, to time.Time) string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	counts := map[string]map[string]int{}
	for _, smp := range w.timeline {
		if smp.at.Before(from) || !smp.at.Before(to) {
			continue
		}
		n++
		for id, states := range smp.got {
			if counts[id] == nil {
				counts[id] = map[string]int{}
			}
			for _, st := range states {
				counts[id][st]++
			}
		}
	}
	if n == 0 {
		return ""
	}
	var b strings.Builder
	for _, id := range []string{"XA-RC", "XB-RC"} {
		type st struct {
			name string
			n    int
		}
		var sts []st
		total := 0
		for name, k := range counts[id] {
			sts = append(sts, st{name, k})
			total += k
		}
		slices.SortFunc(sts, func(a, b st) int {
			if a.n != b.n {
				return cmp.Compare(b.n, a.n)
			}
			return strings.Compare(a.name, b.name)
		})
		fmt.Fprintf(&b, "%s %.1f busy", id, float64(total)/float64(n))
		for i, s := range sts {
			if i == 3 {
				break
			}
			fmt.Fprintf(&b, ", %s %.1f", s.name, float64(s.n)/float64(n))
		}
		if id == "XA-RC" {
			b.WriteString("; ")
		}
	}
	return b.String()
}
