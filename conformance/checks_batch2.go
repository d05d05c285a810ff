package conformance

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/familylinks/flx/federation"
)

// checkBatchTwiceInBatch checks the copies FLX-BAT-002 names within one
// batch: an envelope, the same bytes again and other bytes under its jti,
// in one batch, get an accepted receipt, a duplicate receipt and replay;
// sent alone afterwards, the envelope is a duplicate and the other bytes a
// replay (what was stored under the jti is the first envelope).
func checkBatchTwiceInBatch(t *T) {
	good, gc := t.validCase()
	c := t.valid()
	c.JTI = gc.JTI
	other := t.sign(c, keyTester)
	res := t.batchResults(t.postBatch(batchBody(good, good, other), "application/json"), 3)
	if _, err := t.checkReceipt(asReceipt(res[0]), good, gc, federation.ReceiptAccepted); err != nil {
		t.Errorf("the envelope, first in the batch: %v", err)
	}
	if _, err := t.checkReceipt(asReceipt(res[1]), good, gc, federation.ReceiptDuplicate); err != nil {
		t.Errorf("the same envelope again in the batch: %v", err)
	}
	if _, err := shouldRefuse(asReceipt(res[2]), "replay"); err != nil {
		t.Errorf("other bytes under its jti in the batch: %v", err)
	}
	if _, err := t.checkReceipt(t.post(t, good), good, gc, federation.ReceiptDuplicate); err != nil {
		t.Errorf("the envelope sent again alone: %v", err)
	}
	if _, err := shouldRefuse(t.post(t, other), "replay"); err != nil {
		t.Errorf("the other bytes sent alone: %v", err)
	}
}

// checkBatchEnvelopeOverMaxBody checks that an envelope of a batch is
// bounded by MAX_BODY as if it had come alone (FLX-BAT-002, §19.2): in a
// batch within max_batch_bytes, a valid envelope and a string of MAX_BODY
// + 1 bytes get 202 and 413 too_large (not bad_envelope: the size is
// decided before the bytes are parsed).
func checkBatchEnvelopeOverMaxBody(t *T) {
	ans, err := t.request(certTester, http.MethodGet, "/.well-known/flx", nil, "")
	if err != nil {
		t.Fatalf("GET /.well-known/flx: %v", err)
	}
	var md struct {
		Limits struct {
			MaxBatchBytes int64 `json:"max_batch_bytes"`
		} `json:"limits"`
	}
	if err := json.Unmarshal(ans.Body, &md); err != nil {
		t.Fatalf("metadata: %v", err)
	}
	good, gc := t.validCase()
	big := []byte(strings.Repeat("A", int(t.maxBody)+1))
	body := batchBody(good, big)
	if int64(len(body)) > md.Limits.MaxBatchBytes {
		t.Skipf("max_batch_bytes %d holds no envelope over MAX_BODY (%d) beside another", md.Limits.MaxBatchBytes, t.maxBody)
	}
	res := t.batchResults(t.postBatch(body, "application/json"), 2)
	if _, err := t.checkReceipt(asReceipt(res[0]), good, gc, federation.ReceiptAccepted); err != nil {
		t.Errorf("the valid envelope beside one over MAX_BODY: %v", err)
	}
	if _, err := shouldRefuse(asReceipt(res[1]), "too_large"); err != nil {
		t.Errorf("an envelope of MAX_BODY + 1 bytes in the batch: %v", err)
	}
}

// batchLimits reads the batch limits the candidate advertises (§6.2, §19.2).
func (t *T) batchLimits() (maxEnvelopes int, maxBytes int64) {
	t.Helper()
	ans, err := t.request(certTester, http.MethodGet, "/.well-known/flx", nil, "")
	if err != nil {
		t.Fatalf("GET /.well-known/flx: %v", err)
	}
	var md struct {
		Limits struct {
			MaxBatchEnvelopes int   `json:"max_batch_envelopes"`
			MaxBatchBytes     int64 `json:"max_batch_bytes"`
		} `json:"limits"`
	}
	if err := json.Unmarshal(ans.Body, &md); err != nil || md.Limits.MaxBatchEnvelopes < 1 || md.Limits.MaxBatchBytes < 1 {
		t.Fatalf("metadata limits max_batch_envelopes %d, max_batch_bytes %d: %v", md.Limits.MaxBatchEnvelopes, md.Limits.MaxBatchBytes, err)
	}
	return md.Limits.MaxBatchEnvelopes, md.Limits.MaxBatchBytes
}

// paddedBatch is a batch of first and n - 1 strings of 'A' (not envelopes,
// each refused alone) whose body is exactly size bytes long, or nil when n
// strings cannot make exactly that size.
func paddedBatch(first []byte, n int, size int64) []byte {
	if n < 2 {
		return nil
	}
	// {"envelopes":["first","A…",…,"A…"]}: 16 bytes of frame, two quotes
	// per string and a comma between two.
	pad := size - int64(16+len(first)+2*n+n-1)
	if pad < int64(n-1) {
		return nil
	}
	envs := [][]byte{first}
	each, rest := pad/int64(n-1), pad%int64(n-1)
	for i := range n - 1 {
		l := each
		if int64(i) < rest {
			l++
		}
		envs = append(envs, []byte(strings.Repeat("A", int(l))))
	}
	b := batchBody(envs...)
	if int64(len(b)) != size {
		return nil
	}
	return b
}

// requestChunked is request with a body of unknown length: chunked over
// HTTP/1.1, without Content-Length over HTTP/2.
func (env *Env) requestChunked(cert, method, path string, body []byte, contentType string) (*Answer, error) {
	req, err := http.NewRequestWithContext(env.ctx, method, env.target.String()+path, struct{ io.Reader }{bytes.NewReader(body)})
	if err != nil {
		return nil, err
	}
	req.ContentLength = -1
	req.Header.Set("Content-Type", contentType)
	return doAnswer(env.client(cert), req)
}

// checkBatchAtLimits probes both limits of a batch at their edge (§13.3):
// max_batch_envelopes envelopes in a body of exactly max_batch_bytes are
// answered 200 with one result per envelope (FLX-BAT-001: the valid one
// accepted, the padding strings refused each alone), and one byte more gets
// 413 too_large as a whole (FLX-BAT-003), sent with its Content-Length and
// chunked.
func checkBatchAtLimits(t *T) {
	n, size := t.batchLimits()
	if size > 64<<20 {
		t.Skipf("max_batch_bytes %d is too large to fill in a test", size)
	}
	good, gc := t.validCase()
	body := paddedBatch(good, n, size)
	if body == nil {
		t.Skipf("max_batch_envelopes %d and max_batch_bytes %d cannot be met together with padding strings", n, size)
	}
	res := t.batchResults(t.postBatch(body, "application/json"), n)
	if _, err := t.checkReceipt(asReceipt(res[0]), good, gc, federation.ReceiptAccepted); err != nil {
		t.Errorf("the valid envelope of a batch of max_batch_envelopes (%d) in max_batch_bytes (%d): %v", n, size, err)
	}
	for i, r := range res[1:] {
		if r.Status == http.StatusAccepted {
			t.Errorf("padding string %d of the batch was accepted", i+1)
			break
		}
	}
	over, oc := t.validCase()
	body = paddedBatch(over, n, size+1)
	if body == nil {
		t.Skipf("max_batch_bytes + 1 cannot be met with padding strings")
	}
	if _, err := shouldRefuse(t.postBatch(body, "application/json"), "too_large"); err != nil {
		t.Errorf("a batch of max_batch_bytes + 1 bytes with Content-Length: %v", err)
	}
	ans, err := t.requestChunked(certTester, http.MethodPost, federation.BatchesPath, body, "application/json")
	if err != nil {
		t.Fatalf("POST %s chunked: %v", federation.BatchesPath, err)
	}
	if _, err := shouldRefuse(ans, "too_large"); err != nil {
		t.Errorf("a batch of max_batch_bytes + 1 bytes, chunked: %v", err)
	}
	// Nothing of the refused batches was stored.
	if _, err := t.checkReceipt(t.post(t, over), over, oc, federation.ReceiptAccepted); err != nil {
		t.Errorf("the envelope of the refused batches, sent alone: %v (was something of them stored?)", err)
	}
}
