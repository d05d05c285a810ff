package nodetest

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/backoff"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/dbtest"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/node/trust"
	"github.com/familylinks/flx/policy"
)

// Dialect selects the test database.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// EachDialect runs test once on each store, as a subtest named for it.
func EachDialect(t *testing.T, test func(*testing.T, Dialect)) {
	t.Helper()
	for _, d := range []Dialect{SQLite, Postgres} {
		t.Run(string(d), func(t *testing.T) { test(t, d) })
	}
}

// Node is a running test node.
type Node struct {
	*node.Node
	Member   *fedtest.Member
	Store    store.Store
	Trust    *trust.Trust
	FedURL   string // https://127.0.0.1:port of the federation listener
	manifest string // manifest file the trust refreshes from
	cancel   context.CancelFunc
	done     chan struct{}
	fedSrv   *http.Server
	serving  atomic.Int64 // federation requests under way
}

// Options tune a test node.
type Options struct {
	Dialect Dialect
	DSN     string        // reuse a database (two processes sharing one); default a fresh one
	Rules   *policy.Rules // default policy.Default for the member
	// WrapStore, when set, wraps the store the node uses (the test keeps
	// Node.Store, the store itself): a test decorates one method to hold
	// the node at a chosen moment.
	WrapStore func(store.Store) store.Store
	// StoreOptions are passed to store.Open (store.WithStatementCounter).
	StoreOptions []store.Option
	NoRun        bool // do not start the inbox and delivery loops
	Logger       *slog.Logger
	// Delivery overrides; defaults are fast for tests (50ms..1s backoff).
	Delivery *node.DeliveryOptions
	// EnvelopeTTL and Skew, when set, override the node's defaults (7 days,
	// 60 s): tests of envelope expiry use seconds.
	EnvelopeTTL time.Duration
	Skew        time.Duration
	// Media overrides the media options; by default the node keeps blobs
	// on disk in a temporary folder. NoMedia: none at all.
	Media   *node.MediaOptions
	NoMedia bool
	// Metrics, when set, receives the node's metrics (tests read them).
	Metrics *node.Metrics
	// ReadTimeout, when set, bounds reading each federation request's body
	// (httpapi.WithReadTimeout).
	ReadTimeout time.Duration
	// Tune, when set, changes the node's options last (routes, relay
	// wait, pull interval, statistics).
	Tune func(o *node.Options)
	// Match tunes the node's matching (cross-border: a Secret).
	Match node.MatchOptions
}

// Listen reserves a loopback port for a member's federation listener and
// sets its endpoint, so the manifest can name it before the node starts.
func Listen(t testing.TB, m *fedtest.Member) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.Endpoint = "https://" + ln.Addr().String()
	return ln
}

// DSN returns a fresh database DSN of the dialect, migrated: under
// dbtest.Main a copy of a database migrated once per test binary, so that
// each node started does not apply every migration again.
func DSN(t testing.TB, d Dialect) string {
	t.Helper()
	if d == Postgres {
		return asyncCommit(t, dbtest.PostgresDSNFrom(t, "migrated", migrated))
	}
	return "sqlite:" + dbtest.SQLitePathFrom(t, "migrated", func(path string) error { return migrated("sqlite:" + path) })
}

// asyncCommit adds synchronous_commit=off to a PostgreSQL DSN (a
// run-time parameter of each session): a commit returns without waiting
// for the server's WAL flush. The nodes' durability tests kill the node,
// never the server, so none relies on that flush, and the server's fsync
// per commit was a large part of these tests' time. The store's tests of
// its own synchronous_commit settings use dbtest, not this DSN.
func asyncCommit(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("nodetest: %v", err)
	}
	q := u.Query()
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	return u.String()
}

// migrated applies every migration to the empty database dsn.
func migrated(dsn string) error {
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		return err
	}
	return s.Close()
}

// Start starts member id of f, serving its federation API on ln (from
// Listen). f must have been signed after every Listen.
func Start(t testing.TB, f *fedtest.Federation, id string, ln net.Listener, o Options) *Node {
	t.Helper()
	ctx := context.Background()
	m := f.Member(t, id)
	if o.Dialect == "" {
		o.Dialect = SQLite
	}
	dsn := o.DSN
	if dsn == "" {
		dsn = DSN(t, o.Dialect)
	}
	st, err := store.Open(ctx, dsn, o.StoreOptions...)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mpath := filepath.Join(dir, "manifest.jws")
	if err := os.WriteFile(mpath, f.Raw, 0o644); err != nil {
		t.Fatal(err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr, err := trust.New(ctx, trust.Options{Anchor: f.Anchor.Public(), Source: mpath, Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rules := o.Rules
	if rules == nil {
		if rules, err = policy.Default(id, m.Country); err != nil {
			t.Fatal(err)
		}
	}
	d := node.DeliveryOptions{Workers: 4, MaxAttempts: 20, Backoff: backoff.Policy{Initial: 50 * time.Millisecond, Max: time.Second},
		RequestTimeout: 5 * time.Second, Lease: 15 * time.Second, PollInterval: 100 * time.Millisecond}
	if o.Delivery != nil {
		d = *o.Delivery
	}
	var nodeStore store.Store = st
	if o.WrapStore != nil {
		nodeStore = o.WrapStore(st)
	}
	var mo node.MediaOptions
	switch {
	case o.Media != nil:
		mo = *o.Media
	case !o.NoMedia:
		disk, err := media.OpenDisk(filepath.Join(dir, "media"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { disk.Close() })
		mo.Store = disk
	}
	no := node.Options{
		Self: id, Store: nodeStore, Trust: tr, Signer: m.Key, Policy: policy.New(rules), TLS: m.TLS,
		Delivery: d, Logger: log, EnvelopeTTL: o.EnvelopeTTL, Skew: o.Skew, Metrics: o.Metrics, Media: mo, Match: o.Match,
	}
	if o.Tune != nil {
		o.Tune(&no)
	}
	n, err := node.New(no)
	if err != nil {
		t.Fatal(err)
	}
	tn := &Node{Node: n, Member: m, Store: st, Trust: tr, manifest: mpath, done: make(chan struct{})}
	if ln != nil {
		srv := &http.Server{
			Handler:           tn.counting(httpapi.FederationHandler(n, tr.Directory(), log, httpapi.WithReadTimeout(o.ReadTimeout))),
			TLSConfig:         h2(mtls.ServerConfig(m.TLS, tr.Directory())),
			ReadHeaderTimeout: 10 * time.Second,
			HTTP2:             mtls.ServerHTTP2(),
		}
		tn.fedSrv = srv
		tn.FedURL = "https://" + ln.Addr().String()
		go srv.Serve(tls.NewListener(ln, srv.TLSConfig))
	}
	runCtx, cancel := context.WithCancel(ctx)
	tn.cancel = cancel
	if o.NoRun {
		close(tn.done)
	} else {
		go func() { n.Run(runCtx); close(tn.done) }()
	}
	t.Cleanup(tn.Stop)
	t.Cleanup(func() { st.Close() })
	return tn
}

// Stop stops the loops and the listener (idempotent). The listener stops
// as Shutdown stops it: no new connection, requests under way answered.
// Shutdown would then wait a second more (net/http's HTTP/2 GOAWAY
// timeout) for each peer to close its idle connection, which the peers'
// clients do not do: once no request is under way, Stop closes them.
func (tn *Node) Stop() {
	tn.cancel()
	<-tn.done
	if tn.fedSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		shut := make(chan struct{})
		go func() { tn.fedSrv.Shutdown(ctx); close(shut) }()
		for tn.serving.Load() > 0 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		tn.fedSrv.Close()
		cancel()
		<-shut
	}
}

// counting counts the requests h serves while they are under way (Stop
// waits for them).
func (tn *Node) counting(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tn.serving.Add(1)
		defer tn.serving.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// UpdateManifest writes f's current manifest where the node reads it and refreshes.
func (tn *Node) UpdateManifest(t testing.TB, f *fedtest.Federation) {
	t.Helper()
	if err := os.WriteFile(tn.manifest, f.Raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Trust.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Client returns an mTLS client acting as member from (of f) towards tn.
// Each client makes its own TLS handshake; a request, handshake included,
// may take clientTimeout: what a sending node allows by default
// (delivery.request_timeout). Measured at load 19 on 2 cores without the
// race detector, the hostile batch tests' requests took up to 1.5 s (a
// fresh mTLS handshake and a request each); the 5 s this was, under the
// race detector's slowdown, timed out "awaiting headers" in CI.
func Client(t testing.TB, f *fedtest.Federation, from string, tn *Node) *http.Client {
	t.Helper()
	return mtls.NewClient(f.Member(t, from).TLS, f.Manifest.TLSDirectory(), tn.Member.ID, clientTimeout)
}

// clientTimeout bounds one request of a Client.
const clientTimeout = 30 * time.Second

// WaitFor polls cond until it is true or the timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// h2 offers HTTP/2 first, as flx serve does on its federation listener.
func h2(c *tls.Config) *tls.Config {
	c.NextProtos = []string{"h2", "http/1.1"}
	return c
}
