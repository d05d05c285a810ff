package cleantest

import "encoding/binary"

// el is an EBML element with a known size (an 8-byte size field, as
// libwebm writes them).
func el(id uint32, payload ...[]byte) []byte {
	var b []byte
	for shift := 24; shift >= 0; shift -= 8 {
		if v := byte(id >> shift); v != 0 || len(b) > 0 {
			b = append(b, v)
		}
	}
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	sz := binary.BigEndian.AppendUint64(nil, uint64(n))
	sz[0] = 0x01
	b = append(b, sz...)
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}

// unknownSize is the header of an element of unknown size.
func unknownSize(id uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, id)
	return append(b, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
}

// WebM is a WebM as a browser's MediaRecorder writes it (a Segment and
// Clusters of unknown size), with canaries in Info (Title, MuxingApp,
// WritingApp, DateUTC), a track Name, Tags, Attachments and Chapters.
func WebM() []byte {
	b := el(0x1A45DFA3, el(0x4282, []byte("webm")), el(0x4287, []byte{4}))
	b = append(b, unknownSize(0x18538067)...)
	b = append(b, el(0x1549A966, el(0x2AD7B1, []byte{0x0F, 0x42, 0x40}), el(0x7BA9, []byte(Canaries[2])),
		el(0x4D80, []byte(Canaries[3])), el(0x5741, []byte(Canaries[9])), el(0x4461, CreationTime, CreationTime))...)
	b = append(b, el(0x1654AE6B, el(0xAE, el(0xD7, []byte{1}), el(0x536E, []byte(Canaries[0])), el(0x86, []byte("V_VP8"))))...)
	tags := el(0x1254C367, el(0x7373, el(0x67C8, el(0x45A3, []byte("LOCATION")), el(0x4487, []byte(Canaries[1])))))
	b = append(b, tags...)
	att := el(0x1941A469, el(0x61A7, el(0x466E, []byte("note.txt")), el(0x465C, []byte(Canaries[7]))))
	b = append(b, att...)
	chap := el(0x1043A770, el(0x45B9, el(0xB6, el(0x80, el(0x85, []byte(Canaries[4]))))))
	b = append(b, chap...)
	for c := range 2 {
		b = append(b, unknownSize(0x1F43B675)...)
		b = append(b, el(0xE7, []byte{byte(c)})...)
		for i := range 5 {
			frame := make([]byte, 200)
			for j := range frame {
				frame[j] = byte(i*17 + j + c)
			}
			b = append(b, el(0xA3, append([]byte{0x81, 0, byte(i), 0x80}, frame...))...)
		}
	}
	return b
}
