package cleantest

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
)

// Box is an MP4 box: its type and either children or a payload.
func Box(typ string, payload ...[]byte) []byte {
	body := bytes.Join(payload, nil)
	b := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint32(b, uint32(8+len(body)))
	copy(b[4:], typ)
	return append(b, body...)
}

// LargeBox is a box with a 64-bit size.
func LargeBox(typ string, payload []byte) []byte {
	b := make([]byte, 16, 16+len(payload))
	binary.BigEndian.PutUint32(b, 1)
	copy(b[4:], typ)
	binary.BigEndian.PutUint64(b[8:], uint64(16+len(payload)))
	return append(b, payload...)
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// qtText is a QuickTime user-data text item: length, language, text.
func qtText(s string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(s)))
	b = append(b, 0x15, 0xC7) // language
	return append(b, s...)
}

// dataAtom is an ilst value: type 1 UTF-8, 2 UTF-16BE.
func dataAtom(kind uint32, v []byte) []byte {
	return Box("data", u32(kind), u32(0), v)
}

// MP4Parts are what MP4 is built from: the sample bytes and the file.
type MP4Parts struct {
	File []byte
	// MdatOffset and Mdat: where the samples are and what they are.
	MdatOffset int
	Mdat       []byte
}

func fullBox(typ string, version byte, body ...[]byte) []byte {
	return Box(typ, append([][]byte{{version, 0, 0, 0}}, body...)...)
}

// udta with every QuickTime and 3GPP place a phone writes.
func userData() []byte {
	return Box("udta",
		Box("\xa9xyz", qtText(Canaries[0])),
		Box("\xa9nam", qtText(Canaries[2])),
		Box("\xa9cmt", qtText(Canaries[7])),
		Box("\xa9day", qtText(Canaries[4])),
		Box("\xa9mak", qtText(Canaries[3])),
		Box("\xa9mod", qtText(Canaries[9])),
		Box("loci", []byte{0, 0, 0, 0, 0x15, 0xC7}, []byte(Canaries[1]+"\x00")),
		Box("XMP_", []byte(xmpPacket())),
	)
}

// appleMeta is moov/meta with mdta keys and their values (one UTF-16).
func appleMeta() []byte {
	keys := []string{"com.apple.quicktime.location.ISO6709", "com.apple.quicktime.make",
		"com.apple.quicktime.model", "com.apple.quicktime.creationdate"}
	vals := [][]byte{dataAtom(1, []byte(Canaries[0])), dataAtom(2, UTF16BE(Canaries[3])),
		dataAtom(1, []byte(Canaries[9])), dataAtom(1, []byte(Canaries[4]))}
	var kb, ib [][]byte
	for i, k := range keys {
		kb = append(kb, Box("mdta", []byte(k)))
		ib = append(ib, Box(string(u32(uint32(i+1))), vals[i]))
	}
	return fullBox("meta", 0,
		fullBox("hdlr", 0, u32(0), []byte("mdta"), make([]byte, 12), []byte{0}),
		fullBox("keys", 0, append([][]byte{u32(uint32(len(keys)))}, kb...)...),
		Box("ilst", ib...),
	)
}

// xmpUUID is the uuid box Adobe writes XMP into.
var xmpUUID = []byte{0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8, 0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC}

// MP4 is a small MP4 with canaries in the samples of a timed metadata
// track (after the video samples in mdat), in moov/udta (©xyz, ©nam, ©cmt, ©day,
// ©mak, ©mod, loci, XMP_), moov/meta (Apple keys), trak/udta, a © box
// directly in moov, uuid XMP boxes (top level and in trak), hdlr names and
// the creation times of mvhd, tkhd and mdhd; its samples are samples bytes
// in a 64-bit mdat after the moov, referenced by stco.
func MP4(samples []byte) MP4Parts {
	metaSamples := [][]byte{
		dataAtom(1, []byte(Canaries[0])), // two samples in the first chunk
		dataAtom(1, []byte(Canaries[1])),
		append(dataAtom(1, []byte(Canaries[4])), GPSRational...), // and one in the second
	}
	build := func(mdatOff uint32) []byte {
		mvhd := fullBox("mvhd", 0, CreationTime, CreationTime, u32(1000), u32(1000), make([]byte, 80))
		tkhd := fullBox("tkhd", 1, CreationTime, CreationTime, CreationTime, CreationTime, make([]byte, 72))
		mdhd := fullBox("mdhd", 0, CreationTime, CreationTime, u32(1000), u32(1000), make([]byte, 4))
		hdlr := fullBox("hdlr", 0, u32(0), []byte("vide"), make([]byte, 12), []byte(Canaries[9]+"\x00"))
		stbl := Box("stbl",
			fullBox("stsd", 0, u32(0)),
			fullBox("stts", 0, u32(1), u32(1), u32(1000)),
			fullBox("stsc", 0, u32(1), u32(1), u32(1), u32(1)),
			fullBox("stsz", 0, u32(uint32(len(samples))), u32(1)),
			fullBox("stco", 0, u32(1), u32(mdatOff)),
		)
		minf := Box("minf", fullBox("vmhd", 0, make([]byte, 8)),
			Box("dinf", fullBox("dref", 0, u32(1), fullBox("url ", 0))), stbl)
		trak := Box("trak", tkhd, Box("mdia", mdhd, hdlr, minf),
			Box("udta", Box("\xa9nam", qtText(Canaries[2])), Box("XMP_", []byte(xmpPacket()))),
			Box("uuid", xmpUUID, []byte(xmpPacket())))
		// A timed metadata track (an iPhone's mebx): a location per frame,
		// its samples in mdat after the video's.
		metaTrak := Box("trak", fullBox("tkhd", 0, make([]byte, 80)), Box("mdia", fullBox("mdhd", 0, make([]byte, 20)),
			fullBox("hdlr", 0, u32(0), []byte("meta"), make([]byte, 12), []byte{0}),
			Box("minf", fullBox("nmhd", 0), Box("stbl",
				fullBox("stsd", 0, u32(1), Box("mebx", make([]byte, 8), Box("keys", Box("\x00\x00\x00\x01", Box("keyd", []byte("mdtacom.apple.quicktime.location.ISO6709")))))),
				fullBox("stts", 0, u32(1), u32(uint32(len(metaSamples))), u32(1000)),
				fullBox("stsc", 0, u32(1), u32(1), u32(2), u32(1)),
				fullBox("stsz", 0, u32(0), u32(uint32(len(metaSamples))), u32(uint32(len(metaSamples[0]))), u32(uint32(len(metaSamples[1]))), u32(uint32(len(metaSamples[2])))),
				fullBox("stco", 0, u32(2), u32(mdatOff+uint32(len(samples))), u32(mdatOff+uint32(len(samples)+len(metaSamples[0])+len(metaSamples[1])))),
			))))
		moov := Box("moov", mvhd, trak, metaTrak, userData(), appleMeta(), Box("\xa9cmt", qtText(Canaries[7])))
		var b bytes.Buffer
		b.Write(Box("ftyp", []byte("isom"), u32(0x200), []byte("isomiso2mp41")))
		b.Write(moov)
		b.Write(Box("uuid", xmpUUID, []byte(xmpPacket())))
		b.Write(Box("free", make([]byte, 8)))
		return b.Bytes()
	}
	head := build(0)
	off := len(head) + 16
	head = build(uint32(off))
	file := append(head, LargeBox("mdat", append(append([]byte(nil), samples...), bytes.Join(metaSamples, nil)...))...)
	return MP4Parts{File: file, MdatOffset: off, Mdat: samples}
}

// MP4Sized is a plain MP4 (no metadata) of exactly size bytes whose mdat
// holds pseudo-random bytes from seed: what tests that move recordings
// around send (size at least 1 KiB).
func MP4Sized(size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))
	build := func(n, off int) []byte {
		stbl := Box("stbl", fullBox("stsd", 0, u32(0)), fullBox("stts", 0, u32(1), u32(1), u32(1000)),
			fullBox("stsc", 0, u32(1), u32(1), u32(1), u32(1)), fullBox("stsz", 0, u32(uint32(n)), u32(1)),
			fullBox("stco", 0, u32(1), u32(uint32(off))))
		moov := Box("moov", fullBox("mvhd", 0, make([]byte, 96)),
			Box("trak", fullBox("tkhd", 0, make([]byte, 80)), Box("mdia", fullBox("mdhd", 0, make([]byte, 20)),
				fullBox("hdlr", 0, u32(0), []byte("vide"), make([]byte, 13)), Box("minf", stbl))))
		return append(Box("ftyp", []byte("isom"), u32(0x200), []byte("isom")), moov...)
	}
	head := build(0, 0)
	n := size - len(head) - 16
	if n < 0 {
		panic("cleantest: MP4Sized too small")
	}
	head = build(n, len(head)+16)
	samples := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			samples[i+j] = byte(v >> (8 * j))
		}
	}
	return append(head, LargeBox("mdat", samples)...)
}
