package mediaclean_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/familylinks/flx/node/mediaclean"
	"github.com/familylinks/flx/node/mediaclean/cleantest"
)

// fuzzClean is what every walker must hold on any input: no panic, an
// error that is ErrMalformed, or a copy no larger than the input that
// cleaning again leaves as it is.
func fuzzClean(t *testing.T, mediaType string, in []byte) {
	var out bytes.Buffer
	_, err := mediaclean.Clean(mediaType, &out, bytes.NewReader(in), int64(len(in)))
	if err != nil {
		if !errors.Is(err, mediaclean.ErrMalformed) {
			t.Fatalf("error %v is not ErrMalformed", err)
		}
		return
	}
	if out.Len() > len(in) {
		t.Fatalf("cleaned %d bytes into %d", len(in), out.Len())
	}
	var again bytes.Buffer
	if _, err := mediaclean.Clean(mediaType, &again, bytes.NewReader(out.Bytes()), int64(out.Len())); err != nil {
		t.Fatalf("the cleaned copy is refused: %v", err)
	}
	if !bytes.Equal(again.Bytes(), out.Bytes()) {
		t.Fatal("cleaning is not idempotent")
	}
}

func FuzzJPEG(f *testing.F) {
	f.Add(cleantest.JPEG())
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xD9})
	f.Fuzz(func(t *testing.T, b []byte) { fuzzClean(t, "image/jpeg", b) })
}

func FuzzPNG(f *testing.F) {
	f.Add(cleantest.PNG())
	f.Fuzz(func(t *testing.T, b []byte) { fuzzClean(t, "image/png", b) })
}

func FuzzMP4(f *testing.F) {
	f.Add(cleantest.MP4([]byte("samples")).File)
	f.Add(cleantest.MP4Sized(1500, 1))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzClean(t, "video/mp4", b) })
}

func FuzzOgg(f *testing.F) {
	f.Add(cleantest.Opus(3))
	f.Add(cleantest.Vorbis(255))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzClean(t, "audio/ogg", b) })
}

func FuzzWAV(f *testing.F) {
	f.Add(cleantest.WAV())
	f.Fuzz(func(t *testing.T, b []byte) { fuzzClean(t, "audio/wav", b) })
}

func FuzzWebM(f *testing.F) {
	f.Add(cleantest.WebM())
	f.Fuzz(func(t *testing.T, b []byte) { fuzzClean(t, "video/webm", b) })
}
