package mediaclean

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
)

// PNG: the critical chunks and the ancillary chunks that say how to show
// the pixels are kept with their CRCs (checked); text (tEXt, zTXt, iTXt),
// eXIf, tIME and every other ancillary chunk are dropped, and so is
// whatever follows IEND. An unknown critical chunk is refused: the image
// could not be shown without it.

var pngSig = []byte("\x89PNG\r\n\x1a\n")

// pngKeep are the chunks kept: critical, colour and layout, animation.
var pngKeep = map[string]bool{
	"IHDR": true, "PLTE": true, "IDAT": true, "IEND": true,
	"tRNS": true, "gAMA": true, "cHRM": true, "sRGB": true, "iCCP": true, "sBIT": true,
	"bKGD": true, "pHYs": true, "hIST": true, "cICP": true, "mDCV": true, "cLLI": true,
	"acTL": true, "fcTL": true, "fdAT": true,
}

const pngMaxChunk = 1<<31 - 1

func cleanPNG(s *stream, rep *Report) error {
	var hdr [8]byte
	if err := s.read(hdr[:]); err != nil {
		return err
	}
	if !bytes.Equal(hdr[:], pngSig) {
		return malformed("not a PNG: bad signature")
	}
	if err := s.write(hdr[:]); err != nil {
		return err
	}
	first := true
	for {
		if err := s.read(hdr[:]); err != nil {
			return err
		}
		n := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := string(hdr[4:8])
		if n > pngMaxChunk || n+4 > s.left() {
			return malformed("PNG chunk length %d at byte %d", n, s.pos-8)
		}
		for _, c := range hdr[4:8] {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return malformed("PNG chunk type at byte %d", s.pos-4)
			}
		}
		if first != (typ == "IHDR") {
			return malformed("PNG: IHDR must come first, once")
		}
		first = false
		keep := pngKeep[typ]
		critical := hdr[4]&0x20 == 0
		if critical && !keep {
			return malformed("PNG: unknown critical chunk")
		}
		crc := crc32.NewIEEE()
		crc.Write(hdr[4:8])
		var out io.Writer = s.w
		if keep {
			if err := s.write(hdr[:]); err != nil {
				return err
			}
		} else {
			out = nil
		}
		// The data goes through the CRC, and to dst if kept.
		if err := pngData(s, crc, out, n, typ, rep); err != nil {
			return err
		}
		var tail [4]byte
		if err := s.read(tail[:]); err != nil {
			return err
		}
		if binary.BigEndian.Uint32(tail[:]) != crc.Sum32() {
			return malformed("PNG chunk CRC at byte %d", s.pos-4)
		}
		if keep {
			if err := s.write(tail[:]); err != nil {
				return err
			}
		}
		if typ == "IEND" {
			if s.left() > 0 {
				rep.add(KindTrailer, 1)
			}
			return nil
		}
	}
}

// pngData reads the n bytes of a chunk's data into crc (and out when not
// nil), counting what a dropped chunk was.
func pngData(s *stream, crc, out io.Writer, n int64, typ string, rep *Report) error {
	buf := make([]byte, min(n, 32<<10))
	var head []byte
	for left := n; left > 0; {
		p := buf[:min(left, int64(len(buf)))]
		if err := s.read(p); err != nil {
			return err
		}
		crc.Write(p)
		if out != nil {
			if _, err := out.Write(p); err != nil {
				return err
			}
		}
		if head == nil {
			head = append([]byte(nil), p[:min(len(p), 80)]...)
		}
		left -= int64(len(p))
	}
	if out != nil {
		return nil
	}
	switch typ {
	case "tEXt", "zTXt":
		rep.add(KindText, 1)
	case "iTXt":
		if bytes.HasPrefix(head, []byte("XML:com.adobe.xmp\x00")) {
			rep.add(KindXMP, 1)
		} else {
			rep.add(KindText, 1)
		}
	case "eXIf":
		rep.add(KindEXIF, 1)
	case "tIME":
		rep.add(KindTime, 1)
	default:
		rep.add(KindAncillary, 1)
	}
	return nil
}
