package media

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestEraseLeavesUploadsUnderWay: Erase takes the blob and the complete
// upload that built it, leaves another upload of the same bytes still under
// way (another sender's message), which then builds the blob again, and
// EraseWith also takes the incomplete uploads it selects.
func TestEraseLeavesUploadsUnderWay(t *testing.T) {
	ctx := context.Background()
	data := randomBytes(41, 3*MinChunkBytes)
	want := expectOf(data)
	forEachStore(t, func(t *testing.T, s Store, _ func() Store) {
		built, other, selected := Sum([]byte("built")), Sum([]byte("other")), Sum([]byte("selected"))
		for _, u := range []struct {
			id    Digest
			owner string
			meta  string
		}{{built, "XC-RC", "built"}, {other, "XB-RC", "other"}, {selected, "local:cw", "selected"}} {
			if _, _, err := s.CreateUpload(ctx, u.id, u.owner, want, []byte(u.meta)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.WriteUpload(ctx, built, 0, data); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CommitUpload(ctx, built); err != nil {
			t.Fatal(err)
		}
		half := int64(MinChunkBytes)
		for _, id := range []Digest{other, selected} {
			if _, err := s.WriteUpload(ctx, id, 0, data[:half]); err != nil {
				t.Fatal(err)
			}
			if err := s.SyncUpload(ctx, id); err != nil {
				t.Fatal(err)
			}
		}

		if err := Erase(ctx, s, want.SHA256); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, want.SHA256); !errors.Is(err, ErrNotFound) {
			t.Fatalf("blob after erase: %v", err)
		}
		if _, err := s.Upload(ctx, built); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the upload that built the blob, after erase: %v", err)
		}
		for _, id := range []Digest{other, selected} {
			if st, err := s.Upload(ctx, id); err != nil || st.Offset != half {
				t.Fatalf("an upload under way, after erase: %+v %v", st, err)
			}
		}

		if err := EraseWith(ctx, s, want.SHA256, func(u UploadState) bool { return string(u.Meta) == "selected" }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Upload(ctx, selected); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the selected upload after EraseWith: %v", err)
		}
		// The other upload goes on and builds the blob again.
		if _, err := s.WriteUpload(ctx, other, half, data[half:]); err != nil {
			t.Fatalf("the other upload after the erasure: %v", err)
		}
		if _, err := s.CommitUpload(ctx, other); err != nil {
			t.Fatal(err)
		}
		if got := readBlob(t, s, want.SHA256); !bytes.Equal(got, data) {
			t.Fatal("the blob built again differs")
		}
	})
}
