package node_test

import (
	"fmt"
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
)

// TestSendBatchReadsClaimsOnce: a batch handed to the wire reads the
// claims of each envelope once (federation.ClaimsReads), not once more to
// push its media, to route it and in the client: each read of a kept
// envelope hashes and compares its bytes and copies its body. Not
// parallel: the count is the process's, and no other test runs meanwhile.
func TestSendBatchReadsClaimsOnce(t *testing.T) {
	ctx := t.Context()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{})
	xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true})
	const n = 20
	var envs [][]byte
	for i := range n {
		id := fmt.Sprintf("XA-RC:ONCE-%d", i)
		envs = append(envs, f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, id, caseBody(t, id, 1)))
	}
	before := federation.ClaimsReads()
	res := xa.SendBatchForTest(ctx, "XB-RC", envs)
	reads := federation.ClaimsReads() - before
	for i, r := range res {
		if r.Outcome != federation.Delivered {
			t.Fatalf("envelope %d: %v %s", i, r.Outcome, r.Reason)
		}
	}
	if reads != n {
		t.Errorf("%d envelopes sent in one batch read their claims %d times, want %d (once each)", n, reads, n)
	}
}
