package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// What FLX-DP-FREE-TEXT reads beyond the escapes of hit: text that a mail
// client, a debugger or a hex dump wrote (quoted-printable, hex, base32),
// and the other ways a person writes a name: Latin letters that have no
// decomposition folded to ASCII (ł, ø, ß), German and Nordic spellings
// (ü as ue, å as aa), Cyrillic and Greek names in Latin letters, names
// written family name first, and a person's given and family names (each
// in a field of its own) written together.

// latinFold holds the lower-case Latin letters that NFKD leaves whole,
// written as the ASCII letters that a keyboard without them types.
var latinFold = map[rune]string{
	'ł': "l", 'ø': "o", 'đ': "d", 'ı': "i", 'ħ': "h", 'ŧ': "t", 'ß': "ss", 'æ': "ae", 'œ': "oe", 'þ': "th",
	'ð': "d", 'ŋ': "n", 'ĸ': "k", 'ɨ': "i", 'ƚ': "l", 'ɍ': "r", 'ƀ': "b", 'ǥ': "g", 'ɇ': "e",
}

// altVowels and altConsonants are the other common ASCII spellings of
// letters: German umlauts and Nordic vowels; the Serbo-Croatian đ and
// Icelandic ð. Either, or both, may be spelled out.
var (
	altVowels     = strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ø", "oe", "å", "aa")
	altConsonants = strings.NewReplacer("đ", "dj", "ð", "dh")
)

// cyrillicForms write Cyrillic in Latin letters: the BGN/PCGN romanisation
// (Russian and Ukrainian letters), ICAO 9303 (passports) and the
// Ukrainian national one (г as h, и as y).
var cyrillicForms = []map[rune]string{
	cyrBase(nil),
	cyrBase(map[rune]string{'й': "i", 'ю': "iu", 'я': "ia", 'ъ': "ie", 'ї': "i", 'є': "ie", 'ц': "ts"}),
	cyrBase(map[rune]string{'г': "h", 'и': "y", 'ї': "i", 'є': "ie", 'ґ': "g", 'й': "i"}),
}

func cyrBase(over map[rune]string) map[rune]string {
	m := map[rune]string{
		'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d", 'е': "e", 'ё': "e", 'ж': "zh", 'з': "z", 'и': "i",
		'й': "y", 'к': "k", 'л': "l", 'м': "m", 'н': "n", 'о': "o", 'п': "p", 'р': "r", 'с': "s", 'т': "t",
		'у': "u", 'ф': "f", 'х': "kh", 'ц': "ts", 'ч': "ch", 'ш': "sh", 'щ': "shch", 'ъ': "", 'ы': "y", 'ь': "",
		'э': "e", 'ю': "yu", 'я': "ya", 'і': "i", 'ї': "yi", 'є': "ye", 'ґ': "g", 'ў': "u", 'ј': "j", 'љ': "lj",
		'њ': "nj", 'ћ': "c", 'џ': "dz", 'ђ': "dj", 'ѓ': "g", 'ќ': "k", 'ѕ': "dz", 'ә': "a", 'ө': "o", 'ү': "u",
		'қ': "q", 'ғ': "gh", 'ң': "ng", 'һ': "h",
	}
	for k, v := range over {
		m[k] = v
	}
	return m
}

// greekDigraphs and greekLetters write Greek in Latin letters (ELOT 743).
var (
	greekDigraphs = strings.NewReplacer("ου", "ou", "αυ", "av", "ευ", "ev", "γγ", "ng", "γκ", "gk", "μπ", "mp", "ντ", "nt")
	greekLetters  = map[rune]string{
		'α': "a", 'β': "v", 'γ': "g", 'δ': "d", 'ε': "e", 'ζ': "z", 'η': "i", 'θ': "th", 'ι': "i", 'κ': "k",
		'λ': "l", 'μ': "m", 'ν': "n", 'ξ': "x", 'ο': "o", 'π': "p", 'ρ': "r", 'σ': "s", 'ς': "s", 'τ': "t",
		'υ': "y", 'φ': "f", 'χ': "ch", 'ψ': "ps", 'ω': "o",
	}
)

// spellings returns the other ways v is written in ASCII letters (none
// for most values): its letters spelled out (ü as ue), and a Cyrillic or
// Greek value romanised.
func spellings(v string) []string {
	ascii := true
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return nil
	}
	// Composed and lower case, accents kept: й and ё are letters of their
	// own, and the Greek digraphs are read without their accents.
	low := strings.ToLower(norm.NFC.String(v))
	var out []string
	v1 := altVowels.Replace(low)
	c1 := altConsonants.Replace(low)
	if v1 != low {
		out = append(out, v1)
	}
	if c1 != low {
		out = append(out, c1)
		if v1 != low {
			out = append(out, altConsonants.Replace(v1))
		}
	}
	var cyr, grk bool
	for _, r := range low {
		cyr = cyr || unicode.Is(unicode.Cyrillic, r)
		grk = grk || unicode.Is(unicode.Greek, r)
	}
	if cyr {
		for _, m := range cyrillicForms {
			out = append(out, romanise(low, m))
		}
	}
	if grk {
		bare := norm.NFC.String(stripMarks(low))
		out = append(out, romanise(greekDigraphs.Replace(bare), greekLetters))
	}
	return out
}

// romanise writes each rune of s that m maps as m says, the rest as is.
func romanise(s string, m map[rune]string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if l, ok := m[r]; ok {
			b.WriteString(l)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// stripMarks returns s decomposed without its combining marks.
func stripMarks(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// nameOrders returns the other orders in which the words of a name are
// written (normalised n): family name first ("sampleyan karo"), with a
// comma ("sampleyan, karo"), and each rotation of a longer name.
func nameOrders(n string) []string {
	if a, b, ok := strings.Cut(n, " "); ok && strings.IndexByte(b, ' ') < 0 {
		return []string{b + " " + a, b + ", " + a} // two words: most names
	}
	w := strings.Fields(n)
	if len(w) < 2 || len(w) > 5 {
		return nil
	}
	var out []string
	for i := 1; i < len(w); i++ {
		rot := append(append([]string{}, w[i:]...), w[:i]...)
		out = append(out, strings.Join(rot, " "))
		if i == len(w)-1 {
			out = append(out, w[i]+", "+strings.Join(w[:i], " "))
		}
	}
	return out
}

// hasWord reports whether s holds w starting and ending at word
// boundaries (neither letter nor digit next to it).
func hasWord(s, w string) bool {
	for off := 0; ; {
		i := strings.Index(s[off:], w)
		if i < 0 {
			return false
		}
		i += off
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[i+len(w):])
		if (i == 0 || !wordRune(before)) && (i+len(w) == len(s) || !wordRune(after)) {
			return true
		}
		off = i + 1
	}
}

func wordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// qpDecoded decodes quoted-printable: =XX escapes, and soft line breaks
// (= at the end of a line) removed. ok is false when s holds neither.
func qpDecoded(s string) (string, bool) {
	i := strings.IndexByte(s, '=')
	if i < 0 {
		return "", false
	}
	found := false
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c != '=' {
			b = append(b, c)
			continue
		}
		switch {
		case i+2 < len(s) && hexByte(s[i+1]) && hexByte(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			found = true
		case strings.HasPrefix(s[i+1:], "\r\n"):
			i += 2
			found = true
		case strings.HasPrefix(s[i+1:], "\n"):
			i++
			found = true
		default:
			b = append(b, c)
		}
	}
	return string(b), found
}

// minDecoded is the fewest bytes a hex or base32 run must decode to for
// it to be read: a withheld value is at least 4 characters long.
const minDecoded = 4

// hexDecoded appends to dst the bytes of the runs of hexadecimal digits
// in s, each run after a space: digits written together ("4b61"), or
// pairs with one separator between them (space, colon, hyphen, comma: a
// hex dump; "2026-11-02" is not one), or each pair behind \x or 0x. A run
// of an odd number of digits is read from its second digit too. ok is
// false when s holds no run of 2*minDecoded digits or more (most text).
func hexDecoded(dst []byte, s string) ([]byte, bool) {
	n0 := len(dst)
	for i := 0; i < len(s); {
		if !hexByte(s[i]) && !hexPrefixAt(s, i) {
			i++
			continue
		}
		p := len(dst)
		var end int
		dst, end = hexRun(dst, s, i)
		if digits := len(dst) - p; digits >= 2*minDecoded {
			// Decoded after the digits at both alignments, then moved
			// over them.
			for start := 0; start < 2; start++ {
				dst = append(dst, ' ')
				for k := p + start; k+1 < p+digits; k += 2 {
					dst = append(dst, unhex(dst[k])<<4|unhex(dst[k+1]))
				}
			}
			dst = dst[:p+copy(dst[p:], dst[p+digits:])]
		} else {
			dst = dst[:p]
		}
		i = max(end, i+1)
	}
	return dst, len(dst) > n0
}

// hexRun appends to dst the hexadecimal digits of the run that starts at
// i (groups of digits, each behind an optional \x or 0x; groups of two
// with one separator between them), and returns where the run ends.
func hexRun(dst []byte, s string, i int) ([]byte, int) {
	j := i
	for j < len(s) {
		k := j
		if hexPrefixAt(s, k) {
			k += 2
		}
		m := k
		for m < len(s) && hexByte(s[m]) {
			m++
		}
		if m == k {
			break
		}
		dst = append(dst, s[k:m]...)
		j = m
		if m-k == 2 && j+1 < len(s) && strings.IndexByte(" :-,", s[j]) >= 0 && (hexByte(s[j+1]) || hexPrefixAt(s, j+1)) {
			j++
		} else if !hexPrefixAt(s, j) {
			break
		}
	}
	return dst, j
}

func hexPrefixAt(s string, i int) bool {
	return i+2 < len(s) && (s[i] == '\\' && s[i+1] == 'x' || s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X')) && hexByte(s[i+2])
}

// base32Decoded returns the bytes of the runs of base32 in s (RFC 4648's
// alphabet or its extended-hex one, upper or lower case, padded or not),
// each run read from its start and written after a space. ok is false
// when s holds no run that may hold a withheld value.
func base32Decoded(out []byte, s string) ([]byte, bool) {
	n0 := len(out)
	for _, hexAlpha := range []bool{false, true} {
		for i := 0; i < len(s); {
			j, upper, lower, digit := i, false, false, false
			for j < len(s) {
				if _, ok := base32Value(s[j], hexAlpha); !ok {
					break
				}
				upper = upper || 'A' <= s[j] && s[j] <= 'Z'
				lower = lower || 'a' <= s[j] && s[j] <= 'z'
				digit = digit || '0' <= s[j] && s[j] <= '9'
				j++
			}
			// A run of one case, long enough for a withheld value; a
			// shorter one than a long word only with a digit or padding
			// (words of text are not decoded).
			long := j-i >= 16 || (digit || j < len(s) && s[j] == '=') && (j-i)*5/8 >= minDecoded
			if long && !(upper && lower) {
				out = append(out, ' ')
				var acc uint
				bits := 0
				for k := i; k < j; k++ {
					v, _ := base32Value(s[k], hexAlpha)
					acc = acc<<5 | uint(v)
					bits += 5
					if bits >= 8 {
						bits -= 8
						out = append(out, byte(acc>>bits))
						acc &= 1<<bits - 1
					}
				}
			}
			if j == i {
				j++
			}
			i = j
		}
	}
	return out, len(out) > n0
}

// base32Value is the value of the base32 digit c, either case.
func base32Value(c byte, hexAlpha bool) (byte, bool) {
	if 'a' <= c && c <= 'z' {
		c -= 'a' - 'A'
	}
	if hexAlpha {
		switch {
		case '0' <= c && c <= '9':
			return c - '0', true
		case 'A' <= c && c <= 'V':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A', true
	case '2' <= c && c <= '7':
		return c - '2' + 26, true
	}
	return 0, false
}
