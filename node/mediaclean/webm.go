package mediaclean

// WebM and Matroska (what a browser's MediaRecorder writes): the EBML
// tree is walked without moving a byte; Tags, Attachments, Chapters,
// elements of the Segment the cleaner does not know, Info's Title,
// DateUTC, MuxingApp and WritingApp, and track Names become Void elements
// of the same length with a zeroed payload. Clusters (the media) and Cues
// are copied; a Segment or Cluster of unknown size (live recording) is
// walked to its end.

const (
	ebmlHeaderID = 0x1A45DFA3
	ebmlSegment  = 0x18538067
	ebmlCluster  = 0x1F43B675
	ebmlInfo     = 0x1549A966
	ebmlTracks   = 0x1654AE6B
	ebmlTrack    = 0xAE
	ebmlVoid     = 0xEC
)

var ebmlSegmentKeep = map[uint32]bool{0x114D9B74: true, 0x1C53BB6B: true, ebmlVoid: true, 0xBF: true} // SeekHead, Cues, Void, CRC-32

var ebmlSegmentDrop = map[uint32]string{0x1254C367: KindTags, 0x1941A469: KindAttachment, 0x1043A770: KindChapters}

var ebmlInfoDrop = map[uint32]bool{0x7BA9: true, 0x4461: true, 0x4D80: true, 0x5741: true}

// Cluster children: Timestamp, SilentTracks, Position, PrevSize,
// SimpleBlock, BlockGroup, EncryptedBlock, Void, CRC-32.
var ebmlClusterChild = map[uint32]bool{0xE7: true, 0x5854: true, 0xA7: true, 0xAB: true, 0xA3: true, 0xA0: true, 0xAF: true, ebmlVoid: true, 0xBF: true}

type ebmlElem struct {
	id      uint32
	hdr     []byte
	size    int64 // -1: unknown
	start   int64
	hdrSize int64
}

func ebmlRead(s *stream) (ebmlElem, error) {
	e := ebmlElem{start: s.pos}
	var b [12]byte
	if err := s.read(b[:1]); err != nil {
		return e, err
	}
	n := 1
	for m := byte(0x80); n <= 4 && b[0]&m == 0; m >>= 1 {
		n++
	}
	if n > 4 {
		return e, malformed("EBML id at byte %d", e.start)
	}
	if err := s.read(b[1:n]); err != nil {
		return e, err
	}
	for i := range n {
		e.id = e.id<<8 | uint32(b[i])
	}
	if err := s.read(b[n : n+1]); err != nil {
		return e, err
	}
	k := 1
	for m := byte(0x80); k <= 8 && b[n]&m == 0; m >>= 1 {
		k++
	}
	if k > 8 {
		return e, malformed("EBML size at byte %d", s.pos-1)
	}
	if err := s.read(b[n+1 : n+k]); err != nil {
		return e, err
	}
	v := uint64(b[n] & (0xFF >> k))
	all := v == uint64(0xFF>>k)
	for i := 1; i < k; i++ {
		v = v<<8 | uint64(b[n+i])
		all = all && b[n+i] == 0xFF
	}
	e.hdr = append([]byte(nil), b[:n+k]...)
	e.hdrSize = int64(n + k)
	if all {
		e.size = -1
	} else {
		if v > uint64(s.left()) {
			return e, malformed("EBML element size past the end at byte %d", e.start)
		}
		e.size = int64(v)
	}
	return e, nil
}

// ebmlVoidOver writes a Void element as long as e (header and payload) and
// skips e's payload.
func ebmlVoidOver(s *stream, e ebmlElem) error {
	total := e.hdrSize + e.size
	n := min(int64(8), total-1)
	payload := total - 1 - n
	h := make([]byte, 1+n)
	h[0] = ebmlVoid
	for i := int64(0); i < n; i++ {
		h[1+i] = byte(uint64(payload) >> (8 * (n - 1 - i)))
	}
	h[1] |= 0x80 >> (n - 1)
	if err := s.skip(e.size); err != nil {
		return err
	}
	if err := s.write(h); err != nil {
		return err
	}
	for payload > 0 {
		k := min(payload, int64(len(zeros)))
		if err := s.write(zeros[:k]); err != nil {
			return err
		}
		payload -= k
	}
	return nil
}

func cleanWebM(s *stream, rep *Report) error {
	e, err := ebmlRead(s)
	if err != nil {
		return err
	}
	if e.id != ebmlHeaderID || e.size < 0 {
		return malformed("not an EBML file")
	}
	if err := s.write(e.hdr); err != nil {
		return err
	}
	if err := s.copyN(e.size); err != nil {
		return err
	}
	seg, err := ebmlRead(s)
	if err != nil {
		return err
	}
	if seg.id != ebmlSegment {
		return malformed("EBML: no Segment after the header")
	}
	if err := s.write(seg.hdr); err != nil {
		return err
	}
	end := s.size
	if seg.size >= 0 {
		end = s.pos + seg.size
	}
	var pending *ebmlElem // read ahead: the element that ended an unknown-size Cluster
	for s.pos < end || pending != nil {
		var c ebmlElem
		if pending != nil {
			c, pending = *pending, nil
		} else if c, err = ebmlRead(s); err != nil {
			return err
		}
		switch {
		case c.id == ebmlCluster && c.size < 0:
			if err := s.write(c.hdr); err != nil {
				return err
			}
			for s.pos < end {
				k, err := ebmlRead(s)
				if err != nil {
					return err
				}
				if !ebmlClusterChild[k.id] {
					pending = &k
					break
				}
				if k.size < 0 {
					return malformed("EBML block of unknown size")
				}
				if err := s.write(k.hdr); err != nil {
					return err
				}
				if err := s.copyN(k.size); err != nil {
					return err
				}
			}
		case c.size < 0:
			return malformed("EBML element of unknown size at byte %d", c.start)
		case c.id == ebmlCluster || ebmlSegmentKeep[c.id]:
			if err := s.write(c.hdr); err != nil {
				return err
			}
			if err := s.copyN(c.size); err != nil {
				return err
			}
		case c.id == ebmlInfo || c.id == ebmlTracks:
			if err := s.write(c.hdr); err != nil {
				return err
			}
			if err := ebmlChildren(s, rep, s.pos+c.size, c.id); err != nil {
				return err
			}
		default:
			kind, ok := ebmlSegmentDrop[c.id]
			if !ok {
				kind = KindUnknownBox
			}
			rep.add(kind, 1)
			if err := ebmlVoidOver(s, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// ebmlChildren copies the children of Info or Tracks up to end, voiding
// the ones that carry metadata.
func ebmlChildren(s *stream, rep *Report, end int64, parent uint32) error {
	for s.pos < end {
		c, err := ebmlRead(s)
		if err != nil {
			return err
		}
		if c.size < 0 || s.pos+c.size > end {
			return malformed("EBML element does not fit its parent at byte %d", c.start)
		}
		switch {
		case parent == ebmlInfo && ebmlInfoDrop[c.id], parent == ebmlTrack && c.id == 0x536E:
			rep.add(KindTitle, 1)
			if err := ebmlVoidOver(s, c); err != nil {
				return err
			}
		case parent == ebmlTracks && c.id == ebmlTrack:
			if err := s.write(c.hdr); err != nil {
				return err
			}
			if err := ebmlChildren(s, rep, s.pos+c.size, ebmlTrack); err != nil {
				return err
			}
		default:
			if err := s.write(c.hdr); err != nil {
				return err
			}
			if err := s.copyN(c.size); err != nil {
				return err
			}
		}
	}
	if s.pos != end {
		return malformed("EBML children overrun their parent")
	}
	return nil
}

// Kinds of metadata removed from WebM.
const (
	KindAttachment = "attachment" // Attachments (cover art, files)
	KindChapters   = "chapters"   // Chapters (titles)
	KindTitle      = "title"      // Info Title, DateUTC, MuxingApp, WritingApp; track Names
)
