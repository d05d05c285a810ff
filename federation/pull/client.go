package pull

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
)

// Client pulls from one serving member.
type Client struct {
	// HTTP is an mTLS client for the serving member: mtls.NewClient with
	// this member's certificate, pinned to the server's member. It must not
	// follow redirects (mtls.NewClient does not).
	HTTP *http.Client
	// Endpoint is the serving member's endpoint from the manifest.
	Endpoint string
	// MaxResponseBytes bounds what is read of an answer (0: twice
	// DefaultBatchSize).
	MaxResponseBytes int64
}

func (c *Client) limit() int64 {
	if c.MaxResponseBytes > 0 {
		return c.MaxResponseBytes
	}
	return 2 * DefaultBatchSize
}

func (c *Client) url(path string, q url.Values) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(c.Endpoint, "/") + path)
	if err != nil || u.Scheme != "https" {
		return "", fmt.Errorf("pull: endpoint %q is not an https URL", c.Endpoint)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Pull asks for up to max envelopes (0: the server's default), waiting up to
// wait (whole seconds, at most MaxWait) when none is queued. A refusal is a
// *federation.Error with the problem's code (retry when
// federation.Code.Retryable).
func (c *Client) Pull(ctx context.Context, max int, wait time.Duration) (*Batch, error) {
	q := url.Values{}
	if max > 0 {
		q.Set("max", strconv.Itoa(max))
	}
	if wait > 0 {
		q.Set("wait", strconv.Itoa(int(min(wait, MaxWait)/time.Second)))
	}
	u, err := c.url(PathPull, q)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	req.Header.Set("Accept", MediaType)
	body, err := c.do(req)
	if err != nil {
		return nil, err
	}
	return parseBatch(body)
}

// parseBatch decodes a pull answer strictly: exactly the members of Batch,
// each once, envelopes a (possibly empty) array of non-empty strings,
// lease_until positive. An item that is not a string (a null, which
// encoding/json would read as "", included) fails the whole answer, as it
// fails a batch (FLX-BAT-003): the pull failed, nothing of it is processed.
func parseBatch(body []byte) (*Batch, error) {
	// Pointers, so that a null item is told from a string.
	var w struct {
		Envelopes  []*string `json:"envelopes"`
		LeaseUntil int64     `json:"lease_until"`
		More       bool      `json:"more"`
	}
	if err := federation.DecodeStrict(body, &w); err != nil || w.Envelopes == nil || w.LeaseUntil <= 0 {
		return nil, federation.NewError(federation.CodeBadEnvelope, "the pull answer is not a batch", err)
	}
	b := &Batch{Envelopes: make([]string, len(w.Envelopes)), LeaseUntil: w.LeaseUntil, More: w.More}
	for i, e := range w.Envelopes {
		switch {
		case e == nil:
			return nil, federation.NewError(federation.CodeBadEnvelope, fmt.Sprintf("envelope %d of the batch is null, not a string", i), nil)
		case *e == "":
			return nil, federation.NewError(federation.CodeBadEnvelope, fmt.Sprintf("envelope %d of the batch is empty", i), nil)
		}
		b.Envelopes[i] = *e
	}
	return b, nil
}

// Ack sends receipts and refusals and returns what the server made of each.
func (c *Client) Ack(ctx context.Context, a Ack) (*AckResult, error) {
	if a.Receipts == nil {
		a.Receipts = []string{}
	}
	payload, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("pull: encode acknowledgement: %w", err)
	}
	u, err := c.url(PathAck, nil)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	req.Header.Set("Content-Type", MediaType)
	req.Header.Set("Accept", MediaType)
	body, err := c.do(req)
	if err != nil {
		return nil, err
	}
	var res AckResult
	if err := federation.DecodeStrict(body, &res); err != nil || len(res.Receipts) != len(a.Receipts) || len(res.Refusals) != len(a.Refusals) {
		return nil, federation.NewError(federation.CodeBadEnvelope, "the acknowledgement answer does not match the acknowledgement", err)
	}
	return &res, nil
}

// do sends req and returns the body of a 200 application/json answer.
func (c *Client) do(req *http.Request) ([]byte, error) {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pull: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.limit()+1))
	if err != nil {
		return nil, fmt.Errorf("pull: %s %s: reading the answer: %w", req.Method, req.URL.Path, err)
	}
	if int64(len(body)) > c.limit() {
		return nil, fmt.Errorf("pull: %s %s: answer larger than %d bytes", req.Method, req.URL.Path, c.limit())
	}
	if resp.StatusCode != http.StatusOK {
		var p problem
		_ = json.Unmarshal(body, &p)
		return nil, federation.NewError(federation.Code(p.Code), fmt.Sprintf("%s %s answered %d", req.Method, req.URL.Path, resp.StatusCode), errors.New(p.Detail))
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != MediaType {
		return nil, federation.NewError(federation.CodeBadEnvelope, "the answer is not application/json", nil)
	}
	return body, nil
}

// Processor verifies and durably stores one pulled envelope, exactly as the
// node receives a pushed one, and returns what it would have answered: the
// receipt it signed (status accepted, or duplicate for bytes it already
// holds), or the code it refused the envelope with. err is a failure of its
// own (a database down): the envelope was not stored and is not answered.
type Processor func(ctx context.Context, raw []byte) (receipt []byte, refusal federation.Code, err error)

// DrainStats counts what one Drain did.
type DrainStats struct {
	Batches   int // pulls that returned envelopes
	Envelopes int // envelopes processed
	Receipts  int // receipts the server recorded
	Refusals  int // refusals the server recorded
	Pending   int // envelopes left to their lease: retried refusals, receipts the server did not record, unprocessed
}

// Drain pulls and processes until the server has nothing more for this
// member. Each batch is processed in order and then acknowledged in one
// request. A failure of process stops the batch there (later envelopes of the
// same case must not overtake it) and ends the drain after acknowledging what
// was processed; so does a failed pull or acknowledgement. Whatever was not
// acknowledged is offered again when its lease runs out, and the processor's
// duplicate handling makes the second offer harmless.
func (c *Client) Drain(ctx context.Context, max int, process Processor) (DrainStats, error) {
	var st DrainStats
	for {
		b, err := c.Pull(ctx, max, 0)
		if err != nil {
			return st, err
		}
		if len(b.Envelopes) == 0 {
			return st, nil
		}
		st.Batches++
		var ack Ack
		var procErr error
		for i, e := range b.Envelopes {
			raw := []byte(e)
			receipt, code, err := process(ctx, raw)
			if err != nil {
				procErr = fmt.Errorf("pull: processing envelope %d of the batch: %w", i, err)
				st.Pending += len(b.Envelopes) - i
				break
			}
			st.Envelopes++
			switch {
			case receipt != nil:
				ack.Receipts = append(ack.Receipts, string(receipt))
			case code != "" && !code.Retryable():
				sum := sha256.Sum256(raw)
				ack.Refusals = append(ack.Refusals, Refusal{JTI: peekJTI(raw), SHA256: hex.EncodeToString(sum[:]), Code: code})
			default:
				st.Pending++
			}
		}
		if len(ack.Receipts)+len(ack.Refusals) > 0 {
			res, err := c.Ack(ctx, ack)
			if err != nil {
				return st, errors.Join(procErr, err)
			}
			for _, r := range res.Receipts {
				if r.Status == StatusRecorded || r.Status == StatusUnknown {
					st.Receipts++
				} else {
					st.Pending++
				}
			}
			for _, r := range res.Refusals {
				if r.Status == StatusRecorded || r.Status == StatusUnknown {
					st.Refusals++
				} else {
					st.Pending++
				}
			}
		}
		if procErr != nil {
			return st, procErr
		}
		if !b.More {
			return st, nil
		}
	}
}

// peekJTI reads the jti of an envelope without verifying it (to name an
// envelope refused before it could be verified; the server matches the
// sha256 too). "" when there is none to read.
func peekJTI(raw []byte) string {
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.JTI
}
