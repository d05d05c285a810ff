package names

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FuzzAnalyze feeds arbitrary bytes through every exported function: none
// may panic, keys keep their documented form, output is bounded and the
// same input always gives the same keys.
func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{
		"Հովհաննիսյան", "Оганесян", "محمد", "مُحَمَّد", "Abd al-Rahman", "ar-Rashid", "ᲒᲘᲝᲠᲒᲘ",
		"Νικόλαος", "ﻻ", "\xff\xfe", "abd", "abdu", "-al-", "'''", strings.Repeat("ab-", 100), "\u0651\u0651",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lat := Latin(s)
		for i := 0; i < len(lat); i++ {
			if c := lat[i]; (c < 'a' || c > 'z') && c != ' ' {
				t.Fatalf("Latin(%q) = %q: byte %q", s, lat, c)
			}
		}
		toks := Analyze(s)
		if len(toks) > MaxTokens {
			t.Fatalf("%d tokens", len(toks))
		}
		for _, tk := range toks {
			if len(tk.Latin) < 2 || tk.Phonetic == "" || !utf8.ValidString(tk.Latin) {
				t.Fatalf("token %+v", tk)
			}
		}
		keys := SearchKeys(s)
		for _, k := range keys {
			if !keyRE.MatchString(k) {
				t.Fatalf("SearchKeys(%q): key %q", s, k)
			}
		}
		if again := SearchKeys(s); strings.Join(again, " ") != strings.Join(keys, " ") {
			t.Fatalf("SearchKeys(%q) not deterministic", s)
		}
		_ = QueryTerms(s)
		_ = DetectScript(s)
	})
}

// FuzzPrepareASCII: prepare's shortcut for ASCII gives what NFKC, case
// folding and prepareFolded give.
func FuzzPrepareASCII(f *testing.F) {
	for _, s := range []string{"", "Mira", "KOVALENKO", "O'Neil", "al-Rashid 12", "a\tb\x00c", strings.Repeat("Ab", 200), "K", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, ok := asciiFolded(s); !ok {
			return
		}
		got := prepare(s)
		if len(s) > maxInputRunes {
			s = s[:maxInputRunes]
		}
		if want := prepareFolded(folder.String(norm.NFKC.String(s))); got != want {
			t.Fatalf("prepare(%q) = %q, the long way %q", s, got, want)
		}
	})
}

// FuzzPrepareTable: prepare's table of Latin, Greek and Cyrillic runes
// gives what NFKC, case folding and prepareFolded give.
func FuzzPrepareTable(f *testing.F) {
	for _, s := range []string{"Мира Зукамиенко", "ІЛЛЯ Ґудзь-Їжак", "Ёлкин", "Straße", "ΟΔΥΣΣΕΥΣ Παπαδόπουλος", "Σς", "İsmail Çelik",
		"Łukasz Żółć", "e\u0301", "Ǆ ǅ ǆ", "ŉ", "\u0345", "Ա", "ª½", "Ö\u0308", "К\u0483", "Đorđe Šćepanović", "ﬁ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > maxInputRunes {
			return // prepare cuts it first: checked on what it keeps
		}
		got, ok := preparedTable(s)
		if !ok {
			return
		}
		if want := prepareFolded(folder.String(norm.NFKC.String(s))); got != want {
			t.Fatalf("preparedTable(%q) = %q, the long way %q", s, got, want)
		}
		if p := prepare(s); p != got {
			t.Fatalf("prepare(%q) = %q, preparedTable %q", s, p, got)
		}
	})
}

// TestPrepareTablePairs: every rune of the table, alone and before each
// rune of a sample (marks that compose, letters, Greek and Cyrillic),
// prepares as the long way does, or is left to it.
func TestPrepareTablePairs(t *testing.T) {
	next := []rune{0, 'a', 'Z', ' ', '-', 0x300, 0x301, 0x308, 0x30c, 0x327, 0x345, 0x483, 0x3c2, 0x3a3, 0x419, 0x439, 0x451, 0x456, 0x4c0, 0xdf, 0x130, 0x149}
	taken := 0
	for r := range rune(tableRunes) {
		for _, n := range next {
			s := string(r)
			if n != 0 {
				s += string(n)
			}
			got, ok := preparedTable(s)
			if !ok {
				continue
			}
			taken++
			if want := prepareFolded(folder.String(norm.NFKC.String(s))); got != want {
				t.Fatalf("preparedTable(%q) = %q, the long way %q", s, got, want)
			}
		}
	}
	if taken < 10000 {
		t.Fatalf("the table took only %d of the pairs", taken)
	}
}
