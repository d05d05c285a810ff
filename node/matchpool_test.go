package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// TestMatchingOnOwnConnections: the matching worker reads the cases it
// matches and writes their candidates on connections of its own
// (PostgreSQL), so it goes on while every connection of the node's pool
// is taken (here its only one, held by a transaction): in `flx bench
// exchange` it waited for the pool behind the requests in flight and fell
// ever further behind processing.
func TestMatchingOnOwnConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := nodetest.DSN(t, nodetest.Postgres)
	small, err := store.Open(ctx, dsn, store.WithMaxOpenConns(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { small.Close() })
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	n := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{NoRun: true, Dialect: nodetest.Postgres, DSN: dsn,
		Tune: func(o *node.Options) { o.Store = small }})
	release := n.OpenMatchPoolForTest()
	defer release()
	n.QueueReceivedMatchesForTest()
	reg, sought := corpusCases(t, 47, 20)
	for _, doc := range append(reg, sought...) {
		raw := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, schema.PeekCaseID(doc), doc)
		if _, err := n.Receive(ctx, "XA-RC", raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.ProcessInbox(ctx); err != nil {
		t.Fatal(err)
	}
	// The node's only connection, held while the worker matches.
	holding, done, held := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(held)
		_ = small.Tx(ctx, func(tx store.Tx) error {
			close(holding)
			<-done
			return nil
		})
	}()
	<-holding
	within, cancel := context.WithTimeout(ctx, 5*time.Second)
	n.DrainMatchQueueForTest(within)
	cancel()
	close(done)
	<-held
	if err := n.FlushMatchedMarksForTest(ctx); err != nil {
		t.Fatal(err)
	}
	if got := candidateSummary(t, small); len(got) == 0 {
		t.Fatal("no candidate written while the node's connections were taken")
	}
	if marks, err := small.ListMatchPending(ctx, "", 10); err != nil || len(marks) != 0 {
		t.Fatalf("cases left unmatched: %v %v", marks, err)
	}
}
