package node

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/mediaclean/cleantest"
)

// countedBlob is a blob in memory that counts the bytes read from it.
type countedBlob struct {
	*bytes.Reader
	read *int64
}

func (b countedBlob) Read(p []byte) (int, error) {
	k, err := b.Reader.Read(p)
	*b.read += int64(k)
	return k, err
}

func (b countedBlob) ReadAt(p []byte, off int64) (int, error) {
	k, err := b.Reader.ReadAt(p, off)
	*b.read += int64(k)
	return k, err
}

func (countedBlob) Close() error { return nil }

// TestCheckCleanOnce: a clean blob is read by the check before its first
// push only; one with metadata is refused at every push, never remembered
// as clean; the memo is by media type too.
func TestCheckCleanOnce(t *testing.T) {
	n := &Node{media: &mediaState{}}
	clean := cleantest.MP4Sized(1<<20, 7)
	dirty := cleantest.MP4([]byte("samples")).File
	var read int64
	open := func(b []byte) media.Blob { return countedBlob{bytes.NewReader(b), &read} }
	sumClean, sumDirty := media.Digest(sha256.Sum256(clean)), media.Digest(sha256.Sum256(dirty))

	if err := n.checkCleanOnce(open(clean), sumClean, "video/mp4"); err != nil {
		t.Fatalf("a clean recording refused: %v", err)
	}
	if read < int64(len(clean)) {
		t.Fatalf("the first check read %d of %d bytes", read, len(clean))
	}
	for range 3 {
		read = 0
		if err := n.checkCleanOnce(open(clean), sumClean, "video/mp4"); err != nil || read != 0 {
			t.Fatalf("a blob known clean checked again: err %v, %d bytes read", err, read)
		}
	}
	read = 0
	if err := n.checkCleanOnce(open(clean), sumClean, "audio/ogg"); problem.CodeOf(err) != problem.MediaNotCleanable || read == 0 {
		t.Fatalf("the same bytes as another type: err %v, %d bytes read", err, read)
	}
	for range 2 {
		read = 0
		if err := n.checkCleanOnce(open(dirty), sumDirty, "video/mp4"); problem.CodeOf(err) != problem.MediaNotCleanable || read == 0 {
			t.Fatalf("a recording with metadata: err %v, %d bytes read", err, read)
		}
	}
	n.media.knownClean(sumDirty, "video/mp4") // cleaned here: as attach marks it
	if err := n.checkCleanOnce(open(dirty), sumDirty, "video/mp4"); err != nil {
		t.Fatalf("a blob marked clean at attach checked again: %v", err)
	}
}
