package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// TestBenchExchangeBothStores runs a small exchange on PostgreSQL and on
// SQLite: every envelope delivered and processed once on each (the bench
// checks the counts on both sides), and the figures side by side.
func TestBenchExchangeBothStores(t *testing.T) {
	t.Parallel()
	pg := os.Getenv("FLX_TEST_POSTGRES")
	if pg == "" {
		if os.Getenv("FLX_REQUIRE_POSTGRES") != "" {
			t.Fatal("FLX_REQUIRE_POSTGRES is set but FLX_TEST_POSTGRES is not")
		}
		t.Skip("FLX_TEST_POSTGRES not set")
	}
	if testing.Short() {
		t.Skip("two exchanges between real nodes")
	}
	var out bytes.Buffer
	err := runBenchExchange(t.Context(), &out, io.Discard, benchOptions{pg: pg, n: 60, workers: 4, probe: 10, batch: 50, stores: "postgres,sqlite"})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"postgres stores", "sqlite stores", "side by side (60 envelopes each)", "\n  postgres ", "\n  sqlite ", "ratio:      total CPU per envelope / floor",
		"envelopes per delivery request", "rows per processing transaction", "queueing:   60 envelopes in 2 transactions (30 each)",
		"stages:", "queue -> processed (end to end)",
		// The finer stages, told by the nodes (node.StageHook).
		"queued -> claim started", "claim started -> request sent", "request sent -> received",
		"received -> stored at XB-RC", "stored -> answer verified at XA-RC",
		// Claims per 1,000 envelopes and each claim's round trip (node.StageHook.Claimed).
		"claims of due rows per 1,000 envelopes", "the claim's store round trip (per claim)",
		// The tail, the Go runtime, and (PostgreSQL) the server's checkpoints.
		"tail:       the slowest 1% (1 of 60 envelopes", "goroutines runnable -> running", "server:     during the exchange",
		"waits:      the PostgreSQL backends of each database", "XB-RC: ",
		"pool:       waits for a store connection", "GCs began; envelopes due within 500ms after one"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// The commits per envelope of each database (PostgreSQL only): both
	// committed some (queue, claims, receipts; store, process).
	var sent, recv float64
	if _, err := fmt.Sscanf(out.String()[max(strings.Index(out.String(), "commits:    "), 0):],
		"commits:    transactions committed per envelope (pg_stat_database): sender XA-RC %g, receiver XB-RC %g", &sent, &recv); err != nil || sent <= 0 || recv <= 0 {
		t.Errorf("commits per envelope: %v, sender %g, receiver %g, want both positive:\n%s", err, sent, recv, out.String())
	}
	if n := strings.Count(out.String(), "commits:    "); n != 1 {
		t.Errorf("%d commits lines, want 1 (PostgreSQL's run; none for SQLite)", n)
	}
	// Every envelope's stages are found on both sides (sender's outbox,
	// receiver's inbox by its replay key).
	if strings.Contains(out.String(), "not matched on both sides") {
		t.Errorf("latency stages missed envelopes:\n%s", out.String())
	}
	// The WAL per envelope: once (the PostgreSQL exchange; SQLite has no
	// line), a positive figure, at least the envelope itself (2.5 KB body,
	// queued and received: more than 2 KB of WAL per envelope).
	walRe := regexp.MustCompile(`WAL:\s+([0-9.]+) KB/envelope written by the PostgreSQL server`)
	if m := walRe.FindAllStringSubmatch(out.String(), -1); len(m) != 1 {
		t.Errorf("%d WAL lines, want 1 (PostgreSQL's exchange):\n%s", len(m), out.String())
	} else if kb, err := strconv.ParseFloat(m[0][1], 64); err != nil || kb < 2 {
		t.Errorf("WAL %q KB/envelope, want more than 2 (every envelope is written on both sides)", m[0][1])
	}
	checkFloor(t, out.String(), true)
	if _, err := parseBenchStores("postgres,mysql"); err == nil {
		t.Error(`--stores "postgres,mysql" accepted`)
	}
}

// checkFloor finds the floor's figures in a bench's output: the
// signatures' and the rows' CPU (in PostgreSQL's backend and in this
// process, or this process alone on SQLite) present and positive, the
// floor their sum and the ratio the exchange's CPU over it (to the
// rounding of the output).
func checkFloor(t *testing.T, out string, pg bool) {
	t.Helper()
	num := func(re string) []float64 {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("output lacks %s:\n%s", re, out)
		}
		var fs []float64
		for _, s := range m[1:] {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || f <= 0 {
				t.Errorf("%s: %q is not a positive figure", re, s)
			}
			fs = append(fs, f)
		}
		return fs
	}
	num(`the least CPU of (\d+) rounds of (\d+) envelopes`)
	sig := num(`floor: +signatures: .* one goroutine, least of \d+ rounds: (\d+) µs CPU/envelope`)[0]
	var rows []float64
	if pg {
		rows = num(`rows: (\d+) µs CPU/envelope in PostgreSQL \+ (\d+) µs in this process; wall (\d+) µs`)[:2]
	} else {
		rows = num(`rows: (\d+) µs CPU/envelope in this process \(SQLite runs in it\); wall (\d+) µs`)[:1]
	}
	floor := num(`\n += (\d+) µs CPU/envelope -> (\d+) envelopes/s on one CPU`)[0]
	sum := sig
	for _, r := range rows {
		sum += r
	}
	if math.Abs(floor-sum) > float64(len(rows)+1) {
		t.Errorf("floor %v µs, yet its parts add up to %v", floor, sum)
	}
	r := num(`ratio: +total CPU per envelope / floor = ([\d.]+)x \((\d+) / (\d+) µs\)`)
	if r[2] != floor {
		t.Errorf("ratio over %v µs, floor %v µs", r[2], floor)
	}
	if want := r[1] / r[2]; math.Abs(r[0]-want) > 0.05+want*0.01 {
		t.Errorf("ratio %vx, want %.2fx", r[0], want)
	}
	for _, want := range []string{"written: sender: outbox", "left out: sender: disclosures"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestFloorLine: the floor is the signatures' CPU plus the rows' (the
// backend's and this process's), the least of the rounds, and the ratio
// the exchange's CPU over it.
func TestFloorLine(t *testing.T) {
	for _, kind := range []store.Dialect{store.Postgres, store.SQLite} {
		t.Run(string(kind), func(t *testing.T) {
			rows := rowsFloor{n: 200, rounds: 3, self: 150 * time.Microsecond, wall: time.Millisecond,
				roundsCPU: []time.Duration{400 * time.Microsecond, 300 * time.Microsecond, 350 * time.Microsecond}}
			total := 2000.0
			want := "= 250 µs CPU/envelope -> 4000 envelopes/s on one CPU\nratio:      total CPU per envelope / floor = 8.0x (2000 / 250 µs)"
			if kind == store.Postgres {
				rows.db = 150 * time.Microsecond
				want = "= 400 µs CPU/envelope -> 2500 envelopes/s on one CPU\nratio:      total CPU per envelope / floor = 5.0x (2000 / 400 µs)"
			}
			var out bytes.Buffer
			floorLine{sig: 100, sigFed: 120, rows: rows}.print(&out, kind, total)
			if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "(rounds: 400, 300, 350 µs CPU)") {
				t.Errorf("got:\n%s\nwant it to say %q", out.String(), want)
			}
			checkFloor(t, out.String(), kind == store.Postgres)
		})
	}
	// A backend whose CPU cannot be read is said so, not counted as zero
	// CPU in PostgreSQL.
	var out bytes.Buffer
	floorLine{sig: 100, rows: rowsFloor{n: 200, rounds: 3, self: 150 * time.Microsecond, dbUnread: true}}.print(&out, store.Postgres, 2000)
	if !strings.Contains(out.String(), "rows: PostgreSQL's CPU not read") || strings.Contains(out.String(), "in PostgreSQL +") {
		t.Errorf("got:\n%s", out.String())
	}
}

// TestPrintWAL: the WAL figure is the bytes written over the envelopes, in
// KB per envelope.
func TestPrintWAL(t *testing.T) {
	for _, c := range []struct {
		bytes uint64
		n     int
		want  string
	}{
		{20000 * 13 * 1024, 20000, "WAL:        13.0 KB/envelope"},
		{1536, 1, "WAL:        1.5 KB/envelope"},
		{0, 0, "WAL:        0.0 KB/envelope"},
	} {
		var out bytes.Buffer
		printWAL(&out, c.bytes, c.n)
		if !strings.HasPrefix(out.String(), c.want+" written by the PostgreSQL server, both databases together") {
			t.Errorf("printWAL(%d, %d) = %q, want it to start %q", c.bytes, c.n, out.String(), c.want)
		}
	}
}

// The queueing line says whether the --rate's schedule was kept: when an
// arrival found every caller busy, it was not.
func TestPrintQueueing(t *testing.T) {
	tests := []struct {
		name string
		rate float64
		loop openLoopStats
		want string
	}{
		{"as fast as possible", 0, openLoopStats{}, "1000 envelopes in 20 transactions (50 each) by 4 producers in 1.00s = 1000/s"},
		{"kept the schedule", 1000, openLoopStats{callers: 256, peak: 12, lateMax: 2 * time.Millisecond}, "the schedule was kept: every forward started at most 2ms after its due time"},
		{"callers all busy", 1000, openLoopStats{callers: 256, peak: 256, boundHits: 30, lateMax: time.Second}, "the schedule was NOT kept: 30 arrivals found all 256 callers busy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			printQueueing(&out, benchOptions{n: 1000, rate: tc.rate}, queueStats{producers: 4, txs: 20, inTx: 40 * time.Millisecond, in: time.Second, loop: tc.loop})
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("got %q, want it to say %q", out.String(), tc.want)
			}
			if tc.rate == 0 && strings.Contains(out.String(), "schedule") {
				t.Errorf("no --rate, yet %q speaks of a schedule", out.String())
			}
		})
	}
}

// TestMain lets the bench's --kill start this test binary as its child
// `flx serve` (FLX_TEST_AS_FLX=1: run main with the child's arguments).
// The variable is set here, once, for every child to inherit (a t.Setenv
// would keep the bench tests from running in parallel).
func TestMain(m *testing.M) {
	if os.Getenv("FLX_TEST_AS_FLX") == "1" {
		main()
		os.Exit(0)
	}
	os.Setenv("FLX_TEST_AS_FLX", "1")
	os.Exit(m.Run())
}

// TestBenchExchangeKillReceiver and TestBenchExchangeKillSender kill one
// node with SIGKILL a third of the way through a small exchange and start
// it again: every envelope is delivered, stored and processed exactly once
// (the bench checks inbox rows, processed rows, and one inbox.process audit
// entry per case).
func TestBenchExchangeKillReceiver(t *testing.T) { testBenchKill(t, "xb") }

func TestBenchExchangeKillSender(t *testing.T) { testBenchKill(t, "xa") }

func testBenchKill(t *testing.T, kill string) {
	t.Parallel()
	pg := os.Getenv("FLX_TEST_POSTGRES")
	if pg == "" {
		if os.Getenv("FLX_REQUIRE_POSTGRES") != "" {
			t.Fatal("FLX_REQUIRE_POSTGRES is set but FLX_TEST_POSTGRES is not")
		}
		t.Skip("FLX_TEST_POSTGRES not set")
	}
	if testing.Short() {
		t.Skip("an exchange between real nodes, one a child process")
	}
	var out bytes.Buffer
	err := runBenchExchange(t.Context(), &out, io.Discard, benchOptions{pg: pg, n: 400, workers: 4, probe: 10, batch: 20, stores: "postgres", kill: kill, killAt: 0.3, killLease: 3 * time.Second})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "killed with SIGKILL at") || !strings.Contains(out.String(), "none lost, none processed twice: XA-RC 400 outbox rows delivered, none left; XB-RC 400 inbox rows, 400 processed, 400 inbox.process audit entries for 400 distinct cases") {
		t.Errorf("output:\n%s", out.String())
	}
	if _, err := parseKill("xc"); err == nil {
		t.Error(`--kill xc accepted`)
	}
}
