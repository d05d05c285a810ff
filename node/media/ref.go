package media

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/familylinks/flx/schema"
)

// Chunk sizes a reference may carry (schema v1 media_ref.chunk_bytes: a
// multiple of 64 KiB from 64 KiB to 4 MiB). The receiver holds one chunk in
// memory per transfer while it verifies it, so the maximum bounds memory.
const (
	MinChunkBytes     = 64 << 10
	MaxChunkBytes     = 4 << 20
	DefaultChunkBytes = 1 << 20
	// MaxChunks bounds the chunk hash list (32 bytes a chunk: 4 MiB at most).
	MaxChunks = 1 << 17
)

// Ref is the part of a signed media reference that binds the bytes: what the
// origin signed in a message's media_ref (SPEC §18). A blob matches a Ref
// when its length is Size, its SHA-256 is SHA256, and chunk i (bytes
// [i*ChunkBytes, min((i+1)*ChunkBytes, Size))) hashes to entry i of a hash
// list whose SHA-256 is ChunksRoot.
type Ref struct {
	SHA256     Digest
	Size       int64
	ChunkBytes int64
	ChunksRoot Digest
}

// ErrBadRef is returned for a reference that cannot be transferred: no chunk
// fields, malformed digests, a size or chunk size out of range.
var ErrBadRef = errors.New("media: the media reference is not an attached-media reference")

// RefFromSchema reads the transfer fields of a schema v1 media reference.
// A reference without chunk_bytes and chunks_sha256 is a reference only
// (nothing travels) and gets ErrBadRef.
func RefFromSchema(m schema.MediaRef) (Ref, error) {
	var r Ref
	var err error
	if m.ChunkBytes == 0 || m.ChunksSHA256 == "" {
		return r, fmt.Errorf("%w: chunk_bytes and chunks_sha256 are required", ErrBadRef)
	}
	if r.SHA256, err = ParseDigest(m.SHA256); err != nil {
		return r, fmt.Errorf("%w: sha256: %w", ErrBadRef, err)
	}
	if r.ChunksRoot, err = ParseDigest(m.ChunksSHA256); err != nil {
		return r, fmt.Errorf("%w: chunks_sha256: %w", ErrBadRef, err)
	}
	r.Size, r.ChunkBytes = m.SizeBytes, m.ChunkBytes
	return r, r.Check()
}

// Check reports whether r's numbers are in range.
func (r Ref) Check() error {
	switch {
	case r.Size < 1:
		return fmt.Errorf("%w: size_bytes must be at least 1", ErrBadRef)
	case r.ChunkBytes < MinChunkBytes || r.ChunkBytes > MaxChunkBytes || r.ChunkBytes%MinChunkBytes != 0:
		return fmt.Errorf("%w: chunk_bytes must be a multiple of 64 KiB from 64 KiB to 4 MiB", ErrBadRef)
	case r.Chunks() > MaxChunks:
		return fmt.Errorf("%w: more than %d chunks", ErrBadRef, MaxChunks)
	}
	return nil
}

// Chunks is the number of chunks.
func (r Ref) Chunks() int64 { return (r.Size + r.ChunkBytes - 1) / r.ChunkBytes }

// Chunk returns the offset and length of chunk i.
func (r Ref) Chunk(i int64) (off, n int64) {
	off = i * r.ChunkBytes
	return off, min(r.ChunkBytes, r.Size-off)
}

// Schema fills the transfer fields of m from r (sha256, size_bytes,
// chunk_bytes, chunks_sha256), leaving media_type, duration and uri alone.
func (r Ref) Schema(m *schema.MediaRef) {
	m.SHA256 = r.SHA256.String()
	m.SizeBytes = r.Size
	m.ChunkBytes = r.ChunkBytes
	m.ChunksSHA256 = r.ChunksRoot.String()
}

// HashList is the SHA-256 of each chunk, in order.
type HashList []Digest

// Root is the SHA-256 of the concatenated digests: chunks_sha256.
func (h HashList) Root() Digest { return Sum(h.Bytes()) }

// Bytes is the wire form: the 32-byte digests concatenated.
func (h HashList) Bytes() []byte {
	b := make([]byte, 0, len(h)*len(Digest{}))
	for _, d := range h {
		b = append(b, d[:]...)
	}
	return b
}

// ErrHashList is returned by ParseHashList for a list that does not belong to
// the reference.
var ErrHashList = errors.New("media: the chunk hash list does not match the signed reference")

// ParseHashList reads the wire form of the hash list of ref and checks it
// against ref.ChunksRoot: exactly 32 bytes per chunk, and their SHA-256 is
// the signed root.
func ParseHashList(b []byte, ref Ref) (HashList, error) {
	if err := ref.Check(); err != nil {
		return nil, err
	}
	n := ref.Chunks()
	if int64(len(b)) != n*int64(len(Digest{})) {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrHashList, len(b), n*int64(len(Digest{})))
	}
	if Sum(b) != ref.ChunksRoot {
		return nil, fmt.Errorf("%w: its SHA-256 is not chunks_sha256", ErrHashList)
	}
	h := make(HashList, n)
	for i := range h {
		copy(h[i][:], b[i*len(Digest{}):])
	}
	return h, nil
}

// Describe reads r to its end once and returns the reference of its bytes
// with chunks of chunkBytes, and the hash list. It holds one chunk in memory.
func Describe(r io.Reader, chunkBytes int64) (Ref, HashList, error) {
	ref := Ref{ChunkBytes: chunkBytes}
	if chunkBytes < MinChunkBytes || chunkBytes > MaxChunkBytes || chunkBytes%MinChunkBytes != 0 {
		return ref, nil, fmt.Errorf("%w: chunk_bytes must be a multiple of 64 KiB from 64 KiB to 4 MiB", ErrBadRef)
	}
	whole := sha256.New()
	buf := make([]byte, chunkBytes)
	var list HashList
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			whole.Write(buf[:n])
			list = append(list, Sum(buf[:n]))
			ref.Size += int64(n)
			if len(list) > MaxChunks {
				return ref, nil, fmt.Errorf("%w: more than %d chunks", ErrBadRef, MaxChunks)
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return ref, nil, fmt.Errorf("media: describe: %w", err)
		}
	}
	copy(ref.SHA256[:], whole.Sum(nil))
	ref.ChunksRoot = list.Root()
	return ref, list, ref.Check()
}
