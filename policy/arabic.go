package policy

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// Arabic names in FLX-DP-FREE-TEXT. One Arabic name has dozens of Latin
// spellings (Mohammed, Muhammad, Mohamed; Abd al-Rahman, Abdul Rahman,
// Abderrahmane) and Arabic script writes no short vowels, so spellings are
// not enumerated: a withheld person's name, in either script, and the words
// of a text are read as a phonetic key, the consonant skeleton that both
// scripts share, and the text holds the name when a run of its words reads
// as the name's key. The key:
//   - drops vowels and the letters that write long vowels or glides (a e i
//     o u y w; ا و ي ى), hamza and ayn (ء ع, ' ` ʿ ʾ), taa marbuta (ة),
//     tatweel, and a final h after a vowel or a final ه (Fatima, Fatimah,
//     Fatmeh);
//   - drops the article (al-, el-, ul, ad-, ar-..., ال), also inside
//     Abdel-, Abdul-, Abder-rahmane, -eldin;
//   - reads letters that romanisations write differently as one class:
//     th s t (ث س ص ت ط), dh z d (ذ ز د ض ظ), q k g j dj gh (ق ك ج غ), kh h
//     (خ ح ه), sh ch (ش), f v ph (ف), b p (ب);
//   - writes a consonant repeated (doubled, or across a dropped vowel) once.
//
// A name is looked for this way only when its key has at least
// minNameKey classes: shorter keys (Ali, Omar Ali) are too common among
// ordinary words.

// minNameKey is the fewest consonant classes a name's key must have to be
// looked for by its key.
const minNameKey = 5

// nameKeys holds the keys of the withheld names and a text's word keys.
type nameKeys struct {
	buf   []byte // the names' keys (each word order), one after the other
	ends  []int  // where each ends in buf
	words []int  // how many words each name has, and one more (a word written as two): a text's run of words is at most that long (2 at least)
	text  []byte // the word keys of the text being read, one after the other
	tEnds []int
}

// add adds the key of name n (normalised) in each order of its words
// (family name first: each rotation of up to five words).
func (k *nameKeys) add(n string) {
	var wb [64]byte
	var eb [8]int
	words, ends := appendWordKeys(wb[:0], eb[:0], n)
	nw := len(ends)
	rots := nw
	if nw > 5 {
		rots = 1
	}
	for r := 0; r < rots; r++ {
		from := len(k.buf)
		for i := 0; i < nw; i++ {
			j := (i + r) % nw
			ws := 0
			if j > 0 {
				ws = ends[j-1]
			}
			w := words[ws:ends[j]]
			if len(k.buf) > from && k.buf[len(k.buf)-1] == w[0] {
				w = w[1:]
			}
			k.buf = append(k.buf, w...)
		}
		short := len(k.buf)-from < minNameKey
		if short || k.has(k.buf[from:]) {
			k.buf = k.buf[:from]
			if r == 0 && short {
				return // the name as written is too short to look for by its key
			}
			continue
		}
		k.ends = append(k.ends, len(k.buf))
		k.words = append(k.words, max(nw+1, 2)) // a word written as two (Pour-Kazemi)
	}
}

// has reports whether key was added already.
func (k *nameKeys) has(key []byte) bool {
	s := 0
	for _, e := range k.ends {
		if string(k.buf[s:e]) == string(key) {
			return true
		}
		s = e
	}
	return false
}

// hit reports whether normalised text n holds a run of words that reads as
// one of the names' keys.
func (k *nameKeys) hit(n string) bool {
	if len(k.ends) == 0 {
		return false
	}
	k.text, k.tEnds = appendWordKeys(k.text[:0], k.tEnds[:0], n)
	from := 0
	for vi, end := range k.ends {
		key := k.buf[from:end]
		from = end
		for i := range k.tEnds {
			if spanReads(k.text, k.tEnds, i, key, k.words[vi]) {
				return true
			}
		}
	}
	return false
}

// spanReads reports whether the word keys of text from word i on, at most
// span words, read as key (a consonant repeated across words written once).
func spanReads(text []byte, ends []int, i int, key []byte, span int) bool {
	start := 0
	if i > 0 {
		start = ends[i-1]
	}
	if text[start] != key[0] {
		return false
	}
	pos := 0
	var last byte
	for j := i; j < len(ends) && j < i+span; j++ {
		w := text[start:ends[j]]
		start = ends[j]
		if j > i && w[0] == last {
			w = w[1:]
		}
		if len(w) > len(key)-pos || string(key[pos:pos+len(w)]) != string(w) {
			return false
		}
		pos += len(w)
		if len(w) > 0 {
			last = w[len(w)-1]
		}
		if pos == len(key) {
			return true
		}
	}
	return false
}

// appendWordKeys appends to dst the key of each word of normalised text n
// that has one (an article, a word of vowels has none), each ending at the
// offset appended to ends. A word is a run of Latin letters (with
// apostrophes inside), of Arabic letters, of other letters, or of digits.
func appendWordKeys(dst []byte, ends []int, n string) ([]byte, []int) {
	for i := 0; i < len(n); {
		r, size := rune(n[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(n[i:])
		}
		sc := scriptOf(r)
		if sc == scNone {
			i += size
			continue
		}
		j := i + size
		for j < len(n) {
			r2, s2 := rune(n[j]), 1
			if r2 >= utf8.RuneSelf {
				r2, s2 = utf8.DecodeRuneInString(n[j:])
			}
			sc2 := scriptOf(r2)
			if sc2 != sc && !(sc == scLatin && sc2 == scMark) && !(sc == scArabic && sc2 == scMark) {
				break
			}
			j += s2
		}
		start := len(dst)
		switch sc {
		case scLatin:
			dst = appendLatinKey(dst, n[i:j])
		case scArabic:
			dst = appendArabicKey(dst, n[i:j])
		case scDigit:
			// Digits and other scripts' words as written (a number, a
			// Cyrillic name), marked so that they read as no consonant.
			dst = append(append(dst, '#'), n[i:j]...)
		case scMark:
			// modifier letters alone: no word
		default:
			dst = append(append(dst, '?'), n[i:j]...)
		}
		if len(dst) > start {
			ends = append(ends, len(dst))
		}
		i = j
	}
	return dst, ends
}

const (
	scNone = iota
	scLatin
	scArabic
	scDigit
	scMark // apostrophes and modifier letters (ʿ ʾ, tatweel): inside a word
	scOther
)

func scriptOf(r rune) int {
	switch {
	case 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z':
		return scLatin
	case r == '\'' || r == '`' || r == '\u2019' || r == '\u2018':
		return scMark
	case '0' <= r && r <= '9':
		return scDigit
	case r < utf8.RuneSelf:
		return scNone
	case r == '\u0640' || unicode.Is(unicode.Lm, r):
		return scMark
	case unicode.Is(unicode.Arabic, r) && unicode.IsLetter(r):
		return scArabic
	case unicode.IsLetter(r):
		return scOther
	case unicode.IsDigit(r):
		return scDigit
	}
	return scNone
}

// latinArticles are the Arabic article as romanised, alone (al-Karim, ad-Din)
// or a French elision before a name (l', d').
var latinArticles = []string{"al", "el", "ul", "il", "ad", "ed", "ud", "ar", "er", "ur", "as", "es", "us", "at", "et",
	"ut", "an", "en", "un", "az", "ez", "ash", "esh", "ath", "adh", "l", "d"}

func latinVowel(c byte) bool {
	switch c {
	case 'a', 'e', 'i', 'o', 'u', 'y', 'w':
		return true
	}
	return false
}

// appendLatinKey appends the key of Latin word w (lower case; apostrophes
// and modifier letters inside).
func appendLatinKey(dst []byte, w string) []byte {
	var sb [48]byte
	b := sb[:0]
	for i := 0; i < len(w); {
		c := w[i]
		if lowerByte(c) || upperByte(c) {
			b = append(b, c|0x20)
			i++
			continue
		}
		// An apostrophe or modifier letter: after l, d, qu (French
		// elision: l'Ahmed) the word before it goes; an English possessive
		// ('s) at the end goes; inside a name (Ja'far, Saʿid) it is an ayn
		// or a hamza, dropped.
		_, size := utf8.DecodeRuneInString(w[i:])
		i += size
		switch string(b) {
		case "l", "d", "qu":
			b = b[:0]
		}
		if w[i:] == "s" {
			break
		}
	}
	for _, a := range latinArticles {
		if string(b) == a {
			return dst
		}
	}
	// The article joined to a name (Alhassan, Elsayed).
	if len(b) >= 5 && (b[0] == 'a' || b[0] == 'e') && b[1] == 'l' && !latinVowel(b[2]) {
		b = b[2:]
	}
	start := len(dst)
	// Abd and the article joined: Abdelkarim, Abdul, Abdullah, Abderrahmane.
	if len(b) > 4 && b[0] == 'a' && b[1] == 'b' && b[2] == 'd' {
		dst = append(dst, 'b', 'd')
		r := b[3:]
		v := 0
		for v < len(r) && latinVowel(r[v]) {
			v++
		}
		if v > 0 && v < len(r) && r[v] == 'l' {
			r = r[v+1:]
		}
		b = r
	}
	// -eldin, -aldin, -uldin: the article before din.
	if n := len(b); n >= 7 {
		for _, suf := range []string{"eldin", "aldin", "uldin", "eldine", "aldine", "uldine", "eldeen", "aldeen"} {
			if bytes.HasSuffix(b, []byte(suf)) {
				b = append(b[:n-len(suf)+1], b[n-len(suf)+2:]...)
				break
			}
		}
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		var next byte
		if i+1 < len(b) {
			next = b[i+1]
		}
		var k byte
		switch c {
		case 'a', 'e', 'i', 'o', 'u', 'y', 'w':
			continue
		case 's':
			k = 's'
			if next == 'h' {
				k, i = 'x', i+1
			}
		case 'c':
			k = 'k'
			if next == 'h' {
				k, i = 'x', i+1
			} else if next == 'k' {
				i++
			}
		case 'k':
			k = 'k'
			if next == 'h' {
				k, i = 'h', i+1
			}
		case 'g':
			k = 'k'
			if next == 'h' {
				i++
			}
		case 'd':
			k = 'd'
			switch next {
			case 'h':
				i++
			case 'j':
				k, i = 'k', i+1
			}
		case 't':
			k = 's'
			if next == 'h' {
				i++
			}
		case 'z':
			k = 'd'
			if next == 'h' {
				i++
			}
		case 'p':
			k = 'b'
			if next == 'h' {
				k, i = 'f', i+1
			}
		case 'b':
			k = 'b'
		case 'f', 'v':
			k = 'f'
		case 'j', 'q':
			k = 'k'
		case 'x':
			if len(dst) == start || dst[len(dst)-1] != 'k' {
				dst = append(dst, 'k')
			}
			k = 's'
		case 'h':
			if i == len(b)-1 && i > 0 && latinVowel(b[i-1]) {
				continue // Fatimah, Fatmeh
			}
			k = 'h'
		default: // l m n r
			k = c
		}
		if len(dst) == start || dst[len(dst)-1] != k {
			dst = append(dst, k)
		}
	}
	return dst
}

// arabicClass is the key class of each Arabic letter (0: none).
// The letters Persian, Urdu, Pashto and Kurdish add are read as the
// sounds their romanisations write: retroflex ٹ ټ as t, ڈ ډ as d, ڑ ړ ڕ
// as r; ں ڻ ڼ as n, ہ (Urdu's h) as h, ښ as sh, ږ ژ as zh, څ as ts, ځ as
// dz, ګ ڭ ڪ as g or k, ڵ as l. Their vowel letters (ی ے ۍ ې ێ ۆ) are
// dropped as ي and و are; ۀ and ۂ are ە and ہ with a hamza (NFKD).
var arabicClass = map[rune]byte{
	'ب': 'b', 'پ': 'b',
	'ت': 's', 'ط': 's', 'ث': 's', 'س': 's', 'ص': 's', 'ٹ': 's', 'ټ': 's', 'څ': 's',
	'د': 'd', 'ذ': 'd', 'ض': 'd', 'ظ': 'd', 'ز': 'd', 'ژ': 'd', 'ڈ': 'd', 'ډ': 'd', 'ږ': 'd', 'ځ': 'd',
	'ج': 'k', 'ق': 'k', 'ك': 'k', 'ک': 'k', 'گ': 'k', 'غ': 'k', 'ڨ': 'k', 'ګ': 'k', 'ڭ': 'k', 'ڪ': 'k',
	'ح': 'h', 'ه': 'h', 'خ': 'h', 'ھ': 'h', 'ە': 'h', 'ہ': 'h',
	'ش': 'x', 'چ': 'x', 'ښ': 'x',
	'ف': 'f', 'ڤ': 'f',
	'ل': 'l', 'ڵ': 'l', 'م': 'm', 'ن': 'n', 'ں': 'n', 'ڻ': 'n', 'ڼ': 'n', 'ر': 'r', 'ڑ': 'r', 'ړ': 'r', 'ڕ': 'r',
}

// aspirated reports whether ھ after r marks an aspirate that Latin
// letters write as one sound: Urdu دھ ڈھ تھ ٹھ گھ چھ as dh, th, gh, ch
// (Chaudhry, چودھری).
func aspirated(r rune) bool {
	switch r {
	case 'د', 'ڈ', 'ت', 'ٹ', 'ط', 'گ', 'چ':
		return true
	}
	return false
}

// finalH reports whether r, ending a word, is a taa marbuta or a final h
// after a vowel (Arabic ه ة, Urdu ہ ۃ, Persian and Kurdish ە).
func finalH(r rune) bool {
	switch r {
	case 'ه', 'ة', 'ہ', 'ۃ', 'ە':
		return true
	}
	return false
}

// appendArabicKey appends the key of Arabic word w (normalised: harakat
// and the hamza above or below alef already dropped).
func appendArabicKey(dst []byte, w string) []byte {
	var rb [32]rune
	rs := rb[:0]
	for _, r := range w {
		if r != '\u0640' && !unicode.Is(unicode.Lm, r) {
			rs = append(rs, r)
		}
	}
	article := func(s []rune) bool { return len(s) >= 4 && s[0] == 'ا' && s[1] == 'ل' }
	if article(rs) {
		rs = rs[2:]
	}
	start := len(dst)
	// عبد and the article joined (عبدالكريم).
	if len(rs) > 3 && rs[0] == 'ع' && rs[1] == 'ب' && rs[2] == 'د' && article(rs[3:]) {
		dst = append(dst, 'b', 'd')
		rs = rs[5:]
	}
	// The article before دين joined (ناصرالدين).
	if n := len(rs); n > 5 && string(rs[n-5:]) == "الدين" {
		rs = append(rs[:n-5], rs[n-3:]...)
	}
	if n := len(rs); n > 1 && finalH(rs[n-1]) {
		rs = rs[:n-1] // taa marbuta, a final h
	}
	for i, r := range rs {
		k := arabicClass[r]
		if k == 0 || r == 'ھ' && i > 0 && aspirated(rs[i-1]) {
			continue
		}
		if len(dst) == start || dst[len(dst)-1] != k {
			dst = append(dst, k)
		}
	}
	return dst
}
