package mediaclean_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"testing"

	"github.com/familylinks/flx/node/mediaclean"
	"github.com/familylinks/flx/node/mediaclean/cleantest"
)

func clean(t testing.TB, mediaType string, in []byte) ([]byte, mediaclean.Report, error) {
	t.Helper()
	var out bytes.Buffer
	rep, err := mediaclean.Clean(mediaType, &out, bytes.NewReader(in), int64(len(in)))
	return out.Bytes(), rep, err
}

// mustClean cleans a fixture that carries canaries and checks what every
// format must hold: the canaries were there and are gone, the copy is not
// larger, cleaning again changes nothing.
func mustClean(t *testing.T, mediaType string, in []byte) ([]byte, mediaclean.Report) {
	t.Helper()
	if got := cleantest.Found(in); len(got) < 5 {
		t.Fatalf("the fixture carries too few canaries: %v", got)
	}
	out, rep, err := clean(t, mediaType, in)
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	if left := cleantest.Found(out); len(left) > 0 {
		t.Errorf("canaries left in the cleaned %s: %v", mediaType, left)
	}
	if len(out) > len(in) {
		t.Errorf("cleaned %d bytes into %d", len(in), len(out))
	}
	again, rep2, err := clean(t, mediaType, out)
	if err != nil || !bytes.Equal(again, out) {
		t.Errorf("cleaning again: err %v, same bytes %t", err, bytes.Equal(again, out))
	}
	t.Logf("%s: %d -> %d bytes, removed %s; again: %s", mediaType, len(in), len(out), rep, rep2)
	return out, rep
}

func want(t *testing.T, rep mediaclean.Report, kinds map[string]int) {
	t.Helper()
	for k, n := range kinds {
		if rep.Removed[k] != n {
			t.Errorf("removed %s: %d, want %d (report %s)", k, rep.Removed[k], n, rep)
		}
	}
}

func TestJPEG(t *testing.T) {
	in := cleantest.JPEG()
	out, rep := mustClean(t, "image/jpeg", in)
	want(t, rep, map[string]int{mediaclean.KindEXIF: 1, mediaclean.KindXMP: 2, mediaclean.KindIPTC: 1,
		mediaclean.KindComment: 2, mediaclean.KindAppSegment: 2, mediaclean.KindTrailer: 1})
	img, format, err := image.Decode(bytes.NewReader(out))
	if err != nil || format != "jpeg" || img.Bounds().Dx() != 32 || img.Bounds().Dy() != 24 {
		t.Fatalf("the cleaned JPEG does not decode: %v %s", err, format)
	}
	orig, _, _ := image.Decode(bytes.NewReader(in))
	if !sameImage(orig, img) {
		t.Error("the cleaned JPEG decodes to other pixels")
	}
	for _, keep := range []string{"JFIF\x00", "ICC_PROFILE\x00"} {
		if !bytes.Contains(out, []byte(keep)) {
			t.Errorf("the cleaned JPEG lost its %q segment", keep)
		}
	}
	if !bytes.HasSuffix(out, []byte{0xFF, 0xD9}) {
		t.Error("the cleaned JPEG does not end with EOI")
	}
}

func TestPNG(t *testing.T) {
	in := cleantest.PNG()
	out, rep := mustClean(t, "image/png", in)
	want(t, rep, map[string]int{mediaclean.KindText: 4, mediaclean.KindXMP: 1, mediaclean.KindEXIF: 1,
		mediaclean.KindTime: 1, mediaclean.KindAncillary: 1, mediaclean.KindTrailer: 1})
	img, format, err := image.Decode(bytes.NewReader(out))
	if err != nil || format != "png" {
		t.Fatalf("the cleaned PNG does not decode: %v %s", err, format)
	}
	orig, _, _ := image.Decode(bytes.NewReader(in))
	if !sameImage(orig, img) {
		t.Error("the cleaned PNG decodes to other pixels")
	}
	if !bytes.Contains(out, []byte("gAMA")) {
		t.Error("the cleaned PNG lost its gAMA chunk")
	}
}

func sameImage(a, b image.Image) bool {
	if a == nil || b == nil || a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				return false
			}
		}
	}
	return true
}

// box is a parsed MP4 box.
type box struct {
	typ       string
	off, size int64
	hdr       int64
	children  []box
}

var containers = map[string]bool{"moov": true, "trak": true, "mdia": true, "minf": true, "dinf": true, "stbl": true, "udta": true, "edts": true}

// parseBoxes parses b[from:to] as boxes, descending into containers; an
// error when the sizes do not tile the range.
func parseBoxes(b []byte, from, to int64) ([]box, error) {
	var out []box
	for from < to {
		if to-from < 8 {
			return nil, errors.New("stray bytes")
		}
		size := int64(binary.BigEndian.Uint32(b[from:]))
		typ := string(b[from+4 : from+8])
		hl := int64(8)
		if size == 1 {
			size, hl = int64(binary.BigEndian.Uint64(b[from+8:])), 16
		}
		if size < hl || from+size > to {
			return nil, errors.New("bad size in " + typ)
		}
		bx := box{typ: typ, off: from, size: size, hdr: hl}
		if containers[typ] {
			c, err := parseBoxes(b, from+hl, from+size)
			if err != nil {
				return nil, err
			}
			bx.children = c
		}
		out = append(out, bx)
		from += size
	}
	return out, nil
}

func flatten(bs []box) []box {
	var out []box
	for _, b := range bs {
		out = append(out, b)
		out = append(out, flatten(b.children)...)
	}
	return out
}

func TestMP4(t *testing.T) {
	samples := bytes.Repeat([]byte("sample bytes of a video, not metadata "), 500)
	p := cleantest.MP4(samples)
	out, rep := mustClean(t, "video/mp4", p.File)
	want(t, rep, map[string]int{mediaclean.KindUserData: 2, mediaclean.KindMeta: 1, mediaclean.KindUUID: 2,
		mediaclean.KindQuickTime: 1, mediaclean.KindTimestamp: 3, mediaclean.KindHandler: 1, mediaclean.KindTrackSamples: 1})
	if len(out) != len(p.File) {
		t.Fatalf("the cleaned MP4 has %d bytes, the original %d: offsets moved", len(out), len(p.File))
	}
	if !bytes.Equal(out[p.MdatOffset:p.MdatOffset+len(p.Mdat)], p.Mdat) {
		t.Fatal("the samples moved or changed")
	}
	before, err := parseBoxes(p.File, 0, int64(len(p.File)))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseBoxes(out, 0, int64(len(out)))
	if err != nil {
		t.Fatalf("the cleaned MP4's box tree does not parse: %v", err)
	}
	types := map[string]int{}
	for _, b := range flatten(after) {
		types[b.typ]++
	}
	for _, gone := range []string{"udta", "meta", "uuid", "\xa9cmt"} {
		if types[gone] > 0 {
			t.Errorf("a %q box is left", gone)
		}
	}
	for _, kept := range []string{"moov", "trak", "stco", "mdat", "mvhd", "hdlr"} {
		if types[kept] == 0 {
			t.Errorf("no %q box left", kept)
		}
	}
	if len(flatten(before)) < len(flatten(after)) {
		t.Error("the cleaned tree has more boxes")
	}
}

func TestOgg(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []byte
		codec   string
		maxSegs int
	}{
		{"opus one page", cleantest.Opus(255), "opus", 255},
		{"opus across pages", cleantest.Opus(2), "opus", 2},
		{"vorbis with setup", cleantest.Vorbis(255), "vorbis", 255},
		{"vorbis across pages", cleantest.Vorbis(3), "vorbis", 3},
		{"chained", append(cleantest.Opus(4), cleantest.Vorbis(5)...), "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, rep := mustClean(t, "audio/ogg", tc.in)
			want(t, rep, map[string]int{mediaclean.KindTags: 8 * max(1, boolInt(tc.codec == "")*2)})
			if len(out) != len(tc.in) {
				t.Fatalf("%d bytes, was %d: the pages changed layout", len(out), len(tc.in))
			}
			inPages, outPages := pages(t, tc.in), pages(t, out)
			if len(inPages) != len(outPages) {
				t.Fatalf("%d pages, was %d", len(outPages), len(inPages))
			}
			changed := 0
			for i := range outPages {
				a, b := inPages[i], outPages[i]
				if len(a) != len(b) || !bytes.Equal(a[:22], b[:22]) || !bytes.Equal(a[26:27+int(a[26])], b[26:27+int(b[26])]) {
					t.Fatalf("page %d: header or lacing changed", i)
				}
				if got := binary.LittleEndian.Uint32(b[22:26]); got != cleantest.OggCRC(b) {
					t.Errorf("page %d: CRC %08x, want %08x", i, got, cleantest.OggCRC(b))
				}
				if !bytes.Equal(a, b) {
					changed++
				}
			}
			if changed == 0 || changed > len(outPages)/2 {
				t.Errorf("%d of %d pages changed", changed, len(outPages))
			}
			// The audio packets are untouched: the last pages are equal.
			if !bytes.Equal(inPages[len(inPages)-1], outPages[len(outPages)-1]) {
				t.Error("the last page changed")
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func pages(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 27 || string(b[:4]) != "OggS" {
			t.Fatal("not an Ogg page")
		}
		n := 27 + int(b[26])
		for _, v := range b[27:n] {
			n += int(v)
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func TestWAV(t *testing.T) {
	in := cleantest.WAV()
	out, rep := mustClean(t, "audio/wav", in)
	want(t, rep, map[string]int{mediaclean.KindRIFFInfo: 4, mediaclean.KindTrailer: 1})
	i := bytes.Index(in, []byte("data"))
	j := bytes.Index(out, []byte("data"))
	if i != j || !bytes.Equal(in[i:i+8+1600], out[j:j+8+1600]) {
		t.Error("the samples moved or changed")
	}
}

func TestWebM(t *testing.T) {
	in := cleantest.WebM()
	out, rep := mustClean(t, "video/webm", in)
	want(t, rep, map[string]int{mediaclean.KindTitle: 5, mediaclean.KindTags: 1, mediaclean.KindAttachment: 1, mediaclean.KindChapters: 1})
	if len(out) != len(in) {
		t.Fatalf("%d bytes, was %d: elements moved", len(out), len(in))
	}
	c := bytes.Index(in, []byte{0x1F, 0x43, 0xB6, 0x75})
	if c < 0 || !bytes.Equal(in[c:], out[c:]) {
		t.Error("the clusters changed")
	}
}

// TestRefused: what the cleaner cannot parse or does not know is refused,
// never passed through.
func TestRefused(t *testing.T) {
	jp, pn, mp, op, wv := cleantest.JPEG(), cleantest.PNG(), cleantest.MP4([]byte("x")).File, cleantest.Opus(255), cleantest.WAV()
	badMP4 := bytes.Clone(mp)
	binary.BigEndian.PutUint32(badMP4[len(cleantest.Box("ftyp", []byte("isom"), []byte{0, 0, 2, 0}, []byte("isomiso2mp41"))):], 0xFFFFFF00)
	badCRC := bytes.Clone(op)
	badCRC[40] ^= 1
	badPNG := bytes.Clone(pn)
	badPNG[40] ^= 1
	theora := cleantest.Ogg(7, 255, []cleantest.OggPacket{{Data: []byte("\x80theora\x03\x02\x01"), Flush: true}, {Data: []byte("\x81theora"), Flush: true}})
	for _, tc := range []struct {
		name, mediaType string
		in              []byte
		err             error
	}{
		{"unknown type", "video/x-msvideo", mp, mediaclean.ErrUnsupported},
		{"parameters", "image/jpeg; q=1", jp, mediaclean.ErrUnsupported},
		{"jpeg declared png", "image/png", jp, mediaclean.ErrMalformed},
		{"png declared jpeg", "image/jpeg", pn, mediaclean.ErrMalformed},
		{"mp4 declared ogg", "audio/ogg", mp, mediaclean.ErrMalformed},
		{"ogg declared mp4", "video/mp4", op, mediaclean.ErrMalformed},
		{"random bytes", "video/mp4", bytes.Repeat([]byte{0x5a}, 4096), mediaclean.ErrMalformed},
		{"impossible box size", "video/mp4", badMP4, mediaclean.ErrMalformed},
		{"ogg bad crc", "audio/ogg", badCRC, mediaclean.ErrMalformed},
		{"png bad crc", "image/png", badPNG, mediaclean.ErrMalformed},
		{"theora", "audio/ogg", theora, mediaclean.ErrMalformed},
		{"empty", "image/jpeg", nil, mediaclean.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := clean(t, tc.mediaType, tc.in); !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
		})
	}
	// Truncated anywhere: refused (but for cuts that leave a whole file
	// behind, which the formats that end on a marker do not).
	for name, f := range map[string]struct {
		mt string
		b  []byte
	}{"jpeg": {"image/jpeg", jp}, "png": {"image/png", pn}, "mp4": {"video/mp4", mp}, "ogg": {"audio/ogg", op}, "wav": {"audio/wav", wv}} {
		end := len(f.b)
		if i := bytes.LastIndex(f.b, []byte(cleantest.Canaries[8])); name != "mp4" && name != "ogg" && i > 0 {
			end = i - 4 // keep the trailer out of the cut
		}
		for cut := 0; cut < end; cut += 1 + end/97 {
			if _, _, err := clean(t, f.mt, f.b[:cut]); !errors.Is(err, mediaclean.ErrMalformed) {
				t.Errorf("%s cut at %d of %d: err %v, want ErrMalformed", name, cut, len(f.b), err)
			}
		}
	}
}
