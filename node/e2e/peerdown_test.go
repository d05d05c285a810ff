package e2e

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/backoff"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestPeerDownThenBack queues twenty versions of one case for XB-RC while
// XB-RC's listener is down, and another case for ICRC-CTA, which is
// delivered meanwhile (one dead peer holds up no one). When XB-RC comes up,
// every version reaches it exactly once and in order.
func TestPeerDownThenBack(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, testPeerDownThenBack)
}

func testPeerDownThenBack(t *testing.T, d nodetest.Dialect) {
	ctx := context.Background()
	const versions = 20
	f := fedtest.New(t, threeMembers...)
	lnA := nodetest.Listen(t, f.Member(t, "XA-RC"))
	lnC := nodetest.Listen(t, f.Member(t, "ICRC-CTA"))
	// XB-RC's endpoint is in the manifest; its port only drops connections
	// until XB-RC comes up on it (holding it, no other socket can take it:
	// an outgoing connection of a loaded machine did, once it was closed).
	lnB := holdPort(t, nodetest.Listen(t, f.Member(t, "XB-RC")))
	f.Sign(t)
	// XA-RC retries for as long as XB-RC is down, however long a loaded
	// machine takes to start it: with the tests' 20 attempts (about 16 s
	// at a 1 s backoff) the head of the queue could be dead-lettered first.
	xa := nodetest.Start(t, f, "XA-RC", lnA, nodetest.Options{Dialect: d, Delivery: &node.DeliveryOptions{Workers: 4, MaxAttempts: 1000,
		Backoff: backoff.Policy{Initial: 50 * time.Millisecond, Max: time.Second}, RequestTimeout: 5 * time.Second,
		Lease: 15 * time.Second, PollInterval: 50 * time.Millisecond}})
	cta := nodetest.Start(t, f, "ICRC-CTA", lnC, nodetest.Options{Dialect: d})

	doc := readTestdata(t, "case.json")
	if _, err := xa.CreateCase(ctx, cw, doc); err != nil {
		t.Fatal(err)
	}
	forward := func(caseID, to string, want federation.Kind) {
		t.Helper()
		res, err := xa.Forward(ctx, cw, caseID, to)
		if err != nil || res.State != "queued" || res.Kind != want {
			t.Fatalf("forward %s to %s: %v state %s kind %s (want %s)", caseID, to, err, res.State, res.Kind, want)
		}
	}
	forward(demoCase, "XB-RC", federation.KindCaseCreate)
	for v := 2; v <= versions; v++ {
		cur, err := xa.Store.GetCase(ctx, demoCase)
		if err != nil {
			t.Fatal(err)
		}
		// Each version changes something: an unchanged update makes none.
		status := []string{"tracing_in_progress", "acknowledged"}[v%2]
		next := patch(t, cur.Document, map[string]any{"version": v, "status": status})
		if _, err := xa.UpdateCase(ctx, cw, demoCase, next); err != nil {
			t.Fatalf("update to v%d: %v", v, err)
		}
		forward(demoCase, "XB-RC", federation.KindCaseUpdate)
	}

	// The other case reaches ICRC-CTA while XB-RC is down.
	const other = "XA-RC:DEMO-0002"
	if _, err := xa.CreateCase(ctx, cw, patch(t, doc, map[string]any{"case_id": other})); err != nil {
		t.Fatal(err)
	}
	forward(other, "ICRC-CTA", federation.KindCaseCreate)
	waitProcessed(t, cta.Store, other, string(federation.KindCaseCreate), 1)

	// XB-RC's queue is intact and has been tried (and failed) a few times.
	nodetest.WaitFor(t, 30*time.Second, "a few failed attempts to XB-RC", func() bool {
		rows := allOutbox(t, xa.Store, store.OutboxFilter{Destination: "XB-RC"})
		return len(rows) == versions && rows[0].Attempts >= 3
	})
	for _, r := range allOutbox(t, xa.Store, store.OutboxFilter{Destination: "XB-RC"}) {
		if r.State == store.Delivered || r.State == store.Dead {
			t.Fatalf("outbox row %d to XB-RC is %s while XB-RC is down", r.ID, r.State)
		}
		if r.Seq > 1 && r.Attempts > 0 {
			t.Errorf("outbox row %d (seq %d) was attempted before its predecessors were delivered", r.ID, r.Seq)
		}
	}
	head := allOutbox(t, xa.Store, store.OutboxFilter{Destination: "XB-RC"})[0]
	t.Logf("while XB-RC was down: head of queue attempted %d times, last error %q", head.Attempts, head.LastError)

	// XB-RC comes up on its manifest endpoint.
	lnB.up.Store(true)
	xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{Dialect: d})
	nodetest.WaitFor(t, 60*time.Second, "all versions delivered to XB-RC", func() bool {
		stats, err := xa.Store.OutboxStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stats {
			if s.Destination == "XB-RC" {
				return s.Delivered == versions
			}
		}
		return false
	})
	waitProcessed(t, xb.Store, demoCase, "", versions)

	// Exactly once and in order: inbox ids and the versions sent both
	// increase. XB-RC keeps only the last envelope: the superseded ones
	// are dropped once the newer version is applied (FLX-COR-003).
	sent := map[string]bool{}
	versionOfJTI := map[string]int64{}
	for _, r := range allOutbox(t, xa.Store, store.OutboxFilter{Destination: "XB-RC"}) {
		sent[federation.ReplayKey("XA-RC", r.JTI)] = true
		versionOfJTI[federation.ReplayKey("XA-RC", r.JTI)] = r.CaseVersion
	}
	rows := allInbox(t, xb.Store, store.InboxFilter{CaseID: demoCase, IncludeEnvelope: true})
	if len(rows) != versions {
		t.Fatalf("XB-RC's inbox holds %d rows for the case, want %d", len(rows), versions)
	}
	processed := processCounts(t, xb.Store, demoCase)
	var last int64
	for i, r := range rows {
		wantKind := string(federation.KindCaseUpdate)
		if i == 0 {
			wantKind = string(federation.KindCaseCreate)
		}
		v := versionOfJTI[r.JTI]
		if (r.Envelope != nil) != (i == len(rows)-1) {
			t.Errorf("XB-RC inbox row %d (%d of %d): envelope kept %t; only the last one's stays", r.ID, i+1, len(rows), r.Envelope != nil)
		}
		if r.Envelope != nil && versionOf(t, decodeJWS(t, r.Envelope).Body) != v {
			t.Errorf("XB-RC inbox row %d carries another version than the one sent", r.ID)
		}
		if r.Kind != wantKind || v <= last || !sent[r.JTI] || r.ProcessError != "" || processed[r.ID] != 1 {
			t.Errorf("XB-RC inbox row %d: kind %s version %d (previous %d) sent %t error %q processed %d times",
				r.ID, r.Kind, v, last, sent[r.JTI], r.ProcessError, processed[r.ID])
		}
		last = v
	}
	if c, err := xb.Store.GetCase(ctx, demoCase); err != nil || c.Version != versions {
		t.Errorf("XB-RC holds version %d (%v), want %d", c.Version, err, versions)
	}
	noProcessErrors(t, "XB-RC", xb.Store)
}

// heldPort is a listener whose connections are dropped at once (a member
// that is down, seen from outside) until up is set; then Accept returns
// them (the member's node came up on its port).
type heldPort struct {
	net.Listener
	up    atomic.Bool
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func holdPort(t testing.TB, ln net.Listener) *heldPort {
	h := &heldPort{Listener: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	t.Cleanup(func() { h.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !h.up.Load() {
				c.Close()
				continue
			}
			select {
			case h.conns <- c:
			case <-h.done:
				c.Close()
				return
			}
		}
	}()
	return h
}

func (h *heldPort) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *heldPort) Close() error {
	h.once.Do(func() { close(h.done) })
	return h.Listener.Close()
}
