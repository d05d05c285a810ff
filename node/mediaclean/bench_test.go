package mediaclean_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/familylinks/flx/node/mediaclean"
	"github.com/familylinks/flx/node/mediaclean/cleantest"
)

// BenchmarkClean: throughput and memory of one pass over a 64 MiB MP4 (the
// node makes two per attach, and one more before each push) and a JPEG.
// B/op stays near the buffers' size whatever the input's: the walkers
// stream.
func BenchmarkClean(b *testing.B) {
	for _, tc := range []struct {
		name, mediaType string
		in              []byte
	}{
		{"mp4-64MiB", "video/mp4", cleantest.MP4(bytes.Repeat([]byte("0123456789abcdef"), 4<<20)).File},
		{"jpeg", "image/jpeg", cleantest.JPEG()},
		{"ogg", "audio/ogg", cleantest.Opus(255)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.in)))
			b.ReportAllocs()
			r := bytes.NewReader(tc.in)
			for b.Loop() {
				if _, err := mediaclean.Clean(tc.mediaType, io.Discard, r, int64(len(tc.in))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
