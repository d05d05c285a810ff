package names

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// KeyVersion identifies the rules that make keys. A store records it with
// its index and rebuilds the index when it changes.
const KeyVersion = 2

// Token is one word of a name, in the forms used to compare it.
type Token struct {
	// Latin is the canonical Latin form: lower-case ASCII letters, articles
	// removed and Abd/Abu compounds joined ("abdrahman").
	Latin string
	// Phonetic is the phonetic form (see phonetic.go): one lower-case
	// letter per sound.
	Phonetic string
	// Skeleton is Phonetic without vowels and h.
	Skeleton string
	// Script is the script the word was written in.
	Script Script
	// Abjad marks a word written without short vowels (Arabic, Hebrew and
	// Syriac script without vowel marks): compare it by its skeleton.
	Abjad bool
	// AltPhonetic and AltSkeleton are a second reading, when the script
	// has a letter that stands for two sounds in names: Russian writes the
	// h of Armenian, Arabic and Caucasian names with г (Магомед,
	// Оганесян), so a Cyrillic г is read as g and, here, as h; an Arabic و
	// is a long u and, here, a w; a French ou before a vowel is a u and,
	// here, a w (Ouahid, Wahid). Empty when there is no second reading.
	AltPhonetic, AltSkeleton string
}

// MaxTokens bounds the tokens Analyze returns for one value: a name value
// is at most 256 characters.
const MaxTokens = 32

// word is one word of the input before particles and compounds.
type word struct {
	latin  string
	alt    string // a second romanisation (Cyrillic г as h), or ""
	orig   string // latin as romanised, before articles and compounds
	script Script
	abjad  bool
	hyphen bool // followed by a hyphen (al-Rashid)
}

// splitWords cuts a prepared string into words and romanises each.
func splitWords(s string) []word {
	// Room for as many words as the string has runs of spaces and
	// hyphens, so that the slice is allocated once (a name value is at
	// most 256 characters).
	words := make([]word, 0, min(1+strings.Count(s, " ")+strings.Count(s, "-"), MaxTokens))
	start := -1
	flush := func(end int, hyphen bool) {
		if start < 0 {
			return
		}
		w := s[start:end]
		start = -1
		sc := DetectScript(w)
		lat := strings.ReplaceAll(latin(w), " ", "")
		if lat == "" {
			return
		}
		abjad := false
		switch sc {
		case ScriptArabic, ScriptHebrew, ScriptSyriac:
			abjad = !strings.ContainsAny(w, "\u064e\u064f\u0650")
		}
		alt := ""
		switch {
		case sc == ScriptCyrillic && strings.ContainsRune(w, 'г'):
			alt = strings.ReplaceAll(latin(strings.ReplaceAll(w, "г", "һ")), " ", "")
		case abjad && strings.ContainsRune(w, 'و'):
			// و is a consonant (w) or a long vowel (u): read it both ways.
			alt = strings.ReplaceAll(latin(strings.ReplaceAll(w, "و", "ۋ")), " ", "")
		case sc == ScriptLatin:
			alt = frenchW(lat)
		}
		words = append(words, word{latin: lat, orig: lat, alt: alt, script: sc, abjad: abjad, hyphen: hyphen})
	}
	for i := 0; i < len(s); {
		r, sz := utf8.DecodeRuneInString(s[i:])
		if unicode.IsLetter(r) || unicode.IsMark(r) || r == '\'' || r == '`' || isApostrophe(r) {
			if start < 0 {
				start = i
			}
		} else {
			flush(i, r == '-' || r == '\u2010' || r == '\u2011')
		}
		i += sz
	}
	flush(len(s), false)
	return words
}

// frenchW reads the French spelling of a w (Ouahid for Wahid, Ouaouil for
// Wawil): an ou before a vowel at a word's start, or before a vowel other
// than o and u after one (Khououimah, Khuwimah). It returns "" when the
// word has no such ou; the reading is a second one (Mouad is Mu'adh).
func frenchW(s string) string {
	frenchOu := func(i int) bool {
		return s[i] == 'o' && i+2 < len(s) && s[i+1] == 'u' && isLatinVowel(s[i+2]) &&
			(i == 0 || i > 0 && isLatinVowel(s[i-1]) && s[i+2] != 'o' && s[i+2] != 'u')
	}
	// Most words have none: found before anything is built.
	first := -1
	for i := 0; i < len(s); i++ {
		if frenchOu(i) {
			first = i
			break
		}
	}
	if first < 0 {
		return ""
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:first]...)
	for i := first; i < len(s); i++ {
		if frenchOu(i) {
			b = append(b, 'w')
			i++
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// Arabic articles written as a word of their own or before a hyphen, and
// the sun-letter forms (ar-Rashid, as-Sayyid, ash-Shami, ad-Din).
var (
	articles  = map[string]bool{"al": true, "el": true, "ul": true, "il": true, "ol": true}
	sunLetter = map[string]bool{
		"ar": true, "as": true, "ash": true, "ad": true, "at": true, "az": true, "an": true,
		"ath": true, "adh": true, "er": true, "es": true, "esh": true, "ed": true, "et": true,
		"ez": true, "en": true, "ur": true, "us": true, "ush": true, "ud": true, "ut": true,
		"uz": true, "un": true,
	}
	// Patronymic particles between two names (Ahmad bin Salim).
	particles = map[string]bool{"bin": true, "ibn": true, "ben": true, "bint": true, "binti": true, "bn": true, "ould": true}
	// abdForms are Abd (servant of) as written before the rest of the
	// compound.
	abdForms = map[string]bool{
		"abd": true, "abdu": true, "abdul": true, "abdel": true, "abdal": true, "abdol": true,
		"abdoul": true, "abdil": true, "abdula": true, "abdulla": true, "abdel'": true,
	}
	abuForms = map[string]bool{"abu": true, "abou": true, "abo": true, "aboo": true, "abul": true, "abol": true}
)

// stripArticle removes an article glued to a word (alrashid from Arabic
// script, al'aziz) when enough is left.
func stripArticle(s string) string {
	for _, a := range []string{"al", "el", "ul"} {
		if rest, ok := strings.CutPrefix(s, a); ok && len(rest) >= 2 {
			return rest
		}
	}
	return s
}

// splitAbd splits a one-word Abd compound (abdurrahman, abdelaziz,
// abdallah) into "abd" and the rest ("rahman", "aziz", "lah"); ok is false
// for a word that is not one (abdi, abdo).
func splitAbd(s string) (rest string, ok bool) {
	r, found := strings.CutPrefix(s, "abd")
	if !found || len(r) < 3 {
		return "", false
	}
	// The linking vowel: abdUrrahman, abdElaziz, abdOUlaye.
	i := 0
	for i < len(r) && i < 2 && strings.IndexByte("aeiou", r[i]) >= 0 {
		i++
	}
	if i == 0 {
		return r, true // abdrahman
	}
	r = r[i:]
	switch {
	case len(r) >= 3 && r[0] == 'l':
		return r[1:], true // abdeLaziz, abduLlah -> lah
	case len(r) >= 3 && r[0] == r[1] && !isLatinVowel(r[0]):
		return r[1:], true // abduRRahman
	case len(r) >= 3:
		return r, true
	}
	return "", false
}

// Analyze cuts a name value into tokens and computes their forms. Parts of
// one value keep their order; articles and particles are dropped, Abd and
// Abu compounds joined, one-letter tokens (initials) dropped.
func Analyze(value string) []Token {
	words := splitWords(prepare(value))
	// Articles and particles, dropped in place: each word is read before
	// its slot is written again (kept is never longer than the words read),
	// and words[i+1] is not yet.
	kept := words[:0]
	for i, w := range words {
		hasNext := i+1 < len(words)
		switch {
		case hasNext && articles[w.latin]:
			continue
		case hasNext && w.hyphen && sunLetter[w.latin] && strings.HasPrefix(words[i+1].latin, w.latin[len(w.latin)-1:]):
			continue
		case hasNext && i > 0 && particles[w.latin]:
			continue
		}
		if w.script == ScriptArabic && strings.HasPrefix(w.latin, "al") && len(w.latin) >= 4 {
			w.latin = w.latin[2:]
		}
		kept = append(kept, w)
	}
	// Compounds.
	out := make([]Token, 0, min(len(kept), MaxTokens))
	for i := 0; i < len(kept) && len(out) < MaxTokens; i++ {
		w := kept[i]
		switch {
		case (abdForms[w.latin] || abuForms[w.latin]) && i+1 < len(kept):
			head := "abd"
			if abuForms[w.latin] {
				head = "abu"
			}
			next := kept[i+1]
			w.latin = head + stripArticle(next.latin)
			w.abjad = w.abjad && next.abjad
			i++
		default:
			if rest, ok := splitAbd(w.latin); ok {
				w.latin = "abd" + rest
			} else if rest, ok := strings.CutPrefix(w.latin, "abou"); ok && len(rest) >= 3 {
				w.latin = "abu" + stripArticle(rest)
			} else if rest, ok := strings.CutPrefix(w.latin, "abul"); ok && len(rest) >= 3 {
				w.latin = "abu" + rest
			}
		}
		if len(w.latin) < 2 {
			continue
		}
		ph := phonetic(w.latin, w.abjad)
		t := Token{Latin: strings.ToLower(w.latin), Phonetic: ph, Skeleton: skeleton(ph), Script: w.script, Abjad: w.abjad}
		if w.alt != "" && w.latin == w.orig && w.alt != w.latin {
			if alt := phonetic(w.alt, w.abjad); alt != ph {
				t.AltPhonetic, t.AltSkeleton = alt, skeleton(alt)
			}
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil // as before out was made ahead
	}
	return out
}

// Memo analyses each distinct name value once, so that what reads the
// names of one case several times (its search keys, its preparation for
// matching) analyses them once. A nil *Memo analyses every time. A Memo is
// not safe for concurrent use; the tokens it returns are shared and must
// not be changed.
type Memo struct{ m map[string][]Token }

// Analyze is [Analyze], once per distinct value.
func (m *Memo) Analyze(value string) []Token {
	if m == nil {
		return Analyze(value)
	}
	if t, ok := m.m[value]; ok {
		return t
	}
	if m.m == nil {
		m.m = map[string][]Token{}
	}
	t := Analyze(value)
	m.m[value] = t
	return t
}

// SearchKeys returns the keys to index for one name value, sorted and
// without duplicates (see the package documentation for their form).
func SearchKeys(value string) []string { return KeysOf(Analyze(value)) }

// KeysOf is [SearchKeys] of a value whose tokens [Analyze] returned.
func KeysOf(tokens []Token) []string {
	seen := map[string]bool{}
	for _, t := range tokens {
		for _, k := range tokenKeys(t) {
			seen[k] = true
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// tokenKeys are the keys of one token. A skeleton of one letter (Ali: l)
// says too little to be a key of its own.
func tokenKeys(t Token) []string {
	keys := make([]string, 0, 5)
	eachTokenKey(t, func(prefix, form string) { keys = append(keys, prefix+form) })
	return keys
}

// EachKey calls f with each key of tokens, as a prefix and a form (the key
// is prefix+form), in the order [KeysOf] makes them, repeats included:
// for a caller that builds keys in a buffer of its own.
func EachKey(tokens []Token, f func(prefix, form string)) {
	for _, t := range tokens {
		eachTokenKey(t, f)
	}
}

// eachTokenKey calls f with each key of tokenKeys(t).
func eachTokenKey(t Token, f func(prefix, form string)) {
	f("t_", t.Latin)
	f("p_", t.Phonetic)
	if len(t.Skeleton) >= 2 {
		f("s_", t.Skeleton)
	}
	if t.AltPhonetic != "" {
		f("p_", t.AltPhonetic)
		if len(t.AltSkeleton) >= 2 {
			f("s_", t.AltSkeleton)
		}
	}
}

// QueryTerms returns one group of keys per token of a query: a record
// matches when it holds at least one key of every group.
func QueryTerms(query string) [][]string {
	var groups [][]string
	for _, t := range Analyze(query) {
		groups = append(groups, tokenKeys(t))
	}
	return groups
}

// QueryKeys returns the keys of every token of a query, sorted and without
// duplicates: for an OR search ranked by the number of keys a record holds.
func QueryKeys(query string) []string { return SearchKeys(query) }
