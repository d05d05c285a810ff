package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/backoff"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/connlimit"
	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/fedadmin"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/match/pprl"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/stats"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/node/trust"
	"github.com/familylinks/flx/policy"
)

// serveFlags are the flags of flx serve that override a field of the
// configuration, each standing for the field's FLX_* variable.
var serveFlags = []struct{ flag, env, field string }{
	{"member", "FLX_MEMBER", "member"},
	{"data-dir", "FLX_DATA_DIR", "data_dir"},
	{"store-dsn", "FLX_STORE_DSN", "store.dsn"},
	{"federation-listen", "FLX_FEDERATION_LISTEN", "federation.listen"},
	{"local-listen", "FLX_LOCAL_API_LISTEN", "local_api.listen"},
	{"manifest", "FLX_FEDERATION_MANIFEST", "federation.manifest (file or https URL)"},
	{"log-level", "FLX_LOG_LEVEL", "log.level"},
	{"log-format", "FLX_LOG_FORMAT", "log.format"},
	{"delivery-workers", "FLX_DELIVERY_WORKERS", "delivery.workers"},
	{"federation-max-connections", "FLX_FEDERATION_MAX_CONNECTIONS", "federation.max_connections"},
	{"federation-max-connections-per-source", "FLX_FEDERATION_MAX_CONNECTIONS_PER_SOURCE", "federation.max_connections_per_source"},
	{"local-max-connections", "FLX_LOCAL_API_MAX_CONNECTIONS", "local_api.max_connections"},
}

func serveCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a node: the federation API (mTLS), the local API, inbox processing and delivery",
		Long: `Run a node from its YAML configuration (see node/config/example.yaml).
Every setting can be overridden by an FLX_* environment variable named after
its path, and the most used ones by the flags below, which win over the
variables (relative paths in either resolve as in the file). The node stops gracefully on SIGINT or SIGTERM: it stops
accepting, finishes what is in flight and exits; nothing queued is lost.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, configPath)
			if err != nil {
				return err
			}
			log := newLogger(cmd.ErrOrStderr(), cfg.Log)
			applyRuntime(cfg.Runtime, log)
			rn, err := startNode(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			log.Info("node running", "member", cfg.Member, "federation", rn.FedAddr, "local_api", rn.LocalAddr)
			return rn.Wait()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&configPath, "config", os.Getenv("FLX_CONFIG"), "configuration file (env FLX_CONFIG)")
	for _, sf := range serveFlags {
		fl.String(sf.flag, "", "override "+sf.field+" (env "+sf.env+")")
	}
	return cmd
}

// loadConfig reads the configuration with the flags given standing in for
// their FLX_* variables, so that they are applied, as the variables are,
// before relative paths are resolved: --data-dir moves the database and the
// keys as data_dir in the file would.
func loadConfig(cmd *cobra.Command, path string) (config.Config, error) {
	if path == "" {
		return config.Config{}, errors.New("serve: --config (or FLX_CONFIG) is required")
	}
	lookup := func(name string) (string, bool) {
		for _, sf := range serveFlags {
			if sf.env == name && cmd.Flags().Changed(sf.flag) {
				v, err := cmd.Flags().GetString(sf.flag)
				return v, err == nil
			}
		}
		return os.LookupEnv(name)
	}
	cfg, err := config.Load(path, lookup)
	if err != nil {
		return cfg, err
	}
	if err := cfg.Verify(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// runningNode is a started node with its two listeners.
type runningNode struct {
	Node      *node.Node
	Metrics   *node.Metrics
	Store     store.Store
	FedAddr   string
	LocalAddr string
	stop      context.CancelFunc
	errc      chan error
	wg        sync.WaitGroup
	// The listeners' connection bounds (under TLS), with what they hold.
	fedConns, localConns *connlimit.Listener
}

// Wait blocks until the node has stopped (its context ended, or a listener
// failed) and everything in flight finished.
func (r *runningNode) Wait() error {
	err := <-r.errc
	r.stop()
	r.wg.Wait()
	r.Store.Close()
	return err
}

// Stop asks the node to stop; Wait returns when it has.
func (r *runningNode) Stop() { r.stop() }

// startNode wires one node from its configuration and starts it. It
// returns once both listeners accept connections.
func startNode(parent context.Context, cfg config.Config, log *slog.Logger) (*runningNode, error) {
	ctx, cancel := context.WithCancel(parent)
	fail := func(err error) (*runningNode, error) { cancel(); return nil, err }
	if err := preflight(cfg, time.Now()); err != nil {
		return fail(err)
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fail(fmt.Errorf("serve: data dir: %w", err))
	}
	st, err := store.Open(ctx, cfg.Store.DSN)
	if err != nil {
		return fail(fmt.Errorf("serve: store: %w", err))
	}
	failSt := func(err error) (*runningNode, error) { st.Close(); return fail(err) }
	anchorJWK, err := os.ReadFile(cfg.Federation.TrustAnchor)
	if err != nil {
		return failSt(fmt.Errorf("serve: trust anchor: %w", err))
	}
	anchor, err := jose.ParsePublicJWK(anchorJWK)
	if err != nil {
		return failSt(fmt.Errorf("serve: trust anchor %s: %w", cfg.Federation.TrustAnchor, err))
	}
	tr, err := trust.New(ctx, trust.Options{Anchor: anchor, Source: cfg.Federation.Manifest, Store: st, Logger: log, Skew: cfg.Federation.ClockSkew})
	if err != nil {
		return failSt(fmt.Errorf("serve: %w", err))
	}
	if _, ok := tr.Current().Member(cfg.Member); !ok {
		return failSt(fmt.Errorf("serve: member %s is not in the federation manifest", cfg.Member))
	}
	signer, err := jose.LoadPrivateKey(cfg.Federation.SigningKey)
	if err != nil {
		return failSt(fmt.Errorf("serve: signing key: %w", err))
	}
	cert, err := tls.LoadX509KeyPair(cfg.Federation.TLSCert, cfg.Federation.TLSKey)
	if err != nil {
		return failSt(fmt.Errorf("serve: TLS certificate: %w", err))
	}
	rules, err := policy.Load(cfg.Policy.Rules)
	if err != nil {
		return failSt(fmt.Errorf("serve: policy: %w", err))
	}
	mediaStore, err := openMedia(cfg, st)
	if err != nil {
		return failSt(err)
	}
	bundleKeys, err := loadBundleKeys(cfg.Coordination.BundleKey, log)
	if err != nil {
		return failSt(fmt.Errorf("serve: %w", err))
	}
	mopts := node.MatchOptions{Disabled: !cfg.Match.Enabled, Threshold: cfg.Match.Threshold, QueryTTL: cfg.Match.QueryTTL, QueriesPerMinute: cfg.Match.QueriesPerMinute}
	if cfg.Match.SecretFile != "" {
		if mopts.Secret, err = pprl.LoadSecret(cfg.Match.SecretFile); err != nil {
			return failSt(fmt.Errorf("serve: match.secret_file: %w", err))
		}
		log.Info("cross-border matching on", "secret_kid", mopts.Secret.ID)
	}
	metrics := node.NewMetrics(nil)
	n, err := node.New(node.Options{
		Self: cfg.Member, Store: st, Trust: tr, Signer: signer, SignerFor: keyRing(cfg, tr, signer, log),
		Policy: policy.New(rules), TLS: cert,
		EnvelopeTTL: cfg.Federation.EnvelopeTTL, Skew: cfg.Federation.ClockSkew, MaxBodyBytes: cfg.Federation.MaxBodyBytes,
		MaxBatchEnvelopes: cfg.Federation.MaxBatchEnvelopes, MaxBatchBytes: cfg.Federation.MaxBatchBytes,
		ApplyLater: !cfg.Federation.ApplyOnReceive,
		Delivery: node.DeliveryOptions{
			Workers: cfg.Delivery.Workers, MaxAttempts: cfg.Delivery.MaxAttempts,
			Backoff:        backoff.Policy{Initial: cfg.Delivery.BackoffInitial, Max: cfg.Delivery.BackoffMax},
			RequestTimeout: cfg.Delivery.RequestTimeout, Lease: cfg.Delivery.Lease, PollInterval: cfg.Delivery.PollInterval,
			BatchSize: cfg.Delivery.BatchSize, Linger: linger(cfg.Delivery),
		},
		Media: node.MediaOptions{
			Store: mediaStore, ChunkBytes: cfg.Media.ChunkBytes, BandwidthPerPeer: cfg.Media.BandwidthPerPeer,
			Limits: media.Limits{MaxMediaBytes: cfg.Media.MaxMediaBytes, MaxUploadsPerPeer: cfg.Media.MaxUploadsPerPeer,
				MaxPendingBytesPerPeer: cfg.Media.MaxPendingBytesPerPeer},
		},
		Match: mopts, Logger: log, Metrics: metrics,
		Routes: cfg.Coordination.Routes, RelayWait: cfg.Coordination.RelayWait, PullInterval: cfg.Coordination.PullInterval,
		PullLease: cfg.Coordination.PullLease, Stats: statsOptions(cfg.Coordination), BundleKeys: bundleKeys,
		AuditHead: node.AuditHeadOptions{Every: cfg.Coordination.AuditHeadEvery, Witnesses: cfg.Coordination.AuditWitnesses},
	})
	if err != nil {
		return failSt(err)
	}

	fedLn, err := net.Listen("tcp", cfg.Federation.Listen)
	if err != nil {
		return failSt(fmt.Errorf("serve: federation listener: %w", err))
	}
	localLn, err := net.Listen("tcp", cfg.LocalAPI.Listen)
	if err != nil {
		fedLn.Close()
		return failSt(fmt.Errorf("serve: local API listener: %w", err))
	}
	fedConns, localConns, err := boundListeners(cfg, fedLn, localLn, metrics, log)
	if err != nil {
		fedLn.Close()
		localLn.Close()
		return failSt(err)
	}
	fedLn, localLn = fedConns, localConns
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	conns := newConnTracker()
	fedSrv := &http.Server{
		ConnState: conns.hook,
		Handler:   httpapi.FederationHandler(n, tr.Directory(), log, httpapi.WithReadTimeout(cfg.Federation.ReadTimeout)),
		TLSConfig: federationTLS(mtls.ServerConfig(cert, tr.Directory())),
		// The handler bounds each body by read_timeout and answers 408 when
		// it is not read in time; the server's limits are a backstop.
		// ReadHeaderTimeout, the shortest, also bounds the TLS handshake
		// (net/http takes the least of the three for it): a connection
		// that sends nothing, or half a ClientHello, is cut off then.
		ReadHeaderTimeout: cfg.Federation.HeaderTimeout, ReadTimeout: cfg.Federation.ReadTimeout + 10*time.Second,
		WriteTimeout: cfg.Federation.ReadTimeout + 60*time.Second, IdleTimeout: cfg.Federation.IdleTimeout,
		MaxHeaderBytes: 64 << 10, ErrorLog: errLog,
		// Receive windows for long links (a satellite round trip).
		HTTP2: mtls.ServerHTTP2(),
	}
	localSrv := &http.Server{
		ConnState:         conns.hook,
		Handler:           httpapi.NewLocalHandler(n, localOptions(cfg, promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}), log)),
		ReadHeaderTimeout: cfg.LocalAPI.HeaderTimeout, ReadTimeout: max(60*time.Second, cfg.LocalAPI.HeaderTimeout),
		WriteTimeout: 60 * time.Second, IdleTimeout: cfg.LocalAPI.IdleTimeout,
		ErrorLog: errLog,
	}
	if cfg.LocalAPI.TLSCert != "" {
		lc, err := tls.LoadX509KeyPair(cfg.LocalAPI.TLSCert, cfg.LocalAPI.TLSKey)
		if err != nil {
			fedLn.Close()
			localLn.Close()
			return failSt(fmt.Errorf("serve: local API TLS certificate: %w", err))
		}
		localSrv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{lc}}
		localLn = tls.NewListener(localLn, localSrv.TLSConfig)
	} else if host, _, _ := net.SplitHostPort(cfg.LocalAPI.Listen); !isLoopback(host) {
		log.Warn("the local API is served over plain HTTP on a non-loopback address: bearer tokens can be read on the network; set local_api.tls_cert and tls_key, or put a TLS proxy in front", "listen", cfg.LocalAPI.Listen)
	}
	r := &runningNode{Node: n, Metrics: metrics, Store: st, FedAddr: fedLn.Addr().String(), LocalAddr: localLn.Addr().String(), stop: cancel, errc: make(chan error, 3),
		fedConns: fedConns, localConns: localConns}
	serve := func(name string, f func() error) {
		if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.errc <- fmt.Errorf("serve: %s listener: %w", name, err)
			cancel()
		}
	}
	go serve("federation", func() error { return fedSrv.Serve(tls.NewListener(fedLn, fedSrv.TLSConfig)) })
	go serve("local API", func() error { return localSrv.Serve(localLn) })
	r.wg.Add(2)
	go func() { defer r.wg.Done(); tr.Run(ctx, cfg.Federation.ManifestRefresh) }()
	go func() {
		defer r.wg.Done()
		runDone := make(chan struct{})
		go func() { n.Run(ctx); close(runDone) }()
		<-ctx.Done()
		// Stop taking new work first, then let the loops finish what is in flight.
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		var swg sync.WaitGroup
		for _, s := range []*http.Server{fedSrv, localSrv} {
			swg.Add(1)
			go func(s *http.Server) { defer swg.Done(); s.Shutdown(sctx) }(s)
		}
		conns.closeIdle()
		swg.Wait()
		<-runDone
		r.errc <- nil
	}()
	return r, nil
}

// Ceilings of the listeners' connection bounds when max_connections is 0.
const (
	federationConnections = 4096
	localAPIConnections   = 1024
)

// boundListeners bounds the connections each listener holds at once (the
// federation listener per source address too), under TLS: a handshake
// that never ends holds its slot until header_timeout. Refusals are counted
// in flx_connections_refused_total{listener, reason}; what the listeners
// hold is flx_connections_open{listener}.
func boundListeners(cfg config.Config, fed, local net.Listener, metrics *node.Metrics, log *slog.Logger) (*connlimit.Listener, *connlimit.Listener, error) {
	files := connlimit.FileLimit()
	fedMax := connectionBound(cfg.Federation.MaxConnections, federationConnections, files)
	localMax := connectionBound(cfg.LocalAPI.MaxConnections, localAPIConnections, files)
	refused := func(listener string) func(connlimit.Reason) {
		return func(r connlimit.Reason) { metrics.ConnectionRefused(listener, string(r)) }
	}
	fedConns, err := connlimit.New(fed, connlimit.Options{Name: "federation", Max: fedMax,
		MaxPerSource: min(cfg.Federation.MaxConnectionsPerSource, fedMax), Refused: refused("federation"), Log: log})
	if err != nil {
		return nil, nil, fmt.Errorf("serve: %w", err)
	}
	localConns, err := connlimit.New(local, connlimit.Options{Name: "local_api", Max: localMax, Refused: refused("local_api"), Log: log})
	if err != nil {
		return nil, nil, fmt.Errorf("serve: %w", err)
	}
	metrics.ObserveListener("federation", fedConns.Open, fedMax, string(connlimit.Total), string(connlimit.PerSource))
	metrics.ObserveListener("local_api", localConns.Open, localMax, string(connlimit.Total))
	log.Info("connection bounds", "federation", fedMax, "federation_per_source", fedConns.MaxPerSource(), "local_api", localMax, "open_file_limit", files)
	if files > 0 && fedMax+localMax > files/2 {
		log.Warn("the listeners may hold more than half the files this process may open: raise its open-file limit (LimitNOFILE) or lower federation.max_connections and local_api.max_connections",
			"federation", fedMax, "local_api", localMax, "open_file_limit", files)
	}
	return fedConns, localConns, nil
}

// connectionBound is the most connections a listener holds at once:
// configured when positive; for 0, a quarter of the process's open-file
// limit (files; 0 when unknown), at most ceiling.
func connectionBound(configured, ceiling, files int) int {
	if configured > 0 {
		return configured
	}
	if files <= 0 {
		return ceiling
	}
	return max(1, min(ceiling, files/4))
}

// connTracker closes idle connections promptly at shutdown. Server.Shutdown
// closes idle HTTP/1.1 connections itself, but counts an HTTP/2 connection
// as active for its whole life: it sends a GOAWAY and the connection stays
// open until the peer closes it or a second passes. The ConnState hook,
// which HTTP/2 connections also report (idle when their last stream ends),
// tells which have nothing in flight: those are closed at once, and those
// with requests in flight once their last response is written.
type connTracker struct {
	mu      sync.Mutex
	idle    map[net.Conn]time.Time // since when
	closing bool
}

// idleGrace is how long a connection that just became idle is left before
// closing it: its last response's frames may still be on their way to the
// socket (HTTP/2 reports idle when the stream ends, before the flush).
const idleGrace = 50 * time.Millisecond

func newConnTracker() *connTracker { return &connTracker{idle: map[net.Conn]time.Time{}} }

func (ct *connTracker) hook(c net.Conn, s http.ConnState) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if s != http.StateIdle {
		delete(ct.idle, c)
		return
	}
	ct.idle[c] = time.Now()
	if ct.closing {
		ct.closeLater(c, idleGrace)
	}
}

// closeIdle closes the connections idle now, and from now on each one as
// it becomes idle.
func (ct *connTracker) closeIdle() {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	ct.closing = true
	for c, since := range ct.idle {
		ct.closeLater(c, idleGrace-time.Since(since))
	}
}

// closeLater closes c after d if it is still idle then (ct.mu held).
func (ct *connTracker) closeLater(c net.Conn, d time.Duration) {
	at := ct.idle[c]
	time.AfterFunc(max(d, 0), func() {
		ct.mu.Lock()
		still := ct.idle[c] == at
		if still {
			delete(ct.idle, c)
		}
		ct.mu.Unlock()
		if still {
			c.Close()
		}
	})
}

// isLoopback reports whether a listen host only accepts local connections.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// keyRing picks the signing key valid now among the key files (rotation
// without restart), re-reading at most every 30 seconds.
func keyRing(cfg config.Config, tr *trust.Trust, fallback *jose.PrivateKey, log *slog.Logger) func(time.Time) *jose.PrivateKey {
	var mu sync.Mutex
	cur, at, ver := fallback, time.Time{}, int64(0)
	return func(now time.Time) *jose.PrivateKey {
		mu.Lock()
		defer mu.Unlock()
		m := tr.Current()
		if m == nil || (now.Sub(at) < 30*time.Second && m.Version == ver) {
			return cur
		}
		at, ver = now, m.Version
		mb, ok := m.Member(cfg.Member)
		if !ok {
			return cur
		}
		k, err := fedadmin.CurrentSigningKey(cfg.Federation.SigningKey, mb, now)
		if err != nil {
			log.Warn("signing key reload failed; keeping the current key", "err", err)
			return cur
		}
		if k.KID() != cur.KID() {
			log.Info("signing with a new key", "kid", k.KID())
		}
		cur = k
		return cur
	}
}

// localOptions are the local API's options from the configuration, with
// the web console when it is enabled.
func localOptions(cfg config.Config, metrics http.Handler, log *slog.Logger) httpapi.LocalOptions {
	o := httpapi.LocalOptions{Tokens: cfg.LocalAPI.Tokens, Metrics: metrics, Logger: log}
	if c := cfg.LocalAPI.Console; c.Enabled {
		o.Console = &console.Options{IdleTimeout: c.IdleTimeout, MaxAge: c.MaxAge, HTTPS: c.BehindTLSProxy}
	}
	return o
}

// openMedia opens the blob store of recorded video and voice messages
// (config media.blobs): on disk under media.dir, or in the store's
// PostgreSQL database so that every replica sharing it reads every blob.
func openMedia(cfg config.Config, st store.Store) (media.Store, error) {
	kind := cfg.Media.Blobs
	db, isPG := store.SQLDB(st)
	if kind == "auto" || kind == "" {
		kind = "disk"
		if isPG {
			kind = "postgres"
		}
	}
	if kind == "postgres" {
		if !isPG {
			return nil, fmt.Errorf("serve: media.blobs postgres needs a PostgreSQL store")
		}
		return media.NewPostgres(db), nil
	}
	d, err := media.OpenDisk(cfg.Media.Dir)
	if err != nil {
		return nil, fmt.Errorf("serve: media: %w", err)
	}
	return d, nil
}

// federationTLS offers HTTP/2 on the federation listener: envelopes and
// batches to one peer share a connection (one handshake), many requests in
// flight on it. Media uploads keep HTTP/1.1 connections of their own (the
// node's media client does not offer h2).
func federationTLS(c *tls.Config) *tls.Config {
	c.NextProtos = []string{"h2", "http/1.1"}
	return c
}

// statsOptions maps the configuration's statistics fields (0 disables
// sending: the node's option for that is negative).
func statsOptions(c config.Coordination) node.StatsOptions {
	every := c.StatsEvery
	if every == 0 {
		every = -1
	}
	return node.StatsOptions{Every: every, Settle: c.StatsSettle, Protection: stats.Protection{Threshold: c.StatsThreshold, Rounding: c.StatsRounding}}
}

// linger is delivery.linger as the node takes it: the configuration's 0
// (no wait) is the node's negative, the node's 0 being its default.
func linger(d config.Delivery) time.Duration {
	if d.Linger == 0 {
		return -1
	}
	return d.Linger
}
