package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
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
	// MaxBatchEnvelopes and MaxBatchBytes bound one batch (SPEC.md §6.5);
	// defaults 100 and 8 MiB.
	MaxBatchEnvelopes int
	MaxBatchBytes     int64
	// ApplyLater leaves every received envelope to the inbox processor:
	// a batch is answered once stored, and applied after. By default
	// (false) a batch's case.create and case.update envelopes are applied
	// in the transaction that stores them (configuration
	// federation.apply_on_receive).
	ApplyLater bool

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

	// Routes sends envelopes for a member (key) through a relay (value),
	// besides the relay_via routes of the manifest (FLX-RLY-001).
	Routes map[string]string
	// RelayWait is how long an envelope sent through a relay waits for the
	// final recipient's end-to-end receipt before it is sent again;
	// default DefaultRelayWait.
	RelayWait time.Duration
	// PullInterval is how often a pull_only member pulls from its sources
	// (SPEC.md FLX-PUL-008: at most 5 minutes); default 1 minute.
	PullInterval time.Duration
	// PullLease is how long envelopes pulled from this node are held for
	// their puller before they are offered again; default pull.DefaultLease.
	PullLease time.Duration
	// Stats configures the monthly statistics reports (SPEC.md §17).
	Stats StatsOptions
	// AuditHead configures audit-head witnessing (SPEC.md §20).
	AuditHead AuditHeadOptions
	// WithdrawalRetry tunes how withdrawals delivered without a
	// confirmation are sent again (ResendWithdrawals).
	WithdrawalRetry WithdrawalRetryOptions
	// BundleKeys are this member's private encryption keys for carried
	// bundles (the current one first; older ones while bundles to them may
	// be in transit).
	BundleKeys []*jose.EncPrivateKey
	// Match tunes candidate matching between the persons of the cases held.
	Match MatchOptions
}

// DeliveryOptions tune the outbox worker.
type DeliveryOptions struct {
	Workers        int            // requests in flight per destination; default 32
	MaxAttempts    int            // then dead-letter; default 50
	Backoff        backoff.Policy // default 1s..1h
	RequestTimeout time.Duration  // default 30s
	BatchSize      int            // envelopes per request to a peer; default 50 (1: one per request)
	Linger         time.Duration  // wait for more rows while requests are in flight; default 5ms, negative: none
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
	// writeErr is the last failed write of a receive, nil once one
	// succeeds: readiness reports it (a full disk makes every receive fail
	// while the database still answers pings).
	writeErr atomic.Pointer[writeFailure]
	procMu   sync.Mutex // one inbox pass at a time in this process
	peers    peerCache  // what peers declare, for checks before queueing
	sends    sendGroup  // forwards committed together (commitSendTx)
	reads    caseReads  // forwards reading their cases together (readToSend)
	// forwarding bounds the forwards reading their case and judged at
	// once (forwardSlots).
	forwarding chan struct{}
	pullers    puller   // mTLS clients of the members this one pulls from
	matcher    *matcher // nil when matching is disabled
	// admitted hands what receipt parsed of an envelope to processing.
	admitted admittedEnvelopes
	// queryLimit bounds the match queries accepted per member (nil: no bound).
	queryLimit *queryLimiter
	// matchQ carries received cases to the matching worker while Run runs
	// (matchAsync): inbox processing never waits for matching.
	matchQ     chan store.InboxItem
	matchAsync atomic.Bool
	// noApplyOnReceive: ReceiveBatch stores envelopes for the processor
	// only (Options.ApplyLater; tests of the processor change it while the
	// node runs).
	noApplyOnReceive atomic.Bool
	// matchBehind: cases were left to their match_pending marks because
	// matchQ was full; the worker matches them once it drains.
	matchBehind atomic.Bool
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
	if o.MaxBatchEnvelopes <= 0 {
		o.MaxBatchEnvelopes = 100
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = max(8<<20, o.MaxBodyBytes)
	}
	d := &o.Delivery
	if d.Workers <= 0 {
		d.Workers = 32
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
	if d.BatchSize <= 0 {
		d.BatchSize = 50
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
	if o.RelayWait <= 0 {
		o.RelayWait = DefaultRelayWait
	}
	o.WithdrawalRetry.defaults()
	if o.PullInterval <= 0 {
		o.PullInterval = time.Minute
	}
	if err := o.Stats.defaults(); err != nil {
		return nil, err
	}
	n := &Node{
		forwarding: make(chan struct{}, forwardSlots),
		o:          o,
		log:        o.Logger,
		metrics:    o.Metrics,
		kick:       make(chan struct{}, 1),
	}
	n.verifier = &federation.Verifier{Manifest: o.Trust, Self: o.Self, Skew: o.Skew, Now: o.Now}
	n.client = &federation.Client{Self: o.Self, Cert: o.TLS, Manifest: o.Trust, Directory: o.Trust.Directory(),
		Timeout: d.RequestTimeout, Skew: o.Skew, Now: o.Now}
	n.initMedia()
	n.deliverer = n.newDeliverer()
	n.view = store.ReadOnly(o.Store)
	n.queryLimit = newQueryLimiter(o.Match.QueriesPerMinute)
	if !o.Match.Disabled {
		n.matcher = newMatcher(o.Match)
		n.matchQ = make(chan store.InboxItem, matchQueue)
	}
	o.Metrics.observeStore(o.Self, o.Store)
	o.Metrics.observeNode(n)
	n.noApplyOnReceive.Store(o.ApplyLater)
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

// Ready reports whether the node can serve: a usable manifest, a
// reachable database, and, once storing a received envelope failed, a
// database that takes writes again (PingWrite).
func (n *Node) Ready(ctx context.Context) error {
	if err := n.o.Trust.Usable(); err != nil {
		return err
	}
	if err := n.o.Store.Ping(ctx); err != nil {
		return err
	}
	if f := n.writeErr.Load(); f != nil {
		// Readiness must find out by itself that writes work again: while
		// it says no, peers (and a load balancer) send nothing.
		if err := n.o.Store.PingWrite(ctx); err != nil {
			return fmt.Errorf("%w: since %s: %v", ErrWritesFailing, f.at.UTC().Format(time.RFC3339), f.err)
		}
		n.writeSucceeded()
	}
	return nil
}

// ErrWritesFailing is Ready's error while received envelopes cannot be
// stored (the database answers but refuses writes: a full disk, a
// read-only replica).
var ErrWritesFailing = errors.New("node: the database refuses writes")

type writeFailure struct {
	at  time.Time
	err error
}

// writeFailed records that storing what a peer sent failed.
func (n *Node) writeFailed(err error) {
	if n.writeErr.Load() == nil {
		n.writeErr.Store(&writeFailure{at: n.o.Now(), err: err})
	}
}

// writeSucceeded records that storing what a peer sent worked again.
func (n *Node) writeSucceeded() {
	if n.writeErr.Load() != nil {
		n.writeErr.Store(nil)
	}
}

// Run processes the inbox, delivers the outbox and enforces retention
// until ctx ends; it returns when every loop has stopped (in-flight work
// finished).
func (n *Node) Run(ctx context.Context) {
	defer n.openMatchPool()()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := n.LoadMatching(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("matching index not loaded; the next case written loads it", "err", err)
		} else if k, err := n.catchUpMatching(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("matching the cases left unmatched failed; they stay marked", "err", err)
		} else if k > 0 {
			n.log.Info("cases left unmatched were matched", "cases", k)
		}
		if n.matcher != nil {
			defer func() {
				// The marks of cases matched since the last write go too
				// (otherwise the next start only matches them again).
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				if err := n.flushMatchedMarks(fctx); err != nil {
					n.log.Error("clearing match marks failed", "err", err)
				}
			}()
		}
		if every := n.o.Match.Sync; n.matcher != nil && every >= 0 {
			if every == 0 {
				every = time.Minute
			}
			n.runMatchSync(ctx, every)
		}
		<-ctx.Done()
	}()
	go func() { defer wg.Done(); n.runInbox(ctx) }()
	if n.matcher != nil {
		wg.Add(1)
		go func() { defer wg.Done(); n.runMatchWorker(ctx) }()
	}
	go func() { defer wg.Done(); n.deliverer.Run(ctx) }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		// An index built with other key rules is rebuilt once, in the
		// background (searches meanwhile miss what is not yet re-keyed).
		if k, err := n.RebuildSearchIndex(ctx, false); err != nil && ctx.Err() == nil {
			n.log.Error("search index rebuild failed", "err", err)
		} else if k > 0 {
			n.log.Info("search index rebuilt", "cases", k)
		}
	}()
	if n.o.RetentionSweep > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); n.runRetention(ctx, n.o.RetentionSweep) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); n.runPull(ctx) }()
	if n.o.Stats.Every > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); n.runStats(ctx) }()
	}
	if n.o.AuditHead.Every > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); n.runAuditHeads(ctx) }()
	}
	if every := n.o.WithdrawalRetry.Every; every > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); n.runWithdrawalRetry(ctx, every) }()
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
