package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/store"
)

// TestWithdrawalErasesRelayedMedia: ICRC-CTA relays XA-RC's video message
// to XB-RC while XB-RC is down, so it holds the recording with the chain
// still to forward (XB-RC never had the case: the message is the first
// thing sent). XA-RC withdraws the case; when the withdrawal passes
// through ICRC-CTA, the relay erases the recording at once (not at the
// media sweep, nor at a forward that must not happen any more), cancels the
// chain that would carry it, records why, and forwards the withdrawal.
// When XB-RC comes back it receives the withdrawal and never the message
// (FLX-MED-019), on each store, over real mTLS.
func TestWithdrawalErasesRelayedMedia(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, testWithdrawalErasesRelayedMedia)
}

func testWithdrawalErasesRelayedMedia(t *testing.T, d nodetest.Dialect) {
	ctx := context.Background()
	rf := newRelayFed(t, d, "XB-RC") // XB-RC is down: ICRC-CTA keeps what it carries for it.
	xa, cta := rf.nodes["XA-RC"], rf.nodes["ICRC-CTA"]
	urlA, tokA := localAPI(t, xa)
	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}

	video, hexSum := attachVideo(t, urlA, tokA, demoCase, 700<<10)
	sum := media.Digest(sha256.Sum256(video))
	if res, err := xa.SendMessage(ctx, cw, demoCase, "XB-RC", videoMessage("XA-RC:VID-WDR-1", hexSum, len(video), 4)); err != nil || res.State != "queued" {
		t.Fatalf("send: %v %+v", err, res)
	}
	ctaMedia := rf.mediaStore("ICRC-CTA")
	// carriedMessage is ICRC-CTA's row forwarding XA-RC's message to XB-RC.
	carriedMessage := func() (store.OutboxItem, bool) {
		for _, r := range allOutbox(t, cta.Store, store.OutboxFilter{CaseID: demoCase, Destination: "XB-RC", IncludeEnvelope: true}) {
			if r.Kind != string(federation.KindRelayForward) || r.Envelope == nil {
				continue
			}
			if inner, err := federation.RelayInner(r.Envelope); err == nil {
				if c, err := federation.ClaimsOf(inner); err == nil && c.Kind == federation.KindMessageDeliver {
					return r, true
				}
			}
		}
		return store.OutboxItem{}, false
	}
	var chain store.OutboxItem
	nodetest.WaitFor(t, 30*time.Second, "ICRC-CTA carries the message and its recording", func() bool {
		var ok bool
		chain, ok = carriedMessage()
		_, err := ctaMedia.Stat(ctx, sum)
		return ok && err == nil
	})

	if _, err := xa.Withdraw(ctx, cw, demoCase, "consent_withdrawn"); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, 30*time.Second, "ICRC-CTA forwards the withdrawal", func() bool {
		return len(allInbox(t, cta.Store, store.InboxFilter{CaseID: demoCase, State: "processed"})) == 2
	})
	if _, err := ctaMedia.Stat(ctx, sum); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("ICRC-CTA still holds the recording after forwarding the withdrawal: %v", err)
	}
	row, err := cta.Store.GetOutbox(ctx, chain.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.State != store.Cancelled || row.Envelope != nil {
		t.Errorf("ICRC-CTA's chain of the message: %s, holds its bytes %v; want cancelled, dropped", row.State, row.Envelope != nil)
	}
	if ups, _ := ctaMedia.Uploads(ctx, ""); len(ups) != 0 {
		t.Errorf("ICRC-CTA keeps %d upload sessions of the recording", len(ups))
	}
	er, err := cta.Store.ListAudit(ctx, store.AuditFilter{Action: "relay.media_erase", Object: demoCase, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var recorded bool
	for _, a := range er {
		var det map[string]any
		_ = json.Unmarshal(a.Details, &det)
		if det["reason"] == "case.withdraw" && det["sha256"] == hexSum && det["erased"] == true && det["withdrawn_by"] == "XA-RC" {
			recorded = true
		}
	}
	if !recorded {
		t.Errorf("ICRC-CTA recorded no erasure of %s on the withdrawal (%d relay.media_erase rows)", hexSum, len(er))
	}

	// XB-RC comes back: the withdrawal reaches it, the message never does.
	xb := rf.up(t, "XB-RC")
	waitProcessed(t, xb.Store, demoCase, string(federation.KindCaseWithdraw), 1)
	if got := allInbox(t, xb.Store, store.InboxFilter{CaseID: demoCase, Kind: string(federation.KindMessageDeliver)}); len(got) != 0 {
		t.Errorf("XB-RC received %d messages of the withdrawn case after the withdrawal passed the relay", len(got))
	}
	noProcessErrors(t, "ICRC-CTA", cta.Store)
}
