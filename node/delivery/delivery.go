package delivery

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/backoff"
	"github.com/familylinks/flx/node/store"
)

// Outbox is what delivery needs of the store: the outbox's claim and
// record operations (store.Store has them).
type Outbox interface {
	// DueDestinations lists the destinations with a row ClaimDue could take.
	DueDestinations(ctx context.Context, now time.Time) ([]string, error)
	ClaimDue(ctx context.Context, r store.ClaimRequest) ([]store.OutboxItem, error)
	MarkDelivered(ctx context.Context, id int64, receipt []byte) error
	MarkFailed(ctx context.Context, id int64, attempt int, reason string, next time.Time) error
	// Unclaim puts a row claimed and never sent back as it was before
	// the claim: no attempt counted, its next attempt and last error kept.
	Unclaim(ctx context.Context, id int64, attempt int) error
	MarkDead(ctx context.Context, id int64, attempt int, reason string) error
}

// Sender makes one attempt to deliver an envelope (federation.Client).
type Sender interface {
	Send(ctx context.Context, to string, envelope []byte) federation.Result
}

// BatchSender also sends several envelopes in one request, one Result per
// envelope in order (federation.Client.SendBatch). Delivery uses it when
// Options.BatchSize is over 1.
type BatchSender interface {
	Sender
	SendBatch(ctx context.Context, to string, envelopes [][]byte) []federation.Result
}

// Sends, when the Outbox has it, says whether rows queued to a destination
// are this process's to send, as DueDestinations lists only those (the
// node's outbox leaves out members that pull their envelopes): KickFor
// starts a loop only for those.
type Sends interface {
	Sends(destination string) bool
}

// BatchRecorder records many deliveries in one transaction
// (store.Store.MarkDeliveredAll); an Outbox without it records them one by
// one.
type BatchRecorder interface {
	MarkDeliveredAll(ctx context.Context, ds []store.DeliveredRow) error
}

// BackoffStore keeps destinations' backoff across restarts
// (store.Store has it): a node that restarts keeps resting a dead peer
// until the saved time instead of trying it again at once. Without it the
// backoff lives in memory only.
type BackoffStore interface {
	SavePeerBackoff(ctx context.Context, b store.PeerBackoff) error
	ListPeerBackoff(ctx context.Context) ([]store.PeerBackoff, error)
}

// Observer is told what delivery does, for metrics. Labels it receives are
// member ids, kinds and short reason labels: no personal data.
type Observer interface {
	Delivered(to, kind string, sinceQueued, attempt time.Duration)
	Failed(to, reason string) // reason: the label before ':' of the Result's Reason
	Dead(to string)
	Resting(to string, wait time.Duration) // 0: healthy again
}

// Options tune a Deliverer. Instance, Workers, MaxAttempts, Backoff, Lease
// and PollInterval have the defaults of node.DeliveryOptions when zero.
type Options struct {
	Instance string // names this process in claims
	Workers  int    // deliveries (requests) in flight per destination; default 32
	// BatchSize is the most envelopes per request when the Sender is a
	// BatchSender; default 1 (each envelope alone).
	BatchSize int
	// Linger is how long rows queued while one request of less than a
	// batch to the destination is in flight wait for more to go with
	// them, unless a batch's worth was queued or the answer comes first;
	// a row queued while none is in flight goes at once, and while two
	// are, with the answer to one of them (or a batch's worth). A steady
	// trickle of single rows so costs at most one request per Linger or
	// per answer rather than one per row, and no more than two requests
	// of less than a batch are in flight. Default 5 ms; negative: none (a
	// row goes at once while fewer than two such requests are in flight).
	Linger       time.Duration
	MaxAttempts  int            // then dead-letter; default 50
	Backoff      backoff.Policy // default 1 s .. 1 h
	Lease        time.Duration  // default 2 min
	PollInterval time.Duration  // default 1 s
	// Prepare, when set, runs before each attempt and returns the row to
	// send: the node re-signs an envelope near its exp there (SPEC.md
	// FLX-DLV-001). store.ErrConflict (wrapped) means the row is no longer
	// this attempt's: nothing is sent and nothing recorded. Any other error
	// fails the attempt (retried).
	Prepare func(ctx context.Context, it store.OutboxItem) (store.OutboxItem, error)
	// Persistent, when set, names rows that are never dead-lettered for
	// MaxAttempts: while the peer answers "retry" they are retried at the
	// backoff's Max (the node's withdrawals and their confirmations, which
	// must reach every recipient however long it is down). A permanent
	// refusal still dead-letters them.
	Persistent func(kind string) bool
	Observer   Observer     // nil: none
	Logger     *slog.Logger // nil: discard
	Now        func() time.Time
}

func (o *Options) defaults() {
	if o.Instance == "" {
		o.Instance = "flx/" + federation.NewJTI()[:8]
	}
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1
	}
	if o.Linger == 0 {
		o.Linger = DefaultLinger
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 50
	}
	if o.Backoff.Initial <= 0 {
		o.Backoff = backoff.Policy{Initial: time.Second, Max: time.Hour}
	}
	if o.Lease <= 0 {
		o.Lease = store.DefaultLease
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// RequestObserver, when the Observer has it, is told the number of
// envelopes of each request sent (one for a single envelope): the batch
// sizes that share a request's fixed cost.
type RequestObserver interface {
	Sent(to string, envelopes int)
}

// AttemptObserver, when the Observer has it, is told of the rows of each
// request once it is answered, before their results are recorded: when
// the request was sent and when its answer came. With the rows' UpdatedAt
// (their claim's now) these are the bench's finer stages: queued -> claim
// started is the wait for a slot (linger, an answer), claim started ->
// sent the claim and any holding back.
type AttemptObserver interface {
	Attempted(rows []store.OutboxItem, sent, answered time.Time)
}

// ClaimObserver, when the Observer has it, is told of each claim made
// for a destination: how many rows it took (0: none was due) and how long
// the store took to answer it. Claims per request, and the empty ones
// among them, are a fixed cost that small batches pay for each envelope.
type ClaimObserver interface {
	Claimed(to string, rows int, took time.Duration)
}

// claimed tells the Observer of a claim of rows rows to to that took took.
func (d *Deliverer) claimed(to string, rows int, took time.Duration) {
	if co, ok := d.o.Observer.(ClaimObserver); ok {
		co.Claimed(to, rows, took)
	}
}

// attempted tells the Observer of rows whose request, sent at sent, was
// answered.
func (d *Deliverer) attempted(rows []store.OutboxItem, sent time.Time) {
	if ao, ok := d.o.Observer.(AttemptObserver); ok {
		ao.Attempted(rows, sent, d.o.Now())
	}
}

// sent tells the Observer of a request of n envelopes to to.
func (d *Deliverer) sent(to string, n int) {
	if ro, ok := d.o.Observer.(RequestObserver); ok {
		ro.Sent(to, n)
	}
}

// DefaultLinger is Options.Linger when zero: a few milliseconds, small
// beside the latency a caseworker sees, large beside the time between rows
// at hundreds a second.
const DefaultLinger = 5 * time.Millisecond

type nopObserver struct{}

func (nopObserver) Delivered(string, string, time.Duration, time.Duration) {}
func (nopObserver) Failed(string, string)                                  {}
func (nopObserver) Dead(string)                                            {}
func (nopObserver) Resting(string, time.Duration)                          {}

// Deliverer runs one delivery loop per destination with a row due.
type Deliverer struct {
	outbox Outbox
	sender Sender
	o      Options
	log    *slog.Logger
	wake   chan struct{}

	mu    sync.Mutex
	dests map[string]*Destination
	wg    sync.WaitGroup
	// runCtx is Run's context once it runs (KickFor starts loops under
	// it); stopped is set, under mu, before Run waits for the loops, so
	// that none is started after.
	runCtx  context.Context
	stopped bool
}

// New returns a Deliverer; start it with Run.
func New(outbox Outbox, sender Sender, o Options) *Deliverer {
	o.defaults()
	return &Deliverer{outbox: outbox, sender: sender, o: o, log: o.Logger, wake: make(chan struct{}, 1), dests: map[string]*Destination{}}
}

// Kick makes Run look for due rows now (something was queued), and every
// destination's loop under way claim what it has room for: a row queued
// while requests are in flight goes within Linger (or with the next
// answer), not after the poll interval.
func (d *Deliverer) Kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
	d.mu.Lock()
	for _, ds := range d.dests {
		ds.kick()
	}
	d.mu.Unlock()
}

// KickFor is Kick for rows queued to the destinations names, and costs
// less: a destination whose loop is under way is only told to claim (its
// loop will), and one with no loop gets one at once, which claims (unless
// it rests): no query for due destinations, and no wait for Run to make
// it, between a commit and the claim of what it queued. At a steady rate
// of single-row transactions (a caseworker's case each) that query would
// otherwise run once a row whenever the loop had ended between them.
// Before Run runs, Run is woken as by Kick.
func (d *Deliverer) KickFor(names ...string) { d.kickFor(true, names...) }

// KickRows is KickFor for the rows ids just queued (committed) to
// destination to. Named, they make no claim once a claim took them all: a
// claim that begins between their commit and this kick takes them, and
// the kick then finds nothing to claim (at a steady rate of rows queued
// one by one, a third of the claims found none).
func (d *Deliverer) KickRows(to string, ids ...int64) {
	if len(ids) == 0 || slices.Contains(ids, 0) {
		d.kickFor(true, to) // a row not named
		return
	}
	d.mu.Lock()
	if ds := d.dests[to]; ds != nil {
		ds.announce(ids)
	}
	d.mu.Unlock()
	d.kickFor(false, to)
}

// kickFor is KickFor; anon: the kick names no row (KickRows announced
// them).
func (d *Deliverer) kickFor(anon bool, names ...string) {
	f, filtered := d.outbox.(Sends)
	d.mu.Lock()
	all := true
	for _, name := range names {
		ds := d.dests[name]
		if ds != nil && ds.kickRunning(anon) {
			continue
		}
		if d.runCtx == nil || d.stopped || (filtered && !f.Sends(name)) {
			all = false
			continue
		}
		if ds == nil {
			ds = NewDestination(name, d.o.Backoff)
			d.dests[name] = ds
		}
		if ds.start(d.o.Now()) {
			d.spawnLocked(ds)
		}
	}
	d.mu.Unlock()
	if !all {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// spawnLocked runs the loop of ds, just started (Destination.start), under
// Run's context; d.mu is held, Run runs and has not stopped.
func (d *Deliverer) spawnLocked(ds *Destination) {
	d.spawn(d.runCtx, ds)
}

// spawn runs the loop of ds, just started (Destination.start), under ctx.
func (d *Deliverer) spawn(ctx context.Context, ds *Destination) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.loop(ctx, ds)
		// A row queued after the loop's last claim, while the loop was
		// still seen running, is claimed by a new loop now.
		if ds.stop() && ctx.Err() == nil {
			d.KickFor(ds.Name())
		}
	}()
}

// Destination returns the state of destination name (created healthy).
func (d *Deliverer) Destination(name string) *Destination {
	d.mu.Lock()
	defer d.mu.Unlock()
	ds := d.dests[name]
	if ds == nil {
		ds = NewDestination(name, d.o.Backoff)
		d.dests[name] = ds
	}
	return ds
}

// Run delivers until ctx ends: at start, on Kick, and every poll interval
// (rows queued by another process sharing the database). It returns when
// every delivery under way has finished; nothing is lost either way, as
// claims have leases. It first takes back the backoff saved before a
// restart.
func (d *Deliverer) Run(ctx context.Context) {
	d.restore(ctx)
	tick := time.NewTicker(d.o.PollInterval)
	defer tick.Stop()
	d.mu.Lock()
	d.runCtx = ctx
	d.mu.Unlock()
	for {
		d.dispatch(ctx)
		select {
		case <-ctx.Done():
			d.mu.Lock()
			d.stopped = true
			d.mu.Unlock()
			d.wg.Wait()
			return
		case <-d.wake:
		case <-tick.C:
		}
	}
}

// restore loads the saved backoff of every destination that rests.
func (d *Deliverer) restore(ctx context.Context) {
	bs, ok := d.outbox.(BackoffStore)
	if !ok {
		return
	}
	saved, err := bs.ListPeerBackoff(ctx)
	if err != nil {
		d.log.Error("load the saved peer backoff; starting from none", "err", err)
		return
	}
	now := d.o.Now()
	for _, b := range saved {
		d.Destination(b.Destination).restore(State{Failures: b.Failures, Until: b.NextAttemptAt, LastError: b.LastError})
		d.o.Observer.Resting(b.Destination, b.NextAttemptAt.Sub(now))
	}
}

// save keeps the backoff of ds across restarts, when the outbox can.
func (d *Deliverer) save(ctx context.Context, ds *Destination) {
	bs, ok := d.outbox.(BackoffStore)
	if !ok {
		return
	}
	s := ds.State()
	if err := bs.SavePeerBackoff(context.WithoutCancel(ctx), store.PeerBackoff{Destination: s.Name, Failures: s.Failures,
		NextAttemptAt: s.Until, LastError: s.LastError}); err != nil {
		d.log.Error("save the peer backoff", "destination", s.Name, "err", err)
	}
}

// RetryNow ends the rest of destination name (the operator's "retry now";
// the caller clears the saved backoff and makes its rows due) and looks
// for due rows at once.
func (d *Deliverer) RetryNow(name string) {
	d.Destination(name).Success()
	d.o.Observer.Resting(name, 0)
	d.Kick()
}

// States returns the backoff of every destination this process knows,
// by name.
func (d *Deliverer) States() []State {
	d.mu.Lock()
	out := make([]State, 0, len(d.dests))
	for _, ds := range d.dests {
		out = append(out, ds.State())
	}
	d.mu.Unlock()
	slices.SortFunc(out, func(a, b State) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// dispatch starts a loop for every destination with a row due, none
// running and not resting. It asks the store only for due destinations (an
// index read), so a long delivery history costs nothing here.
func (d *Deliverer) dispatch(ctx context.Context) {
	now := d.o.Now()
	names, err := d.outbox.DueDestinations(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("due destinations", "err", err)
		}
		return
	}
	for _, name := range names {
		ds := d.Destination(name)
		if ds.start(now) {
			d.spawn(ctx, ds)
		}
	}
}

// result classifies one attempt for its destination's loop.
type result int

const (
	delivered       result = iota
	failedRetry            // the peer or the link failed: the destination rests
	failedPermanent        // this envelope was refused (dead-lettered); the peer is fine
	skipped                // the row changed before it was sent: nothing sent
)

type report struct {
	result     result
	retryAfter time.Duration
	reason     string // label of a retried failure
	// resend, when set, are rows still claimed whose request the link
	// broke under: the loop sends them again in a free slot once due.
	resend *chunk
	// partial: the request carried fewer rows than a batch (set by the
	// loop, which counts such requests in flight).
	partial bool
	// freed: the request was answered (it is no longer in flight); done:
	// it is the request's last report, with its result. A request whose
	// every envelope was delivered reports its answer as soon as the
	// receipts are verified (freed, not done), before they are recorded,
	// and its result once they are (done, not freed); any other sends one
	// report, both.
	freed, done bool
}

// chunk is the rows of one request, as claimed, or as prepared and sent
// when the link broke under them: then they go again as they are, not
// prepared again, so that the peer, if it stored them, finds the same
// bytes under the same jti (a duplicate, with its receipt).
type chunk struct {
	items []store.OutboxItem
	// breaks is how many times in a row the link broke under them, and
	// progress the deliveries of the loop when they were last sent.
	breaks   int
	progress int64
	due      time.Time // sent again from then (FLX-DLV-004's wait)
}

// maxBreaks is how many times in a row rows are sent again by their loop
// after the link broke under them (the client having already sent them
// once more at once, on a new connection: FLX-DLV-004), each time after
// the wait of a failed attempt, without the destination resting; then,
// and sooner when nothing was delivered since they were last sent (the
// link, or the peer, breaks every connection), their failure counts as
// any other (backoff for them, the destination rests). So a link cut now
// and then, that delivers between the cuts, holds up only what was under
// way on the connection cut, for a second or so, and the rest flows on.
const maxBreaks = 3

// loop keeps up to Workers requests to ds in flight, claiming more as
// requests are answered or rows are queued (Kick), until nothing is due and
// nothing is in flight. A row queued while no request of less than a
// batch is in flight is sent at once; rows queued while some are
// accumulate (as Nagle's algorithm does) and go together, in batches of up
// to BatchSize, when a batch's worth was queued, or when fewer than two
// requests of less than a batch are left in flight (one answered), or,
// while only one is in flight, when Linger has passed since the first of
// them was queued. A request is answered once its receipts are verified:
// what waits for an answer goes then, and its receipts are recorded while
// the next claim goes (which cannot take the next rows of their cases,
// per-case order: the claim after the recording takes them, made with the
// next answer or kick, or once nothing is in flight or recording); it
// keeps its place among the Workers until they are recorded. So the
// answers pace the requests (when they slow down,
// as on a loaded machine, batches grow and each envelope costs less;
// while two such requests are out, an answer sends only full batches of
// what accumulated, holding the rest back, or requests would stay as many
// as the window allows, each small and slow), a lone request holds back what follows it for at most
// Linger, and up to Workers × BatchSize envelopes can be in flight in
// full batches: the window a long link needs. A request the link broke under (a cut: the connection went,
// the peer may have stored what it carried) is sent again after the wait
// of a failed attempt, its rows still claimed, ahead of new claims, while
// the rest of the window flows on (maxBreaks). Any other failure that is
// retried stops claiming and
// rests the whole destination, for at least the longest Retry-After the
// peer gave (FLX-DLV-006); deliveries under way finish. A destination
// that failed before gets one request until it answers it (a probe), then
// the whole window: a peer back from an outage, or a node restarted with
// its backoff saved, is not hit by its whole queue at once (FLX-DLV-005).
func (d *Deliverer) loop(ctx context.Context, ds *Destination) {
	workers := d.o.Workers
	window := func() int {
		if ds.Failures() > 0 {
			return 1
		}
		return workers
	}
	// Each request sends at most two reports (freed, then done).
	results := make(chan report, 2*workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	// partial counts the requests in flight that carry less than a
	// batch: rows that accumulate while kickBelow of them are in flight
	// wait for one of them to be answered, or for a batch's worth.
	inflight, partial, peerFailed := 0, 0, false
	// recording counts the requests answered (their slot free) whose
	// receipts are being recorded. The next row of their cases is
	// claimable once they are (per-case order), so recheck is set when
	// such a recording ends: the next claim takes those rows, and one is
	// made at the latest once nothing is left in flight or recording.
	recording, recheck := 0, false
	// held are claimed rows, fewer than a batch, kept back while
	// kickBelow requests of less than a batch are in flight: they go
	// with the next claim or when one of those is answered.
	var held []store.OutboxItem
	var retryAfter time.Duration // the longest the peer asked for
	var reason string
	// progress counts the requests delivered; pending are the rows the
	// link broke under, to send again first once due.
	var progress atomic.Int64
	var pending []chunk
	var resend *time.Timer
	var resendC <-chan time.Time
	defer func() {
		if resend != nil {
			resend.Stop()
		}
	}()
	record := func(r report) {
		if r.freed {
			inflight--
			if r.partial {
				partial--
			}
		}
		if !r.done {
			recording++
			return
		}
		if !r.freed {
			recording--
		}
		retryAfter = max(retryAfter, r.retryAfter)
		if r.resend != nil {
			pending = append(pending, *r.resend)
		}
		switch r.result {
		case failedRetry:
			peerFailed = true
			if reason == "" {
				reason = r.reason
			}
		case delivered:
			progress.Add(1)
			if ds.Success() {
				d.save(ctx, ds)
			}
			d.o.Observer.Resting(ds.Name(), 0)
		}
	}
	finish := func() {
		for inflight > 0 || recording > 0 {
			record(<-results)
		}
		// Rows held to be sent again go back to the queue, due when they
		// were to go (the destination's rest, if any, holds them longer).
		for _, ch := range pending {
			d.release(context.WithoutCancel(ctx), ch, "transport: the link broke under the request")
		}
		// Rows held back were never sent: they go back as they were
		// before their claim, which counts no attempt.
		d.unclaim(context.WithoutCancel(ctx), held)
		held = nil
		if peerFailed {
			until := ds.Failure(d.o.Now(), retryAfter, reason)
			d.save(ctx, ds)
			d.o.Observer.Resting(ds.Name(), until.Sub(d.o.Now()))
		}
	}
	send := func(ch chunk) {
		ch.progress = progress.Load()
		inflight++
		part := len(ch.items) < d.batchSize()
		if part {
			partial++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A delivery under way finishes even when the node stops.
			// A receipt whose recording fails is tried again until
			// the node stops (stopping). It reports its answer once
			// the receipts are verified (answered), before they are
			// recorded: the next claim need not wait for that write.
			freed := false
			answered := func() {
				freed = true
				results <- report{freed: true, partial: part}
			}
			r := d.deliverAll(context.WithValue(context.WithoutCancel(ctx), stoppingKey{}, ctx.Done()), ch, &progress, answered)
			r.partial, r.freed, r.done = part, !freed, true
			results <- r
		}()
	}
	claim := true // at start: claim what is due
	// ahead: the claim to make is made ahead, for rows that are to wait
	// (for Linger or an answer) before they go: what it takes is held
	// (but full batches), so that they go, when they may, without a
	// claim's round trip (with its WAL flush) between that moment and
	// the request.
	ahead := false
	// kicks counts the kicks since the last claim (each is at least one
	// row queued); linger fires Linger after the first of them.
	kicks := 0
	var linger *time.Timer
	var lingerC <-chan time.Time
	defer func() {
		if linger != nil {
			linger.Stop()
		}
	}()
	for {
		if peerFailed || ctx.Err() != nil {
			finish()
			return
		}
		// A request whose receipts are being recorded keeps its place
		// in the window (not among the requests of less than a batch):
		// a slow database holds back new requests as before.
		free := window() - inflight - recording
		// What the link broke under goes first once due: its rows are the
		// heads of their cases, and still claimed.
		now := d.o.Now()
		var next time.Time // when the first not yet due is (one due goes in the next free slot)
		pending = slices.DeleteFunc(pending, func(ch chunk) bool {
			switch {
			case ch.due.After(now):
				if next.IsZero() || ch.due.Before(next) {
					next = ch.due
				}
			case free > 0:
				send(ch)
				free--
				return true
			}
			return false
		})
		resendC = nil
		if !next.IsZero() {
			wait := max(next.Sub(now), time.Millisecond)
			if resend == nil {
				resend = time.NewTimer(wait)
			} else {
				resend.Reset(wait)
			}
			resendC = resend.C
		}
		if recheck && inflight == 0 && recording == 0 {
			// Receipts recorded after the last claim began, and no
			// answer or recording is to come that would claim: claim
			// what they made claimable (the next rows of their cases).
			claim = true
		}
		if len(held) > 0 && free > 0 && partial < kickBelow && !claim && lingerC == nil {
			send(chunk{items: held})
			held = nil
			free--
		}
		if free > 0 && claim {
			gen := ds.claimBegins() // rows queued from now on wake the loop again
			kicks = 0
			if !ahead {
				lingerC = nil // what it takes goes now: the linger is over
			}
			recheck = false // this claim sees every receipt recorded so far
			batch := d.batchSize()
			want := free*batch - len(held)
			// Not cancelled at once when the node stops: a claim made,
			// and answered, is known here (a claim cancelled half way
			// could count an attempt for rows this loop never hears of,
			// in flight until their lease ends); what it took then goes
			// back, unsent and uncounted. A database that does not
			// answer delays the stop by at most stopGrace.
			cctx, cdone := afterStop(ctx, d.stopGrace())
			claimAt := d.o.Now()
			items, err := d.outbox.ClaimDue(cctx, store.ClaimRequest{
				Worker: d.o.Instance, Destination: ds.Name(), Limit: want, Lease: d.o.Lease,
			})
			cdone()
			if err == nil {
				d.claimed(ds.Name(), len(items), d.o.Now().Sub(claimAt))
				ds.claimDone(gen, items, len(items) < want)
			}
			if err != nil {
				d.log.Error("claim outbox", "destination", ds.Name(), "err", err)
			}
			if ctx.Err() != nil {
				held = append(held, items...)
				finish()
				return
			}
			// Claimed rows are the heads of their cases (the claim keeps
			// per-case order: a case's next row is claimable only once
			// this one is delivered or given up), so no two rows of one
			// case are ever in flight, in one request or in two.
			// The rows held back go first (claimed earlier); a last
			// chunk of less than a batch is held back in turn while
			// kickBelow such requests are in flight.
			rows := slices.Concat(held, items)
			held = nil
			for start := 0; start < len(rows); start += batch {
				ch := rows[start:min(start+batch, len(rows))]
				if len(ch) < batch && (ahead || partial >= kickBelow) && err == nil {
					held = ch
					break
				}
				send(chunk{items: ch})
			}
			if (inflight == 0 && recording == 0 && len(items) == 0 && len(pending) == 0 && len(held) == 0) || err != nil {
				finish()
				return
			}
			// A full claim may have left more due: claim again when a
			// slot frees. A short one took everything due: wait for a
			// result or a kick.
			claim, ahead = len(items) == want, false
			if claim && inflight+recording < window() {
				continue
			}
		}
		select {
		case r := <-results:
			record(r)
			// A slot is free, and the case's next row may be due: claim,
			// unless this answered a request of less than a batch and
			// kickBelow such requests are still in flight (a batch's
			// worth queued set claim already). What a claim takes that
			// does not fill a batch is then held back (held). Otherwise
			// each answer would send what accumulated meanwhile, keeping
			// as many requests in flight as the window allows however
			// few rows each carries: a peer slowed down once (a
			// checkpoint, a pause) would then be sent Workers small
			// requests at a time for good, each answered later for
			// sharing it with the others. The answer to a full batch
			// claims, so that a backlog keeps the window full of them.
			again := partial < kickBelow || !r.partial
			if again && r.freed && len(held) > 0 {
				// Rows held ahead go with this answer (or the claim
				// it makes), not after the rest of Linger.
				lingerC = nil
			}
			switch {
			case !r.done:
				// Answered, its receipts being recorded: the next
				// rows of their cases are not claimable yet, so the
				// claim now is for rows queued since the last one
				// (a kick); the recording's end sets recheck.
				select {
				case <-ds.wakeC():
					if ds.fresh() {
						kicks++
					}
				default:
				}
				claim = claim || (again && kicks > 0)
				ahead = false
			case r.freed:
				// Answered and recorded at once (a failure among
				// its rows, or a row not sent).
				claim, ahead = claim || again, false
			default:
				// Its receipts recorded: the next rows of their cases
				// go with the next claim, made with the next answer
				// or kick, or once nothing is in flight or recording.
				recheck = true
			}
		case <-ds.wakeC():
			// Rows were queued: sent at once if the link is idle,
			// otherwise with the next answer or after Linger. Unless
			// the claim made since took them all (a stale kick).
			if !ds.fresh() {
				continue
			}
			kicks++
			switch {
			case d.o.Linger < 0:
				claim = claim || partial < kickBelow
			case partial == 0 || kicks >= d.batchSize():
				claim = true
			case partial < kickBelow && lingerC == nil:
				if linger == nil {
					linger = time.NewTimer(d.o.Linger)
				} else {
					linger.Reset(d.o.Linger)
				}
				lingerC = linger.C
			}
			if !claim && len(held) == 0 {
				// They wait (Linger, an answer): claimed now, held,
				// they go then without a claim first. One claim
				// ahead at a time: rows queued after it are claimed
				// when they go, with these, as before.
				claim, ahead = true, true
			}
		case <-lingerC:
			lingerC = nil
			// Rows held ahead, and nothing queued since: they go
			// as they are.
			claim = claim || kicks > 0 || len(held) == 0
		case <-resendC: // the next loop sends what is due
		case <-ctx.Done():
		}
	}
}

// kickBelow is, without Linger, how many requests in flight let a row
// just queued go at once in a request of its own; with more in flight it
// waits for the next answer and goes with what accumulated (two: one
// request can be answered while the next one carries what came
// meanwhile).
const kickBelow = 2

// stopClaimGrace bounds how long a claim under way when the node stops
// may still take (stopGrace).
const stopClaimGrace = 5 * time.Second

// stopGrace is how long a claim under way may go on once the node stops:
// stopClaimGrace, or the lease if shorter (past the lease, what the claim
// took is claimable again anyway, its attempt counted).
func (d *Deliverer) stopGrace() time.Duration { return min(stopClaimGrace, d.o.Lease) }

// afterStop is ctx without its cancellation, cancelled grace after ctx is
// done: for a call whose answer matters after a stop, bounded. done
// releases it.
func afterStop(ctx context.Context, grace time.Duration) (_ context.Context, done func()) {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-c.Done():
		}
	})
	return c, func() { stop(); cancel() }
}

// batchSize is the most rows one request carries.
func (d *Deliverer) batchSize() int {
	if _, ok := d.sender.(BatchSender); ok {
		return d.o.BatchSize
	}
	return 1
}

// deliverAll makes one attempt of claimed rows, in one request when there
// are several, and records each row's result; the report is the worst of
// them (a retried failure rests the destination). When every row sent was
// delivered and nothing else is to be recorded, it calls answered once the
// receipts are verified, before it records them.
func (d *Deliverer) deliverAll(ctx context.Context, ch chunk, progress *atomic.Int64, answered func()) report {
	items := ch.items
	bs, ok := d.sender.(BatchSender)
	if len(items) == 1 || !ok {
		if len(items) != 1 {
			answered = nil
		}
		var agg report
		var again []store.OutboxItem
		for i, it := range items {
			r, sent := d.deliver(ctx, it, ch, progress, answered)
			if sent != nil {
				again = append(again, *sent)
			}
			agg = worse(agg, r, i == 0)
		}
		if again != nil {
			agg.resend = d.again(ch, again)
		}
		return agg
	}
	start := d.o.Now()
	var agg report
	first := true
	add := func(r report) { agg = worse(agg, r, first); first = false }
	var send []store.OutboxItem
	for _, it := range items {
		if it.Envelope == nil {
			add(d.conclude(ctx, it, start, federation.Result{Outcome: federation.Permanent, Reason: "erased: the envelope's data was erased"}, ch.breaks))
			continue
		}
		if d.o.Prepare != nil && ch.breaks == 0 {
			prepared, err := d.o.Prepare(ctx, it)
			switch {
			case errors.Is(err, store.ErrConflict):
				d.log.Info("outbox row changed before its attempt; nothing sent", "outbox_id", it.ID, "to", it.Destination, "err", err)
				add(report{result: skipped})
				continue
			case err != nil:
				d.log.Error("prepare the attempt", "outbox_id", it.ID, "to", it.Destination, "err", err)
				add(d.conclude(ctx, it, start, federation.Result{Outcome: federation.Retry, Reason: "resign: " + err.Error()}, ch.breaks))
				continue
			}
			it = prepared
		}
		send = append(send, it)
	}
	if len(send) == 0 {
		return agg
	}
	envs := make([][]byte, len(send))
	for i, it := range send {
		envs[i] = it.Envelope
	}
	d.sent(send[0].Destination, len(envs))
	sentAt := d.o.Now()
	results := bs.SendBatch(ctx, send[0].Destination, envs)
	d.attempted(send, sentAt)
	if !slices.ContainsFunc(results, func(r federation.Result) bool { return !linkCut(r) }) && d.mayResend(ch, send[0], progress) {
		// The link broke under the request: the rows stay claimed and go
		// again after the wait.
		for range send {
			d.o.Observer.Failed(send[0].Destination, label(results[0].Reason))
		}
		add(report{result: skipped})
		agg.resend = d.again(ch, send)
		d.log.Info("the link broke under a batch; sending it again", "to", send[0].Destination,
			"envelopes", len(send), "breaks", ch.breaks+1, "in", agg.resend.due.Sub(d.o.Now()), "reason", results[0].Reason)
		return agg
	}
	// Deliveries are recorded together (one transaction when the outbox
	// can); every other result row by row.
	var done []store.DeliveredRow
	var rows []store.OutboxItem
	for i, it := range send {
		if results[i].Outcome == federation.Delivered {
			done = append(done, store.DeliveredRow{ID: it.ID, Receipt: results[i].Receipt.Raw()})
			rows = append(rows, it)
			continue
		}
		add(d.conclude(ctx, it, start, results[i], ch.breaks))
	}
	if len(done) > 0 {
		if len(done) == len(send) && first && answered != nil {
			answered() // only receipts are left to record
		}
		if err := d.record(ctx, send[0].LeaseUntil, func() error { return d.markDelivered(ctx, done) }); err != nil {
			d.log.Error("record deliveries", "destination", send[0].Destination, "rows", len(done), "err", err)
			add(report{result: failedRetry, reason: "store"})
			return agg
		}
		now := d.o.Now()
		for _, it := range rows {
			d.o.Observer.Delivered(it.Destination, it.Kind, now.Sub(it.CreatedAt), now.Sub(start))
		}
		d.log.Info("delivered a batch", "to", send[0].Destination, "envelopes", len(done))
		add(report{result: delivered})
	}
	return agg
}

// stoppingKey carries, in the context of a delivery under way (which is
// not cancelled when the node stops), the channel closed when it stops.
type stoppingKey struct{}

// record runs write, the recording of receipts, and when it fails (the
// database is briefly down, or failing over) tries again, waiting 50 ms
// and doubling up to 2 s, until it succeeds, the claim's lease ends (then
// another attempt may have been made: the row is sent again, and the
// receipt of that attempt recorded) or the node stops. So a receipt that
// arrives while the database is down is recorded when it returns, rather
// than dropped and the envelope sent again after the lease. A conflict
// (the row is no longer this attempt's) is not tried again.
func (d *Deliverer) record(ctx context.Context, leaseUntil time.Time, write func() error) error {
	err := write()
	if err == nil || errors.Is(err, store.ErrConflict) || leaseUntil.IsZero() {
		return err
	}
	stopping, _ := ctx.Value(stoppingKey{}).(<-chan struct{})
	left := time.NewTimer(leaseUntil.Sub(d.o.Now()))
	defer left.Stop()
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		d.log.Warn("recording receipts failed; trying again", "err", err, "in", wait)
		select {
		case <-time.After(wait):
		case <-left.C:
			return err
		case <-stopping:
			return err
		}
		if err = write(); err == nil || errors.Is(err, store.ErrConflict) {
			return err
		}
	}
}

// markDelivered records deliveries, in one transaction when it can.
func (d *Deliverer) markDelivered(ctx context.Context, ds []store.DeliveredRow) error {
	if br, ok := d.outbox.(BatchRecorder); ok {
		return br.MarkDeliveredAll(ctx, ds)
	}
	for _, x := range ds {
		if err := d.outbox.MarkDelivered(ctx, x.ID, x.Receipt); err != nil {
			return err
		}
	}
	return nil
}

// worse combines the reports of a batch: a retried failure wins (the
// destination rests), then a delivery (it is healthy), then a permanent
// refusal, then a skip; the longest Retry-After is kept.
func worse(a, b report, first bool) report {
	if first {
		return b
	}
	rank := map[result]int{failedRetry: 3, delivered: 2, failedPermanent: 1, skipped: 0}
	out := a
	if rank[b.result] > rank[a.result] {
		out.result = b.result
	}
	out.retryAfter = max(a.retryAfter, b.retryAfter)
	if out.reason == "" {
		out.reason = b.reason
	}
	return out
}

// deliver makes one attempt of a claimed row of ch (prepared first, unless
// it is sent again) and records its result, unless the link broke under
// it and it may go again (mayResend): then it returns the row as sent.
// When it was delivered it calls answered (unless nil) before recording
// the receipt.
func (d *Deliverer) deliver(ctx context.Context, it store.OutboxItem, ch chunk, progress *atomic.Int64, answered func()) (report, *store.OutboxItem) {
	start := d.o.Now()
	if it.Envelope == nil {
		return d.conclude(ctx, it, start, federation.Result{Outcome: federation.Permanent, Reason: "erased: the envelope's data was erased"}, ch.breaks), nil
	}
	if d.o.Prepare != nil && ch.breaks == 0 {
		prepared, err := d.o.Prepare(ctx, it)
		switch {
		case errors.Is(err, store.ErrConflict):
			d.log.Info("outbox row changed before its attempt; nothing sent", "outbox_id", it.ID, "to", it.Destination, "err", err)
			return report{result: skipped}, nil
		case err != nil:
			d.log.Error("prepare the attempt", "outbox_id", it.ID, "to", it.Destination, "err", err)
			return d.conclude(ctx, it, start, federation.Result{Outcome: federation.Retry, Reason: "resign: " + err.Error()}, ch.breaks), nil
		}
		it = prepared
	}
	d.sent(it.Destination, 1)
	sentAt := d.o.Now()
	res := d.sender.Send(ctx, it.Destination, it.Envelope)
	if _, ok := d.o.Observer.(AttemptObserver); ok {
		d.attempted([]store.OutboxItem{it}, sentAt)
	}
	if linkCut(res) && d.mayResend(ch, it, progress) {
		d.o.Observer.Failed(it.Destination, label(res.Reason))
		d.log.Info("the link broke under an envelope; sending it again", "outbox_id", it.ID, "to", it.Destination,
			"breaks", ch.breaks+1, "reason", res.Reason)
		return report{result: skipped}, &it
	}
	if res.Outcome == federation.Delivered && answered != nil {
		answered()
	}
	return d.conclude(ctx, it, start, res, ch.breaks), nil
}

// linkCut reports whether the link broke under an attempt that is retried.
func linkCut(r federation.Result) bool { return r.Outcome == federation.Retry && r.LinkCut }

// failedInRow is how many attempts of it failed in a row, counting the one
// that just failed, when the link broke breaks times under its claim
// before: each claim before this one failed (or it would not be claimed
// again), and so did each break.
func failedInRow(it store.OutboxItem, breaks int) int { return max(it.Attempts, 1) + breaks }

// again is ch's rows, sent as items, to go again after the wait of a failed
// attempt of the one that failed most in a row (FLX-DLV-004).
func (d *Deliverer) again(ch chunk, items []store.OutboxItem) *chunk {
	k := 0
	for _, it := range items {
		k = max(k, failedInRow(it, ch.breaks))
	}
	return &chunk{items: items, breaks: ch.breaks + 1, due: d.o.Now().Add(d.o.Backoff.Wait(k, 0))}
}

// mayResend reports whether the rows of ch, sent as it (the first of
// them), whose request the link broke under, go again from their loop
// rather than failing (maxBreaks): it is their first break, or the loop
// delivered something since they were sent; and their claim's lease
// leaves time for the wait and another attempt.
func (d *Deliverer) mayResend(ch chunk, it store.OutboxItem, progress *atomic.Int64) bool {
	if ch.breaks >= maxBreaks || (ch.breaks > 0 && progress.Load() <= ch.progress) {
		return false
	}
	wait := d.o.Backoff.Max // the most the wait can be
	if k := failedInRow(it, ch.breaks); k < 32 {
		wait = min(wait, d.o.Backoff.Initial<<(k-1))
	}
	return it.LeaseUntil.IsZero() || it.LeaseUntil.Sub(d.o.Now().Add(wait)) > d.o.Lease/2
}

// release puts rows the link broke under, kept to be sent again, back in
// the queue, due when they were to go, with no failure recorded against
// the destination (when their loop ends first). They were sent: their
// attempt counts.
func (d *Deliverer) release(ctx context.Context, ch chunk, reason string) {
	for _, it := range ch.items {
		if err := d.outbox.MarkFailed(ctx, it.ID, it.Attempts, reason, ch.due); err != nil && !errors.Is(err, store.ErrConflict) {
			d.log.Error("release a claimed row", "outbox_id", it.ID, "err", err)
		}
	}
}

// unclaim puts claimed rows that were never sent back in the queue as
// they were before their claim (Outbox.Unclaim): no attempt is counted,
// and their next attempt and last error stay, so backoff, the operator's
// view and MaxAttempts see only attempts made.
func (d *Deliverer) unclaim(ctx context.Context, items []store.OutboxItem) {
	for _, it := range items {
		if err := d.outbox.Unclaim(ctx, it.ID, it.Attempts); err != nil && !errors.Is(err, store.ErrConflict) {
			d.log.Error("put back a claimed row not sent", "outbox_id", it.ID, "err", err)
		}
	}
}

// conclude records the result of an attempt on the row, whose claim the
// link broke under breaks times before.
func (d *Deliverer) conclude(ctx context.Context, it store.OutboxItem, start time.Time, res federation.Result, breaks int) report {
	if res.Outcome == federation.Delivered {
		if err := d.record(ctx, it.LeaseUntil, func() error { return d.outbox.MarkDelivered(ctx, it.ID, res.Receipt.Raw()) }); err != nil {
			d.log.Error("record delivery", "outbox_id", it.ID, "err", err)
			return report{result: failedRetry, reason: "store"}
		}
		now := d.o.Now()
		d.o.Observer.Delivered(it.Destination, it.Kind, now.Sub(it.CreatedAt), now.Sub(start))
		d.log.Info("delivered", "outbox_id", it.ID, "to", it.Destination, "kind", it.Kind, "attempts", it.Attempts)
		return report{result: delivered}
	}
	d.o.Observer.Failed(it.Destination, label(res.Reason))
	retry := res.Outcome == federation.Retry
	if !retry || (it.Attempts >= d.o.MaxAttempts && (d.o.Persistent == nil || !d.o.Persistent(it.Kind))) {
		if err := d.outbox.MarkDead(ctx, it.ID, it.Attempts, res.Reason); err != nil && !errors.Is(err, store.ErrConflict) {
			d.log.Error("dead-letter", "outbox_id", it.ID, "err", err)
		}
		d.o.Observer.Dead(it.Destination)
		d.log.Warn("dead-lettered", "outbox_id", it.ID, "to", it.Destination, "kind", it.Kind, "attempts", it.Attempts, "reason", res.Reason)
		if retry {
			return report{result: failedRetry, reason: label(res.Reason)} // gave up after MaxAttempts: the peer still fails
		}
		return report{result: failedPermanent}
	}
	next := d.o.Now().Add(d.o.Backoff.Wait(failedInRow(it, breaks), res.RetryAfter))
	if err := d.outbox.MarkFailed(ctx, it.ID, it.Attempts, res.Reason, next); err != nil && !errors.Is(err, store.ErrConflict) {
		d.log.Error("record failure", "outbox_id", it.ID, "err", err)
	}
	d.log.Info("delivery failed; will retry", "outbox_id", it.ID, "to", it.Destination, "attempts", it.Attempts, "next", next, "reason", res.Reason)
	return report{result: failedRetry, retryAfter: res.RetryAfter, reason: label(res.Reason)}
}

// label keeps metric label values few: the part of a reason before ':'.
func label(reason string) string {
	if i := strings.IndexByte(reason, ':'); i > 0 {
		return reason[:i]
	}
	return reason
}
