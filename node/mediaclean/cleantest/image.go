package cleantest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
)

func picture(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 11), uint8(x ^ y), 255})
		}
	}
	return img
}

func segment(m byte, p []byte) []byte {
	b := []byte{0xFF, m, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(len(p)+2))
	return append(b, p...)
}

// exifPayload is an Exif APP1 payload: a TIFF structure with GPS
// rationals, the device serial and make, a date, a UTF-16 XPComment.
func exifPayload() []byte {
	var b bytes.Buffer
	b.WriteString("Exif\x00\x00II*\x00\x08\x00\x00\x00")
	// Not a full IFD walk: the cleaner drops the segment whole, so only the
	// bytes matter. They are laid out as a camera would: ASCII values, the
	// GPS rationals, a UTF-16LE XP comment.
	b.Write(GPSRational)
	b.WriteString(Canaries[0] + "\x00" + Canaries[3] + "\x00" + Canaries[4] + "\x00")
	b.Write(UTF16LE(Canaries[7]))
	b.Write(UTF16LE(Canaries[2]))
	return b.Bytes()
}

func xmpPacket() string {
	return `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF ` +
		`xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description exif:GPSLatitude="` + Canaries[0] +
		`" photoshop:City="` + Canaries[5] + `" dc:creator="` + Canaries[2] + `" xmp:CreateDate="` + Canaries[4] +
		`"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>`
}

// JPEG is a 32×24 baseline JPEG with canaries in APP1 Exif, APP1 XMP (and
// extended XMP), APP13 IPTC, COM before and after the frame, APP2 MPF,
// vendor APPn segments, and a trailer after EOI; it keeps a JFIF APP0 and
// an ICC APP2 without canaries.
func JPEG() []byte {
	var enc bytes.Buffer
	if err := jpeg.Encode(&enc, picture(32, 24), &jpeg.Options{Quality: 80}); err != nil {
		panic(err)
	}
	raw := enc.Bytes()
	var b bytes.Buffer
	b.Write(raw[:2]) // SOI
	b.Write(segment(0xE0, []byte("JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x00\x00")))
	b.Write(segment(0xE1, exifPayload()))
	b.Write(segment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00"+xmpPacket())))
	b.Write(segment(0xE1, []byte("http://ns.adobe.com/xmp/extension/\x00"+"0123456789ABCDEF0123456789ABCDEF"+Canaries[1])))
	b.Write(segment(0xE2, []byte("ICC_PROFILE\x00\x01\x01"+"icc-profile-bytes-without-personal-data")))
	b.Write(segment(0xE2, append([]byte("MPF\x00II*\x00"), []byte(Canaries[3])...)))
	iptc := []byte("Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x40\x1c\x02\x5c\x00\x1b" + Canaries[6] + "\x1c\x02\x50" + Canaries[2])
	b.Write(segment(0xED, iptc))
	b.Write(segment(0xEB, []byte("vendor "+Canaries[9])))
	b.Write(segment(0xFE, []byte(Canaries[7])))
	// The rest of the encoder's output, with a COM between the tables and
	// the scan.
	rest := raw[2:]
	sos := bytes.Index(rest, []byte{0xFF, 0xDA})
	b.Write(rest[:sos])
	b.Write(segment(0xFE, []byte(Canaries[1])))
	b.Write(rest[sos:])
	b.WriteString("SEFT" + Canaries[8] + Canaries[0]) // vendor trailer after EOI
	return b.Bytes()
}

func chunk(typ string, data []byte) []byte {
	b := make([]byte, 8, 12+len(data))
	binary.BigEndian.PutUint32(b, uint32(len(data)))
	copy(b[4:], typ)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// PNG is a 32×24 PNG with canaries in tEXt, zTXt, iTXt (text and XMP),
// eXIf, tIME, a private ancillary chunk and a trailer after IEND.
func PNG() []byte {
	var enc bytes.Buffer
	if err := png.Encode(&enc, picture(32, 24)); err != nil {
		panic(err)
	}
	raw := enc.Bytes()
	ihdrEnd := 8 + 8 + 13 + 4
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte(Canaries[2]))
	zw.Close()
	var b bytes.Buffer
	b.Write(raw[:ihdrEnd])
	b.Write(chunk("tEXt", []byte("Location\x00"+Canaries[0])))
	b.Write(chunk("tEXt", []byte("Comment\x00"+Canaries[7]+" "+Canaries[1])))
	b.Write(chunk("zTXt", append([]byte("Author\x00\x00"), z.Bytes()...)))
	b.Write(chunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00"+xmpPacket())))
	b.Write(chunk("iTXt", append([]byte("Description\x00\x00\x00en\x00\x00"), []byte(Canaries[6])...)))
	b.Write(chunk("eXIf", exifPayload()[6:]))
	b.Write(chunk("tIME", []byte{0x07, 0xEA, 11, 30, 8, 15, 42}))
	b.Write(chunk("prVt", []byte(Canaries[3])))
	b.Write(chunk("gAMA", []byte{0, 1, 0x86, 0xA0}))
	b.Write(raw[ihdrEnd:])
	b.WriteString(Canaries[8])
	return b.Bytes()
}
