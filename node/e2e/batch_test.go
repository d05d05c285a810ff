package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/backoff"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// postBatch sends envelopes to tn as XA-RC in one batch and returns the
// status and the answer.
func postBatch(t testing.TB, f *fedtest.Federation, tn *nodetest.Node, ctype string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, tn.FedURL+federation.BatchesPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := nodetest.Client(t, f, "XA-RC", tn).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func batchOf(t testing.TB, envs ...[]byte) []byte {
	t.Helper()
	b, err := federation.MarshalBatch(envs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBatchEachEnvelopeAlone sends one batch holding a valid envelope, a
// forged one, one addressed to another member, an invalid body, a replay
// of an earlier jti with other bytes, a copy of an envelope already
// received and the same valid envelope twice: each gets the answer it
// would have got alone, and only the valid ones are stored, once.
func TestBatchEachEnvelopeAlone(t *testing.T) {
	t.Parallel()
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
			lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
			f.Sign(t)
			xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{Dialect: d})
			env := func(caseID string) []byte {
				return f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, caseID, minimalCase(t, caseID))
			}
			earlier := env("XA-RC:B-0")
			if code := postRaw(t, f, xb, earlier); code != "" {
				t.Fatalf("the earlier envelope: %s", code)
			}
			valid := env("XA-RC:B-1")
			forged := env("XA-RC:B-2")
			// One character of the signature changed (still canonical base64url).
			at := bytes.LastIndexByte(forged, '.') + 10
			forged[at] = map[bool]byte{true: 'B', false: 'A'}[forged[at] == 'A']
			other := f.Envelope(t, "XA-RC", "XC-RC", federation.KindCaseCreate, "XA-RC:B-3", minimalCase(t, "XA-RC:B-3"))
			invalid := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, "XA-RC:B-4", []byte(`{"case_id":"XA-RC:B-4"}`))
			ec, _ := federation.ClaimsOf(earlier)
			replayed := signWithJTI(t, f, ec.JTI, "XA-RC:B-5")
			envs := [][]byte{valid, forged, other, invalid, replayed, earlier, valid}
			status, body := postBatch(t, f, xb, "application/json", batchOf(t, envs...))
			if status != http.StatusOK {
				t.Fatalf("batch answered %d: %s", status, body)
			}
			res, err := federation.ParseBatchAnswer(body, len(envs))
			if err != nil {
				t.Fatal(err)
			}
			want := []struct {
				status  int
				code    problem.Code
				receipt federation.ReceiptStatus
			}{
				{202, "", federation.ReceiptAccepted}, {400, problem.BadSignature, ""}, {400, problem.WrongAudience, ""},
				{422, problem.SchemaInvalid, ""}, {409, problem.Replay, ""}, {202, "", federation.ReceiptDuplicate},
				{202, "", federation.ReceiptDuplicate},
			}
			for i, w := range want {
				r := res[i]
				if r.Status != w.status {
					t.Errorf("envelope %d: status %d %+v, want %d %s", i, r.Status, r.Problem, w.status, w.code)
					continue
				}
				if w.code != "" && r.Problem.Code != w.code {
					t.Errorf("envelope %d: code %s, want %s", i, r.Problem.Code, w.code)
				}
				if w.receipt == "" {
					continue
				}
				c, _ := federation.ClaimsOf(envs[i])
				rc, err := federation.VerifyReceipt([]byte(r.Receipt), f.Manifest, federation.ExpectReceipt(envs[i], c), time.Now())
				if err != nil {
					t.Errorf("envelope %d: receipt: %v", i, err)
				} else if rc.Status != w.receipt {
					t.Errorf("envelope %d: receipt %s, want %s", i, rc.Status, w.receipt)
				}
			}
			rows := allInbox(t, xb.Store, store.InboxFilter{Iss: "XA-RC"})
			if len(rows) != 2 {
				t.Fatalf("%d inbox rows, want 2 (the earlier envelope and the valid one)", len(rows))
			}
			waitProcessed(t, xb.Store, "XA-RC:B-1", string(federation.KindCaseCreate), 1)
			if _, err := xb.Store.GetCase(ctx, "XA-RC:B-2"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the forged envelope's case exists: %v", err)
			}
		})
	}
}

// signWithJTI signs a case.create from XA-RC for caseID under a given jti.
func signWithJTI(t testing.TB, f *fedtest.Federation, jti, caseID string) []byte {
	t.Helper()
	now := time.Now()
	raw, err := federation.Sign(federation.Claims{Issuer: "XA-RC", Audience: "XB-RC", IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		JTI: jti, Kind: federation.KindCaseCreate, CaseID: caseID, Body: minimalCase(t, caseID)}, f.Member(t, "XA-RC").Key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestBatchRefusedAsAWhole(t *testing.T) {
	t.Parallel()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{})
	env := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, "XA-RC:W-1", minimalCase(t, "XA-RC:W-1"))
	many := make([][]byte, xb.MaxBatchEnvelopes()+1)
	for i := range many {
		many[i] = env
	}
	tests := []struct {
		name, ctype string
		body        []byte
		status      int
		code        problem.Code
	}{
		{"one envelope as application/jose", "application/jose", env, 400, problem.BadEnvelope},
		{"not a batch", "application/json", []byte(`{"envelope":"x"}`), 400, problem.BadEnvelope},
		{"empty", "application/json", []byte(`{"envelopes":[]}`), 400, problem.BadEnvelope},
		{"too many envelopes", "application/json", batchOf(t, many...), 413, problem.TooLarge},
		{"too many bytes", "application/json", []byte(`{"envelopes":["` + strings.Repeat("a", int(xb.MaxBatchBytes())) + `"]}`), 413, problem.TooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postBatch(t, f, xb, tc.ctype, tc.body)
			p, err := problem.Parse(body)
			if status != tc.status || err != nil || p.Code != tc.code {
				t.Fatalf("answered %d %s, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	if rows := allInbox(t, xb.Store, store.InboxFilter{}); len(rows) != 0 {
		t.Fatalf("%d rows stored from refused batches", len(rows))
	}
}

// failingReceive makes every Receive and ReceiveAll (single or in a transaction) fail
// while failing is set, as a full disk does, while reads still answer.
type failingReceive struct {
	store.Store
	failing *atomic.Bool
}

var errDiskFull = errors.New("test: could not extend file: No space left on device")

func (s failingReceive) Receive(ctx context.Context, it store.InboxItem, r store.Receipt) (store.ReceiveResult, error) {
	if s.failing.Load() {
		return store.ReceiveResult{}, errDiskFull
	}
	return s.Store.Receive(ctx, it, r)
}

func (s failingReceive) ReceiveAll(ctx context.Context, es []store.ReceiveEntry) ([]store.ReceiveResult, error) {
	if s.failing.Load() {
		return nil, errDiskFull
	}
	return s.Store.ReceiveAll(ctx, es)
}

func (s failingReceive) PingWrite(ctx context.Context) error {
	if s.failing.Load() {
		return errDiskFull
	}
	return s.Store.PingWrite(ctx)
}

func (s failingReceive) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.Store.Tx(ctx, func(tx store.Tx) error { return fn(failingTx{tx, s.failing}) })
}

type failingTx struct {
	store.Tx
	failing *atomic.Bool
}

func (t failingTx) Receive(ctx context.Context, it store.InboxItem, r store.Receipt) (store.ReceiveResult, error) {
	if t.failing.Load() {
		return store.ReceiveResult{}, errDiskFull
	}
	return t.Tx.Receive(ctx, it, r)
}

func (t failingTx) ReceiveAll(ctx context.Context, es []store.ReceiveEntry) ([]store.ReceiveResult, error) {
	if t.failing.Load() {
		return nil, errDiskFull
	}
	return t.Tx.ReceiveAll(ctx, es)
}

// TestBatchStoreFailure: when the batch cannot be stored, nothing of it is
// kept, the batch is answered 503 with Retry-After, readiness turns false
// until a write succeeds again, and the sender delivers everything once
// the database is back.
func TestBatchStoreFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	lnA := nodetest.Listen(t, f.Member(t, "XA-RC"))
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	var failing atomic.Bool
	failing.Store(true)
	xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{WrapStore: func(s store.Store) store.Store { return failingReceive{s, &failing} }})
	if err := xb.Ready(ctx); err != nil {
		t.Fatalf("ready before any write: %v", err)
	}
	envs := [][]byte{}
	for i := range 3 {
		id := fmt.Sprintf("XA-RC:F-%d", i)
		envs = append(envs, f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, id, minimalCase(t, id)))
	}
	status, body := postBatch(t, f, xb, "application/json", batchOf(t, envs...))
	if p, err := problem.Parse(body); status != 503 || err != nil || p.Code != problem.Unavailable {
		t.Fatalf("answered %d %s, want 503 unavailable", status, body)
	}
	if err := xb.Ready(ctx); !errors.Is(err, node.ErrWritesFailing) {
		t.Fatalf("ready while writes fail: %v", err)
	}
	if rows := allInbox(t, xb.Store, store.InboxFilter{}); len(rows) != 0 {
		t.Fatalf("%d rows stored from a failed batch", len(rows))
	}
	// The sender keeps them queued and delivers once writes work again.
	d := node.DeliveryOptions{Workers: 2, BatchSize: 10, MaxAttempts: 100, Backoff: backoffFast, RequestTimeout: 5 * time.Second,
		Lease: 15 * time.Second, PollInterval: 50 * time.Millisecond}
	xa := nodetest.Start(t, f, "XA-RC", lnA, nodetest.Options{Delivery: &d})
	for _, e := range envs {
		c, _ := federation.ClaimsOf(e)
		if _, err := xa.Store.Enqueue(ctx, store.NewOutboxItem{Destination: "XB-RC", CaseID: c.CaseID, Kind: string(c.Kind), JTI: c.JTI, Envelope: e}); err != nil {
			t.Fatal(err)
		}
	}
	xa.KickDelivery()
	nodetest.WaitFor(t, 10*time.Second, "a failed attempt", func() bool {
		return outboxTo(t, xa.Store, "XB-RC").Queued == 3 && allOutbox(t, xa.Store, store.OutboxFilter{})[0].Attempts > 0
	})
	failing.Store(false)
	nodetest.WaitFor(t, 20*time.Second, "all three delivered", func() bool { return outboxTo(t, xa.Store, "XB-RC").Delivered == 3 })
	if err := xb.Ready(ctx); err != nil {
		t.Fatalf("not ready after writes work again: %v", err)
	}
	// Delivered means stored and receipted; XB-RC's inbox loop processes
	// the rows after that, on its own time. A stored row it never
	// processed would time out here.
	nodetest.WaitFor(t, 20*time.Second, "XB-RC processed the three", func() bool {
		return len(allInbox(t, xb.Store, store.InboxFilter{})) == 3 && len(allInbox(t, xb.Store, store.InboxFilter{State: "unprocessed"})) == 0
	})
	checkReceivedOnce(t, xb.Store, "XA-RC", jtisOf(envs))
}

var backoffFast = backoff.Policy{Initial: 50 * time.Millisecond, Max: time.Second}

func jtisOf(envs [][]byte) []string {
	var out []string
	for _, e := range envs {
		c, _ := federation.ClaimsOf(e)
		out = append(out, c.JTI)
	}
	return out
}

// TestSlowUploadIsRetryable: a body that does not arrive within the read
// timeout is answered 408 request_timeout (which senders retry), not
// bad_envelope.
func TestSlowUploadIsRetryable(t *testing.T) {
	t.Parallel()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{ReadTimeout: time.Second})
	env := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, "XA-RC:S-1", minimalCase(t, "XA-RC:S-1"))
	for _, path := range []string{federation.EnvelopesPath, federation.BatchesPath} {
		t.Run(path, func(t *testing.T) {
			pr, pw := io.Pipe()
			go func() {
				pw.Write(env[:100]) // then nothing: the link stalls
				time.Sleep(3 * time.Second)
				pw.CloseWithError(net.ErrClosed)
			}()
			req, _ := http.NewRequest(http.MethodPost, xb.FedURL+path, pr)
			req.ContentLength = int64(len(env))
			req.Header.Set("Content-Type", map[string]string{federation.EnvelopesPath: "application/jose", federation.BatchesPath: "application/json"}[path])
			start := time.Now()
			resp, err := nodetest.Client(t, f, "XA-RC", xb).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var p struct {
				Code string `json:"code"`
			}
			json.NewDecoder(resp.Body).Decode(&p)
			if resp.StatusCode != http.StatusRequestTimeout || p.Code != string(problem.RequestTimeout) {
				t.Fatalf("answered %d %q after %s, want 408 request_timeout", resp.StatusCode, p.Code, time.Since(start))
			}
		})
	}
}
