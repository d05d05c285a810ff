package media

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
)

// Uploader is the sending side of the media wire for one destination
// member. It offers the envelope with the hash list, then PATCHes the media
// from the receiver's offset; after a cut it asks the receiver (HEAD) where
// to resume, so a transfer cut at any byte loses at most one chunk. Every
// chunk read from the source is checked against the hash list before it is
// sent: a node never sends bytes that differ from what it signed.
type Uploader struct {
	// Client sends the requests: mtls.NewClient for the destination. Its
	// Timeout, if any, must allow one request of RequestBytes at the
	// bandwidth cap (RequestTime below keeps requests short).
	Client *http.Client
	// Endpoint is the destination's endpoint from the manifest.
	Endpoint string
	// RequestBytes is the largest body of one PATCH, rounded down to whole
	// chunks (at least one). Default 64 MiB.
	RequestBytes int64
	// Limiter caps the bandwidth in bytes per second; share one between the
	// uploads to a destination to cap that peer. Nil: no cap.
	Limiter *rate.Limiter
	// RequestTime bounds one PATCH at the Limiter's rate: with a cap,
	// requests carry at most rate × RequestTime bytes. Default 60 s.
	RequestTime time.Duration
	// MaxStalls is how many attempts in a row may end without progress
	// before Upload gives up. Default 8.
	MaxStalls int
	// StallTimeout abandons a request whose body has not moved for this
	// long (default 2 minutes): a link that died without a reset.
	StallTimeout time.Duration
	// Backoff is the wait before attempt n (n ≥ 1) after a failure without
	// progress. Default 0.5 s × 2^(n−1), at most 30 s.
	Backoff func(n int) time.Duration
	Log     *slog.Logger
}

// Result describes a finished (or abandoned) upload.
type Result struct {
	Upload    string // the upload's URL
	Offset    int64  // bytes the receiver holds, verified
	Size      int64
	Requests  int   // HTTP requests made
	Resumes   int   // times the transfer resumed after a failed request
	SentBytes int64 // media bytes put on the wire (≥ Size when resumed)
}

// RemoteError is a refusal by the receiver.
type RemoteError struct {
	Status     int
	Code       federation.Code
	Detail     string
	RetryAfter time.Duration
	Offset     int64 // Upload-Offset of the answer; -1 if absent
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("media: receiver answered %d %s: %s", e.Status, e.Code, e.Detail)
}

// ErrLocalMismatch: the sender's own copy of the media does not match the
// hash list it signed. Nothing wrong was sent; the upload stops.
var ErrLocalMismatch = errors.New("media: the local media does not match its signed chunk hashes")

func (u *Uploader) log() *slog.Logger {
	if u.Log != nil {
		return u.Log
	}
	return slog.Default()
}

func (u *Uploader) backoff(n int) time.Duration {
	if u.Backoff != nil {
		return u.Backoff(n)
	}
	d := 500 * time.Millisecond << min(n-1, 6)
	return min(d, 30*time.Second)
}

func (u *Uploader) requestBytes(ref Ref) int64 {
	n := u.RequestBytes
	if n <= 0 {
		n = 64 << 20
	}
	if u.Limiter != nil && u.Limiter.Limit() != rate.Inf {
		t := u.RequestTime
		if t <= 0 {
			t = time.Minute
		}
		n = min(n, int64(float64(u.Limiter.Limit())*t.Seconds()))
	}
	return max(ref.ChunkBytes, n/ref.ChunkBytes*ref.ChunkBytes)
}

// Upload sends the media of ref, read from src, bound to the signed
// message.deliver envelope. It returns when the receiver holds all of it,
// verified (Result.Offset == ref.Size), or with an error: a *RemoteError
// that is not retried (see Retryable), ErrLocalMismatch, the context's
// error, or the last failure after MaxStalls attempts without progress.
// After it returns nil, the caller POSTs the envelope as usual.
func (u *Uploader) Upload(ctx context.Context, envelope []byte, ref Ref, hashes HashList, src io.ReaderAt) (Result, error) {
	res := Result{Size: ref.Size, Offset: -1}
	if err := ref.Check(); err != nil {
		return res, err
	}
	if int64(len(hashes)) != ref.Chunks() || hashes.Root() != ref.ChunksRoot {
		return res, fmt.Errorf("%w: the hash list is not the reference's", ErrLocalMismatch)
	}
	maxStalls := u.MaxStalls
	if maxStalls <= 0 {
		maxStalls = 8
	}
	stalls := 0
	var last error
	// fail records a failed attempt; it returns a non-nil error when the
	// upload must stop.
	fail := func(err error) error {
		last = err
		var re *RemoteError
		if errors.As(err, &re) && !Retryable(re.Code) {
			return err
		}
		if errors.Is(err, ErrLocalMismatch) || ctx.Err() != nil {
			return err
		}
		stalls++
		if stalls > maxStalls {
			return fmt.Errorf("media: upload gave up after %d attempts without progress: %w", stalls, last)
		}
		wait := u.backoff(stalls)
		if errors.As(err, &re) && re.RetryAfter > wait {
			wait = min(re.RetryAfter, time.Hour)
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		return nil
	}

	// Offer until the receiver has a session for us.
	for res.Offset < 0 {
		loc, off, err := u.offer(ctx, envelope, ref, hashes, &res)
		if err == nil {
			res.Upload, res.Offset = loc, off
			break
		}
		if stop := fail(err); stop != nil {
			return res, stop
		}
	}
	stalls = 0
	per := u.requestBytes(ref)
	for res.Offset < ref.Size {
		before := res.Offset
		end := min(ref.Size, res.Offset+per)
		sentBefore := res.SentBytes
		cutAfterProgress := false
		off, err := u.patch(ctx, ref, hashes, src, res.Offset, end, &res)
		u.log().Debug("media PATCH", "upload", res.Upload, "from", before, "to", off, "sent", res.SentBytes-sentBefore, "err", err)
		if errors.Is(err, ErrLocalMismatch) {
			// The local copy is corrupt: resuming would only send again
			// what came before the bad chunk.
			return res, err
		}
		if err == nil {
			res.Offset = off
		} else {
			var re *RemoteError
			if errors.As(err, &re) && re.Code == CodeOffsetMismatch && re.Offset >= 0 {
				res.Offset = re.Offset // resume where the receiver is
			} else {
				// A link that cuts every few MiB is not a stalled one: after
				// a transport failure of a request that put at least a chunk
				// on the wire, resume at once; back off when the receiver
				// answered, when a request moved nothing, and (below) when
				// the receiver kept nothing of it.
				if errors.As(err, &re) || res.SentBytes-sentBefore < ref.ChunkBytes {
					if stop := fail(err); stop != nil {
						return res, stop
					}
				} else {
					last, cutAfterProgress = err, true
				}
				// Ask where to resume. A failed HEAD is one more attempt.
				for {
					off, herr := u.head(ctx, &res)
					if herr == nil {
						res.Offset = off
						break
					}
					if stop := fail(herr); stop != nil {
						return res, stop
					}
				}
				res.Resumes++
			}
		}
		if res.Offset < 0 || res.Offset > ref.Size || (res.Offset%ref.ChunkBytes != 0 && res.Offset != ref.Size) {
			return res, fmt.Errorf("media: the receiver reports offset %d for %d bytes in chunks of %d", res.Offset, ref.Size, ref.ChunkBytes)
		}
		if res.Offset > before {
			stalls = 0
		} else if err == nil || cutAfterProgress {
			if stop := fail(errors.New("media: a request made no progress")); stop != nil {
				return res, stop
			}
		}
	}
	u.log().Info("media sent", "upload", res.Upload, "size", ref.Size, "requests", res.Requests, "resumes", res.Resumes)
	return res, nil
}

func (u *Uploader) url(path string) string { return strings.TrimRight(u.Endpoint, "/") + path }

func (u *Uploader) offer(ctx context.Context, envelope []byte, ref Ref, hashes HashList, res *Result) (string, int64, error) {
	body, _ := json.Marshal(offerBody{Envelope: string(envelope), ChunkHashes: base64.RawURLEncoding.EncodeToString(hashes.Bytes())})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.url(UploadsPath), bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	res.Requests++
	resp, err := u.Client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return "", 0, remoteError(resp)
	}
	var a offerAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&a); err != nil {
		return "", 0, fmt.Errorf("media: offer answer: %w", err)
	}
	id, err := ParseDigest(strings.TrimPrefix(a.Upload, UploadsPath+"/"))
	if err != nil || a.Upload != UploadsPath+"/"+id.String() || a.Length != ref.Size {
		return "", 0, fmt.Errorf("media: the receiver's offer answer does not fit the media (upload %q, length %d)", a.Upload, a.Length)
	}
	return u.url(a.Upload), a.Offset, nil
}

func (u *Uploader) head(ctx context.Context, res *Result) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, res.Upload, nil)
	if err != nil {
		return 0, err
	}
	res.Requests++
	resp, err := u.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return 0, remoteError(resp)
	}
	off, err := ParseOffset(resp.Header.Get(HeaderOffset))
	if err != nil {
		return 0, fmt.Errorf("media: HEAD answer: %w", err)
	}
	return off, nil
}

func (u *Uploader) patch(parent context.Context, ref Ref, hashes HashList, src io.ReaderAt, off, end int64, res *Result) (int64, error) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	body := &chunkReader{ctx: ctx, ref: ref, hashes: hashes, src: src, off: off, end: end, lim: u.Limiter}
	// The transport may go on reading the body after Do returns: count
	// what it took until then, and stop it.
	defer func() { res.SentBytes += body.sent.Load(); body.Close() }()
	body.moved.Store(time.Now().UnixNano())
	stall := u.StallTimeout
	if stall <= 0 {
		stall = 2 * time.Minute
	}
	done := make(chan struct{})
	defer close(done)
	go func() { // cancel the request when its body stops moving
		t := time.NewTicker(stall / 4)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if time.Since(time.Unix(0, body.moved.Load())) >= stall {
					cancel(errStalled)
					return
				}
			}
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, res.Upload, body)
	if err != nil {
		return 0, err
	}
	req.ContentLength = end - off
	req.GetBody = nil // never replay a body behind our back
	req.Header.Set("Content-Type", ContentTypeChunks)
	req.Header.Set(HeaderOffset, strconv.FormatInt(off, 10))
	res.Requests++
	resp, err := u.Client.Do(req)
	if lerr := body.localErr(); lerr != nil {
		return 0, lerr
	}
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errStalled) {
			return 0, fmt.Errorf("%w: %w", cause, err)
		}
		return 0, err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusNoContent {
		return 0, remoteError(resp)
	}
	n, err := ParseOffset(resp.Header.Get(HeaderOffset))
	if err != nil {
		return 0, fmt.Errorf("media: PATCH answer: %w", err)
	}
	return n, nil
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func remoteError(resp *http.Response) *RemoteError {
	e := &RemoteError{Status: resp.StatusCode, Offset: -1}
	var p problem.Problem
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&p) == nil {
		e.Code, e.Detail = p.Code, p.Detail
	}
	if e.Code == "" {
		e.Code = CodeInternal
		if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			e.Code = CodeBadUpload
		}
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	if off, err := ParseOffset(resp.Header.Get(HeaderOffset)); err == nil {
		e.Offset = off
	}
	return e
}

// chunkReader is a PATCH body: the media from off to end, read one chunk at
// a time from src, each checked against its hash before any of it is sent,
// paced by the limiter.
type chunkReader struct {
	ctx    context.Context
	ref    Ref
	hashes HashList
	src    io.ReaderAt
	off    int64 // next byte to read from src
	end    int64
	lim    *rate.Limiter
	sent   atomic.Int64 // bytes handed out

	chunk []byte       // reused chunk buffer
	buf   []byte       // verified bytes of chunk not yet handed out
	moved atomic.Int64 // unix ns of the last Read that handed out bytes

	mu     sync.Mutex // Read runs in the transport's goroutine
	err    error      // a local failure (reported instead of the transport's error)
	closed bool
}

func (c *chunkReader) localErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close stops a transport that goes on reading after Do returned.
func (c *chunkReader) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

var errStalled = errors.New("media: the request body did not move")

const paceBytes = 32 << 10

// fail records a local failure.
func (c *chunkReader) fail(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
	return err
}

func (c *chunkReader) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Read is called by the transport's goroutine only; Close may come from
// another.
func (c *chunkReader) Read(p []byte) (int, error) {
	if c.isClosed() {
		return 0, errors.New("media: request body closed")
	}
	if len(c.buf) == 0 {
		if c.off >= c.end {
			return 0, io.EOF
		}
		i := c.off / c.ref.ChunkBytes
		_, n := c.ref.Chunk(i)
		if int64(cap(c.chunk)) < n {
			c.chunk = make([]byte, c.ref.ChunkBytes)
		}
		chunk := c.chunk[:n]
		if _, err := c.src.ReadAt(chunk, c.off); err != nil && !(err == io.EOF && len(chunk) == int(n)) {
			return 0, c.fail(fmt.Errorf("media: read local media: %w", err))
		}
		if Sum(chunk) != c.hashes[i] {
			return 0, c.fail(fmt.Errorf("%w: chunk %d", ErrLocalMismatch, i))
		}
		c.buf = chunk
		c.off += n
	}
	n := min(len(p), len(c.buf))
	if c.lim != nil {
		n = min(n, paceBytes, c.lim.Burst())
		if err := c.lim.WaitN(c.ctx, n); err != nil {
			return 0, err
		}
	}
	copy(p, c.buf[:n])
	c.buf = c.buf[n:]
	c.sent.Add(int64(n))
	c.moved.Store(time.Now().UnixNano())
	return n, nil
}

// NewLimiter returns a bandwidth cap of bytesPerSecond for Uploader.Limiter
// (0 or less: none).
func NewLimiter(bytesPerSecond int64) *rate.Limiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(bytesPerSecond), int(min(bytesPerSecond, paceBytes)))
}
