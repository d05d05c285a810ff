package policy

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// The data-protection officer's notation round: a withheld value written
// in another notation that a reader still reads as the same value. Digits
// of other scripts (Eastern Arabic, Persian, Devanagari, fullwidth, mixed),
// a phone number in its international and national forms, a point written
// as coordinates at another precision or in another notation, a birth date
// in another date notation or language, names written with the letters
// Persian, Urdu and Pashto add to the Arabic script. Each test counts the
// copies that leave (the figures before these were read are in the test's
// comment) and sends ordinary texts that must leave.

// digitScripts write the ASCII digits of s in another script's digits.
var digitScripts = []struct {
	name string
	zero rune // the script's zero; -1: mixed
}{
	{"Eastern Arabic", '٠'}, {"Persian", '۰'}, {"Devanagari", '०'}, {"fullwidth", '０'}, {"Bengali", '০'}, {"mixed", -1},
}

func inDigits(s string, zero rune) string {
	zeros := []rune{'٠', '۰', '०', '0'}
	i := 0
	return strings.Map(func(r rune) rune {
		if r < '0' || r > '9' {
			return r
		}
		z := zero
		if zero < 0 {
			z = zeros[i%len(zeros)]
			i++
		}
		return z + (r - '0')
	}, s)
}

// leakCount sends family news about cs with each body and counts the
// bodies that leave (each reported through report).
func leakCount(t *testing.T, e *Engine, cs []byte, bodies []string, report func(format string, args ...any)) int {
	t.Helper()
	n := 0
	for _, b := range bodies {
		if d, out := newsPasses(t, e, cs, b); d.Allowed() {
			n++
			report("LEAK %q: %s, sent %s", b, d.Effect, trunc(out))
		}
	}
	return n
}

// deniedCount counts the innocent bodies that do not leave.
func deniedCount(t *testing.T, e *Engine, cs []byte, bodies []string) int {
	t.Helper()
	n := 0
	for _, b := range bodies {
		if d, _ := newsPasses(t, e, cs, b); !d.Allowed() {
			n++
			t.Logf("innocent text denied: %q: %s", b, describe(d))
		}
	}
	return n
}

func defaultEngine(t *testing.T) *Engine {
	t.Helper()
	rules, err := Default("XA-RC", "XA")
	if err != nil {
		t.Fatal(err)
	}
	return New(rules)
}

// notationCase is the sample case whose sought person p2 refused contact:
// their address (a house number, a point), phone and last known location
// (another point, south and west) are withheld from XC-RC.
func notationCase(t testing.TB, phone string) []byte {
	return caseWith(t, func(m map[string]any) {
		p := personAt(m, 1)
		p["contact_preference"] = "refused"
		a := p["address"].(map[string]any)
		a["address_line"] = "7 Hidden Street"
		a["geo"] = j(t, `{"lat": 33.512345, "lon": 36.276543}`)
		p["last_known_location"].(map[string]any)["place"].(map[string]any)["geo"] = j(t, `{"lat": -12.3456, "lon": -77.0123}`)
		p["contact"].(map[string]any)["phones"] = []any{phone}
	})
}

// innocentNumbers are family news with digits, numbers and points that
// are not the withheld ones.
var innocentNumbers = []string{
	"Call us on +999 61 234 9999 or 061 555 7777 after six.",
	"Our new number is 00999 62 234 5678.",
	"The office at 12 Open Avenue opens at 9:30; room ٤٥.",
	"Reference ٢٠٢٣/٤٥٦٧ at the ministry, counter ۱۲.",
	"We paid 1,250.00 for the repairs and 36.50 for the bus.",
	"The camp is at 34.80, 38.99 on the map, near the river.",
	"Meet at 33.5, 36.3, the old market (a big area).",
	"The clinic is at 33.600, 36.400, far from here.",
	"The point 12.9000 S, 77.5000 W is the port.",
	"Flight XA 1985 lands on 12/04/2025 at 10.30.",
	"The baby was born on 3 April 2025, 3.2 kg!",
	"Grandmother turns 80 on 12 March this year.",
	"Tel: ٠٦١ ٢٣٤ ٩٩٩٩ (the neighbour).",
	"Version 1.2.3.4 of the form, page 2 of 5.",
	"We walked 12 km on 12 March 1986 and 13 km on 13 March 1985.",
	"Il est né le 14 mars 1985 à l'hôpital du camp.",
	"وُلد في ١٥ آذار ١٩٨٥ في المخيم.",
	"Document 1985-03-21 was filed in March 1985.",
	"The parcel weighed 12.03 kg and cost 19.85.",
	"Opening hours 8-12, 14-18; bus 23 at 7.15.",
}

// TestFreeTextFindsOtherDigits: the refused person's phone number and
// house number copied into family news with the digits of another script
// (or of several). On the code before other scripts' digits were read as
// digits, 20 of the 24 copies leaked (fullwidth digits only were caught,
// being ASCII digits in compatibility form); 0 of the 20 innocent texts
// were denied, before and after.
func TestFreeTextFindsOtherDigits(t *testing.T) {
	e := defaultEngine(t)
	cs := notationCase(t, "+999 555 2222")
	var bodies []string
	for _, ds := range digitScripts {
		for _, v := range []string{"+999 555 2222", "(999) 555-2222", "7 Hidden Street", "tel:+9995552222"} {
			bodies = append(bodies, "Dear family, see "+inDigits(v, ds.zero)+" Love.")
		}
	}
	leaked := leakCount(t, e, cs, bodies, t.Errorf)
	t.Logf("%d of %d copies in other digits leaked", leaked, len(bodies))
	denied := deniedCount(t, e, cs, innocentNumbers)
	t.Logf("%d of %d innocent texts with numbers denied", denied, len(innocentNumbers))
	if denied > 0 {
		t.Errorf("%d innocent texts denied", denied)
	}
}

// TestFreeTextFindsPhoneForms: a phone number withheld as written in its
// international form (+999 61 234 5678) or national form (061 234 5678)
// copied in the other forms: 00 for +, the trunk 0, without the country
// code, inside a tel: link. On the code before the national forms were
// read, 13 of the 24 copies leaked (the national forms of a number held
// in the international form, and the reverse); no innocent text is
// denied, before or after.
func TestFreeTextFindsPhoneForms(t *testing.T) {
	e := defaultEngine(t)
	copies := []string{
		"+999 61 234 5678", "00999 61 234 5678", "00 999 612 345 678", "061 234 5678", "(061) 234-5678", "61 234 5678",
		"+999 (0)61 234 5678", "999-61-234-5678", `<a href="tel:+999612345678">call</a>`, "tel:0612345678",
		"tel:%2B999-61-234-5678", "tel:061-234-5678;phone-context=+999",
	}
	leaked, n := 0, 0
	for _, held := range []string{"+999 61 234 5678", "061 234 5678"} {
		cs := notationCase(t, held)
		var bodies []string
		for _, c := range copies {
			bodies = append(bodies, "Dear family, call "+c+" Love.")
		}
		n += len(bodies)
		leaked += leakCount(t, e, cs, bodies, t.Errorf)
		if denied := deniedCount(t, e, cs, innocentNumbers); denied > 0 {
			t.Errorf("held %q: %d innocent texts denied", held, denied)
		}
	}
	t.Logf("%d of %d phone forms leaked", leaked, n)
}

// dms writes a coordinate in degrees, minutes and seconds (one decimal).
func dms(v float64, pos, neg string) string {
	h := pos
	if v < 0 {
		h, v = neg, -v
	}
	d := math.Floor(v)
	m := math.Floor((v - d) * 60)
	s := (v - d - m/60) * 3600
	return fmt.Sprintf("%.0f°%02.0f'%04.1f\"%s", d, m, s, h)
}

// ddm writes a coordinate in degrees and decimal minutes (three decimals).
func ddm(v float64, pos, neg string) string {
	h := pos
	if v < 0 {
		h, v = neg, -v
	}
	d := math.Floor(v)
	return fmt.Sprintf("%.0f° %06.3f' %s", d, (v-d)*60, h)
}

// coordinateCopies writes the point (lat, lon) in the notations a
// caseworker, a phone or a map site uses.
func coordinateCopies(lat, lon float64) []string {
	f := func(format string, args ...any) string { return fmt.Sprintf(format, args...) }
	alat, alon := math.Abs(lat), math.Abs(lon)
	ns, ew := "N", "E"
	if lat < 0 {
		ns = "S"
	}
	if lon < 0 {
		ew = "W"
	}
	return []string{
		f("%.6f, %.6f", lat, lon),
		f("%.4f, %.4f", lat, lon),
		f("%.3f,%.3f", lat, lon),
		f("%.5f %.5f", lat, lon),
		f("%.4f, %.4f", lon, lat),
		f("%.4f %s, %.4f %s", alat, ns, alon, ew),
		f("%s%.4f %s%.4f", ns, alat, ew, alon),
		f("%.4f°%s %.4f°%s", alat, ns, alon, ew),
		dms(lat, "N", "S") + " " + dms(lon, "E", "W"),
		ddm(lat, "N", "S") + ", " + ddm(lon, "E", "W"),
		f("geo:%.5f,%.5f", lat, lon),
		f("geo:%.4f,%.4f;u=35", lat, lon),
		f("https://maps.example/@%.4f,%.4f,17z", lat, lon),
		f("https://maps.example/?q=%.4f%%2C%.4f", lat, lon),
		f("https://maps.example/maps?ll=%.3f,%.3f&z=16", lat, lon),
		inDigits(f("%.4f، %.4f", lat, lon), '٠'),
		strings.ReplaceAll(inDigits(f("%.4f; %.4f", lat, lon), '٠'), ".", "٫"),
		f("%.4f ; %.4f", lat, lon),
		strings.ReplaceAll(f("%.4f; %.4f", lat, lon), ".", ","),
	}
}

// TestFreeTextFindsCoordinates: the refused person's address and last
// known location hold points (one north and east, one south and west);
// family news gives either point in another notation. On the code before
// coordinates were parsed, 28 of the 38 copies leaked (only copies
// holding a stored number to its last digit were found). A point 1 km away
// or more, or given to a kilometre or coarser, leaves: 0 of 25 innocent
// texts denied, before and after.
func TestFreeTextFindsCoordinates(t *testing.T) {
	e := defaultEngine(t)
	cs := notationCase(t, "+999 555 2222")
	var bodies []string
	for _, pt := range [][2]float64{{33.512345, 36.276543}, {-12.3456, -77.0123}} {
		for _, c := range coordinateCopies(pt[0], pt[1]) {
			bodies = append(bodies, "They stay at "+c+" now.")
		}
	}
	leaked := leakCount(t, e, cs, bodies, t.Errorf)
	t.Logf("%d of %d coordinate copies leaked", leaked, len(bodies))
	var controls []string
	for _, pt := range [][2]float64{{33.5223, 36.2865}, {33.5283, 36.2600}, {-12.3556, -77.0223}} {
		controls = append(controls, "They stay at "+coordinateCopies(pt[0], pt[1])[1]+" now.")
	}
	controls = append(controls, "They stay near 33.51, 36.28 now.", "They stay near 33°31'N 36°17'E now.")
	denied := deniedCount(t, e, cs, append(controls, innocentNumbers...))
	t.Logf("%d of %d innocent texts with points and numbers denied", denied, len(controls)+len(innocentNumbers))
	if denied > 0 {
		t.Errorf("%d innocent texts denied", denied)
	}
}

// TestFreeTextFindsDates: the carer of an unaccompanied child is withheld
// (identifying: names and birth date); family news gives the carer's
// birth date in another notation or language. On the code before dates
// were read, all 28 copies leaked (a date was never looked for); 0 of the
// 28 innocent texts were denied, before and after. A date
// alone is weak: only the day, month and year together are looked for;
// the year, the month and year or the day and month alone leave, as does
// another date.
func TestFreeTextFindsDates(t *testing.T) {
	e := defaultEngine(t)
	cs := caseWith(t, func(m map[string]any) {
		personAt(m, 1)["vulnerabilities"] = j(t, `["unaccompanied_minor"]`)
		personAt(m, 1)["birth_date"] = "2015"
		m["best_interest_assessment"] = j(t, `{"done_at":"2024-01-11T09:00:00Z"}`)
		m["persons"] = append(list(m["persons"]), map[string]any{"id": "p3", "roles": []any{"caregiver"}, "birth_date": "1985-03-12",
			"names": []any{map[string]any{"value": "Rania Testova"}}})
		m["relationships"] = j(t, `[{"from":"p1","to":"p2","type":"sister","verified":false},{"from":"p3","to":"p2","type":"caregiver","verified":true}]`)
	})
	copies := []string{
		"12/03/1985", "12.03.1985", "12-03-1985", "3/12/1985", "03/12/1985", "12/3/85", "1985-03-12", "1985/3/12", "19850312",
		"12 March 1985", "12th March 1985", "March 12th 1985", "March 12, 1985", "the 12th of March, 1985", "12 Mar 1985",
		"12-Mar-1985", "MARCH 12 1985", "12 mars 1985", "le 12 mars 1985", "12 de marzo de 1985",
		"١٢ آذار ١٩٨٥", "12 مارس 1985", "١٢ مارس ١٩٨٥", "١٢/٠٣/١٩٨٥", "۱۲/۰۳/۱۹۸۵", "١٢ أذار ١٩٨٥", "12 آذار/مارس 1985",
		"12 ٣ 1985 (12.03.1985)",
	}
	var bodies []string
	for _, c := range copies {
		bodies = append(bodies, "The carer, born "+c+", looks after the boy.")
	}
	leaked := leakCount(t, e, cs, bodies, t.Errorf)
	t.Logf("%d of %d date copies leaked", leaked, len(bodies))
	controls := []string{
		"The boy was born in 2015; his aunt in 1985.", "We met in March 1985.", "See you on 12 March!", "Born 13/03/1985.",
		"Born 12/04/1985.", "Born 12 March 1986.", "Born 1985-03-13.", "On 12.03 at 19:85... no, 19:45.",
	}
	denied := deniedCount(t, e, cs, append(controls, innocentNumbers...))
	t.Logf("%d of %d innocent texts with dates and numbers denied", denied, len(controls)+len(innocentNumbers))
	if denied > 0 {
		t.Errorf("%d innocent texts denied", denied)
	}
}

// persianHeld are carers' names in Latin letters or Urdu and Persian
// script, each with copies written with the letters those languages add
// (ہ ٹ ڈ ڑ ں ی ے ک گ پ چ ژ ھ, Pashto ټ ډ ړ ښ ږ ګ ڼ) or in Latin letters.
var persianHeld = []struct {
	names  []any
	copies []string
}{
	{[]any{map[string]any{"value": "Shahid Hussain Bhatti", "script": "Latn"}}, []string{
		"شاہد حسین بھٹی", "بھٹی شاہد حسین", "شاهد حسین بهتی",
	}},
	{[]any{map[string]any{"value": "Nadeem Ahmad Dar", "script": "Latn"}}, []string{"ندیم احمد ڈار", "ندیم احمد ډار"}},
	{[]any{map[string]any{"value": "Ibrahim Kakar", "script": "Latn"}}, []string{"ابراہیم کاکڑ", "ابراهیم کاکړ", "ابراہیم کاکڑ صاحب"}},
	{[]any{map[string]any{"value": "رحمت اللہ جھگڑا", "script": "Arab"}}, []string{"Rahmatullah Jhagra", "Rahmat Ullah Jhagra", "RAHMATULLAH JHAGRA", "رحمت الله جهگړا"}},
	{[]any{map[string]any{"value": "Mustafa Khan Afridi", "script": "Latn"}}, []string{"مصطفےٰ خاں آفریدی", "مصطفی خان آفریدی", "مصطفى خان آفريدي"}},
	{[]any{map[string]any{"value": "ژیلا پورکاظمی", "script": "Arab"}}, []string{"Zhila Pourkazemi", "Zhila Pour-Kazemi", "ژيلا پورکاظمي"}},
	{[]any{map[string]any{"value": "Zarghuna Shinwari", "script": "Latn"}}, []string{"زرغونه شینواری", "ځرغونه ښينواري", "زرغونه ښینواری"}},
	{[]any{map[string]any{"value": "Tahir Mahmood Chaudhry", "script": "Latn"}}, []string{"طاہر محمود چودھری", "طاهر محمود چودری", "ٹاہر محمود چودھری"}},
}

// innocentPersian are family news about other people in Urdu, Persian and
// Pashto, and in English naming people of those languages.
var innocentPersian = []string{
	"ہم سب خیریت سے ہیں۔ بچے اسکول جاتے ہیں اور آپ کو سلام کہتے ہیں۔",
	"آپ کا بھائی کریم ہمارے گھر آیا تھا، عمران خان بھی ساتھ تھا۔",
	"شاہد آفریدی اور حسین بٹ کل پہنچ گئے۔",
	"ندیم اور سلیم بازار گئے ہیں۔",
	"ما همه خوبیم. بچه‌ها به مدرسه می‌روند.",
	"برادرت رضا و خواهرت مریم سلام می‌رسانند.",
	"دکتر کاظمی گفت که مادربزرگ بهتر است.",
	"ژاله و پروین برای شما نامه نوشتند.",
	"موږ ټول ښه یو، ماشومان ښوونځي ته ځي.",
	"ستاسو ورور ګل خان زموږ کور ته راغی.",
	"Imran, Saleem and Parveen send their love from Lahore Road.",
	"Mr Chaudhry from the school says the girls passed their exams.",
	"Ahmad Shah and Gul Khan are working in the bakery.",
	"Tahira and Mahmood got married last spring.",
	"Please tell Bilal Dar that the papers are ready.",
	"Jhang Bazaar was closed; we took the other road.",
	"Shinwari tribe elders met in the village hall.",
	"مصطفی و علی به بازار رفتند.",
	"رحمت اور خدیجہ نے شادی کر لی۔",
	"پورحسینی خانواده به شهر رفتند.",
}

// TestFreeTextFindsPersianAndUrduNames: a carer's names withheld; family
// news names them in Urdu, Persian or Pashto script (or in Latin letters,
// when held in that script). On the code before those letters were read,
// 28 of the 48 copies leaked (those whose key needs ہ ٹ ڈ ڑ ں, a Pashto
// letter, an aspirate دھ, or a name's word written as two; ی ے ک گ پ چ ژ
// were read already); 0 of the 160 innocent texts were denied, before and
// after.
func TestFreeTextFindsPersianAndUrduNames(t *testing.T) {
	e := defaultEngine(t)
	leaked, n, denied := 0, 0, 0
	for _, h := range persianHeld {
		cs := carerCase(t, h.names)
		var bodies []string
		for _, c := range h.copies {
			bodies = append(bodies, "The boy lives with "+c+" now.", "بچہ اب "+c+" کے ساتھ رہتا ہے۔")
		}
		n += len(bodies)
		leaked += leakCount(t, e, cs, bodies, func(format string, args ...any) {
			t.Errorf("names %v: "+format, append([]any{h.names}, args...)...)
		})
		denied += deniedCount(t, e, cs, innocentPersian)
	}
	t.Logf("%d of %d copies leaked", leaked, n)
	t.Logf("%d of %d innocent texts denied", denied, len(innocentPersian)*len(persianHeld))
	if denied > 0 {
		t.Errorf("%d innocent texts denied", denied)
	}
}
