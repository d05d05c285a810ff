package match

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/internal/racetest"
	"github.com/familylinks/flx/node/match/corpus"
)

var updateReceive = flag.Bool("update-receive", false, "rewrite testdata/receive.golden")

// receiveRun plays what a node does for each received case: prepare its
// person, put it in an index already holding others, and match it in a
// session, as node.matchReceivedBatch does. It returns every candidate
// listed, one line each, in order.
func receiveRun(tb testing.TB, seed uint64, n int) []string {
	tb.Helper()
	c := corpus.Generate(corpus.Config{Seed: seed, Sought: n, Registered: n, Overlap: 0.5})
	ix := NewIndex(Options{})
	var lines []string
	// Registered first, half of them; then sought and registered in turn,
	// each matched as it arrives.
	recs := append([]corpus.Record(nil), c.Registered[:n/2]...)
	for i := range recs {
		r := &recs[i]
		p, ok := Prepare(r.CaseID, r.CaseType, &r.Person, refTime)
		if !ok {
			tb.Fatalf("%s: not prepared", r.CaseID)
		}
		ix.Put(p.CaseID, []*Person{p})
	}
	var rest []corpus.Record
	for i := 0; i < n; i++ {
		rest = append(rest, c.Sought[i])
		if j := n/2 + i; j < n {
			rest = append(rest, c.Registered[j])
		}
	}
	for i := range rest {
		r := &rest[i]
		p, ok := Prepare(r.CaseID, r.CaseType, &r.Person, refTime)
		if !ok {
			tb.Fatalf("%s: not prepared", r.CaseID)
		}
		ix.Put(p.CaseID, []*Person{p})
		s := ix.Session()
		for _, cs := range s.MatchAll([]*Person{p}) {
			for _, cd := range cs {
				lines = append(lines, candidateLine(cd))
			}
		}
		// The raw candidates too, before the cuts.
		raw := slices.Clone(s.raw[p])
		sortCandidates(raw)
		for _, cd := range raw {
			lines = append(lines, "raw "+candidateLine(cd))
		}
	}
	return lines
}

func candidateLine(c Candidate) string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestReceiveGolden pins the candidates of received cases matched one by
// one against a growing index: what makes matching cheaper must not
// change them (go test ./node/match -run ReceiveGolden -update-receive
// when a change of results is meant).
func TestReceiveGolden(t *testing.T) {
	racetest.SkipComputation(t)
	// The golden file holds, per seed, the count and the SHA-256 of every
	// run of 100 lines (the lines themselves are 1.5 MB): a change shows
	// where it starts; receiveRun on main gives the lines to compare.
	var b strings.Builder
	for _, r := range []struct {
		seed uint64
		n    int
	}{{7, 1500}, {8, 6000}} {
		seed := r.seed
		lines := receiveRun(t, seed, r.n)
		fmt.Fprintf(&b, "seed %d: %d lines\n", seed, len(lines))
		for i := 0; i < len(lines); i += 100 {
			fmt.Fprintf(&b, "%d %x\n", i, sha256.Sum256([]byte(strings.Join(lines[i:min(i+100, len(lines))], "\n"))))
		}
	}
	path := filepath.Join("testdata", "receive.golden")
	if *updateReceive {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("candidates changed:\n%s", lineDiff(got, string(want)))
	}
}

// lineDiff names the first lines where got and want differ.
func lineDiff(got, want string) string {
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(gl), len(wl)) {
		if gl[i] != wl[i] {
			return fmt.Sprintf("line %d:\ngot  %s\nwant %s", i+1, gl[i], wl[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(gl), len(wl))
}

// BenchmarkReceive times what a node does per received case for
// matching: prepare its person, put it in an index of 20,000 persons and
// match it in a session (node.matchReceivedBatch).
//
//	go test ./node/match -run '^$' -bench Receive -benchmem
func BenchmarkReceive(b *testing.B) {
	const held = 20000
	c := corpus.Generate(corpus.Config{Seed: 100, Sought: held, Registered: held, Overlap: 0.5})
	ix := NewIndex(Options{})
	for i := range held {
		r := &c.Registered[i]
		p, _ := Prepare(r.CaseID, r.CaseType, &r.Person, refTime)
		ix.Put(p.CaseID, []*Person{p})
	}
	for i := range held / 2 {
		r := &c.Sought[i]
		p, _ := Prepare(r.CaseID, r.CaseType, &r.Person, refTime)
		ix.Put(p.CaseID, []*Person{p})
	}
	// Received: the other half of the sought, put again in turn (the
	// index stays the same size).
	recv := c.Sought[held/2:]
	b.ResetTimer()
	u0 := cputime.Process()
	for i := range b.N {
		r := &recv[i%len(recv)]
		p, _ := Prepare(r.CaseID, r.CaseType, &r.Person, refTime)
		ix.Put(p.CaseID, []*Person{p})
		ix.Session().MatchAll([]*Person{p})
	}
	// The process's CPU (garbage collection included), less exposed than
	// the wall clock to what else the machine runs.
	b.ReportMetric(float64((cputime.Process()-u0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
