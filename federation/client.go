package federation

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	neturl "net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/federation/problem"
)

// The sending side of the federation wire (SPEC.md §6.3, §7, §10.1): a
// Client POSTs an envelope to the member it is addressed to, over mTLS with
// that member pinned, verifies the receipt, and classifies the answer as
// delivered, retry (after the peer's Retry-After, when it gave one) or
// permanent with the peer's code. Its callers decide from a Result and never
// look at HTTP, headers or problem documents.

// EnvelopesPath is the federation API resource envelopes are POSTed to.
const EnvelopesPath = "/flx/v1/envelopes"

// MaxReceiptBytes bounds what is read of a peer's answer.
const MaxReceiptBytes = 64 << 10

// Outcome classifies one attempt.
type Outcome int

// The outcomes.
const (
	// Delivered: the peer answered with a receipt that passed
	// VerifyReceipt (FLX-RCP-005). The envelope is delivered and is never
	// sent again (FLX-RCP-006).
	Delivered Outcome = iota + 1
	// Retry: the attempt failed in a way that is retried (FLX-DLV-002): no
	// answer, a 3xx, 408, 429, 5xx, 401 unauthenticated_peer, 400
	// unknown_key, a 2xx without a valid receipt; or this node cannot send
	// now (the destination is suspended).
	Retry
	// Permanent: the peer refused the envelope with any other 4xx
	// (FLX-DLV-003), or it cannot be sent at all (the destination left the
	// federation, the envelope is not this member's or not for it).
	Permanent
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Permanent:
		return "permanent"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Result is the classified answer to one attempt.
type Result struct {
	Outcome Outcome
	// Receipt is the verified receipt (Delivered); Receipt.Raw() are the
	// bytes to keep as proof.
	Receipt *Receipt
	// RetryAfter is the peer's Retry-After on a 429 or 503 (delta-seconds or
	// HTTP-date), zero when absent (FLX-DLV-006).
	RetryAfter time.Duration
	// Code is the peer's problem code (or, for a failure on this side, the
	// code that names it: unknown_member, bad_envelope, ...); empty when
	// there is none.
	Code Code
	// Status is the HTTP status, 0 when there was no answer.
	Status int
	// Reason says why an attempt did not deliver, in one line of ids and
	// codes only: "http_503: unavailable", "transport: ...", "bad_receipt:
	// ...". Its part before the first ':' is a short label for metrics.
	Reason string
	// LinkCut: the connection the request went out on broke before its
	// answer was read, and so did the new connection it was sent again on
	// at once (a link cut under requests in flight; see post), or the
	// answer broke off. The link worked: the caller need not rest the
	// destination, and sends the same bytes again after the wait of a
	// failed attempt (FLX-DLV-004); the peer may have stored them and then
	// answers them as duplicates, with receipts. Never set when no
	// connection could be made or the attempt timed out.
	LinkCut bool
}

// Client sends envelopes of member Self. It is safe for concurrent use and
// keeps one HTTP client (with its connections) per destination.
type Client struct {
	Self     string          // the sending member: every envelope's iss, every receipt's aud
	Cert     tls.Certificate // Self's TLS client certificate
	Manifest ManifestSource  // endpoints, status, TLS trust and receipt keys of the destinations
	// Directory is the TLS trust used to dial (the CA and pins); nil uses
	// the current manifest's on every handshake.
	Directory mtls.Directory
	Timeout   time.Duration    // bounds one attempt, connecting included; default 30 s (SPEC.md FLX-DLV-007: at most 120 s)
	Skew      time.Duration    // tolerated clock skew for receipts; 0 means DefaultSkew
	Now       func() time.Time // nil means time.Now

	mu      sync.Mutex
	clients map[string]*destConns
	noBatch map[string]time.Time // destinations sent single envelopes until then
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 30 * time.Second
}

// manifestDirectory is the TLS trust of whatever manifest src holds at each
// handshake.
type manifestDirectory struct{ src ManifestSource }

func (d manifestDirectory) Snapshot() mtls.Directory {
	if m := d.src.Current(); m != nil {
		return m.TLSDirectory()
	}
	return mtls.NewStatic(nil, nil)
}
func (d manifestDirectory) RootCAs() *x509.CertPool              { return d.Snapshot().RootCAs() }
func (d manifestDirectory) MemberBySPKI(p string) (string, bool) { return d.Snapshot().MemberBySPKI(p) }

// httpClient is destination dest's HTTP client: its metadata requests,
// and its deliveries when the peer does not offer HTTP/2.
func (c *Client) httpClient(dest string) *http.Client {
	return c.conns(dest).hc
}

func (c *Client) conns(dest string) *destConns {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clients == nil {
		c.clients = map[string]*destConns{}
	}
	dc := c.clients[dest]
	if dc == nil {
		dir := c.Directory
		if dir == nil {
			dir = manifestDirectory{c.Manifest}
		}
		hc := mtls.NewClient(c.Cert, dir, dest, c.timeout())
		dc = &destConns{hc: hc, tr: hc.Transport.(*http.Transport)}
		c.clients[dest] = dc
	}
	return dc
}

// Requests to a destination are spread over up to connsPerDest HTTP/2
// connections, a new one opened when each has streamsPerConn requests in
// flight. Over one TCP connection, everything in flight shares its fate: a
// link cut (or a middlebox that ends long flows) loses every request under
// way, and one lost segment stalls all of them; over a few, a cut loses a
// share, and on a long link each connection's congestion window grows on
// its own (as bulk transfers over satellite links do). The node's 32
// requests in flight take 4; a trickle takes one. Each connection costs a
// handshake (resumed after the first) and is closed when idle.
//
// A new connection is slow to carry a request on a long link: the TLS
// handshake takes a round trip (TCP one more), and until the peer's HTTP/2
// SETTINGS and WINDOW_UPDATE arrive, a round trip later, no more than
// 64 KiB of request bodies may go on it (RFC 9113 §6.9.2), less than one
// batch. So when a connection breaks under requests, they go again at once
// on the destination's other connections, which are open and whose windows
// are known (one round trip), and a connection in its place is dialled at
// once, in the background, to be ready for the requests that follow.
const (
	streamsPerConn = 8
	connsPerDest   = 8
)

// destConns is a destination's HTTP/2 connections (Transport.NewClientConn:
// each one connection, dialled by the pool; the TLS session cache is
// shared) and the requests each has in flight.
type destConns struct {
	hc *http.Client    // metadata; deliveries when the peer offers no h2
	tr *http.Transport // hc's transport, which dials the connections

	mu    sync.Mutex
	addr  string    // host:port the connections go to
	conns []*h2conn // open, and being dialled
	// spare is a connection dialled ahead and kept idle (so no link cuts
	// it for the bytes it carried) for requests to go again on at once
	// when others break, or for the next connection the pool needs: a
	// destination that needed two connections, or one that broke, has one.
	spare *h2conn
	h1    bool // the peer answered without h2: deliveries go through hc
}

// h2conn is one HTTP/2 connection of a destination, or one being dialled
// (ready not closed yet).
type h2conn struct {
	ready chan struct{} // closed once dialled: then cc or err is set
	cc    *http.ClientConn
	err   error
	busy  int // requests in flight, or waiting for it to be dialled
	// replaced: a request broke on it and another was dialled in its
	// place (broke).
	replaced bool
}

func (k *h2conn) dialled() bool {
	select {
	case <-k.ready:
		return true
	default:
		return false
	}
}

// errNoH2 is a dial's error when the peer offered no h2.
var errNoH2 = errors.New("federation: the peer offers no HTTP/2")

// roundTrip sends one request on a connection take chose.
type roundTrip func(*http.Request) (*http.Response, error)

// take returns how to send a request to u: on the connection with the
// fewest requests in flight other than avoid (the one a request just
// broke on), taking another (the spare, or a new one) when each has
// streamsPerConn and fewer than connsPerDest are open or being dialled. A
// request sent again after a break (avoid set) goes on the spare when it
// is open, else on an open connection whatever it carries, when there is
// one. done gives the request's slot back; conn is nil when the
// request goes through hc (not https, or HTTP/1.1).
func (dc *destConns) take(ctx context.Context, u *neturl.URL, avoid *h2conn) (rt roundTrip, conn *h2conn, done func(), err error) {
	if u.Scheme != "https" {
		return dc.hc.Do, nil, func() {}, nil
	}
	addr := canonicalAddr(u)
	dc.mu.Lock()
	if dc.addr != addr {
		// A new endpoint (or the first request): start over.
		for _, k := range append(dc.conns, dc.spare) {
			if k != nil && k.dialled() && k.cc != nil {
				k.cc.Close()
			}
		}
		dc.conns, dc.spare, dc.addr, dc.h1 = nil, nil, addr, false
	}
	if dc.h1 {
		dc.mu.Unlock()
		return dc.hc.Do, nil, func() {}, nil
	}
	dc.pruneLocked()
	var best *h2conn
	better := func(k *h2conn) bool {
		if best == nil {
			return true
		}
		if avoid != nil && k.dialled() != best.dialled() {
			return k.dialled() // a request sent again prefers an open connection
		}
		return k.busy < best.busy
	}
	for _, k := range dc.conns {
		if k != avoid && better(k) {
			best = k
		}
	}
	switch {
	case avoid != nil && dc.spareLocked() != nil:
		// Sent again after a break: on the spare, open and idle.
		best = dc.useSpareLocked()
	case best == nil || (best.busy >= streamsPerConn && !(avoid != nil && best.dialled()) && len(dc.conns) < connsPerDest):
		if dc.spareLocked() != nil {
			best = dc.useSpareLocked()
		} else {
			best = dc.dialLocked()
			dc.conns = append(dc.conns, best)
		}
	}
	if len(dc.conns) > 1 && dc.spare == nil {
		dc.spare = dc.dialLocked()
	}
	best.busy++
	dc.mu.Unlock()
	done = func() {
		dc.mu.Lock()
		best.busy--
		dc.mu.Unlock()
	}
	select {
	case <-best.ready:
	case <-ctx.Done():
		done()
		return nil, nil, nil, ctx.Err()
	}
	switch {
	case errors.Is(best.err, errNoH2):
		done()
		return dc.hc.Do, nil, func() {}, nil
	case best.err != nil:
		done()
		return nil, nil, nil, best.err
	}
	return best.cc.RoundTrip, best, done, nil
}

// pruneLocked drops the connections that can no longer be used.
func (dc *destConns) pruneLocked() {
	dc.conns = slices.DeleteFunc(dc.conns, func(k *h2conn) bool { return k.dialled() && (k.err != nil || k.cc.Err() != nil) })
}

// spareLocked is the spare when it is open, nil when there is none or it
// is being dialled; a spare that went (idle too long) is dropped.
func (dc *destConns) spareLocked() *h2conn {
	k := dc.spare
	if k == nil || !k.dialled() {
		return nil
	}
	if k.err != nil || k.cc.Err() != nil {
		dc.spare = nil
		return nil
	}
	return k
}

// useSpareLocked moves the open spare into the pool and dials another.
func (dc *destConns) useSpareLocked() *h2conn {
	k := dc.spare
	dc.conns = append(dc.conns, k)
	dc.spare = dc.dialLocked()
	return k
}

// dialLocked dials a connection to dc.addr in the background (as
// http.Transport does, the dial is not the request's: others may wait for
// it too); the caller adds it to the pool, or keeps it as the spare.
func (dc *destConns) dialLocked() *h2conn {
	k := &h2conn{ready: make(chan struct{})}
	addr := dc.addr
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), dc.tr.TLSHandshakeTimeout+15*time.Second)
		defer cancel()
		var proto string
		tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{TLSHandshakeDone: func(st tls.ConnectionState, _ error) { proto = st.NegotiatedProtocol }})
		cc, err := dc.tr.NewClientConn(tctx, "https", addr)
		if err == nil && proto != "h2" {
			cc.Close()
			cc, err = nil, errNoH2
		}
		dc.mu.Lock()
		k.cc, k.err = cc, err
		switch {
		case dc.addr != addr && err == nil:
			cc.Close() // the endpoint changed meanwhile
			k.err = net.ErrClosed
		case errors.Is(err, errNoH2) && dc.addr == addr:
			dc.h1 = true
		}
		close(k.ready)
		dc.mu.Unlock()
	}()
	return k
}

// broke drops k, a connection a request broke on, and dials another in
// its place at once, and a spare if there is none.
func (dc *destConns) broke(k *h2conn) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	k.cc.Close()
	dc.conns = slices.DeleteFunc(dc.conns, func(x *h2conn) bool { return x == k })
	if !k.replaced && !dc.h1 && len(dc.conns) < connsPerDest {
		k.replaced = true
		dc.conns = append(dc.conns, dc.dialLocked())
	}
	if dc.spare == nil && !dc.h1 {
		dc.spare = dc.dialLocked()
	}
}

// CloseIdleConnections closes the connections kept for later attempts.
func (c *Client) CloseIdleConnections() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, dc := range c.clients {
		dc.hc.CloseIdleConnections()
		dc.mu.Lock()
		dc.pruneLocked()
		if k := dc.spare; k != nil && k.dialled() {
			if k.cc != nil {
				k.cc.Close()
			}
			dc.spare = nil
		}
		dc.conns = slices.DeleteFunc(dc.conns, func(k *h2conn) bool {
			if k.dialled() && k.busy == 0 && k.cc.InFlight() == 0 {
				k.cc.Close()
				return true
			}
			return false
		})
		dc.mu.Unlock()
	}
}

func failed(o Outcome, code Code, reason string) Result {
	return Result{Outcome: o, Code: code, Reason: reason}
}

// Send makes one attempt to deliver envelope, which this member signed for
// member to, and returns the classified result. It never re-signs and never
// retries by itself: the caller keeps the envelope queued on Retry
// (re-sending the same bytes) and dead-letters it on Permanent.
func (c *Client) Send(ctx context.Context, to string, envelope []byte) Result {
	claims, err := ClaimsOf(envelope)
	if err != nil {
		return failed(Permanent, CodeBadEnvelope, "bad_envelope: the queued envelope does not decode")
	}
	return c.sendOf(ctx, to, envelope, claims)
}

// sendOf is Send with the claims of envelope already read (ClaimsOf).
func (c *Client) sendOf(ctx context.Context, to string, envelope []byte, claims Claims) Result {
	switch {
	case claims.Issuer != c.Self || claims.Audience != to:
		return failed(Permanent, CodeBadEnvelope, fmt.Sprintf("bad_envelope: the envelope goes from %s to %s, not from %s to %s",
			claims.Issuer, claims.Audience, c.Self, to))
	}
	m, mb, res := c.destination(to)
	if res.Outcome != 0 {
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	url := strings.TrimRight(mb.Endpoint, "/") + EnvelopesPath
	resp, err := c.post(ctx, to, url, "application/jose", "application/jose, "+problem.MediaType, envelope)
	if errors.Is(err, errBadEndpoint) {
		return failed(Permanent, CodeBadEnvelope, "bad_endpoint: "+err.Error())
	}
	if err != nil {
		return transportFailure(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxReceiptBytes))
	if err != nil {
		return answerCut(ctx, resp.StatusCode, err)
	}
	return c.classify(resp, bytes.TrimSpace(body), envelope, claims, m)
}

var errBadEndpoint = errors.New("federation: bad endpoint")

// errLinkCut marks post's error when the connection broke under the
// request on both tries (Result.LinkCut).
var errLinkCut = errors.New("the connection broke under the request")

// transportFailure is the Result of a request that got no answer.
func transportFailure(err error) Result {
	r := failed(Retry, "", "transport: "+err.Error())
	r.LinkCut = errors.Is(err, errLinkCut)
	return r
}

// answerCut is the Result of an answer whose body broke off: the link
// broke (LinkCut) unless the attempt ran out of time.
func answerCut(ctx context.Context, status int, err error) Result {
	var ne net.Error
	timedOut := ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout())
	return Result{Outcome: Retry, Status: status, Reason: "transport: reading the answer: " + err.Error(), LinkCut: !timedOut}
}

// post POSTs body to url, and once more, at once, when the connection it
// went out on broke before the answer came (a link cut under requests in
// flight): the second request goes on another of the destination's
// connections when one is open (a new one is dialled when none is, and in
// the background in place of the one that broke: destConns), and the
// envelopes are re-sent without waiting for the destination's backoff.
// What the peer had already stored it answers as a duplicate, with a
// receipt (FLX-DLV-009), so nothing is stored twice. A request that got
// no connection at all (the peer is down or unreachable) is not repeated:
// that is the backoff's business. When the second connection broke too,
// the error wraps errLinkCut.
func (c *Client) post(ctx context.Context, to, url, contentType, accept string, body []byte) (*http.Response, error) {
	var broken *h2conn
	for try := 0; ; try++ {
		var gotConn atomic.Bool
		tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }})
		req, err := http.NewRequestWithContext(tctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBadEndpoint, err)
		}
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Accept", accept)
		dc := c.conns(to)
		rt, k, done, err := dc.take(ctx, req.URL, broken)
		if err != nil {
			return nil, err // no connection: the backoff's business
		}
		resp, err := rt(req)
		done()
		if k != nil && err == nil {
			return resp, nil
		}
		var ne net.Error
		if err == nil || (k == nil && !gotConn.Load()) || ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
			return resp, err
		}
		if k != nil {
			broken = k
			if k.cc.Err() != nil {
				dc.broke(k) // the connection went, not only the stream
			}
		}
		if try > 0 {
			return nil, fmt.Errorf("%w: %w", errLinkCut, err)
		}
	}
}

// canonicalAddr is u's host:port, the port 443 when it names none.
func canonicalAddr(u *neturl.URL) string {
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// destination returns the manifest and the member to send to, or the
// Result of an attempt that cannot be made (Outcome set).
func (c *Client) destination(to string) (*Manifest, *Member, Result) {
	m := c.Manifest.Current()
	if m == nil {
		return nil, nil, failed(Retry, CodeUnavailable, "no_manifest: no federation manifest held")
	}
	if !c.now().Before(m.ExpiresAt) {
		// Nothing is sent on an expired manifest (FLX-MAN-006): the
		// destination, its endpoint and its keys may all have changed.
		return nil, nil, failed(Retry, CodeUnavailable, "no_manifest: the federation manifest held has expired")
	}
	mb, ok := m.Member(to)
	if !ok {
		return nil, nil, failed(Permanent, problem.UnknownMember, "unknown_member: destination is no longer in the federation")
	}
	if mb.Status != StatusActive {
		return nil, nil, failed(Retry, CodeSuspendedMember, "suspended: destination is suspended")
	}
	return m, mb, Result{}
}

// classify turns a peer's answer into a Result (SPEC.md §8.2, §10.1).
func (c *Client) classify(resp *http.Response, body, envelope []byte, claims Claims, m *Manifest) Result {
	status := resp.StatusCode
	switch {
	case status == http.StatusAccepted || status == http.StatusOK:
		// A 200 carrying a receipt that verifies is taken as delivered, as
		// the node always did: the signed receipt, not the status, proves
		// the envelope was stored. Any other 2xx is retried.
		want := ExpectReceipt(envelope, claims)
		want.Skew = c.Skew
		rc, err := VerifyReceipt(body, m, want, c.now())
		if err != nil {
			// The peer probably stored it; a retry gets a duplicate receipt.
			return Result{Outcome: Retry, Status: status, Code: CodeOf(err), Reason: "bad_receipt: " + err.Error()}
		}
		return Result{Outcome: Delivered, Receipt: rc, Status: status}
	case status >= 200 && status < 300:
		return Result{Outcome: Retry, Status: status, Reason: fmt.Sprintf("http_%d: not 202", status)}
	}
	return c.refusal(status, problemCode(body), resp.Header.Get("Retry-After"))
}

// refusal classifies a non-2xx answer with its problem code (SPEC.md §8.2).
func (c *Client) refusal(status int, code Code, retryAfter string) Result {
	res := Result{Status: status, Code: code, Reason: fmt.Sprintf("http_%d: %s", status, orNone(code))}
	switch {
	case status < 400, status == http.StatusRequestTimeout, status >= 500:
		res.Outcome = Retry
	case status == http.StatusTooManyRequests:
		res.Outcome = Retry
	case code == CodeUnauthenticatedPeer || code == CodeUnknownKey:
		// A peer holding an older manifest does not know our new key or
		// certificate yet: it will catch up (SPEC.md §8.2).
		res.Outcome = Retry
	case code == problem.MediaIncomplete:
		// The peer does not hold the attached media (it lost or removed
		// it): the next attempt uploads it again first (FLX-MED-011).
		res.Outcome = Retry
	default:
		res.Outcome = Permanent
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		res.RetryAfter = ParseRetryAfter(retryAfter, c.now())
	}
	return res
}

func orNone(c Code) string {
	if c == "" {
		return "no problem code"
	}
	return string(c)
}

// problemCode is the code of a problem document, "" when the body is none.
func problemCode(body []byte) Code {
	p, err := problem.Parse(body)
	if err != nil {
		return ""
	}
	return p.Code
}

// maxRetryAfter bounds what ParseRetryAfter returns; callers cap it further
// (at their backoff maximum).
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads a Retry-After header: delta-seconds or an
// HTTP-date. Zero when absent, unparsable, or not in the future.
func ParseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		const most = int64(maxRetryAfter / time.Second)
		return time.Duration(min(max(secs, 0), most)) * time.Second
	}
	if strings.HasPrefix(h, "-") || strings.IndexFunc(h, func(r rune) bool { return r < '0' || r > '9' }) < 0 {
		return 0 // a number too large for int64: not a date either
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}
