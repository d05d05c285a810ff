package mediaclean

import (
	"bytes"
	"encoding/binary"
)

// Ogg (Opus, Vorbis): every page's CRC is checked; the second packet of
// each logical stream (OpusTags, or the Vorbis comment header) is replaced
// by a packet of the same length that holds an empty vendor string, no
// comments and zeros (RFC 7845 §5.2 calls them padding; Vorbis stops at
// its framing bit), so the pages keep their layout and only their CRCs
// are computed again. Streams of other codecs (Theora, FLAC, Speex,
// Skeleton) are refused, and so are streams interleaved with the comment
// packet in flight.

const oggMaxComment = 64 << 20 // a comment packet held while it is replaced

type oggPage struct {
	hdr  []byte // 27 bytes + lacing table
	data []byte
	// The bytes of the comment packet in data: [from, to).
	from, to int
}

type oggStream struct {
	codec   string // "opus" | "vorbis"
	packets int    // packets completed
	open    bool   // a packet continues on the next page
	first   []byte // the first packet, to learn the codec
	comment []byte // the comment packet while it is read
	held    []*oggPage
}

var (
	opusHead   = []byte("OpusHead")
	opusTags   = []byte("OpusTags")
	vorbisID   = []byte("\x01vorbis")
	vorbisComm = []byte("\x03vorbis")
)

func cleanOgg(s *stream, rep *Report) error {
	streams := map[uint32]*oggStream{}
	var pending *oggStream // a stream whose comment packet is being read
	pages := 0
	for s.left() > 0 {
		pg, err := oggRead(s)
		if err != nil {
			return err
		}
		pages++
		htype := pg.hdr[5]
		serial := binary.LittleEndian.Uint32(pg.hdr[14:18])
		st := streams[serial]
		switch {
		case htype&0x02 != 0:
			if st != nil {
				return malformed("Ogg: second BOS page of a stream")
			}
			st = &oggStream{}
			streams[serial] = st
		case st == nil:
			return malformed("Ogg: page of a stream without its BOS page")
		}
		if pending != nil && pending != st {
			return malformed("Ogg: streams interleaved with a comment header")
		}
		if htype&0x01 != 0 != st.open {
			return malformed("Ogg: continuation flag does not match the packets")
		}
		nseg := int(pg.hdr[26])
		off := 0
		for i := range nseg {
			v := int(pg.hdr[27+i])
			seg := pg.data[off : off+v]
			switch st.packets {
			case 0:
				st.first = append(st.first, seg...)
				if len(st.first) > 1<<16 {
					return malformed("Ogg: identification header too long")
				}
			case 1:
				if len(st.comment)+v > oggMaxComment {
					return malformed("Ogg: comment header too long")
				}
				if len(st.comment) == 0 && !st.open {
					pg.from = off
				}
				st.comment = append(st.comment, seg...)
				pg.to = off + v
				if !containsPage(st.held, pg) {
					st.held = append(st.held, pg)
				}
				pending = st
			}
			off += v
			st.open = v == 255
			if !st.open {
				st.packets++
				switch st.packets {
				case 1:
					switch {
					case bytes.HasPrefix(st.first, opusHead):
						st.codec = "opus"
					case bytes.HasPrefix(st.first, vorbisID):
						st.codec = "vorbis"
					default:
						return malformed("Ogg: a codec other than Opus or Vorbis")
					}
					st.first = nil
				case 2:
					if err := oggReplace(st, rep); err != nil {
						return err
					}
					for _, h := range st.held[:len(st.held)-1] {
						if err := oggWrite(s, h); err != nil {
							return err
						}
					}
					// The last held page is this one, written below (it may
					// hold more packets).
					st.held, st.comment, pending = nil, nil, nil
				}
			}
		}
		if pending != nil {
			continue // held until the comment packet is whole
		}
		if err := oggWrite(s, pg); err != nil {
			return err
		}
	}
	if pages == 0 {
		return malformed("Ogg: no pages")
	}
	if pending != nil {
		return malformed("Ogg: truncated comment header")
	}
	for _, st := range streams {
		if st.packets < 2 {
			return malformed("Ogg: a stream without its comment header")
		}
	}
	return nil
}

func containsPage(ps []*oggPage, p *oggPage) bool {
	return len(ps) > 0 && ps[len(ps)-1] == p
}

// oggRead reads one page and checks its CRC.
func oggRead(s *stream) (*oggPage, error) {
	start := s.pos
	hdr := make([]byte, 27, 27+255)
	if err := s.read(hdr); err != nil {
		return nil, err
	}
	if string(hdr[:4]) != "OggS" || hdr[4] != 0 {
		return nil, malformed("Ogg: no page at byte %d", start)
	}
	if hdr[5]&^0x07 != 0 {
		return nil, malformed("Ogg: header type %#x at byte %d", hdr[5], start)
	}
	nseg := int(hdr[26])
	hdr = hdr[:27+nseg]
	if err := s.read(hdr[27:]); err != nil {
		return nil, err
	}
	n := 0
	for _, v := range hdr[27:] {
		n += int(v)
	}
	data := make([]byte, n)
	if err := s.read(data); err != nil {
		return nil, err
	}
	want := binary.LittleEndian.Uint32(hdr[22:26])
	if oggCRC(hdr, data) != want {
		return nil, malformed("Ogg: page CRC at byte %d", start)
	}
	return &oggPage{hdr: hdr, data: data}, nil
}

// oggWrite writes a page with its CRC computed again.
func oggWrite(s *stream, p *oggPage) error {
	binary.LittleEndian.PutUint32(p.hdr[22:26], oggCRC(p.hdr, p.data))
	if err := s.write(p.hdr); err != nil {
		return err
	}
	return s.write(p.data)
}

// oggReplace checks the comment packet of st and writes its replacement
// into the held pages.
func oggReplace(st *oggStream, rep *Report) error {
	c := st.comment
	magic, tail := opusTags, 0
	if st.codec == "vorbis" {
		magic, tail = vorbisComm, 1 // the framing bit
	}
	if !bytes.HasPrefix(c, magic) {
		return malformed("Ogg: the second packet is not a comment header")
	}
	p := c[len(magic):]
	take := func(n int) ([]byte, bool) {
		if n < 0 || n > len(p) {
			return nil, false
		}
		b := p[:n]
		p = p[n:]
		return b, true
	}
	u32 := func() (int, bool) {
		b, ok := take(4)
		if !ok {
			return 0, false
		}
		v := binary.LittleEndian.Uint32(b)
		if v > uint32(len(p)) {
			return 0, false
		}
		return int(v), true
	}
	vl, ok := u32()
	if !ok {
		return malformed("Ogg: comment header vendor length")
	}
	vendor, _ := take(vl)
	count, ok := u32()
	if !ok {
		return malformed("Ogg: comment header count")
	}
	if count > len(p)/4 {
		return malformed("Ogg: comment header count")
	}
	for range count {
		l, ok := u32()
		if !ok {
			return malformed("Ogg: comment length")
		}
		take(l)
	}
	if tail == 1 && (len(p) < 1 || p[0]&1 == 0) {
		return malformed("Ogg: Vorbis comment header without its framing bit")
	}
	rep.add(KindTags, count)
	if len(vendor) > 0 {
		rep.add(KindTags, 1)
	}
	// The replacement: magic, vendor length 0, count 0, [framing], zeros.
	out := make([]byte, len(c))
	copy(out, magic)
	if tail == 1 {
		out[len(magic)+8] = 1
	}
	at := 0
	for _, pg := range st.held {
		n := copy(pg.data[pg.from:pg.to], out[at:])
		at += n
	}
	if at != len(c) {
		return malformed("Ogg: comment header pages")
	}
	return nil
}

var oggTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// oggCRC is the page checksum (polynomial 0x04c11db7, no reflection, the
// CRC field taken as zero).
func oggCRC(hdr, data []byte) uint32 {
	var crc uint32
	for i, b := range hdr {
		if i >= 22 && i < 26 {
			b = 0
		}
		crc = crc<<8 ^ oggTable[byte(crc>>24)^b]
	}
	for _, b := range data {
		crc = crc<<8 ^ oggTable[byte(crc>>24)^b]
	}
	return crc
}
