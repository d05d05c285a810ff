package node_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
)

// TestClaimsMemoEmptiedWhenApplied: the claims Verify remembers of each
// envelope received (for the processor, so that it does not parse the JWS
// again) are forgotten once the envelope is applied, whether in the
// receiving transaction or by the inbox processor: nothing reads them
// again, and two generations of them were ~100 MiB of heap at the end of
// a 100,000-envelope exchange.
func TestClaimsMemoEmptiedWhenApplied(t *testing.T) {
	for _, tc := range []struct {
		name           string
		applyOnReceive bool
	}{
		{"applied on receipt", true},
		{"applied by the processor", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
			xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{NoRun: true})
			xb.ApplyOnReceiveForTest(tc.applyOnReceive)
			var raws [][]byte
			for i := range 20 {
				id := fmt.Sprintf("XA-RC:M-%t-%03d", tc.applyOnReceive, i)
				raws = append(raws, f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, id, caseBody(t, id, 1)))
			}
			receiveAllOK(ctx, t, xb, "XA-RC", raws)
			if !tc.applyOnReceive {
				// Verify remembered them for the processor.
				for i, raw := range raws {
					if !federation.MemoHolds(raw) {
						t.Fatalf("envelope %d not remembered before processing: the test tests nothing", i)
					}
				}
				if err := xb.ProcessInbox(ctx); err != nil {
					t.Fatal(err)
				}
			}
			st := stateOf(t, xb.Store, nil)
			if len(st.Inbox) != len(raws) {
				t.Fatalf("%d inbox rows for %d envelopes", len(st.Inbox), len(raws))
			}
			for _, r := range st.Inbox {
				if !strings.Contains(r, `processed=true error=""`) {
					t.Fatalf("not applied: %s", r)
				}
			}
			for i, raw := range raws {
				if federation.MemoHolds(raw) {
					t.Errorf("envelope %d applied, its claims still held by the memo", i)
				}
			}
		})
	}
}
