package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/node/backoff"
	"github.com/familylinks/flx/node/delivery"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
)

// Trust is what the node needs of the manifest holder (node/trust.Trust).
type Trust interface {
	Current() *federation.Manifest
	Usable() error
	Directory() mtls.Directory
}

// Options configure a Node. Store, Trust, Signer, Policy and Self are required.
type Options struct {
	Self   string           // this node's member id
	Store  store.Store      // the database
	Trust  Trust            // the current federation manifest
	Signer *jose.PrivateKey // this member's signing key
	// SignerFor, when set, picks the signing key at each signature (key
	// rotation without restart: the new key from its nbf on). Signer is
	// then only the fallback.
	SignerFor func(now time.Time) *jose.PrivateKey
	Policy    *policy.Engine // the Society's data-protection rules
	// TLS is this member's certificate, used to deliver to peers.
	TLS tls.Certificate

	EnvelopeTTL  time.Duration // default 168h
	Skew         time.Duration // default 60s
	MaxBodyBytes int64         // default 1 MiB

	Delivery DeliveryOptions
	Logger   *slog.Logger
	Metrics  *Metrics // nil: a private registry
	Now      func() time.Time
	// Instance names this process in outbox claims (default: random).
	Instance string
	// Media configures recorded video and voice messages (SPEC §18).
	Media MediaOptions
	// RetentionSweep is how often cases past retention_until are erased
	// (own cases withdrawn); default 6h, negative disables.
	RetentionSweep time.Duration
	// Match tunes candidate matching between the persons of the cases held.
	Match MatchOptions
}

// DeliveryOptions tune the outbox worker.
type DeliveryOptions struct {
	Workers        int            // concurrent deliveries per destination; default 4
	MaxAttempts    int            // then dead-letter; default 50
	Backoff        backoff.Policy // default 1s..1h
	RequestTimeout time.Duration  // default 30s
	Lease          time.Duration  // default 2m
	PollInterval   time.Duration  // default 1s
}

// Node is one FLX node.
type Node struct {
	o        Options
	log      *slog.Logger
	metrics  *Metrics
	verifier *federation.Verifier
	client   *federation.Client // the wire: sends envelopes, verifies receipts
	view     store.View         // the store, read-only

	deliverer *delivery.Deliverer // the outbound pipeline
	media     *mediaState         // media store, receiving server, per-peer uploaders
	kick      chan struct{}       // wakes the inbox processor
	procMu    sync.Mutex          // one inbox pass at a time in this process
	matcher   *matcher            // nil when matching is disabled
}

// New checks the options and returns a Node. Start its background work
// with Run.
func New(o Options) (*Node, error) {
	if o.Self == "" || o.Store == nil || o.Trust == nil || o.Signer == nil || o.Policy == nil {
		return nil, errors.New("node.New: Self, Store, Trust, Signer and Policy are required")
	}
	if o.EnvelopeTTL <= 0 {
		o.EnvelopeTTL = 168 * time.Hour
	}
	if o.Skew <= 0 {
		o.Skew = federation.DefaultSkew
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	d := &o.Delivery
	if d.Workers <= 0 {
		d.Workers = 4
	}
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = 50
	}
	if d.Backoff.Initial <= 0 {
		d.Backoff = backoff.Policy{Initial: time.Second, Max: time.Hour}
	}
	if d.RequestTimeout <= 0 {
		d.RequestTimeout = 30 * time.Second
	}
	if d.Lease <= 0 {
		d.Lease = 2 * time.Minute
	}
	if d.PollInterval <= 0 {
		d.PollInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Instance == "" {
		o.Instance = o.Self + "/" + federation.NewJTI()[:8]
	}
	if o.RetentionSweep == 0 {
		o.RetentionSweep = 6 * time.Hour
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	n := &Node{
		o:       o,
		log:     o.Logger,
		metrics: o.Metrics,
		kick:    make(chan struct{}, 1),
	}
	n.verifier = &federation.Verifier{Manifest: o.Trust, Self: o.Self, Skew: o.Skew, Now: o.Now}
	n.client = &federation.Client{Self: o.Self, Cert: o.TLS, Manifest: o.Trust, Directory: o.Trust.Directory(),
		Timeout: d.RequestTimeout, Skew: o.Skew, Now: o.Now}
	n.initMedia()
	n.deliverer = n.newDeliverer()
	n.view = store.ReadOnly(o.Store)
	if !o.Match.Disabled {
		n.matcher = newMatcher(o.Match)
	}
	o.Metrics.observeStore(o.Store)
	return n, nil
}

// Self is this node's member id.
func (n *Node) Self() string { return n.o.Self }

// MaxBodyBytes is the federation body limit.
func (n *Node) MaxBodyBytes() int64 { return n.o.MaxBodyBytes }

// Skew is the clock tolerance.
func (n *Node) Skew() time.Duration { return n.o.Skew }

// Manifest returns the current federation manifest (nil if none).
func (n *Node) Manifest() *federation.Manifest { return n.o.Trust.Current() }

// View is the store read-only, for the HTTP layer: it reads through it and
// changes data only through the node's operations.
func (n *Node) View() store.View { return n.view }

// Ready reports whether the node can serve: a usable manifest and a
// reachable database.
func (n *Node) Ready(ctx context.Context) error {
	if err := n.o.Trust.Usable(); err != nil {
		return err
	}
	return n.o.Store.Ping(ctx)
}

// Run processes the inbox, delivers the outbox and enforces retention
// until ctx ends; it returns when every loop has stopped (in-flight work
// finished).
func (n *Node) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := n.LoadMatching(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("matching index not loaded; the next case written loads it", "err", err)
		}
		if every := n.o.Match.Sync; n.matcher != nil && every >= 0 {
			if every == 0 {
				every = time.Minute
			}
			n.runMatchSync(ctx, every)
		}
	}()
	go func() { defer wg.Done(); n.runInbox(ctx) }()
	go func() { defer wg.Done(); n.deliverer.Run(ctx) }()
	if n.o.RetentionSweep > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); n.runRetention(ctx, n.o.RetentionSweep) }()
	}
	wg.Wait()
}

// signer returns the key to sign with now.
func (n *Node) signer() *jose.PrivateKey {
	if n.o.SignerFor != nil {
		if k := n.o.SignerFor(n.o.Now()); k != nil {
			return k
		}
	}
	return n.o.Signer
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (n *Node) audit(ctx context.Context, q store.Queries, actor, action, object string, details map[string]any) error {
	var raw []byte
	if len(details) > 0 {
		var err error
		if raw, err = json.Marshal(details); err != nil {
			return err
		}
	}
	_, err := q.AppendAudit(ctx, store.AuditEntry{Actor: actor, Action: action, Object: object, Details: raw, At: n.o.Now()})
	return err
}
