package federation

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/familylinks/flx/federation/problem"
)

// Batches (SPEC.md §6.5): many envelopes in one request, each signed by its
// origin and checked by the receiver as if it had been POSTed alone, each
// answered with its own receipt or refusal. One receipt per envelope, not
// one signed batch receipt: a receipt is the proof that one envelope was
// stored, kept on that envelope's outbox row and checked by the same
// VerifyReceipt whichever resource carried it, and an envelope refused in a
// batch needs no receipt of the others to be explained.

// BatchesPath is the federation API resource batches are POSTed to.
const BatchesPath = "/flx/v1/batches"

// BatchMediaType is the media type of a batch and of its answer.
const BatchMediaType = "application/json"

// BatchRequest is the body of POST /flx/v1/batches.
type BatchRequest struct {
	// Envelopes are compact JWS envelopes, at most the receiver's
	// max_batch_envelopes, each at most its max_body_bytes.
	Envelopes []string `json:"envelopes"`
}

// BatchAnswer is the 200 answer to a batch: one result per envelope, in
// the order of the request.
type BatchAnswer struct {
	Results []BatchResult `json:"results"`
}

// BatchResult is the outcome of one envelope of a batch: status 202 with
// the receipt, or the status and problem document the envelope would have
// been answered with alone.
type BatchResult struct {
	Status  int              `json:"status"`
	Receipt string           `json:"receipt,omitempty"`
	Problem *problem.Problem `json:"problem,omitempty"`
}

var batchRequestShape = shapeOf(reflect.TypeFor[BatchRequest]())

// ParseBatchRequest reads a batch strictly: one JSON object with exactly
// the member envelopes, an array of 1 to maxEnvelopes strings, no
// duplicated member and nothing after it. A malformed batch is refused
// with bad_envelope, one with too many envelopes with too_large.
func ParseBatchRequest(body []byte, maxEnvelopes int) ([][]byte, error) {
	out, ok := parseBatchFast(body)
	if !ok {
		// Pointers, so that a null in the array, which encoding/json
		// would read as "", is told from a string.
		var req struct {
			Envelopes []*string `json:"envelopes"`
		}
		if err := decodeStrict(body, batchRequestShape, &req); err != nil {
			return nil, problem.Errorf(problem.BadEnvelope, "the batch is not a JSON object with an array of envelopes: %v", err)
		}
		if req.Envelopes != nil {
			out = make([][]byte, len(req.Envelopes))
			for i, e := range req.Envelopes {
				if e == nil {
					return nil, problem.Errorf(problem.BadEnvelope, "envelope %d of the batch is null, not a string", i)
				}
				out[i] = []byte(*e)
			}
		}
	}
	switch {
	case out == nil:
		return nil, problem.New(problem.BadEnvelope, "the batch has no envelopes member")
	case len(out) == 0:
		return nil, problem.New(problem.BadEnvelope, "the batch is empty")
	case len(out) > maxEnvelopes:
		return nil, problem.Errorf(problem.TooLarge, "the batch has %d envelopes, more than %d", len(out), maxEnvelopes)
	}
	return out, nil
}

// parseBatchFast reads the common batch, {"envelopes":["...", ...]} with
// strings free of escapes, in one walk, its envelopes slices of body. It
// reports false, leaving the batch to the strict decoder, for anything
// else (escapes, null, other members, a member name written with escapes,
// invalid JSON). The walk checks the structure itself and each string with
// vectorised searches and word tests (no quote inside, no backslash, no
// control byte, valid UTF-8: a JSON string encoding/json reads as it is),
// instead of a validity scan of every byte followed by a second walk.
func parseBatchFast(body []byte) ([][]byte, bool) {
	d := body
	i := skipWS(d, 0)
	if i >= len(d) || d[i] != '{' {
		return nil, false
	}
	i = skipWS(d, i+1)
	if !bytes.HasPrefix(d[i:], []byte(`"envelopes"`)) {
		return nil, false
	}
	i = skipWS(d, i+len(`"envelopes"`))
	if i >= len(d) || d[i] != ':' {
		return nil, false
	}
	i = skipWS(d, i+1)
	if i >= len(d) || d[i] != '[' {
		return nil, false
	}
	i = skipWS(d, i+1)
	out := make([][]byte, 0, bytes.Count(d[i:], []byte{'"'})/2)
	if i < len(d) && d[i] == ']' {
		i++
	} else {
		for {
			if i >= len(d) || d[i] != '"' {
				return nil, false
			}
			n := bytes.IndexByte(d[i+1:], '"')
			if n < 0 {
				return nil, false
			}
			e := d[i+1 : i+1+n]
			if !plainJSONString(e) {
				return nil, false
			}
			out = append(out, e[:len(e):len(e)])
			i = skipWS(d, i+2+n)
			if i >= len(d) {
				return nil, false
			}
			if d[i] == ']' {
				i++
				break
			}
			if d[i] != ',' {
				return nil, false
			}
			i = skipWS(d, i+1)
		}
	}
	i = skipWS(d, i)
	if i >= len(d) || d[i] != '}' {
		return nil, false // not a second member
	}
	return out, skipWS(d, i+1) == len(d)
}

// skipWS returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipWS(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// plainJSONString reports whether e, the bytes between two quotes, is a
// JSON string without escapes that encoding/json reads unchanged: no
// backslash, no control byte, valid UTF-8 (e holds no quote).
func plainJSONString(e []byte) bool {
	if bytes.IndexByte(e, '\\') >= 0 {
		return false
	}
	i := 0
	for ; i+8 <= len(e); i += 8 {
		if anyBelow20(binary.LittleEndian.Uint64(e[i:])) {
			return false
		}
	}
	for ; i < len(e); i++ {
		if e[i] < 0x20 {
			return false
		}
	}
	return utf8.Valid(e)
}

// ParseBatchAnswer reads a receiver's answer to a batch of n envelopes:
// exactly n results, each 202 with a receipt or a 4xx/5xx status with a
// problem document carrying a code. Problem documents may carry members of
// later revisions, so the answer is not decoded strictly; each receipt is
// verified on its own (VerifyReceipt) before anything is taken as stored.
func ParseBatchAnswer(body []byte, n int) ([]BatchResult, error) {
	var a BatchAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("federation: batch answer: %w", err)
	}
	if len(a.Results) != n {
		return nil, fmt.Errorf("federation: batch answer: %d results for %d envelopes", len(a.Results), n)
	}
	for i, r := range a.Results {
		switch {
		case r.Status == 202 && r.Receipt != "" && r.Problem == nil:
		case r.Status >= 400 && r.Status <= 599 && r.Receipt == "" && r.Problem != nil && r.Problem.Code != "":
		default:
			return nil, fmt.Errorf("federation: batch answer: result %d is neither 202 with a receipt nor a refusal with a problem code", i)
		}
	}
	return a.Results, nil
}

// MarshalBatch encodes envelopes as a batch request body.
func MarshalBatch(envelopes [][]byte) ([]byte, error) {
	if len(envelopes) == 0 {
		return nil, errors.New("federation: empty batch")
	}
	// Compact JWS are base64url and dots, which JSON strings hold as they
	// are: written directly, without copying each envelope into a string
	// and through encoding/json's escaping.
	n := len(`{"envelopes":[]}`)
	for _, e := range envelopes {
		n += len(e) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, `{"envelopes":[`...)
	for i, e := range envelopes {
		if !jwsForm(e) {
			return marshalBatchJSON(envelopes)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, e...)
		b = append(b, '"')
	}
	return append(b, "]}"...), nil
}

// jwsForm reports whether e holds only base64url characters and dots
// (what a compact JWS is made of).
func jwsForm(e []byte) bool {
	// Eight lookups combined with & and one branch per eight bytes: the
	// byte-per-branch loop read each envelope of a batch at half the speed.
	i := 0
	for ; i+8 <= len(e); i += 8 {
		w := e[i : i+8 : i+8]
		if jwsByte[w[0]]&jwsByte[w[1]]&jwsByte[w[2]]&jwsByte[w[3]]&jwsByte[w[4]]&jwsByte[w[5]]&jwsByte[w[6]]&jwsByte[w[7]] == 0 {
			return false
		}
	}
	for ; i < len(e); i++ {
		if jwsByte[e[i]] == 0 {
			return false
		}
	}
	return true
}

// jwsByte is 1 for the bytes of a compact JWS: the base64url alphabet and
// the dot.
var jwsByte = func() (t [256]uint8) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") {
		t[c] = 1
	}
	return t
}()

// marshalBatchJSON is MarshalBatch through encoding/json, for envelopes
// that are not compact JWS (the receiver refuses them one by one).
func marshalBatchJSON(envelopes [][]byte) ([]byte, error) {
	req := BatchRequest{Envelopes: make([]string, len(envelopes))}
	for i, e := range envelopes {
		req.Envelopes[i] = string(e)
	}
	return json.Marshal(req)
}

// MaxBatchAnswerBytes is the most read of a peer's answer to a batch of n
// envelopes: what a legitimate answer can be, one result per envelope, each
// at most what the answer to that envelope alone may be (MaxReceiptBytes:
// a receipt or a problem document) and its framing, plus the answer's own;
// and never more than 16 MiB. A longer answer is a failed attempt (the
// envelopes are retried), read no further: a receiver cannot make this
// node hold more for each batch it has in flight.
func MaxBatchAnswerBytes(n int) int64 {
	return min(batchAnswerFraming+int64(max(n, 1))*(MaxReceiptBytes+batchResultFraming), maxBatchAnswer)
}

const (
	batchAnswerFraming = 1 << 10  // {"results":[…]} and whitespace
	batchResultFraming = 256      // {"status":…,"receipt":…} or {"status":…,"problem":…}, a comma, whitespace
	maxBatchAnswer     = 16 << 20 // whatever n
)

// noBatchFor is how long a destination that answered a batch as a
// resource it does not serve is sent single envelopes before batches are
// tried again (it may be upgraded).
const noBatchFor = 10 * time.Minute

// SendBatch makes one attempt to deliver envelopes, each signed by this
// member for member to, in one request (POST /flx/v1/batches), and returns
// one Result per envelope, in order, classified as Send classifies the
// answer to a single envelope. A peer that does not serve batches (404,
// 405, 415) or refuses the batch as a whole with another 4xx that is not
// retried gets each envelope alone (Send), so that every envelope has its
// own verdict; such a peer is sent single envelopes for a while.
func (c *Client) SendBatch(ctx context.Context, to string, envelopes [][]byte) []Result {
	if len(envelopes) == 1 || c.batchesOff(to) {
		out := make([]Result, len(envelopes))
		for i, e := range envelopes {
			out[i] = c.Send(ctx, to, e)
		}
		return out
	}
	claims := make([]Claims, len(envelopes))
	errs := make([]error, len(envelopes))
	for i, e := range envelopes {
		claims[i], errs[i] = ClaimsOf(e)
	}
	return c.sendBatch(ctx, to, envelopes, claims, errs)
}

// SendBatchOf is SendBatch for envelopes whose claims the caller has
// already read: claims[i] must be what ClaimsOf returned, without an error,
// for envelopes[i]. A sender that reads the claims before sending (to route
// an envelope, to push its media) thus reads them once per envelope, not
// once more here.
func (c *Client) SendBatchOf(ctx context.Context, to string, envelopes [][]byte, claims []Claims) []Result {
	if len(claims) != len(envelopes) {
		panic("federation: SendBatchOf: one claims per envelope")
	}
	if len(envelopes) == 1 || c.batchesOff(to) {
		out := make([]Result, len(envelopes))
		for i, e := range envelopes {
			out[i] = c.sendOf(ctx, to, e, claims[i])
		}
		return out
	}
	return c.sendBatch(ctx, to, envelopes, claims, nil)
}

// sendBatch is SendBatch's request, with claims[i] and errs[i] (nil: none)
// what ClaimsOf returned for envelopes[i].
func (c *Client) sendBatch(ctx context.Context, to string, envelopes [][]byte, claims []Claims, errs []error) []Result {
	out := make([]Result, len(envelopes))
	var idx []int // envelopes that go in the request
	for i := range envelopes {
		cl := claims[i]
		switch {
		case errs != nil && errs[i] != nil:
			out[i] = failed(Permanent, CodeBadEnvelope, "bad_envelope: the queued envelope does not decode")
		case cl.Issuer != c.Self || cl.Audience != to:
			out[i] = failed(Permanent, CodeBadEnvelope, fmt.Sprintf("bad_envelope: the envelope goes from %s to %s, not from %s to %s",
				cl.Issuer, cl.Audience, c.Self, to))
		default:
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return out
	}
	all := func(r Result) []Result {
		for _, i := range idx {
			out[i] = r
		}
		return out
	}
	m, mb, res := c.destination(to)
	if res.Outcome != 0 {
		return all(res)
	}
	batch := make([][]byte, len(idx))
	for k, i := range idx {
		batch[k] = envelopes[i]
	}
	body, err := MarshalBatch(batch)
	if err != nil {
		return all(failed(Permanent, CodeBadEnvelope, "bad_envelope: "+err.Error()))
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	url := strings.TrimRight(mb.Endpoint, "/") + BatchesPath
	resp, err := c.post(rctx, to, url, BatchMediaType, BatchMediaType+", "+problem.MediaType, body)
	if errors.Is(err, errBadEndpoint) {
		return all(failed(Permanent, CodeBadEnvelope, "bad_endpoint: "+err.Error()))
	}
	if err != nil {
		return all(transportFailure(err))
	}
	defer resp.Body.Close()
	status := resp.StatusCode
	limit := MaxBatchAnswerBytes(len(idx))
	if resp.ContentLength > limit {
		return all(answerTooLong(status, len(idx), limit))
	}
	// Read in a buffer that grows with what arrived (not sized by the
	// announced length), one byte past the limit to tell a longer answer.
	answer, err := ReadAtMost(io.LimitReader(resp.Body, limit+1), resp.ContentLength, limit+1)
	if err != nil {
		return all(answerCut(rctx, status, err))
	}
	if int64(len(answer)) > limit {
		return all(answerTooLong(status, len(idx), limit))
	}
	if status != http.StatusOK {
		if status >= 200 && status < 300 {
			return all(Result{Outcome: Retry, Status: status, Reason: fmt.Sprintf("http_%d: not 200", status)})
		}
		r := c.refusal(status, problemCode(answer), resp.Header.Get("Retry-After"))
		if r.Outcome != Permanent {
			return all(r)
		}
		// The batch as a whole was refused: no batches here (404, 405,
		// 415), or too large, or malformed for this peer. Each envelope
		// alone gets its own verdict.
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed || status == http.StatusUnsupportedMediaType {
			c.setBatchesOff(to)
		}
		for _, i := range idx {
			out[i] = c.Send(ctx, to, envelopes[i])
		}
		return out
	}
	results, err := ParseBatchAnswer(answer, len(idx))
	if err != nil {
		// The peer may have stored them; a retry gets duplicate receipts.
		return all(Result{Outcome: Retry, Status: status, Reason: "bad_receipt: " + err.Error()})
	}
	// The receipts of the answer, all signed by the destination's key, are
	// verified together (VerifyReceipts); each keeps its own verdict.
	raws := make([][]byte, 0, len(idx))
	wants := make([]ExpectedReceipt, 0, len(idx))
	at := make([]int, 0, len(idx))
	for k, i := range idx {
		r := results[k]
		if r.Status != http.StatusAccepted {
			out[i] = c.refusal(r.Status, r.Problem.Code, "")
			continue
		}
		want := ExpectReceipt(envelopes[i], claims[i])
		want.Skew = c.Skew
		raws, wants, at = append(raws, []byte(r.Receipt)), append(wants, want), append(at, i)
	}
	rcs, errs := VerifyReceipts(raws, m, wants, c.now())
	for j, i := range at {
		if err := errs[j]; err != nil {
			out[i] = Result{Outcome: Retry, Status: http.StatusAccepted, Code: CodeOf(err), Reason: "bad_receipt: " + err.Error()}
			continue
		}
		out[i] = Result{Outcome: Delivered, Receipt: rcs[j], Status: http.StatusAccepted}
	}
	return out
}

// answerTooLong is the Result of an answer to n envelopes longer than
// MaxBatchAnswerBytes(n): no legitimate answer is, and the peer may have
// stored them (a retry gets duplicate receipts), so they are retried.
func answerTooLong(status, n int, limit int64) Result {
	return Result{Outcome: Retry, Status: status,
		Reason: fmt.Sprintf("answer_too_large: the answer to %d envelopes is longer than %d bytes", n, limit)}
}

func (c *Client) batchesOff(to string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.noBatch[to]
	return ok && c.now().Before(until)
}

func (c *Client) setBatchesOff(to string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.noBatch == nil {
		c.noBatch = map[string]time.Time{}
	}
	c.noBatch[to] = c.now().Add(noBatchFor)
}
