package policy

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Withheld values that FLX-DP-FREE-TEXT reads in other notations: digits
// of any script (normText reads them as ASCII digits), a phone number in
// its national form (nationalDigits), a point given as coordinates at
// another precision or in another notation (geoHit), a full date in
// another date notation or language (dateHit).

// asciiDigit returns the ASCII digit that a decimal digit of any script
// stands for (٣ ۳ ३ ৩ as 3), the ASCII punctuation that the Arabic decimal
// separator (٫), thousands separator (٬), comma (،) and semicolon (؛)
// stand for, and any other rune as it is.
func asciiDigit(r rune) rune {
	switch r {
	case '٫':
		return '.'
	case '٬', '،':
		return ','
	case '؛':
		return ';'
	}
	if !unicode.IsDigit(r) {
		return r
	}
	// Unicode encodes each script's decimal digits 0 to 9 in a row, and a
	// range of unicode.Nd starts at a zero (TestAsciiDigit holds it).
	for _, g := range unicode.Nd.R16 {
		if rune(g.Lo) <= r && r <= rune(g.Hi) {
			return '0' + (r-rune(g.Lo))%10
		}
	}
	for _, g := range unicode.Nd.R32 {
		if rune(g.Lo) <= r && r <= rune(g.Hi) {
			return '0' + (r-rune(g.Lo))%10
		}
	}
	return r
}

// nationalDigits returns the digits to look for of a phone number held as
// normalised value n with digits d, besides d itself: written in the
// international form (+999 61 234 5678, 00999 61 234 5678), the number
// without its country code (up to three digits) and a trunk 0 after it,
// which its national form (061 234 5678) and other international forms
// (+999 (0)61...) hold; written in the national form (061 234 5678), the
// number without its trunk 0, which the international forms hold. ok is
// false for other values, or when fewer than 7 digits would be left.
func nationalDigits(n, d string) (string, bool) {
	n = strings.TrimLeft(n, " ([")
	var rest string
	switch {
	case strings.HasPrefix(n, "+"):
		rest = d
	case strings.HasPrefix(d, "00"):
		rest = d[2:]
	case strings.HasPrefix(d, "0"):
		rest = d[1:]
		return rest, len(rest) >= 7
	default:
		return "", false
	}
	if len(rest) < 3 {
		return "", false
	}
	rest = strings.TrimLeft(rest[3:], "0")
	return rest, len(rest) >= 7
}

// geoPoint is a withheld point (absolute values: a copy without its signs
// or with hemisphere letters reads the same).
type geoPoint struct{ lat, lon float64 }

// addGeo adds the point of a geo object ({"lat": ..., "lon": ...}).
func (t *taintSet) addGeo(m map[string]any) {
	lat, ok1 := m["lat"].(json.Number)
	lon, ok2 := m["lon"].(json.Number)
	if !ok1 || !ok2 {
		return
	}
	a, err1 := strconv.ParseFloat(string(lat), 64)
	b, err2 := strconv.ParseFloat(string(lon), 64)
	if err1 != nil || err2 != nil {
		return
	}
	p := geoPoint{math.Abs(a), math.Abs(b)}
	if !slices.Contains(t.geo, p) {
		t.geo = append(t.geo, p)
	}
}

// geoTolerance is how far (in degrees on either axis, about 170 m of
// latitude) a coordinate in a text may be from a withheld one and still
// give it away; geoPrecision is the coarsest resolution of a coordinate
// that is read as a point at all: a thousandth of a degree (about 110 m),
// a tenth of a minute, a second. A point given to a hundredth of a degree
// (1.1 km) or a whole minute (1.9 km) names an area, not a place, and is
// not looked for (the value as stored still is, as written).
const (
	geoTolerance = 0.0015
	geoPrecision = 0.002
)

// geoHit reports whether normalised text n holds two coordinates in a row
// (at most 16 bytes apart) that are one of the points, in either order,
// signs and hemisphere letters aside, as decimal degrees (a dot or, read
// a second time, a comma as the decimal mark), degrees and decimal
// minutes, or degrees, minutes and seconds.
func geoHit(points []geoPoint, n []byte) bool {
	if len(points) == 0 {
		return false
	}
	if geoHitWith(points, n, '.') {
		return true
	}
	return bytes.IndexByte(n, ',') >= 0 && geoHitWith(points, n, ',')
}

func geoHitWith(points []geoPoint, n []byte, dec byte) bool {
	// The last few coordinates read, to pair with the next: a compound
	// coordinate (degrees and minutes) is read again from its minutes on,
	// so that a number before a point cannot take the point's first
	// coordinate as its minutes; what that reads in between is kept too.
	type read struct {
		v   float64
		end int
	}
	var last [4]read
	nLast := 0
	for i := 0; i < len(n); {
		if !digitByte(n[i]) {
			i++
			continue
		}
		v, prec, end, next := parseCoordinate(n, i, dec)
		if prec <= geoPrecision {
			for k := 0; k < min(nLast, len(last)); k++ {
				r := last[k]
				if r.end > i || i-r.end > 16 {
					continue
				}
				for _, p := range points {
					if near(r.v, p.lat) && near(v, p.lon) || near(r.v, p.lon) && near(v, p.lat) {
						return true
					}
				}
			}
			last[nLast%len(last)] = read{v, end}
			nLast++
		}
		i = next
	}
	return false
}

func near(a, b float64) bool { return math.Abs(a-b) <= geoTolerance }

// parseCoordinate reads a coordinate at n[i] (a digit): degrees (at most
// three digits) with a decimal fraction, or degrees, minutes and seconds
// with their marks (° º d, ' ′ ’ m, " ″ ” s), or degrees and decimal
// minutes. It returns the value in degrees, its resolution in degrees
// (1 or more for a whole number or what is not a coordinate), where the
// coordinate ends, and where to read on from (after the degrees of a
// compound coordinate, after a decimal one).
func parseCoordinate(n []byte, i int, dec byte) (v, prec float64, end, next int) {
	deg, k, j := readInt(n, i)
	if k > 3 {
		return 0, 1e9, j, j
	}
	v, prec = float64(deg), 1
	if j+1 < len(n) && n[j] == dec && digitByte(n[j+1]) {
		f, fd, e := readFraction(n, j+1)
		return v + f, math.Pow10(-fd), skipMark(n, e, degreeMarks), e
	}
	e := skipMark(n, j, degreeMarks)
	if e == j {
		return v, prec, j, j
	}
	e = skipSpaces(n, e)
	v, prec, me, frac, ok := addPart(v, n, e, dec, 60)
	if !ok {
		return v, 1, e, j
	}
	if frac {
		return v, prec, skipMark(n, me, minuteMarks), j
	}
	e = skipMark(n, me, minuteMarks)
	if e == me {
		return v, prec, me, j
	}
	e = skipSpaces(n, e)
	v2, prec2, se, _, ok := addPart(v, n, e, dec, 3600)
	if !ok {
		return v, prec, e, j
	}
	return v2, prec2, skipMark(n, se, secondMarks), j
}

// addPart adds to v the minutes or seconds part at n[i:] (one or two
// digits below 60, then perhaps a decimal fraction), d of them making a
// degree: the sum, its resolution in degrees, where the part ends and
// whether it had a fraction; ok is false (and v returned as it was) when
// no such part is there.
func addPart(v float64, n []byte, i int, dec byte, d float64) (sum, prec float64, end int, frac, ok bool) {
	x, k, end := readInt(n, i)
	if k == 0 || k > 2 || x >= 60 {
		return v, 0, i, false, false
	}
	v += float64(x) / d
	if end+1 < len(n) && n[end] == dec && digitByte(n[end+1]) {
		f, fd, fe := readFraction(n, end+1)
		return v + f/d, math.Pow10(-fd) / d, fe, true, true
	}
	return v, 1 / d, end, false, true
}

var (
	degreeMarks = []string{"°", "o", "d", ":"}
	minuteMarks = []string{"′", "'", "’", "m", ":"}
	secondMarks = []string{"″", "′′", "''", "\"", "”", "s"}
)

// readInt reads the digits at n[i:] (at most 18 of them are read as a
// number): their value, how many, and where they end.
func readInt(n []byte, i int) (v, k, end int) {
	for end = i; end < len(n) && digitByte(n[end]); end++ {
		if k < 18 {
			v = v*10 + int(n[end]-'0')
		}
		k++
	}
	return v, k, end
}

// readFraction reads the digits at n[i:] as a decimal fraction (at most 9
// of them count): its value, how many digits count, where they end.
func readFraction(n []byte, i int) (f float64, k, end int) {
	v := 0
	for end = i; end < len(n) && digitByte(n[end]); end++ {
		if k < 9 {
			v = v*10 + int(n[end]-'0')
			k++
		}
	}
	return float64(v) / math.Pow10(k), k, end
}

// skipMark skips spaces and one of marks at n[i:] (the spaces only if
// none follows).
func skipMark(n []byte, i int, marks []string) int {
	j := skipSpaces(n, i)
	for _, m := range marks {
		if bytes.HasPrefix(n[j:], []byte(m)) {
			return j + len(m)
		}
	}
	return i
}

func skipSpaces(n []byte, i int) int {
	for i < len(n) && n[i] == ' ' {
		i++
	}
	return i
}

// civilDate is a withheld full date (a birth date, a date of death).
type civilDate struct{ y, m, d int }

// addDate adds a date held as YYYY-MM-DD (a year, or a year and month,
// is too weak to look for: it recurs in ordinary text).
func (t *taintSet) addDate(v string) {
	if len(v) != 10 || !dateValue(v) {
		return
	}
	y, _ := strconv.Atoi(v[:4])
	m, _ := strconv.Atoi(v[5:7])
	d, _ := strconv.Atoi(v[8:10])
	if m < 1 || m > 12 || d < 1 || d > 31 {
		return
	}
	if c := (civilDate{y, m, d}); !slices.Contains(t.dates, c) {
		t.dates = append(t.dates, c)
	}
}

// monthNames are the months' names and usual abbreviations in English,
// French, Spanish, Portuguese and German, and in Arabic (the Syriac names
// of the Levant and Iraq, the names from French and English used in Egypt
// and the Maghreb) and Persian, each with its month.
var monthNames = map[int][]string{
	1:  {"january", "jan", "janvier", "janv", "enero", "ene", "janeiro", "januar", "كانون الثاني", "يناير", "جانفي", "ژانویه"},
	2:  {"february", "feb", "fevrier", "fevr", "fev", "febrero", "fevereiro", "februar", "شباط", "فبراير", "فيفري", "فوریه"},
	3:  {"march", "mar", "mars", "marzo", "marco", "marz", "اذار", "مارس"},
	4:  {"april", "apr", "avril", "avr", "abril", "abr", "افريل", "نيسان", "ابريل", "آوریل", "اوریل"},
	5:  {"may", "mai", "mayo", "maio", "ايار", "مايو", "ماي", "مه"},
	6:  {"june", "jun", "juin", "junio", "junho", "juni", "حزيران", "يونيو", "يونيه", "جوان", "ژوئن"},
	7:  {"july", "jul", "juillet", "juil", "julio", "julho", "juli", "تموز", "يوليو", "يوليه", "جويلية", "ژوئیه"},
	8:  {"august", "aug", "aout", "agosto", "ago", "اب", "اغسطس", "اوت", "غشت"},
	9:  {"september", "sept", "sep", "septembre", "septiembre", "setembro", "set", "ايلول", "سبتمبر", "شتنبر", "سپتامبر"},
	10: {"october", "oct", "octobre", "octubre", "outubro", "out", "oktober", "okt", "تشرين الاول", "اكتوبر", "اکتبر"},
	11: {"november", "nov", "novembre", "noviembre", "novembro", "تشرين الثاني", "نوفمبر", "نونبر", "نوامبر"},
	12: {"december", "dec", "decembre", "diciembre", "dic", "dezembro", "dez", "dezember", "كانون الاول", "ديسمبر", "دجنبر", "دسامبر"},
}

// monthOf maps a normalised month name to its month; dateRes are the
// date notations, in normalised text: day, month and year as numbers
// (either order of day and month, or year first), a day, a month's name
// and a year, a month's name, a day and a year, eight digits.
var (
	monthOf = map[string]int{}
	dateRes []*regexp.Regexp
)

func init() {
	var names []string
	for m, ns := range monthNames {
		for _, s := range ns {
			s = normText(s)
			monthOf[s] = m
			names = append(names, regexp.QuoteMeta(s))
		}
	}
	// Longest first: the alternation takes the first that matches.
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) })
	month := `(` + strings.Join(names, "|") + `)\.?(?: ?/ ?(?:` + strings.Join(names, "|") + `))?`
	sep := `(?: ?[./-] ?| )`
	day := `([0-9]{1,2})(?:st|nd|rd|th|er|e|º|o)?\.?`
	dateRes = []*regexp.Regexp{
		regexp.MustCompile(`(?:^|[^0-9])([0-9]{1,4}) ?([./-]) ?([0-9]{1,2}) ?([./-]) ?([0-9]{2,4})(?:[^0-9]|$)`),
		regexp.MustCompile(`(?:^|[^0-9])([0-9]{8})(?:[^0-9]|$)`),
		regexp.MustCompile(`(?:^|[^0-9])` + day + sep + `(?:(?:of|de|the) )?` + month + `,?` + sep + `(?:(?:de|del|of) )?([0-9]{2,4})(?:[^0-9]|$)`),
		regexp.MustCompile(month + `,? (?:the )?` + day + `,?` + sep + `([0-9]{4})(?:[^0-9]|$)`),
	}
}

// dateHit reports whether normalised text n holds one of the dates with
// its day, month and year: as numbers (12/03/1985, 12.03.85, 1985-03-12;
// a day and month that can be read either way are read both ways), as
// eight digits (19850312, 12031985), or with the month's name (12 March
// 1985, March 12th, 1985, 12 mars 1985, ١٢ آذار ١٩٨٥).
func dateHit(dates []civilDate, n []byte) bool {
	if len(dates) == 0 {
		return false
	}
	// A date is written with its year, in full or its last two digits.
	found := false
	for _, d := range dates {
		yy := [2]byte{byte('0' + d.y/10%10), byte('0' + d.y%10)}
		if bytes.Contains(n, yy[:]) {
			found = true
			break
		}
	}
	if !found {
		return false
	}
	is := func(y, m, d int) bool {
		for _, c := range dates {
			if c.m == m && c.d == d && (c.y == y || y < 100 && c.y%100 == y) {
				return true
			}
		}
		return false
	}
	num := func(b []byte) int { v, _, _ := readInt(b, 0); return v }
	for k, re := range dateRes {
		// Each match, and each match starting inside it (a number before a
		// date must not take its day as its year).
		for pos := 0; pos < len(n); {
			loc := re.FindSubmatchIndex(n[pos:])
			if loc == nil {
				break
			}
			g := func(i int) []byte {
				if loc[2*i] < 0 {
					return nil
				}
				return n[pos+loc[2*i] : pos+loc[2*i+1]]
			}
			switch k {
			case 0: // numbers
				if string(g(2)) == string(g(4)) {
					a, b, c := num(g(1)), num(g(3)), num(g(5))
					if len(g(1)) == 4 && is(a, b, c) || len(g(1)) <= 2 && (is(c, b, a) || is(c, a, b)) {
						return true
					}
				}
			case 1: // eight digits
				s := g(1)
				if is(num(s[:4]), num(s[4:6]), num(s[6:])) || is(num(s[4:]), num(s[2:4]), num(s[:2])) {
					return true
				}
			case 2: // day, month, year
				if is(num(g(3)), monthOf[string(g(2))], num(g(1))) {
					return true
				}
			case 3: // month, day, year
				if is(num(g(3)), monthOf[string(g(1))], num(g(2))) {
					return true
				}
			}
			pos += max(loc[0], loc[2]) + 1
		}
	}
	return false
}

// notationHit reports whether normalised text n (of s) holds a withheld
// point or date in another notation. A field that is itself a date (a
// record's date, an age's as_of) is not read as a copy of a withheld date:
// protocol dates recur, and a required one would deny the document.
func (t *taintSet) notationHit(n []byte, s string) bool {
	return geoHit(t.geo, n) || len(t.dates) > 0 && !dateValue(s) && dateHit(t.dates, n)
}
