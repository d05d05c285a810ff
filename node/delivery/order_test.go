package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/backoff"
	"github.com/familylinks/flx/node/internal/dbtest"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/store"
)

// TestCaseOrderUnderFaults hammers per-case order (SPEC.md FLX-DLV-008,
// FLX-WDR-007) with the real store's claims on both databases: two
// Deliverers (replicas) share one outbox and deliver, one alone and one
// in batches, the creates, updates and withdrawals of many cases queued at
// once, to a real mutual-TLS peer that answers at random: a receipt at
// once or late, 503, a reset stream, or no answer before the sender's
// request timeout. A replica also stalls now and then before recording a
// receipt, past its lease, so the other one claims the row again.
// Withdrawals erase their case in the transaction that queues them, as
// the node does, cancelling its rows queued or in flight; for every second
// one the peer holds the last envelope before it when it first arrives,
// and that row's result is recorded only once the withdrawal is queued,
// so that each of those is queued while an earlier row of its case is in
// flight; the peer answers it once a claim made since passed the
// withdrawal over (or the withdrawal arrived, or the sender gave up). (A
// claim that lets a cancelled row still in flight stop blocking its case
// fails this test: on PostgreSQL in each run tried, on SQLite seldom.) The
// faults are driven by events, not by timing: each kind of failed answer
// is also forced once, and the checks that every fault was reached hold on
// a loaded machine.
//
// Whenever an envelope of a case reaches the peer, every earlier envelope
// of that case must have been receipted to the sender, or be one that is
// not in flight there (no attempt under way), is never attempted again
// and ends cancelled.
func TestCaseOrderUnderFaults(t *testing.T) {
	t.Parallel()
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			testCaseOrderUnderFaults(t, d)
		})
	}
}

// orderEnv is one envelope the test queued: its case and place in it.
type orderEnv struct {
	jti, caseID string
	seq         int64
	kind        federation.Kind
	raw         []byte
}

// orderTracker sees every attempt from the sender's side (trackedSender)
// and every arrival at the peer, and records what breaks per-case order.
type orderTracker struct {
	mu        sync.Mutex
	envs      map[string]*orderEnv   // by jti
	cases     map[string][]*orderEnv // by case, in seq order
	underway  map[string]int         // jti: attempts under way at the sender
	receipted map[string]bool        // jti: the sender got its receipt
	overtaken map[string]string      // jti: a later envelope of its case that arrived before its receipt
	arrivals  int
	broken    []string
	ended     map[string]chan struct{} // jti: closed when its latest attempt at the sender ends (attempt)
}

func newOrderTracker() *orderTracker {
	return &orderTracker{envs: map[string]*orderEnv{}, cases: map[string][]*orderEnv{}, underway: map[string]int{},
		receipted: map[string]bool{}, overtaken: map[string]string{}, ended: map[string]chan struct{}{}}
}

func (tr *orderTracker) add(e *orderEnv) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.envs[e.jti] = e
	tr.cases[e.caseID] = append(tr.cases[e.caseID], e)
}

func (tr *orderTracker) jti(raw []byte) string {
	c, err := federation.ClaimsOf(raw)
	if err != nil {
		return ""
	}
	return c.JTI
}

func (tr *orderTracker) breaks(format string, args ...any) {
	tr.broken = append(tr.broken, fmt.Sprintf(format, args...))
}

// attempt marks envelopes under way at the sender; done ends that, and
// closes end.
func (tr *orderTracker) attempt(envs [][]byte) (jtis []string, end chan struct{}) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make([]string, len(envs))
	end = make(chan struct{})
	for i, raw := range envs {
		j := tr.jti(raw)
		out[i] = j
		tr.underway[j]++
		tr.ended[j] = end
		if later, ok := tr.overtaken[j]; ok {
			e := tr.envs[j]
			tr.breaks("%s %s (seq %d) attempted after %s arrived", e.caseID, e.kind, e.seq, tr.envs[later].kind)
		}
	}
	return out, end
}

func (tr *orderTracker) done(jtis []string, rs []federation.Result, end chan struct{}) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	close(end)
	for i, j := range jtis {
		tr.underway[j]--
		if rs[i].Outcome == federation.Delivered {
			tr.receipted[j] = true
		}
	}
}

// attemptEnd is closed when the sender's latest attempt of raw ends (its
// answer, or its request timeout).
func (tr *orderTracker) attemptEnd(raw []byte) <-chan struct{} {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.ended[tr.jti(raw)]
}

// holdIfUnderway takes h's hold for raw, which reached the peer, unless
// the sender already gave up on the attempt that carried it (a request
// that reached the peer after the sender's timeout: its failure may be
// recorded already). Under tr.mu, as done, so that the sender records
// the attempt's result only after a hold taken is seen (gate).
func (tr *orderTracker) holdIfUnderway(raw []byte, h *withdrawHold) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if end := tr.ended[tr.jti(raw)]; end != nil {
		select {
		case <-end:
			return false
		default:
		}
	}
	return h.take()
}

// arrived checks an envelope that reached the peer against the earlier
// envelopes of its case.
func (tr *orderTracker) arrived(raw []byte) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.arrivals++
	e := tr.envs[tr.jti(raw)]
	if e == nil {
		tr.breaks("an envelope the test never queued arrived")
		return
	}
	for _, x := range tr.cases[e.caseID] {
		if x.seq >= e.seq {
			break
		}
		if tr.receipted[x.jti] {
			continue
		}
		if tr.underway[x.jti] > 0 {
			tr.breaks("%s %s (seq %d) arrived while %s (seq %d) was in flight", e.caseID, e.kind, e.seq, x.kind, x.seq)
		}
		if _, ok := tr.overtaken[x.jti]; !ok {
			tr.overtaken[x.jti] = e.jti
		}
	}
}

// trackedSender is the federation client, seen by the tracker.
type trackedSender struct {
	c  *federation.Client
	tr *orderTracker
}

func (s trackedSender) Send(ctx context.Context, to string, envelope []byte) federation.Result {
	jtis, end := s.tr.attempt([][]byte{envelope})
	r := s.c.Send(ctx, to, envelope)
	s.tr.done(jtis, []federation.Result{r}, end)
	return r
}

func (s trackedSender) SendBatch(ctx context.Context, to string, envelopes [][]byte) []federation.Result {
	jtis, end := s.tr.attempt(envelopes)
	rs := s.c.SendBatch(ctx, to, envelopes)
	s.tr.done(jtis, rs, end)
	return rs
}

// stallingOutbox is a replica's view of the store that sometimes stalls
// before recording a receipt, past its lease, and records the result of
// a row the peer holds for its case's withdrawal (gate) only once that
// withdrawal is queued.
type stallingOutbox struct {
	store.Store
	stall  func() bool
	wait   time.Duration
	stalls *atomic.Int32
	gate   func(ids ...int64)
	claims func(r store.ClaimRequest, claim func() ([]store.OutboxItem, error)) ([]store.OutboxItem, error)
}

func (o stallingOutbox) ClaimDue(ctx context.Context, r store.ClaimRequest) ([]store.OutboxItem, error) {
	return o.claims(r, func() ([]store.OutboxItem, error) { return o.Store.ClaimDue(ctx, r) })
}

func (o stallingOutbox) pause() {
	if o.stall() {
		o.stalls.Add(1)
		time.Sleep(o.wait)
	}
}

func (o stallingOutbox) MarkDelivered(ctx context.Context, id int64, receipt []byte) error {
	o.gate(id)
	o.pause()
	return o.Store.MarkDelivered(ctx, id, receipt)
}

func (o stallingOutbox) MarkDeliveredAll(ctx context.Context, ds []store.DeliveredRow) error {
	for _, d := range ds {
		o.gate(d.ID)
	}
	o.pause()
	return o.Store.MarkDeliveredAll(ctx, ds)
}

func (o stallingOutbox) MarkFailed(ctx context.Context, id int64, attempt int, reason string, next time.Time) error {
	o.gate(id)
	return o.Store.MarkFailed(ctx, id, attempt, reason, next)
}

func (o stallingOutbox) MarkDead(ctx context.Context, id int64, attempt int, reason string) error {
	o.gate(id)
	return o.Store.MarkDead(ctx, id, attempt, reason)
}

func (o stallingOutbox) Unclaim(ctx context.Context, id int64, attempt int) error {
	o.gate(id)
	return o.Store.Unclaim(ctx, id, attempt)
}

// withdrawHold is the last row of a case before its withdrawal: the peer
// holds it when it first arrives (arrived), until the withdrawal is
// queued (queued), and then until a claim made since returned without
// the withdrawal (passed) or the withdrawal arrived (came: a claim let it
// overtake the row in flight), or else until the sender gives up; its
// result is recorded only once the withdrawal is queued.
type withdrawHold struct {
	withdrawal    string // its jti
	first         sync.Once
	arrived       chan struct{}
	queued        chan struct{}
	closed        sync.Once
	mark          atomic.Int64 // the claims started when the withdrawal was queued (0: not yet)
	passed, came  chan struct{}
	pass, arrival sync.Once
}

// take reports whether this is the row's first arrival at the peer.
func (h *withdrawHold) take() bool {
	took := false
	h.first.Do(func() { took = true; close(h.arrived) })
	return took
}

func (h *withdrawHold) release() { h.closed.Do(func() { close(h.queued) }) }

func testCaseOrderUnderFaults(t *testing.T, dialect string) {
	ctx := t.Context()
	const (
		cases      = 40
		timeout    = 600 * time.Millisecond
		lease      = 2 * time.Second
		withdrawOf = 2 // every second case is withdrawn
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	var rmu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 1))
	roll := func() float64 { rmu.Lock(); defer rmu.Unlock(); return rng.Float64() }

	open := func(dsn string) store.Store {
		st, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	var stores [2]store.Store
	if dialect == "postgres" {
		dsn := dbtest.PostgresDSN(t)
		stores[0], stores[1] = open(dsn), open(dsn)
	} else {
		stores[0] = open("sqlite:" + dbtest.SQLitePath(t))
		stores[1] = stores[0]
	}

	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	p := newPeer(t, f, "XB-RC")
	f.Sign(t)
	tr := newOrderTracker()
	var counts struct{ late, unavailable, reset, silent atomic.Int32 }

	// Every envelope signed up front, so that queueing is quick.
	var all [][]*orderEnv
	for c := range cases {
		caseID := fmt.Sprintf("XA-RC:ORDER-%d", c)
		kinds := []federation.Kind{federation.KindCaseCreate}
		for range 1 + c%3 {
			kinds = append(kinds, federation.KindCaseUpdate)
		}
		if c%withdrawOf == 0 {
			kinds = append(kinds, federation.KindCaseWithdraw)
		}
		var envs []*orderEnv
		for i, k := range kinds {
			body, _ := json.Marshal(map[string]any{"case_id": caseID, "n": i})
			raw := f.Envelope(t, "XA-RC", "XB-RC", k, caseID, body)
			envs = append(envs, &orderEnv{jti: tr.jti(raw), caseID: caseID, seq: int64(i + 1), kind: k, raw: raw})
		}
		all = append(all, envs)
	}
	// holds: the row before every second withdrawal, by jti (and by
	// outbox id once queued: holdOf); the other withdrawals are queued at
	// once, and mostly cancel rows still queued.
	holds := map[string]*withdrawHold{}
	withdrawing := map[string]*withdrawHold{} // by the withdrawal's jti
	for c, envs := range all {
		if last := envs[len(envs)-1]; last.kind == federation.KindCaseWithdraw && c%(2*withdrawOf) == 0 {
			h := &withdrawHold{withdrawal: last.jti, arrived: make(chan struct{}), queued: make(chan struct{}),
				passed: make(chan struct{}), came: make(chan struct{})}
			holds[envs[len(envs)-2].jti] = h
			withdrawing[last.jti] = h
		}
	}
	// claimStarts counts the claims started; a claim started after a
	// withdrawal was queued that returns without it lets its hold go.
	var claimStarts atomic.Int64
	claims := func(r store.ClaimRequest, claim func() ([]store.OutboxItem, error)) ([]store.OutboxItem, error) {
		start := claimStarts.Add(1)
		items, err := claim()
		if err != nil {
			return items, err
		}
		for _, h := range holds {
			if m := h.mark.Load(); m == 0 || start <= m || slices.ContainsFunc(items, func(it store.OutboxItem) bool { return it.JTI == h.withdrawal }) {
				continue
			}
			h.pass.Do(func() { close(h.passed) })
		}
		return items, nil
	}
	var holdOf sync.Map // outbox id -> *withdrawHold
	gate := func(ids ...int64) {
		for _, id := range ids {
			h, ok := holdOf.Load(id)
			if !ok {
				continue
			}
			select {
			case <-h.(*withdrawHold).arrived: // the peer got it: its result waits for the withdrawal
				<-h.(*withdrawHold).queued
			default:
			}
		}
	}
	// Each kind of failed answer is also forced once, on the first
	// arrival of the create of a case never withdrawn.
	var fmu sync.Mutex
	forced := map[string]float64{all[1][0].jti: 0.01, all[3][0].jti: 0.04, all[5][0].jti: 0.06}
	p.set(func(w http.ResponseWriter, raw []byte) bool {
		tr.arrived(raw)
		j := tr.jti(raw)
		if h := withdrawing[j]; h != nil {
			h.arrival.Do(func() { close(h.came) })
		}
		if h := holds[j]; h != nil && tr.holdIfUnderway(raw, h) {
			// Held while its case's withdrawal is queued and claims
			// are made (withdrawHold), or until the sender gives up;
			// its result is recorded only once the withdrawal is queued
			// (gate), which cancels it in flight.
			counts.late.Add(1)
			end := tr.attemptEnd(raw)
			select {
			case <-h.queued:
			case <-end:
			}
			select {
			case <-h.passed:
			case <-h.came:
			case <-end:
			}
			return false // a receipt
		}
		x := roll()
		fmu.Lock()
		if v, ok := forced[j]; ok {
			x = v
			delete(forced, j)
		}
		fmu.Unlock()
		switch {
		case x < 0.03:
			counts.unavailable.Add(1)
			problem.Write(w, problem.New(problem.Unavailable, "busy"))
			return true
		case x < 0.05:
			counts.reset.Add(1)
			panic(http.ErrAbortHandler)
		case x < 0.07:
			// No answer before the sender's request timeout: answered
			// once its attempt ended.
			counts.silent.Add(1)
			if end := tr.attemptEnd(raw); end != nil {
				<-end
			}
			problem.Write(w, problem.New(problem.Unavailable, "too late"))
			return true
		case x < 0.30:
			counts.late.Add(1)
			time.Sleep(time.Duration(roll() * float64(timeout) / 4))
		}
		return false // a receipt
	})
	p.start(t)

	xa := f.Member(t, "XA-RC")
	var stalls atomic.Int32
	var ds [2]*Deliverer
	for i := range ds {
		client := &federation.Client{Self: "XA-RC", Cert: xa.TLS, Manifest: federation.StaticManifest(f.Manifest), Timeout: timeout}
		t.Cleanup(client.CloseIdleConnections)
		out := stallingOutbox{Store: stores[i], stall: func() bool { return roll() < 0.03 }, wait: lease + 300*time.Millisecond, stalls: &stalls,
			gate: gate, claims: claims}
		ds[i] = New(out, trackedSender{client, tr}, Options{
			Instance: fmt.Sprintf("XA-RC/%d", i), Workers: 16, BatchSize: 1 + 3*i, MaxAttempts: 1000, Lease: lease,
			Backoff: backoff.Policy{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}, PollInterval: 50 * time.Millisecond,
		})
	}
	runCtx, stop := context.WithCancel(context.Background())
	var running sync.WaitGroup
	for _, d := range ds {
		running.Go(func() { d.Run(runCtx) })
	}
	t.Cleanup(func() { stop(); running.Wait() })
	// Run before the above: whatever waits on a hold goes on when the
	// test ends early.
	t.Cleanup(func() {
		for _, h := range holds {
			h.release()
		}
	})

	// Each case queued by its own goroutine, row by row with short pauses,
	// a withdrawal as the node queues one, once the row before it is held
	// by the peer.
	errs := make(chan error, cases)
	var whileHeld, heldSeen atomic.Int32 // of all withdrawals, of those with a hold
	var queueing sync.WaitGroup
	for c, envs := range all {
		queueing.Go(func() {
			st, d := stores[c%2], ds[c%2]
			for i, e := range envs {
				withdraw := e.kind == federation.KindCaseWithdraw
				var h *withdrawHold // the hold of this withdrawal, if any
				if withdraw {
					h = holds[envs[i-1].jti]
				}
				if h != nil {
					defer h.release()
					select {
					case <-h.arrived:
					case <-time.After(3 * time.Minute): // a bound for a broken deliverer, not a timing assumption
						rs, _ := st.ListOutbox(ctx, store.OutboxFilter{CaseID: e.caseID})
						errs <- fmt.Errorf("%s: the row before the withdrawal never reached the peer: %v", e.caseID, pendingRows(rs))
						return
					}
				} else {
					time.Sleep(time.Duration(roll() * float64(30*time.Millisecond)))
				}
				tr.add(e)
				in := store.NewOutboxItem{Destination: "XB-RC", CaseID: e.caseID, Kind: string(e.kind), JTI: e.jti, Envelope: e.raw}
				held := false
				err := st.Tx(ctx, func(tx store.Tx) error {
					if withdraw {
						// Seen, not assumed: a row of the case in flight as
						// the erasure cancels it.
						inFlight, err := tx.ListOutbox(ctx, store.OutboxFilter{CaseID: e.caseID, State: store.InFlight})
						if err != nil {
							return err
						}
						held = len(inFlight) > 0
						if _, err := tx.EraseCase(ctx, e.caseID, store.Erasure{Reason: "consent_withdrawn",
							KeepPendingKinds: []string{string(federation.KindCaseWithdraw)}}); err != nil {
							return err
						}
					}
					it, err := tx.Enqueue(ctx, in)
					if err == nil && it.Seq != e.seq {
						err = fmt.Errorf("%s %s: seq %d, want %d", e.caseID, e.kind, it.Seq, e.seq)
					}
					if err == nil && holds[e.jti] != nil {
						holdOf.Store(it.ID, holds[e.jti])
					}
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				if held {
					whileHeld.Add(1)
					if h != nil {
						heldSeen.Add(1)
					}
				}
				if h != nil {
					h.mark.Store(max(claimStarts.Load(), 1))
					h.release()
				}
				d.KickFor("XB-RC")
			}
		})
	}
	queueing.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var rows []store.OutboxItem
	settled := func() bool {
		rows = rows[:0]
		var after int64
		for {
			got, err := stores[0].ListOutbox(ctx, store.OutboxFilter{AfterID: after, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, got...)
			if len(got) < 1000 {
				break
			}
			after = got[len(got)-1].ID
		}
		for _, r := range rows {
			if r.State != store.Delivered && r.State != store.Cancelled {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(60 * time.Second); !settled(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after a minute, rows still pending: %+v", pendingRows(rows))
		}
	}
	stop()
	running.Wait()

	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, b := range tr.broken {
		t.Error(b)
	}
	withdrawn := map[string]bool{}
	cancelled, tried := 0, 0
	for _, r := range rows {
		if r.Kind == string(federation.KindCaseWithdraw) {
			withdrawn[r.CaseID] = true
		}
		if r.State == store.Cancelled {
			cancelled++
			if r.Attempts > 0 {
				tried++
			}
		}
	}
	for _, r := range rows {
		switch {
		case r.State == store.Cancelled && !withdrawn[r.CaseID]:
			t.Errorf("%s %s cancelled, but its case was not withdrawn", r.CaseID, r.Kind)
		case r.State != store.Cancelled && tr.overtaken[r.JTI] != "":
			t.Errorf("%s %s (seq %d) is %s, but a later envelope of its case arrived before its receipt", r.CaseID, r.Kind, r.Seq, r.State)
		case r.Kind == string(federation.KindCaseWithdraw) && r.State != store.Delivered:
			t.Errorf("the withdrawal of %s is %s", r.CaseID, r.State)
		}
	}
	t.Logf("%d withdrawals queued while a row of their case was in flight (%d of the %d with a hold); %d rows: %d cancelled (%d after an attempt); %d arrivals in %d requests, batches %v; peer answers: %d late, %d 503, %d reset, %d silent; %d stalls past the lease",
		whileHeld.Load(), heldSeen.Load(), len(holds), len(rows), cancelled, tried, tr.arrivals, p.calls.Load(), batchSizes(p), counts.late.Load(), counts.unavailable.Load(),
		counts.reset.Load(), counts.silent.Load(), stalls.Load())
	if counts.late.Load() == 0 || counts.unavailable.Load() == 0 || counts.reset.Load() == 0 || counts.silent.Load() == 0 ||
		int(heldSeen.Load()) != len(holds) || tr.arrivals < len(rows)/2 {
		t.Errorf("the faults under test were not all reached (withdrawals with a hold queued while a row of their case was in flight: %d of %d)",
			heldSeen.Load(), len(holds))
	}
}

// batchSizes summarises the sizes of the batches the peer received.
func batchSizes(p *peer) map[int]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[int]int{}
	for _, n := range p.batches {
		out[n]++
	}
	return out
}

// pendingRows names the rows neither delivered nor cancelled.
func pendingRows(rows []store.OutboxItem) []string {
	var out []string
	for _, r := range rows {
		if r.State != store.Delivered && r.State != store.Cancelled {
			out = append(out, fmt.Sprintf("%s %s %s attempts %d %q", r.CaseID, r.Kind, r.State, r.Attempts, r.LastError))
		}
	}
	return out
}
