package names

import "strings"

// The phonetic form of a token is a string of one ASCII letter per sound,
// written from its canonical Latin form by the rules below, longest match
// first. Transliteration schemes disagree mostly on vowels, on how to write
// one sound with two Latin letters, and on a few sounds that languages
// merge; the codes fold those differences:
//
//	a  a e            (and ye at a word's start: Yevgeni, Evgeni)
//	i  i y ee         (Ali, Aly; Alexey, Aleksei)
//	u  o u ou oo      (Yusuf, Youssef; Mahmoud, Mahmud; Davoud, Davud)
//	k  k q c ck       (Qasim, Kasim; Kamal, Camal)
//	g  g gh           (Armenian գ and ղ; Arabic غ)
//	j  j dj dzh       (Jamal, Djamal, Dzhamal)
//	x  kh             (Khalid, Chalid is q: see ch)
//	q  ch tch tsch    (Chaker keeps q; a French sh is not told apart)
//	w  sh sch shch    (Shakir, Schakir; Щ)
//	y  zh             (Zhanna, Žana)
//	c  ts tz          (Tsovinar, Tzovinar; Georgian ც and წ)
//	v  v w            (Vardan, Wardan)
//	t  t th           (Uthman, Utman)
//	d  d dh           (Arabic ذ)
//	f  f ph
//	s  s, and c before e i y
//	h  h, dropped at the end of a word (Fatimah, Fatima; Abdullah, عبد الله)
//	   and, but in an abjad word, after a consonant it does not combine with
//
// Repeated codes collapse (Mohammed, Mohamed). The skeleton is the phonetic
// form without vowels, with x folded into h and q into w (skeletonCode),
// repeated codes collapsed again.
type phonRule struct {
	in, out string
}

// phonRules are ordered by the scanner, longest input first; see code.
var phonRules = []phonRule{
	{"tsch", "q"}, {"shch", "w"}, {"dzh", "j"}, {"tch", "q"}, {"sch", "w"},
	{"kh", "x"}, {"gh", "g"}, {"ch", "q"}, {"sh", "w"}, {"zh", "y"}, {"dj", "j"},
	{"ts", "c"}, {"tz", "c"}, {"th", "t"}, {"dh", "d"}, {"ph", "f"}, {"ck", "k"},
	{"ou", "u"}, {"oo", "u"}, {"ee", "i"},
	{"a", "a"}, {"e", "a"}, {"i", "i"}, {"y", "i"}, {"o", "u"}, {"u", "u"},
	{"b", "b"}, {"d", "d"}, {"f", "f"}, {"g", "g"}, {"h", "h"}, {"j", "j"},
	{"k", "k"}, {"l", "l"}, {"m", "m"}, {"n", "n"}, {"p", "p"}, {"q", "k"},
	// H is an Arabic ح or ه: an h that never joins the letter before it.
	{"H", "h"},
	{"r", "r"}, {"s", "s"}, {"t", "t"}, {"v", "v"}, {"w", "v"}, {"x", "ks"}, {"c", "k"},
	{"z", "z"},
}

// phonIndex holds the rules by their first letter, longest first for each
// (an array rather than a map: it is read for every letter of every name).
var phonIndex = func() (m [256][]phonRule) {
	for _, r := range phonRules {
		m[r.in[0]] = append(m[r.in[0]], r)
	}
	// Longest first for each starting letter.
	for k, rs := range m {
		for i := 1; i < len(rs); i++ {
			for j := i; j > 0 && len(rs[j].in) > len(rs[j-1].in); j-- {
				rs[j], rs[j-1] = rs[j-1], rs[j]
			}
		}
		m[k] = rs
	}
	return m
}()

func isVowelCode(c byte) bool { return c == 'a' || c == 'i' || c == 'u' }

func isLatinVowel(c byte) bool { return strings.IndexByte("aeiouy", c) >= 0 }

// rewrite is one whole-token rewrite applied to the canonical Latin form
// before the phonetic scan.
type rewrite struct {
	name string
	f    func(string) string
}

// rewrites fold spelling families that letter rules cannot: they work on a
// token's start or end.
var rewrites = []rewrite{
	// Armenian Հով- (Hov-) is written Ov-, Og-, Ovh- and Hovh- in Latin and
	// Cyrillic: Hovhannisyan, Ovanesyan, Oganesyan, Оганесян are one name.
	// Before a vowel all become ov-; before a consonant (Hovsepyan, Osipyan)
	// the v goes.
	{"armenian-hov", func(s string) string {
		t := strings.TrimPrefix(s, "h")
		if !strings.HasPrefix(t, "o") || len(t) < 3 {
			return s
		}
		for _, p := range []string{"vh", "gh", "v", "g", "h"} {
			if rest, ok := strings.CutPrefix(t[1:], p); ok && rest != "" {
				if isLatinVowel(rest[0]) {
					return "ov" + rest
				}
				if p == "v" {
					return "o" + rest
				}
				return s
			}
		}
		return s
	}},
	// Russian and Ukrainian ye- at a word's start (Yevgeni, Evgeni).
	{"initial-ye", func(s string) string {
		if rest, ok := strings.CutPrefix(s, "ye"); ok && len(rest) > 1 {
			return "e" + rest
		}
		return s
	}},
	// Russian -iy, -ij, -yy, -ii endings (Evgeniy, Evgenij, Evgenii, Evgeny).
	{"final-iy", func(s string) string {
		for _, suf := range []string{"iy", "ij", "yy", "yj", "ii"} {
			if rest, ok := strings.CutSuffix(s, suf); ok && len(rest) > 1 {
				return rest + "i"
			}
		}
		return s
	}},
}

// phonetic writes the phonetic form of a canonical Latin token. In an abjad
// token (written without short vowels) an h between consonants is a letter
// of its own and stays.
func phonetic(latin string, abjad bool) string {
	for _, rw := range rewrites {
		latin = rw.f(latin)
	}
	b := make([]byte, 0, len(latin)+4)
	for i := 0; i < len(latin); {
		c := latin[i]
		var out string
		n := 1
		for _, r := range phonIndex[c] {
			if strings.HasPrefix(latin[i:], r.in) {
				out, n = r.out, len(r.in)
				break
			}
		}
		switch {
		case out == "":
			// Not a letter of the rules (cannot happen for [a-z]).
		case out == "h":
			prevVowel := len(b) > 0 && isVowelCode(b[len(b)-1])
			last := i+1 == len(latin)
			if (last && len(b) > 0) || (!abjad && len(b) > 0 && !prevVowel) {
				out = ""
			}
		case c == 'c' && n == 1 && i+1 < len(latin) && strings.IndexByte("eiy", latin[i+1]) >= 0:
			out = "s"
		case c == 'o' && n == 1 && i+1 < len(latin) && latin[i+1] == 'w' && (i+2 == len(latin) || !isLatinVowel(latin[i+2])):
			// ow before a consonant or at the end is a u (Dawood, Daoud).
			out, n = "u", 2
		}
		for j := 0; j < len(out); j++ {
			if len(b) == 0 || b[len(b)-1] != out[j] {
				b = append(b, out[j])
			}
		}
		i += n
	}
	return string(b)
}

// skeletonCode folds, in the skeleton only, sounds that scripts and
// languages write with letters the phonetic form keeps apart: kh is h
// (Russian Мухаммед for Muhammad, Халид for Khalid) and ch is sh (French
// Rachid, Chérif for Rashid, Sharif).
func skeletonCode(c byte) byte {
	switch c {
	case 'x':
		return 'h'
	case 'q':
		return 'w'
	}
	return c
}

// skeleton removes vowels from a phonetic form and folds skeletonCode.
func skeleton(phon string) string {
	b := make([]byte, 0, len(phon))
	for i := 0; i < len(phon); i++ {
		c := phon[i]
		if isVowelCode(c) {
			continue
		}
		c = skeletonCode(c)
		if len(b) > 0 && b[len(b)-1] == c {
			continue
		}
		b = append(b, c)
	}
	return string(b)
}
