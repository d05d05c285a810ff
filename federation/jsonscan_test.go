package federation

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
)

// scanJSONOracle is what scanJSON must say, from encoding/json alone.
func scanJSONOracle(data []byte) (valid, marshaled bool) {
	if !json.Valid(data) {
		return false, false
	}
	out, err := json.Marshal(json.RawMessage(data))
	return true, err == nil && bytes.Equal(out, data)
}

var scanJSONSeeds = []string{
	``, ` `, `{}`, `[]`, `{ }`, `[ ]`, `""`, `"a"`, `0`, `-0`, `01`, `-`, `1.`, `1.5`, `1e`, `1e+`, `1E-5`, `-0.0e0`,
	`true`, `false`, `null`, `tru`, `nul`, `truex`, `nullnull`, `{"a":1}`, `{"a" : 1}`, `{"a":1,}`, `[1,]`, `[,1]`,
	`{"a"}`, `{"a":}`, `{1:2}`, `{"a":1 "b":2}`, `[1 2]`, `"\u00e9"`, `"\u00g9"`, `"\x"`, `"\/"`, "\"\x01\"",
	"\"\xff\"", `"<>&"`, "\"\u2028\"", "\"\u2029\"", "\"\xe2\x80\xaa\"", `{"a":[1,{"b":"c"}],"d":null}`, ` {"a":1} `,
	`{"a":1}}`, `[[]]]`, `[{]}`, `{"a":[}`, `"abc`, `"\`, `"\u12`, strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001), strings.Repeat(`{"a":`, 3) + `1` + strings.Repeat(`}`, 3),
	"{\"body\":{\"persons\":[{\"names\":[\"Мира\",\"Ковал\"]}],\"n\":12.5e3}}", "\t[\n1\r]",
	// Long strings, read eight bytes at a time, with each byte that stops
	// that at several offsets.
	`"abcdefghijklmnopqrstuvwxyz"`, `"abcdefghijklmno\"pqrstuvwxyz"`, `"abcdefgh<ijklmnop"`, `"abcdefg>hijklmnop"`,
	`"abcdefghi&jklmnop"`, `"abcdefghij\\klmnop"`, "\"abcdefghijk\x1fmnopq\"", "\"abcdefghijkl\u2028mnopq\"",
	"\"abcdefghijklmnop\xe2\x80\xa9\"", "\"abcdefghМираabcdefgh\"", `"abcdefgh\u00e9abcdefgh\/abcdefgh"`, `"abcdefghabcdefg`,
	"\"abcdefgh\x7fabcdefgh\"", `{"abcdefghijkl":"abcdefghijklmnopqrstu","b":["abcdefghijklmnop"]}`,
}

// TestPlainASCII8 checks the word test against the byte table for every
// byte value at every position of an otherwise plain word.
func TestPlainASCII8(t *testing.T) {
	for pos := range 8 {
		for c := range 256 {
			w := []byte("abcdefgh")
			w[pos] = byte(c)
			want := c < 0x80 && strPlain[c]
			if got := plainASCII8(binary.LittleEndian.Uint64(w)); got != want {
				t.Fatalf("plainASCII8(%q) = %t, want %t", w, got, want)
			}
		}
	}
}

// TestScanJSON: scanJSON agrees with json.Valid, and with json.Marshal on
// which documents it would leave as they are.
func TestScanJSON(t *testing.T) {
	for _, s := range scanJSONSeeds {
		v, m := scanJSON([]byte(s))
		wv, wm := scanJSONOracle([]byte(s))
		if v != wv || m != wm {
			name := s
			if len(name) > 40 {
				name = name[:40] + "..."
			}
			t.Errorf("scanJSON(%q) = %t, %t; encoding/json says %t, %t", name, v, m, wv, wm)
		}
	}
}

func FuzzScanJSON(f *testing.F) {
	for _, s := range scanJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, m := scanJSON(data)
		if wv, wm := scanJSONOracle(data); v != wv || m != wm {
			t.Fatalf("scanJSON(%q) = %t, %t; encoding/json says %t, %t", data, v, m, wv, wm)
		}
	})
}

// TestJWSForm checks jwsForm against the alphabet for every byte value at
// every position of inputs of 1 to 17 bytes (the eight-byte steps and the
// tail).
func TestJWSForm(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
	for n := 1; n <= 17; n++ {
		for pos := range n {
			for c := range 256 {
				e := []byte(strings.Repeat("aZ0-_.9z", 3)[:n])
				e[pos] = byte(c)
				if got, want := jwsForm(e), strings.IndexByte(alphabet, byte(c)) >= 0; got != want {
					t.Fatalf("jwsForm(%q) = %t, want %t", e, got, want)
				}
			}
		}
	}
}
