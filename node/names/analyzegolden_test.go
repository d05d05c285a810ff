package names

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateAnalyze = flag.Bool("update-analyze", false, "rewrite testdata/analyze.golden")

// analyzePieces are parts of names in the scripts, marks and spellings
// values arrive in, put together at random by TestAnalyzeGolden.
var analyzePieces = []string{
	"محمد", "عبد الرحمن", "أحمد", "الرشيد", "وليد", "يوسف", "فاطمة", "عَلِي", "مُحَمَّد", "ابو بكر", "بن", "ليلى", "سهيل", "ٱلله",
	"Оганесян", "Магомед", "Евгений", "Щукин", "Юлия", "Григорьевна", "Ёлкин", "Київ",
	"Հովհաննիսյան", "Կարո", "Ովսեփյան", "ბერიძე", "გიორგი", "Νικόλαος", "Παπαδόπουλος", "שלמה", "כהן", "ܡܪܝܡ",
	"Łukasz", "Żółć", "Nguyễn", "Thị", "José", "Müller", "Çelik", "Øvergård", "Ştefan", "Ğazi", "ǅemal", "İsmail", "STRASSE", "Straße",
	"Mohammed", "Abdel", "Rahman", "Abdurrahman", "Abu", "al-Siddiq", "ash-Shami", "ibn", "bint", "Ouahid", "Ouaouil",
	"Khaled", "Chaled", "Hovhannisyan", "O'Brien", "D’Souza", "Jean-Luc", "A.", "x", "Abdallah", "Abdelaziz", "Aboubakar",
	"Abul", "el", "ould", "Saïd", "Ngũgĩ", "李", "田中", "김", "राम", "ሰላም", "สมชาย", "ﬁ", "Ⅻ", "１２", "-", " ", "  ", "\u0301", "\xff",
}

// TestAnalyzeGolden pins Analyze's tokens, every field, for 5,000
// generated values (the golden file holds the SHA-256 of every 250):
// what makes Analyze cheaper must not change them (-update-analyze when a
// change is meant, with KeyVersion bumped if keys change).
func TestAnalyzeGolden(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 21))
	var b, run strings.Builder
	for i := range 5000 {
		var v strings.Builder
		for j := range 1 + r.IntN(5) {
			if j > 0 && r.IntN(4) > 0 {
				v.WriteByte(' ')
			}
			v.WriteString(analyzePieces[r.IntN(len(analyzePieces))])
		}
		fmt.Fprintf(&run, "%q %q %v %+v\n", v.String(), Latin(v.String()), DetectScript(v.String()), Analyze(v.String()))
		if i%250 == 249 {
			fmt.Fprintf(&b, "%d %x\n", i-249, sha256.Sum256([]byte(run.String())))
			run.Reset()
		}
	}
	path := filepath.Join("testdata", "analyze.golden")
	if *updateAnalyze {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("tokens changed:\ngot\n%s\nwant\n%s", b.String(), want)
	}
}
