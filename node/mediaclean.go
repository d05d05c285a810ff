package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/mediaclean"
	"github.com/familylinks/flx/node/store"
)

// Media metadata (policy/RULES.md, "Media metadata"): what a caseworker
// attaches is stored, and so sent, only as the copy mediaclean makes of
// it. The upload is verified against the sha256 the caller declared, then
// cleaned: the cleaned copy is stored under its own sha256 (the one the
// answer gives and messages reference), linked to the case, and only then
// is the original blob deleted (unless something else here holds the same
// bytes). A blob the cleaner cannot parse is refused (media_not_cleanable)
// and nothing of it is kept.

// hashCounter hashes and counts what is written to it.
type hashCounter struct {
	h hash.Hash
	n int64
}

func (w *hashCounter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return w.h.Write(p)
}

func notCleanable(mediaType string, err error) *Error {
	if errors.Is(err, mediaclean.ErrUnsupported) {
		return errf(problem.MediaNotCleanable, "media_type %s cannot be cleaned of metadata here; supported: %v", mediaType, mediaclean.MediaTypes())
	}
	return errf(problem.MediaNotCleanable, "the bytes are not a %s this node can clean of metadata (%v)", mediaType, err)
}

// cleanBlob stores the cleaned copy of blob sum (its own sha256, maybe
// sum itself when there was nothing to remove) and says what was removed.
// The original stays: the caller deletes it once the copy is linked.
func (n *Node) cleanBlob(ctx context.Context, st media.Store, sum media.Digest, mediaType string) (media.Digest, mediaclean.Report, error) {
	b, err := st.Open(ctx, sum)
	if err != nil {
		return media.Digest{}, mediaclean.Report{}, fmt.Errorf("open media: %w", err)
	}
	defer b.Close()
	hc := &hashCounter{h: sha256.New()}
	rep, err := mediaclean.Clean(mediaType, hc, b, b.Size())
	if err != nil {
		return media.Digest{}, rep, notCleanable(mediaType, err)
	}
	clean := media.Digest(hc.h.Sum(nil))
	if clean == sum {
		return sum, rep, nil
	}
	// The second pass streams the same bytes (Clean is a pure function of
	// its input) into the store, which checks them against the first.
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := mediaclean.Clean(mediaType, pw, b, b.Size())
		pw.CloseWithError(err)
	}()
	_, err = st.Put(ctx, media.Expect{SHA256: clean, Size: hc.n}, pr)
	pr.CloseWithError(errors.New("node: put ended"))
	<-done // the blob is closed only once the second pass is over
	switch {
	case errors.Is(err, media.ErrNoSpace):
		return media.Digest{}, rep, errf(problem.InsufficientStorage, "no space for this media now")
	case err != nil:
		return media.Digest{}, rep, fmt.Errorf("store cleaned media: %w", err)
	}
	return clean, rep, nil
}

// dropOriginal deletes the blob of what a caseworker uploaded once its
// cleaned copy is linked (or it was refused), unless a case here links
// those very bytes (the same media received from a peer, or attached
// before and already clean).
func (n *Node) dropOriginal(ctx context.Context, st media.Store, orig, clean media.Digest) error {
	if orig == clean {
		return nil
	}
	used, err := n.o.Store.MediaInUse(ctx, orig.String())
	if err != nil || used {
		return err
	}
	return st.Delete(ctx, orig)
}

// cleanAndAttach cleans blob sum and links the cleaned copy to the case.
// dropOrig says whether the original blob is the caseworker's upload, to
// delete; a blob found here already (received, or in flight from a peer)
// is left to its own life.
func (n *Node) cleanAndAttach(ctx context.Context, a Actor, caseID string, sum media.Digest, mediaType string, dropOrig bool) (store.MediaItem, mediaclean.Report, error) {
	st, err := n.mediaStore()
	if err != nil {
		return store.MediaItem{}, mediaclean.Report{}, err
	}
	clean, rep, err := n.cleanBlob(ctx, st, sum, mediaType)
	if err != nil {
		if problem.CodeOf(err) == problem.MediaNotCleanable && dropOrig {
			if derr := n.dropOriginal(ctx, st, sum, media.Digest{}); derr != nil {
				n.log.Warn("media refused, its blob not deleted", "sha256", sum.String(), "err", derr)
			}
			n.log.Info("media refused: not cleanable", "case_id", caseID, "media_type", mediaType)
		}
		if problem.CodeOf(err) != "" {
			return store.MediaItem{}, rep, err
		}
		return store.MediaItem{}, rep, internal("clean media", err)
	}
	m, err := n.attachBlob(ctx, a, caseID, clean, mediaType, sum, rep)
	if err != nil {
		return m, rep, err
	}
	n.media.knownClean(clean, mediaType)
	if !dropOrig {
		return m, rep, nil
	}
	if err := n.dropOriginal(ctx, st, sum, clean); err != nil {
		// The copy is linked; the original lingers until the media sweep.
		n.log.Warn("original media not deleted", "sha256", sum.String(), "err", err)
	}
	return m, rep, nil
}

// sameWriter compares what is written to it with the bytes of r, in order.
type sameWriter struct {
	r    io.Reader
	buf  []byte
	diff bool
}

func (w *sameWriter) Write(p []byte) (int, error) {
	if w.diff {
		return len(p), nil
	}
	for q := p; len(q) > 0; {
		k := min(len(q), len(w.buf))
		if _, err := io.ReadFull(w.r, w.buf[:k]); err != nil || string(w.buf[:k]) != string(q[:k]) {
			w.diff = true
			break
		}
		q = q[k:]
	}
	return len(p), nil
}

// checkClean is the last look before attached media leaves: the blob must
// be what the cleaner makes of it (media attached before the node cleaned
// media, or put in the store by hand, is refused, never sent as is).
func checkClean(b media.Blob, mediaType string) error {
	w := &sameWriter{r: io.NewSectionReader(b, 0, b.Size()), buf: make([]byte, 64<<10)}
	cw := &countWriter{}
	rep, err := mediaclean.Clean(mediaType, io.MultiWriter(w, cw), b, b.Size())
	if err != nil {
		return notCleanable(mediaType, err)
	}
	if w.diff || cw.n != b.Size() {
		return errf(problem.MediaNotCleanable, "the attached media still carries metadata (%s): attach it again", rep)
	}
	return nil
}

// countWriter counts what is written to it.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// cleanKey names a blob known clean as a media type.
type cleanKey struct {
	sum       media.Digest
	mediaType string
}

// maxKnownClean bounds the memo of blobs known clean; when full it starts
// again (a blob is then checked once more).
const maxKnownClean = 1 << 16

// knownClean remembers that blob sum is clean as mediaType.
func (m *mediaState) knownClean(sum media.Digest, mediaType string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.clean == nil || len(m.clean) >= maxKnownClean {
		m.clean = map[cleanKey]struct{}{}
	}
	m.clean[cleanKey{sum, mediaType}] = struct{}{}
}

// checkCleanOnce is checkClean for blob b (sha256 sum) remembered: a blob
// cleaned here or found clean before is not read again (checkClean reads
// it twice: at each push, retry and destination of a large recording that
// was most of a push's work).
func (n *Node) checkCleanOnce(b media.Blob, sum media.Digest, mediaType string) error {
	n.media.mu.Lock()
	_, ok := n.media.clean[cleanKey{sum, mediaType}]
	n.media.mu.Unlock()
	if ok {
		return nil
	}
	if err := checkClean(b, mediaType); err != nil {
		return err
	}
	n.media.knownClean(sum, mediaType)
	return nil
}
