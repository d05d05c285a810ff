package conformance

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/familylinks/flx/federation"
)

// Checks of batches (SPEC.md §19).

// postBatch submits a batch body as the tester.
func (t *T) postBatch(body []byte, contentType string) *Answer {
	t.Helper()
	ans, err := t.request(certTester, http.MethodPost, federation.BatchesPath, body, contentType)
	if err != nil {
		t.Fatalf("POST %s: %v", federation.BatchesPath, err)
	}
	return ans
}

// batchResults requires a 200 application/json answer with one result per
// envelope (FLX-BAT-001) and returns the results.
func (t *T) batchResults(ans *Answer, n int) []federation.BatchResult {
	t.Helper()
	if ans.Status != http.StatusOK {
		t.Fatalf("batch of %d: want 200 with results, got %s", n, ans)
	}
	if mt, _, _ := mime.ParseMediaType(ans.Header.Get("Content-Type")); !strings.EqualFold(mt, "application/json") {
		t.Fatalf("batch answer Content-Type %q, want application/json", ans.Header.Get("Content-Type"))
	}
	res, err := federation.ParseBatchAnswer(ans.Body, n)
	if err != nil {
		t.Fatalf("batch answer: %v", err)
	}
	return res
}

func batchBody(envs ...[]byte) []byte {
	b, err := federation.MarshalBatch(envs)
	if err != nil {
		panic(err)
	}
	return b
}

// asReceipt turns a batch result into the answer a single POST would have
// got, so that the receipt checks of §7 apply unchanged.
func asReceipt(r federation.BatchResult) *Answer {
	if r.Status != http.StatusAccepted {
		b, _ := json.Marshal(r.Problem)
		return &Answer{Status: r.Status, Header: http.Header{"Content-Type": {"application/problem+json"}}, Body: b}
	}
	return &Answer{Status: r.Status, Header: http.Header{"Content-Type": {"application/jose"}}, Body: []byte(r.Receipt)}
}

// checkBatchReceipts checks that a batch of three valid envelopes is
// answered 200 with three results in order, each a receipt for its own
// envelope.
func checkBatchReceipts(t *T) {
	var raws [][]byte
	var claims []Claims
	for range 3 {
		raw, c := t.validCase()
		raws, claims = append(raws, raw), append(claims, c)
	}
	res := t.batchResults(t.postBatch(batchBody(raws...), "application/json"), len(raws))
	for i, r := range res {
		if _, err := t.checkReceipt(asReceipt(r), raws[i], claims[i], federation.ReceiptAccepted); err != nil {
			t.Errorf("envelope %d of the batch: %v", i, err)
		}
	}
}

// checkBatchEachAlone checks that a valid envelope, a forged one and one
// addressed to another member in one batch get 202, bad_signature and
// wrong_audience, and that afterwards the valid one is a duplicate and the
// forged one is refused again.
func checkBatchEachAlone(t *T) {
	good, gc := t.validCase()
	forgedRaw, _ := t.validCase()
	// One character of the signature changed: still canonical base64url.
	at := strings.LastIndexByte(string(forgedRaw), '.') + 10
	forged := []byte(string(forgedRaw))
	forged[at] = map[bool]byte{true: 'B', false: 'A'}[forged[at] == 'A']
	c := t.valid()
	c.Aud = MemberPeer
	other := t.sign(c, keyTester)
	res := t.batchResults(t.postBatch(batchBody(good, forged, other), "application/json"), 3)
	if _, err := t.checkReceipt(asReceipt(res[0]), good, gc, federation.ReceiptAccepted); err != nil {
		t.Errorf("the valid envelope: %v", err)
	}
	for i, want := range map[int]string{1: "bad_signature", 2: "wrong_audience"} {
		if _, err := shouldRefuse(asReceipt(res[i]), want); err != nil {
			t.Errorf("envelope %d of the batch: %v", i, err)
		}
	}
	if _, err := t.checkReceipt(t.post(t, good), good, gc, federation.ReceiptDuplicate); err != nil {
		t.Errorf("the valid envelope sent again alone: %v", err)
	}
	if _, err := shouldRefuse(t.post(t, forged), "bad_signature"); err != nil {
		t.Errorf("the forged envelope sent alone: %v", err)
	}
}

// checkBatchLimits checks the advertised batch limits, malformed batches
// (bad_envelope) and a batch of max_batch_envelopes + 1 envelopes (413, and
// nothing of it stored).
func checkBatchLimits(t *T) {
	ans, err := t.request(certTester, http.MethodGet, "/.well-known/flx", nil, "")
	if err != nil {
		t.Fatalf("GET /.well-known/flx: %v", err)
	}
	var md struct {
		Limits struct {
			MaxBodyBytes      int64 `json:"max_body_bytes"`
			MaxBatchEnvelopes int   `json:"max_batch_envelopes"`
			MaxBatchBytes     int64 `json:"max_batch_bytes"`
		} `json:"limits"`
	}
	if err := json.Unmarshal(ans.Body, &md); err != nil || md.Limits.MaxBatchEnvelopes < 1 || md.Limits.MaxBatchBytes < md.Limits.MaxBodyBytes {
		t.Fatalf("metadata limits max_batch_envelopes %d, max_batch_bytes %d (max_body_bytes %d), %v: want at least 1 and at least max_body_bytes",
			md.Limits.MaxBatchEnvelopes, md.Limits.MaxBatchBytes, md.Limits.MaxBodyBytes, err)
	}
	good, gc := t.validCase()
	for name, tc := range map[string]struct {
		body  []byte
		ctype string
	}{
		"an empty batch":                  {[]byte(`{"envelopes":[]}`), "application/json"},
		"an unknown member":               {[]byte(`{"envelopes":["` + string(good) + `"],"extra":1}`), "application/json"},
		"a bare JWS":                      {good, "application/json"},
		"a null among the envelopes":      {[]byte(`{"envelopes":["` + string(good) + `",null]}`), "application/json"},
		"a batch as application/jose":     {batchBody(good), "application/jose"},
		"a batch without Content-Type":    {batchBody(good), ""},
		"a batch as text/json":            {batchBody(good), "text/json"},
		"a batch as application/json-seq": {batchBody(good), "application/json-seq"},
	} {
		if _, err := shouldRefuse(t.postBatch(tc.body, tc.ctype), "bad_envelope"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	n := md.Limits.MaxBatchEnvelopes + 1
	if int64(n)*int64(len(good)+3) > 64<<20 {
		t.Skipf("max_batch_envelopes %d is too large to exceed in a test", md.Limits.MaxBatchEnvelopes)
	}
	many := make([][]byte, n)
	for i := range many {
		many[i] = good
	}
	if _, err := shouldRefuse(t.postBatch(batchBody(many...), "application/json"), "too_large"); err != nil {
		t.Errorf("%d envelopes: %v", n, err)
	}
	if _, err := t.checkReceipt(t.post(t, good), good, gc, federation.ReceiptAccepted); err != nil {
		t.Errorf("%s", fmt.Sprintf("the envelope of the refused batch, sent alone: %v (was something of the batch stored?)", err))
	}
}
