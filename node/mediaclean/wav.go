package mediaclean

import (
	"encoding/binary"
)

// WAV (RIFF WAVE): fmt, data, fact, cue and padding chunks are kept; LIST
// (INFO: title, artist, comments, dates), bext, iXML, id3, _PMX (XMP) and
// every other chunk become JUNK chunks of the same size with a zeroed
// payload. Bytes after the RIFF chunk are dropped. RF64 is refused.

var wavKeep = map[string]bool{"fmt ": true, "data": true, "fact": true, "cue ": true, "JUNK": true, "junk": true, "PAD ": true}

func cleanWAV(s *stream, rep *Report) error {
	var hdr [12]byte
	if err := s.read(hdr[:]); err != nil {
		return err
	}
	if string(hdr[:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return malformed("not a RIFF WAVE file")
	}
	end := int64(binary.LittleEndian.Uint32(hdr[4:8])) + 8
	if end > s.size || end < 12 {
		return malformed("RIFF size %d past the end", end-8)
	}
	if err := s.write(hdr[:]); err != nil {
		return err
	}
	fmtSeen, data := false, false
	for s.pos < end {
		if end-s.pos < 8 {
			return malformed("RIFF: stray bytes at byte %d", s.pos)
		}
		if err := s.read(hdr[:8]); err != nil {
			return err
		}
		n := int64(binary.LittleEndian.Uint32(hdr[4:8]))
		padded := n + n&1
		if padded == end-s.pos+1 {
			padded = n // an odd last chunk without its pad byte
		}
		if padded > end-s.pos {
			return malformed("RIFF chunk size %d past its parent at byte %d", n, s.pos-8)
		}
		id := string(hdr[:4])
		switch id {
		case "fmt ":
			fmtSeen = true
		case "data":
			data = true
		}
		if wavKeep[id] {
			if err := s.write(hdr[:8]); err != nil {
				return err
			}
			if err := s.copyN(padded); err != nil {
				return err
			}
			continue
		}
		rep.add(KindRIFFInfo, 1)
		copy(hdr[:4], "JUNK")
		if err := s.write(hdr[:8]); err != nil {
			return err
		}
		if err := s.zeroN(padded); err != nil {
			return err
		}
	}
	if !fmtSeen || !data {
		return malformed("WAV without fmt and data chunks")
	}
	if s.left() > 0 {
		rep.add(KindTrailer, 1)
	}
	return nil
}
