package console

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/policy"
)

// TestCatalogsHaveEveryKey fails when a language misses a key another has,
// or when a message's verbs differ from English (a translation that drops
// or adds an argument).
func TestCatalogsHaveEveryKey(t *testing.T) {
	verbs := regexp.MustCompile(`%(\[\d+\])?[sdv]`)
	en := locales["en"].msgs
	for _, l := range languages {
		msgs := locales[l.code].msgs
		for k, m := range en {
			tr, ok := msgs[k]
			if !ok {
				t.Errorf("catalog %s misses %q", l.code, k)
				continue
			}
			if strings.TrimSpace(tr) == "" {
				t.Errorf("catalog %s: %q is empty", l.code, k)
			}
			a, b := verbs.FindAllString(m, -1), verbs.FindAllString(tr, -1)
			sort.Strings(a)
			sort.Strings(b)
			if strings.Join(a, ",") != strings.Join(b, ",") {
				t.Errorf("catalog %s: %q has verbs %v, English %v", l.code, k, b, a)
			}
		}
		for k := range msgs {
			if _, ok := en[k]; !ok {
				t.Errorf("catalog %s has %q, which English lacks", l.code, k)
			}
		}
	}
}

// TestEveryKeyUsedIsInTheCatalog reads the templates and the Go sources for
// literal keys and checks the English catalog has each (the test above
// then covers the other languages), and that every schema property and
// enum value the form can show has a label.
func TestEveryKeyUsedIsInTheCatalog(t *testing.T) {
	var used []string
	tmplKey := regexp.MustCompile(`\.T "([a-z_.]+)"`)
	fs.WalkDir(assetsFS, "assets/templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := assetsFS.ReadFile(p)
		for _, m := range tmplKey.FindAllStringSubmatch(string(b), -1) {
			used = append(used, m[1])
		}
		return nil
	})
	goKey := regexp.MustCompile(`(?:\.T\(|newView\(q, |errorPage\(w, q, [a-zA-Z.]+, |renderSignin\(w, q, [a-zA-Z.]+, |formError\{[a-z]+, |bad\()"([a-z_.]+)"`)
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goKey.FindAllStringSubmatch(string(b), -1) {
			used = append(used, m[1])
		}
	}
	if len(used) < 150 {
		t.Fatalf("found only %d keys in use: the scan is broken", len(used))
	}
	en := locales["en"].msgs
	for _, k := range used {
		if strings.HasSuffix(k, ".") { // a prefix, completed at run time
			continue
		}
		if _, ok := en[k]; !ok {
			t.Errorf("key %q is used but not in catalog/en.json", k)
		}
	}
	fsch, err := loadFormSchema()
	if err != nil {
		t.Fatal(err)
	}
	for n := range fsch.names {
		if _, ok := en["f."+n]; !ok {
			t.Errorf("schema property %q has no label f.%s", n, n)
		}
	}
	for e := range fsch.enums {
		if _, ok := en["e."+e]; !ok {
			t.Errorf("schema enum value %q has no label e.%s", e, e)
		}
	}
	for _, s := range scripts {
		if _, ok := en["script."+s]; !ok {
			t.Errorf("script %s has no label", s)
		}
	}
	for _, r := range policy.BuiltinRules() {
		if _, ok := en["rule."+r.ID]; !ok {
			t.Errorf("built-in rule %s has no plain-words title rule.%s", r.ID, r.ID)
		}
	}
	for _, n := range nav {
		if _, ok := en[n.key]; !ok {
			t.Errorf("navigation key %s missing", n.key)
		}
	}
	for _, lists := range [][]string{caseTypes, caseStatuses} {
		for _, v := range lists {
			if _, ok := en["e."+v]; !ok {
				t.Errorf("filter value %s has no label", v)
			}
		}
	}
	for _, group := range []struct {
		prefix string
		values []string
	}{{"reason.", withdrawals}, {"kind.", envelopeKinds}, {"outbox_state.", outboxStates}} {
		for _, v := range group.values {
			if _, ok := en[group.prefix+v]; !ok {
				t.Errorf("%s%s missing", group.prefix, v)
			}
		}
	}
}

func TestDatesInEachLanguage(t *testing.T) {
	cases := []struct{ lang, in, want string }{
		{"en", "1994", "1994"},
		{"en", "1994-03", "March 1994"},
		{"en", "1994-03-05", "5 March 1994"},
		{"fr", "1994-03-05", "5 mars 1994"},
		{"es", "1994-03", "marzo de 1994"},
		{"es", "1994-03-05", "5 de marzo de 1994"},
		{"ru", "1994-03", "март 1994 г."},
		{"ru", "1994-03-05", "5 марта 1994 г."},
		{"ar", "1994-03-05", "5 مارس 1994"},
		{"en", "1994-13", "1994-13"},
		{"en", "not a date", "not a date"},
		{"en", "1994-03-05-01", "1994-03-05-01"},
	}
	for _, tc := range cases {
		if got := locales[tc.lang].partialDate(tc.in); got != tc.want {
			t.Errorf("%s %q = %q, want %q", tc.lang, tc.in, got, tc.want)
		}
	}
}

// TestEveryEnvelopeKindHasALabel: the inbox, the outbox and a case's thread
// name each envelope kind in words, never the wire name (a caseworker met
// "relay.forward" in the demo's threads: the end-to-end receipts that come
// back through a relay).
func TestEveryEnvelopeKindHasALabel(t *testing.T) {
	var kinds []federation.Kind
	for _, ks := range [][]federation.Kind{federation.Kinds, federation.CoordinationKinds, federation.MatchKinds, federation.WitnessKinds} {
		kinds = append(kinds, ks...)
	}
	for _, k := range kinds {
		if !locales["en"].has("kind." + string(k)) {
			t.Errorf("the English catalog has no label kind.%s", k)
		}
	}
}
