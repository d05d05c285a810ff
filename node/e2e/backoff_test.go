package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/backoff"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// deadPeer accepts connections on a member's endpoint and drops them at
// once, counting them: a peer that is down, and how often it is tried.
func deadPeer(t *testing.T, ln net.Listener) *atomic.Int64 {
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return &n
}

// TestPeerBackoffSurvivesRestart: XB-RC is down; XA-RC fails to reach it
// and rests it (90 s), and queues a second case for it, due at once. XA-RC
// restarts: it does not try XB-RC before the saved time, and the operator
// API shows the backoff (until when, why, how many failures). The
// control: with the saved backoff removed, a restarted XA-RC tries XB-RC
// at once.
func TestPeerBackoffSurvivesRestart(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, testPeerBackoffSurvivesRestart)
}

func testPeerBackoffSurvivesRestart(t *testing.T, d nodetest.Dialect) {
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	tries := deadPeer(t, nodetest.Listen(t, f.Member(t, "XB-RC")))
	f.Sign(t)
	dsn := nodetest.DSN(t, d)
	// The first wait is 90 s (Rand near 1: the top of the jitter): long enough
	// that a loaded machine reaches the checks below well before it ends.
	opts := nodetest.Options{Dialect: d, DSN: dsn, Delivery: &node.DeliveryOptions{Workers: 2, MaxAttempts: 20,
		Backoff:        backoff.Policy{Initial: 90 * time.Second, Max: 3 * time.Minute, Rand: func() float64 { return 0.999 }},
		RequestTimeout: 5 * time.Second, Lease: 15 * time.Second, PollInterval: 25 * time.Millisecond}}
	doc := readTestdata(t, "case.json")
	forward := func(xa *nodetest.Node, caseID string) {
		t.Helper()
		if _, err := xa.CreateCase(ctx, cw, patch(t, doc, map[string]any{"case_id": caseID})); err != nil {
			t.Fatal(err)
		}
		if res, err := xa.Forward(ctx, cw, caseID, "XB-RC"); err != nil || res.State != "queued" || res.Kind != federation.KindCaseCreate {
			t.Fatalf("forward %s: %+v %v", caseID, res, err)
		}
	}
	saved := func(st store.Store) []store.PeerBackoff {
		t.Helper()
		b, err := st.ListPeerBackoff(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	xa := nodetest.Start(t, f, "XA-RC", nil, opts)
	start := time.Now()
	forward(xa, "XA-RC:DEMO-0101")
	nodetest.WaitFor(t, 20*time.Second, "XA-RC saving XB-RC's backoff", func() bool { return len(saved(xa.Store)) == 1 })
	b := saved(xa.Store)[0]
	if b.Destination != "XB-RC" || b.Failures != 1 || b.LastError != "transport" || b.NextAttemptAt.Before(start.Add(29*time.Second)) {
		t.Fatalf("saved backoff %+v (tries %d)", b, tries.Load())
	}
	// A second case for XB-RC, due now: it waits for the rest to end.
	forward(xa, "XA-RC:DEMO-0102")
	xa.Stop()
	before := tries.Load()
	if before == 0 {
		t.Fatal("XB-RC was never tried")
	}

	// Restarted with an envelope for XB-RC due now (nothing else of the
	// node calls XB-RC unasked: forwarding fetches its metadata).
	withMetrics := opts
	withMetrics.Metrics = node.NewMetrics(nil)
	xa = nodetest.Start(t, f, "XA-RC", nil, withMetrics)
	xa.KickDelivery()
	time.Sleep(500 * time.Millisecond) // twenty polls
	if n := tries.Load(); n != before {
		t.Fatalf("the restarted node tried XB-RC %d more times before its saved backoff ended", n-before)
	}

	// The operator sees it.
	token := "tok-operator"
	sum := sha256.Sum256([]byte(token))
	srv := httptest.NewServer(httpapi.NewLocalHandler(xa.Node, httpapi.LocalOptions{
		Tokens: []config.Token{{Name: "ops", Role: "operator", SHA256: hex.EncodeToString(sum[:])}},
	}))
	t.Cleanup(srv.Close)
	resp, body := call(t, http.MethodGet, srv.URL+"/api/v1/outbox/peers", token, "", nil, nil)
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/outbox/peers: %v %s", resp, body)
	}
	var peers httpapi.PeerList
	if err := json.Unmarshal(body, &peers); err != nil {
		t.Fatal(err)
	}
	if len(peers.Peers) != 1 {
		t.Fatalf("peers: %s", body)
	}
	p := peers.Peers[0]
	if p.Destination != "XB-RC" || p.ConsecutiveFailures != 1 || p.LastError != "transport" || p.BackoffUntil == nil ||
		!p.BackoffUntil.Equal(b.NextAttemptAt) || p.BackoffSecs < 20 || p.Queued != 2 {
		t.Fatalf("XB-RC as the operator sees it: %s", body)
	}

	// And so does Prometheus: seconds until the next try, failures.
	got := map[string]float64{}
	mfs, err := withMetrics.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "peer" && l.GetValue() == "XB-RC" {
					got[mf.GetName()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	if w := got["flx_peer_backoff_seconds"]; w < 20 || w > 90 || got["flx_peer_consecutive_failures"] != 1 {
		t.Fatalf("metrics for XB-RC: %v", got)
	}

	// Control: without the saved backoff, a restart tries XB-RC at once.
	xa.Stop()
	if err := xa.Store.SavePeerBackoff(ctx, store.PeerBackoff{Destination: "XB-RC"}); err != nil {
		t.Fatal(err)
	}
	xa = nodetest.Start(t, f, "XA-RC", nil, opts)
	nodetest.WaitFor(t, 10*time.Second, "XB-RC tried after a restart with no saved backoff", func() bool { return tries.Load() > before })
}
