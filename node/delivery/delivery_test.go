package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/backoff"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/linksim"
	"github.com/familylinks/flx/node/store"
)

// clock is a test clock that only moves when told, or the real clock
// (real: for tests that run the Deliverer as the node does).
type clock struct {
	mu   sync.Mutex
	t    time.Time
	real bool
}

func (c *clock) Now() time.Time {
	if c.real {
		return time.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeOutbox keeps rows in memory with the claim rules delivery relies
// on: due rows (queued, next attempt reached) are claimed, only the head
// of each case (no earlier row of its case undelivered: per-case order,
// as the store's claim), each claim counts an attempt, and a row's result
// is recorded once.
type fakeOutbox struct {
	clock *clock
	mu    sync.Mutex
	rows  []*store.OutboxItem
}

func (o *fakeOutbox) add(it store.OutboxItem) {
	o.mu.Lock()
	defer o.mu.Unlock()
	it.ID = int64(len(o.rows) + 1)
	it.State, it.NextAttemptAt, it.CreatedAt = store.Queued, o.clock.Now(), o.clock.Now()
	o.rows = append(o.rows, &it)
}

func (o *fakeOutbox) get(id int64) store.OutboxItem {
	o.mu.Lock()
	defer o.mu.Unlock()
	return *o.rows[id-1]
}

func (o *fakeOutbox) DueDestinations(_ context.Context, now time.Time) ([]string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, r := range o.rows {
		if r.State == store.Queued && !r.NextAttemptAt.After(now) && !slices.Contains(out, r.Destination) {
			out = append(out, r.Destination)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (o *fakeOutbox) ClaimDue(_ context.Context, r store.ClaimRequest) ([]store.OutboxItem, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []store.OutboxItem
	undelivered := map[string]bool{} // cases with an earlier row not delivered
	for _, row := range o.rows {
		if len(out) == r.Limit {
			break
		}
		head := !undelivered[row.Destination+" "+row.CaseID]
		if row.State != store.Delivered {
			undelivered[row.Destination+" "+row.CaseID] = true
		}
		if row.Destination == r.Destination && row.State == store.Queued && !row.NextAttemptAt.After(o.clock.Now()) && head {
			row.State, row.Attempts, row.ClaimedBy = store.InFlight, row.Attempts+1, r.Worker
			row.LeaseUntil = o.clock.Now().Add(r.Lease)
			out = append(out, *row)
		}
	}
	return out, nil
}

func (o *fakeOutbox) set(id int64, attempt int, f func(*store.OutboxItem)) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	row := o.rows[id-1]
	if row.State != store.InFlight || (attempt > 0 && row.Attempts != attempt) {
		return fmt.Errorf("row %d is %s: %w", id, row.State, store.ErrConflict)
	}
	f(row)
	return nil
}

func (o *fakeOutbox) MarkDelivered(_ context.Context, id int64, receipt []byte) error {
	return o.set(id, 0, func(r *store.OutboxItem) { r.State, r.Receipt = store.Delivered, receipt })
}

func (o *fakeOutbox) MarkFailed(_ context.Context, id int64, attempt int, reason string, next time.Time) error {
	return o.set(id, attempt, func(r *store.OutboxItem) { r.State, r.LastError, r.NextAttemptAt = store.Queued, reason, next })
}

func (o *fakeOutbox) Unclaim(_ context.Context, id int64, attempt int) error {
	return o.set(id, attempt, func(r *store.OutboxItem) {
		r.State, r.Attempts, r.ClaimedBy, r.LeaseUntil = store.Queued, r.Attempts-1, "", time.Time{}
	})
}

func (o *fakeOutbox) MarkDead(_ context.Context, id int64, attempt int, reason string) error {
	return o.set(id, attempt, func(r *store.OutboxItem) { r.State, r.LastError = store.Dead, reason })
}

// peer is a destination's federation listener over real mTLS; answer
// decides each reply (nil: a valid receipt).
type peer struct {
	f        *fedtest.Federation
	id       string
	srv      *httptest.Server
	answer   atomic.Pointer[func(w http.ResponseWriter, raw []byte) bool]
	calls    atomic.Int32
	batches  []int // sizes of the batches received (under mu)
	mu       sync.Mutex
	inflight atomic.Int32
	most     atomic.Int32
	hold     atomic.Pointer[chan struct{}] // when set, each request waits for a value
	arrived  []string                      // jti of every envelope received, in order (under mu)
	// abort is how many requests to come are read, then broken off
	// without an answer (as a link cut after the body went out).
	abort atomic.Int32
	conns map[string]bool // remote address of every request (under mu)
	at    []time.Time     // when each request's body was read (under mu)
	from  []string        // remote address of each request read, in order (under mu)
	// accepted is every connection the peer accepted, by remote address,
	// and carrying how many requests arrived on each (under mu).
	accepted map[string]net.Conn
	carrying map[string]int
	closed   int // connections closed
}

// holdAll makes every request wait in the peer until the returned release
// is called (at the latest when the test ends).
func (p *peer) holdAll(t testing.TB) (release func()) {
	t.Helper()
	hold := make(chan struct{})
	p.hold.Store(&hold)
	released := false
	release = func() {
		if !released {
			released = true
			close(hold)
		}
	}
	t.Cleanup(release)
	return release
}

func newPeer(t testing.TB, f *fedtest.Federation, id string) *peer {
	t.Helper()
	p := &peer{f: f, id: id}
	m := f.Member(t, id)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.calls.Add(1)
		n := p.inflight.Add(1)
		defer p.inflight.Add(-1)
		for {
			old := p.most.Load()
			if n <= old || p.most.CompareAndSwap(old, n) {
				break
			}
		}
		p.mu.Lock()
		if p.carrying == nil {
			p.carrying = map[string]int{}
		}
		p.carrying[r.RemoteAddr]++
		p.mu.Unlock()
		if h := p.hold.Load(); h != nil {
			<-*h
		}
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			return // the link broke under the request
		}
		p.mu.Lock()
		if p.conns == nil {
			p.conns = map[string]bool{}
		}
		p.conns[r.RemoteAddr] = true
		p.at = append(p.at, time.Now())
		p.from = append(p.from, r.RemoteAddr)
		p.mu.Unlock()
		if p.abort.Add(-1) >= 0 {
			panic(http.ErrAbortHandler)
		}
		receipt := func(raw []byte) []byte {
			c, err := federation.ClaimsOf(raw)
			if err != nil {
				return nil
			}
			p.mu.Lock()
			p.arrived = append(p.arrived, c.JTI)
			p.mu.Unlock()
			rc := federation.ReceiptClaims{Issuer: id, Audience: c.Issuer, IssuedAt: time.Now(), ReceiptFor: c.JTI,
				SHA256: federation.ExpectReceipt(raw, c).SHA256, Status: federation.ReceiptAccepted}
			b, err := federation.SignReceipt(rc, m.Key)
			if err != nil {
				t.Error(err)
			}
			return b
		}
		if r.URL.Path == federation.BatchesPath {
			// Each envelope answered as alone: the answer set for it, or a receipt.
			envs, err := federation.ParseBatchRequest(raw, 1000)
			if err != nil {
				problem.Write(w, err)
				return
			}
			p.mu.Lock()
			p.batches = append(p.batches, len(envs))
			p.mu.Unlock()
			var ans federation.BatchAnswer
			for _, e := range envs {
				if a := p.answer.Load(); a != nil {
					rec := httptest.NewRecorder()
					if (*a)(rec, e) {
						pd, _ := problem.Parse(rec.Body.Bytes())
						ans.Results = append(ans.Results, federation.BatchResult{Status: rec.Code, Problem: pd})
						continue
					}
				}
				ans.Results = append(ans.Results, federation.BatchResult{Status: http.StatusAccepted, Receipt: string(receipt(e))})
			}
			w.Header().Set("Content-Type", federation.BatchMediaType)
			json.NewEncoder(w).Encode(ans)
			return
		}
		if a := p.answer.Load(); a != nil && (*a)(w, raw) {
			return
		}
		b := receipt(raw)
		if b == nil {
			problem.Write(w, problem.New(problem.BadEnvelope, "not an envelope"))
			return
		}
		w.Header().Set("Content-Type", "application/jose")
		w.WriteHeader(http.StatusAccepted)
		w.Write(b)
	})
	p.srv = httptest.NewUnstartedServer(h)
	m.Endpoint = "https://" + p.srv.Listener.Addr().String()
	t.Cleanup(p.srv.Close)
	return p
}

// start serves once the manifest naming every endpoint is signed.
func (p *peer) start(t testing.TB) {
	p.srv.TLS = mtls.ServerConfig(p.f.Member(t, p.id).TLS, p.f.Manifest.TLSDirectory())
	// HTTP/2 first, with the receive windows of flx serve's listener: every
	// request to the peer shares one connection, as between nodes.
	p.srv.TLS.NextProtos = []string{"h2", "http/1.1"}
	p.srv.Config.HTTP2 = mtls.ServerHTTP2()
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch st {
		case http.StateNew:
			if p.accepted == nil {
				p.accepted = map[string]net.Conn{}
			}
			p.accepted[c.RemoteAddr().String()] = c
		case http.StateClosed:
			p.closed++
		}
	}
	p.srv.StartTLS()
}

func (p *peer) set(f func(w http.ResponseWriter, raw []byte) bool) { p.answer.Store(&f) }

func refuseWith(code problem.Code, retryAfter string) func(http.ResponseWriter, []byte) bool {
	return func(w http.ResponseWriter, _ []byte) bool {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		problem.Write(w, problem.New(code, "refused by the test peer"))
		return true
	}
}

// observer records what delivery reports.
type observer struct {
	mu                      sync.Mutex
	delivered, failed, dead []string
	resting                 map[string]time.Duration
	sent                    []int // envelopes of each request (RequestObserver)
}

func (o *observer) Sent(_ string, envelopes int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, envelopes)
}

func (o *observer) Delivered(to, _ string, _, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.delivered = append(o.delivered, to)
}
func (o *observer) Failed(to, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed = append(o.failed, to+" "+reason)
}
func (o *observer) Dead(to string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dead = append(o.dead, to)
}
func (o *observer) Resting(to string, wait time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.resting == nil {
		o.resting = map[string]time.Duration{}
	}
	o.resting[to] = wait
}

// bench is XA-RC delivering to XB-RC and XC-RC through a Deliverer whose
// rounds the test runs one at a time (round) on its own clock.
type bench struct {
	f      *fedtest.Federation
	clock  *clock
	outbox *fakeOutbox
	obs    *observer
	peers  map[string]*peer
	d      *Deliverer
	link   *linksim.Link
	proxy  *linksim.Proxy
	wrap   func(*fakeOutbox) Outbox // the Deliverer's outbox (nil: the fake itself)
}

// benchOption changes how newBench sets up.
type benchOption func(*bench)

// realClock runs the bench on the real clock (for Run).
func realClock(b *bench) { b.clock.real = true }

// viaLink puts XB-RC behind a simulated link (node/linksim).
func viaLink(l linksim.Link) benchOption { return func(b *bench) { b.link = &l } }

func newBench(t testing.TB, o Options, opts ...benchOption) *bench {
	t.Helper()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
	b := &bench{f: f, clock: &clock{t: time.Now()}, obs: &observer{}, peers: map[string]*peer{}}
	for _, opt := range opts {
		opt(b)
	}
	b.outbox = &fakeOutbox{clock: b.clock}
	for _, id := range []string{"XB-RC", "XC-RC"} {
		b.peers[id] = newPeer(t, f, id)
	}
	if b.link != nil {
		px, err := linksim.Start(b.peers["XB-RC"].srv.Listener.Addr().String(), *b.link)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(px.Close)
		b.proxy = px
		f.Member(t, "XB-RC").Endpoint = "https://" + px.Addr()
	}
	f.Sign(t)
	for _, p := range b.peers {
		p.start(t)
	}
	xa := f.Member(t, "XA-RC")
	client := &federation.Client{Self: "XA-RC", Cert: xa.TLS, Manifest: federation.StaticManifest(f.Manifest), Timeout: 5 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	o.Instance, o.Observer, o.Now = "XA-RC/test", b.obs, b.clock.Now
	if o.Backoff.Initial == 0 {
		o.Backoff = backoff.Policy{Initial: time.Second, Max: time.Minute, Rand: func() float64 { return 0 }}
	}
	var outbox Outbox = b.outbox
	if b.wrap != nil {
		outbox = b.wrap(b.outbox)
	}
	b.d = New(outbox, client, o)
	return b
}

// queue adds n case.create envelopes from XA-RC to to.
func (b *bench) queue(t *testing.T, to string, n int) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		caseID := fmt.Sprintf("XA-RC:D-%d", len(b.outbox.rows)+i)
		body, _ := json.Marshal(map[string]string{"case_id": caseID})
		raw := b.f.Envelope(t, "XA-RC", to, federation.KindCaseCreate, caseID, body)
		c, _ := federation.ClaimsOf(raw)
		b.outbox.add(store.OutboxItem{Destination: to, CaseID: caseID, Kind: string(c.Kind), JTI: c.JTI, Envelope: raw})
		ids = append(ids, int64(len(b.outbox.rows)))
	}
	return ids
}

// queueCase adds one case.create envelope of caseID from XA-RC to to.
func (b *bench) queueCase(t *testing.T, to, caseID string) []int64 {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"case_id": caseID})
	raw := b.f.Envelope(t, "XA-RC", to, federation.KindCaseCreate, caseID, body)
	c, _ := federation.ClaimsOf(raw)
	b.outbox.add(store.OutboxItem{Destination: to, CaseID: caseID, Kind: string(c.Kind), JTI: c.JTI, Envelope: raw})
	return []int64{int64(len(b.outbox.rows))}
}

// round runs one dispatch and waits for every loop it started.
func (b *bench) round(t *testing.T) {
	t.Helper()
	b.d.dispatch(t.Context())
	b.d.wg.Wait()
}

func (b *bench) states(ids []int64) []string {
	var out []string
	for _, id := range ids {
		out = append(out, string(b.outbox.get(id).State))
	}
	return out
}

func TestDeliversWithVerifiedReceipts(t *testing.T) {
	b := newBench(t, Options{Workers: 3})
	ids := b.queue(t, "XB-RC", 10)
	b.round(t)
	for _, id := range ids {
		r := b.outbox.get(id)
		if r.State != store.Delivered || r.Attempts != 1 {
			t.Fatalf("row %d: %s after %d attempts (%s)", id, r.State, r.Attempts, r.LastError)
		}
		if _, err := federation.VerifyReceipt(r.Receipt, b.f.Manifest, federation.ExpectReceipt(r.Envelope, mustClaims(t, r.Envelope)), time.Now()); err != nil {
			t.Errorf("row %d: the receipt kept does not verify: %v", id, err)
		}
	}
	if got := b.peers["XB-RC"].most.Load(); got > 3 {
		t.Errorf("%d deliveries in flight at once, Workers is 3", got)
	}
	if len(b.obs.delivered) != 10 || b.d.Destination("XB-RC").Failures() != 0 {
		t.Errorf("observer saw %d deliveries; destination failures %d", len(b.obs.delivered), b.d.Destination("XB-RC").Failures())
	}
}

func mustClaims(t *testing.T, raw []byte) federation.Claims {
	t.Helper()
	c, err := federation.ClaimsOf(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRetryAfterRestsTheDestination: a 503 with Retry-After 30 (longer
// than the backoff) puts the row back for 30 s and rests the destination as
// long: nothing is claimed for it before, everything after.
func TestRetryAfterRestsTheDestination(t *testing.T) {
	b := newBench(t, Options{Workers: 1})
	ids := b.queue(t, "XB-RC", 2)
	p := b.peers["XB-RC"]
	p.set(refuseWith(problem.Unavailable, "30"))
	start := b.clock.Now()
	b.round(t)
	r := b.outbox.get(ids[0])
	if r.State != store.Queued || !r.NextAttemptAt.Equal(start.Add(30*time.Second)) || r.LastError != "http_503: unavailable" {
		t.Fatalf("after a 503 Retry-After 30: %s next %v (%q)", r.State, r.NextAttemptAt.Sub(start), r.LastError)
	}
	ds := b.d.Destination("XB-RC")
	if ds.Failures() != 1 || !ds.Until().Equal(start.Add(30*time.Second)) || b.obs.resting["XB-RC"] != 30*time.Second {
		t.Fatalf("destination: %d failures, rests %v", ds.Failures(), ds.Until().Sub(start))
	}
	if calls := p.calls.Load(); calls != 1 {
		t.Fatalf("%d attempts in the first round; a failure must stop the round", calls)
	}
	p.set(func(http.ResponseWriter, []byte) bool { return false })
	b.clock.Advance(29 * time.Second)
	b.round(t)
	if calls := p.calls.Load(); calls != 1 {
		t.Fatalf("an attempt %d s after a Retry-After of 30 s", 29)
	}
	b.clock.Advance(time.Second)
	b.round(t)
	if got := b.states(ids); !slices.Equal(got, []string{"delivered", "delivered"}) || ds.Failures() != 0 || !ds.Until().IsZero() {
		t.Errorf("after the rest: %v, failures %d", got, ds.Failures())
	}
}

// TestBackoffGrows: consecutive failures wait 1 s, 2 s, 4 s ... (the one
// formula, jitter drawn at its floor here), per row and per destination.
func TestBackoffGrows(t *testing.T) {
	b := newBench(t, Options{Workers: 1, Backoff: backoff.Policy{Initial: 2 * time.Second, Max: 10 * time.Second, Rand: func() float64 { return 0 }}})
	ids := b.queue(t, "XB-RC", 1)
	b.peers["XB-RC"].set(refuseWith(problem.Internal, ""))
	var waits []time.Duration
	for range 5 {
		now := b.clock.Now()
		b.round(t)
		waits = append(waits, b.outbox.get(ids[0]).NextAttemptAt.Sub(now))
		b.clock.Advance(waits[len(waits)-1])
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}; !slices.Equal(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	if r := b.outbox.get(ids[0]); r.Attempts != 5 || b.d.Destination("XB-RC").Failures() != 5 {
		t.Errorf("attempts %d, destination failures %d", r.Attempts, b.d.Destination("XB-RC").Failures())
	}
}

func TestPermanentRefusalDeadLettersOnlyThatEnvelope(t *testing.T) {
	b := newBench(t, Options{Workers: 1})
	ids := b.queue(t, "XB-RC", 3)
	bad := mustClaims(t, b.outbox.get(ids[1]).Envelope).JTI
	b.peers["XB-RC"].set(func(w http.ResponseWriter, raw []byte) bool {
		if c, _ := federation.ClaimsOf(raw); c.JTI == bad {
			return refuseWith(problem.SchemaInvalid, "")(w, raw)
		}
		return false
	})
	b.round(t)
	if got := b.states(ids); !slices.Equal(got, []string{"delivered", "dead", "delivered"}) {
		t.Fatalf("states %v", got)
	}
	if r := b.outbox.get(ids[1]); r.LastError != "http_422: schema_invalid" || r.Attempts != 1 {
		t.Errorf("dead row: %q after %d attempts", r.LastError, r.Attempts)
	}
	if ds := b.d.Destination("XB-RC"); ds.Failures() != 0 || len(b.obs.dead) != 1 {
		t.Errorf("a refused envelope rested the peer (%d failures) or was not counted dead (%v)", ds.Failures(), b.obs.dead)
	}
}

func TestDeadDestinationHoldsUpNoOther(t *testing.T) {
	b := newBench(t, Options{Workers: 2})
	b.peers["XC-RC"].srv.Close() // down: connections refused
	down, up := b.queue(t, "XC-RC", 2), b.queue(t, "XB-RC", 4)
	b.round(t)
	if got := b.states(up); !slices.Equal(got, []string{"delivered", "delivered", "delivered", "delivered"}) {
		t.Errorf("XB-RC: %v", got)
	}
	for _, id := range down {
		if r := b.outbox.get(id); r.State != store.Queued || r.Attempts > 1 || len(r.LastError) < 10 || r.LastError[:10] != "transport:" {
			t.Errorf("XC-RC row %d: %s, %d attempts, %q", id, r.State, r.Attempts, r.LastError)
		}
	}
	if b.d.Destination("XC-RC").Failures() != 1 {
		t.Errorf("XC-RC failures %d", b.d.Destination("XC-RC").Failures())
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	b := newBench(t, Options{Workers: 1, MaxAttempts: 3})
	ids := b.queue(t, "XB-RC", 1)
	b.peers["XB-RC"].set(refuseWith(problem.Unavailable, ""))
	for range 3 {
		b.round(t)
		b.clock.Advance(time.Hour)
	}
	if r := b.outbox.get(ids[0]); r.State != store.Dead || r.Attempts != 3 || b.peers["XB-RC"].calls.Load() != 3 {
		t.Errorf("after 3 failed attempts: %s, %d attempts, %d calls", r.State, r.Attempts, b.peers["XB-RC"].calls.Load())
	}
}

func TestPersistentKindsOutlastMaxAttempts(t *testing.T) {
	persistent := func(kind string) bool { return kind == string(federation.KindCaseCreate) }
	t.Run("retried past MaxAttempts, then delivered", func(t *testing.T) {
		b := newBench(t, Options{Workers: 1, MaxAttempts: 3, Persistent: persistent})
		ids := b.queue(t, "XB-RC", 1)
		b.peers["XB-RC"].set(refuseWith(problem.Unavailable, ""))
		for range 6 {
			b.round(t)
			b.clock.Advance(2 * time.Hour)
		}
		if r := b.outbox.get(ids[0]); r.State != store.Queued || r.Attempts != 6 {
			t.Fatalf("after 6 failed attempts: %s, %d attempts; want still queued", r.State, r.Attempts)
		}
		b.peers["XB-RC"].set(func(http.ResponseWriter, []byte) bool { return false })
		b.round(t)
		if r := b.outbox.get(ids[0]); r.State != store.Delivered {
			t.Fatalf("after the peer came back: %s", r.State)
		}
	})
	t.Run("a permanent refusal still dead-letters", func(t *testing.T) {
		b := newBench(t, Options{Workers: 1, MaxAttempts: 3, Persistent: persistent})
		ids := b.queue(t, "XB-RC", 1)
		b.peers["XB-RC"].set(refuseWith(problem.SchemaInvalid, ""))
		b.round(t)
		if r := b.outbox.get(ids[0]); r.State != store.Dead {
			t.Fatalf("after a permanent refusal: %s", r.State)
		}
	})
}

func TestPrepare(t *testing.T) {
	t.Run("conflict: nothing sent, nothing recorded", func(t *testing.T) {
		b := newBench(t, Options{Workers: 1, Prepare: func(_ context.Context, it store.OutboxItem) (store.OutboxItem, error) {
			return it, fmt.Errorf("reclaimed: %w", store.ErrConflict)
		}})
		ids := b.queue(t, "XB-RC", 1)
		b.round(t)
		if r := b.outbox.get(ids[0]); r.State != store.InFlight || r.LastError != "" || b.peers["XB-RC"].calls.Load() != 0 {
			t.Errorf("%s %q, %d calls", r.State, r.LastError, b.peers["XB-RC"].calls.Load())
		}
	})
	t.Run("the prepared row is sent", func(t *testing.T) {
		var b *bench
		b = newBench(t, Options{Workers: 1, Prepare: func(_ context.Context, it store.OutboxItem) (store.OutboxItem, error) {
			it.Envelope = b.f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, it.CaseID, []byte(`{"renewed":true}`))
			return it, nil
		}})
		ids := b.queue(t, "XB-RC", 1)
		var got []byte
		b.peers["XB-RC"].set(func(_ http.ResponseWriter, raw []byte) bool { got = raw; return false })
		b.round(t)
		if c := mustClaims(t, got); string(c.Body) != `{"renewed":true}` || b.outbox.get(ids[0]).State != store.Delivered {
			t.Errorf("sent %s", c.Body)
		}
	})
	t.Run("failure: retried", func(t *testing.T) {
		b := newBench(t, Options{Workers: 1, Prepare: func(_ context.Context, it store.OutboxItem) (store.OutboxItem, error) {
			return it, fmt.Errorf("signing key unreadable")
		}})
		ids := b.queue(t, "XB-RC", 1)
		b.round(t)
		if r := b.outbox.get(ids[0]); r.State != store.Queued || r.LastError != "resign: signing key unreadable" || b.peers["XB-RC"].calls.Load() != 0 {
			t.Errorf("%s %q", r.State, r.LastError)
		}
	})
}

func TestErasedRowIsNeverSent(t *testing.T) {
	b := newBench(t, Options{Workers: 1})
	ids := b.queue(t, "XB-RC", 1)
	b.outbox.rows[0].Envelope = nil
	b.round(t)
	if r := b.outbox.get(ids[0]); r.State != store.Dead || b.peers["XB-RC"].calls.Load() != 0 {
		t.Errorf("erased row: %s, %d calls", r.State, b.peers["XB-RC"].calls.Load())
	}
}

// TestRunStopsAfterDeliveriesUnderWay: Run returns once ctx ends and the
// attempt under way has finished and been recorded.
func TestRunStopsAfterDeliveriesUnderWay(t *testing.T) {
	b := newBench(t, Options{Workers: 1, PollInterval: time.Hour})
	p := b.peers["XB-RC"]
	hold := make(chan struct{})
	p.hold.Store(&hold)
	ids := b.queue(t, "XB-RC", 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { b.d.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for p.inflight.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned with a delivery under way")
	default:
	}
	hold <- struct{}{}
	<-done
	if r := b.outbox.get(ids[0]); r.State != store.Delivered {
		t.Errorf("the delivery under way ended %s", r.State)
	}
}

func TestDestination(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := NewDestination("XB-RC", backoff.Policy{Initial: time.Second, Max: time.Minute, Rand: func() float64 { return 0.999 }})
	if !d.start(now) || d.start(now) {
		t.Fatal("start: one loop at a time")
	}
	d.stop()
	if u := d.Failure(now, 0, "unreachable"); u.Sub(now) < 999*time.Millisecond || u.Sub(now) > time.Second {
		t.Errorf("first failure rests %v", u.Sub(now))
	}
	if u := d.Failure(now, 10*time.Second, "http_503"); !u.Equal(now.Add(10 * time.Second)) {
		t.Errorf("Retry-After 10s: rests %v", u.Sub(now))
	}
	if u := d.Failure(now, 2*time.Hour, "http_503"); !u.Equal(now.Add(time.Minute)) {
		t.Errorf("Retry-After over the maximum: rests %v", u.Sub(now))
	}
	if d.start(now.Add(59*time.Second)) || !d.start(now.Add(time.Minute)) {
		t.Error("start while resting")
	}
	d.Success()
	if d.Failures() != 0 || !d.Until().IsZero() {
		t.Error("Success did not clear")
	}
}

func TestDeliversInBatches(t *testing.T) {
	b := newBench(t, Options{Workers: 2, BatchSize: 10})
	ids := b.queue(t, "XB-RC", 25)
	// One envelope refused: it alone is dead-lettered.
	refused := b.outbox.get(ids[7]).JTI
	b.peers["XB-RC"].set(func(w http.ResponseWriter, raw []byte) bool {
		if c, _ := federation.ClaimsOf(raw); c.JTI == refused {
			problem.Write(w, problem.New(problem.SchemaInvalid, "refused by the test peer"))
			return true
		}
		return false
	})
	b.round(t)
	for i, id := range ids {
		r := b.outbox.get(id)
		want := store.Delivered
		if i == 7 {
			want = store.Dead
		}
		if r.State != want || r.Attempts != 1 {
			t.Fatalf("row %d: %s after %d attempts (%s), want %s", i, r.State, r.Attempts, r.LastError, want)
		}
		if want == store.Delivered {
			if _, err := federation.VerifyReceipt(r.Receipt, b.f.Manifest, federation.ExpectReceipt(r.Envelope, mustClaims(t, r.Envelope)), time.Now()); err != nil {
				t.Errorf("row %d: the receipt kept does not verify: %v", i, err)
			}
		}
	}
	p := b.peers["XB-RC"]
	p.mu.Lock()
	sizes := fmt.Sprint(p.batches)
	p.mu.Unlock()
	if sizes != "[10 10 5]" && sizes != "[10 5 10]" || p.calls.Load() != 3 || p.most.Load() > 2 {
		t.Fatalf("batches %s in %d requests, at most %d in flight; want 10, 10 and 5 in 3, at most 2", sizes, p.calls.Load(), p.most.Load())
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	if _, ok := t.(*testing.B); ok {
		deadline = time.Now().Add(2 * time.Minute)
	}
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// run starts b's Deliverer as the node does, stopped at the end of the test.
func (b *bench) run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { b.d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (b *bench) delivered(ids []int64) bool {
	for _, id := range ids {
		if b.outbox.get(id).State != store.Delivered {
			return false
		}
	}
	return true
}

// A row queued while a request is in flight goes out in a free slot at
// once (the node kicks delivery when it queues), not when that request is
// answered nor at the next poll.
func TestKickSendsWhileRequestsAreInFlight(t *testing.T) {
	b := newBench(t, Options{Workers: 4, BatchSize: 10, PollInterval: time.Hour}, realClock)
	p := b.peers["XB-RC"]
	release := p.holdAll(t) // every request waits in the peer until released
	first := b.queue(t, "XB-RC", 1)
	b.run(t)
	waitFor(t, "the first request", func() bool { return p.calls.Load() == 1 })
	second := b.queue(t, "XB-RC", 1)
	b.d.Kick()
	waitFor(t, "the second request while the first is unanswered", func() bool { return p.calls.Load() == 2 })
	release()
	waitFor(t, "both delivered", func() bool { return b.delivered(append(first, second...)) })
}

// Over a long link that cuts its connections every few dozen kB, with
// several batch requests in flight at once: every envelope is delivered,
// each case's envelopes reach the peer in their order (the next one only
// after the one before was answered), and each row is recorded delivered
// once.
func TestWindowOverACuttingLink(t *testing.T) {
	const cases, perCase = 24, 8
	b := newBench(t, Options{Workers: 4, BatchSize: 10, PollInterval: 50 * time.Millisecond,
		Backoff: backoff.Policy{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond, Rand: func() float64 { return 0 }}},
		realClock, viaLink(linksim.Link{Delay: 20 * time.Millisecond, CutEach: 48 << 10}))
	type pos struct {
		caseID string
		k      int
	}
	where := map[string]pos{}
	var ids []int64
	for k := range perCase {
		for c := range cases {
			caseID := fmt.Sprintf("XA-RC:W-%d", c)
			body, _ := json.Marshal(map[string]any{"case_id": caseID, "k": k})
			raw := b.f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseUpdate, caseID, body)
			cl := mustClaims(t, raw)
			b.outbox.add(store.OutboxItem{Destination: "XB-RC", CaseID: caseID, Kind: string(cl.Kind), JTI: cl.JTI, Envelope: raw})
			ids = append(ids, int64(len(b.outbox.rows)))
			where[cl.JTI] = pos{caseID, k}
		}
	}
	b.run(t)
	b.d.Kick()
	waitFor(t, "every envelope delivered", func() bool { return b.delivered(ids) })
	if b.proxy.Cuts() == 0 {
		t.Fatal("the link cut no connection: the test tested nothing")
	}
	p := b.peers["XB-RC"]
	if p.most.Load() < 2 {
		t.Errorf("at most %d request in flight: no window", p.most.Load())
	}
	p.mu.Lock()
	arrived := slices.Clone(p.arrived)
	p.mu.Unlock()
	next := map[string]int{} // per case, the envelope expected to arrive first next
	seen := map[string]bool{}
	for _, jti := range arrived {
		if seen[jti] {
			continue // sent again after a cut: the receiver's duplicate
		}
		seen[jti] = true
		at := where[jti]
		if at.k != next[at.caseID] {
			t.Fatalf("case %s: envelope %d arrived before envelope %d", at.caseID, at.k, next[at.caseID])
		}
		next[at.caseID]++
	}
	if len(seen) != cases*perCase {
		t.Fatalf("%d distinct envelopes arrived, want %d", len(seen), cases*perCase)
	}
	for _, id := range ids {
		r := b.outbox.get(id)
		if _, err := federation.VerifyReceipt(r.Receipt, b.f.Manifest, federation.ExpectReceipt(r.Envelope, mustClaims(t, r.Envelope)), time.Now()); err != nil {
			t.Fatalf("row %d: the receipt kept does not verify: %v", id, err)
		}
	}
	t.Logf("%d cuts, %d arrivals for %d envelopes, at most %d requests in flight", b.proxy.Cuts(), len(arrived), len(seen), p.most.Load())
}

// BenchmarkLongLink measures envelopes per second delivered through a link
// of 600 ms round trip (300 ms each way), and through one that also cuts
// every connection after 5 MiB, with the default window (Workers ×
// BatchSize) and envelopes of about 2.5 kB, as flx bench exchange sends.
// The peer answers at once: what is measured is the sender, the wire and
// the window, not the receiver's work.
//
//	go test -run NONE -bench LongLink -benchtime 1x ./node/delivery/
func BenchmarkLongLink(b *testing.B) {
	const n = 6000
	filler := strings.Repeat("x", 1800)
	for _, tc := range []struct {
		name string
		link linksim.Link
	}{
		{"0ms", linksim.Link{}},
		{"300ms", linksim.Link{Delay: 300 * time.Millisecond}},
		{"300ms,cut=5MiB", linksim.Link{Delay: 300 * time.Millisecond, CutEach: 5 << 20}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				// The node's defaults (node.DeliveryOptions): 32 requests of 50.
				bn := newBench(b, Options{Workers: 32, BatchSize: 50, PollInterval: 50 * time.Millisecond, Lease: time.Minute,
					Backoff: backoff.Policy{Initial: 50 * time.Millisecond, Max: time.Second}}, realClock, viaLink(tc.link))
				var ids []int64
				for i := range n {
					caseID := fmt.Sprintf("XA-RC:L-%d", i)
					body, _ := json.Marshal(map[string]any{"case_id": caseID, "filler": filler})
					raw := bn.f.Envelope(b, "XA-RC", "XB-RC", federation.KindCaseCreate, caseID, body)
					cl, _ := federation.ClaimsOf(raw)
					bn.outbox.add(store.OutboxItem{Destination: "XB-RC", CaseID: caseID, Kind: string(cl.Kind), JTI: cl.JTI, Envelope: raw})
					ids = append(ids, int64(len(bn.outbox.rows)))
				}
				start := time.Now()
				bn.run(b)
				waitFor(b, "every envelope delivered", func() bool { return bn.delivered(ids) })
				el := time.Since(start)
				b.ReportMetric(n/el.Seconds(), "envelopes/s")
				b.ReportMetric(float64(bn.proxy.Cuts()), "cuts")
				b.ReportMetric(float64(bn.peers["XB-RC"].most.Load()), "most-in-flight")
			}
		})
	}
}

// downOutbox is an outbox whose database is down for the next fails
// recordings of a delivery.
type downOutbox struct {
	*fakeOutbox
	fails atomic.Int32
}

func (o *downOutbox) MarkDelivered(ctx context.Context, id int64, receipt []byte) error {
	if o.fails.Add(-1) >= 0 {
		return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	return o.fakeOutbox.MarkDelivered(ctx, id, receipt)
}

// A receipt that comes while the database is briefly down is recorded
// when it is back: the envelope is not sent again after the lease, and
// the destination does not rest.
func TestReceiptRecordedWhenTheDatabaseReturns(t *testing.T) {
	for _, batch := range []int{1, 10} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			down := &downOutbox{}
			down.fails.Store(3)
			b := newBench(t, Options{Workers: 2, BatchSize: batch, Lease: time.Minute}, func(b *bench) {
				b.wrap = func(o *fakeOutbox) Outbox { down.fakeOutbox = o; return down }
			})
			ids := b.queue(t, "XB-RC", 3)
			b.round(t)
			for _, id := range ids {
				if r := b.outbox.get(id); r.State != store.Delivered || r.Attempts != 1 || len(r.Receipt) == 0 {
					t.Fatalf("row %d: %s after %d attempts, receipt %d bytes; want delivered after 1", id, r.State, r.Attempts, len(r.Receipt))
				}
			}
			if calls := b.peers["XB-RC"].calls.Load(); (batch == 1 && calls != 3) || (batch > 1 && calls != 1) {
				t.Errorf("%d requests: an envelope was sent again", calls)
			}
			if len(b.obs.failed) > 0 || b.d.Destination("XB-RC").Failures() != 0 {
				t.Errorf("failures %v: the destination rests for a database fault", b.obs.failed)
			}
		})
	}
}

// A destination that failed before (here: its backoff restored after a
// restart, the rest over) gets one request, a probe, until it answers;
// then the whole window.
func TestProbeBeforeTheWindowAfterFailures(t *testing.T) {
	b := newBench(t, Options{Workers: 4, BatchSize: 5, PollInterval: time.Hour}, realClock)
	b.d.Destination("XB-RC").restore(State{Failures: 2, Until: time.Now().Add(-time.Second), LastError: "transport"})
	p := b.peers["XB-RC"]
	release := p.holdAll(t)
	ids := b.queue(t, "XB-RC", 40)
	b.run(t)
	waitFor(t, "the probe", func() bool { return p.calls.Load() == 1 })
	time.Sleep(200 * time.Millisecond) // room for requests that must not start
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("%d requests in flight before the probe was answered, want 1", n)
	}
	// Requests after the probe wait in the peer too, until the window has
	// opened: answered at once, they could each end before the next began.
	hold := p.holdAll(t)
	release()
	waitFor(t, "two requests in flight after the probe (the window opened)", func() bool { return p.inflight.Load() >= 2 })
	hold()
	waitFor(t, "every envelope delivered", func() bool { return b.delivered(ids) })
	if f := b.d.Destination("XB-RC").Failures(); f != 0 {
		t.Errorf("%d failures after deliveries", f)
	}
}

// countingOutbox counts the due-destination queries.
type countingOutbox struct {
	*fakeOutbox
	due atomic.Int32
}

func (c *countingOutbox) DueDestinations(ctx context.Context, now time.Time) ([]string, error) {
	c.due.Add(1)
	return c.fakeOutbox.DueDestinations(ctx, now)
}

// Rows queued for a destination whose loop runs are claimed by that loop:
// KickFor asks the store for due destinations only when a destination has
// no loop, so a steady rate of single-row transactions does not cost a
// query each. And a kick that comes as the loop ends is never lost (rows
// queued one by one, each waited for, with no poll to fall back on).
func TestKickForQueriesOnlyForDestinationsWithoutALoop(t *testing.T) {
	var counted *countingOutbox
	b := newBench(t, Options{Workers: 4, BatchSize: 10, PollInterval: time.Hour}, realClock, func(b *bench) {
		b.wrap = func(o *fakeOutbox) Outbox { counted = &countingOutbox{fakeOutbox: o}; return counted }
	})
	p := b.peers["XB-RC"]
	release := p.holdAll(t)
	b.run(t)
	first := b.queue(t, "XB-RC", 1)
	b.d.KickFor("XB-RC") // no loop yet: Run looks
	waitFor(t, "the first request", func() bool { return p.calls.Load() == 1 })
	before := counted.due.Load()
	var more []int64
	for range 20 {
		more = append(more, b.queue(t, "XB-RC", 1)...)
		b.d.KickFor("XB-RC")
	}
	if got := counted.due.Load(); got != before {
		t.Errorf("due destinations asked %d more times for 20 rows queued while the loop ran, want none", got-before)
	}
	release()
	waitFor(t, "all delivered", func() bool { return b.delivered(append(first, more...)) })

	for i := range 50 {
		ids := b.queue(t, "XB-RC", 1)
		b.d.KickFor("XB-RC")
		waitFor(t, fmt.Sprintf("row %d queued after the loop may have ended", i), func() bool { return b.delivered(ids) })
	}
}

// A row queued for a destination with no loop (none was due, or its loop
// ended with the last answer) is claimed by a loop KickFor starts at
// once: not after a query for due destinations made by Run, woken (a
// round trip, and a wait for Run, between the commit and the claim), nor
// after the poll interval. Counted: Run's first look at start is the only
// query for due destinations, however many rows are queued one by one,
// each delivered before the next.
func TestKickForStartsTheLoopWithoutAQuery(t *testing.T) {
	var counted *countingOutbox
	b := newBench(t, Options{Workers: 4, BatchSize: 10, PollInterval: time.Hour}, realClock, func(b *bench) {
		b.wrap = func(o *fakeOutbox) Outbox { counted = &countingOutbox{fakeOutbox: o}; return counted }
	})
	b.run(t)
	waitFor(t, "Run's first look for due destinations", func() bool { return counted.due.Load() == 1 })
	for i := range 20 {
		ids := b.queue(t, "XB-RC", 1)
		b.d.KickFor("XB-RC")
		waitFor(t, fmt.Sprintf("row %d delivered", i), func() bool { return b.delivered(ids) })
	}
	if got := counted.due.Load(); got != 1 {
		t.Errorf("due destinations asked %d times for 20 rows queued one by one, want once (Run's start)", got)
	}
}

// notSending is an outbox that sends nothing to XB-RC (delivery.Sends: a
// member that pulls its envelopes) and counts the claims for it.
type notSending struct {
	*fakeOutbox
	claims atomic.Int32
}

func (o *notSending) Sends(d string) bool { return d != "XB-RC" }

func (o *notSending) DueDestinations(ctx context.Context, now time.Time) ([]string, error) {
	names, err := o.fakeOutbox.DueDestinations(ctx, now)
	return slices.DeleteFunc(names, func(d string) bool { return !o.Sends(d) }), err
}

func (o *notSending) ClaimDue(ctx context.Context, r store.ClaimRequest) ([]store.OutboxItem, error) {
	if r.Destination == "XB-RC" {
		o.claims.Add(1)
	}
	return o.fakeOutbox.ClaimDue(ctx, r)
}

// KickFor starts no loop for a destination the outbox does not send to
// (one that pulls its envelopes): its rows stay queued, unclaimed, for it
// to pull, as when Run looked for due destinations.
func TestKickForLeavesDestinationsNotSentTo(t *testing.T) {
	var ns *notSending
	b := newBench(t, Options{Workers: 4, BatchSize: 10, PollInterval: time.Hour}, realClock, func(b *bench) {
		b.wrap = func(o *fakeOutbox) Outbox { ns = &notSending{fakeOutbox: o}; return ns }
	})
	b.run(t)
	pulled := b.queue(t, "XB-RC", 1)
	b.d.KickFor("XB-RC")
	sent := b.queue(t, "XC-RC", 1)
	b.d.KickFor("XC-RC")
	waitFor(t, "the row to XC-RC delivered", func() bool { return b.delivered(sent) })
	if n := ns.claims.Load(); n != 0 || b.delivered(pulled) {
		t.Errorf("%d claims for XB-RC, which pulls its envelopes (delivered: %v); want none", n, b.delivered(pulled))
	}
}

// A row queued while a request is in flight waits up to Linger for more
// (as Nagle's algorithm), so it goes with the answer of a held request
// when Linger is long, and while the request is held when Linger is short,
// off, or a batch's worth is queued.
func TestLingerGathersWhileRequestsAreInFlight(t *testing.T) {
	tests := []struct {
		name         string
		batch        int
		linger       time.Duration
		wantInFlight int32 // most requests the peer held at once
	}{
		{"a long linger waits for the answer", 10, time.Hour, 1},
		{"a batch's worth goes at once", 1, time.Hour, 2},
		{"the default linger sends while in flight", 10, 0, 2},
		{"no linger sends at once", 10, -1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBench(t, Options{Workers: 4, BatchSize: tc.batch, Linger: tc.linger, PollInterval: time.Hour}, realClock)
			p := b.peers["XB-RC"]
			release := p.holdAll(t)
			first := b.queue(t, "XB-RC", 1)
			b.run(t)
			waitFor(t, "the first request", func() bool { return p.calls.Load() == 1 })
			second := b.queue(t, "XB-RC", 1)
			b.d.KickFor("XB-RC")
			if tc.wantInFlight > 1 {
				waitFor(t, "the second request while the first is held", func() bool { return p.calls.Load() == 2 })
			}
			release()
			waitFor(t, "both delivered", func() bool { return b.delivered(append(first, second...)) })
			if got := p.most.Load(); got != tc.wantInFlight {
				t.Errorf("the peer held %d requests at once, want %d", got, tc.wantInFlight)
			}
			b.obs.mu.Lock()
			defer b.obs.mu.Unlock()
			if !slices.Equal(b.obs.sent, []int{1, 1}) {
				t.Errorf("requests observed %v, want [1 1]", b.obs.sent)
			}
		})
	}
}

// A batch request the link broke under (on the connection it went out on
// and on the new one the client tried at once) goes again after the wait
// of a failed attempt (FLX-DLV-004), still claimed and as it was sent (not
// prepared again: the peer may have stored it): delivered in the same
// round with one attempt counted, the destination not resting, each
// envelope recorded once.
func TestCutRequestSentAgainAfterTheWait(t *testing.T) {
	var prepared atomic.Int32
	b := newBench(t, Options{Workers: 1, BatchSize: 5, Prepare: func(_ context.Context, it store.OutboxItem) (store.OutboxItem, error) {
		prepared.Add(1)
		return it, nil
	}, Backoff: backoff.Policy{Initial: 400 * time.Millisecond, Max: time.Minute, Rand: func() float64 { return 0 }}}, realClock)
	p := b.peers["XB-RC"]
	p.abort.Store(2)
	ids := b.queue(t, "XB-RC", 10)
	b.round(t)
	for _, id := range ids {
		if r := b.outbox.get(id); r.State != store.Delivered || r.Attempts != 1 {
			t.Fatalf("row %d: %s after %d attempts; want delivered after 1", id, r.State, r.Attempts)
		}
	}
	if n := p.calls.Load(); n != 4 {
		t.Fatalf("%d requests, want 4: the broken one twice by the client, once more by delivery, then the second", n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// The second batch went while the first waited: the rest flows on.
	if first, second := b.outbox.get(ids[0]).JTI, b.outbox.get(ids[5]).JTI; slices.Index(p.arrived, first) < slices.Index(p.arrived, second) {
		t.Errorf("the broken batch was answered before the next one: it did not wait, or held up the rest")
	}
	if gap := p.at[3].Sub(p.at[1]); gap < 200*time.Millisecond {
		t.Errorf("sent again %v after the second break, want at least the wait of one failed attempt (200ms)", gap)
	}
	if n := prepared.Load(); n != 10 {
		t.Errorf("%d rows prepared, want 10: a row sent again is sent as it was", n)
	}
	if f := b.d.Destination("XB-RC").Failures(); f != 0 || len(b.obs.dead) > 0 {
		t.Errorf("%d failures, dead %v: the destination rests for a link cut", f, b.obs.dead)
	}
}

// A link (or a peer) that breaks every request is not tried for ever at
// once: after the break with nothing delivered since, the rows fail as
// any other attempt (backoff) and the destination rests.
func TestAlwaysCutRequestsRestTheDestination(t *testing.T) {
	b := newBench(t, Options{Workers: 1, BatchSize: 5,
		Backoff: backoff.Policy{Initial: 20 * time.Millisecond, Max: time.Minute, Rand: func() float64 { return 0 }}}, realClock)
	p := b.peers["XB-RC"]
	p.abort.Store(1 << 20)
	ids := b.queue(t, "XB-RC", 5)
	b.round(t)
	if n := p.calls.Load(); n != 4 {
		t.Errorf("%d requests, want 4 (twice by the client, twice by delivery)", n)
	}
	if f := b.d.Destination("XB-RC").Failures(); f != 1 {
		t.Errorf("%d failures, want 1: the destination rests", f)
	}
	for _, id := range ids {
		if r := b.outbox.get(id); r.State != store.Queued || r.NextAttemptAt.Before(b.clock.Now()) {
			t.Fatalf("row %d: %s, next attempt %v; want queued with a backoff", id, r.State, r.NextAttemptAt)
		}
	}
}

// Requests in flight to one destination are spread over several HTTP/2
// connections (a cut loses a share of them), a trickle over one.
func TestRequestsSpreadOverConnections(t *testing.T) {
	b := newBench(t, Options{Workers: 24, BatchSize: 1, PollInterval: time.Hour}, realClock)
	p := b.peers["XB-RC"]
	one := b.queue(t, "XB-RC", 1)
	b.run(t)
	waitFor(t, "the first delivered", func() bool { return b.delivered(one) })
	release := p.holdAll(t)
	ids := b.queue(t, "XB-RC", 24)
	b.d.Kick()
	waitFor(t, "24 requests in flight", func() bool { return p.inflight.Load() == 24 })
	release()
	waitFor(t, "all delivered", func() bool { return b.delivered(ids) })
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.conns) != 3 {
		t.Errorf("%d connections for 24 requests in flight, want 3 (8 each)", len(p.conns))
	}
}

// sixteenHeldThroughLink starts a delivery to XB-RC through a link of
// 10 ms each way, one envelope per request, and returns once 16 requests
// are in flight, held by the peer until release is called.
func sixteenHeldThroughLink(t *testing.T) (b *bench, p *peer, ids []int64, release func()) {
	t.Helper()
	b = newBench(t, Options{Workers: 16, BatchSize: 1, PollInterval: time.Hour, Lease: time.Minute}, realClock,
		viaLink(linksim.Link{Delay: 10 * time.Millisecond}))
	p = b.peers["XB-RC"]
	one := b.queue(t, "XB-RC", 1)
	b.run(t)
	waitFor(t, "the first delivered", func() bool { return b.delivered(one) })
	release = p.holdAll(t)
	ids = b.queue(t, "XB-RC", 16)
	b.d.Kick()
	waitFor(t, "16 requests in flight", func() bool { return p.inflight.Load() == 16 })
	return b, p, ids, release
}

// A connection that breaks under requests (a link cut) costs them one
// round trip more: they go again at once on the destination's other
// connection, open and its HTTP/2 windows known, not on a new one (on a
// long link a TLS handshake, then the peer's SETTINGS before more than
// 64 KiB may go: two round trips more, before the cut requests' own); and
// a connection is dialled at once in place of the broken one.
func TestCutRequestsGoAgainOnOpenConnections(t *testing.T) {
	b, p, ids, release := sixteenHeldThroughLink(t)
	p.mu.Lock()
	before := maps.Clone(p.accepted)
	carrying := slices.SortedFunc(maps.Keys(p.carrying), func(a, b string) int { return p.carrying[b] - p.carrying[a] })
	p.mu.Unlock()
	if len(carrying) != 2 {
		// Through the link's delay, an http.Transport dialled one
		// connection per request waiting for one (9 for 16 here).
		t.Errorf("%d connections carry the 16 requests in flight, want 2", len(carrying))
	}
	before[carrying[0]].Close() // the link cuts the busiest, under its requests
	release()
	waitFor(t, "all delivered", func() bool { return b.delivered(ids) })
	waitFor(t, "a connection dialled in place of the cut one", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.accepted) > len(before)
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, from := range p.from {
		if before[from] == nil {
			t.Errorf("request %d (of %d read) came on a connection opened after the cut, not on the one still open", i, len(p.from))
		}
	}
}

// A request whose stream alone the peer reset goes again on another
// connection; the connection it went on, and the requests on it, stay.
func TestStreamResetKeepsConnection(t *testing.T) {
	b, p, ids, release := sixteenHeldThroughLink(t)
	p.abort.Store(1) // the first request read has its stream reset
	release()
	waitFor(t, "all delivered", func() bool { return b.delivered(ids) })
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.from) != 18 {
		t.Errorf("%d requests read for 17 envelopes and one reset, want 18: requests on the reset one's connection were sent again", len(p.from))
	}
	if p.closed != 0 {
		t.Errorf("%d connections closed: the reset one's connection went", p.closed)
	}
}

// While two requests of less than a batch are in flight, what
// accumulates waits for one of them to be answered, or goes in full
// batches: the answer to a full batch claims (a backlog keeps the window
// full of them) and sends what fills a batch, holding the rest back.
// Without this, each answer sent a request of whatever had accumulated,
// and a peer slowed down once was kept at the whole window of small
// requests for good.
func TestPartialRequestsInFlightAtMostTwo(t *testing.T) {
	b := newBench(t, Options{Workers: 8, BatchSize: 4, PollInterval: time.Hour}, realClock)
	p := b.peers["XB-RC"]
	first := b.queue(t, "XB-RC", 6) // claimed at once: a request of 4 (full) and one of 2
	gates := map[string]chan struct{}{}
	full, part := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() {
		for _, c := range []chan struct{}{full, part} {
			select {
			case <-c:
			default:
				close(c)
			}
		}
	})
	var gmu sync.Mutex
	gate := func(ids []int64, c chan struct{}) {
		gmu.Lock()
		defer gmu.Unlock()
		for _, id := range ids {
			gates[b.outbox.get(id).JTI] = c
		}
	}
	gate(first[:4], full)
	gate(first[4:], part)
	p.set(func(_ http.ResponseWriter, raw []byte) bool {
		c, _ := federation.ClaimsOf(raw)
		gmu.Lock()
		g := gates[c.JTI]
		gmu.Unlock()
		if g != nil {
			<-g
		}
		return false // a receipt
	})
	b.run(t)
	waitFor(t, "the first two requests", func() bool { return p.calls.Load() == 2 })
	third := b.queueCase(t, "XB-RC", "XA-RC:THIRD")
	gate(third, part)
	b.d.KickFor("XB-RC")
	waitFor(t, "a second request of less than a batch", func() bool { return p.calls.Load() == 3 })
	// Five rows queued (one kick): the full batch's answer sends four of
	// them, the fifth waits for a request of less than a batch.
	var more []int64
	for i := range 5 {
		more = append(more, b.queueCase(t, "XB-RC", fmt.Sprintf("XA-RC:MORE-%d", i))...)
	}
	b.d.KickFor("XB-RC")
	close(full)
	waitFor(t, "the full batch delivered", func() bool { return b.delivered(first[:4]) })
	waitFor(t, "a batch of four of the rows queued since", func() bool { return p.calls.Load() >= 4 })
	time.Sleep(100 * time.Millisecond) // time enough for another claim and request
	if got := p.calls.Load(); got != 4 {
		t.Fatalf("%d requests after the full batch's answer, want 4: one full batch, the fifth row held back", got)
	}
	close(part)
	all := slices.Concat(first, third, more)
	waitFor(t, "all delivered", func() bool { return b.delivered(all) })
	if got := p.calls.Load(); got != 5 {
		t.Errorf("%d requests, want 5", got)
	}
	b.obs.mu.Lock()
	defer b.obs.mu.Unlock()
	if got := fmt.Sprint(slices.Sorted(slices.Values(b.obs.sent))); got != "[1 1 2 4 4]" {
		t.Errorf("requests of %v envelopes, want 4, 2, 1, 4 and 1", b.obs.sent)
	}
}
