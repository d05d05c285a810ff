package mediaclean

import (
	"encoding/binary"
)

// MP4 and QuickTime (ISO BMFF): the box tree is walked without moving a
// byte, so no chunk offset (stco, co64, tfhd, saio) changes. udta, meta,
// uuid, XMP_, © boxes and boxes of unknown types are overwritten by free
// boxes of the same size with a zeroed payload; the creation and
// modification times of mvhd, tkhd and mdhd are zeroed, and so are handler
// names. mdat and the sample tables are copied, but for the samples of
// tracks other than video and sound, which are zeroed (mp4samples.go). A box whose size does not
// fit its parent is refused, and so is a compressed movie header (cmov),
// which cannot be inspected.

// mp4Containers are walked into.
var mp4Containers = map[string]bool{
	"moov": true, "trak": true, "mdia": true, "minf": true, "dinf": true, "stbl": true,
	"edts": true, "mvex": true, "moof": true, "traf": true, "mfra": true,
}

// mp4Leaves are copied as they are.
var mp4Leaves = map[string]bool{
	"ftyp": true, "mdat": true, "free": true, "skip": true, "wide": true, "pdin": true, "styp": true,
	"sidx": true, "ssix": true, "prft": true, "iods": true, "tref": true, "elst": true,
	"vmhd": true, "smhd": true, "hmhd": true, "nmhd": true, "gmhd": true, "dref": true,
	"stsd": true, "stts": true, "ctts": true, "cslg": true, "stss": true, "stps": true, "stsh": true,
	"sdtp": true, "stsc": true, "stsz": true, "stz2": true, "stco": true, "co64": true, "sgpd": true,
	"sbgp": true, "subs": true, "saiz": true, "saio": true, "padb": true, "mehd": true, "trex": true,
	"leva": true, "trep": true, "mfhd": true, "tfhd": true, "tfdt": true, "trun": true, "senc": true,
	"tfra": true, "mfro": true, "elng": true, "load": true, "tapt": true, "txas": true, "clip": true,
	"matt": true, "kmat": true, "imap": true,
}

// mp4Patched are small leaves rewritten in place.
var mp4Patched = map[string]bool{"mvhd": true, "tkhd": true, "mdhd": true, "hdlr": true}

const (
	mp4MaxDepth   = 12
	mp4MaxPatched = 64 << 10
)

func cleanMP4(s *stream, rep *Report) error {
	spans, tracks, err := mp4Spans(s.ra, s.size)
	if err != nil {
		return err
	}
	rep.add(KindTrackSamples, tracks)
	s.zero = spans
	moov := false
	if err := mp4Walk(s, rep, s.size, 0, &moov); err != nil {
		return err
	}
	if !moov {
		return malformed("MP4 without a moov box")
	}
	return nil
}

// mp4Walk copies the boxes from s.pos to end.
func mp4Walk(s *stream, rep *Report, end int64, depth int, moov *bool) error {
	if depth > mp4MaxDepth {
		return malformed("MP4 boxes nested too deep")
	}
	var hdr [16]byte
	for s.pos < end {
		start := s.pos
		if end-start < 8 {
			return malformed("MP4: %d stray bytes at byte %d", end-start, start)
		}
		if err := s.read(hdr[:8]); err != nil {
			return err
		}
		size := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := string(hdr[4:8])
		hl := int64(8)
		switch size {
		case 1:
			if err := s.read(hdr[8:16]); err != nil {
				return err
			}
			u := binary.BigEndian.Uint64(hdr[8:16])
			if u > uint64(end-start) {
				return malformed("MP4 box %q: size %d past its parent at byte %d", printable(typ), u, start)
			}
			size, hl = int64(u), 16
		case 0:
			if depth > 0 {
				return malformed("MP4 box %q: size 0 inside a box at byte %d", printable(typ), start)
			}
			size = end - start
		}
		if size < hl || size > end-start {
			return malformed("MP4 box %q: impossible size %d at byte %d", printable(typ), size, start)
		}
		body := size - hl
		if typ == "uuid" && body < 16 {
			return malformed("MP4 uuid box shorter than its uuid at byte %d", start)
		}
		switch {
		case typ == "cmov":
			return malformed("MP4: compressed movie header")
		case mp4Containers[typ]:
			if typ == "moov" {
				if depth != 0 || *moov {
					return malformed("MP4: moov misplaced or twice")
				}
				*moov = true
			}
			if err := s.write(hdr[:hl]); err != nil {
				return err
			}
			if err := mp4Walk(s, rep, start+size, depth+1, moov); err != nil {
				return err
			}
		case mp4Patched[typ] && !(depth == 0):
			if body > mp4MaxPatched {
				return malformed("MP4 box %q too large at byte %d", typ, start)
			}
			p := make([]byte, body)
			if err := s.read(p); err != nil {
				return err
			}
			mp4Patch(typ, p, rep)
			if err := s.write(hdr[:hl]); err != nil {
				return err
			}
			if err := s.write(p); err != nil {
				return err
			}
		case typ == "mdat" && depth == 0:
			if err := s.write(hdr[:hl]); err != nil {
				return err
			}
			if err := s.copyZeroing(body); err != nil {
				return err
			}
		case mp4Leaves[typ] && typ != "mdat":
			if err := s.write(hdr[:hl]); err != nil {
				return err
			}
			if err := s.copyN(body); err != nil {
				return err
			}
		default:
			rep.add(mp4Kind(typ), 1)
			copy(hdr[4:8], "free")
			if err := s.write(hdr[:hl]); err != nil {
				return err
			}
			if err := s.zeroN(body); err != nil {
				return err
			}
		}
	}
	return nil
}

func mp4Kind(typ string) string {
	switch {
	case typ == "udta":
		return KindUserData
	case typ == "meta":
		return KindMeta
	case typ == "uuid":
		return KindUUID
	case typ == "XMP_":
		return KindXMP
	case typ[0] == 0xA9:
		return KindQuickTime
	}
	return KindUnknownBox
}

// mp4Patch zeroes the times of mvhd, tkhd and mdhd and the name of hdlr.
func mp4Patch(typ string, p []byte, rep *Report) {
	if typ == "hdlr" {
		// version/flags, pre_defined, handler_type, reserved[3]: the name follows.
		if len(p) > 24 {
			changed := false
			for i := 24; i < len(p); i++ {
				if p[i] != 0 {
					p[i], changed = 0, true
				}
			}
			if changed {
				rep.add(KindHandler, 1)
			}
		}
		return
	}
	if len(p) < 4 {
		return
	}
	n := 8 // two 32-bit times
	if p[0] == 1 {
		n = 16 // two 64-bit times
	}
	if len(p) < 4+n {
		return
	}
	changed := false
	for i := 4; i < 4+n; i++ {
		if p[i] != 0 {
			p[i], changed = 0, true
		}
	}
	if changed {
		rep.add(KindTimestamp, 1)
	}
}

// printable keeps box types in errors free of control bytes.
func printable(typ string) string {
	b := []byte(typ)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// copyZeroing copies n bytes, writing zeros over the bytes of s.zero.
func (s *stream) copyZeroing(n int64) error {
	end := s.pos + n
	for s.pos < end {
		for len(s.zero) > 0 && s.zero[0].to <= s.pos {
			s.zero = s.zero[1:]
		}
		if len(s.zero) == 0 || s.zero[0].from >= end {
			return s.copyN(end - s.pos)
		}
		z := s.zero[0]
		if z.from > s.pos {
			if err := s.copyN(z.from - s.pos); err != nil {
				return err
			}
		}
		if err := s.zeroN(min(z.to, end) - s.pos); err != nil {
			return err
		}
	}
	return nil
}
