package names

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gosimple/unidecode"
)

// A translitTable romanises one script. Input is already case-folded and
// stripped of combining marks (except where a table lists marks: Arabic
// harakat are removed before the table is applied, see prepare). Entries are
// matched longest first at each position; initial entries apply only at the
// start of a word (after a non-letter), afterVowel entries only after a
// vowel of the same script's output.
type translitTable struct {
	script     Script
	letters    map[string]string
	initial    map[string]string
	afterVowel map[string]string
	maxLen     int // longest key, in runes
	// runes holds the entries of one rune of each rune from lo on (the
	// table's block), so that a letter that starts no longer key is
	// looked up without hashing.
	lo    rune
	runes []runeEntry
}

// runeEntry is what a table's maps hold for one rune as a key of its own.
type runeEntry struct {
	letter, initial, afterVowel          string
	hasLetter, hasInitial, hasAfterVowel bool
	// multi marks a rune that starts a key of two runes or more: it is
	// looked up in the maps.
	multi bool
}

// The tables follow the BGN/PCGN romanisations, simplified to ASCII and to
// what name matching needs: diacritics and apostrophes for ejectives or
// emphatics are dropped (Georgian კ and ქ are both k, Arabic ص is s).
var (
	armenian = newTable(ScriptArmenian, map[string]string{
		"ա": "a", "բ": "b", "գ": "g", "դ": "d", "ե": "e", "զ": "z", "է": "e",
		"ը": "e", "թ": "t", "ժ": "zh", "ի": "i", "լ": "l", "խ": "kh", "ծ": "ts",
		"կ": "k", "հ": "h", "ձ": "dz", "ղ": "gh", "ճ": "ch", "մ": "m", "յ": "y",
		"ն": "n", "շ": "sh", "ո": "o", "չ": "ch", "պ": "p", "ջ": "j", "ռ": "r",
		"ս": "s", "վ": "v", "տ": "t", "ր": "r", "ց": "ts", "ւ": "v", "փ": "p",
		"ք": "k", "օ": "o", "ֆ": "f", "և": "ev", "ու": "u",
	}, map[string]string{"ե": "ye", "ո": "vo", "և": "yev", "ու": "u"}, nil)

	cyrillic = newTable(ScriptCyrillic, map[string]string{
		"а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "yo",
		"ж": "zh", "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m",
		"н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
		"ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch",
		"ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
		// Ukrainian, Belarusian, Serbian, Macedonian, Kazakh and others.
		"і": "i", "ї": "yi", "є": "ye", "ґ": "g", "ў": "u", "ђ": "dj",
		"ј": "j", "љ": "lj", "њ": "nj", "ћ": "c", "џ": "dzh", "ѓ": "gj",
		"ќ": "kj", "ѕ": "dz", "ә": "a", "ғ": "gh", "қ": "q", "ң": "ng",
		"ө": "o", "ұ": "u", "ү": "u", "һ": "h", "ӣ": "i", "ӯ": "u", "ҳ": "h",
		"ҷ": "j", "ӏ": "", "ье": "ye", "ъе": "ye",
		// Russian -ий, -ый endings are written -i, -y or -iy.
		"ий": "iy", "ый": "y",
	}, map[string]string{"е": "ye"}, map[string]string{"е": "ye"})

	georgian = newTable(ScriptGeorgian, map[string]string{
		"ა": "a", "ბ": "b", "გ": "g", "დ": "d", "ე": "e", "ვ": "v", "ზ": "z",
		"თ": "t", "ი": "i", "კ": "k", "ლ": "l", "მ": "m", "ნ": "n", "ო": "o",
		"პ": "p", "ჟ": "zh", "რ": "r", "ს": "s", "ტ": "t", "უ": "u", "ფ": "p",
		"ქ": "k", "ღ": "gh", "ყ": "q", "შ": "sh", "ჩ": "ch", "ც": "ts", "ძ": "dz",
		"წ": "ts", "ჭ": "ch", "ხ": "kh", "ჯ": "j", "ჰ": "h",
	}, nil, nil)

	// Arabic script: unvocalised text gives consonants and long vowels (ا و
	// ي); harakat are kept as vowels when present (see prepareArabic). ح
	// and ه are written H inside the package, an h that never joins the
	// letter before it: س then ه is s-h (Suhayl, سهيل), not ش; ك then ح is
	// k-h, not خ. latin lowers it on the way out.
	arabic = newTable(ScriptArabic, map[string]string{
		"ا": "a", "أ": "a", "إ": "i", "آ": "a", "ٱ": "a", "ء": "", "ؤ": "u",
		"ئ": "i", "ب": "b", "ت": "t", "ث": "th", "ج": "j", "ح": "H", "خ": "kh",
		"د": "d", "ذ": "dh", "ر": "r", "ز": "z", "س": "s", "ش": "sh", "ص": "s",
		"ض": "d", "ط": "t", "ظ": "z", "ع": "", "غ": "gh", "ف": "f", "ق": "q",
		"ك": "k", "ل": "l", "م": "m", "ن": "n", "ه": "H", "ة": "a", "و": "u",
		"ى": "a", "ي": "i", "ـ": "",
		// Persian, Urdu and Kurdish letters.
		"پ": "p", "چ": "ch", "ژ": "zh", "گ": "g", "ک": "k", "ی": "i", "ے": "e",
		"ٹ": "t", "ڈ": "d", "ڑ": "r", "ں": "n", "ھ": "h", "ە": "e", "ڤ": "v", "ۋ": "v",
		// Harakat left by prepareArabic.
		"\u064e": "a", "\u0650": "i", "\u064f": "u",
		// Long vowels after a vowel mark are the vowel itself.
		"\u064eا": "a", "\u064fو": "u", "\u0650ي": "i",
		// Diphthongs.
		"\u064eو": "aw", "\u064eي": "ay",
	}, map[string]string{"و": "w", "ي": "y", "ع": "a"}, map[string]string{"و": "w", "ي": "y"})

	greek = newTable(ScriptGreek, map[string]string{
		"α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i",
		"θ": "th", "ι": "i", "κ": "k", "λ": "l", "μ": "m", "ν": "n", "ξ": "x",
		"ο": "o", "π": "p", "ρ": "r", "σ": "s", "ς": "s", "τ": "t", "υ": "y",
		"φ": "f", "χ": "ch", "ψ": "ps", "ω": "o",
		"ου": "ou", "αυ": "av", "ευ": "ev", "γγ": "ng", "γκ": "gk", "γξ": "nx",
		"γχ": "nch", "μπ": "b", "ντ": "nt", "αι": "ai", "ει": "ei", "οι": "oi",
	}, map[string]string{"μπ": "b", "ντ": "d", "γκ": "g"}, nil)
)

// tableOf returns the table of script sc, nil when it has none.
func tableOf(sc Script) *translitTable {
	switch sc {
	case ScriptArmenian:
		return armenian
	case ScriptCyrillic:
		return cyrillic
	case ScriptGeorgian:
		return georgian
	case ScriptArabic:
		return arabic
	case ScriptGreek:
		return greek
	}
	return nil
}

func newTable(s Script, letters, initial, afterVowel map[string]string) *translitTable {
	t := &translitTable{script: s, letters: letters, initial: initial, afterVowel: afterVowel}
	lo, hi := rune(utf8.MaxRune), rune(-1)
	for _, m := range []map[string]string{letters, initial, afterVowel} {
		for k := range m {
			t.maxLen = max(t.maxLen, utf8.RuneCountInString(k))
			r, _ := utf8.DecodeRuneInString(k)
			lo, hi = min(lo, r), max(hi, r)
		}
	}
	if hi < lo {
		return t
	}
	t.lo, t.runes = lo, make([]runeEntry, hi-lo+1)
	for k, v := range letters {
		r, sz := utf8.DecodeRuneInString(k)
		if e := &t.runes[r-lo]; sz == len(k) {
			e.letter, e.hasLetter = v, true
		}
	}
	for k, v := range initial {
		r, sz := utf8.DecodeRuneInString(k)
		if e := &t.runes[r-lo]; sz == len(k) {
			e.initial, e.hasInitial = v, true
		}
	}
	for k, v := range afterVowel {
		r, sz := utf8.DecodeRuneInString(k)
		if e := &t.runes[r-lo]; sz == len(k) {
			e.afterVowel, e.hasAfterVowel = v, true
		}
	}
	for _, m := range []map[string]string{letters, initial, afterVowel} {
		for k := range m {
			if r, sz := utf8.DecodeRuneInString(k); sz < len(k) {
				t.runes[r-lo].multi = true
			}
		}
	}
	return t
}

// lookup finds the longest entry of t matching the start of s, given the
// position's context; n is the number of bytes consumed.
func (t *translitTable) lookup(s string, atStart, afterVowel bool) (out string, n int, ok bool) {
	// A rune of the block that starts no longer key: its own entries, in
	// the order of the maps below.
	if r, sz := utf8.DecodeRuneInString(s); r >= t.lo && int(r-t.lo) < len(t.runes) && r != utf8.RuneError {
		if e := &t.runes[r-t.lo]; !e.multi {
			switch {
			case atStart && e.hasInitial:
				return e.initial, sz, true
			case afterVowel && e.hasAfterVowel:
				return e.afterVowel, sz, true
			case e.hasLetter:
				return e.letter, sz, true
			}
			return "", 0, false
		}
	}
	return t.lookupMaps(s, atStart, afterVowel)
}

// lookupMaps is lookup in the maps, for every rune.
func (t *translitTable) lookupMaps(s string, atStart, afterVowel bool) (out string, n int, ok bool) {
	// Candidate prefixes, longest first.
	var buf [4]int
	ends := buf[:0]
	i := 0
	for r := 0; r < t.maxLen && i < len(s); r++ {
		_, sz := utf8.DecodeRuneInString(s[i:])
		i += sz
		ends = append(ends, i)
	}
	for j := len(ends) - 1; j >= 0; j-- {
		key := s[:ends[j]]
		if atStart {
			if v, ok := t.initial[key]; ok {
				return v, len(key), true
			}
		}
		if afterVowel {
			if v, ok := t.afterVowel[key]; ok {
				return v, len(key), true
			}
		}
		if v, ok := t.letters[key]; ok {
			return v, len(key), true
		}
	}
	return "", 0, false
}

// Latin returns s in lower-case ASCII Latin letters: folded, transliterated
// script by script, and with anything that is not a letter turned into a
// single space. It is the form to keep in a trigram (pg_trgm) column.
func Latin(s string) string { return strings.ToLower(latin(prepare(s))) }

// latin is Latin on a prepared string, with the separate h of Arabic
// script as H (see the Arabic table).
func latin(s string) string {
	if isLowerLetters(s) {
		return s // what the loop below makes of it
	}
	var b strings.Builder
	b.Grow(len(s))
	atStart := true
	afterVowel := false
	space := func() {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), " ") {
			b.WriteByte(' ')
		}
		atStart, afterVowel = true, false
	}
	emit := func(out string) {
		b.WriteString(out)
		if out != "" {
			atStart = false
			afterVowel = strings.IndexByte("aeiou", out[len(out)-1]) >= 0
		}
	}
	for i := 0; i < len(s); {
		r, sz := utf8.DecodeRuneInString(s[i:])
		switch {
		case r < utf8.RuneSelf:
			c := byte(r)
			switch {
			case c >= 'a' && c <= 'z':
				emit(string(c))
			case c == '\'' || c == '`':
				// O'Neil, Ma'mun: apostrophes join.
			default:
				space()
			}
			i += sz
			continue
		case isApostrophe(r):
			i += sz
			continue
		case !unicode.IsLetter(r) && !unicode.IsMark(r):
			space()
			i += sz
			continue
		}
		sc := scriptOf(r)
		if r >= arabicFatha && r <= arabicKasra {
			sc = ScriptArabic // harakat are of the Inherited script
		}
		if t := tableOf(sc); t != nil {
			if out, n, ok := t.lookup(s[i:], atStart, afterVowel); ok {
				emit(out)
				i += n
				continue
			}
			if unicode.IsMark(r) {
				i += sz
				continue
			}
		}
		emit(fallback(r))
		i += sz
	}
	return strings.TrimSpace(b.String())
}

// isLowerLetters reports whether s is ASCII lower-case letters only.
func isLowerLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// fallback romanises a letter of a script without a table of its own (or
// missing from it) with unidecode, keeping ASCII letters only.
func fallback(r rune) string {
	if unicode.IsMark(r) {
		return ""
	}
	u := unidecode.Unidecode(string(r))
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		c := u[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c >= 'a' && c <= 'z' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// isApostrophe reports the apostrophe-like letters and marks that names
// carry for an Arabic ʿayn or hamza, a Georgian or Armenian aspiration, or
// an English elision: they join the letters around them.
func isApostrophe(r rune) bool {
	switch r {
	case '\u2018', '\u2019', '\u02bb', '\u02bc', '\u02bd', '\u02be', '\u02bf', '\u02b9', '\u055a', '\u00b4', '\u2032':
		return true
	}
	return false
}
