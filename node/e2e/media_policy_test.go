package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// TestMediaPolicy: the rules that decide for a message decide for its
// media. XA-RC attaches recordings carrying a canary to messages about
// cases whose rules forbid sending to XB-RC (the detainee did not agree to
// notify the family, consent withdrawn, a person fears XB); those messages
// are refused, nothing is queued, and XB-RC never receives an offer, an
// upload or a byte of the recordings. A message to ICRC-CTA that the rules
// allow delivers its media to ICRC-CTA only: XB-RC, to which it is not
// addressed, holds nothing.
func TestMediaPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, threeMembers...)
	lns := map[string]net.Listener{}
	for id := range f.Members {
		lns[id] = nodetest.Listen(t, f.Member(t, id))
	}
	f.Sign(t)
	dirs := map[string]string{}
	nodes := map[string]*nodetest.Node{}
	for id, ln := range lns {
		dirs[id] = t.TempDir()
		disk, err := media.OpenDisk(dirs[id])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { disk.Close() })
		nodes[id] = nodetest.Start(t, f, id, ln, nodetest.Options{Dialect: nodetest.SQLite,
			Media: &node.MediaOptions{Store: disk, ChunkBytes: 64 << 10}})
	}
	xa, xb, cta := nodes["XA-RC"], nodes["XB-RC"], nodes["ICRC-CTA"]
	storeOf := func(n *nodetest.Node) media.Store { return n.Node.MediaHandler().(*media.Server).Store }

	const canary = "ZZCANARY-media-of-Illia-Testov-4417"
	type scenario struct {
		name, caseID string
		set          func(c map[string]any)
		to           string
		allowed      bool
		rule         string // the rule that must refuse
	}
	scenarios := []scenario{
		{name: "detainee did not agree", caseID: "XA-RC:MEDIA-DET", set: func(c map[string]any) { c["detention"].(map[string]any)["notification_agreed"] = false },
			to: "XB-RC", rule: "FLX-DP-DETENTION"},
		{name: "consent withdrawn", caseID: "XA-RC:MEDIA-WDR", set: func(c map[string]any) {
			c["consents"].([]any)[0].(map[string]any)["withdrawn_at"] = "2026-11-10T00:00:00Z"
		},
			to: "XB-RC", rule: "FLX-DP-CONSENT-WITHDRAWN"},
		{name: "a person fears XB", caseID: "XA-RC:MEDIA-RISK", set: func(c map[string]any) { c["persons"].([]any)[1].(map[string]any)["feared_countries"] = []any{"XB"} },
			to: "XB-RC", rule: "FLX-DP-RISK-COUNTRY"},
		{name: "detainee did not agree, to the ICRC", caseID: "XA-RC:MEDIA-DET-CTA", set: func(c map[string]any) { c["detention"].(map[string]any)["notification_agreed"] = false },
			to: "ICRC-CTA", allowed: true},
	}
	var sums []media.Digest
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var c map[string]any
			json.Unmarshal(readTestdata(t, "case.json"), &c)
			c["case_id"] = sc.caseID
			sc.set(c)
			cdoc, _ := json.Marshal(c)
			if _, err := xa.CreateCase(ctx, cw, cdoc); err != nil {
				t.Fatal(err)
			}
			if sc.allowed {
				if _, err := xa.Forward(ctx, cw, sc.caseID, sc.to); err != nil {
					t.Fatal(err)
				}
			}
			// A recording with the canary in it, attached to the case.
			video := recording(300<<10 + i)
			copy(video[1000:], canary)
			sum := sha256.Sum256(video)
			sums = append(sums, media.Digest(sum))
			if _, err := storeOf(xa).Put(ctx, media.Expect{SHA256: sum, Size: int64(len(video))}, bytes.NewReader(video)); err != nil {
				t.Fatal(err)
			}
			up, err := xa.StartMediaUpload(ctx, cw, sc.caseID, node.MediaUploadRequest{SHA256: hex.EncodeToString(sum[:]), SizeBytes: int64(len(video)), MediaType: "video/mp4"})
			if err != nil || !up.Complete {
				t.Fatalf("attach: %v %+v", err, up)
			}
			msg := map[string]any{
				"schema": "flx/v1/message", "message_id": "XA-RC:VID-" + sc.caseID[6:], "case_id": sc.caseID, "kind": "video_message",
				"channel": "video", "created_at": "2026-11-12T15:00:00Z",
				"from": map[string]any{"person": "p1", "member": "XA-RC"}, "to": map[string]any{"person": "p2", "member": sc.to},
				"media": map[string]any{"sha256": hex.EncodeToString(sum[:]), "media_type": "video/mp4", "size_bytes": len(video), "duration_seconds": 20.0},
			}
			doc, _ := json.Marshal(msg)
			res, err := xa.SendMessage(ctx, cw, sc.caseID, sc.to, doc)
			if !sc.allowed {
				if problem.CodeOf(err) != node.CodePolicyDenied || res.State != "denied" || res.OutboxID != 0 {
					t.Fatalf("send to %s: %v, state %q, outbox %d; want policy_denied", sc.to, err, res.State, res.OutboxID)
				}
				fired := false
				for _, fr := range res.Decision.Fired {
					fired = fired || (fr.RuleID == sc.rule && fr.Effect == "deny")
				}
				if !fired {
					t.Fatalf("%s did not refuse: %+v", sc.rule, res.Decision.Fired)
				}
				if items := allOutbox(t, xa.Store, store.OutboxFilter{CaseID: sc.caseID}); len(items) != 0 {
					t.Fatalf("%d outbox rows for a refused media message", len(items))
				}
				return
			}
			if err != nil || res.State != "queued" {
				t.Fatalf("send to %s: %v %+v", sc.to, err, res.Decision)
			}
			var sent schema.Message
			json.Unmarshal(res.Document, &sent)
			if sent.Media == nil || sent.Media.ChunksSHA256 == "" {
				t.Fatalf("the message does not carry its media: %+v", sent.Media)
			}
			nodetest.WaitFor(t, 30*time.Second, "the media message delivered", func() bool {
				it, err := xa.Store.GetOutbox(ctx, res.OutboxID)
				return err == nil && it.State == store.Delivered
			})
			waitProcessed(t, cta.Store, sc.caseID, string(federation.KindMessageDeliver), 1)
			if _, err := storeOf(cta).Stat(ctx, sum); err != nil {
				t.Fatalf("ICRC-CTA does not hold the media it was sent: %v", err)
			}
		})
	}

	// XB-RC saw nothing: no upload, no blob, no message, no canary on disk.
	ups, err := storeOf(xb).Uploads(ctx, "")
	if err != nil || len(ups) != 0 {
		t.Errorf("XB-RC holds %d uploads (%v)", len(ups), err)
	}
	for _, s := range sums {
		if _, err := storeOf(xb).Stat(ctx, s); err == nil {
			t.Errorf("XB-RC holds media %s", s)
		}
	}
	if items := allInbox(t, xb.Store, store.InboxFilter{}); len(items) != 0 {
		t.Errorf("XB-RC received %d envelopes", len(items))
	}
	filepath.WalkDir(dirs["XB-RC"], func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(canary)) {
			t.Errorf("the canary reached XB-RC's disk: %s", p)
		}
		return nil
	})
}
