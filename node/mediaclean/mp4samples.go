package mediaclean

import (
	"encoding/binary"
	"io"
	"slices"
)

// The samples of MP4 tracks other than video and sound (timed metadata
// such as Apple's mebx location per frame or GoPro's GPMF, timecode, text)
// live in mdat, where removing boxes does not reach them: their bytes are
// zeroed in place. The moov is read first (it may follow mdat: a phone
// writes it last), its sample tables give the byte ranges.

const (
	mp4MaxMoov    = 64 << 20 // a moov read whole to find the sample ranges
	mp4MaxSamples = 1 << 22
)

type span struct{ from, to int64 }

// mp4Spans returns the merged byte ranges of the samples of every track
// whose handler is not vide or soun, and how many such tracks there are.
func mp4Spans(ra io.ReaderAt, size int64) ([]span, int, error) {
	var hdr [16]byte
	var moov []byte
	var mdats []span
	fragmented := false
	for off := int64(0); off < size; {
		if size-off < 8 {
			return nil, 0, nil // the walk reports it
		}
		if _, err := ra.ReadAt(hdr[:8], off); err != nil {
			return nil, 0, malformed("truncated at byte %d", off)
		}
		n, hl := int64(binary.BigEndian.Uint32(hdr[:4])), int64(8)
		switch n {
		case 1:
			if _, err := ra.ReadAt(hdr[8:16], off+8); err != nil {
				return nil, 0, malformed("truncated at byte %d", off)
			}
			u := binary.BigEndian.Uint64(hdr[8:16])
			if u > uint64(size-off) {
				return nil, 0, nil
			}
			n, hl = int64(u), 16
		case 0:
			n = size - off
		}
		if n < hl || n > size-off {
			return nil, 0, nil
		}
		switch string(hdr[4:8]) {
		case "moov":
			if moov != nil || n-hl > mp4MaxMoov {
				return nil, 0, malformed("MP4: moov twice or larger than %d bytes", mp4MaxMoov)
			}
			moov = make([]byte, n-hl)
			if _, err := ra.ReadAt(moov, off+hl); err != nil {
				return nil, 0, malformed("truncated moov")
			}
		case "moof":
			fragmented = true
		case "mdat":
			mdats = append(mdats, span{off + hl, off + n})
		}
		off += n
	}
	var spans []span
	tracks := 0
	for _, trak := range children(moov, "trak") {
		mdia := first(trak, "mdia")
		hdlr := first(mdia, "hdlr")
		if len(hdlr) < 12 {
			return nil, 0, malformed("MP4 track without its handler")
		}
		if h := string(hdlr[8:12]); h == "vide" || h == "soun" {
			continue
		}
		tracks++
		if fragmented {
			return nil, 0, malformed("MP4: fragmented movie with a track other than video and sound")
		}
		s, err := trackSpans(first(first(mdia, "minf"), "stbl"))
		if err != nil {
			return nil, 0, err
		}
		spans = append(spans, s...)
	}
	slices.SortFunc(spans, func(a, b span) int { return int(min(max(a.from-b.from, -1), 1)) })
	var merged []span
	for _, s := range spans {
		inside := false
		for _, m := range mdats {
			inside = inside || (s.from >= m.from && s.to <= m.to)
		}
		if !inside || s.to < s.from {
			return nil, 0, malformed("MP4 sample outside mdat")
		}
		if s.to == s.from {
			continue
		}
		if k := len(merged); k > 0 && s.from <= merged[k-1].to {
			merged[k-1].to = max(merged[k-1].to, s.to)
			continue
		}
		merged = append(merged, s)
	}
	return merged, tracks, nil
}

// children returns the payloads of the boxes of type typ directly in b.
func children(b []byte, typ string) [][]byte {
	var out [][]byte
	for len(b) >= 8 {
		n, hl := uint64(binary.BigEndian.Uint32(b)), uint64(8)
		if n == 1 && len(b) >= 16 {
			n, hl = binary.BigEndian.Uint64(b[8:]), 16
		} else if n == 0 {
			n = uint64(len(b))
		}
		if n < hl || n > uint64(len(b)) {
			return out
		}
		if string(b[4:8]) == typ {
			out = append(out, b[hl:n])
		}
		b = b[n:]
	}
	return out
}

func first(b []byte, typ string) []byte {
	if c := children(b, typ); len(c) > 0 {
		return c[0]
	}
	return nil
}

// trackSpans computes the byte ranges of a track's samples from its
// sample table (stsz or stz2, stsc, stco or co64).
func trackSpans(stbl []byte) ([]span, error) {
	bad := malformed("MP4 sample table of a metadata track")
	// Sample sizes.
	var sizes []uint32
	if stsz := first(stbl, "stsz"); stsz != nil {
		if len(stsz) < 12 {
			return nil, bad
		}
		fixed, count := binary.BigEndian.Uint32(stsz[4:]), int64(binary.BigEndian.Uint32(stsz[8:]))
		if count > mp4MaxSamples || (fixed == 0 && int64(len(stsz)-12) < 4*count) {
			return nil, bad
		}
		sizes = make([]uint32, count)
		for i := range sizes {
			if fixed != 0 {
				sizes[i] = fixed
			} else {
				sizes[i] = binary.BigEndian.Uint32(stsz[12+4*i:])
			}
		}
	} else if stz2 := first(stbl, "stz2"); stz2 != nil {
		if len(stz2) < 12 {
			return nil, bad
		}
		field, count := int(stz2[7]), int64(binary.BigEndian.Uint32(stz2[8:]))
		if count > mp4MaxSamples || (field != 4 && field != 8 && field != 16) || int64(len(stz2)-12)*8 < count*int64(field) {
			return nil, bad
		}
		sizes = make([]uint32, count)
		for i := range sizes {
			switch field {
			case 4:
				v := stz2[12+i/2]
				if i%2 == 0 {
					v >>= 4
				}
				sizes[i] = uint32(v & 0x0F)
			case 8:
				sizes[i] = uint32(stz2[12+i])
			case 16:
				sizes[i] = uint32(binary.BigEndian.Uint16(stz2[12+2*i:]))
			}
		}
	} else if len(stbl) > 0 {
		return nil, bad
	}
	// Chunk offsets.
	var offsets []int64
	if stco := first(stbl, "stco"); stco != nil {
		if len(stco) < 8 {
			return nil, bad
		}
		n := int64(binary.BigEndian.Uint32(stco[4:]))
		if n > mp4MaxSamples || int64(len(stco)-8) < 4*n {
			return nil, bad
		}
		for i := range n {
			offsets = append(offsets, int64(binary.BigEndian.Uint32(stco[8+4*i:])))
		}
	} else if co64 := first(stbl, "co64"); co64 != nil {
		if len(co64) < 8 {
			return nil, bad
		}
		n := int64(binary.BigEndian.Uint32(co64[4:]))
		if n > mp4MaxSamples || int64(len(co64)-8) < 8*n {
			return nil, bad
		}
		for i := range n {
			v := binary.BigEndian.Uint64(co64[8+8*i:])
			if v > 1<<62 {
				return nil, bad
			}
			offsets = append(offsets, int64(v))
		}
	}
	if len(sizes) == 0 {
		return nil, nil
	}
	// Samples per chunk: runs of (first_chunk, samples_per_chunk).
	stsc := first(stbl, "stsc")
	if len(stsc) < 8 {
		return nil, bad
	}
	entries := int64(binary.BigEndian.Uint32(stsc[4:]))
	if entries == 0 || int64(len(stsc)-8) < 12*entries {
		return nil, bad
	}
	var spans []span
	sample := 0
	for e := range entries {
		firstChunk := int64(binary.BigEndian.Uint32(stsc[8+12*e:]))
		per := int64(binary.BigEndian.Uint32(stsc[12+12*e:]))
		last := int64(len(offsets)) // chunks of this run: up to the next run's first
		if e+1 < entries {
			last = int64(binary.BigEndian.Uint32(stsc[8+12*(e+1):])) - 1
		}
		if firstChunk < 1 || last > int64(len(offsets)) || per > mp4MaxSamples {
			return nil, bad
		}
		for c := firstChunk; c <= last && sample < len(sizes); c++ {
			at := offsets[c-1]
			from := at
			for k := int64(0); k < per && sample < len(sizes); k++ {
				at += int64(sizes[sample])
				sample++
			}
			spans = append(spans, span{from, at})
		}
	}
	if sample < len(sizes) {
		return nil, bad
	}
	return spans, nil
}
