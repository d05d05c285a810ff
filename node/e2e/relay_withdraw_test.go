package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/dbtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/search"
	"github.com/familylinks/flx/node/store"
)

// TestWithdrawalEndsAtRelay: a withdrawal whose path ends at the relay.
// XA-RC sends its case, canaries planted in every protected place, to
// ICRC-CTA (which keeps it, its search index and a video recording of the
// case) and to XB-RC through ICRC-CTA while XB-RC is down, so ICRC-CTA
// also holds the chain of the case for XB-RC. Then XA-RC withdraws the
// case, and the withdrawal gets no further than ICRC-CTA:
//
//   - final hop down: XB-RC is down; the withdrawal for XB-RC waits at
//     ICRC-CTA behind the chain it carries (a relay forwards what it
//     accepted, FLX-RLY-007, FLX-RLY-010), which alone still holds the
//     case's data there. When XB-RC comes back it gets both, erases and
//     confirms to XA-RC, and once ICRC-CTA drops what it finished
//     carrying (its retention sweep) it keeps nothing of the case;
//   - final hop suspended: the federation suspends XB-RC first; only the
//     withdrawal addressed to ICRC-CTA itself reaches it, and the chain it
//     can no longer deliver is cancelled, its bytes dropped, audited.
//
// Once ICRC-CTA has processed what reached it, nothing else of the case's
// personal data is left there: no canary in any row of any table (the
// search index included), no search hit, no recording; the case is a
// tombstone. On each store, over real mTLS.
func TestWithdrawalEndsAtRelay(t *testing.T) {
	t.Parallel()
	for _, sc := range []string{"final hop down", "final hop suspended"} {
		t.Run(strings.ReplaceAll(sc, " ", "-"), func(t *testing.T) {
			nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) { testWithdrawalEndsAtRelay(t, d, sc) })
		})
	}
}

func testWithdrawalEndsAtRelay(t *testing.T, d nodetest.Dialect, scenario string) {
	ctx := context.Background()
	rf := newRelayFed(t, d, "XB-RC")
	xa, cta := rf.nodes["XA-RC"], rf.nodes["ICRC-CTA"]
	tag := strings.ToUpper(federation.NewJTI()[:6])
	doc, canaries := plantCanaries(t, 1, tag)
	if _, err := xa.CreateCase(ctx, cw, doc); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"ICRC-CTA", "XB-RC"} {
		if _, err := xa.Forward(ctx, cw, demoCase, to); err != nil {
			t.Fatalf("forward to %s: %v", to, err)
		}
	}
	urlA, tokA := localAPI(t, xa)
	video, hexSum := attachVideo(t, urlA, tokA, demoCase, 300<<10)
	sum := media.Digest(sha256.Sum256(video))
	msg := patch(t, videoMessage("XA-RC:VID-END-1", hexSum, len(video), 2), map[string]any{"to/member": "ICRC-CTA"})
	if res, err := xa.SendMessage(ctx, cw, demoCase, "ICRC-CTA", msg); err != nil || res.State != "queued" {
		t.Fatalf("send the message to ICRC-CTA: %v %+v", err, res)
	}

	// carried lists ICRC-CTA's chains of the case for XB-RC.
	carried := func() []store.OutboxItem {
		var out []store.OutboxItem
		for _, r := range allOutbox(t, cta.Store, store.OutboxFilter{CaseID: demoCase, Destination: "XB-RC", IncludeEnvelope: true}) {
			if inner, err := federation.RelayInner(r.Envelope); err == nil && r.Envelope != nil {
				if c, err := federation.ClaimsOf(inner); err == nil && c.Kind != federation.KindCaseWithdraw {
					out = append(out, r)
				}
			}
		}
		return out
	}
	nodetest.WaitFor(t, 30*time.Second, "ICRC-CTA holds the case, its recording and the chain for XB-RC", func() bool {
		_, err := rf.mediaStore("ICRC-CTA").Stat(ctx, sum)
		c, cerr := cta.Store.GetCase(ctx, demoCase)
		return err == nil && cerr == nil && c.Document != nil && len(carried()) == 1
	})
	chain := carried()[0]
	// The grep has teeth: before the withdrawal, ICRC-CTA's rows hold the
	// canaries (its case, its search index, the chain).
	values := slices.Collect(maps.Values(canaries))
	held, inChain := 0, 0
	for _, hits := range dbtest.HoldsEach(t, d == nodetest.Postgres, rf.dsn["ICRC-CTA"], values...) {
		if len(hits) > 0 {
			held++
		}
		for _, h := range hits {
			if strings.HasPrefix(h, "outbox_envelopes: ") {
				inChain++
				break
			}
		}
	}
	nameCanary := canaries["/persons/0/names/1/value"]
	if held == 0 || inChain == 0 || searchHits(t, cta, nameCanary) != 1 {
		t.Fatalf("before the withdrawal ICRC-CTA holds %d of %d canaries (%d in the chain), and the search finds %d cases: the checks below prove nothing",
			held, len(canaries), inChain, searchHits(t, cta, nameCanary))
	}

	if scenario == "final hop suspended" {
		rf.suspend(t, "XB-RC")
	}
	if _, err := xa.Withdraw(ctx, cw, demoCase, "consent_withdrawn"); err != nil {
		t.Fatal(err)
	}
	waitProcessed(t, cta.Store, demoCase, string(federation.KindCaseWithdraw), 1)
	if scenario == "final hop down" {
		// The chain of the create and that of the withdrawal.
		waitProcessed(t, cta.Store, demoCase, string(federation.KindRelayForward), 2)
	}

	down := scenario == "final hop down"
	// noCanary fails for each canary left at ICRC-CTA; with onlyChain, the
	// chain for XB-RC may still hold them (it is still to forward).
	noCanary := func(when string, onlyChain bool) {
		t.Helper()
		left := dbtest.HoldsEach(t, d == nodetest.Postgres, rf.dsn["ICRC-CTA"], values...)
		for ptr, v := range canaries {
			for _, h := range left[v] {
				if !onlyChain || !isEnvelopeOf(h, chain.ID) {
					t.Errorf("canary %s is still at ICRC-CTA %s:\n%s", ptr, when, h)
				}
			}
		}
	}
	noCanary("after the withdrawal", down)
	if n := searchHits(t, cta, nameCanary); n != 0 {
		t.Errorf("ICRC-CTA's search still finds the withdrawn case (%d)", n)
	}
	if _, err := rf.mediaStore("ICRC-CTA").Stat(ctx, sum); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("ICRC-CTA still holds the recording: %v", err)
	}
	if c, err := cta.Store.GetCase(ctx, demoCase); err != nil || !c.Erased() || c.Document != nil {
		t.Errorf("ICRC-CTA's case after the withdrawal: %+v %v, want a tombstone", c, err)
	}
	row, err := cta.Store.GetOutbox(ctx, chain.ID)
	if err != nil {
		t.Fatal(err)
	}
	cancels := auditDetails(t, cta.Store, "relay.cancel", demoCase)
	if down {
		// XB-RC is down, not gone: the chain is carried on, the withdrawal
		// after it (FLX-RLY-007, FLX-RLY-010).
		if (row.State != store.Queued && row.State != store.InFlight) || row.Envelope == nil || len(cancels) != 0 {
			t.Errorf("ICRC-CTA's chain for XB-RC while XB-RC is down: %s, bytes kept %v, %d relay.cancel; want it queued",
				row.State, row.Envelope != nil, len(cancels))
		}
	} else {
		if row.State != store.Cancelled || row.Envelope != nil {
			t.Errorf("ICRC-CTA's chain for XB-RC, suspended: %s, bytes kept %v; want cancelled, dropped", row.State, row.Envelope != nil)
		}
		if len(cancels) != 1 || cancels[0]["withdrawn_by"] != "XA-RC" || cancels[0]["chains_cancelled"] != float64(1) {
			t.Errorf("ICRC-CTA's relay.cancel records %v, want one of the chain it carried", cancels)
		}
	}
	noProcessErrors(t, "ICRC-CTA", cta.Store)
	if !down {
		return
	}
	// XB-RC comes back: it gets the create and then the withdrawal, erases
	// and confirms; ICRC-CTA, done carrying, keeps nothing.
	xb := rf.up(t, "XB-RC")
	waitProcessed(t, xb.Store, demoCase, string(federation.KindCaseWithdraw), 1)
	if c, err := xb.Store.GetCase(ctx, demoCase); err != nil || !c.Erased() || c.Document != nil {
		t.Errorf("XB-RC's case after the withdrawal: %+v %v, want a tombstone", c, err)
	}
	nodetest.WaitFor(t, 30*time.Second, "XB-RC's confirmation at XA-RC", func() bool {
		rs, err := xa.Store.ListRecipients(ctx, demoCase)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Member == "XB-RC" && !r.WithdrawalConfirmedAt.IsZero() {
				return true
			}
		}
		return false
	})
	if r, err := cta.Store.GetOutbox(ctx, chain.ID); err != nil || r.State != store.Delivered {
		t.Fatalf("ICRC-CTA's chain for XB-RC once XB-RC confirmed: %+v %v, want delivered", r, err)
	}
	// The bytes of what it finished carrying go at its next retention
	// sweep (runRetention: DropCarried), when nothing else of the case
	// passes through it before.
	if _, err := cta.Store.DropCarried(ctx, ""); err != nil {
		t.Fatal(err)
	}
	noCanary("once it carried the case to XB-RC", false)
	noProcessErrors(t, "XB-RC", xb.Store)
}

// searchHits is the number of cases member n's search finds by name.
func searchHits(t *testing.T, n *nodetest.Node, name string) int {
	t.Helper()
	page, err := n.SearchCases(context.Background(), cw, node.CaseSearch{Query: search.Query{Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Cases)
}

// auditDetails returns the details of the audit entries of action on
// object.
func auditDetails(t *testing.T, st store.Store, action, object string) []map[string]any {
	t.Helper()
	rows, err := st.ListAudit(context.Background(), store.AuditFilter{Action: action, Object: object, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, r := range rows {
		var det map[string]any
		_ = json.Unmarshal(r.Details, &det)
		out = append(out, det)
	}
	return out
}

// isEnvelopeOf reports whether hit, a row dbtest.HoldsEach found, is the
// envelope of outbox row id: a row of outbox_envelopes whose first column
// is id ("(id,..." on PostgreSQL; "%!s(int64=id)|..." on SQLite, whose
// integer the grep prints with %s).
func isEnvelopeOf(hit string, id int64) bool {
	row, ok := strings.CutPrefix(hit, "outbox_envelopes: ")
	n := strconv.FormatInt(id, 10)
	return ok && (strings.HasPrefix(row, "("+n+",") || strings.HasPrefix(row, "%!s(int64="+n+")|"))
}
