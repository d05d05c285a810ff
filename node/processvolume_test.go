package node_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestProcessVolume measures the inbox processing path alone (cases
// received in batches of 50, then applied by ProcessInbox; matching off)
// block by block as the tables grow, to show whether its cost per
// envelope grows with volume: CPU of this process (with SQLite, the
// database too) and of the PostgreSQL backends, and the rate. A
// measurement, not a check: it runs only with FLX_PROCESS_VOLUME set to
// the number of envelopes (blocks of 2,000), and asserts no time.
func TestProcessVolume(t *testing.T) {
	// Not in parallel: it reads this process's CPU time.
	total, _ := strconv.Atoi(os.Getenv("FLX_PROCESS_VOLUME"))
	if total <= 0 {
		t.Skip("set FLX_PROCESS_VOLUME=20000 to measure")
	}
	const block = 2000
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
		xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{Dialect: d, NoRun: true, Match: node.MatchOptions{Disabled: os.Getenv("FLX_PROCESS_MATCH") == ""}})
		doc := caseBody(t, "XA-RC:V-0000000", 1)
		for lo := 0; lo < total; lo += block {
			var raws [][]byte
			for i := lo; i < lo+block; i++ {
				id := fmt.Sprintf("XA-RC:V-%07d", i)
				b := []byte(strings.Replace(string(doc), "XA-RC:V-0000000", id, 1))
				raws = append(raws, f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, id, b))
			}
			for k := 0; k < len(raws); k += 50 {
				receiveAllOK(ctx, t, xb, "XA-RC", raws[k:k+50])
			}
			pids, _ := store.BackendPIDs(ctx, xb.Store)
			pg0 := pgCPU(pids)
			cpu0, t0 := cputime.Process(), time.Now()
			if err := xb.ProcessInbox(ctx); err != nil {
				t.Fatal(err)
			}
			el, cpu := time.Since(t0), cputime.Process()-cpu0
			pg := pgCPU(pids) - pg0
			per := func(d time.Duration) float64 { return float64(d.Microseconds()) / block }
			t.Logf("%s cases %6d..%6d: %6.0f envelopes/s, this process %5.0f µs/envelope, PostgreSQL %5.0f µs/envelope",
				d, lo, lo+block, block/el.Seconds(), per(cpu), per(pg))
		}
	})
}

// pgCPU is the CPU time the PostgreSQL backends pids have used (read from
// /proc: the server runs on this machine).
func pgCPU(pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		if d, ok := cputime.OfProcess(pid); ok {
			sum += d
		}
	}
	return sum
}
