package media

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// Digest is a SHA-256 digest. Blobs are named by the Digest of their bytes and
// uploads by a Digest too, so every name this package puts in a path, a URL
// or a database key is 64 lowercase hexadecimal characters and nothing else.
type Digest [sha256.Size]byte

// ErrBadDigest is returned by ParseDigest for anything but 64 lowercase hex
// characters.
var ErrBadDigest = errors.New("media: a digest is 64 lowercase hexadecimal characters")

// ParseDigest reads exactly 64 lowercase hexadecimal characters. Upper case,
// a prefix such as "sha256:", separators, dots and slashes are refused: the
// result is safe as a file name by construction.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*len(d) {
		return d, ErrBadDigest
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return d, ErrBadDigest
		}
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, ErrBadDigest
	}
	return d, nil
}

// String is the lowercase hex form.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is all zero (unset).
func (d Digest) IsZero() bool { return d == Digest{} }

// Sum returns the Digest of b.
func Sum(b []byte) Digest { return sha256.Sum256(b) }
