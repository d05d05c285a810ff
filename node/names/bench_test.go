package names

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/cputime"
)

// exchangeNames are name values like those of the list `flx bench
// exchange` sends (see benchBody in node/cmd/flx): a given name and a
// family name of two to four syllables and "enko", in Cyrillic and in
// Latin letters.
func exchangeNames(n int) []string {
	given := [][2]string{{"Mira", "Мира"}, {"Anna", "Анна"}, {"Olga", "Ольга"}, {"Vera", "Віра"}, {"Nina", "Ніна"}, {"Lida", "Ліда"},
		{"Illia", "Ілля"}, {"Pavlo", "Павло"}, {"Taras", "Тарас"}, {"Roman", "Роман"}, {"Denys", "Денис"}, {"Oleh", "Олег"}}
	syl := [][2]string{{"ka", "ка"}, {"lo", "ло"}, {"mi", "мі"}, {"nu", "ну"}, {"re", "ре"}, {"sa", "са"}, {"to", "то"}, {"vi", "ві"},
		{"da", "да"}, {"go", "го"}, {"be", "бе"}, {"zu", "зу"}, {"po", "по"}, {"ri", "рі"}, {"mo", "мо"}, {"ne", "не"},
		{"chu", "чу"}, {"sho", "шо"}, {"fe", "фе"}, {"ly", "ли"}, {"ha", "ха"}, {"kry", "кри"}, {"sty", "сти"}, {"bra", "бра"}}
	upper := func(s string) string { r := []rune(s); return strings.ToUpper(string(r[:1])) + string(r[1:]) }
	r := rand.New(rand.NewPCG(5, 5))
	var out []string
	for len(out) < n {
		var lat, cyr string
		for k := 2 + r.IntN(3); k > 0; k-- {
			sy := syl[r.IntN(len(syl))]
			lat, cyr = lat+sy[0], cyr+sy[1]
		}
		g := given[r.IntN(len(given))]
		out = append(out, g[1]+" "+upper(cyr)+"енко", g[0]+" "+upper(lat)+"enko")
	}
	return out
}

// BenchmarkAnalyzeExchange times Analyze on the exchange list's names
// (half Cyrillic, half Latin), per name.
//
//	go test ./node/names -run '^$' -bench AnalyzeExchange -benchmem
func BenchmarkAnalyzeExchange(b *testing.B) {
	vs := exchangeNames(1000)
	b.ReportAllocs()
	u0 := cputime.Process()
	i := 0
	for b.Loop() {
		Analyze(vs[i%len(vs)])
		i++
	}
	b.ReportMetric(float64((cputime.Process()-u0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
