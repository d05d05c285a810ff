package policy

import (
	"testing"
)

// nameKey is the key of name v as a withheld name is keyed (its words in
// the order written, a consonant repeated across words written once), of
// any length.
func nameKey(v string) string {
	words, ends := appendWordKeys(nil, nil, normText(v))
	var key []byte
	start := 0
	for _, e := range ends {
		w := words[start:e]
		start = e
		if len(key) > 0 && key[len(key)-1] == w[0] {
			w = w[1:]
		}
		key = append(key, w...)
	}
	return string(key)
}

// TestNameKeyReadsVariantsAlike: the usual Latin spellings of one Arabic
// name, and the name in Arabic script, have one key; other names do not.
func TestNameKeyReadsVariantsAlike(t *testing.T) {
	same := [][]string{
		{"Mohammed", "Muhammad", "Mohamed", "Mohamad", "Muhammed", "Mouhamed", "محمد", "مُحَمَّد"},
		{"Abd al-Rahman", "Abdul Rahman", "Abdelrahman", "Abderrahmane", "Abdurrahman", "Abd-ar-Rahman", "عبد الرحمن", "عبدالرحمن", "ʿAbd al-Raḥmān"},
		{"Yusuf", "Youssef", "Yousef", "Yusef", "Yousuf", "يوسف"},
		{"Yusuf Abd al-Karim Haddad", "Youssef Abdelkarim Hadad", "Yousef Abdul Karim al-Haddad", "Yusuf Abdulkarim El Haddad", "يوسف عبد الكريم حداد", "يوسف عبدالكريم الحداد"},
		{"Fatima", "Fatimah", "Fatma", "Fatmeh", "فاطمة"},
		{"Khalil", "Halil", "Khaleel", "خليل"},
		{"Abdullah", "Abdallah", "Abdulla", "Abd Allah", "عبد الله", "عبدالله"},
		{"Nasr al-Din", "Nasreddine", "Nasruddin", "Nasr ad-Din", "Nasreldin", "نصر الدين"},
		{"Jamal", "Gamal", "Djamel", "جمال"},
		{"Ja'far", "Jaafar", "Jafar", "Ja`far", "جعفر"},
		{"Qasim", "Kassem", "Gasim", "Kasim", "قاسم"},
		{"Dhiyab", "Ziyab", "Diab", "ذياب"},
		{"Uthman", "Usman", "Othman", "Osman", "عثمان"},
		{"Yusuf ibn Ahmad", "Youssef bin Ahmed", "Yousef ben Ahmed", "يوسف بن أحمد", "يوسف بن احمد"},
		{"Laila Hassan el-Khatib", "Layla Hasan Al Khateeb", "ليلى حسن الخطيب", "Leila Hassan Alkhatib"},
		{"Sa'id", "Said", "Saeed", "سعيد"},
	}
	for _, g := range same {
		want := nameKey(g[0])
		if want == "" {
			t.Fatalf("%q has no key", g[0])
		}
		for _, v := range g[1:] {
			if got := nameKey(v); got != want {
				t.Errorf("key(%q) = %q, key(%q) = %q", v, got, g[0], want)
			}
		}
	}
	for _, p := range [][2]string{{"Yusuf Haddad", "Yusuf Hamdan"}, {"Mohammed", "Mahmoud"}, {"Karim", "Kamal"}, {"Layla Hassan", "Layla Hussein"}} {
		if nameKey(p[0]) == nameKey(p[1]) {
			t.Logf("note: %q and %q share the key %q", p[0], p[1], nameKey(p[0]))
		}
	}
}

// TestNameKeyClaimsOfRules: what RULES.md says is found and not found.
func TestNameKeyClaimsOfRules(t *testing.T) {
	for _, p := range [][2]string{{"Abu Bakr Siddiq", "Abubakar Siddiq"}, {"Abdel Aziz Haddad", "عبدالعزيز حداد"}} {
		if nameKey(p[0]) != nameKey(p[1]) {
			t.Errorf("key(%q) = %q, key(%q) = %q", p[0], nameKey(p[0]), p[1], nameKey(p[1]))
		}
	}
	for _, p := range [][2]string{{"Yusuf", "Josef"}, {"Fathi", "فتحي"}} {
		if nameKey(p[0]) == nameKey(p[1]) {
			t.Errorf("key(%q) = key(%q): RULES.md says they differ", p[0], p[1])
		}
	}
}
