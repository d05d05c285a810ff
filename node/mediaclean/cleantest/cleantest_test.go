package cleantest

import (
	"bytes"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"strings"
	"testing"
)

// fixtures are every file this package builds, by media type.
func fixtures() map[string][]byte {
	return map[string][]byte{
		"image/jpeg": JPEG(), "image/png": PNG(), "video/mp4": MP4([]byte("samples of the video")).File,
		"audio/ogg (opus)": Opus(255), "audio/ogg (vorbis)": Vorbis(255), "audio/wav": WAV(), "video/webm": WebM(),
	}
}

// TestFixturesCarryTheCanaries holds the cleaner's tests to their premise:
// a fixture without its canaries would let a cleaner that removes nothing
// pass. Every fixture carries the personal ones (a place, an address, a
// name, a device serial, a date, a comment), every canary is planted in
// some fixture, and the pictures still decode.
func TestFixturesCarryTheCanaries(t *testing.T) {
	personal := Canaries[:5]
	personal = append(personal, "CANARY-COMMENT family news")
	everywhere := map[string]bool{}
	for name, b := range fixtures() {
		found := strings.Join(Found(b), "\n")
		for _, c := range personal {
			if !strings.Contains(found, c) {
				t.Errorf("%s: canary %q not planted", name, c)
			}
		}
		for _, c := range Canaries {
			if strings.Contains(found, c) {
				everywhere[c] = true
			}
		}
	}
	for _, c := range Canaries {
		if !everywhere[c] {
			t.Errorf("canary %q is planted in no fixture", c)
		}
	}
	for _, name := range []string{"image/jpeg", "image/png"} {
		if _, _, err := image.Decode(bytes.NewReader(fixtures()[name])); err != nil {
			t.Errorf("%s fixture does not decode: %v", name, err)
		}
	}
}

// TestFoundSeesEveryForm: a canary is found raw, in UTF-16 either way and
// in hex, and by a fragment when cut in two; clean bytes show nothing.
func TestFoundSeesEveryForm(t *testing.T) {
	c := Canaries[2]
	for i, f := range Forms(c) {
		if len(Found(append([]byte("xx"), f...))) == 0 {
			t.Errorf("form %d of %q not found", i, c)
		}
	}
	if len(Found([]byte("...CANARY-NAME Det|ainee"))) == 0 {
		t.Error("a canary cut in two is not found by its fragment")
	}
	if got := Found(bytes.Repeat([]byte("clean bytes "), 100)); len(got) != 0 {
		t.Errorf("found in clean bytes: %v", got)
	}
}
