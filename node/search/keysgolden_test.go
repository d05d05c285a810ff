package search_test

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/names"
	"github.com/familylinks/flx/node/search"
	"github.com/familylinks/flx/schema"
)

var updateKeys = flag.Bool("update", false, "rewrite testdata/cases.golden")

// Name parts in the scripts and spellings cases arrive in: Arabic with and
// without vowel marks, Cyrillic with г, Armenian, Georgian, Greek, Hebrew,
// Latin with diacritics, French and English transliterations, particles
// and compounds.
var genParts = []string{
	"محمد", "عبد الرحمن", "أحمد", "الرشيد", "وليد", "يوسف", "فاطمة", "عَلِي", "ابو بكر", "بن", "ليلى", "سهيل", "نموذجي",
	"Оганесян", "Магомед", "Евгений", "Щукин", "Юлия", "Григорьевна", "Ёлкин",
	"Հովհաննիսյան", "Կարո", "Ովսեփյան", "ბერიძე", "გიორგი", "Νικόλαος", "Παπαδόπουλος", "שלמה", "כהן",
	"Łukasz", "Żółć", "Nguyễn", "Thị", "Minh", "José", "Müller", "Çelik", "Øvergård", "Ştefan",
	"Mohammed", "Muhammad", "Abdel Rahman", "Abdurrahman", "Abu Bakr", "al-Siddiq", "ash-Shami", "ibn", "bint",
	"Ouahid", "Ouaouil", "Khaled", "Chaled", "Hovhannisyan", "Ovanesyan", "O'Brien", "D’Souza", "Jean-Luc", "A.", "x",
	"Abdallah", "Abdelaziz", "Aboubakar", "Abul Hasan", "el Amin", "ould", "Saïd", "Ngũgĩ", "李", "Tanaka",
}

var genWords = []string{"river", "crossing", "Camp Seven", "KAR-77", "12", "of", "in", "Kyiv", "Київ", "Алеппо", "حلب", "Mockford", "Rue de la Paix 3", "Ωmega"}

// genCase makes a case from r: persons with names, birth dates or ages,
// places, notes.
func genCase(r *rand.Rand, i int) *schema.Case {
	pick := func(l []string) string { return l[r.IntN(len(l))] }
	text := func(l []string, n int) string {
		var ws []string
		for range n {
			ws = append(ws, pick(l))
		}
		return strings.Join(ws, " ")
	}
	place := func() *schema.Place {
		if r.IntN(3) == 0 {
			return nil
		}
		return &schema.Place{Country: pick([]string{"XA", "xb", "SY"}), Locality: text(genWords, 1+r.IntN(2)), AdminArea: text(genWords, r.IntN(2)), Description: text(genWords, r.IntN(3))}
	}
	c := &schema.Case{CaseID: fmt.Sprintf("XA-RC:TR-%d", i), Origin: schema.Origin{CreatedAt: "2025-03-01T00:00:00Z", LocalRef: text(genWords, r.IntN(2))}}
	for j := range 1 + r.IntN(4) {
		p := schema.Person{ID: fmt.Sprintf("p%d", j), PlaceOfBirth: place(), Address: place()}
		for range 1 + r.IntN(3) {
			p.Names = append(p.Names, schema.Name{Value: text(genParts, 1+r.IntN(4))})
		}
		switch r.IntN(4) {
		case 0:
			p.BirthDate = schema.PartialDate(fmt.Sprintf("19%02d", r.IntN(100)))
		case 1:
			p.BirthDate = schema.PartialDate(fmt.Sprintf("19%02d-%02d-%02d", r.IntN(100), 1+r.IntN(12), 1+r.IntN(28)))
		case 2:
			lo := r.IntN(60)
			p.Age = &schema.Age{Min: ip(lo), Max: ip(lo + r.IntN(6))}
		}
		if r.IntN(4) == 0 {
			p.LastKnownLocation = &schema.LastKnownLocation{Place: place()}
		}
		c.Persons = append(c.Persons, p)
	}
	if r.IntN(2) == 0 {
		c.Notes = []schema.Note{{Text: text(genWords, 3)}}
	}
	if r.IntN(4) == 0 {
		c.Detention = &schema.Detention{Place: place()}
	}
	return c
}

// TestKeysGeneratedGolden pins the keys of 3,000 generated cases (the
// golden file holds the SHA-256 of every 100 cases' keys) and checks that
// keys made through a names.Memo are the same as without one: what makes
// KeysWith cheaper must not change a byte of them (-update when a change is
// meant, with names.KeyVersion or Version bumped).
func TestKeysGeneratedGolden(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 13))
	var b, run strings.Builder
	for i := range 3000 {
		c := genCase(r, i)
		keys := search.Keys(c)
		if again := search.KeysWith(c, new(names.Memo)); strings.Join(again, " ") != strings.Join(keys, " ") {
			t.Fatalf("case %d: keys through a memo differ:\n%v\n%v", i, again, keys)
		}
		fmt.Fprintf(&run, "%s\n", strings.Join(keys, " "))
		if i%100 == 99 {
			fmt.Fprintf(&b, "%d %x\n", i-99, sha256.Sum256([]byte(run.String())))
			run.Reset()
		}
	}
	path := filepath.Join("testdata", "cases.golden")
	if *updateKeys {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("keys changed:\ngot\n%s\nwant\n%s", b.String(), want)
	}
}

// BenchmarkKeysWith times the search keys of a received case, its names
// analysed through a new memo as node.receivedKeys does.
//
//	go test ./node/search -run '^$' -bench KeysWith -benchmem
func BenchmarkKeysWith(b *testing.B) {
	r := rand.New(rand.NewPCG(13, 13))
	cs := make([]*schema.Case, 1000)
	for i := range cs {
		cs[i] = genCase(r, i)
	}
	b.ResetTimer()
	u0 := cputime.Process()
	for i := range b.N {
		search.KeysWith(cs[i%len(cs)], new(names.Memo))
	}
	b.ReportMetric(float64((cputime.Process()-u0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkKeysDemo times the keys of a case like the demo case that
// `flx bench exchange` sends: two persons written in Cyrillic and Latin,
// an address, a note, a separation place.
func BenchmarkKeysDemo(b *testing.B) {
	lo, hi := 40, 42
	c := &schema.Case{CaseID: "XA-RC:BENCH-0000001", Origin: schema.Origin{CreatedAt: "2026-11-02T09:35:00Z", LocalRef: "XA-2026-0001"},
		Persons: []schema.Person{
			{ID: "p1", Names: []schema.Name{{Value: "Мира Тестова", Part: schema.PartFull}, {Value: "Mira Testova", Part: schema.PartFull}},
				BirthDate: "1961", Address: &schema.Place{Country: "XA", Locality: "Sampleville", AddressLine: "4 Invented Road"}},
			{ID: "p2", Names: []schema.Name{{Value: "Ілля Тестов", Part: schema.PartFull}, {Value: "Illia Testov", Part: schema.PartFull}, {Value: "Karoli Pamisanyan", Part: schema.PartFull}},
				Age: &schema.Age{Min: &lo, Max: &hi, AsOf: "2025-01"}, Address: &schema.Place{Country: "XB", Locality: "Mockford"}},
		},
		Notes:      []schema.Note{{Text: "Mother last heard from her son by phone in September."}},
		Separation: &schema.Separation{Place: &schema.Place{Country: "XB", Locality: "Borderton"}},
	}
	u0 := cputime.Process()
	for range b.N {
		search.KeysWith(c, new(names.Memo))
	}
	b.ReportMetric(float64((cputime.Process()-u0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
