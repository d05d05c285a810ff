package policy

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode"
)

// TestAsciiDigit: the digits of the scripts a caseworker types in read as
// ASCII digits, every range of decimal digits starts at a zero (what
// asciiDigit relies on), and nothing else is changed but the Arabic
// separators.
func TestAsciiDigit(t *testing.T) {
	for _, zero := range []rune{'0', '٠', '۰', '߀', '०', '০', '੦', '૦', '୦', '௦', '౦', '೦', '൦', '๐', '໐', '༠', '၀', '០', '᠐', '０'} {
		for i := rune(0); i < 10; i++ {
			if got := asciiDigit(zero + i); got != '0'+i {
				t.Errorf("asciiDigit(%q) = %q, want %q", zero+i, got, '0'+i)
			}
		}
	}
	for _, g := range unicode.Nd.R16 {
		if g.Stride != 1 || (g.Hi-g.Lo+1)%10 != 0 || unicode.IsDigit(rune(g.Lo)-1) {
			t.Errorf("unicode.Nd range %U-%U (stride %d) is not runs of ten from a zero", g.Lo, g.Hi, g.Stride)
		}
	}
	for _, g := range unicode.Nd.R32 {
		if g.Stride != 1 || (g.Hi-g.Lo+1)%10 != 0 || unicode.IsDigit(rune(g.Lo)-1) {
			t.Errorf("unicode.Nd range %U-%U (stride %d) is not runs of ten from a zero", g.Lo, g.Hi, g.Stride)
		}
	}
	for in, want := range map[rune]rune{'٫': '.', '٬': ',', '،': ',', '؛': ';', 'a': 'a', 'ب': 'ب', '½': '½', 'Ⅻ': 'Ⅻ'} {
		if got := asciiDigit(in); got != want {
			t.Errorf("asciiDigit(%q) = %q, want %q", in, got, want)
		}
	}
	if got := normText("Tel ٠٦١ ۲۳۴ ५६७८, ٣٣٫٥"); got != "tel 061 234 5678, 33.5" {
		t.Errorf("normText = %q", got)
	}
}

// TestNationalDigits: the digits looked for besides a phone number's own.
func TestNationalDigits(t *testing.T) {
	for _, c := range []struct {
		held, want string
		ok         bool
	}{
		{"+999 61 234 5678", "612345678", true},
		{"00999 61 234 5678", "612345678", true},
		{"+999 (0)61 234 5678", "612345678", true},
		{"(+999) 61 234 5678", "612345678", true},
		{"061 234 5678", "612345678", true},
		{"+999 555 2222", "5552222", true},
		{"+999 555 222", "", false}, // 6 digits left: too few
		{"555 2222 999", "", false}, // neither form: as written only
		{"0123456", "", false},
	} {
		n := normText(c.held)
		d, _ := phoneDigits(n)
		got, ok := nationalDigits(n, d)
		if ok != c.ok || ok && got != c.want {
			t.Errorf("nationalDigits(%q) = %q, %t; want %q, %t", c.held, got, ok, c.want, c.ok)
		}
	}
}

// TestParseCoordinate: values and resolutions of the notations read.
func TestParseCoordinate(t *testing.T) {
	for _, c := range []struct {
		in        string
		v, prec   float64
		remaining string
	}{
		{"33.5123, x", 33.5123, 1e-4, ", x"},
		{"33°30'44.4\"n", 33 + 30.0/60 + 44.4/3600, 0.1 / 3600, "n"},
		{"33° 30.741' n", 33 + 30.741/60, 0.001 / 60, " n"},
		{"33d30m44s e", 33 + 30.0/60 + 44.0/3600, 1.0 / 3600, " e"},
		{"33°31'n", 33 + 31.0/60, 1.0 / 60, "n"},
		{"33° n", 33, 1, "n"},
		{"33 x", 33, 1, " x"},
		{"1985", 0, 1e9, ""},
		{"33°75'", 33, 1, "75'"},
	} {
		v, prec, end, _ := parseCoordinate([]byte(c.in), 0, '.')
		if math.Abs(v-c.v) > 1e-9 || math.Abs(prec-c.prec) > 1e-12 || c.in[end:] != c.remaining {
			t.Errorf("parseCoordinate(%q) = %v, %v, rest %q; want %v, %v, rest %q", c.in, v, prec, c.in[end:], c.v, c.prec, c.remaining)
		}
	}
}

// FuzzGeoHit: reading any text for coordinates neither panics nor loops;
// a text that gives a withheld point still gives it away with more text
// around it; and the point written at four decimals (either order, either
// decimal mark) inside any text is found.
func FuzzGeoHit(f *testing.F) {
	for _, s := range []string{"", "33.5123, 36.2765", "33°30'44.4\"N 36°16'35.6\"E", "geo:1.5,2.5;u=3", "9999.9999.9", "1°2'3.4\"5°6'7\"",
		"33,5123; 36,2765", "°'\"", "1.", "12:30:45 13:00:00", strings.Repeat("1.1 ", 50)} {
		f.Add(s, 33.512345, 36.276543)
	}
	f.Fuzz(func(t *testing.T, s string, lat, lon float64) {
		if math.IsNaN(lat) || math.IsNaN(lon) || math.Abs(lat) > 90 || math.Abs(lon) > 180 {
			return
		}
		pts := []geoPoint{{math.Abs(lat), math.Abs(lon)}}
		n := []byte(normText(s))
		if geoHit(pts, n) && !geoHit(pts, []byte("x "+string(n)+" x")) {
			t.Fatalf("%q gives the point away, not with text around it", n)
		}
		for _, w := range []string{fmt.Sprintf("%.4f, %.4f", lat, lon), fmt.Sprintf("%.4f %.4f", lon, lat),
			strings.ReplaceAll(fmt.Sprintf("%.4f; %.4f", lat, lon), ".", ",")} {
			txt := normText(s + " " + w + " ")
			if !geoHit(pts, []byte(txt)) {
				t.Fatalf("point %v, %v in %q not found", lat, lon, txt)
			}
		}
	})
}

// FuzzDateHit: reading any text for dates neither panics nor loops, and a
// withheld date written day first, month first or year first, or with its
// month's name, inside any text is found.
func FuzzDateHit(f *testing.F) {
	for _, s := range []string{"", "12/03/1985", "12 mars 1985", "1985-03-12", "١٢ آذار ١٩٨٥", "19850312", "march 12th, 1985", "12//85", "00.00.0000",
		strings.Repeat("12 ", 40)} {
		f.Add(s, 1985, 3, 12)
	}
	f.Fuzz(func(t *testing.T, s string, y, m, d int) {
		if y < 1000 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 28 {
			return
		}
		dates := []civilDate{{y, m, d}}
		n := []byte(normText(s))
		if dateHit(dates, n) && !dateHit(dates, []byte("x "+string(n)+" x")) {
			t.Fatalf("%q gives the date away, not with text around it", n)
		}
		for _, w := range []string{fmt.Sprintf("%02d/%02d/%04d", d, m, y), fmt.Sprintf("%d.%d.%04d", m, d, y), fmt.Sprintf("%04d-%02d-%02d", y, m, d),
			fmt.Sprintf("%d %s %d", d, monthNames[m][0], y), fmt.Sprintf("%s %d, %d", monthNames[m][2], d, y)} {
			txt := normText(s + " " + w + " ")
			if !dateHit(dates, []byte(txt)) {
				t.Fatalf("date %04d-%02d-%02d in %q not found", y, m, d, txt)
			}
		}
	})
}

// FuzzNationalDigits: for any value, the digits looked for besides its
// own are a suffix of its digits, at least 7 long.
func FuzzNationalDigits(f *testing.F) {
	for _, s := range []string{"+999 61 234 5678", "0061 234", "061 234 5678", "00", "+", "(+1) 000 0000 000", "+٩٩٩ ٥٥٥ ٢٢٢٢"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := normText(s)
		d, ok := phoneDigits(n)
		if !ok {
			return
		}
		if nd, ok := nationalDigits(n, d); ok && (len(nd) < 7 || !strings.HasSuffix(d, nd)) {
			t.Fatalf("nationalDigits(%q) = %q: not a suffix of %q of 7 digits or more", n, nd, d)
		}
	})
}
