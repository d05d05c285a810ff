package e2e

import (
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/backoff"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/media"
)

// relayFed is the federation of the tests that relay through ICRC-CTA:
// XA-RC, XB-RC and ICRC-CTA (threeMembers) on one dialect, XB-RC naming
// ICRC-CTA in relay_via, real listeners and mTLS, each node with a database
// and a media store (chunks of 256 KiB) of its own and a relay wait of
// 30 s. A member started later, or again, keeps its port, its database and
// its media.
type relayFed struct {
	f     *fedtest.Federation
	d     nodetest.Dialect
	nodes map[string]*nodetest.Node
	dsn   map[string]string
	media map[string]string    // folder of each member's media store
	addr  map[string]string    // host:port of each member's federation listener
	held  map[string]*heldPort // the port of each member that is down
}

// newRelayFed starts the members of the relay federation, except those in
// down: their ports are reserved, named in the manifest and held, dropping
// every connection (the member is down; start it with up). A port closed
// instead could be taken meanwhile by an outgoing connection of a loaded
// machine, and the member could not come up on it again.
func newRelayFed(t *testing.T, d nodetest.Dialect, down ...string) *relayFed {
	t.Helper()
	r := &relayFed{f: fedtest.New(t, threeMembers...), d: d, nodes: map[string]*nodetest.Node{},
		dsn: map[string]string{}, media: map[string]string{}, addr: map[string]string{}, held: map[string]*heldPort{}}
	r.f.Member(t, "XB-RC").RelayVia = []string{"ICRC-CTA"}
	lns := map[string]net.Listener{}
	for id := range r.f.Members {
		lns[id] = nodetest.Listen(t, r.f.Member(t, id))
		r.addr[id] = lns[id].Addr().String()
		r.dsn[id] = nodetest.DSN(t, d)
		r.media[id] = filepath.Join(t.TempDir(), "media")
	}
	r.f.Sign(t)
	for id, ln := range lns {
		if slices.Contains(down, id) {
			r.held[id] = holdPort(t, ln)
			continue
		}
		r.start(t, id, ln)
	}
	return r
}

// up starts member id, down until now, on its held port.
func (r *relayFed) up(t *testing.T, id string) *nodetest.Node {
	t.Helper()
	h := r.held[id]
	if h == nil {
		t.Fatalf("%s is not down", id)
	}
	delete(r.held, id)
	h.up.Store(true)
	return r.start(t, id, h)
}

func (r *relayFed) start(t *testing.T, id string, ln net.Listener) *nodetest.Node {
	t.Helper()
	disk, err := media.OpenDisk(r.media[id])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	// A member that is down is retried for as long as it is down, however
	// long a loaded machine takes to reach the test's next step: with the
	// tests' 20 attempts (about 16 s at a 1 s backoff) ICRC-CTA could
	// dead-letter the chain it carries for it first.
	delivery := node.DeliveryOptions{Workers: 4, MaxAttempts: 1000, Backoff: backoff.Policy{Initial: 50 * time.Millisecond, Max: time.Second},
		RequestTimeout: 5 * time.Second, Lease: 15 * time.Second, PollInterval: 100 * time.Millisecond}
	n := nodetest.Start(t, r.f, id, ln, nodetest.Options{Dialect: r.d, DSN: r.dsn[id], Delivery: &delivery,
		Media: &node.MediaOptions{Store: disk, ChunkBytes: 256 << 10},
		Tune:  func(o *node.Options) { o.RelayWait = 30 * time.Second }})
	r.nodes[id] = n
	return n
}

// mediaStore is the media store of member id's running node.
func (r *relayFed) mediaStore(id string) media.Store {
	return r.nodes[id].Node.MediaHandler().(*media.Server).Store
}

// suspend suspends member id in a new manifest, which every running node
// adopts.
func (r *relayFed) suspend(t *testing.T, id string) {
	t.Helper()
	r.f.Member(t, id).Status = federation.StatusSuspended
	r.f.Sign(t)
	for _, n := range r.nodes {
		n.UpdateManifest(t, r.f)
	}
}
