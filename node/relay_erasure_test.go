package node_test

import (
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestRelayErasureKeepsWithdrawalChain: ICRC-CTA holds XA-RC's case and
// carries its create on to XB-RC (XB-RC's relay). XA-RC's withdrawal to
// ICRC-CTA and the chain of its withdrawal to XB-RC arrive together, in
// either order, in one batch or row by row. Whatever the order, the chain
// of the withdrawal is forwarded exactly once, with no processing error
// (an erasure of ICRC-CTA's own copy must not swallow it, nor process it a
// second time after forwarding it first). The chain of the create, still
// to forward to a member the relay can reach, goes on before it.
func TestRelayErasureKeepsWithdrawalChain(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "ICRC-CTA:XC:coordinator")
		f.Member(t, "XB-RC").RelayVia = []string{"ICRC-CTA"}
		f.Sign(t)
		for _, order := range []string{"withdrawal-first-batch", "chain-first-batch", "withdrawal-first-rows", "chain-first-rows", "partial-withdrawal-batch"} {
			t.Run(order, func(t *testing.T) {
				ctx := t.Context()
				cta := nodetest.Start(t, f, "ICRC-CTA", nil, nodetest.Options{Dialect: d, NoRun: true})
				id := "XA-RC:RELAY-" + strings.ToUpper(federation.NewJTI()[:8])
				doc := body(t, "case.tracing_request", func(m map[string]any) { m["case_id"], m["version"] = id, 1 })
				partial := order == "partial-withdrawal-batch"
				wdoc := body(t, "withdrawal.consent_withdrawn", func(m map[string]any) {
					m["case_id"] = id
					if !partial {
						delete(m, "person_ids") // the whole case
					}
				})
				chain := func(inner []byte) []byte {
					t.Helper()
					out, _, err := federation.Originate(inner, federation.Wrap{Self: "XA-RC", To: "ICRC-CTA",
						Signer: f.Member(t, "XA-RC").Key, Now: time.Now()})
					if err != nil {
						t.Fatal(err)
					}
					return out
				}
				receive := func(raws ...[]byte) {
					t.Helper()
					out, err := cta.ReceiveBatch(ctx, "XA-RC", raws)
					if err != nil {
						t.Fatal(err)
					}
					for _, o := range out {
						if o.Err != nil {
							t.Fatalf("refused: %v", o.Err)
						}
					}
				}
				process := func() {
					t.Helper()
					if err := cta.ProcessInbox(ctx); err != nil {
						t.Fatal(err)
					}
				}
				receive(f.Envelope(t, "XA-RC", "ICRC-CTA", federation.KindCaseCreate, id, doc))
				receive(chain(f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, id, doc)))
				process()

				withdrawal := f.Envelope(t, "XA-RC", "ICRC-CTA", federation.KindCaseWithdraw, id, wdoc)
				wchain := chain(f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseWithdraw, id, wdoc))
				two := [][]byte{withdrawal, wchain}
				if strings.HasPrefix(order, "chain-first") {
					two[0], two[1] = two[1], two[0]
				}
				if strings.HasSuffix(order, "batch") {
					receive(two...)
					process()
				} else {
					receive(two[0])
					process()
					receive(two[1])
					process()
				}

				rows, err := cta.Store.ListInbox(ctx, store.InboxFilter{CaseID: id, Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					if r.ProcessedAt.IsZero() || r.ProcessError != "" {
						t.Errorf("inbox row %d (%s): processed %v, error %q", r.ID, r.Kind, !r.ProcessedAt.IsZero(), r.ProcessError)
					}
				}
				kinds := map[federation.Kind][]store.OutboxItem{}
				out, err := cta.Store.ListOutbox(ctx, store.OutboxFilter{CaseID: id, Destination: "XB-RC", IncludeEnvelope: true, Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range out {
					k := federation.Kind("erased")
					if inner, err := federation.RelayInner(r.Envelope); err == nil && r.Envelope != nil {
						c, _ := federation.ClaimsOf(inner)
						k = c.Kind
					}
					kinds[k] = append(kinds[k], r)
				}
				if w := kinds[federation.KindCaseWithdraw]; len(w) != 1 || w[0].State != store.Queued {
					t.Errorf("chains of the withdrawal for XB-RC: %+v, want one queued", w)
				}
				// XB-RC can still be reached: the create goes on before the
				// withdrawal (FLX-RLY-010), whole or partial.
				if c := kinds[federation.KindCaseCreate]; len(c) != 1 || c[0].State != store.Queued {
					t.Errorf("chain of the create for XB-RC: %+v, want it queued with its bytes", c)
				}
				if got := auditOf(t, cta.Store, "relay.cancel", id); len(got) != 0 {
					t.Errorf("relay.cancel audit %v, want none", got)
				}
			})
		}
	})
}
