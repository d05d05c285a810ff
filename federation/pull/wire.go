package pull

import (
	"context"
	"time"

	"github.com/familylinks/flx/federation"
)

// The resources, relative to the serving member's endpoint.
const (
	PathPull = "/flx/v1/pull"
	PathAck  = "/flx/v1/pull/ack"
)

// MediaType is the content type of every pull document.
const MediaType = "application/json"

// Defaults and bounds.
const (
	DefaultMax       = 50               // envelopes per pull when max is not given
	MaxMax           = 500              // the largest max a server honours
	DefaultLease     = 2 * time.Minute  // how long a pulled envelope is held for its puller
	MaxWait          = 30 * time.Second // the longest wait a server honours
	DefaultBatchSize = 8 << 20          // bytes of envelopes per batch (a single larger envelope still goes alone)
	MaxAckBytes      = 4 << 20          // the largest acknowledgement body
	MaxAckItems      = 1000             // receipts plus refusals in one acknowledgement
)

// Batch is the answer to GET /flx/v1/pull.
type Batch struct {
	// Envelopes are compact JWS queued for the puller (aud = the puller,
	// relay.forward envelopes included), oldest first. The puller processes
	// them in this order.
	Envelopes []string `json:"envelopes"`
	// LeaseUntil (NumericDate) is when the envelopes are offered again
	// unless acknowledged. An acknowledgement after it still counts.
	LeaseUntil int64 `json:"lease_until"`
	// More: more envelopes are waiting; pull again after acknowledging.
	More bool `json:"more"`
}

// Ack is the body of POST /flx/v1/pull/ack.
type Ack struct {
	// Receipts are the puller's signed receipts (typ flx-receipt+jws), one
	// per envelope it stored or had already stored (status accepted or
	// duplicate), exactly as it would answer a POST of that envelope.
	Receipts []string `json:"receipts"`
	// Refusals are envelopes the puller refused for good.
	Refusals []Refusal `json:"refusals,omitempty"`
}

// Refusal says that the puller refused one envelope with a code that is not
// retried (federation.Code.Retryable is false): the server dead-letters it.
// A retried refusal is not reported: the envelope is simply not
// acknowledged, and offered again after its lease.
type Refusal struct {
	JTI    string          `json:"jti"`
	SHA256 string          `json:"sha256"` // of the exact envelope bytes refused
	Code   federation.Code `json:"code"`
}

// Item statuses of an AckResult.
const (
	StatusRecorded = "recorded" // the envelope is done
	StatusUnknown  = "unknown"  // no such envelope is queued for the puller (done before, or never)
	StatusRefused  = "refused"  // the receipt or refusal is not valid; Code says why
)

// ItemResult is the outcome of one receipt or refusal.
type ItemResult struct {
	JTI    string          `json:"jti,omitempty"`
	Status string          `json:"status"`
	Code   federation.Code `json:"code,omitempty"`
}

// AckResult answers an Ack: one result per receipt and per refusal, in the
// order sent.
type AckResult struct {
	Receipts []ItemResult `json:"receipts"`
	Refusals []ItemResult `json:"refusals"`
}

// Queued is one envelope waiting for a puller.
type Queued struct {
	JTI    string
	CaseID string // per-case order: see Queue.Lease
	SHA256 string // lowercase hex of Raw
	Raw    []byte
}

// Limit bounds one lease.
type Limit struct {
	Count int   // at most this many envelopes
	Bytes int64 // and, past the first, no more than this many bytes in all
}

// Queue is what a server holds for pullers. Implementations must be safe for
// concurrent use and durable where the node is (the node's is its outbox).
type Queue interface {
	// Lease returns, oldest first, envelopes queued for member that are not
	// done and not under a lease that runs past now, within lim, and leases
	// them until until. An envelope of a case is returned only if no earlier
	// envelope of that case (to member) is still waiting, unless that one
	// comes earlier in the same answer. more reports whether envelopes that
	// could have been returned were left out by lim.
	Lease(ctx context.Context, member string, lim Limit, now, until time.Time) (got []Queued, more bool, err error)
	// Lookup returns the envelope with that jti queued for member and not
	// done (leased or not).
	Lookup(ctx context.Context, member, jti string) (Queued, bool, error)
	// Delivered marks it done, keeping the verified receipt (FLX-RCP-006).
	Delivered(ctx context.Context, member string, q Queued, receipt *federation.Receipt) error
	// Refused marks it dead-lettered with the puller's code.
	Refused(ctx context.Context, member string, q Queued, code federation.Code) error
}
