package store_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

func mediaItem(caseID, sum, dir, peer, msg string) store.MediaItem {
	m := store.MediaItem{CaseID: caseID, SHA256: sum, MediaType: "video/mp4", SizeBytes: 3 << 20, ChunkBytes: 1 << 20,
		ChunksSHA256: strings.Repeat("c", 64), Direction: dir, Peer: peer, MessageID: msg, AddedBy: "cw1"}
	if dir == store.MediaAttached {
		m.ChunkHashes = bytes.Repeat([]byte{7}, 96)
	}
	return m
}

func TestCaseMedia(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		sumA, sumB := strings.Repeat("a", 64), strings.Repeat("b", 64)
		att := must[store.MediaItem](t)(b.s.AddMedia(ctx, mediaItem("XA-RC:1", sumA, store.MediaAttached, "", "")))
		again := must[store.MediaItem](t)(b.s.AddMedia(ctx, mediaItem("XA-RC:1", sumA, store.MediaAttached, "", "")))
		if again.ID != att.ID {
			t.Fatalf("adding a link twice made two rows (%d, %d)", att.ID, again.ID)
		}
		must[store.MediaItem](t)(b.s.AddMedia(ctx, mediaItem("XB-RC:9", sumA, store.MediaReceived, "XB-RC", "m-1")))
		must[store.MediaItem](t)(b.s.AddMedia(ctx, mediaItem("XA-RC:1", sumB, store.MediaReceived, "XB-RC", "m-2")))
		if _, err := b.s.AddMedia(ctx, store.MediaItem{CaseID: "XA-RC:1", SHA256: "nothex"}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("a link without its fields: %v, want ErrInvalid", err)
		}

		got := must[store.MediaItem](t)(b.s.GetCaseMedia(ctx, "XA-RC:1", sumA, store.MediaAttached))
		if !bytes.Equal(got.ChunkHashes, bytes.Repeat([]byte{7}, 96)) || got.SizeBytes != 3<<20 || got.Erased() {
			t.Fatalf("GetCaseMedia = %+v", got)
		}
		if _, err := b.s.GetCaseMedia(ctx, "XA-RC:1", sumA, store.MediaReceived); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("other direction: %v, want ErrNotFound", err)
		}
		list := must[[]store.MediaItem](t)(b.s.ListCaseMedia(ctx, "XA-RC:1"))
		if len(list) != 2 || list[0].SHA256 != sumA || list[1].SHA256 != sumB || list[0].ChunkHashes != nil {
			t.Fatalf("ListCaseMedia = %+v", list)
		}

		// Erasing XA-RC:1: sumB is named by nothing else (delete it), sumA
		// still by XB-RC:9's message (keep it).
		orphans := must[[]string](t)(b.s.EraseCaseMedia(ctx, "XA-RC:1", time.Time{}))
		if len(orphans) != 1 || orphans[0] != sumB {
			t.Fatalf("orphans = %v, want [%s]", orphans, sumB)
		}
		if _, err := b.s.GetCaseMedia(ctx, "XA-RC:1", sumA, ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("an erased link is still found: %v", err)
		}
		for _, m := range must[[]store.MediaItem](t)(b.s.ListCaseMedia(ctx, "XA-RC:1")) {
			if !m.Erased() {
				t.Fatalf("link not erased: %+v", m)
			}
		}
		if n := b.count(t, `SELECT COUNT(*) FROM case_media WHERE chunk_hashes IS NOT NULL AND case_id = ?`, "XA-RC:1"); n != 0 {
			t.Fatalf("%d hash lists kept after erasure", n)
		}
		if used := must[bool](t)(b.s.MediaInUse(ctx, sumA)); !used {
			t.Fatal("sumA is still linked from XB-RC:9")
		}
		orphans = must[[]string](t)(b.s.EraseCaseMedia(ctx, "XB-RC:9", time.Time{}))
		if len(orphans) != 1 || orphans[0] != sumA {
			t.Fatalf("orphans = %v, want [%s]", orphans, sumA)
		}
		// Re-adding undoes the erasure.
		must[store.MediaItem](t)(b.s.AddMedia(ctx, mediaItem("XB-RC:9", sumA, store.MediaReceived, "XB-RC", "m-1")))
		if used := must[bool](t)(b.s.MediaInUse(ctx, sumA)); !used {
			t.Fatal("re-added link not in use")
		}
	})
}

func TestExtendLease(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		enqueue(t, b.s, queue(memberB, "XA-RC:0001", "message.deliver", "o-1"))
		if err := b.s.ExtendLease(ctx, "o-1", "w1", time.Now().Add(time.Hour)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("extending a queued row: %v, want ErrConflict", err)
		}
		now := b.clock.Now()
		items := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w1", Destination: memberB, Limit: 1, Now: now, Lease: time.Minute}))
		if len(items) != 1 {
			t.Fatalf("claimed %d", len(items))
		}
		if err := b.s.ExtendLease(ctx, "o-1", "w2", now.Add(time.Hour)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("another worker extends: %v, want ErrConflict", err)
		}
		if err := b.s.ExtendLease(ctx, "o-1", "w1", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		// Past the first lease, the row is still w1's: nobody reclaims it.
		b.clock.Advance(10 * time.Minute)
		again := must[[]store.OutboxItem](t)(b.s.ClaimDue(ctx, store.ClaimRequest{Worker: "w2", Destination: memberB, Limit: 1, Now: b.clock.Now(), Lease: time.Minute}))
		if len(again) != 0 {
			t.Fatal("a row with an extended lease was claimed again")
		}
	})
}

// TestCaseMediaByOrigin: attached media records which uploads it is the
// cleaned copy of, per case; the copy is found by any of them, not by an
// upload of another case nor once the case's media is erased.
func TestCaseMediaByOrigin(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		clean, up1, up2 := strings.Repeat("a", 64), strings.Repeat("1", 64), strings.Repeat("2", 64)
		m := mediaItem("XA-RC:1", clean, store.MediaAttached, "", "")
		m.DeclaredSHA256 = up1
		must[store.MediaItem](t)(b.s.AddMedia(ctx, m))
		// A second upload that cleans to the same bytes: one link, two origins.
		m.DeclaredSHA256 = up2
		must[store.MediaItem](t)(b.s.AddMedia(ctx, m))
		for _, up := range []string{up1, up2} {
			got, err := b.s.GetCaseMediaByOrigin(ctx, "XA-RC:1", up)
			if err != nil || got.SHA256 != clean || got.Direction != store.MediaAttached ||
				!bytes.Equal(got.ChunkHashes, bytes.Repeat([]byte{7}, 96)) {
				t.Fatalf("by origin %s: %+v %v", up[:1], got, err)
			}
		}
		if _, err := b.s.GetCaseMediaByOrigin(ctx, "XA-RC:2", up1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another case's upload: %v, want ErrNotFound", err)
		}
		if _, err := b.s.GetCaseMediaByOrigin(ctx, "XA-RC:1", clean); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the copy's own sha256 is no origin: %v, want ErrNotFound", err)
		}
		// Media kept as uploaded (nothing to clean) and received media record none.
		same := mediaItem("XA-RC:1", strings.Repeat("b", 64), store.MediaAttached, "", "")
		same.DeclaredSHA256 = same.SHA256
		must[store.MediaItem](t)(b.s.AddMedia(ctx, same))
		recv := mediaItem("XA-RC:1", strings.Repeat("c", 64), store.MediaReceived, "XB-RC", "m-1")
		recv.DeclaredSHA256 = strings.Repeat("3", 64)
		must[store.MediaItem](t)(b.s.AddMedia(ctx, recv))
		if n := b.count(t, `SELECT COUNT(*) FROM case_media_origins WHERE case_id = ?`, "XA-RC:1"); n != 2 {
			t.Fatalf("%d origins recorded, want 2", n)
		}
		must[[]string](t)(b.s.EraseCaseMedia(ctx, "XA-RC:1", time.Time{}))
		if _, err := b.s.GetCaseMediaByOrigin(ctx, "XA-RC:1", up1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after erasure: %v, want ErrNotFound", err)
		}
		if n := b.count(t, `SELECT COUNT(*) FROM case_media_origins WHERE case_id = ?`, "XA-RC:1"); n != 0 {
			t.Fatalf("%d origins kept after erasure", n)
		}
	})
}
