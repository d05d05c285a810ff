package corpus

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/familylinks/flx/schema"
)

// phon is one sound of an invented name. Special sounds start with '#': the
// words Abd and Abu and the Arabic article, which styles write their own
// way; " " separates words.
type phon struct {
	p    string
	long bool // a long vowel (written in Arabic script)
}

func key(n []phon) string {
	var b strings.Builder
	for _, p := range n {
		b.WriteString(p.p)
		if p.long {
			b.WriteByte(':')
		}
		b.WriteByte('.')
	}
	return b.String()
}

func ph(ps ...string) []phon {
	out := make([]phon, len(ps))
	for i, p := range ps {
		out[i] = phon{p: p}
	}
	return out
}

type culture struct {
	name, lang   string
	cons, vowels []string
	longShare    float64
	given        func(g *gen, c *culture, female bool) []phon
	family       func(g *gen, c *culture) []phon
	feminine     func([]phon) []phon
	fatherShare  float64
	styles       []*style
	styleWeights []float64
}

func (c *culture) givenName(g *gen, female bool) []phon { return c.given(g, c, female) }
func (c *culture) familyName(g *gen) []phon             { return c.family(g, c) }

// syllables makes n syllables: an onset most of the time, a vowel, a coda
// now and then.
func syllables(g *gen, c *culture, n int) []phon {
	var out []phon
	for i := 0; i < n; i++ {
		if i > 0 || g.chance(0.8) {
			out = append(out, phon{p: c.cons[g.r.IntN(len(c.cons))]})
		}
		out = append(out, phon{p: c.vowels[g.r.IntN(len(c.vowels))], long: g.chance(c.longShare)})
		if g.chance(0.2) {
			out = append(out, phon{p: c.cons[g.r.IntN(len(c.cons))]})
		}
	}
	return out
}

func suffix(g *gen, list ...[]phon) []phon { return list[g.r.IntN(len(list))] }

var (
	plainCulture = &culture{cons: []string{"b", "d", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z"}, vowels: []string{"a", "e", "i", "o", "u"}}

	armenianC = &culture{
		name: "hy", lang: "hy",
		cons:   []string{"b", "d", "g", "h", "j", "k", "kh", "l", "m", "n", "p", "r", "s", "sh", "t", "ts", "v", "z", "zh", "ch", "gh"},
		vowels: []string{"a", "e", "i", "o", "u", "a", "a"},
		given: func(g *gen, c *culture, female bool) []phon {
			return syllables(g, c, 2)
		},
		family: func(g *gen, c *culture) []phon {
			var n []phon
			if g.chance(0.25) {
				n = ph("h", "o", "v", "h")
				n = append(n, syllables(g, c, 1+g.r.IntN(2))[0:]...)
				if !isVowel(n[4].p) {
					n = append(ph("h", "o", "v", "h", c.vowels[g.r.IntN(len(c.vowels))]), n[4:]...)
				}
			} else {
				n = syllables(g, c, 1+g.r.IntN(2))
			}
			return append(n, ph("y", "a", "n")...)
		},
		fatherShare: 0.1,
	}

	georgianC = &culture{
		name: "ka", lang: "ka",
		cons:   []string{"b", "g", "d", "v", "z", "t", "k", "l", "m", "n", "p", "zh", "r", "s", "q", "gh", "sh", "ch", "ts", "dz", "kh", "j"},
		vowels: []string{"a", "e", "i", "o", "u"},
		given: func(g *gen, c *culture, female bool) []phon {
			n := syllables(g, c, 2)
			if !female && g.chance(0.5) {
				n = append(n, ph("i")...)
			}
			return n
		},
		family: func(g *gen, c *culture) []phon {
			return append(syllables(g, c, 2), suffix(g, ph("dz", "e"), ph("sh", "v", "i", "l", "i"), ph("i", "a"), ph("a", "v", "a"), ph("u", "r", "i"))...)
		},
		fatherShare: 0.1,
	}

	arabicC = &culture{
		name: "ar", lang: "ar",
		cons:      []string{"b", "t", "j", "h", "kh", "d", "r", "z", "s", "sh", "q", "k", "l", "m", "n", "f", "gh", "w", "y", "h"},
		vowels:    []string{"a", "i", "u", "a"},
		longShare: 0.35,
		given: func(g *gen, c *culture, female bool) []phon {
			switch x := g.r.Float64(); {
			case !female && x < 0.15:
				return append(ph("#abd", " ", "#al"), syllables(g, c, 2)...)
			case !female && x < 0.22:
				return append(ph("#abu", " "), syllables(g, c, 2)...)
			}
			n := syllables(g, c, 2)
			if consonants(n) < 3 {
				n = append(n, phon{p: c.cons[g.r.IntN(len(c.cons))]})
			}
			if female && g.chance(0.5) {
				n = append(n, phon{p: "a"}, phon{p: "h"})
			}
			return n
		},
		family: func(g *gen, c *culture) []phon {
			n := syllables(g, c, 2)
			if consonants(n) < 3 {
				n = append(n, phon{p: c.cons[g.r.IntN(len(c.cons))]})
			}
			if g.chance(0.35) {
				return append(ph("#al"), n...)
			}
			return n
		},
		fatherShare: 0.6,
	}

	russianC = &culture{
		name: "ru", lang: "ru",
		cons:   []string{"b", "v", "g", "d", "zh", "z", "k", "l", "m", "n", "p", "r", "s", "t", "f", "kh", "ts", "ch", "sh"},
		vowels: []string{"a", "e", "i", "o", "u"},
		given: func(g *gen, c *culture, female bool) []phon {
			n := syllables(g, c, 2+g.r.IntN(2))
			if female {
				n = append(n, ph("a")...)
			}
			return n
		},
		family: func(g *gen, c *culture) []phon {
			return append(syllables(g, c, 2), suffix(g, ph("o", "v"), ph("e", "v"), ph("i", "n"))...)
		},
		feminine:    func(n []phon) []phon { return append(append([]phon{}, n...), phon{p: "a"}) },
		fatherShare: 0.4,
	}

	greekC = &culture{
		name: "el", lang: "el",
		cons:   []string{"p", "t", "k", "b", "d", "g", "m", "n", "l", "r", "s", "z", "v", "f", "kh", "ts"},
		vowels: []string{"a", "e", "i", "o", "u"},
		given: func(g *gen, c *culture, female bool) []phon {
			if female {
				return append(syllables(g, c, 2), ph("a")...)
			}
			return append(syllables(g, c, 2), ph("o", "s")...)
		},
		family: func(g *gen, c *culture) []phon {
			return append(syllables(g, c, 2), suffix(g, ph("o", "s"), ph("i", "s"), ph("i", "d", "i", "s"), ph("a", "k", "i", "s"))...)
		},
		fatherShare: 0.1,
	}

	cultures       = []*culture{armenianC, georgianC, arabicC, russianC, greekC}
	cultureWeights = []float64{0.25, 0.15, 0.35, 0.15, 0.10}
)

func init() {
	armenianC.styles, armenianC.styleWeights = []*style{nativeArmenian, cyrillicRu, latinScholarly, latinFromCyrillic, latinFrench, latinEnglish}, []float64{3, 3, 3, 2, 1, 2}
	georgianC.styles, georgianC.styleWeights = []*style{nativeGeorgian, cyrillicRu, latinScholarly, latinFromCyrillic, latinEnglish}, []float64{3, 2, 3, 1, 2}
	arabicC.styles, arabicC.styleWeights = []*style{nativeArabic, latinScholarly, latinFrench, latinEnglish, cyrillicRu, latinFromCyrillic}, []float64{3, 2, 2, 3, 1, 1}
	russianC.styles, russianC.styleWeights = []*style{cyrillicRu, latinFromCyrillic, latinEnglish, latinScholarly}, []float64{4, 3, 1, 1}
	greekC.styles, greekC.styleWeights = []*style{nativeGreek, latinScholarly, latinEnglish}, []float64{3, 3, 1}
}

func consonants(n []phon) int {
	k := 0
	for _, p := range n {
		if !isVowel(p.p) {
			k++
		}
	}
	return k
}

func isVowel(p string) bool { return p == "a" || p == "e" || p == "i" || p == "o" || p == "u" }

// style is one way of writing names.
type style struct {
	name   string
	script string
	scheme schema.NameScheme
	render func(g *gen, n []phon) string
}

func (s *style) String() string { return s.name }

// table writes each sound with a fixed string; words are capitalised.
func table(m map[string]string, specials map[string]string, capitalise bool) func(g *gen, n []phon) string {
	return func(g *gen, n []phon) string {
		var b strings.Builder
		for _, p := range n {
			if v, ok := specials[p.p]; ok {
				b.WriteString(v)
				continue
			}
			b.WriteString(m[p.p])
		}
		return finish(b.String(), capitalise)
	}
}

// finish capitalises words and tidies spaces.
func finish(s string, capitalise bool) string {
	s = strings.Join(strings.Fields(s), " ")
	if !capitalise {
		return s
	}
	words := strings.Split(s, " ")
	for i, w := range words {
		parts := strings.Split(w, "-")
		for j, p := range parts {
			if r, sz := utf8.DecodeRuneInString(p); sz > 0 {
				parts[j] = string(unicode.ToUpper(r)) + p[sz:]
			}
		}
		words[i] = strings.Join(parts, "-")
	}
	return strings.Join(words, " ")
}

func render(s *style, n []phon) string { return s.render(nil, n) }

var latinBase = map[string]string{
	"a": "a", "e": "e", "i": "i", "o": "o", "u": "u", "b": "b", "d": "d", "f": "f", "g": "g", "h": "h",
	"j": "j", "k": "k", "kh": "kh", "l": "l", "m": "m", "n": "n", "p": "p", "q": "q", "r": "r", "s": "s",
	"sh": "sh", "t": "t", "ts": "ts", "v": "v", "z": "z", "zh": "zh", "ch": "ch", "gh": "gh", "y": "y",
	"dz": "dz", "w": "w",
}

func with(base map[string]string, over map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for k, v := range over {
		m[k] = v
	}
	return m
}

var (
	latinScholarly = &style{name: "latin-scholarly", script: "Latn", scheme: schema.SchemeBGNPCGN,
		render: table(latinBase, map[string]string{"#abd": "abd", "#al": "al-", "#abu": "abu", " ": " "}, true)}

	latinFrenchTable = with(latinBase, map[string]string{"sh": "ch", "ch": "tch", "j": "dj", "u": "ou", "zh": "j", "q": "k", "w": "ou"})
	latinFrench      = &style{name: "latin-french", script: "Latn", scheme: schema.SchemeAdHoc,
		render: func(g *gen, n []phon) string {
			// Abd al- is written Abdel, glued to the rest: Abdelkarim.
			var b strings.Builder
			for i := 0; i < len(n); i++ {
				p := n[i]
				switch {
				case p.p == "#abd":
					b.WriteString("abdel")
					for i+1 < len(n) && (n[i+1].p == " " || n[i+1].p == "#al") {
						i++
					}
				case p.p == "#al":
					b.WriteString("el-")
				case p.p == "#abu":
					b.WriteString("abou")
				case p.p == "y" && i+1 < len(n) && isVowel(n[i+1].p):
					b.WriteString("i")
				default:
					b.WriteString(latinFrenchTable[p.p])
					if p.p == " " {
						b.WriteString(" ")
					}
				}
			}
			return finish(b.String(), true)
		}}

	latinEnglish = &style{name: "latin-english", script: "Latn", scheme: schema.SchemeAdHoc,
		render: func(g *gen, n []phon) string {
			var b strings.Builder
			for i, p := range n {
				v := latinBase[p.p]
				switch {
				case p.p == "#abd":
					v = "abdul"
					if g != nil && g.chance(0.5) {
						v = "abdul "
					}
				case p.p == "#al":
					v = ""
					if i == 0 {
						v = "al "
					}
				case p.p == "#abu":
					v = "abu"
				case p.p == " ":
					v = " "
				case p.long && p.p == "i":
					v = "ee"
				case p.long && p.p == "u":
					v = "oo"
				case p.p == "kh" && g != nil && g.chance(0.5):
					v = "h"
				case p.p == "q" && g != nil && g.chance(0.7):
					v = "k"
				case p.p == "ts" && g != nil && g.chance(0.3):
					v = "tz"
				case p.p == "h" && i == 0 && g != nil && g.chance(0.3):
					v = ""
				}
				b.WriteString(v)
			}
			return finish(b.String(), true)
		}}

	nativeArmenian = &style{name: "armenian", script: "Armn", scheme: schema.SchemeNative,
		render: func(g *gen, n []phon) string {
			m := map[string]string{"a": "ա", "b": "բ", "g": "գ", "d": "դ", "e": "ե", "z": "զ", "t": "տ", "zh": "ժ", "i": "ի",
				"l": "լ", "kh": "խ", "ts": "ց", "k": "կ", "h": "հ", "dz": "ձ", "gh": "ղ", "ch": "չ", "m": "մ", "y": "յ",
				"n": "ն", "sh": "շ", "o": "ո", "p": "պ", "j": "ջ", "r": "ր", "s": "ս", "v": "վ", "u": "ու", "f": "ֆ", "q": "ք"}
			var b strings.Builder
			for i, p := range n {
				switch {
				case i == 0 && p.p == "e":
					b.WriteString("է")
				case i == 0 && p.p == "o":
					b.WriteString("օ")
				default:
					b.WriteString(m[p.p])
				}
			}
			return finish(b.String(), true)
		}}

	nativeGeorgian = &style{name: "georgian", script: "Geor", scheme: schema.SchemeNative,
		render: table(map[string]string{"a": "ა", "b": "ბ", "g": "გ", "d": "დ", "e": "ე", "v": "ვ", "z": "ზ", "t": "თ", "i": "ი",
			"k": "კ", "l": "ლ", "m": "მ", "n": "ნ", "o": "ო", "p": "პ", "zh": "ჟ", "r": "რ", "s": "ს", "u": "უ", "f": "ფ",
			"q": "ყ", "gh": "ღ", "sh": "შ", "ch": "ჩ", "ts": "ც", "dz": "ძ", "kh": "ხ", "j": "ჯ", "h": "ჰ", "y": "ი"}, nil, false)}

	nativeGreek = &style{name: "greek", script: "Grek", scheme: schema.SchemeNative,
		render: func(g *gen, n []phon) string {
			m := map[string]string{"a": "α", "b": "μπ", "v": "β", "g": "γ", "d": "δ", "e": "ε", "z": "ζ", "i": "ι", "k": "κ",
				"l": "λ", "m": "μ", "n": "ν", "o": "ο", "p": "π", "r": "ρ", "s": "σ", "t": "τ", "u": "ου", "f": "φ",
				"kh": "χ", "h": "χ", "ts": "τσ", "j": "τζ", "sh": "σ", "ch": "τσ", "zh": "ζ", "gh": "γ", "y": "ι", "dz": "τζ"}
			var b strings.Builder
			for _, p := range n {
				b.WriteString(m[p.p])
			}
			s := b.String()
			if strings.HasSuffix(s, "σ") {
				s = strings.TrimSuffix(s, "σ") + "ς"
			}
			return finish(s, true)
		}}

	nativeArabic = &style{name: "arabic", script: "Arab", scheme: schema.SchemeNative,
		render: func(g *gen, n []phon) string {
			m := map[string]string{"b": "ب", "t": "ت", "j": "ج", "h": "ح", "kh": "خ", "d": "د", "r": "ر", "z": "ز", "s": "س",
				"sh": "ش", "q": "ق", "k": "ك", "l": "ل", "m": "م", "n": "ن", "f": "ف", "gh": "غ", "w": "و", "y": "ي",
				"g": "ج", "v": "ف", "p": "ب", "ts": "تس", "ch": "تش", "zh": "ژ", "dz": "دز"}
			long := map[string]string{"a": "ا", "i": "ي", "u": "و", "e": "ي", "o": "و"}
			var b strings.Builder
			wordStart := true
			for i, p := range n {
				switch {
				case p.p == "#abd":
					b.WriteString("عبد")
				case p.p == "#abu":
					b.WriteString("أبو")
				case p.p == "#al":
					b.WriteString("ال")
					wordStart = false
					continue
				case p.p == " ":
					b.WriteString(" ")
					wordStart = true
					continue
				case isVowel(p.p):
					switch {
					case wordStart:
						b.WriteString("ا")
					case p.long:
						b.WriteString(long[p.p])
					case i == len(n)-1 && p.p == "a":
						b.WriteString("ا")
					}
				case p.p == "h" && i == len(n)-1 && i > 0 && n[i-1].p == "a":
					b.WriteString("ة")
				case p.p == "h" && g != nil && g.chance(0.3):
					b.WriteString("ه")
				default:
					b.WriteString(m[p.p])
				}
				wordStart = false
			}
			return finish(b.String(), false)
		}}

	cyrillicRu = &style{name: "cyrillic-ru", script: "Cyrl", scheme: schema.SchemeAdHoc,
		render: func(g *gen, n []phon) string { return cyrillic(g, n) }}

	latinFromCyrillic = &style{name: "latin-from-cyrillic", script: "Latn", scheme: schema.SchemeICAO9303,
		render: func(g *gen, n []phon) string {
			m := map[rune]string{'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d", 'е': "e", 'ё': "yo", 'ж': "zh", 'з': "z",
				'и': "i", 'й': "y", 'к': "k", 'л': "l", 'м': "m", 'н': "n", 'о': "o", 'п': "p", 'р': "r", 'с': "s", 'т': "t",
				'у': "u", 'ф': "f", 'х': "kh", 'ц': "ts", 'ч': "ch", 'ш': "sh", 'щ': "shch", 'ъ': "ie", 'ы': "y", 'ь': "",
				'э': "e", 'ю': "iu", 'я': "ia", '-': "-", ' ': " "}
			var b strings.Builder
			for _, r := range strings.ToLower(cyrillic(g, n)) {
				b.WriteString(m[r])
			}
			return finish(b.String(), true)
		}}
)

// cyrillic writes a name as a Russian-speaking registrar would: an
// Armenian h becomes г, х or nothing, Hovh- becomes Ов- or Ог-; y and a
// vowel are one letter.
func cyrillic(g *gen, n []phon) string {
	m := map[string]string{"a": "а", "b": "б", "v": "в", "g": "г", "d": "д", "e": "е", "zh": "ж", "z": "з", "i": "и", "y": "й",
		"k": "к", "l": "л", "m": "м", "n": "н", "o": "о", "p": "п", "r": "р", "s": "с", "t": "т", "u": "у", "f": "ф",
		"kh": "х", "ts": "ц", "ch": "ч", "sh": "ш", "j": "дж", "gh": "г", "dz": "дз", "q": "к", "w": "в", "h": "х"}
	iotated := map[string]string{"a": "я", "u": "ю", "e": "е", "o": "ё"}
	var b strings.Builder
	i := 0
	if len(n) >= 4 && key(n[:4]) == key(ph("h", "o", "v", "h")) {
		if g != nil && g.chance(0.5) {
			b.WriteString("ог")
		} else {
			b.WriteString("ов")
		}
		i = 4
	}
	for ; i < len(n); i++ {
		p := n[i]
		switch {
		case p.p == "#abd":
			b.WriteString("абдул")
			for i+1 < len(n) && (n[i+1].p == " " || n[i+1].p == "#al") {
				i++
			}
		case p.p == "#al":
			b.WriteString("аль-")
		case p.p == "#abu":
			b.WriteString("абу")
		case p.p == " ":
			b.WriteString(" ")
		case p.p == "y" && i+1 < len(n) && iotated[n[i+1].p] != "":
			b.WriteString(iotated[n[i+1].p])
			i++
		case p.p == "e" && (i == 0 || n[i-1].p == " "):
			b.WriteString("э")
		case p.p == "h":
			x := 0.0
			if g != nil {
				x = g.r.Float64()
			}
			switch {
			case x < 0.5:
				b.WriteString("г")
			case x < 0.8:
				b.WriteString("х")
			}
		case (p.p == "i" || p.p == "e") && g != nil && g.chance(0.1):
			// Vowels heard differently (Hovhannisyan, Ованесян).
			if p.p == "i" {
				b.WriteString("е")
			} else {
				b.WriteString("и")
			}
		default:
			b.WriteString(m[p.p])
		}
	}
	return finish(b.String(), true)
}
