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

// TestClaimsMemoKeepsOnlyWhatIsReadAgain: the claims memo holds the
// envelopes the processor will read, and no other: not one refused after
// its signature checked (an invalid body, here), alone or in a batch, and
// not one applied in the transaction that stored it (in the memo, each
// was copied and hashed on receipt and hashed again to be forgotten once
// applied). Before, Verify kept every envelope whose signature verified.
func TestClaimsMemoKeepsOnlyWhatIsReadAgain(t *testing.T) {
	ctx := t.Context()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{NoRun: true})
	bad := func(id string) []byte {
		return f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, id, []byte(`{"schema":"flx/v1/case","case_id":"`+id+`"}`))
	}
	alone, inBatch := bad("XA-RC:R-001"), bad("XA-RC:R-002")
	if _, err := xb.Receive(ctx, "XA-RC", alone); err == nil {
		t.Fatal("an invalid body was accepted")
	}
	good := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, "XA-RC:R-003", caseBody(t, "XA-RC:R-003", 1))
	out, err := xb.ReceiveBatch(ctx, "XA-RC", [][]byte{inBatch, good})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err == nil || out[1].Err != nil {
		t.Fatalf("batch outcomes %v, %v: want the invalid one refused alone", out[0].Err, out[1].Err)
	}
	for name, raw := range map[string][]byte{"refused alone": alone, "refused in a batch": inBatch, "applied on receipt": good} {
		if federation.MemoHolds(raw) {
			t.Errorf("envelope %s: its claims are held by the memo", name)
		}
	}
	// A case update left to the processor (its case's create was applied:
	// the update of a case not yet processed is not) is still remembered.
	xb.ApplyOnReceiveForTest(false)
	upd := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseUpdate, "XA-RC:R-003", caseBody(t, "XA-RC:R-003", 2))
	receiveAllOK(ctx, t, xb, "XA-RC", [][]byte{upd})
	if !federation.MemoHolds(upd) {
		t.Error("an envelope left to the processor is not remembered")
	}
}
