package node_test

import (
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
)

// TestForwardTellsItsSteps: with a stage hook set (the bench's), a
// forward that queues an envelope tells, once, under the jti it returns,
// when it began, when its case was read, when it had a slot to be
// judged, when it was judged and when its transaction committed, in that
// order; a forward the policy refuses queues nothing and tells nothing.
func TestForwardTellsItsSteps(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	m := node.NewMetrics(nil)
	x := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: nodetest.SQLite, NoRun: true, Metrics: m})
	type steps struct{ start, read, slot, judged, committed time.Time }
	var mu sync.Mutex
	told := map[string][]steps{}
	m.ObserveStages(&node.StageHook{Forwarded: func(jti string, start, read, slot, judged, committed time.Time) {
		mu.Lock()
		told[jti] = append(told[jti], steps{start, read, slot, judged, committed})
		mu.Unlock()
	}})
	cw := node.Actor{Name: "cw", Role: "caseworker"}
	docs := batchCases(t, 3) // the first is denied (batchCases: i%5 == 0), the third queued
	ids := batchIDs(docs)
	if _, err := x.ImportCases(ctx, cw, docs, ""); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	res, err := x.Forward(ctx, cw, ids[2], "XB-RC")
	if err != nil || res.State != "queued" || res.JTI == "" {
		t.Fatalf("forward: %+v, %v; want queued", res, err)
	}
	if _, err := x.Forward(ctx, cw, ids[0], "XB-RC"); err == nil {
		t.Fatal("the first case was forwarded; want it denied")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 1 || len(told[res.JTI]) != 1 {
		t.Fatalf("told %v; want once, for the queued forward's jti %s", told, res.JTI)
	}
	s := told[res.JTI][0]
	seq := []time.Time{before, s.start, s.read, s.slot, s.judged, s.committed, time.Now()}
	for i := 1; i < len(seq); i++ {
		if seq[i].Before(seq[i-1]) {
			t.Errorf("step %d (%s) before step %d (%s): %+v", i, seq[i], i-1, seq[i-1], s)
		}
	}
}
