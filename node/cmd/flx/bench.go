package main

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/fedadmin"
	"github.com/familylinks/flx/node/linksim"
	"github.com/familylinks/flx/node/search"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

func benchCmd() *cobra.Command {
	root := &cobra.Command{Use: "bench", Short: "Measure the node"}
	var pg string
	var n, workers, probe, batch int
	var cpuProfile, memProfile, link, stores, kill string
	var rate, killAt float64
	var killLease, poll, idle, lingerFlag time.Duration
	var noMatch bool
	ex := &cobra.Command{
		Use:   "exchange",
		Short: "Envelopes per second and latency between two nodes over mTLS, with the bound set by signatures and database writes",
		Long: `Start two nodes (XA-RC -> XB-RC) on loopback over mTLS, each on its own new
PostgreSQL database (created on the --postgres server and dropped at the
end), then again each on its own new SQLite file (--stores), stream --n signed case.create envelopes from XA-RC to XB-RC as fast as
they can be queued, and report: envelopes per second delivered, verified,
validated, stored and receipted; latency from queueing to verified receipt
(p50, p99); and, measured in the same run on the same machine, the rate
that the signature, validation and database work alone would allow, with
the ratio. With both stores, a table puts their figures side by side.

The floor, measured on the first store, is CPU time per envelope, as the
exchange's figures are: the bare Ed25519 signatures of an envelope and
its receipt (one goroutine), plus the rows an envelope writes on both
sides (outbox row; inbox with its receipt, case with its
search keys, first case version) inserted set-based, 100 envelopes per
transaction, on one connection: the CPU of that connection's PostgreSQL
backend (read from /proc: the server must run on this machine) and of
this process (on SQLite, this process alone); each part the least of 5
rounds. The output names the rows it leaves out. The ratio is the
exchange's CPU per envelope (nodes and PostgreSQL) over the floor.
Progress is shown while it runs.

The stages of the latency are each their own percentiles (they do not add
up). From the stores: the queue transaction (at a --rate, due -> the
forward returned), -> received by XB-RC (its inbox row's received_at, taken
once the envelope is verified, before the store transaction), -> the
receipt recorded at XA-RC (delivered_at) and -> processed at XB-RC (its
processed_at; when both nodes run here, the commit of the transaction that
processed it, which XB-RC's processed_at, stamped before that transaction
with received_at, leaves out). When
both nodes run in this process (not with --kill), finer steps told by the
nodes as they happen (node.StageHook), on the same clock: the wait for a
slot (forward returned -> its claim's now: linger, an answer), the claim
and any holding back (-> the request sent), the request (-> received),
XB-RC's store transaction with its commit (-> committed), and the answer
(committed -> the answer read and its receipts verified at XA-RC, before
they are recorded); and, per claim of due rows, its store round trip. At
a --rate, the forward (due -> forward returned) in its steps: the wait for
a caller, the case read (shared by concurrent forwards), the wait for a
slot to be judged, judging (policy, signature), and the group's
transaction to its commit. The
claims line counts XA-RC's claims of due rows (those that found none
apart) and its delivery requests, per 1,000 envelopes.

The tail line takes the slowest 1% by due -> processed and gives each
stage's median among them beside its median among all (the stage the slow
envelopes lost their time in), and the seconds of the run they were due
in: a tail of queueing spreads over the run, one of a stall (a pause, a
checkpoint, a burst of other work) crowds into a few seconds. Below it,
the envelopes due within 500 ms after a garbage collection began (and, on
PostgreSQL, within 5 s after a checkpoint began, and within 1 s after a
run of the store's own maintenance began: the search index's pending list
moved into it, the outbox vacuumed) are set beside the others: their p99
against the rest's; and, for the seconds most of them were due in, what
the databases' backends did then (the waits line's states, sampled in
those two seconds). The runtime
line gives the Go runtime's collections during the exchange, their
stop-the-world pauses, and how long runnable goroutines waited for a CPU
(both nodes; a loaded machine shows there); the server line, on
PostgreSQL, the checkpoints the server began meanwhile and the buffers its
backends had to write themselves. The waits line samples, every 20 ms, what
each database's backends in a statement or a transaction are doing
(pg_stat_activity): running, waiting on an event (Lock:advisory is the
audit chain's lock, IO:WALSync a commit's flush), or idle in a
transaction, waiting for the node between two statements. The pool line
counts, for each node, the waits for one of its store's pooled
connections (all in use) during the exchange.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchExchange(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), benchOptions{pg: pg, n: n, workers: workers, probe: probe, rate: rate, batch: batch, cpuProfile: cpuProfile, memProfile: memProfile, link: link, stores: stores, kill: kill, killAt: killAt, killLease: killLease, poll: poll, idle: idle, linger: lingerFlag, noMatch: noMatch})
		},
	}
	ex.Flags().StringVar(&pg, "postgres", envOr("FLX_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL server DSN allowed to create databases")
	ex.Flags().IntVar(&n, "n", 2000, "envelopes to exchange")
	ex.Flags().IntVar(&workers, "workers", 32, "requests in flight to the peer (delivery.workers)")
	ex.Flags().StringVar(&link, "link", "", "run XA-RC -> XB-RC through an in-process proxy: one-way delay, optionally cutting every connection after so many bytes (\"300ms\", \"300ms,cut=5MiB\")")
	ex.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the exchange (both nodes) to this file")
	ex.Flags().StringVar(&memProfile, "memprofile", "", "write a heap profile of the exchange (both nodes) to this file, taken when the process's RSS peaks (as of the collection before)")
	ex.Flags().StringVar(&stores, "stores", "postgres,sqlite", "stores to run the exchange on, one after the other, with a side-by-side table (postgres, sqlite or both); the bound and floor are measured on the first")
	ex.Flags().IntVar(&batch, "batch", 50, "envelopes per request (delivery.batch_size; 1: one envelope per request)")
	ex.Flags().IntVar(&probe, "probe", 400, "iterations per operation when measuring the bound")
	ex.Flags().StringVar(&kill, "kill", "", "run this node (xa: the sender, xb: the receiver) as a child `flx serve` process, kill it with SIGKILL once --kill-at of the envelopes are delivered, start it again, and check that nothing was lost or processed twice")
	ex.Flags().DurationVar(&killLease, "kill-lease", 15*time.Second, "with --kill: delivery.lease of both nodes (what a killed sender had claimed is sent again after it)")
	ex.Flags().Float64Var(&killAt, "kill-at", 0.5, "with --kill: the fraction of envelopes delivered when the node is killed")
	ex.Flags().Float64Var(&rate, "rate", 0, "forward XA-RC's cases (stored before the clock starts) at this many per second, each through Node.Forward as a caseworker's forward, when due on a fixed schedule by as many concurrent callers as needed (open loop, up to 256; latency counted from the due time) (0: queue as fast as possible, 50 envelopes per transaction as a list import)")
	ex.Flags().DurationVar(&poll, "poll", 0, "delivery.poll_interval of both nodes, which also paces inbox polling (0: the default of the configuration; with --kill 20ms)")
	ex.Flags().DurationVar(&lingerFlag, "linger", 0, "delivery.linger of both nodes (0: the default of the configuration; negative: none, a row goes at once while fewer than two requests are in flight)")
	ex.Flags().BoolVar(&noMatch, "no-match", false, "XB-RC computes no candidate matches for what it receives (match.enabled false), to tell what matching adds to the exchange's CPU and latency")
	ex.Flags().DurationVar(&idle, "idle", 0, "first measure the CPU the two nodes and their databases use while idle for this long")
	root.AddCommand(ex, benchMediaCmd())
	root.AddCommand(benchCaseCmds()...)
	return root
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type benchOptions struct {
	pg                       string
	n, workers, probe, batch int
	rate                     float64
	cpuProfile               string
	memProfile               string // heap profile at the peak RSS
	link                     string
	stores                   string
	kill                     string  // "", "xa" or "xb": that node runs as a child process killed mid-run
	killAt                   float64 // fraction delivered at the kill
	killLease                time.Duration
	poll                     time.Duration // delivery.poll_interval (0: the default)
	idle                     time.Duration // measure idle CPU this long first
	linger                   time.Duration // delivery.linger (0: the default, negative: none)
	noMatch                  bool          // XB-RC without matching
}

// benchBody returns a valid ~3 KiB case document with the given case id
// and people of its own (names, year of birth): a list of 3,000 cases of
// the same two people would make the receiver's matching compare every
// case with every other, which no real list does.
// benchCaseID is the case_id of benchBody(i).
func benchCaseID(i int) string { return fmt.Sprintf("XA-RC:BENCH-%07d", i) }

// benchBody is made while the exchange runs (lazily, for long runs): its CPU
// is measured apart and left out; what it allocates is not, as the
// collector's work for it lands on the nodes' figures. So the demo case is
// parsed once and copied, and the names replaced by a loop rather than a
// strings.Replacer built per person: a quarter of the allocations of
// `flx bench exchange --n 100000` were the bench's own bodies.
func benchBody(i int) []byte {
	doc, _ := deepCopy(benchTemplate()).(map[string]any)
	doc["case_id"] = benchCaseID(i)
	h := uint64(i)*0x9e3779b97f4a7c15 + 1
	next := func(n int) int {
		h ^= h >> 29
		h *= 0xbf58476d1ce4e5b9
		h ^= h >> 32
		return int(h % uint64(n))
	}
	given := [][2]string{{"Mira", "Мира"}, {"Anna", "Анна"}, {"Olga", "Ольга"}, {"Vera", "Віра"}, {"Nina", "Ніна"}, {"Lida", "Ліда"},
		{"Illia", "Ілля"}, {"Pavlo", "Павло"}, {"Taras", "Тарас"}, {"Roman", "Роман"}, {"Denys", "Денис"}, {"Oleh", "Олег"}}
	syl := [][2]string{{"ka", "ка"}, {"lo", "ло"}, {"mi", "мі"}, {"nu", "ну"}, {"re", "ре"}, {"sa", "са"}, {"to", "то"}, {"vi", "ві"},
		{"da", "да"}, {"go", "го"}, {"be", "бе"}, {"zu", "зу"}, {"po", "по"}, {"ri", "рі"}, {"mo", "мо"}, {"ne", "не"},
		{"chu", "чу"}, {"sho", "шо"}, {"fe", "фе"}, {"ly", "ли"}, {"ha", "ха"}, {"kry", "кри"}, {"sty", "сти"}, {"bra", "бра"}}
	surname := func() (lat, cyr string) {
		for k := 2 + next(3); k > 0; k-- {
			sy := syl[next(len(syl))]
			lat, cyr = lat+sy[0], cyr+sy[1]
		}
		return strings.ToUpper(lat[:1]) + lat[1:] + "enko", strings.ToUpper(string([]rune(cyr)[:1])) + string([]rune(cyr)[1:]) + "енко"
	}
	persons, _ := doc["persons"].([]any)
	for _, p := range persons {
		pm, _ := p.(map[string]any)
		lat, cyr := surname()
		var g [2]string
		if pm["sex"] == "male" {
			g = given[6+next(6)]
		} else {
			g = given[next(6)]
		}
		r := [...]string{"Testova", lat, "Testov", lat, "Тестова", cyr, "Тестов", cyr,
			"Mira", g[0], "Illia", g[0], "Ilya", g[0], "Мира", g[1], "Ілля", g[1]}
		names, _ := pm["names"].([]any)
		for _, nm := range names {
			nmm, _ := nm.(map[string]any)
			v, _ := nmm["value"].(string)
			nmm["value"] = replacePairs(v, r[:])
		}
		pm["birth_date"] = strconv.Itoa(1925 + next(80)) // adults (born by 2004): a case with a minor is not forwarded without guardian consent
	}
	b, _ := json.Marshal(doc)
	return b
}

// benchTemplate is the demo case, parsed once.
var benchTemplate = sync.OnceValue(func() any {
	var doc any
	if err := json.Unmarshal(demoDoc("case"), &doc); err != nil {
		panic(err) // embedded: cannot happen
	}
	return doc
})

// replacePairs is strings.NewReplacer(pairs...).Replace(s) for non-empty
// old strings: left to right, at each position the first old string (in
// argument order) that matches is replaced, without overlaps.
func replacePairs(s string, pairs []string) string {
	var b strings.Builder
	b.Grow(len(s) + 16)
next:
	for i := 0; i < len(s); {
		for k := 0; k+1 < len(pairs); k += 2 {
			if strings.HasPrefix(s[i:], pairs[k]) {
				b.WriteString(pairs[k+1])
				i += len(pairs[k])
				continue next
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// heapStats are the Go heap's figures at one moment (runtime/metrics).
type heapStats struct{ live, objects, goal uint64 }

func heapFigures() heapStats {
	ms := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/goal:bytes"}}
	metrics.Read(ms)
	var v [3]uint64
	for i, m := range ms {
		if m.Value.Kind() == metrics.KindUint64 {
			v[i] = m.Value.Uint64()
		}
	}
	return heapStats{live: v[0], objects: v[1], goal: v[2]}
}

// writeHeapProfile writes the heap profile (as of the last collection)
// to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
	}
	return 0
}

func runBenchExchange(ctx context.Context, out, progress io.Writer, o benchOptions) error {
	if o.n < 1 || o.workers < 1 || o.probe < 10 {
		return fmt.Errorf("bench: --n, --workers must be positive and --probe at least 10")
	}
	if _, err := parseKill(o.kill); err != nil {
		return err
	}
	if o.rate > 0 && o.kill == "xa" {
		return fmt.Errorf("bench: --rate forwards each case through XA-RC's Node.Forward in this process: not with --kill xa")
	}
	if o.kill != "" && (o.killAt <= 0 || o.killAt >= 1 || o.killLease < 3*time.Second) {
		return fmt.Errorf("bench: --kill-at must be between 0 and 1 and --kill-lease at least 3s")
	}
	kinds, err := parseBenchStores(o.stores)
	if err != nil {
		return err
	}
	// The garbage collector as flx serve sets it by default (GOGC and
	// GOMEMLIMIT win, as they do there).
	gcPercent, memLimit := applyRuntime(config.Defaults().Runtime, slog.New(slog.DiscardHandler))
	fmt.Fprintf(out, "runtime:    gc_percent %d, memory limit %s (flx serve's defaults unless GOGC, GOMEMLIMIT are set)\n", gcPercent, mib(memLimit))
	dir, err := os.MkdirTemp("", "flx-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var results []*exchangeResult
	for _, kind := range kinds {
		dsns := map[string]string{}
		for _, id := range []string{"XA-RC", "XB-RC"} {
			if kind == store.SQLite {
				dsns[id] = "sqlite:" + filepath.Join(dir, string(kind)+"-"+strings.ToLower(id)+".db")
				continue
			}
			name := fmt.Sprintf("flx_bench_%d_%s", time.Now().UnixNano(), strings.ToLower(strings.ReplaceAll(id, "-", "_")))
			dsn, drop, err := store.CreatePostgresDatabase(ctx, o.pg, name)
			if err != nil {
				return fmt.Errorf("bench: %w (is PostgreSQL running? --postgres)", err)
			}
			defer drop(context.Background())
			dsns[id] = dsn
		}
		ro := o
		if len(results) > 0 {
			ro.cpuProfile, ro.memProfile = "", "" // the first store's exchange only
		}
		r, err := runExchange(ctx, out, progress, ro, kind, filepath.Join(dir, string(kind)), dsns)
		if err != nil {
			return fmt.Errorf("bench: %s: %w", kind, err)
		}
		results = append(results, r)
	}
	if len(results) > 1 {
		printSideBySide(out, o, results)
	}
	// The bound and the floor are measured on the first store's databases.
	r := results[0]
	dsns, m, key, xbKey := r.dsns, r.manifest, r.key, r.xbKey
	rate := float64(o.n) / r.elapsed.Seconds()
	perEnv := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(o.n) }
	selfUsed, pgUsed := r.selfCPU, r.dbCPU
	bodies := [][]byte{benchBody(0)}
	// The bound: the same work without HTTP, TLS, queues or scheduling,
	// probed on the same databases with the nodes stopped.
	stA, err := store.Open(ctx, dsns["XA-RC"])
	if err != nil {
		return err
	}
	defer stA.Close()
	stB, err := store.Open(ctx, dsns["XB-RC"])
	if err != nil {
		return err
	}
	defer stB.Close()
	probes, err := probeBound(ctx, o, m, key, xbKey, stA, stB)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\neach piece alone (same run; CPU work on %d goroutines, database work on %d):\n", runtime.NumCPU(), o.workers)
	for _, p := range probes[:len(probes)-1] {
		fmt.Fprintf(out, "  %-48s %8.0f ops/s  (%7.1f µs/op)\n", p.name, p.rate, 1e6/p.rate)
	}
	bound := probes[len(probes)-1].rate
	fmt.Fprintf(out, "bound:      all of it per envelope (sign, verify, validate, receipt sign+verify; receiver: store\n")
	fmt.Fprintf(out, "            + process, sender: queue + claim + delivered = 5 database transactions) on %d goroutines,\n", o.workers)
	fmt.Fprintf(out, "            without HTTP, TLS, polling or queue waits: %.0f envelopes/s\n", bound)
	fmt.Fprintf(out, "\nratio:      exchange / bound = %.0f%%\n", 100*rate/bound)

	// The floor: what any design must spend per envelope, measured here,
	// in CPU as the exchange is.
	sigCPU, err := signatureFloor(m, key, xbKey, o.probe)
	if err != nil {
		return err
	}
	rawSig := rawEd25519Floor(len(bodies[0])+600, o.probe)
	for range floorRounds - 1 {
		rawSig = min(rawSig, rawEd25519Floor(len(bodies[0])+600, o.probe))
	}
	rows, err := measureRowsFloor(ctx, stB, max(5*o.probe, 200), floorRounds)
	if err != nil {
		return err
	}
	f := floorLine{sig: us(rawSig), sigFed: us(sigCPU), rows: rows}
	total := perEnv(selfUsed + pgUsed)
	f.print(out, r.kind, total)
	return nil
}

// floorRounds is how many times the rows' floor is measured: the least
// is kept, as a floor is (one round slowed by the other processes of the
// machine does not decide).
const floorRounds = 5

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// rowsFloor is the CPU time per envelope of store.SetInsertFloor's rows:
// in the PostgreSQL backend of its connection (zero on SQLite) and in this
// process (the driver, and SQLite itself), with the wall time. dbUnread:
// the backend's CPU could not be read (the server is not on this machine),
// and db is zero.
type rowsFloor struct {
	n, rounds      int
	db, self, wall time.Duration
	roundsCPU      []time.Duration
	dbUnread       bool
}

func (r rowsFloor) cpu() time.Duration { return r.db + r.self }

// measureRowsFloor runs store.SetInsertFloor rounds times on n envelopes
// like the exchange's (real case documents and their search keys) and
// keeps the round of least CPU.
func measureRowsFloor(ctx context.Context, st store.Store, n, rounds int) (rowsFloor, error) {
	envs := make([]store.FloorEnvelope, n)
	for i := range envs {
		doc := benchBody(i)
		c, err := schema.ParseCase(doc)
		if err != nil {
			return rowsFloor{}, err
		}
		envs[i] = store.FloorEnvelope{Envelope: []byte(strings.Repeat("e", len(doc)+600)), Document: doc, SearchKeys: search.Keys(c)}
	}
	best := rowsFloor{n: n, rounds: rounds}
	for round := range rounds {
		var db, self time.Duration
		wall, err := store.SetInsertFloor(ctx, st, envs, make([]byte, 400), 100, func(pid int) func() {
			db0, ok0 := cputime.OfProcess(pid)
			self0 := cputime.Process()
			return func() {
				self = cputime.Process() - self0
				if pid > 0 {
					t, ok := cputime.OfProcess(pid)
					if ok && ok0 {
						db = t - db0
					} else {
						best.dbUnread = true
					}
				}
			}
		})
		if err != nil {
			return rowsFloor{}, err
		}
		db, self = db/time.Duration(n), self/time.Duration(n)
		best.roundsCPU = append(best.roundsCPU, db+self)
		if round == 0 || db+self < best.cpu() {
			best.db, best.self, best.wall = db, self, wall
		}
	}
	return best, nil
}

// floorLine is the floor: the signatures' CPU and the rows' (µs per
// envelope).
type floorLine struct {
	sig, sigFed float64
	rows        rowsFloor
}

func (f floorLine) us() float64 { return f.sig + us(f.rows.cpu()) }

// print writes the floor and the ratio of total (the exchange's CPU per
// envelope, µs) to it.
func (f floorLine) print(out io.Writer, kind store.Dialect, total float64) {
	r := f.rows
	fmt.Fprintf(out, "\nfloor:      signatures: sign+verify of envelope and receipt with crypto/ed25519, one goroutine, least of %d rounds: %.0f µs CPU/envelope\n", f.rows.rounds, f.sig)
	fmt.Fprintf(out, "              (the same through federation's Sign/Verify/SignReceipt/VerifyReceipt: %.0f µs)\n", f.sigFed)
	fmt.Fprintf(out, "            + the rows one envelope writes on both sides, set-based: 100 envelopes per transaction, multi-row\n")
	fmt.Fprintf(out, "              INSERTs on one %s connection, the least CPU of %d rounds of %d envelopes:\n", kind, r.rounds, r.n)
	rounds := make([]string, len(r.roundsCPU))
	for i, c := range r.roundsCPU {
		rounds[i] = fmt.Sprintf("%.0f", us(c))
	}
	switch {
	case kind == store.Postgres && r.dbUnread:
		fmt.Fprintf(out, "              rows: PostgreSQL's CPU not read (its backend is not in this machine's /proc) + %.0f µs CPU/envelope in this process; wall %.0f µs (rounds: %s µs CPU)\n",
			us(r.self), us(r.wall), strings.Join(rounds, ", "))
	case kind == store.Postgres:
		fmt.Fprintf(out, "              rows: %.0f µs CPU/envelope in PostgreSQL + %.0f µs in this process; wall %.0f µs (rounds: %s µs CPU)\n",
			us(r.db), us(r.self), us(r.wall), strings.Join(rounds, ", "))
	default:
		fmt.Fprintf(out, "              rows: %.0f µs CPU/envelope in this process (SQLite runs in it); wall %.0f µs (rounds: %s µs CPU)\n",
			us(r.self), us(r.wall), strings.Join(rounds, ", "))
	}
	fmt.Fprintf(out, "              written: %s\n", store.FloorTables)
	fmt.Fprintf(out, "              left out: %s\n", store.FloorLeftOut)
	fmt.Fprintf(out, "            = %.0f µs CPU/envelope -> %.0f envelopes/s on one CPU\n", f.us(), 1e6/f.us())
	fmt.Fprintf(out, "ratio:      total CPU per envelope / floor = %.1fx (%.0f / %.0f µs)\n", total/f.us(), total, f.us())
}

// exchangeResult is what one exchange measured, on one kind of store.
type exchangeResult struct {
	kind                 store.Dialect
	elapsed, processedIn time.Duration
	selfCPU, dbCPU       time.Duration
	lat                  []time.Duration
	dsns                 map[string]string
	manifest             *federation.Manifest
	key, xbKey           *jose.PrivateKey
}

// runExchange runs one exchange between two new nodes on the databases
// dsns and prints its figures.
func runExchange(ctx context.Context, out, progress io.Writer, o benchOptions, kind store.Dialect, dir string, dsns map[string]string) (*exchangeResult, error) {
	var err error
	fedDir := filepath.Join(dir, "federation")
	addrs := map[string]string{}
	link, err := parseLink(o.link)
	if err != nil {
		return nil, err
	}
	var proxy *linksim.Proxy
	var specs []fedadmin.MemberSpec
	for _, m := range []struct{ id, c string }{{"XA-RC", "XA"}, {"XB-RC", "XB"}} {
		if addrs[m.id], err = freePort(); err != nil {
			return nil, err
		}
		endpoint := addrs[m.id]
		if m.id == "XB-RC" && o.link != "" {
			// XA-RC reaches XB-RC through the simulated link.
			if proxy, err = linksim.Start(addrs[m.id], link); err != nil {
				return nil, err
			}
			defer proxy.Close()
			endpoint = proxy.Addr()
		}
		specs = append(specs, fedadmin.MemberSpec{ID: m.id, Country: m.c, Role: federation.RoleSociety, Endpoint: "https://" + endpoint})
	}
	if _, _, err := fedadmin.Init(fedDir, fedadmin.InitConfig{Name: "FLX bench", Members: specs}); err != nil {
		return nil, err
	}
	killID, err := parseKill(o.kill)
	if err != nil {
		return nil, err
	}
	nodes := map[string]*benchNode{}
	cfgs := map[string]config.Config{}
	defer func() {
		for _, bn := range nodes {
			bn.stop()
		}
	}()
	quiet := slog.New(slog.DiscardHandler)
	for _, id := range []string{"XB-RC", "XA-RC"} {
		cfg, err := config.Load(filepath.Join(fedadmin.MemberDir(fedDir, id), fedadmin.MemberConfigFile), func(string) (string, bool) { return "", false })
		if err != nil {
			return nil, err
		}
		cfg.Store.DSN = dsns[id]
		cfg.Federation.Listen = addrs[id]
		if cfg.LocalAPI.Listen, err = freePort(); err != nil {
			return nil, err
		}
		cfg.Delivery.Workers = o.workers
		cfg.Delivery.BatchSize = o.batch
		switch {
		case o.linger > 0:
			cfg.Delivery.Linger = o.linger
		case o.linger < 0:
			cfg.Delivery.Linger = 0 // none
		}
		switch {
		case o.poll > 0:
			cfg.Delivery.PollInterval = o.poll
		case killID != "":
			// A node started again finds what it had left soon.
			cfg.Delivery.PollInterval = 20 * time.Millisecond
		}
		if killID != "" {
			// A peer that is down is retried soon after it is back (the
			// least backoff allowed), and what a killed sender had claimed
			// is claimed again after --kill-lease rather than the default 2 min.
			cfg.Delivery.BackoffInitial, cfg.Delivery.BackoffMax = time.Second, time.Minute
			cfg.Delivery.Lease = o.killLease
			cfg.Delivery.RequestTimeout = min(10*time.Second, o.killLease*2/3)
		}
		if o.noMatch {
			cfg.Match.Enabled = false
		}
		if o.rate > 0 && id == "XA-RC" {
			// Its cases are imported before the clock starts; computing
			// their candidate matches is not part of the exchange.
			cfg.Match.Enabled = false
		}
		if id == killID {
			bn, err := startBenchChild(ctx, fedDir, dir, cfg)
			if err != nil {
				return nil, err
			}
			nodes[id], cfgs[id] = bn, cfg
			continue
		}
		rn, err := startNode(ctx, cfg, quiet)
		if err != nil {
			return nil, err
		}
		nodes[id], cfgs[id] = &benchNode{id: id, cfg: cfg, rn: rn, st: rn.Store}, cfg
	}
	xa, xb := nodes["XA-RC"], nodes["XB-RC"]
	key, err := jose.LoadPrivateKey(cfgs["XA-RC"].Federation.SigningKey)
	if err != nil {
		return nil, err
	}
	// The bodies are made before the clock starts, but for very long runs
	// (100,000 envelopes would hold 250 MB of them): then each is made as
	// it is queued, and what making one costs is measured apart.
	lazy := o.n > 20000 && o.rate <= 0
	var bodies [][]byte
	var bodyCPU time.Duration
	if lazy {
		t0 := cputime.Process()
		for i := range 500 {
			benchBody(o.n + i)
		}
		bodyCPU = (cputime.Process() - t0) / 500
	} else {
		bodies = make([][]byte, o.n)
		for i := range bodies {
			bodies[i] = benchBody(i)
		}
	}
	body := func(i int) []byte {
		if lazy {
			return benchBody(i)
		}
		return bodies[i]
	}
	if o.rate > 0 {
		// At a rate, each case is forwarded as a caseworker forwards it:
		// the cases are XA-RC's own, stored before the clock starts.
		if err := importBenchCases(ctx, xa.rn, bodies); err != nil {
			return nil, err
		}
	}
	runtime.GC()
	idleRSS := rssKiB()
	pace := "queued as fast as possible"
	if o.rate > 0 {
		pace = fmt.Sprintf("forwarded (Node.Forward, policy included) on a fixed schedule of %.0f/s", o.rate)
	}
	if proxy != nil {
		fmt.Fprintf(out, "link: XA-RC -> XB-RC through a proxy adding %s\n", linkString(link))
	}
	fmt.Fprintf(out, "bench exchange: %d case.create envelopes (%d bytes each) XA-RC -> XB-RC over mTLS, %s stores, %s, %d deliveries in flight, linger %s, poll interval %s, %d CPUs\n",
		o.n, len(body(0)), kind, pace, o.workers, cfgs["XA-RC"].Delivery.Linger, cfgs["XA-RC"].Delivery.PollInterval, runtime.NumCPU())

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	// Per database: the receiver's share (store, process) apart from the
	// sender's (queue, claim, delivered).
	pgCPU := map[string]*backendCPU{}
	for id := range nodes {
		pgCPU[id] = newBackendCPU()
	}
	sampleBackends := func() {
		for id, bn := range nodes {
			if pids, err := store.BackendPIDs(ctx, bn.st); err == nil {
				pgCPU[id].sample(pids)
			}
		}
	}
	sampleBackends()
	if o.idle > 0 {
		// What the two nodes cost doing nothing (their polls), before the
		// exchange starts.
		self0, pg0 := cputime.Process(), pgCPU["XA-RC"].used()+pgCPU["XB-RC"].used()
		time.Sleep(o.idle)
		sampleBackends()
		selfIdle, pgIdle := cputime.Process()-self0, pgCPU["XA-RC"].used()+pgCPU["XB-RC"].used()-pg0
		perSec := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / o.idle.Seconds() }
		fmt.Fprintf(out, "idle:       two nodes doing nothing for %s: nodes %.2f ms CPU/s, PostgreSQL backends %.2f ms CPU/s\n",
			o.idle, perSec(selfIdle), perSec(pgIdle))
	}
	// The finer stages (stageTimes): each envelope's claim, request and
	// commit at the receiver, told by the nodes as they happen.
	var fine *stageTimes
	if xa.rn != nil && xb.rn != nil {
		fine = newStageTimes(o.n)
		xa.rn.Metrics.ObserveStages(&node.StageHook{Attempted: fine.attempted, Claimed: fine.claimed, Forwarded: fine.forwarded})
		xb.rn.Metrics.ObserveStages(&node.StageHook{Stored: fine.stored})
		defer xa.rn.Metrics.ObserveStages(nil)
		defer xb.rn.Metrics.ObserveStages(nil)
	}
	// The WAL written: the server's write position before and after (on
	// PostgreSQL; both databases are on the one server --postgres names).
	wal0, walOK, err := store.WALPosition(ctx, xb.st)
	if err != nil {
		return nil, err
	}
	selfStart := cputime.Process()
	rt0 := readRuntime()
	pools := func() map[string]sql.DBStats {
		m := map[string]sql.DBStats{}
		for id, bn := range nodes {
			if s, ok := store.PoolStats(bn.st); ok && bn.rn != nil {
				m[id] = s
			}
		}
		return m
	}
	pool0 := pools()
	pgServer := ""
	if kind == store.Postgres {
		pgServer = o.pg
	}
	events := startEventClock(ctx, pgServer)
	defer events.stop()
	var cp0 checkpoints
	var waits *waitSampler
	var commits0 dbCommits
	if kind == store.Postgres {
		commits0 = readCommits(ctx, dsns)
		cp0 = readCheckpoints(ctx, o.pg)
		waits = startWaitSampler(ctx, o.pg, dsns, 20*time.Millisecond)
		defer waits.stop()
	}
	// Stream: queue as fast as signing + Enqueue allow (a few producers, as
	// several imports would), or at --rate, each case forwarded when it is
	// due on a fixed schedule (an open loop, runOpenLoop), while delivering.
	producers := 4
	start := time.Now()
	var queued, next atomic.Int64
	var queueTxs, queueTxNanos atomic.Int64 // transactions, time in them
	var queuedIn time.Duration              // when the last was queued (written before prodErr)
	var loop openLoopStats                  // --rate: how the schedule was kept (written before prodErr)
	// When each envelope's queue transaction returned, by jti (each
	// producer writes its own indexes): the stages of the latency. At a
	// rate, each is also counted from when it was due.
	committedAt, jtis := make([]time.Time, o.n), make([]string, o.n)
	var dueAts []time.Time
	if o.rate > 0 {
		dueAts = make([]time.Time, o.n)
	}
	prodErr := make(chan error, 1)
	if o.rate > 0 {
		go func() {
			caseworker := node.Actor{Name: "bench-caseworker", Role: "caseworker"}
			var err error
			loop, err = runOpenLoop(ctx, o.n, o.rate, openLoopCallers, start, func(i int, due time.Time) error {
				res, err := xa.rn.Node.Forward(ctx, caseworker, benchCaseID(i), "XB-RC")
				now := time.Now()
				if err != nil || res.State != "queued" || res.JTI == "" {
					return forwardRefusal(benchCaseID(i), res, err)
				}
				committedAt[i], jtis[i], dueAts[i] = now, res.JTI, due
				queueTxs.Add(1)
				queued.Add(1)
				return nil
			})
			queueTxNanos.Store(int64(loop.inCalls))
			queuedIn = loop.in
			prodErr <- err
		}()
	} else {
		go func() {
			var wg sync.WaitGroup
			var once sync.Once
			fail := error(nil)
			for w := 0; w < producers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						// Transactions of up to 50, as a bulk import
						// queues a list.
						hi := int(next.Add(50))
						lo := hi - 50
						if lo >= o.n {
							return
						}
						hi = min(hi, o.n)
						// Signed first, then queued in one transaction of a few
						// set-based statements (store.EnqueueAll).
						items := make([]store.NewOutboxItem, 0, hi-lo)
						var err error
						for i := lo; i < hi && err == nil; i++ {
							var it store.NewOutboxItem
							it, err = signedItem(key, "XB-RC", benchCaseID(i), body(i))
							items = append(items, it)
						}
						if err == nil {
							t0 := time.Now()
							_, err = xa.st.EnqueueAll(ctx, items)
							now := time.Now()
							queueTxs.Add(1)
							queueTxNanos.Add(int64(now.Sub(t0)))
							for i := lo; i < hi && err == nil; i++ {
								committedAt[i], jtis[i] = now, items[i-lo].JTI
							}
						}
						if err != nil {
							once.Do(func() { fail = err })
							return
						}
						queued.Add(int64(hi - lo))
						xa.kick("XB-RC")
					}
				}()
			}
			wg.Wait()
			queuedIn = time.Since(start)
			prodErr <- fail
		}()
	}
	var peakRSS, profiledRSS int64
	var peakHeap heapStats
	var memoPeak, memoPeakEntries int // the claims memo's bytes at their highest (both nodes share it here)
	killed, killedAt, downFor := false, int64(0), time.Duration(0)
	for {
		select {
		case err := <-prodErr:
			if err != nil {
				return nil, fmt.Errorf("bench: queue: %w", err)
			}
			prodErr = nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		delivered, err := progressDelivered(ctx, xa, int64(o.n))
		if err != nil {
			return nil, err
		}
		sampleBackends()
		if e, b := federation.MemoSize(); b > memoPeak {
			memoPeak, memoPeakEntries = b, e
		}
		if r := rssKiB(); r > peakRSS {
			peakRSS = r
			peakHeap = heapFigures()
			if o.memProfile != "" && r >= profiledRSS+16<<10 {
				// At each new peak 16 MiB over the last profiled: the
				// file holds the highest.
				if err := writeHeapProfile(o.memProfile); err != nil {
					return nil, err
				}
				profiledRSS = r
			}
		}
		el := time.Since(start).Seconds()
		fmt.Fprintf(progress, "\r  queued %d/%d  delivered %d/%d  %.0f/s   ", queued.Load(), o.n, delivered, o.n, float64(delivered)/el)
		if killID != "" && !killed && (delivered >= int64(o.killAt*float64(o.n)) || delivered >= int64(o.n)) {
			// SIGKILL mid-run, then the same node on the same database again.
			kn := nodes[killID]
			kn.kill()
			killed, killedAt = true, delivered
			down := time.Now()
			time.Sleep(time.Second)
			if err := kn.start(ctx); err != nil {
				return nil, err
			}
			downFor = time.Since(down)
			fmt.Fprintf(progress, "\n  killed %s (SIGKILL) at %d delivered; started again, listening after %s\n", killID, delivered, downFor.Round(time.Millisecond))
			continue
		}
		if delivered >= int64(o.n) {
			break
		}
		if time.Since(start) > 30*time.Minute {
			return nil, fmt.Errorf("bench: only %d of %d delivered after 30 minutes", delivered, o.n)
		}
	}
	elapsed := time.Since(start)
	fmt.Fprintln(progress)
	if o.memProfile != "" && profiledRSS == 0 {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return nil, err
		}
	}
	if prodErr != nil {
		if err := <-prodErr; err != nil {
			return nil, fmt.Errorf("bench: queue: %w", err)
		}
	}
	// The receiver must also have stored and processed every one: the
	// exchange ends when the last is processed.
	for {
		// ListUnprocessed reads from the head of the unprocessed rows; a
		// ListInbox by state would make PostgreSQL without statistics read
		// the whole backlog every 20 ms, slowing what it measures.
		rows, err := xb.st.ListUnprocessed(ctx, 0, 1)
		if err != nil {
			return nil, err
		}
		sampleBackends()
		if len(rows) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	processedIn := time.Since(start)
	rt1 := readRuntime()
	pool1 := pools()
	gcsAt, checksAt := events.stop()
	waits.stop()
	var cp1 checkpoints
	var commits1 dbCommits
	if kind == store.Postgres {
		cp1 = readCheckpoints(ctx, o.pg)
	}
	// Matching (candidates) runs behind processing, from the cases'
	// match_pending marks: the CPU figures include it, measured once at
	// most 500 marks are left (the worker clears them 500 at a time).
	for {
		marks, err := xb.st.ListMatchPending(ctx, "", 501) // enough to tell
		if err != nil {
			return nil, err
		}
		sampleBackends()
		if len(marks) <= 500 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	matchedIn := time.Since(start)
	if kind == store.Postgres {
		// The commits of the exchange and matching (CPU below covers both).
		time.Sleep(commitsSettle)
		commits1 = readCommits(ctx, dsns)
	}
	if o.cpuProfile != "" {
		pprof.StopCPUProfile() // the profile covers delivery, processing and matching
	}
	selfUsed := cputime.Process() - selfStart
	for _, bn := range nodes {
		selfUsed += bn.childCPU()
	}
	selfUsed -= bodyCPU * time.Duration(o.n) // made while queued (lazy), not part of the exchange
	sampleBackends()
	pgUsed := pgCPU["XA-RC"].used() + pgCPU["XB-RC"].used()
	var walUsed uint64
	if walOK {
		wal1, _, err := store.WALPosition(ctx, xb.st)
		if err != nil {
			return nil, err
		}
		walUsed = wal1 - wal0
	}
	// What stays live once the exchange and matching are done (the
	// matching index, caches), after a collection: unlike the peak, it
	// does not depend on when the collector last ran.
	runtime.GC()
	after := heapFigures()
	// Counts on both sides: nothing lost, nothing twice. The sender: every
	// row it queued delivered, none left over, dead or cancelled.
	sent, err := xa.st.OutboxStats(ctx)
	if err != nil {
		return nil, err
	}
	var sender store.DestinationStats
	for _, s := range sent {
		sender.Queued += s.Queued
		sender.InFlight += s.InFlight
		sender.Delivered += s.Delivered
		sender.Dead += s.Dead
		sender.Cancelled += s.Cancelled
	}
	if sender.Delivered != int64(o.n) || sender.Queued+sender.InFlight+sender.Dead+sender.Cancelled != 0 {
		return nil, fmt.Errorf("bench: XA-RC's outbox holds %d delivered, %d queued, %d in flight, %d dead, %d cancelled for %d envelopes queued",
			sender.Delivered, sender.Queued, sender.InFlight, sender.Dead, sender.Cancelled, o.n)
	}
	received, processed, err := countInbox(ctx, xb.st)
	if err != nil {
		return nil, err
	}
	if received != int64(o.n) || processed != int64(o.n) {
		return nil, fmt.Errorf("bench: XB-RC holds %d inbox rows (%d processed) for %d envelopes sent", received, processed, o.n)
	}
	// Processed once each: one inbox.process audit entry per envelope, each
	// for another case, and one case per envelope.
	entries, distinct, err := processedOnce(ctx, xb.st)
	if err != nil {
		return nil, err
	}
	if entries != int64(o.n) || distinct != int64(o.n) {
		return nil, fmt.Errorf("bench: XB-RC audited %d inbox.process entries for %d cases, %d envelopes sent", entries, distinct, o.n)
	}
	lat, err := latencies(ctx, xa.st)
	if err != nil {
		return nil, err
	}
	committed := make(map[string]queuedAt, o.n)
	for i, j := range jtis {
		q := queuedAt{committed: committedAt[i]}
		if dueAts != nil {
			q.due = dueAts[i]
		}
		committed[j] = q
	}
	stg, err := latencyStages(ctx, xa.st, xb.st, committed, fine)
	if err != nil {
		return nil, err
	}
	if o.rate > 0 {
		lat = stg.total // from each envelope's due time
	}
	rate := float64(o.n) / elapsed.Seconds()
	perEnv := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(o.n) }
	fmt.Fprintf(out, "\nexchange:   %d delivered with verified receipts in %.2fs = %.0f envelopes/s (%d per request)\n", o.n, elapsed.Seconds(), rate, o.batch)
	fmt.Fprintf(out, "processed:  all %d stored and processed at XB-RC in %.2fs = %.0f envelopes/s end to end; counts checked on both sides\n",
		o.n, processedIn.Seconds(), float64(o.n)/processedIn.Seconds())
	fmt.Fprintf(out, "matched:    candidates computed for all but at most 500 at XB-RC in %.2fs = %.0f envelopes/s end to end (CPU below includes it)\n",
		matchedIn.Seconds(), float64(o.n)/matchedIn.Seconds())
	printQueueing(out, o, queueStats{producers: producers, txs: queueTxs.Load(), inTx: time.Duration(queueTxNanos.Load()), in: queuedIn, loop: loop})
	if xa.rn != nil && xb.rn != nil {
		a, b := xa.rn.Metrics.Batches(), xb.rn.Metrics.Batches()
		fmt.Fprintf(out, "batches:    %.1f envelopes per delivery request (%d requests); %.1f rows per processing transaction at XB-RC (%d transactions)\n",
			ratio(a.Envelopes, a.Requests), a.Requests, ratio(b.Rows, b.Transactions), b.Transactions)
		fmt.Fprintf(out, "claims:     %.1f claims of due rows per 1,000 envelopes (%.1f of them empty), %.1f delivery requests per 1,000 envelopes\n",
			1000*ratio(a.Claims, int64(o.n)), 1000*ratio(a.EmptyClaims, int64(o.n)), 1000*ratio(a.Requests, int64(o.n)))
		if a.SendTxs > 0 {
			fmt.Fprintf(out, "forwards:   %.1f forwards per transaction of a group of forwards at XA-RC (%d transactions)\n", ratio(a.Sends, a.SendTxs), a.SendTxs)
		}
	}
	if kind == store.SQLite {
		fmt.Fprintf(out, "CPU:        both nodes with their SQLite databases (this process) %.0f µs/envelope\n", perEnv(selfUsed))
	} else {
		where := "this process"
		if killID != "" {
			where = "this process and the child " + killID
		}
		fmt.Fprintf(out, "CPU:        both nodes (%s) %.0f µs/envelope; PostgreSQL backends of the two databases %.0f µs/envelope; total %.0f µs/envelope\n",
			where, perEnv(selfUsed), perEnv(pgUsed), perEnv(selfUsed+pgUsed))
		fmt.Fprintf(out, "            (PostgreSQL: sender XA-RC %.0f µs/envelope, receiver XB-RC %.0f µs/envelope)\n",
			perEnv(pgCPU["XA-RC"].used()), perEnv(pgCPU["XB-RC"].used()))
		printWAL(out, walUsed, o.n)
	}
	fmt.Fprintf(out, "            (= %.0f envelopes/s per CPU if CPU were the only limit; %d CPUs here, shared)\n", 1e6/perEnv(selfUsed+pgUsed), runtime.NumCPU())
	from := "queue"
	if o.rate > 0 {
		from = "due"
	}
	fmt.Fprintf(out, "latency:    %s -> verified receipt  p50 %s  p90 %s  p99 %s  max %s\n", from, pct(lat, 0.50), pct(lat, 0.90), pct(lat, 0.99), pct(lat, 1))
	stg.print(out, o.rate > 0)
	tl := tailOf(stg.traces, 0.99)
	tl.print(out)
	for i, b := range tl.busiest {
		// What the databases did from the second the most tail
		// envelopes were due in to the next's end.
		if i == 3 {
			break
		}
		if d := waits.during(tl.first.Add(b.at), tl.first.Add(b.at+2*time.Second)); d != "" {
			fmt.Fprintf(out, "            backends in %s-%s: %s\n", b.at, b.at+2*time.Second, d)
		}
	}
	eventsNear(stg.traces, "GCs", gcsAt, 500*time.Millisecond).print(out)
	if kind == store.Postgres {
		eventsNear(stg.traces, "checkpoints", checksAt, 5*time.Second).print(out)
		eventsNear(stg.traces, "runs of the store's maintenance (gin_clean_pending_list, VACUUM)", waits.maintenanceStarts(), time.Second).print(out)
	}
	printRuntime(out, rt0, rt1)
	printCheckpoints(out, cp0, cp1)
	printCommits(out, commits0, commits1, o.n)
	waits.print(out)
	printPoolWaits(out, o.n, pool0, pool1)
	if proxy != nil {
		fmt.Fprintf(out, "link:       %d connections cut by the proxy during the run\n", proxy.Cuts())
	}
	if killed {
		fmt.Fprintf(out, "kill:       %s (a child process) killed with SIGKILL at %d of %d delivered, listening again %s later;\n", killID, killedAt, o.n, downFor.Round(time.Millisecond))
		fmt.Fprintf(out, "            none lost, none processed twice: XA-RC %d outbox rows delivered, none left; XB-RC %d inbox rows, %d processed, %d inbox.process audit entries for %d distinct cases\n",
			sender.Delivered, received, processed, entries, distinct)
	}
	if lazy {
		fmt.Fprintf(out, "bodies:     made while queued (%d envelopes); making one, %.0f µs CPU, is left out of the CPU figures\n", o.n, float64(bodyCPU.Nanoseconds())/1e3)
	}
	fmt.Fprintf(out, "memory:     two nodes in this process: RSS %d MiB idle, %d MiB peak under load\n", idleRSS/1024, peakRSS/1024)
	fmt.Fprintf(out, "            Go heap at the peak: %d MiB live after the last collection, %d MiB of objects, goal %d MiB\n",
		peakHeap.live>>20, peakHeap.objects>>20, peakHeap.goal>>20)
	fmt.Fprintf(out, "            Go heap after the exchange and matching, collected: %d MiB live\n", after.live>>20)
	memoEntries, memoHeld := federation.MemoSize()
	fmt.Fprintf(out, "            claims memo (envelope and body bytes): at most %d MiB in %d entries during the run, %d MiB in %d after\n",
		memoPeak>>20, memoPeakEntries, memoHeld>>20, memoEntries)
	xbKey, err := jose.LoadPrivateKey(cfgs["XB-RC"].Federation.SigningKey)
	if err != nil {
		return nil, err
	}
	var m *federation.Manifest
	for _, bn := range nodes {
		if bn.rn != nil {
			m = bn.rn.Node.Manifest()
		}
	}
	for id, bn := range nodes {
		bn.stop()
		delete(nodes, id)
	}
	return &exchangeResult{kind: kind, elapsed: elapsed, processedIn: processedIn, selfCPU: selfUsed, dbCPU: pgUsed, lat: lat,
		dsns: dsns, manifest: m, key: key, xbKey: xbKey}, nil
}

// printWAL says how much WAL the PostgreSQL server wrote per envelope
// during the exchange and matching: the difference of its WAL positions
// (pg_current_wal_lsn) before and after. Both databases are on the one
// server, whose position is server-wide: the figure is the two databases'
// total (and whatever else the server wrote meanwhile), not split.
func printWAL(out io.Writer, bytes uint64, n int) {
	fmt.Fprintf(out, "WAL:        %.1f KB/envelope written by the PostgreSQL server, both databases together (one server: its WAL position before and after)\n",
		float64(bytes)/1024/float64(max(n, 1)))
}

// queueStats is what queueing the envelopes took.
type queueStats struct {
	producers int
	txs       int64         // transactions (forwards, at a --rate)
	inTx      time.Duration // wall time in them, all producers
	in        time.Duration // from the start to the last queued
	loop      openLoopStats // at a --rate: how the schedule was kept
}

// printQueueing says how the envelopes were queued and, at a --rate,
// whether the schedule was kept: an arrival that found every caller busy
// waited for one, and from then on the rate measured is partly that of
// forwarding, not of the exchange (its latency still counts from its due
// time).
func printQueueing(out io.Writer, o benchOptions, q queueStats) {
	rate := float64(o.n) / q.in.Seconds()
	avg := float64(q.inTx.Microseconds()) / 1e3 / float64(max(q.txs, 1))
	if o.rate <= 0 {
		fmt.Fprintf(out, "queueing:   %d envelopes in %d transactions (%.0f each) by %d producers in %.2fs = %.0f/s; a queue transaction took %.1f ms on average\n",
			o.n, q.txs, ratio(int64(o.n), q.txs), q.producers, q.in.Seconds(), rate, avg)
		return
	}
	l := q.loop
	fmt.Fprintf(out, "queueing:   %d cases forwarded one by one (Node.Forward to XB-RC: case lock, policy, decision, envelope, audit), each when due on a fixed schedule of %.0f/s,\n",
		o.n, o.rate)
	fmt.Fprintf(out, "            by up to %d concurrent callers (open loop; at most %d at once), done in %.2fs = %.0f/s; a forward took %.1f ms on average\n",
		l.callers, l.peak, q.in.Seconds(), rate, avg)
	if l.boundHits > 0 {
		fmt.Fprintf(out, "            the schedule was NOT kept: %d arrivals found all %d callers busy and waited for one (the latest started %s after its due time); latency still counts from the due time\n",
			l.boundHits, l.callers, l.lateMax.Round(time.Millisecond))
		return
	}
	fmt.Fprintf(out, "            the schedule was kept: every forward started at most %s after its due time\n", l.lateMax.Round(time.Millisecond))
}

// ratio is a/b, 0 when b is.
func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// printSideBySide prints the figures of the exchanges on each kind of store.
func printSideBySide(out io.Writer, o benchOptions, rs []*exchangeResult) {
	fmt.Fprintf(out, "\nside by side (%d envelopes each):\n", o.n)
	fmt.Fprintf(out, "  %-10s %12s %12s %16s %16s %10s %10s\n", "store", "delivered/s", "processed/s", "nodes µs/env", "database µs/env", "p50", "p99")
	for _, r := range rs {
		db := fmt.Sprintf("%.0f", float64(r.dbCPU.Microseconds())/float64(o.n))
		if r.kind == store.SQLite {
			db = "(in nodes)"
		}
		fmt.Fprintf(out, "  %-10s %12.0f %12.0f %16.0f %16s %10s %10s\n", r.kind, float64(o.n)/r.elapsed.Seconds(), float64(o.n)/r.processedIn.Seconds(),
			float64(r.selfCPU.Microseconds())/float64(o.n), db, pct(r.lat, 0.5), pct(r.lat, 0.99))
	}
}

// parseBenchStores reads --stores: "postgres", "sqlite" or both, in order.
func parseBenchStores(v string) ([]store.Dialect, error) {
	var out []store.Dialect
	for _, f := range strings.Split(v, ",") {
		switch k := store.Dialect(strings.TrimSpace(f)); k {
		case store.Postgres, store.SQLite:
			out = append(out, k)
		default:
			return nil, fmt.Errorf("bench: --stores %q: each must be postgres or sqlite", v)
		}
	}
	return out, nil
}

// signedItem signs a case.create for body (of case caseID) as the outbox
// row that queues it, as the node's forward does after its policy step.
// The case id is given, not read from body: decoding each body here was
// ~20 µs of the CPU per envelope the bench counts as the nodes'.
func signedItem(key *jose.PrivateKey, to, caseID string, body []byte) (store.NewOutboxItem, error) {
	now := time.Now()
	jti := federation.NewJTI()
	exp := now.Add(time.Hour)
	raw, err := federation.Sign(federation.Claims{Issuer: "XA-RC", Audience: to, IssuedAt: now, ExpiresAt: exp,
		JTI: jti, Kind: federation.KindCaseCreate, CaseID: caseID, Body: body}, key)
	if err != nil {
		return store.NewOutboxItem{}, err
	}
	return store.NewOutboxItem{Destination: to, CaseID: caseID, CaseVersion: 1, Kind: string(federation.KindCaseCreate), JTI: jti, Envelope: raw, Discloses: true,
		OwnExpiresAt: exp.Truncate(time.Second)}, nil
}

// progressDelivered returns how many of n envelopes the sender has
// delivered. A sender in this process is asked its delivery count, which
// costs nothing; the outbox is counted only once that reaches n, or when
// the sender is a child process: counting it is a scan of the whole
// outbox, four times a second, whose cost grows with --n and was counted
// in the sender's database CPU the bench reports.
func progressDelivered(ctx context.Context, xa *benchNode, n int64) (int64, error) {
	if xa.rn != nil {
		if d := xa.rn.Metrics.Batches().Delivered; d < n {
			return d, nil // a re-sent envelope may count twice: the outbox decides the end
		}
	}
	return countDelivered(ctx, xa.st)
}

func countDelivered(ctx context.Context, st store.Store) (int64, error) {
	stats, err := st.OutboxStats(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, s := range stats {
		n += s.Delivered
	}
	return n, nil
}

func latencies(ctx context.Context, st store.Store) ([]time.Duration, error) {
	var out []time.Duration
	var after int64
	for {
		rows, err := st.ListOutbox(ctx, store.OutboxFilter{State: store.Delivered, AfterID: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			after = r.ID
			out = append(out, r.DeliveredAt.Sub(r.CreatedAt))
		}
		if len(rows) < 1000 {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// stages is where an envelope's time went, each stage sorted: from
// queueing to processing, by the timestamps of both stores and the time
// each queue transaction returned (one clock: both nodes run here).
type stages struct {
	queueTx   []time.Duration // created_at (at a --rate: the due time) -> the queue transaction returned
	toPeer    []time.Duration // -> stored by XB-RC (received_at: verified, before its store transaction): linger, claim, request, verify
	receipt   []time.Duration // received_at -> receipt recorded at XA-RC (delivered_at): store transaction, receipt, its verification
	process   []time.Duration // received_at -> processed at XB-RC (processed_at, or the commit of its transaction when told)
	endToEnd  []time.Duration // created_at (or the due time) -> processed, as in process
	total     []time.Duration // created_at (or the due time) -> receipt recorded (delivered_at)
	unmatched int             // rows missing on one side (none in a complete run)
	// The finer stages (stageTimes), when the nodes run in this process:
	// toPeer split in three, receipt in two.
	toClaim  []time.Duration // the queue transaction returned -> its claim started (wait for a slot: linger, an answer)
	claimed  []time.Duration // claim started -> request sent (the claim statement, holding back)
	request  []time.Duration // request sent -> received by XB-RC (TLS, HTTP/2, verifying the envelopes before it)
	commit   []time.Duration // received -> XB-RC's store transaction committed (store, apply, fsync)
	answered []time.Duration // committed -> the answer at XA-RC (receipts out, read, verified)
	claims   []time.Duration // each claim's store round trip (per claim, not per envelope)
	// queueTx split, at a --rate (Node.Forward's steps): from the due
	// time to the call (a caller free), the case read (readToSend's
	// group), the wait for a slot to be judged, judging (policy, sign),
	// and the group's transaction to its commit.
	fwdCall, fwdRead, fwdSlot, fwdJudge, fwdCommit []time.Duration
	fine                                           bool
	// traces are each envelope's stages together (unsorted), for the
	// tail: where the slowest envelopes' time went, and when they were due.
	traces []trace
}

// stageTimes are the finer steps of each envelope, told by the nodes
// (node.StageHook) as they happen, all on this process's clock: at XA-RC
// when its claim started (the claim's now), when its request was sent and
// answered (the last attempt's), at XB-RC when the transaction that stored
// it committed.
type stageTimes struct {
	mu       sync.Mutex
	attempts map[string]attemptTimes // by jti
	forwards map[string]forwardTimes // by jti (--rate: Node.Forward's steps)
	commits  map[string]time.Time    // by XB-RC's inbox key
	claims   []time.Duration         // each claim's store round trip
}

type attemptTimes struct{ claimed, sent, answered time.Time }

// forwardTimes are the steps of a Node.Forward (node.StageHook.Forwarded).
type forwardTimes struct{ start, read, slot, judged, committed time.Time }

func (s *stageTimes) forwarded(jti string, start, read, slot, judged, committed time.Time) {
	s.mu.Lock()
	s.forwards[jti] = forwardTimes{start, read, slot, judged, committed}
	s.mu.Unlock()
}

func newStageTimes(n int) *stageTimes {
	return &stageTimes{attempts: make(map[string]attemptTimes, n), commits: make(map[string]time.Time, n), forwards: make(map[string]forwardTimes, n)}
}

func (s *stageTimes) attempted(jti string, claimed, sent, answered time.Time) {
	s.mu.Lock()
	s.attempts[jti] = attemptTimes{claimed, sent, answered}
	s.mu.Unlock()
}

func (s *stageTimes) claimed(_ int, took time.Duration) {
	s.mu.Lock()
	s.claims = append(s.claims, took)
	s.mu.Unlock()
}

func (s *stageTimes) stored(key string, at time.Time) {
	s.mu.Lock()
	s.commits[key] = at
	s.mu.Unlock()
}

// queuedAt is when an envelope's queue transaction (a forward, at a
// --rate) returned and, at a --rate, when it was due: the stages count
// from the due time if there is one, else from the outbox row's
// created_at.
type queuedAt struct{ committed, due time.Time }

// latencyStages matches XA-RC's delivered outbox rows with XB-RC's inbox
// rows by jti.
func latencyStages(ctx context.Context, xa, xb store.Store, committed map[string]queuedAt, fine *stageTimes) (stages, error) {
	var st stages
	st.fine = fine != nil
	inbox := map[string]store.InboxItem{}
	for after := int64(0); ; {
		rows, err := xb.ListInbox(ctx, store.InboxFilter{AfterID: after, Limit: 1000})
		if err != nil {
			return st, err
		}
		for _, r := range rows {
			after = r.ID
			inbox[r.JTI] = r
		}
		if len(rows) < 1000 {
			break
		}
	}
	for after := int64(0); ; {
		rows, err := xa.ListOutbox(ctx, store.OutboxFilter{State: store.Delivered, AfterID: after, Limit: 1000})
		if err != nil {
			return st, err
		}
		for _, r := range rows {
			after = r.ID
			in, ok := inbox[federation.ReplayKey("XA-RC", r.JTI)] // the receiver's key: sender and jti
			c, cok := committed[r.JTI]
			if !ok || !cok || in.ProcessedAt.IsZero() {
				st.unmatched++
				continue
			}
			from := r.CreatedAt
			if !c.due.IsZero() {
				from = c.due
			}
			// Processed once the transaction that processed it committed:
			// XB-RC processes in the transaction that stores an envelope,
			// and stamps processed_at with received_at, before that
			// transaction and its WAL flush. Its commit, when the node
			// tells it (in this process), is when it was processed.
			processed := in.ProcessedAt
			var a attemptTimes
			var cm time.Time
			aok, cok := false, false
			if fine != nil {
				a, aok = fine.attempts[r.JTI]
				cm, cok = fine.commits[federation.ReplayKey("XA-RC", r.JTI)]
				if cok && cm.After(processed) {
					processed = cm
				}
			}
			tr := trace{from: from, queueTx: c.committed.Sub(from), toPeer: in.ReceivedAt.Sub(c.committed),
				process: processed.Sub(in.ReceivedAt), endToEnd: processed.Sub(from)}
			st.queueTx = append(st.queueTx, c.committed.Sub(from))
			st.toPeer = append(st.toPeer, in.ReceivedAt.Sub(c.committed))
			st.receipt = append(st.receipt, r.DeliveredAt.Sub(in.ReceivedAt))
			st.process = append(st.process, processed.Sub(in.ReceivedAt))
			st.endToEnd = append(st.endToEnd, processed.Sub(from))
			st.total = append(st.total, r.DeliveredAt.Sub(from))
			if fine != nil {
				if !aok || !cok {
					st.unmatched++
					continue
				}
				st.toClaim = append(st.toClaim, a.claimed.Sub(c.committed))
				st.claimed = append(st.claimed, a.sent.Sub(a.claimed))
				st.request = append(st.request, in.ReceivedAt.Sub(a.sent))
				st.commit = append(st.commit, cm.Sub(in.ReceivedAt))
				st.answered = append(st.answered, a.answered.Sub(cm))
				tr.fine, tr.toClaim, tr.claimed, tr.request, tr.commit = true, a.claimed.Sub(c.committed), a.sent.Sub(a.claimed),
					in.ReceivedAt.Sub(a.sent), cm.Sub(in.ReceivedAt)
			}
			if f, ok := fine.forwardOf(r.JTI); ok {
				st.fwdCall = append(st.fwdCall, f.start.Sub(from))
				st.fwdRead = append(st.fwdRead, f.read.Sub(f.start))
				st.fwdSlot = append(st.fwdSlot, f.slot.Sub(f.read))
				st.fwdJudge = append(st.fwdJudge, f.judged.Sub(f.slot))
				st.fwdCommit = append(st.fwdCommit, f.committed.Sub(f.judged))
				tr.fwd, tr.fwdCall, tr.fwdRead, tr.fwdSlot, tr.fwdJudge, tr.fwdCommit = true, f.start.Sub(from), f.read.Sub(f.start),
					f.slot.Sub(f.read), f.judged.Sub(f.slot), f.committed.Sub(f.judged)
			}
			st.traces = append(st.traces, tr)
		}
		if len(rows) < 1000 {
			break
		}
	}
	if fine != nil {
		fine.mu.Lock()
		st.claims = slices.Clone(fine.claims)
		fine.mu.Unlock()
	}
	for _, d := range [][]time.Duration{st.queueTx, st.toPeer, st.receipt, st.process, st.endToEnd, st.total,
		st.toClaim, st.claimed, st.request, st.commit, st.answered, st.claims, st.fwdCall, st.fwdRead, st.fwdSlot, st.fwdJudge, st.fwdCommit} {
		slices.Sort(d)
	}
	return st, nil
}

func (st stages) print(out io.Writer, paced bool) {
	line := func(name string, d []time.Duration) {
		fmt.Fprintf(out, "            %-44s p50 %8s  p90 %8s  p99 %8s\n", name, pct(d, 0.50), pct(d, 0.90), pct(d, 0.99))
	}
	fmt.Fprintf(out, "stages:     (each stage's own percentiles; they do not add up)\n")
	if paced {
		line("due -> forward returned (caseworker waits)", st.queueTx)
		if len(st.fwdRead) > 0 {
			line("  due -> the call (a caller free)", st.fwdCall)
			line("  the case read (readToSend's group)", st.fwdRead)
			line("  a slot to be judged (forwardSlots)", st.fwdSlot)
			line("  judged: policy, signature", st.fwdJudge)
			line("  the group's transaction (commitSendTx)", st.fwdCommit)
		}
		line("forwarded -> received by XB-RC (linger, claim, send)", st.toPeer)
	} else {
		line("queue transaction (caseworker waits)", st.queueTx)
		line("queued -> received by XB-RC (linger, claim, send)", st.toPeer)
	}
	if st.fine {
		line("  queued -> claim started (a slot: linger, answer)", st.toClaim)
		line("  claim started -> request sent (claim, held back)", st.claimed)
		line("    the claim's store round trip (per claim)", st.claims)
		line("  request sent -> received (TLS, HTTP/2, verify)", st.request)
	}
	line("received -> receipt recorded at XA-RC", st.receipt)
	if st.fine {
		line("  received -> stored at XB-RC (transaction, fsync)", st.commit)
		line("  stored -> answer verified at XA-RC", st.answered)
	}
	if st.fine {
		line("received -> processed at XB-RC (committed)", st.process)
	} else {
		line("received -> processed at XB-RC (processed_at)", st.process)
	}
	if paced {
		line("due -> processed (end to end)", st.endToEnd)
	} else {
		line("queue -> processed (end to end)", st.endToEnd)
	}
	if st.unmatched > 0 {
		fmt.Fprintf(out, "            (%d envelopes not matched on both sides)\n", st.unmatched)
	}
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(p*float64(len(d))) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(d) {
		i = len(d) - 1
	}
	return d[i].Round(100 * time.Microsecond)
}

type probe struct {
	name string
	rate float64
}

// probeBound measures each piece of per-envelope work alone, with one
// goroutine per CPU, on the bench's own keys and databases.
func probeBound(ctx context.Context, o benchOptions, m *federation.Manifest, key, xbKey *jose.PrivateKey, stA, stB store.Store) ([]probe, error) {
	verifier := &federation.Verifier{Manifest: federation.StaticManifest(m), Self: "XB-RC"}
	body := benchBody(o.n + 1)
	signed := make([][]byte, o.probe)
	for i := range signed {
		raw, err := federation.Sign(federation.Claims{Issuer: "XA-RC", Audience: "XB-RC", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
			JTI: federation.NewJTI(), Kind: federation.KindCaseCreate, CaseID: "XA-RC:BENCH-PROBE", Body: body}, key)
		if err != nil {
			return nil, err
		}
		signed[i] = raw
	}
	env, err := verifier.Verify(ctx, signed[0], "XA-RC")
	if err != nil {
		return nil, err
	}
	rc := federation.ReceiptFor(env, federation.ReceiptAccepted, time.Now())
	receipt, err := federation.SignReceipt(rc, xbKey)
	if err != nil {
		return nil, err
	}
	var seq atomic.Int64
	run := func(name string, workers int, op func(i int) error) (probe, error) {
		var wg sync.WaitGroup
		var firstErr error
		var mu sync.Mutex
		start := time.Now()
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(seq.Add(1))
					if i > o.probe {
						return
					}
					if err := op(i - 1); err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = fmt.Errorf("%s: %w", name, err)
						}
						mu.Unlock()
						return
					}
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		seq.Store(0)
		return probe{name: name, rate: float64(o.probe) / el.Seconds()}, firstErr
	}
	cpu, db := runtime.NumCPU(), o.workers
	receive := func(i int) error {
		jti := federation.NewJTI()
		_, err := stB.Receive(ctx, store.InboxItem{JTI: "PROBE/" + jti, Iss: "XA-RC", Aud: "XB-RC", Kind: "case.create", CaseID: "XA-RC:BENCH-PROBE", Envelope: append(signed[i%len(signed)], []byte(jti)...)},
			store.Receipt{Status: "accepted", Raw: receipt})
		return err
	}
	// process is what the receiver's inbox processor writes for a case.create.
	var caseSeq atomic.Int64
	process := func(i int) error {
		jti := federation.NewJTI()
		r, err := stB.Receive(ctx, store.InboxItem{JTI: "PROCESS/" + jti, Iss: "XA-RC", Aud: "XB-RC", Kind: "case.create", CaseID: "XA-RC:BENCH-PROBE", Envelope: append(signed[i%len(signed)], []byte(jti)...)},
			store.Receipt{Status: "accepted", Raw: receipt})
		if err != nil {
			return err
		}
		id := fmt.Sprintf("XA-RC:PROBE-%d", caseSeq.Add(1))
		return stB.Tx(ctx, func(tx store.Tx) error {
			if _, err := tx.CreateCase(ctx, store.NewCase{ID: id, Origin: "XA-RC", Type: "tracing_request", Status: "open", Version: 1, Document: body}); err != nil {
				return err
			}
			if err := tx.MarkProcessed(ctx, r.ID, ""); err != nil {
				return err
			}
			_, err := tx.AppendAudit(ctx, store.AuditEntry{Actor: "XA-RC", Action: "inbox.process", Object: id})
			return err
		})
	}
	var dest atomic.Int64
	sendSide := func(raw []byte) error {
		d := "PROBE-" + strconv.FormatInt(dest.Add(1), 10)
		it, err := stA.Enqueue(ctx, store.NewOutboxItem{Destination: d, CaseID: "XA-RC:BENCH-PROBE", Kind: "case.create", JTI: federation.NewJTI(), Envelope: raw, Discloses: true})
		if err != nil {
			return err
		}
		items, err := stA.ClaimDue(ctx, store.ClaimRequest{Worker: "probe", Destination: d, Limit: 1})
		if err != nil || len(items) != 1 {
			return fmt.Errorf("claim: %v (%d rows)", err, len(items))
		}
		return stA.MarkDelivered(ctx, it.ID, receipt)
	}
	steps := []struct {
		name    string
		workers int
		op      func(i int) error
	}{
		{"sign envelope (sender, EdDSA)", cpu, func(i int) error {
			_, err := federation.Sign(federation.Claims{Issuer: "XA-RC", Audience: "XB-RC", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
				JTI: federation.NewJTI(), Kind: federation.KindCaseCreate, CaseID: "XA-RC:BENCH-PROBE", Body: body}, key)
			return err
		}},
		{"verify envelope (receiver)", cpu, func(i int) error { _, err := verifier.Verify(ctx, signed[i], "XA-RC"); return err }},
		{"validate case body, schema v1 (receiver)", cpu, func(i int) error { return schema.Validate(schema.KindCase, body) }},
		{"sign receipt (receiver)", cpu, func(i int) error { _, err := federation.SignReceipt(rc, xbKey); return err }},
		{"verify receipt (sender)", cpu, func(i int) error {
			_, err := federation.VerifyReceipt(receipt, m, federation.ExpectedReceipt{Issuer: "XB-RC", Audience: "XA-RC", ReceiptFor: env.JTI, SHA256: env.SHA256()}, time.Now())
			return err
		}},
		{"store envelope + inbox + receipt, 1 tx (receiver)", db, receive},
		{"process: store + create case + audit, 2 tx (receiver)", db, process},
		{"queue + claim + mark delivered, 3 tx (sender)", db, func(i int) error { return sendSide(signed[i]) }},
	}
	var out []probe
	for _, s := range steps {
		p, err := run(s.name, s.workers, s.op)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	// All of it together per envelope, at the exchange's concurrency, with
	// no HTTP, TLS, polling or queue waits: the bound.
	all, err := run("bound", db, func(i int) error {
		raw, err := federation.Sign(federation.Claims{Issuer: "XA-RC", Audience: "XB-RC", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
			JTI: federation.NewJTI(), Kind: federation.KindCaseCreate, CaseID: "XA-RC:BENCH-PROBE", Body: body}, key)
		if err != nil {
			return err
		}
		e, err := verifier.Verify(ctx, raw, "XA-RC")
		if err != nil {
			return err
		}
		if err := schema.Validate(schema.KindCase, e.Body); err != nil {
			return err
		}
		r, err := federation.SignReceipt(federation.ReceiptFor(e, federation.ReceiptAccepted, time.Now()), xbKey)
		if err != nil {
			return err
		}
		if err := process(i); err != nil { // Receive, then the inbox processor's transaction
			return err
		}
		if _, err := federation.VerifyReceipt(r, m, federation.ExpectReceipt(raw, e.Claims), time.Now()); err != nil {
			return err
		}
		return sendSide(raw)
	})
	if err != nil {
		return nil, err
	}
	return append(out, all), nil
}

// selfCPU is the CPU time (user + system) this process has used.
// mib shows a byte count in MiB ("none" for 0).
func mib(b int64) string {
	if b <= 0 {
		return "none"
	}
	return fmt.Sprintf("%d MiB", b>>20)
}

// backendCPU follows the CPU time of PostgreSQL backend processes (read
// from /proc: the server must run on this machine) from their first
// sample: connections opened and closed between samples are missed.
type backendCPU struct {
	first, last map[int]time.Duration
}

func newBackendCPU() *backendCPU {
	return &backendCPU{first: map[int]time.Duration{}, last: map[int]time.Duration{}}
}

func (b *backendCPU) sample(pids []int) {
	for _, pid := range pids {
		t, ok := cputime.OfProcess(pid)
		if !ok {
			continue
		}
		if _, seen := b.first[pid]; !seen {
			b.first[pid] = t
		}
		b.last[pid] = t
	}
}

func (b *backendCPU) used() time.Duration {
	var d time.Duration
	for pid, t := range b.last {
		d += t - b.first[pid]
	}
	return d
}

// countInbox counts the receiver's inbox rows and those processed.
func countInbox(ctx context.Context, st store.Store) (received, processed int64, err error) {
	var after int64
	for {
		rows, err := st.ListInbox(ctx, store.InboxFilter{AfterID: after, Limit: 1000})
		if err != nil {
			return 0, 0, err
		}
		for _, r := range rows {
			after = r.ID
			received++
			if !r.ProcessedAt.IsZero() && r.ProcessError == "" {
				processed++
			}
		}
		if len(rows) < 1000 {
			return received, processed, nil
		}
	}
}

// signatureFloor is the CPU time per envelope of the signatures alone:
// sign and verify the envelope, sign and verify its receipt, through the
// same code the nodes use, on one goroutine.
func signatureFloor(m *federation.Manifest, key, xbKey *jose.PrivateKey, n int) (time.Duration, error) {
	verifier := &federation.Verifier{Manifest: federation.StaticManifest(m), Self: "XB-RC"}
	body := benchBody(0)
	ctx := context.Background()
	start := cputime.Process()
	for range n {
		now := time.Now()
		raw, err := federation.Sign(federation.Claims{Issuer: "XA-RC", Audience: "XB-RC", IssuedAt: now, ExpiresAt: now.Add(time.Hour),
			JTI: federation.NewJTI(), Kind: federation.KindCaseCreate, CaseID: "XA-RC:BENCH-FLOOR", Body: body}, key)
		if err != nil {
			return 0, err
		}
		e, err := verifier.Verify(ctx, raw, "XA-RC")
		if err != nil {
			return 0, err
		}
		r, err := federation.SignReceipt(federation.ReceiptFor(e, federation.ReceiptAccepted, now), xbKey)
		if err != nil {
			return 0, err
		}
		if _, err := federation.VerifyReceipt(r, m, federation.ExpectReceipt(raw, e.Claims), now); err != nil {
			return 0, err
		}
	}
	return (cputime.Process() - start) / time.Duration(n), nil
}

// rawEd25519Floor is the CPU time of the bare signatures of one envelope
// of size bytes and its receipt (sign and verify each), crypto/ed25519.
func rawEd25519Floor(size, n int) time.Duration {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return 0
	}
	env, rc := make([]byte, size), make([]byte, 300)
	start := cputime.Process()
	for range n {
		sig := ed25519.Sign(priv, env)
		ed25519.Verify(pub, env, sig)
		sig = ed25519.Sign(priv, rc)
		ed25519.Verify(pub, rc, sig)
	}
	return (cputime.Process() - start) / time.Duration(n)
}

// forwardOf returns the steps of the Node.Forward that queued jti (false:
// none told; s nil: no hook).
func (s *stageTimes) forwardOf(jti string) (forwardTimes, bool) {
	if s == nil {
		return forwardTimes{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.forwards[jti]
	return f, ok
}
