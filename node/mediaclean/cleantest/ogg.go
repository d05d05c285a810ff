package cleantest

import (
	"bytes"
	"encoding/binary"
)

// OggCRC is the Ogg page checksum, written here bit by bit, apart from the
// cleaner's table-driven one.
func OggCRC(page []byte) uint32 {
	var crc uint32
	for i, b := range page {
		if i >= 22 && i < 26 {
			b = 0
		}
		crc ^= uint32(b) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// OggPacket is a packet and whether the page it ends on is flushed (the
// next packet starts a new page).
type OggPacket struct {
	Data  []byte
	Flush bool
}

// Ogg paginates the packets of one logical stream: pages of at most
// maxSegs lacing values, the first BOS, the last EOS.
func Ogg(serial uint32, maxSegs int, packets []OggPacket) []byte {
	var out bytes.Buffer
	var seq uint32
	var lacing []byte
	var data []byte
	cont := false
	first := true
	flush := func(last bool) {
		h := make([]byte, 27)
		copy(h, "OggS")
		var t byte
		if cont {
			t |= 1
		}
		if first {
			t |= 2
		}
		if last {
			t |= 4
		}
		h[5] = t
		binary.LittleEndian.PutUint64(h[6:], uint64(seq)*960)
		binary.LittleEndian.PutUint32(h[14:], serial)
		binary.LittleEndian.PutUint32(h[18:], seq)
		h[26] = byte(len(lacing))
		page := append(append(h, lacing...), data...)
		binary.LittleEndian.PutUint32(page[22:], OggCRC(page))
		out.Write(page)
		seq++
		first = false
		lacing, data = nil, nil
	}
	for pi, p := range packets {
		rest := p.Data
		for {
			n := min(len(rest), 255)
			lacing = append(lacing, byte(n))
			data = append(data, rest[:n]...)
			rest = rest[n:]
			done := n < 255
			if len(lacing) == maxSegs {
				last := done && pi == len(packets)-1
				flush(last)
				cont = !done
				if last {
					return out.Bytes()
				}
			}
			if done {
				break
			}
		}
		if p.Flush && len(lacing) > 0 {
			flush(pi == len(packets)-1)
			cont = false
		}
	}
	if len(lacing) > 0 {
		flush(true)
	}
	return out.Bytes()
}

func commentPacket(magic []byte, vendor string, tags []string, framing bool) []byte {
	b := append([]byte(nil), magic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vendor)))
	b = append(b, vendor...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(tags)))
	for _, t := range tags {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(t)))
		b = append(b, t...)
	}
	if framing {
		b = append(b, 1)
	}
	return b
}

func oggTags() []string {
	return []string{"TITLE=" + Canaries[2], "ARTIST=" + Canaries[2], "LOCATION=" + Canaries[0],
		"COMMENT=" + Canaries[7], "DATE=" + Canaries[4], "ENCODER=" + Canaries[3],
		"DESCRIPTION=" + Canaries[1] + string(bytes.Repeat([]byte{'.'}, 600))}
}

func audioPackets(n int, seed byte) []OggPacket {
	var ps []OggPacket
	for i := range n {
		p := make([]byte, 40+i%30)
		for j := range p {
			p[j] = byte(j*31+i*7) ^ seed
		}
		ps = append(ps, OggPacket{Data: p, Flush: i%5 == 4})
	}
	return ps
}

// Opus is an Ogg Opus stream whose OpusTags (vendor and TITLE, ARTIST,
// LOCATION, COMMENT, DATE, ENCODER, DESCRIPTION) spans pages; maxSegs
// sets the page size.
func Opus(maxSegs int) []byte {
	head := append([]byte("OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00"), 0, 0, 0)
	tags := commentPacket([]byte("OpusTags"), Canaries[10], oggTags(), false)
	ps := append([]OggPacket{{Data: head, Flush: true}, {Data: tags, Flush: true}}, audioPackets(20, 0x5A)...)
	return Ogg(0x0F1A0001, maxSegs, ps)
}

// Vorbis is an Ogg Vorbis stream whose comment header shares its pages
// with the setup header, as libvorbis writes them.
func Vorbis(maxSegs int) []byte {
	id := append([]byte("\x01vorbis"), make([]byte, 23)...)
	id[7+22] = 1 // framing
	comment := commentPacket([]byte("\x03vorbis"), Canaries[10], oggTags(), true)
	setup := append([]byte("\x05vorbis"), bytes.Repeat([]byte{0x42}, 300)...)
	ps := append([]OggPacket{{Data: id, Flush: true}, {Data: comment}, {Data: setup, Flush: true}}, audioPackets(20, 0xA5)...)
	return Ogg(0x0F1A0002, maxSegs, ps)
}

// WAV is a RIFF WAVE with canaries in LIST INFO (INAM, IART, ICMT, ICRD),
// bext, iXML, id3 and a trailer.
func WAV() []byte {
	sub := func(id, s string) []byte {
		b := []byte(id)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
		if len(s)%2 == 1 {
			b = append(b, 0)
		}
		return b
	}
	info := append([]byte("INFO"), sub("INAM", Canaries[2])...)
	info = append(info, sub("IART", Canaries[1])...)
	info = append(info, sub("ICMT", Canaries[7])...)
	info = append(info, sub("ICRD", Canaries[4])...)
	fmtc := []byte{1, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x80, 0x3e, 0, 0, 2, 0, 16, 0}
	pcm := make([]byte, 1600)
	for i := range pcm {
		pcm[i] = byte(i * 13)
	}
	body := []byte("WAVE")
	body = append(body, sub("fmt ", string(fmtc))...)
	body = append(body, sub("LIST", string(info))...)
	body = append(body, sub("bext", Canaries[0]+Canaries[3])...)
	body = append(body, sub("data", string(pcm))...)
	body = append(body, sub("iXML", "<BWFXML>"+Canaries[9]+"</BWFXML>")...)
	body = append(body, sub("id3 ", "ID3\x03"+string(UTF16LE(Canaries[5])))...)
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(len(body)))
	out = append(out, body...)
	return append(out, Canaries[8]...)
}
