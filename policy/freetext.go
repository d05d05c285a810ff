package policy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FLX-DP-FREE-TEXT: a value that a rule withholds must not leave in another
// field. Caseworkers copy addresses into notes, a located person's
// shelter into a message, a carer's name into a message's addressee: the
// rule collects every value withheld from the destination (in this
// document, and for a response or message the values of the case that the
// destination may not receive) and removes any field that repeats one
// (whole, case and spacing aside, base64-encoded, or behind percent, JSON
// or HTML escapes; a person's name also in other spellings and scripts:
// recode.go, arabic.go; digits of any script, a phone's other forms,
// coordinates and dates in other notations: notation.go). A field that schema v1 requires (a message's body or
// media) cannot be removed: the document is denied.

var (
	reTokenValue  = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)                                        // enum values, person ids
	reDateValue   = regexp.MustCompile(`^[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9:.]+(Z|[+-][0-9:]+)?)?)?)?$`) // dates
	reMemberValue = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,31}$`)                                      // member ids, country codes
	reMediaType   = regexp.MustCompile(`^[a-z]+/[a-z0-9][a-z0-9.+-]*$`)
)

// taintable reports whether a withheld value is specific enough to look
// for elsewhere: not a short string, an enumeration token, a date, a member
// id or a media type, which legitimately recur.
func taintable(v string) bool {
	return utf8.RuneCountInString(strings.TrimSpace(v)) >= 4 && !tokenValue(v) && !dateValue(v) &&
		!memberValue(v) && !mediaType(v)
}

// tokenValue, dateValue, memberValue and mediaType are reTokenValue,
// reDateValue, reMemberValue and reMediaType written out (FuzzTaintable
// holds them equal).
func tokenValue(s string) bool {
	if len(s) < 1 || len(s) > 32 || !lowerByte(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !lowerByte(c) && !digitByte(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func dateValue(s string) bool {
	if len(s) < 4 || !allDigits(s[:4]) {
		return false
	}
	s = s[4:]
	for range 2 { // -MM, -DD
		if s == "" {
			return true
		}
		if len(s) < 3 || s[0] != '-' || !allDigits(s[1:3]) {
			return false
		}
		s = s[3:]
	}
	if s == "" {
		return true
	}
	if s[0] != 'T' {
		return false
	}
	s = s[1:]
	i := 0
	for i < len(s) && (digitByte(s[i]) || s[i] == ':' || s[i] == '.') {
		i++
	}
	if i == 0 {
		return false
	}
	s = s[i:]
	switch {
	case s == "" || s == "Z":
		return true
	case s[0] == '+' || s[0] == '-':
		s = s[1:]
		if s == "" {
			return false
		}
		for j := 0; j < len(s); j++ {
			if !digitByte(s[j]) && s[j] != ':' {
				return false
			}
		}
		return true
	}
	return false
}

func memberValue(s string) bool {
	if len(s) < 2 || len(s) > 32 || (!upperByte(s[0]) && !digitByte(s[0])) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !upperByte(c) && !digitByte(c) && c != '-' {
			return false
		}
	}
	return true
}

func mediaType(s string) bool {
	i := 0
	for i < len(s) && lowerByte(s[i]) {
		i++
	}
	if i == 0 || i+1 >= len(s) || s[i] != '/' {
		return false
	}
	s = s[i+1:]
	if !lowerByte(s[0]) && !digitByte(s[0]) {
		return false
	}
	for j := 1; j < len(s); j++ {
		if c := s[j]; !lowerByte(c) && !digitByte(c) && c != '.' && c != '+' && c != '-' {
			return false
		}
	}
	return true
}

func lowerByte(c byte) bool { return 'a' <= c && c <= 'z' }
func upperByte(c byte) bool { return 'A' <= c && c <= 'Z' }
func digitByte(c byte) bool { return '0' <= c && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !digitByte(s[i]) {
			return false
		}
	}
	return true
}

// normText is the form in which withheld values are looked for, so that a
// copy that reads the same is found however it is written: compatibility
// forms folded (fullwidth letters, ligatures), accents and other combining
// marks dropped, invisible format characters (zero-width spaces and
// joiners, soft hyphens, direction marks) dropped, letters that look like
// Latin ones in Cyrillic and Greek read as those, Latin letters without a
// decomposition folded to ASCII (ł as l, ß as ss: latinFold), the digits
// of every script (Eastern Arabic, Persian, Devanagari...) as ASCII digits
// and the Arabic decimal and thousands separators, comma and semicolon as
// ASCII punctuation (asciiDigit), case and runs of whitespace of any kind
// ignored. Both the value and the text searched are normalised the same
// way.
func normText(s string) string {
	if n, ok := normASCII(s); ok {
		return n
	}
	return normTextSlow(s)
}

// normTextSlow is normText for any string: NFKD, then per rune marks and
// format characters dropped, lower case, homoglyphs read as Latin, digits
// and Arabic punctuation read as ASCII, Latin letters folded, and
// runs of white space (unicode.IsSpace, as strings.Fields splits) written
// as one space between words (none at either end). FuzzNormText holds it
// equal to the definition written step by step.
func normTextSlow(s string) string {
	s = norm.NFKD.String(s)
	b := make([]byte, 0, len(s))
	pending := false
	for _, r := range s {
		if unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		r = unicode.ToLower(r)
		if l, ok := homoglyphs[r]; ok {
			r = l
		}
		if r >= utf8.RuneSelf {
			r = asciiDigit(r)
		}
		if unicode.IsSpace(r) {
			pending = len(b) > 0
			continue
		}
		if pending {
			b = append(b, ' ')
			pending = false
		}
		if f, ok := latinFold[r]; ok {
			b = append(b, f...)
			continue
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

// normASCII is normText for a string of ASCII only, in one pass: such a
// string is its own NFKD form, holds no combining mark, format character
// or homoglyph, lower-cases byte by byte, and its whitespace (for
// strings.Fields) is exactly \t \n \v \f \r and space. ok is false when
// s holds any other byte; s itself is returned when it is already normal.
func normASCII(s string) (string, bool) {
	normal := true
	space := true // at the start, or after a space: a space here is dropped
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			return "", false
		case 'A' <= c && c <= 'Z':
			normal = false
			space = false
		case c == ' ':
			if space {
				normal = false
			}
			space = true
		case c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
			normal = false
			space = true
		default:
			space = false
		}
	}
	if normal && (len(s) == 0 || s[len(s)-1] != ' ') {
		return s, true
	}
	var b strings.Builder // one allocation: String does not copy
	b.Grow(len(s))
	pending := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
			pending = b.Len() > 0
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if pending {
			b.WriteByte(' ')
			pending = false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// appendNormASCII appends normText(s) to dst when s is ASCII only (what
// normASCII returns, into a buffer the caller reuses); ok is false, and dst
// unchanged, when s holds any other byte. FuzzNormText holds the two equal.
func appendNormASCII(dst []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return dst, false
		}
	}
	start := len(dst)
	pending := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
			pending = len(dst) > start
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if pending {
			dst = append(dst, ' ')
			pending = false
		}
		dst = append(dst, c)
	}
	return dst, true
}

// homoglyphs maps lower-case Cyrillic and Greek letters that are drawn
// like Latin ones (in either case) to those letters.
var homoglyphs = map[rune]rune{
	'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'з': '3', 'і': 'i', 'ї': 'i', 'ј': 'j', 'к': 'k', 'м': 'm', 'н': 'h',
	'о': 'o', 'р': 'p', 'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'ѕ': 's', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'һ': 'h',
	'α': 'a', 'β': 'b', 'ε': 'e', 'η': 'n', 'ι': 'i', 'κ': 'k', 'μ': 'm', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't',
	'υ': 'u', 'χ': 'x', 'ζ': 'z',
}

// taintSet holds the withheld values to look for.
type taintSet struct {
	plain []string // normalised
	// plainBuf holds the plain values one after the other, each ending at
	// plainEnds[i], for searching normalised ASCII text held in norm (a
	// buffer reused from one string to the next) without making it a string.
	plainBuf  []byte
	plainEnds []int
	norm      []byte
	encBuf    []byte // the base64 forms added, one after the other
	encEnds   []int  // where each ends in encBuf
	// encHeads holds the first four bytes of each base64 form of
	// minEncoded bytes or more (of the first encFiltered of encEnds) and
	// where the form is in encBuf; encFilter has the bit of each head's
	// hash (encHash) set: encodedHit looks for the forms in one pass.
	encHeads    []encHead
	encFiltered int
	encFilter   [encFilterWords]uint64
	digits      []string    // the digits of phone-like values, and of their national forms (nationalDigits)
	names       []string    // names in other orders and put together, normalised, matched as whole words
	sqAll       []byte      // letters and digits of the values (squash), at least minSquashed bytes, one after the other
	sqEnds      []int       // where each ends in sqAll
	scratch     []byte      // a value being encoded (addBase64)
	dec         []byte      // hex or base32 runs of a string being decoded (hit), or a text squashed (squashedHit)
	keys        nameKeys    // names' phonetic keys, across Latin and Arabic script (arabic.go)
	geo         []geoPoint  // withheld points, looked for as coordinates in any notation (notation.go)
	dates       []civilDate // withheld full dates, looked for in any date notation (notation.go)
	// spelled holds the other spellings of the last values outside ASCII
	// worked out (spellingsOf): a name is added as a value and as a name,
	// and spelled once. A few, in place: a case has few such values.
	spelled  [8]spelling
	nSpelled int
}

type spelling struct {
	v     string
	forms []string
}

// spellingsOf is spellings(v), worked out once for the last few values.
func (t *taintSet) spellingsOf(v string) []string {
	ascii := true
	for i := 0; i < len(v) && ascii; i++ {
		ascii = v[i] < utf8.RuneSelf
	}
	if ascii {
		return nil // most values: spelled only as written
	}
	for i := 0; i < min(t.nSpelled, len(t.spelled)); i++ {
		if t.spelled[i].v == v {
			return t.spelled[i].forms
		}
	}
	forms := spellings(v)
	t.spelled[t.nSpelled%len(t.spelled)] = spelling{v, forms}
	t.nSpelled++
	return forms
}

// phoneDigits returns the digits of a value written mostly with digits
// (a phone number, a document number): at least 7 digits and no letters.
// Such a value is found however its digits are grouped and punctuated.
func phoneDigits(v string) (string, bool) {
	// Counted first: most values hold a letter or few digits, and need no
	// string of digits.
	n := 0
	for _, r := range v {
		switch {
		case r >= '0' && r <= '9':
			n++
		case unicode.IsLetter(r):
			return "", false
		}
	}
	if n < 7 {
		return "", false
	}
	b := make([]byte, 0, n)
	for i := 0; i < len(v); i++ {
		if c := v[i]; c >= '0' && c <= '9' {
			b = append(b, c)
		}
	}
	return string(b), true
}

// asciiDigitBytes is asciiDigits of a byte slice.
func asciiDigitBytes(b []byte) int {
	n := 0
	for _, c := range b {
		if c >= '0' && c <= '9' {
			n++
		}
	}
	return n
}

// asciiDigits counts the digits 0-9 in s.
func asciiDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

// digitRuns returns the digit strings of the letter-free stretches of
// normalised text s: "call +999 (555) 22-22 now" holds "9995552222".
func digitRuns(s string) []string {
	var out []string
	for _, part := range strings.FieldsFunc(s, unicode.IsLetter) {
		if d, ok := phoneDigits(part); ok {
			out = append(out, d)
		}
	}
	return out
}

func (t *taintSet) add(v string) {
	if !taintable(v) {
		return
	}
	n := normText(v)
	if contains(t.plain, n) {
		return
	}
	if t.plain == nil {
		// Room for a case's usual values at once, rather than grown.
		t.plain, t.plainEnds = make([]string, 0, 16), make([]int, 0, 16)
		t.plainBuf, t.encBuf, t.encEnds = make([]byte, 0, 256), make([]byte, 0, 3072), make([]int, 0, 96)
		t.sqAll, t.sqEnds = make([]byte, 0, 256), make([]int, 0, 16)
		t.encHeads = make([]encHead, 0, 96)
	}
	t.addPlain(n)
	t.addSquashed(n)
	if d, ok := phoneDigits(n); ok {
		if !contains(t.digits, d) {
			t.digits = append(t.digits, d)
		}
		// A phone number's national form holds it without its country
		// code, the international forms without its trunk 0.
		if nd, ok := nationalDigits(n, d); ok && !contains(t.digits, nd) {
			t.digits = append(t.digits, nd)
		}
	}
	// Its other spellings in ASCII letters (ü as ue, Cyrillic and Greek
	// romanised) are looked for as written.
	for _, sp := range t.spellingsOf(v) {
		if sn := normText(sp); utf8.RuneCountInString(sn) >= 4 && !contains(t.plain, sn) {
			t.addPlain(sn)
		}
	}
	// The value is looked for in base64 with either alphabet, padded or
	// not, alone or inside a longer encoded text: there it starts at any
	// byte offset, so each of the three alignments is looked for, without
	// the characters that also hold bits of the bytes around it (the first
	// two or three at offsets one and two, the last when it is partial).
	// What is left is at least 6 long when v has 5 bytes or more; a
	// shorter form is not looked for (encodedHit). The forms go into one
	// buffer (a repeated form only repeats a comparison). The bytes
	// encoded are the value as written and, with letters outside ASCII,
	// composed and decomposed (NFC, NFD). (Its lower-case forms too cost
	// 60% more CPU per forward's evaluation.)
	t.addBase64(v, -1)
	if _, ascii := normASCII(v); !ascii {
		if !norm.NFC.IsNormalString(v) {
			t.addBase64(v, norm.NFC)
		}
		if !norm.NFD.IsNormalString(v) {
			t.addBase64(v, norm.NFD)
		}
	}
}

// addPlain adds the normalised value n to look for as written.
func (t *taintSet) addPlain(n string) {
	t.plain = append(t.plain, n)
	t.plainBuf = append(t.plainBuf, n...)
	t.plainEnds = append(t.plainEnds, len(t.plainBuf))
}

// addName adds a person's name (one written form, or their given and
// family names put together) in the other orders it is written in, in
// each of its spellings, as whole words; and, put together, as written.
func (t *taintSet) addName(v string, together bool) {
	sp := t.spellingsOf(v)
	for i := -1; i < len(sp); i++ {
		f := v
		if i >= 0 {
			f = sp[i]
		}
		n := normText(f)
		if i < 0 {
			t.keys.add(n)
		}
		if together && i < 0 && utf8.RuneCountInString(n) >= 4 && !contains(t.names, n) {
			t.names = append(t.names, n)
		}
		for _, o := range nameOrders(n) {
			if utf8.RuneCountInString(o) >= 4 && !contains(t.names, o) {
				t.names = append(t.names, o)
			}
		}
	}
}

// addNames adds the names of a names list (a person's): each written form
// in other orders, and the parts given in separate forms (given, family,
// patronymic) put together, in case each is too short to look for alone.
func (t *taintSet) addNames(list []any) {
	var given, patronymic, family []string
	for _, e := range list {
		m, _ := e.(map[string]any)
		v, _ := m["value"].(string)
		if strings.TrimSpace(v) == "" {
			continue
		}
		switch m["part"] {
		case "given":
			given = append(given, v)
		case "patronymic":
			patronymic = append(patronymic, v)
		case "family", "maiden":
			family = append(family, v)
		default:
			t.addName(v, false)
		}
	}
	for _, g := range given {
		for _, f := range family {
			t.addName(g+" "+f, true)
			for _, p := range patronymic {
				t.addName(g+" "+p+" "+f, true)
			}
		}
	}
}

// addBase64 adds the base64 forms of v (in the normal form f; -1: as
// written) at
// the three offsets, in both alphabets: the characters of the encoding of
// v placed at byte offset k (0, 1 or 2) of a 3-byte group that hold only
// bits of v.
func (t *taintSet) addBase64(v string, f norm.Form) {
	t.scratch = append(t.scratch[:0], 0, 0) // up to two bytes before v
	if f >= 0 {
		t.scratch = f.AppendString(t.scratch, v)
	} else {
		t.scratch = append(t.scratch, v...)
	}
	for k := 0; k < 3; k++ {
		b := t.scratch[2-k:]       // k zero bytes, then v
		full := len(b) * 8 / 6     // characters whose 6 bits are all set by b
		skip := [3]int{0, 2, 3}[k] // characters holding bits of the k bytes before
		for _, enc := range base64Forms {
			start := len(t.encBuf)
			t.encBuf = enc.AppendEncode(t.encBuf, b)
			n := copy(t.encBuf[start:], t.encBuf[start+skip:start+full])
			t.encBuf = t.encBuf[:start+n]
			t.encEnds = append(t.encEnds, len(t.encBuf))
		}
	}
}

var base64Forms = []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding}

// addValues adds every string, and every decimal number (coordinates), at
// or under v.
func (t *taintSet) addValues(v any) {
	switch x := v.(type) {
	case string:
		t.add(x)
	case json.Number:
		if s := string(x); strings.Contains(s, ".") && len(s) >= 5 {
			t.add(s)
		}
	case map[string]any:
		t.addGeo(x)
		for _, e := range x {
			t.addValues(e)
		}
	case []any:
		for _, e := range x {
			t.addValues(e)
		}
	}
}

// addPersonal adds the values at or under the pointer p of a document
// whose fields are personal data (ids, processing records and protocol
// fields recur legitimately and are not looked for).
func (t *taintSet) addPersonal(docKind string, doc map[string]any, p string) {
	var stack [16]string // the pointer walked (entryFor keeps none of it)
	pp, err := appendPointer(stack[:0], p)
	if err != nil {
		return
	}
	v, ok := lookup(doc, pp)
	if !ok {
		return
	}
	t.addPersonalAt(docKind, v, pp)
}

// identifyingClass is the class of the dates looked for (addDate).
var identifyingClass = []Class{Identifying}

// addPersonalAt adds the values at and under v, whose pointer is at.
func (t *taintSet) addPersonalAt(docKind string, v any, at pointer) {
	switch x := v.(type) {
	case map[string]any:
		t.addGeo(x) // a geo object: its point, in any notation
		for k, e := range x {
			t.addPersonalAt(docKind, e, append(at, k))
		}
	case []any:
		if len(at) > 0 && at[len(at)-1] == "names" {
			t.addNames(x)
		}
		for i, e := range x {
			t.addPersonalAt(docKind, e, append(at, strconv.Itoa(i)))
		}
	default:
		f, ok := entryFor(docKind, at)
		if !ok || hasAnyClass(f.Classes, personalClasses) {
			t.addValues(x)
			if v, ok := x.(string); ok && len(at) > 0 && at[len(at)-1] == "name" {
				t.addName(v, false) // a message's sender or addressee
			}
			// A full date that identifies a person (a birth date, a date
			// of death), in any date notation.
			if v, ok := x.(string); ok && len(v) == 10 && hasAnyClass(f.Classes, identifyingClass) {
				t.addDate(v)
			}
		}
	}
}

// hit reports whether s holds a withheld value, as written or with the
// escapes a tool would decode: percent escapes and plus signs (a link, a
// query), JSON string escapes (nested JSON), HTML character references.
func (t *taintSet) hit(s string) bool {
	if t.hitAsWritten(s) {
		return true
	}
	if d, ok := percentDecoded(s, true); ok && t.hitAsWritten(d) {
		return true
	}
	if strings.IndexByte(s, '+') >= 0 && strings.IndexByte(s, '%') >= 0 {
		d, _ := percentDecoded(s, false) // a path keeps a plus sign as written
		if t.hitAsWritten(d) {
			return true
		}
	}
	if strings.IndexByte(s, '\\') >= 0 && t.hitAsWritten(jsonUnescaped(s)) {
		return true
	}
	if strings.IndexByte(s, '&') >= 0 && strings.IndexByte(s, ';') >= 0 {
		if d := html.UnescapeString(s); d != s && t.hitAsWritten(d) {
			return true
		}
	}
	// Quoted-printable (a forwarded e-mail), hex dumps and base32.
	if d, ok := qpDecoded(s); ok && t.hitAsWritten(d) {
		return true
	}
	var ok bool
	if t.dec, ok = hexDecoded(t.dec[:0], s); ok && t.hitAsWritten(string(t.dec)) {
		return true
	}
	if t.dec, ok = base32Decoded(t.dec[:0], s); ok && t.hitAsWritten(string(t.dec)) {
		return true
	}
	return false
}

// jsonUnescaped decodes the JSON string escapes in s (\uXXXX, surrogate
// pairs too, and \n, \", ...); what is not one is kept.
func jsonUnescaped(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b = append(b, s[i])
			continue
		}
		switch c := s[i+1]; c {
		case 'u':
			r, ok := hex4(s[i+2:])
			if !ok {
				b = append(b, s[i])
				continue
			}
			i += 5
			if utf16.IsSurrogate(r) && strings.HasPrefix(s[i+1:], "\\u") {
				if r2, ok := hex4(s[i+3:]); ok {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					}
				}
			}
			b = utf8.AppendRune(b, r)
		case 'n', 't', 'r', 'b', 'f':
			b = append(b, ' ')
			i++
		case '"', '\\', '/':
			b = append(b, c)
			i++
		default:
			b = append(b, s[i])
		}
	}
	return string(b)
}

// hex4 reads four hexadecimal digits at the start of s.
func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		if !hexByte(s[i]) {
			return 0, false
		}
		r = r<<4 | rune(unhex(s[i]))
	}
	return r, true
}

// percentDecoded returns s with its percent escapes decoded and plus signs
// read as spaces if plusSpace (as in a URL's query); an escape that is not
// one is kept. ok is false when s holds neither.
func percentDecoded(s string, plusSpace bool) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && !plusBetweenWords(s) {
		return "", false // most text, a phone number's leading + too
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+' && plusSpace:
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && hexByte(s[i+1]) && hexByte(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b), true
}

// plusBetweenWords reports whether s has a plus sign with something other
// than a space on both sides (a query's space, "7+Hidden+Street").
func plusBetweenWords(s string) bool {
	for i := 1; i+1 < len(s); i++ {
		if s[i] == '+' && s[i-1] != ' ' && s[i+1] != ' ' {
			return true
		}
	}
	return false
}

func hexByte(c byte) bool { return digitByte(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case digitByte(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func (t *taintSet) hitAsWritten(s string) bool {
	var n string
	if nb, ok := appendNormASCII(t.norm[:0], s); ok {
		// Most text is ASCII: normalised into t.norm, not a new string.
		t.norm = nb
		start := 0
		for _, end := range t.plainEnds {
			if bytes.Contains(nb, t.plainBuf[start:end]) {
				return true
			}
			start = end
		}
		if len(t.names) > 0 {
			if ns := string(nb); t.nameHit(ns) || t.keys.hit(ns) {
				return true
			}
		}
		if t.squashedHit(nb) {
			return true
		}
		if (len(t.geo) > 0 || len(t.dates) > 0) && t.notationHit(nb, s) {
			return true
		}
		if len(t.digits) == 0 || asciiDigitBytes(nb) < 7 {
			return t.encodedHit(s)
		}
		n = string(nb)
	} else {
		n = normText(s)
		for _, v := range t.plain {
			if strings.Contains(n, v) {
				return true
			}
		}
		if t.nameHit(n) || t.keys.hit(n) || len(t.sqEnds) > 0 && t.squashedHit([]byte(n)) {
			return true
		}
		if (len(t.geo) > 0 || len(t.dates) > 0) && t.notationHit([]byte(n), s) {
			return true
		}
	}
	if t.encodedHit(s) {
		return true
	}
	if len(t.digits) > 0 && asciiDigits(n) >= 7 { // a run holds 7 digits or more
		for _, run := range digitRuns(n) {
			for _, d := range t.digits {
				if strings.Contains(run, d) {
					return true
				}
			}
		}
	}
	return false
}

// minSquashed is the fewest letters and digits a value must have to be
// looked for squashed: shorter ones would be found inside unrelated words.
const minSquashed = 8

// addSquashed adds the letters and digits of the normalised value n, when
// it has enough.
func (t *taintSet) addSquashed(n string) {
	start := len(t.sqAll)
	t.sqAll = squash(t.sqAll, n)
	q := t.sqAll[start:]
	if len(q) < minSquashed {
		t.sqAll = t.sqAll[:start]
		return
	}
	from := 0
	for _, end := range t.sqEnds {
		if bytes.Equal(t.sqAll[from:end], q) {
			t.sqAll = t.sqAll[:start]
			return
		}
		from = end
	}
	t.sqEnds = append(t.sqEnds, len(t.sqAll))
}

// squash appends to dst the letters and digits of normalised text n (a
// string or bytes): the text without its spaces, punctuation and
// separators.
func squash[S string | []byte](dst []byte, n S) []byte {
	for i := 0; i < len(n); {
		c := n[i]
		if c < utf8.RuneSelf {
			if lowerByte(c) || digitByte(c) {
				dst = append(dst, c)
			}
			i++
			continue
		}
		var rb [utf8.UTFMax]byte
		r, size := utf8.DecodeRune(rb[:copy(rb[:], n[i:])])
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			dst = append(dst, n[i:i+size]...)
		}
		i += size
	}
	return dst
}

// squashedHit reports whether normalised text n, its spaces, punctuation
// and separators dropped, holds a value so squashed: a value written with
// hyphens or underscores for its spaces (a link's slug, a file name), or
// its letters spaced out or dotted.
func (t *taintSet) squashedHit(n []byte) bool {
	if len(t.sqEnds) == 0 || len(n) < minSquashed {
		return false
	}
	t.dec = squash(t.dec[:0], n) // free here: a decoded text is a string by now
	from := 0
	for _, end := range t.sqEnds {
		if bytes.Contains(t.dec, t.sqAll[from:end]) {
			return true
		}
		from = end
	}
	return false
}

// nameHit reports whether normalised text n holds a name in another order
// or put together from its parts, as whole words.
func (t *taintSet) nameHit(n string) bool {
	for _, w := range t.names {
		if hasWord(n, w) {
			return true
		}
	}
	return false
}

// minEncoded is the fewest characters of a base64 form looked for.
const minEncoded = 6

// encFilterWords is the size of taintSet.encFilter: 1<<encFilterBits bits.
const (
	encFilterBits  = 14
	encFilterWords = 1 << encFilterBits / 64
)

// encHash is the bit of encFilter for a form starting with head.
func encHash(head uint32) uint32 { return head * 0x9E3779B1 >> (32 - encFilterBits) }

// head4 is the first four bytes of s as one number.
func head4[S string | []byte](s S) uint32 {
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// encodedHit reports whether s holds a withheld value in base64: a form
// of minEncoded characters or more (what strings.Contains of each form
// finds: FuzzBase64Forms and TestEncodedHitAgrees hold the two equal). s is read once: at each byte, the hash of the four bytes
// there is looked up in encFilter, and only where its bit is set are the
// forms starting with those four bytes compared.
func (t *taintSet) encodedHit(s string) bool {
	t.filterForms()
	if len(t.encHeads) == 0 {
		return false
	}
	for i := 0; i+minEncoded <= len(s); i++ {
		h := head4(s[i : i+4])
		if x := encHash(h); t.encFilter[x/64]&(1<<(x%64)) == 0 {
			continue
		}
		rest := s[i:]
		for _, e := range t.encHeads {
			if e.head == h && len(rest) >= int(e.end-e.start) && rest[:e.end-e.start] == string(t.encBuf[e.start:e.end]) {
				return true
			}
		}
	}
	return false
}

// encHead is a base64 form's first four bytes, and where it is in encBuf.
type encHead struct {
	head       uint32
	start, end int32
}

// filterForms puts the base64 forms added since it last ran in encHeads
// and encFilter.
func (t *taintSet) filterForms() {
	for j := t.encFiltered; j < len(t.encEnds); j++ {
		start := 0
		if j > 0 {
			start = t.encEnds[j-1]
		}
		e := t.encBuf[start:t.encEnds[j]]
		if len(e) < minEncoded {
			continue
		}
		h := head4(e)
		t.encHeads = append(t.encHeads, encHead{h, int32(start), int32(t.encEnds[j])})
		x := encHash(h)
		t.encFilter[x/64] |= 1 << (x % 64)
	}
	t.encFiltered = len(t.encEnds)
}

// caseWithheld returns the pointers of the case that the enabled protective
// rules, and the case allow-list, keep from the destination, evaluated as
// if the case itself were sent there.
func (s *state) caseWithheld() []string {
	sub := &state{
		ctx: s.ctx, cfg: s.cfg, kind: "case.update", docKind: "case", doc: s.cs, cs: s.cs, dst: s.dst,
		src: s.src, now: s.now, opts: s.opts, redact: map[string]bool{}, builtins: s.builtins,
	}
	var out []string
	for _, b := range s.builtins {
		if b.protect == nil || !contains(b.kinds, "case") {
			continue
		}
		prots := b.protect(sub)
		// What the document itself says (a response reporting that the
		// person declined contact) protects their data in the case too.
		if contains(b.kinds, s.docKind) {
			for _, p := range b.protect(s) {
				if p.fromDoc {
					prots = append(prots, protection{person: p.person, all: p.all, classes: p.classes, why: p.why})
				}
			}
		}
		out = append(out, sub.withheld(prots)...)
	}
	return out
}

// messageRequires reports whether schema v1 requires the top-level field
// of this message (body for letters and news, media for recordings).
func (s *state) required(p string) bool {
	pp, err := parsePointer(p)
	if err != nil || len(pp) == 0 {
		return true
	}
	if s.docKind == "message" && len(pp) == 1 {
		switch k := str(s.doc["kind"]); pp[0] {
		case "body":
			return k == "red_cross_message" || k == "family_news"
		case "media":
			return k == "video_message" || k == "voice_message"
		}
	}
	return requiredPointer(pp)
}

// coarsePlaceParts are the fields of a place that name an area, not a spot.
var coarsePlaceParts = []string{"country", "admin_area", "locality"}

// removable returns what to remove for a hit at the pointer h: the field
// (taxonomy entry) it belongs to. A required field is returned as is (the
// document is then denied), except the origin block, whose optional parts
// (office, local reference) can go.
func (s *state) removable(h string) string {
	target, best := h, -1
	for _, f := range s.fields() {
		if n := tokenPrefix(f.ptr, h); n > best {
			best, target = n, f.ptr
		}
	}
	if !s.required(target) || best < 0 {
		return target
	}
	hp, _ := parsePointer(h)
	if len(hp) == 0 || hp[0] != "origin" {
		return target
	}
	// The origin block is required, but only its member and date are.
	for n := best + 1; n <= len(hp); n++ {
		if q := hp[:n].String(); !s.required(q) {
			return q
		}
	}
	return h
}

func ruleFreeText(s *state) error {
	const id = "FLX-DP-FREE-TEXT"
	var t taintSet
	for p := range s.redact {
		t.addPersonal(s.docKind, s.doc, p)
	}
	fromCase := false
	if s.docKind != "case" && s.cs != nil && !s.toOrigin() {
		n := len(t.plain) + len(t.names) + len(t.geo) + len(t.dates)
		for _, p := range s.caseWithheld() {
			t.addPersonal("case", s.cs, p)
		}
		fromCase = len(t.plain)+len(t.names)+len(t.geo)+len(t.dates) > n
	}
	if len(t.plain) == 0 && len(t.names) == 0 && len(t.dates) == 0 {
		return nil
	}
	// Walk the strings that would still leave. The pointer of the value
	// being walked is built in one buffer (a string only for a hit). Each
	// object's members are taken as the map gives them, and the hits put
	// in document order afterwards (walkOrder: the order of the fields
	// named in a deny's reason).
	var hits []string
	var path []byte
	var walk func(v any, key string, depth int)
	walk = func(v any, key string, depth int) {
		if s.redact[string(path)] {
			return // withheld already (walking down, ancestors were checked)
		}
		switch x := v.(type) {
		case string:
			// The coarse parts of a place (country, region, town) recur
			// legitimately across people; a copied value shows in the
			// free-form parts and in text. A person's own names share
			// parts with their family's.
			if contains(coarsePlaceParts, key) || (depth == 5 && bytes.HasPrefix(path, []byte("/persons/")) && bytes.Contains(path, []byte("/names/"))) {
				return
			}
			if t.hit(x) {
				hits = append(hits, string(path))
			}
		case map[string]any:
			n := len(path)
			for name, val := range x {
				path = appendToken(append(path, '/'), name)
				walk(val, name, depth+1)
				path = path[:n]
			}
		case []any:
			n := len(path)
			for i, e := range x {
				path = strconv.AppendInt(append(path, '/'), int64(i), 10)
				walk(e, "", depth+1)
				path = path[:n]
			}
		}
	}
	walk(s.doc, "", 0)
	if len(hits) == 0 {
		return nil
	}
	if len(hits) > 1 {
		slices.SortFunc(hits, func(a, b string) int { return walkOrder(s.doc, a, b) })
	}
	// Remove the field each hit belongs to (its taxonomy entry); a hit in
	// a required field denies.
	var ptrs, denied []string
	for _, h := range hits {
		target := s.removable(h)
		if s.keep[target] {
			continue
		}
		if s.required(target) {
			if !contains(denied, target) {
				denied = append(denied, target)
			}
			continue
		}
		if !contains(ptrs, target) {
			ptrs = append(ptrs, target)
		}
	}
	src := "withheld elsewhere in this " + s.what()
	if fromCase {
		src = "withheld from " + dstName(s.dst)
	}
	if len(denied) > 0 {
		s.fire(id, RuleDeny, fmt.Sprintf("The required field %s repeats a value %s (an address, contact detail, name or other protected value): the %s cannot be sent as written.",
			strings.Join(denied, ", "), src, s.what()), nil)
	}
	if len(ptrs) > 0 {
		s.fire(id, RuleRedact, fmt.Sprintf("These fields repeat a value %s (an address, contact detail, name or other protected value): they are removed.", src), ptrs)
	}
	return nil
}

// walkOrder compares two pointers of doc (neither a prefix of the other)
// in document order: a depth-first walk that visits the members of each
// object in name order and the items of each array in index order. The
// parent where they part says which: names compare as strings, indexes
// as numbers (an object's members may be named with digits).
func walkOrder(doc any, a, b string) int {
	pa, errA := parsePointer(a)
	pb, errB := parsePointer(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	cur := doc
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] == pb[i] {
			switch x := cur.(type) {
			case map[string]any:
				cur = x[pa[i]]
			case []any:
				j, _ := arrayIndex(pa[i], len(x))
				cur = x[j]
			}
			continue
		}
		if _, ok := cur.([]any); ok {
			x, _ := atoi(pa[i])
			y, _ := atoi(pb[i])
			return x - y
		}
		return strings.Compare(pa[i], pb[i])
	}
	return len(pa) - len(pb)
}
