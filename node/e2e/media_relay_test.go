package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/store"
)

// TestMediaThroughRelay: XA-RC sends a video message with its recording to
// XB-RC, which names ICRC-CTA in relay_via, over real mTLS on each store
// (SPEC.md §18.10, FLX-MED-015 to 018). The recording travels hop by hop,
// each hop offered with the relay.forward it precedes and checked chunk by
// chunk against XA-RC's signed hash list; ICRC-CTA takes the chain only
// once it holds the media, records the relay with the media's digest and
// size, forwards both, and erases its copy once XB-RC has receipted the
// chain. XB-RC keeps the message as XA-RC's, with every byte, and XA-RC's
// row is delivered only by XB-RC's end-to-end receipt.
func TestMediaThroughRelay(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, testMediaThroughRelay)
}

func testMediaThroughRelay(t *testing.T, d nodetest.Dialect) {
	ctx := context.Background()
	rf := newRelayFed(t, d)
	xa, xb, cta := rf.nodes["XA-RC"], rf.nodes["XB-RC"], rf.nodes["ICRC-CTA"]
	urlA, tokA := localAPI(t, xa)
	urlB, tokB := localAPI(t, xb)

	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := xa.Forward(ctx, cw, demoCase, "XB-RC"); err != nil {
		t.Fatal(err)
	}
	waitProcessed(t, xb.Store, demoCase, string(federation.KindCaseCreate), 1)

	// The recording, attached at XA-RC.
	video, hexSum := attachVideo(t, urlA, tokA, demoCase, 3<<20+4321)
	sum := sha256.Sum256(video)

	// The video message, XA-RC to XB-RC, through ICRC-CTA.
	doc := videoMessage("XA-RC:VID-RELAY-1", hexSum, len(video), 12)
	res, err := xa.SendMessage(ctx, cw, demoCase, "XB-RC", doc)
	if err != nil || res.State != "queued" {
		t.Fatalf("send: %v %+v", err, res.Decision)
	}
	// A second message with the same recording, at once. ICRC-CTA carries
	// the two chains one after the other (per-case order: the second waits
	// for the first's end-to-end receipt), erasing the recording after the
	// first and receiving it again for the second; were they carried at
	// the same time, it keeps it for the one still to forward.
	doc2 := videoMessage("XA-RC:VID-RELAY-2", hexSum, len(video), 12)
	res2, err := xa.SendMessage(ctx, cw, demoCase, "XB-RC", doc2)
	if err != nil || res2.State != "queued" {
		t.Fatalf("send the second: %v %+v", err, res2.Decision)
	}
	nodetest.WaitFor(t, 60*time.Second, "XA-RC's messages delivered end to end", func() bool {
		it, err := xa.Store.GetOutbox(ctx, res.OutboxID)
		it2, err2 := xa.Store.GetOutbox(ctx, res2.OutboxID)
		return err == nil && err2 == nil && it.State == store.Delivered && it2.State == store.Delivered
	})
	row, _ := xa.Store.GetOutbox(ctx, res.OutboxID)
	if rc := decodeJWS(t, row.Receipt); rc.Iss != "XB-RC" || rc.Aud != "XA-RC" {
		t.Fatalf("XA-RC's row was delivered by a receipt from %s to %s, want XB-RC's end-to-end receipt", rc.Iss, rc.Aud)
	}
	if cl := decodeJWS(t, row.Envelope); cl.Kind != string(federation.KindRelayForward) || cl.Aud != "ICRC-CTA" {
		t.Fatalf("XA-RC sent %s to %s, want relay.forward to ICRC-CTA", cl.Kind, cl.Aud)
	}

	// XB-RC holds the message as XA-RC's and every byte of the recording.
	waitProcessed(t, xb.Store, demoCase, string(federation.KindMessageDeliver), 2)
	resp, body := call(t, http.MethodGet, urlB+"/api/v1/cases/"+demoCase+"/media", tokB, "", nil, nil)
	var list struct {
		Media []node.CaseMedia `json:"media"`
	}
	json.Unmarshal(body, &list)
	if resp.StatusCode != 200 || len(list.Media) == 0 || !list.Media[0].Available || list.Media[0].From != "XA-RC" || list.Media[0].SHA256 != hexSum {
		t.Fatalf("media of the case at XB-RC: %d %s", resp.StatusCode, body)
	}
	resp, body = call(t, http.MethodGet, urlB+"/api/v1/cases/"+demoCase+"/media/"+hexSum, tokB, "", nil, nil)
	if resp.StatusCode != 200 || sha256.Sum256(body) != sum {
		t.Fatalf("the recording at XB-RC: %d, %d bytes", resp.StatusCode, len(body))
	}

	// ICRC-CTA recorded what it carried, then erased its copy.
	acc, err := cta.Store.ListAudit(ctx, store.AuditFilter{Action: "relay.accept", Object: demoCase, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var carried bool
	for _, a := range acc {
		var det map[string]any
		_ = json.Unmarshal(a.Details, &det)
		if det["kind"] == string(federation.KindMessageDeliver) && det["media_sha256"] == hexSum && det["media_size_bytes"] == float64(len(video)) {
			carried = true
		}
	}
	if !carried {
		t.Fatalf("ICRC-CTA's relay records name no media %s", hexSum)
	}
	ctaMedia := rf.mediaStore("ICRC-CTA")
	nodetest.WaitFor(t, 20*time.Second, "ICRC-CTA erases the recording it relayed", func() bool {
		_, err := ctaMedia.Stat(ctx, media.Digest(sum))
		return errors.Is(err, media.ErrNotFound)
	})
	if ups, _ := ctaMedia.Uploads(ctx, ""); len(ups) != 0 {
		t.Errorf("ICRC-CTA keeps %d upload sessions after relaying", len(ups))
	}
	er, _ := cta.Store.ListAudit(ctx, store.AuditFilter{Action: "relay.media_erase", Object: demoCase, Limit: 10})
	if len(er) == 0 || len(er) > 2 {
		t.Errorf("ICRC-CTA audited %d relayed-media erasures, want 1 (2 if the chains did not overlap)", len(er))
	}
	t.Logf("ICRC-CTA erased the recording %d time(s) for two chains", len(er))
	if _, err := cta.Store.GetCase(ctx, demoCase); err == nil {
		t.Error("the relay keeps the case")
	}
	// XA-RC's relay.forward sent again (its receipt lost) is a duplicate,
	// though ICRC-CTA erased the recording: media_incomplete would have
	// XA-RC upload it again, to a relay that then holds it unlinked.
	if again, err := cta.Receive(ctx, "XA-RC", row.Envelope); err != nil || again.Status != federation.ReceiptDuplicate {
		t.Errorf("XA-RC's relay.forward sent again after ICRC-CTA erased its recording: %+v %v, want duplicate", again.Status, err)
	}
	noProcessErrors(t, "XB-RC", xb.Store)
	noProcessErrors(t, "ICRC-CTA", cta.Store)
}

// TestMediaNotRelayedToPullOnly: XB-RC pulls its envelopes from ICRC-CTA,
// and ICRC-CTA serves no media for pull yet: it refuses the offer of XA-RC's
// recording with relay_refused before any byte is stored (FLX-MED-017), and
// XA-RC dead-letters the message with that reason instead of retrying.
func TestMediaNotRelayedToPullOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, threeMembers...)
	xbm := f.Member(t, "XB-RC")
	xbm.RelayVia, xbm.PullOnly, xbm.Endpoint = []string{"ICRC-CTA"}, true, "https://xb-rc.invalid:8443"
	lns := map[string]net.Listener{}
	for _, id := range []string{"XA-RC", "ICRC-CTA"} {
		lns[id] = nodetest.Listen(t, f.Member(t, id))
	}
	f.Sign(t)
	nodes := map[string]*nodetest.Node{}
	for id := range f.Members {
		nodes[id] = startWithMedia(t, f, id, lns[id], nodetest.SQLite, func(o *node.Options) { o.PullInterval = 100 * time.Millisecond })
	}
	xa, xb, cta := nodes["XA-RC"], nodes["XB-RC"], nodes["ICRC-CTA"]
	urlA, tokA := localAPI(t, xa)
	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := xa.Forward(ctx, cw, demoCase, "XB-RC"); err != nil {
		t.Fatal(err)
	}
	waitProcessed(t, xb.Store, demoCase, string(federation.KindCaseCreate), 1)
	video, hexSum := attachVideo(t, urlA, tokA, demoCase, 600<<10)
	sum := sha256.Sum256(video)
	doc := videoMessage("XA-RC:VID-PULL-1", hexSum, len(video), 3)
	res, err := xa.SendMessage(ctx, cw, demoCase, "XB-RC", doc)
	if err != nil || res.State != "queued" {
		t.Fatalf("send: %v %+v", err, res.Decision)
	}
	nodetest.WaitFor(t, 30*time.Second, "XA-RC's message dead-lettered", func() bool {
		it, err := xa.Store.GetOutbox(ctx, res.OutboxID)
		return err == nil && it.State == store.Dead
	})
	if it, _ := xa.Store.GetOutbox(ctx, res.OutboxID); !strings.Contains(it.LastError, "relay_refused") {
		t.Fatalf("dead-lettered with %q, want relay_refused", it.LastError)
	}
	ctaMedia := cta.Node.MediaHandler().(*media.Server).Store
	if ups, _ := ctaMedia.Uploads(ctx, ""); len(ups) != 0 {
		t.Errorf("ICRC-CTA opened %d upload sessions for a recording it cannot deliver", len(ups))
	}
	if _, err := ctaMedia.Stat(ctx, media.Digest(sum)); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("ICRC-CTA holds the recording: %v", err)
	}
}

// attachVideo uploads size random bytes as a video recording of caseID at

// startWithMedia starts member id on ln with a media store of its own
// (chunks of 256 KiB), tuned by tune.
func startWithMedia(t *testing.T, f *fedtest.Federation, id string, ln net.Listener, d nodetest.Dialect, tune func(*node.Options)) *nodetest.Node {
	t.Helper()
	disk, err := media.OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return nodetest.Start(t, f, id, ln, nodetest.Options{Dialect: d,
		Media: &node.MediaOptions{Store: disk, ChunkBytes: 256 << 10}, Tune: tune})
}

// the local API url, whole, and returns them with their SHA-256 in hex.
func attachVideo(t *testing.T, url, token, caseID string, size int) ([]byte, string) {
	t.Helper()
	video := recording(size)
	sum := sha256.Sum256(video)
	hexSum := hex.EncodeToString(sum[:])
	resp, body := call(t, http.MethodPost, url+"/api/v1/cases/"+caseID+"/media", token, "application/json",
		strings.NewReader(fmt.Sprintf(`{"sha256":%q,"size_bytes":%d,"media_type":"video/mp4"}`, hexSum, len(video))), nil)
	var up struct {
		URL      string `json:"url"`
		Complete bool   `json:"complete"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &up) != nil {
		t.Fatalf("start upload: %d %s", resp.StatusCode, body)
	}
	resp, body = call(t, http.MethodPatch, url+up.URL, token, media.ContentTypeChunks, bytes.NewReader(video), map[string]string{"Upload-Offset": "0"})
	if json.Unmarshal(body, &up); resp.StatusCode != http.StatusOK || !up.Complete {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	return video, hexSum
}

// videoMessage is XA-RC's video message id to XB-RC about the demo case,
// with the recording of hexSum attached.
func videoMessage(id, hexSum string, size int, seconds float64) []byte {
	doc, _ := json.Marshal(map[string]any{
		"schema": "flx/v1/message", "message_id": id, "case_id": demoCase, "kind": "video_message",
		"channel": "video", "created_at": "2026-11-12T15:00:00Z",
		"from": map[string]any{"person": "p1", "member": "XA-RC"}, "to": map[string]any{"person": "p2", "member": "XB-RC"},
		"delivery": map[string]any{"state": "collected", "at": "2026-11-12T15:00:00Z"},
		"media":    map[string]any{"sha256": hexSum, "media_type": "video/mp4", "size_bytes": size, "duration_seconds": seconds},
	})
	return doc
}
