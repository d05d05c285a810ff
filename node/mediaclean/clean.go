package mediaclean

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// Errors of Clean; test with errors.Is.
var (
	// ErrUnsupported: the media type (or a codec inside a known container)
	// is not one the cleaner knows.
	ErrUnsupported = errors.New("mediaclean: media type not supported")
	// ErrMalformed: the bytes are not a well-formed container of the
	// declared type (truncated, impossible sizes, bad checksums).
	ErrMalformed = errors.New("mediaclean: malformed media")
)

// Kinds of metadata a Report counts.
const (
	KindEXIF       = "exif"        // JPEG APP1 Exif, PNG eXIf
	KindXMP        = "xmp"         // JPEG APP1 XMP, PNG iTXt XML:com.adobe.xmp, MP4 XMP_ and uuid XMP
	KindIPTC       = "iptc"        // JPEG APP13
	KindComment    = "comment"     // JPEG COM
	KindAppSegment = "app_segment" // other JPEG APPn (MPF, FPXR, JFXX thumbnails, vendors)
	KindText       = "text"        // PNG tEXt, zTXt, iTXt
	KindTime       = "time"        // PNG tIME
	KindAncillary  = "ancillary"   // other PNG ancillary chunks
	KindTrailer    = "trailer"     // bytes after the end of a JPEG, PNG or WAV (appended images, vendor trailers)
	KindUserData   = "user_data"   // MP4 udta
	KindMeta       = "meta"        // MP4 meta (Apple keys, iTunes ilst)
	KindUUID       = "uuid"        // MP4 uuid boxes
	KindQuickTime  = "quicktime"   // MP4 © boxes outside udta
	KindUnknownBox = "unknown_box" // MP4 boxes of a type the cleaner does not know
	KindTimestamp  = "timestamp"   // MP4 creation/modification times of mvhd, tkhd, mdhd
	// MP4 tracks other than video and sound (timed metadata, timecode,
	// text) whose samples were zeroed.
	KindTrackSamples = "track_samples"
	KindHandler      = "handler"   // MP4 hdlr names
	KindTags         = "tags"      // Ogg Opus/Vorbis comments (each tag), vendor strings
	KindRIFFInfo     = "riff_info" // WAV LIST, bext, iXML, id3, _PMX and other chunks
)

// Report says what Clean removed: a count per kind, never a value.
type Report struct {
	Removed map[string]int `json:"removed"`
}

func (r *Report) add(kind string, n int) {
	if n <= 0 {
		return
	}
	if r.Removed == nil {
		r.Removed = map[string]int{}
	}
	r.Removed[kind] += n
}

// Total is the number of things removed.
func (r Report) Total() int {
	t := 0
	for _, v := range r.Removed {
		t += v
	}
	return t
}

// String lists the counts in a stable order, e.g. "exif=1 xmp=2".
func (r Report) String() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(r.Removed)) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, r.Removed[k])
	}
	return b.String()
}

type cleaner func(s *stream, rep *Report) error

var cleaners = map[string]cleaner{
	"image/jpeg":       cleanJPEG,
	"image/png":        cleanPNG,
	"video/mp4":        cleanMP4,
	"video/quicktime":  cleanMP4,
	"audio/mp4":        cleanMP4,
	"audio/ogg":        cleanOgg,
	"audio/opus":       cleanOgg,
	"audio/wav":        cleanWAV,
	"audio/wave":       cleanWAV,
	"audio/x-wav":      cleanWAV,
	"video/webm":       cleanWebM,
	"audio/webm":       cleanWebM,
	"video/x-matroska": cleanWebM,
}

// Supported reports whether Clean knows mediaType (lower case type/subtype,
// without parameters).
func Supported(mediaType string) bool {
	_, ok := cleaners[mediaType]
	return ok
}

// MediaTypes lists the supported media types, sorted.
func MediaTypes() []string { return slices.Sorted(maps.Keys(cleaners)) }

// Clean writes to dst a copy of the size bytes of src without their
// metadata, as the container of mediaType holds it. The copy is never
// larger than src, and cleaning it again yields the same bytes. On an error
// what was written to dst is to be discarded.
func Clean(mediaType string, dst io.Writer, src io.ReaderAt, size int64) (Report, error) {
	var rep Report
	c, ok := cleaners[mediaType]
	if !ok {
		return rep, fmt.Errorf("%w: %q", ErrUnsupported, mediaType)
	}
	s := &stream{r: bufio.NewReaderSize(io.NewSectionReader(src, 0, size), 64<<10), w: dst, size: size, ra: src}
	if err := c(s, &rep); err != nil {
		return Report{}, err
	}
	return rep, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// stream reads src in order and writes dst.
type stream struct {
	r    *bufio.Reader
	w    io.Writer
	pos  int64 // bytes read from src
	size int64
	ra   io.ReaderAt
	zero []span // MP4: sample bytes to zero, sorted, merged
}

var zeros [32 << 10]byte

func (s *stream) left() int64 { return s.size - s.pos }

// read fills p from src.
func (s *stream) read(p []byte) error {
	k, err := io.ReadFull(s.r, p)
	s.pos += int64(k)
	if err != nil {
		return malformed("truncated at byte %d", s.pos)
	}
	return nil
}

func (s *stream) write(p []byte) error {
	_, err := s.w.Write(p)
	return err
}

// copyN copies n bytes of src to dst.
func (s *stream) copyN(n int64) error {
	if n < 0 || n > s.left() {
		return malformed("length %d past the end at byte %d", n, s.pos)
	}
	k, err := io.CopyN(s.w, s.r, n)
	s.pos += k
	if err != nil {
		if k < n && (err == io.EOF || err == io.ErrUnexpectedEOF) {
			return malformed("truncated at byte %d", s.pos)
		}
		return err
	}
	return nil
}

// skip reads n bytes of src and writes nothing.
func (s *stream) skip(n int64) error {
	if n < 0 || n > s.left() {
		return malformed("length %d past the end at byte %d", n, s.pos)
	}
	k, err := s.r.Discard(int(n))
	s.pos += int64(k)
	if err != nil {
		return malformed("truncated at byte %d", s.pos)
	}
	return nil
}

// zeroN reads n bytes of src and writes n zero bytes.
func (s *stream) zeroN(n int64) error {
	if err := s.skip(n); err != nil {
		return err
	}
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if err := s.write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

var bufioErrBufferFull = bufio.ErrBufferFull
