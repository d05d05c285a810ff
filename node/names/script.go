package names

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Script is an ISO 15924 script code.
type Script string

// Scripts the package detects. Armenian, Cyrillic, Georgian, Arabic and
// Greek have transliteration tables of their own; the others are
// romanised by the unidecode fallback.
const (
	ScriptLatin      Script = "Latn"
	ScriptCyrillic   Script = "Cyrl"
	ScriptArmenian   Script = "Armn"
	ScriptGeorgian   Script = "Geor"
	ScriptArabic     Script = "Arab"
	ScriptGreek      Script = "Grek"
	ScriptHebrew     Script = "Hebr"
	ScriptSyriac     Script = "Syrc"
	ScriptDevanagari Script = "Deva"
	ScriptBengali    Script = "Beng"
	ScriptEthiopic   Script = "Ethi"
	ScriptThai       Script = "Thai"
	ScriptHan        Script = "Hani"
	ScriptHangul     Script = "Hang"
	ScriptKana       Script = "Hrkt"
	ScriptTamil      Script = "Taml"
	// ScriptCommon is what a string without letters gets.
	ScriptCommon Script = "Zyyy"
	// ScriptUnknown is a script the package does not name.
	ScriptUnknown Script = "Zzzz"
)

var scriptRanges = []struct {
	s Script
	t *unicode.RangeTable
}{
	{ScriptLatin, unicode.Latin},
	{ScriptCyrillic, unicode.Cyrillic},
	{ScriptArabic, unicode.Arabic},
	{ScriptArmenian, unicode.Armenian},
	{ScriptGeorgian, unicode.Georgian},
	{ScriptGreek, unicode.Greek},
	{ScriptHebrew, unicode.Hebrew},
	{ScriptSyriac, unicode.Syriac},
	{ScriptDevanagari, unicode.Devanagari},
	{ScriptBengali, unicode.Bengali},
	{ScriptEthiopic, unicode.Ethiopic},
	{ScriptThai, unicode.Thai},
	{ScriptHan, unicode.Han},
	{ScriptHangul, unicode.Hangul},
	{ScriptKana, unicode.Hiragana},
	{ScriptKana, unicode.Katakana},
	{ScriptTamil, unicode.Tamil},
}

// scriptOf returns the script of one rune; ScriptCommon for a non-letter.
func scriptOf(r rune) Script {
	if r < 0x80 {
		if ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') {
			return ScriptLatin
		}
		return ScriptCommon
	}
	if r < tableRunes {
		return runeScripts[r]
	}
	return scriptOfRanges(r)
}

// scriptOfRanges is scriptOf by the Unicode tables.
func scriptOfRanges(r rune) Script {
	for _, sr := range scriptRanges {
		if unicode.Is(sr.t, r) {
			return sr.s
		}
	}
	if unicode.IsLetter(r) {
		return ScriptUnknown
	}
	return ScriptCommon
}

// runeScripts holds scriptOf of each rune below tableRunes (Latin,
// Greek, Cyrillic), which names are mostly written in: one read instead
// of a search of the Latin and Cyrillic tables per letter.
var runeScripts = func() (t [tableRunes]Script) {
	for r := range rune(tableRunes) {
		t[r] = scriptOfRanges(r)
	}
	return t
}()

// DetectScript returns the script most of the letters of s are written in
// (the first in scriptRanges' order on a tie), ScriptCommon when s has no
// letter.
func DetectScript(s string) Script {
	// The scripts seen, with their counts: a word has one or two.
	type count struct {
		s Script
		n int
	}
	var buf [4]count
	counts := buf[:0]
	for _, r := range s {
		sc := scriptOf(r)
		if sc == ScriptCommon {
			continue
		}
		found := false
		for i := range counts {
			if counts[i].s == sc {
				counts[i].n++
				found = true
				break
			}
		}
		if !found {
			counts = append(counts, count{sc, 1})
		}
	}
	of := func(sc Script) int {
		for _, c := range counts {
			if c.s == sc {
				return c.n
			}
		}
		return 0
	}
	if len(counts) == 1 {
		// Alone: the best, as the loop below finds it.
		return counts[0].s
	}
	best, n := ScriptCommon, 0
	for _, sr := range scriptRanges {
		if c := of(sr.s); c > n {
			best, n = sr.s, c
		}
	}
	if c := of(ScriptUnknown); c > n {
		best = ScriptUnknown
	}
	return best
}

var folder = cases.Fold()

// Arabic marks with a meaning for names.
const (
	arabicFatha   = '\u064e'
	arabicDamma   = '\u064f'
	arabicKasra   = '\u0650'
	arabicShadda  = '\u0651'
	arabicDagger  = '\u0670' // superscript alef: a long a
	maxInputRunes = 1024
)

// latinLetters are Latin letters whose marks make another sound: they
// become the digraphs the phonetic rules know before marks are removed.
var latinLetters = map[rune]string{
	'ž': "zh", 'š': "sh", 'č': "ch", 'ć': "ch", 'ş': "sh", 'ș': "sh", 'ç': "ch",
	'ğ': "gh", 'đ': "dj", 'ţ': "ts", 'ț': "ts", 'ŝ': "sh", 'ĉ': "ch", 'ĝ': "g", 'ĵ': "j",
	'ẖ': "kh", 'ḫ': "kh",
}

// asciiFolded returns ASCII s case-folded, which is what prepare makes of
// it (NFKC leaves ASCII as it is, and full case folding of ASCII is
// lower-casing); ok is false for s with any other byte.
func asciiFolded(s string) (string, bool) {
	upper := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf {
			return "", false
		} else if c >= 'A' && c <= 'Z' {
			upper = true
		}
	}
	if !upper {
		return s, true
	}
	return strings.ToLower(s), true
}

// prepare normalises s for transliteration: NFKC, full case folding, Latin
// and Greek letters decomposed with their marks removed (but for
// latinLetters), an Arabic shadda turned into a doubled letter and every
// Arabic mark but the three short vowels removed. Input longer than
// maxInputRunes runes is cut there (a name value is at most 256
// characters in schema v1).
func prepare(s string) string {
	if len(s) > maxInputRunes && utf8.RuneCountInString(s) > maxInputRunes {
		n := 0
		for i := range s {
			if n == maxInputRunes {
				s = s[:i]
				break
			}
			n++
		}
	}
	if lower, ok := asciiFolded(s); ok {
		return lower // as the long way makes it, without x/text's allocations
	}
	if p, ok := preparedTable(s); ok {
		return p
	}
	return prepareFolded(folder.String(norm.NFKC.String(s)))
}

// tableRunes bounds the runes preparedTable takes: Latin-1, Latin
// Extended-A and -B, IPA, Greek and Cyrillic (with its supplement).
const tableRunes = 0x530

// preparedRunes holds, for each rune below tableRunes, what the long way
// (NFKC, case folding, prepareFolded) makes of it alone.
var preparedRunes = func() (t [tableRunes]string) {
	for r := range rune(tableRunes) {
		if utf8.ValidRune(r) {
			t[r] = prepareFolded(folder.String(norm.NFKC.String(string(r))))
		}
	}
	return t
}()

// preparedTable is prepare for s that NFKC leaves as it is and whose runes
// are all below tableRunes (a name written in Latin, Greek or Cyrillic
// letters), without x/text's transformers and their allocations: case
// folding maps each rune on its own, and prepareFolded does too for
// runes that are not Arabic, so the long way is the runes' entries
// joined (FuzzPrepareTable checks it). ok is false for any other s.
func preparedTable(s string) (string, bool) {
	n := 0
	for _, r := range s {
		if r >= tableRunes {
			return "", false
		}
		n += len(preparedRunes[r])
	}
	if !norm.NFKC.IsNormalString(s) {
		return "", false
	}
	var b strings.Builder
	b.Grow(n)
	for _, r := range s {
		b.WriteString(preparedRunes[r])
	}
	return b.String(), true
}

// prepareFolded is prepare after NFKC and case folding.
func prepareFolded(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, sz := utf8.DecodeRuneInString(s[i:])
		i += sz
		switch {
		case r < 0x80:
			b.WriteRune(r)
		case r == arabicDagger:
			b.WriteRune('ا')
		case unicode.IsMark(r):
			// A mark without a base letter, or one the cases below did not
			// take.
		case scriptOf(r) == ScriptArabic:
			// The letter, doubled by a shadda, then its short vowel.
			var vowel rune
			shadda := false
			for i < len(s) {
				m, msz := utf8.DecodeRuneInString(s[i:])
				if !unicode.IsMark(m) || m == arabicDagger {
					break
				}
				switch m {
				case arabicShadda:
					shadda = true
				case arabicFatha, arabicDamma, arabicKasra:
					vowel = m
				}
				i += msz
			}
			b.WriteRune(r)
			if shadda {
				b.WriteRune(r)
			}
			if vowel != 0 {
				b.WriteRune(vowel)
			}
		default:
			if d, ok := latinLetters[r]; ok {
				b.WriteString(d)
				continue
			}
			switch scriptOf(r) {
			case ScriptLatin, ScriptGreek, ScriptCommon, ScriptUnknown:
				var in, out [utf8.UTFMax * 4]byte
				for _, d := range string(norm.NFD.Append(out[:0], utf8.AppendRune(in[:0], r)...)) {
					if !unicode.IsMark(d) {
						b.WriteRune(d)
					}
				}
			default:
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}
