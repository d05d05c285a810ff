package mediaclean

import (
	"bytes"
	"encoding/binary"
)

// JPEG: the segments before and between the scans are kept but for APPn
// and COM, of which only JFIF APP0, ICC_PROFILE APP2 and the Adobe APP14
// (it says how to convert the colours) stay; the entropy-coded data is
// copied; whatever follows EOI (appended pictures of MPF, vendor trailers)
// is dropped.

const (
	mSOI = 0xD8
	mEOI = 0xD9
	mSOS = 0xDA
	mCOM = 0xFE
)

var (
	jfif      = []byte("JFIF\x00")
	exifHdr   = []byte("Exif\x00")
	xmpHdr    = []byte("http://ns.adobe.com/xap/1.0/\x00")
	xmpExtHdr = []byte("http://ns.adobe.com/xmp/extension/\x00")
	iccHdr    = []byte("ICC_PROFILE\x00")
	adobeHdr  = []byte("Adobe")
)

func cleanJPEG(s *stream, rep *Report) error {
	var hdr [4]byte
	if err := s.read(hdr[:2]); err != nil {
		return err
	}
	if hdr[0] != 0xFF || hdr[1] != mSOI {
		return malformed("not a JPEG: no SOI")
	}
	if err := s.write(hdr[:2]); err != nil {
		return err
	}
	scanned, framed := false, false
	m, err := jpegMarker(s)
	for {
		if err != nil {
			return err
		}
		switch {
		case m == mEOI:
			if !scanned {
				return malformed("JPEG ends before its first scan")
			}
			if err := s.write([]byte{0xFF, mEOI}); err != nil {
				return err
			}
			if s.left() > 0 {
				rep.add(KindTrailer, 1)
			}
			return nil
		case m == mSOI || m == 0x01 || (m >= 0xD0 && m <= 0xD7):
			return malformed("JPEG marker %#x out of place at byte %d", m, s.pos)
		}
		if err := s.read(hdr[:2]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint16(hdr[:2]))
		if n < 2 {
			return malformed("JPEG segment length %d at byte %d", n, s.pos)
		}
		p := make([]byte, n-2)
		if err := s.read(p); err != nil {
			return err
		}
		if kind, drop := jpegDrop(m, p); drop {
			rep.add(kind, 1)
			m, err = jpegMarker(s)
			continue
		}
		if m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC {
			framed = true
		}
		if m == mSOS && !framed {
			return malformed("JPEG scan before its frame header")
		}
		if err := s.write([]byte{0xFF, m, hdr[0], hdr[1]}); err != nil {
			return err
		}
		if err := s.write(p); err != nil {
			return err
		}
		if m != mSOS {
			m, err = jpegMarker(s)
			continue
		}
		scanned = true
		m, err = jpegScan(s)
	}
}

// jpegDrop says whether a segment is metadata to drop, and of which kind.
func jpegDrop(m byte, p []byte) (string, bool) {
	switch {
	case m == 0xE0:
		return KindAppSegment, !bytes.HasPrefix(p, jfif)
	case m == 0xE1 && bytes.HasPrefix(p, exifHdr):
		return KindEXIF, true
	case m == 0xE1 && (bytes.HasPrefix(p, xmpHdr) || bytes.HasPrefix(p, xmpExtHdr)):
		return KindXMP, true
	case m == 0xE2:
		return KindAppSegment, !bytes.HasPrefix(p, iccHdr)
	case m == 0xED:
		return KindIPTC, true
	case m == 0xEE:
		return KindAppSegment, !(len(p) == 12 && bytes.HasPrefix(p, adobeHdr))
	case m >= 0xE0 && m <= 0xEF:
		return KindAppSegment, true
	case m == mCOM:
		return KindComment, true
	}
	return "", false
}

// jpegMarker reads the next marker, which must follow at once (fill bytes
// 0xFF allowed).
func jpegMarker(s *stream) (byte, error) {
	b, err := s.r.ReadByte()
	if err != nil {
		return 0, malformed("truncated at byte %d", s.pos)
	}
	s.pos++
	if b != 0xFF {
		return 0, malformed("JPEG: no marker at byte %d", s.pos-1)
	}
	for {
		b, err = s.r.ReadByte()
		if err != nil {
			return 0, malformed("truncated at byte %d", s.pos)
		}
		s.pos++
		if b != 0xFF {
			break
		}
	}
	if b == 0 {
		return 0, malformed("JPEG: stuffed byte outside a scan at byte %d", s.pos)
	}
	return b, nil
}

// jpegScan copies entropy-coded data (with its stuffed zeros and restart
// markers) and returns the marker that ends it.
func jpegScan(s *stream) (byte, error) {
	for {
		chunk, err := s.r.ReadSlice(0xFF)
		s.pos += int64(len(chunk))
		if err == nil {
			// chunk ends with 0xFF: hold it back until we know what follows.
			if werr := s.write(chunk[:len(chunk)-1]); werr != nil {
				return 0, werr
			}
			b, rerr := s.r.ReadByte()
			for rerr == nil && b == 0xFF {
				s.pos++
				b, rerr = s.r.ReadByte()
			}
			if rerr != nil {
				return 0, malformed("truncated scan at byte %d", s.pos)
			}
			s.pos++
			if b == 0 || (b >= 0xD0 && b <= 0xD7) {
				if werr := s.write([]byte{0xFF, b}); werr != nil {
					return 0, werr
				}
				continue
			}
			return b, nil
		}
		if werr := s.write(chunk); werr != nil {
			return 0, werr
		}
		if err != bufioErrBufferFull {
			return 0, malformed("truncated scan at byte %d", s.pos)
		}
	}
}
