package conformance

import (
	"encoding/json"
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
