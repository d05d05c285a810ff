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
	clients map[string]*http.Client
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

func (c *Client) httpClient(dest string) *http.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clients == nil {
		c.clients = map[string]*http.Client{}
	}
	hc := c.clients[dest]
	if hc == nil {
		dir := c.Directory
		if dir == nil {
			dir = manifestDirectory{c.Manifest}
		}
		hc = mtls.NewClient(c.Cert, dir, dest, c.timeout())
		c.clients[dest] = hc
	}
	return hc
}

// CloseIdleConnections closes the connections kept for later attempts.
func (c *Client) CloseIdleConnections() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, hc := range c.clients {
		hc.CloseIdleConnections()
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
	switch {
	case err != nil:
		return failed(Permanent, CodeBadEnvelope, "bad_envelope: the queued envelope does not decode")
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
		return failed(Retry, "", "transport: "+err.Error())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxReceiptBytes))
	if err != nil {
		return Result{Outcome: Retry, Status: resp.StatusCode, Reason: "transport: reading the answer: " + err.Error()}
	}
	return c.classify(resp, bytes.TrimSpace(body), envelope, claims, m)
}

var errBadEndpoint = errors.New("federation: bad endpoint")

// post POSTs body to url, and once more, at once, when the connection it
// went out on broke before the answer came (a link cut under requests in
// flight): the HTTP client dials a new connection for the second request,
// and the envelopes are re-sent without waiting for the destination's
// backoff. What the peer had already stored it answers as a duplicate, with
// a receipt (FLX-DLV-009), so nothing is stored twice. A request that got
// no connection at all (the peer is down or unreachable) is not repeated:
// that is the backoff's business.
func (c *Client) post(ctx context.Context, to, url, contentType, accept string, body []byte) (*http.Response, error) {
	for try := 0; ; try++ {
		var gotConn atomic.Bool
		tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }})
		req, err := http.NewRequestWithContext(tctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBadEndpoint, err)
		}
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Accept", accept)
		resp, err := c.httpClient(to).Do(req)
		var ne net.Error
		if err == nil || try > 0 || !gotConn.Load() || ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
			return resp, err
		}
	}
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
