package cleantest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"unicode/utf16"
)

// Canaries: what a DPO's corpus plants in metadata. None may survive
// cleaning.
var Canaries = []string{
	"CANARY-GPS+12.3456-045.6789",      // a withheld place's coordinates (ISO 6709)
	"CANARY-ADDR 7 Rue Temoin XB",      // the family's address
	"CANARY-NAME Detainee Zebulon",     // a detainee's name
	"CANARY-SERIAL SN-99887766",        // a device serial
	"CANARY-DATE 2026:11:30 08:15:42",  // capture date and time
	"CANARY-XMP photoshop:City XB",     // XMP
	"CANARY-IPTC Sub-location XC",      // IPTC
	"CANARY-COMMENT family news",       // comments
	"CANARY-TRAILER appended picture",  // bytes after the end
	"CANARY-HANDLER phone model X100",  // MP4 handler names
	"CANARY-VENDOR recorder app 9.9.9", // Ogg vendor strings
}

// Binary canaries: values a format stores as numbers (EXIF GPS rationals,
// MP4 creation times).
var (
	GPSRational  = []byte{0x13, 0x57, 0x9B, 0xDF, 0x24, 0x68, 0xAC, 0xE0}
	CreationTime = []byte{0xC0, 0xFF, 0xEE, 0x42}
)

func utf16Bytes(s string, little bool) []byte {
	var b bytes.Buffer
	for _, u := range utf16.Encode([]rune(s)) {
		if little {
			b.WriteByte(byte(u))
			b.WriteByte(byte(u >> 8))
		} else {
			b.WriteByte(byte(u >> 8))
			b.WriteByte(byte(u))
		}
	}
	return b.Bytes()
}

// UTF16LE is s as UTF-16 little-endian (EXIF XP* tags, ID3 text).
func UTF16LE(s string) []byte { return utf16Bytes(s, true) }

// UTF16BE is s as UTF-16 big-endian (QuickTime UTF-16 values).
func UTF16BE(s string) []byte { return utf16Bytes(s, false) }

// Forms are the byte strings under which a canary may appear: as is,
// UTF-16 both ways, hexadecimal both cases.
func Forms(c string) [][]byte {
	h := hex.EncodeToString([]byte(c))
	return [][]byte{[]byte(c), UTF16LE(c), UTF16BE(c), []byte(h), bytes.ToUpper([]byte(h))}
}

// Found lists the canaries (in any form) and binary canaries found in b;
// empty when b is clean.
func Found(b []byte) []string {
	var out []string
	for _, c := range Canaries {
		for i, f := range Forms(c) {
			if bytes.Contains(b, f) {
				out = append(out, fmt.Sprintf("%q (form %d)", c, i))
			}
		}
	}
	// Check distinctive fragments too: a cleaner that cut a canary in two
	// would leave them.
	for _, c := range Canaries {
		if len(c) > 16 && bytes.Contains(b, []byte(c[7:15])) {
			out = append(out, fmt.Sprintf("fragment %q", c[7:15]))
		}
	}
	for name, bc := range map[string][]byte{"GPS rational": GPSRational, "creation time": CreationTime} {
		if bytes.Contains(b, bc) {
			out = append(out, name)
		}
	}
	return out
}

// Planted is Found on a fixture: it fails the caller's premise when a
// canary is missing from the original. It returns the number of canary
// forms present.
func Planted(b []byte) int { return len(Found(b)) }
