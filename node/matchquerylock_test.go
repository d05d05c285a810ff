package node_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// TestMatchQueryComparedOutsideTransaction: the inbox processor compares a
// received match query with the persons held before it opens the
// transaction that answers it. It compared inside it, taking the matcher's
// lock while it held SQLite's one writer; a case written through the local
// API takes the lock first and then waits for the writer (rematch), so
// after FLX-MAT-007's flood of queries a POST /api/v1/cases waited until
// its client gave up ("matching failed ... store.Tx: context canceled").
// Here the test holds the matcher's lock as that request does, while the
// processor reaches a query: a transaction must still begin, and once the
// lock is released the query is answered.
func TestMatchQueryComparedOutsideTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, Match: node.MatchOptions{Secret: testSecret}})
	xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{NoRun: true, Dialect: nodetest.SQLite, Match: node.MatchOptions{Secret: testSecret}})
	cwA := node.Actor{Name: "cw-anna", Role: "caseworker"}
	cwB := node.Actor{Name: "cw-bela", Role: "caseworker"}
	sought := person("p1", schema.PersonSought, "1990-03-14", name("Karo", "given", "Latn"), name("Hovsampelyan", "family", "Latn"))
	if _, err := xa.CreateCase(ctx, cwA, withConsent(t, caseOf(t, "XA-RC:TR-1", schema.CaseTracingRequest, 1, sought))); err != nil {
		t.Fatal(err)
	}
	detainee := person("d1", schema.PersonDetainee, "1990", name("Karo", "given", "Latn"), name("Hovsampelyan", "family", "Latn"))
	if _, err := xb.CreateCase(ctx, cwB, withConsent(t, caseOf(t, "XB-RC:DN-1", schema.CaseDetentionNotification, 1, detainee))); err != nil {
		t.Fatal(err)
	}
	if res, err := xa.SendMatchQuery(ctx, cwA, "XA-RC:TR-1", "p1", "XB-RC"); err != nil {
		t.Fatalf("query: %v (%+v)", err, res.Decision.Fired)
	}
	rows, err := xa.Store.ListOutbox(ctx, store.OutboxFilter{Destination: "XB-RC", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	received := 0
	for _, r := range rows {
		if r.Kind != string(federation.KindMatchQuery) {
			continue
		}
		it, err := xa.Store.GetOutbox(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := xb.Receive(ctx, "XA-RC", it.Envelope); err != nil {
			t.Fatal(err)
		}
		received++
	}
	if received != 1 {
		t.Fatalf("%d match queries queued to XB-RC, want 1", received)
	}

	unlock := xb.LockMatcherForTest()
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	processed := make(chan error, 1)
	go func() { processed <- xb.ProcessInbox(ctx) }()
	// Wait until the processor waits for the matcher's lock to compare.
	for deadline := time.Now().Add(10 * time.Second); !stackHas("(*Node).queryHeld"); {
		if time.Now().After(deadline) {
			t.Fatal("the inbox processor never compared the query")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err = xb.Store.Tx(tctx, func(store.Tx) error { return nil })
	cancel()
	unlock()
	locked = false
	if err != nil {
		t.Fatalf("while the inbox processor waited for the matcher's lock, a transaction could not begin: %v (the processor holds the store's writer while it waits)", err)
	}
	if err := <-processed; err != nil {
		t.Fatal(err)
	}
	out, err := xb.Store.ListOutbox(ctx, store.OutboxFilter{Destination: "XA-RC", Limit: 10, IncludeEnvelope: true})
	if err != nil {
		t.Fatal(err)
	}
	answered := 0
	for _, r := range out {
		if r.Kind == string(federation.KindMatchAnswer) {
			if a := answerOf(t, r.Envelope); len(a.Candidates) != 1 {
				t.Fatalf("answer %+v: want the detainee as the one candidate", a)
			}
			answered++
		}
	}
	if answered != 1 {
		t.Fatalf("%d match answers queued, want 1", answered)
	}
}

// stackHas reports whether a goroutine's stack names fn.
func stackHas(fn string) bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), fn)
}
