package policy

import (
	"testing"

	"golang.org/x/text/unicode/norm"
)

// The data-protection officer's Arabic round: a withheld name held in
// Latin letters copied in Arabic script, held in Arabic script copied in
// Latin letters, or copied in another of the usual Latin spellings of the
// same Arabic name (Youssef for Yusuf, Abdelkarim for Abd al-Karim, el-
// for al-, a doubled or single consonant). FLX-DP-FREE-TEXT reads names by
// their phonetic key (arabic.go); ordinary text about other people must
// still leave.

// arabicHeld are the carers' names of TestFreeTextFindsArabicNames, each
// with copies a caseworker writes.
var arabicHeld = []struct {
	names  []any
	copies []string
}{
	{[]any{map[string]any{"value": "Yusuf Abd al-Karim Haddad", "script": "Latn"}}, []string{
		"يوسف عبد الكريم حداد", "يوسف عبدالكريم الحداد", "يُوسُف عَبْد الكَرِيم حَدَّاد", "يـوسـف عبـد الكـريم حـداد",
		norm.NFKC.String("ﻳﻮﺳﻒ") + " عبد الكريم حداد", // presentation forms as an old keyboard wrote them
		"Youssef Abdelkarim Hadad", "Yousef Abdul Karim al-Haddad", "YUSUF ABDULKARIM EL HADDAD", "Yusef Abd-el-Kerim Hadded",
		"Haddad, Yusuf Abd al-Karim", "Youssef Abdelkarim El-Haddad's house", "le fils d'Youssef Abdelkarim Haddad",
		"Ioussef Abdelkarim Haddad", "حداد يوسف عبد الكريم",
	}},
	{[]any{map[string]any{"value": "ليلى حسن الخطيب", "script": "Arab"}}, []string{
		"Laila Hassan el-Khatib", "Layla Hasan Al Khateeb", "Leila Hassan Alkhatib", "LAYLA HASSAN AL-KHATIB",
		"Al-Khatib, Layla Hassan", "ليلى حسن الخطيب", "ليلي حسن الخطيب", "Leïla Hassane el Khatib",
	}},
	{[]any{map[string]any{"value": "محمد", "part": "given", "script": "Arab"}, map[string]any{"value": "الحلبي", "part": "family", "script": "Arab"}}, []string{
		"Mohamed El Halabi", "Muhammad al-Halabi", "Mohammed Alhalabi", "Mouhamad Halabi", "HALABI Mohamed",
	}},
	{[]any{map[string]any{"value": "Abd al-Rahman Nasr al-Din", "script": "Latn"}}, []string{
		"Abderrahmane Nasreddine", "Abdul Rahman Nasruddin", "Abdelrahman Nasr ad-Din", "عبد الرحمن نصر الدين", "عبدالرحمن ناصر الدين",
	}},
}

// TestFreeTextFindsArabicNames: a carer's names are withheld (the child is
// unaccompanied, the family link not verified); family news repeating them
// in the other script or another usual spelling must not leave, in an
// English, French or Arabic sentence: 32 copies in 3 sentences each. On
// the code before the phonetic keys 90 of the 96 leaked (only copies
// written as held, or family name first, were caught).
func TestFreeTextFindsArabicNames(t *testing.T) {
	rules, err := Default("XA-RC", "XA")
	if err != nil {
		t.Fatal(err)
	}
	e := New(rules)
	leaked, n := 0, 0
	for _, h := range arabicHeld {
		cs := carerCase(t, h.names)
		if d, _ := newsPasses(t, e, cs, "The boy is well and goes to school with Karim Haddad's son."); !d.Allowed() {
			t.Fatalf("control for %v: %s", h.names, describe(d))
		}
		for _, c := range h.copies {
			for _, body := range []string{"The boy lives with " + c + " now.", "Le garçon vit chez " + c + ".", "الطفل يعيش مع " + c + " الآن."} {
				n++
				if d, out := newsPasses(t, e, cs, body); d.Allowed() {
					leaked++
					t.Errorf("names %v copied as %q: %s, sent %s", h.names, body, d.Effect, trunc(out))
				}
			}
		}
	}
	t.Logf("%d of %d copies leaked", leaked, n)
}

// innocentTexts are family news and notes about other people, in English,
// French and Arabic, many naming other Arabic names (some sharing a word or
// two with the withheld ones): none repeats a withheld name.
var innocentTexts = []string{
	"We are all well. The children go to school and send their love.",
	"Your brother Karim Haddad came to see us; Yusuf Hamdan sends greetings.",
	"Mohammed Ali and Fatima Zahra are safe in the camp.",
	"Abdullah said the harvest was good this year, thanks to God.",
	"Ahmed Mansour, Khaled Saleh and Omar Farouk arrived yesterday.",
	"My home dial tone is broken, please write instead.",
	"The health centre at the market square opened on Monday.",
	"Salam from all of us. Hassan, Hussein and Layla miss you.",
	"Abdel Aziz Bouteflika Street was closed; we took the other road.",
	"Nous allons bien. Les enfants vont à l'école et vous embrassent.",
	"Ton frère Karim est passé nous voir avec Samir et Nadia.",
	"Mme Benali a reçu la lettre de Youssef Mansour hier.",
	"Le médecin dit que la grand-mère va mieux. Embrassez Amina pour nous.",
	"Abdelaziz et Rachid ont trouvé du travail à la boulangerie.",
	"On attend des nouvelles de Mustapha, de Leïla et de Jamel.",
	"نحن بخير والحمد لله. الأولاد يذهبون إلى المدرسة.",
	"جاء أخوك كريم حداد لزيارتنا مع عائلته.",
	"سلام من الجميع، محمد علي وفاطمة الزهراء بخير.",
	"وصل أحمد منصور وخالد صالح وعمر فاروق أمس.",
	"الطبيب يقول إن الجدة أحسن حالاً. قبلوا أمينة عنا.",
	"يوسف حمدان يرسل تحياته إلى الجميع.",
	"عبد العزيز ورشيد وجدا عملاً في المخبز.",
	"ليلى حسين وسارة يسلمان عليكم كثيراً.",
	"The Red Crescent volunteers Samira Khalil and Tariq Aziz visited the family.",
	"Please tell Abdelkader Benyoucef that the papers are ready.",
	"Nasser Kamal and Walid Jaber are working in the port.",
	"We moved near the Abu Bakr mosque, next to the bakery.",
	"The lawyer, Ms Haddad, will call on Tuesday about the house.",
	"Yusuf and Karim played football with the Haddad boys.",
	"Love from Abd al-Latif, Zainab and little Rania.",
	"Grand-père Abderrazak raconte encore ses histoires du village.",
	"Mr Khatib from the school says Layla passed her exams.",
	"Sidi Mohamed Ould Abdallahi sends his greetings from the north.",
	"Layla Hussein al-Khatib is the new teacher of the girls.",
	"Dear all, the weather is cold; we have enough blankets and food.",
	"Hamid and Rashid Al Halawi bought a small shop.",
	"Rendez-vous chez Mohamed Lahlou samedi à 10 h.",
	"Abdulrahim Nasser came back from the hospital.",
	"عبد الرحيم ناصر عاد من المستشفى.",
	"Mahmoud al-Halabi is fine and sends his love.",
	"The school bus takes the children at seven; the teacher is kind.",
	"Hadi, Karima and Youssra send kisses to grandmother.",
	"We received the parcel: rice, sugar, oil and a blanket for the baby.",
	"Abdel Karim Mansour, our neighbour, helped us repair the roof.",
	"Yousef Haddad Street is now called Martyrs Street.",
	"The doctor, Dr Nasreddine Bouzid, saw grandmother on Sunday.",
	"Merci pour la lettre. Abderrahim et Souad vont se marier en été.",
	"La maison de Khadija Benyoussef a été réparée.",
	"Nous avons vu Mohamed Amine et Yacine au marché de Bab el-Oued.",
	"Le fils de Hassan Haddad travaille à la boulangerie de Karim.",
	"أرسلنا لكم صوراً من حفل زفاف سعاد وعبد الرحيم.",
	"الأستاذ نصر الدين بوزيد يسلم عليكم.",
	"شارع يوسف حداد أصبح اسمه شارع الشهداء.",
	"كريمة وهادي ويسرى يرسلون القبلات للجدة.",
	"وصلت الرسالة، الحمد لله على سلامتكم جميعاً.",
	"Rania and her husband Abdelhakim moved to the city with their twins.",
	"Greetings from Zakaria, Imane and little Bilal in the north.",
	"Mustafa Kamal Abdelkader repaired the well in the village.",
	"The ferry to the island leaves on Thursdays at dawn.",
	"Please send the photos of the wedding of Salma and Tarek.",
}

// sameKey are the innocent texts that are denied all the same, with the
// withheld name (its first written form) that they read as: a name that
// differs from a withheld one only in its vowels has its key (Hussein for
// Hassan, حسين for حسن; Mahmoud for Mohammed), and a given name held as a
// form of its own (محمد) is looked for as written wherever it is (so
// before the phonetic keys too). The rule fails closed: the caseworker
// rewrites the text.
var sameKey = map[string]string{
	"Layla Hussein al-Khatib is the new teacher of the girls.": "ليلى حسن الخطيب",
	"Mahmoud al-Halabi is fine and sends his love.":            "محمد",
	"سلام من الجميع، محمد علي وفاطمة الزهراء بخير.":            "محمد",
}

// TestFreeTextLetsInnocentArabicTextsLeave: with the names of
// TestFreeTextFindsArabicNames withheld, the ordinary texts about other
// people leave, except those of sameKey (the numbers are logged: 3 of 240
// denied; 1 before the phonetic keys).
func TestFreeTextLetsInnocentArabicTextsLeave(t *testing.T) {
	rules, err := Default("XA-RC", "XA")
	if err != nil {
		t.Fatal(err)
	}
	e := New(rules)
	denied := 0
	for _, h := range arabicHeld {
		cs := carerCase(t, h.names)
		first := h.names[0].(map[string]any)["value"]
		for _, body := range innocentTexts {
			d, _ := newsPasses(t, e, cs, body)
			if !d.Allowed() {
				denied++
			}
			if want := sameKey[body] == first; d.Allowed() == want {
				t.Errorf("names %v withheld: %q: %s (denial expected: %t)", h.names, body, describe(d), want)
			}
		}
	}
	t.Logf("%d of %d innocent texts denied", denied, len(innocentTexts)*len(arabicHeld))
}
