package federation

import "io"

// ReadAtMost reads r to its end into a buffer sized by the length the
// other side announced (at most limit; r enforces the limit), but only in
// proportion to the bytes that arrived: readStart first, then four times
// what it holds, up to the announced length. io.ReadAll grows from 512
// bytes, so a batch of 50 envelopes (about 200 KB) was allocated, cleared
// and copied a dozen times over; sized at once by the announced length, a
// peer that announces the limit and sends a few bytes (a request body on
// each of many HTTP/2 streams, or the answer to each batch in flight)
// would make this node hold a large buffer for each until its timeout.
// With no length announced (announced <= 0) it reads as io.ReadAll does.
func ReadAtMost(r io.Reader, announced, limit int64) ([]byte, error) {
	if announced <= 0 {
		return io.ReadAll(r)
	}
	// One byte beyond the announced length: the read that finds the end
	// has room, and needs no growth.
	full := int(min(announced, limit)) + 1
	b := make([]byte, 0, min(full, readStart))
	for {
		if len(b) == cap(b) {
			grown := min(4*cap(b), full)
			if grown <= cap(b) {
				grown = 2 * cap(b) // past the announced length: r ends it
			}
			nb := make([]byte, len(b), grown)
			copy(nb, b)
			b = nb
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// readStart is the buffer a body is first read into: what an announced
// length buys before its bytes arrive.
const readStart = 64 << 10
