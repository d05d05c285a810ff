package node_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/internal/racetest"
	"github.com/familylinks/flx/node/names"
	"github.com/familylinks/flx/node/search"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// keysV201 are the search keys of a case under the rules of search
// Version 201, frozen here: every key node/names makes of a name (t_, p_
// and s_), the words of the places (pl_), of the notes, local reference
// and case id (w_), the birth dates (bd_) and possible birth years (by_).
// Version 202 leaves out keys no query needs (see search.keySet.names and
// dropCoveredWords); TestSearchKeysEquivalent holds it to the same results.
func keysV201(c *schema.Case) []string {
	set := map[string]bool{}
	add := func(prefix, s string) { set[prefix+s] = true }
	words := func(prefix, s string) {
		for _, w := range search.Words(s) {
			if prefix == "w_" && len(w) < 3 && !digitsOnly(w) {
				continue
			}
			add(prefix, w)
		}
	}
	place := func(p *schema.Place) {
		if p == nil {
			return
		}
		if p.Country != "" {
			add("pl_", strings.ToLower(p.Country))
		}
		for _, s := range []string{p.AdminArea, p.Locality, p.AddressLine, p.Description} {
			words("pl_", s)
		}
	}
	ref := 0
	for _, d := range []schema.DateTime{c.Origin.CreatedAt, c.UpdatedAt} {
		if t, err := d.Time(); err == nil {
			ref = t.Year()
			break
		}
	}
	for i := range c.Persons {
		p := &c.Persons[i]
		for _, n := range p.Names {
			names.EachKey(names.Analyze(n.Value), add)
		}
		birthV201(p, ref, add)
		place(p.PlaceOfBirth)
		place(p.Address)
		if p.LastKnownLocation != nil {
			place(p.LastKnownLocation.Place)
		}
	}
	if c.Separation != nil {
		place(c.Separation.Place)
	}
	if c.Detention != nil {
		place(c.Detention.Place)
	}
	if c.Death != nil {
		place(c.Death.Place)
		place(c.Death.RemainsLocation)
	}
	for _, n := range c.Notes {
		words("w_", n.Text)
	}
	words("w_", c.Origin.LocalRef)
	if _, local, ok := strings.Cut(c.CaseID, ":"); ok {
		words("w_", local)
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func birthV201(p *schema.Person, ref int, add func(prefix, s string)) {
	if d := string(p.BirthDate); d != "" {
		if _, _, err := p.BirthDate.Range(); err == nil {
			for _, n := range []int{4, 7, 10} {
				if len(d) >= n {
					add("bd_", d[:n])
				}
			}
			add("by_", d[:4])
			return
		}
	}
	if p.Age == nil || (p.Age.Min == nil && p.Age.Max == nil) {
		return
	}
	lo, hi := 0, 0
	switch {
	case p.Age.Min != nil && p.Age.Max != nil:
		lo, hi = *p.Age.Min, *p.Age.Max
	case p.Age.Min != nil:
		lo, hi = *p.Age.Min, *p.Age.Min
	default:
		lo, hi = *p.Age.Max, *p.Age.Max
	}
	if p.Age.AsOf != "" {
		if first, _, err := p.Age.AsOf.Range(); err == nil {
			ref = first.Year()
		}
	}
	if ref == 0 || lo < 0 || hi < lo || hi-lo > 40 {
		return
	}
	for y := ref - hi - 1; y <= ref-lo; y++ {
		if y > 0 && y < 10000 {
			add("by_", fmt.Sprintf("%04d", y))
		}
	}
}

func intOr(p *int) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Name parts in many scripts and spellings, with names whose skeleton is
// too short to be a key (Ali, Eli, Ola, Leo: their phonetic key is
// needed), spellings of one name in several scripts, particles and
// compounds.
var eqNameParts = []string{
	"محمد", "عبد الرحمن", "أحمد", "الرشيد", "وليد", "يوسف", "فاطمة", "عَلِي", "علي", "ابو بكر", "بن", "ليلى", "سهيل",
	"Оганесян", "Ованесян", "Магомед", "Евгений", "Щукин", "Юлия", "Григорьевна", "Али", "Ева", "Ия", "Олег", "Ольга",
	"Հովհաննիսյան", "Կարո", "Ովսեփյան", "ბერიძე", "გიორგი", "Νικόλαος", "Παπαδόπουλος", "שלמה", "כהן", "עלי",
	"Łukasz", "Żółć", "Nguyễn", "Thị", "Minh", "José", "Müller", "Çelik", "Øvergård", "Ştefan", "Hoa", "Yu",
	"Mohammed", "Muhammad", "Abdel Rahman", "Abdurrahman", "Abu Bakr", "al-Siddiq", "ibn", "bint", "Ouahid", "Wahid",
	"Khaled", "Chaled", "Hovhannisyan", "Ovanesyan", "Oganesyan", "O'Brien", "Jean-Luc", "A.", "x",
	"Ali", "Aly", "Alee", "Eli", "Elie", "Ola", "Leo", "Noa", "Ana", "Eva", "Iya", "Ai", "Oleg", "Olga", "Mira", "Illia", "Ilya",
	"Sampleville", "Borderton", "river",
}

// eqWords are words of places and notes: some are name parts too (a note
// names the person, a place is named after one), so that a word is a w_
// key, a name key and a place key at once.
var eqWords = []string{"river", "crossing", "Camp Seven", "KAR-77", "12", "of", "in", "Kyiv", "Київ", "Алеппо", "حلب",
	"Mockford", "Rue de la Paix 3", "Sampleville", "Borderton", "Ali", "Mira", "Olga", "Khaled", "Hovhannisyan", "Leo",
	"Ana", "al-Rashid", "phone", "mother", "son", "0001", "2024"}

func eqCase(r *rand.Rand, i int) *schema.Case {
	pick := func(l []string) string { return l[r.IntN(len(l))] }
	text := func(l []string, n int) string {
		var ws []string
		for range n {
			ws = append(ws, pick(l))
		}
		return strings.Join(ws, " ")
	}
	ip := func(v int) *int { return &v }
	place := func() *schema.Place {
		if r.IntN(3) == 0 {
			return nil
		}
		return &schema.Place{Country: pick([]string{"XA", "xb", "SY"}), Locality: text(eqWords, 1+r.IntN(2)),
			AdminArea: text(eqWords, r.IntN(2)), AddressLine: text(eqWords, r.IntN(2)), Description: text(eqWords, r.IntN(2))}
	}
	created := fmt.Sprintf("20%02d-0%d-01T00:00:00Z", 20+r.IntN(7), 1+r.IntN(9))
	c := &schema.Case{CaseID: fmt.Sprintf("XA-RC:EQ-%d", i), Origin: schema.Origin{CreatedAt: schema.DateTime(created), LocalRef: text(eqWords, r.IntN(3))}}
	for j := range 1 + r.IntN(4) {
		p := schema.Person{ID: fmt.Sprintf("p%d", j), PlaceOfBirth: place(), Address: place()}
		for range 1 + r.IntN(3) {
			p.Names = append(p.Names, schema.Name{Value: text(eqNameParts, 1+r.IntN(3))})
		}
		switch r.IntN(6) {
		case 0:
			p.BirthDate = schema.PartialDate(fmt.Sprintf("19%02d", 40+r.IntN(60)))
		case 1:
			p.BirthDate = schema.PartialDate(fmt.Sprintf("19%02d-%02d", 40+r.IntN(60), 1+r.IntN(12)))
		case 2:
			p.BirthDate = schema.PartialDate(fmt.Sprintf("19%02d-%02d-%02d", 40+r.IntN(60), 1+r.IntN(12), 1+r.IntN(28)))
		case 3:
			lo := r.IntN(70)
			p.Age = &schema.Age{Min: ip(lo), Max: ip(lo + r.IntN(12))}
			if r.IntN(2) == 0 {
				p.Age.AsOf = schema.PartialDate(fmt.Sprintf("20%02d-%02d", 10+r.IntN(15), 1+r.IntN(12)))
			}
		case 4:
			if r.IntN(2) == 0 {
				p.Age = &schema.Age{Min: ip(r.IntN(80))}
			} else {
				p.Age = &schema.Age{Max: ip(r.IntN(80))}
			}
		}
		if r.IntN(4) == 0 {
			p.LastKnownLocation = &schema.LastKnownLocation{Place: place()}
		}
		c.Persons = append(c.Persons, p)
	}
	if r.IntN(2) == 0 {
		c.Notes = []schema.Note{{Text: text(append(eqWords, eqNameParts...), 2+r.IntN(5))}}
	}
	if r.IntN(4) == 0 {
		c.Detention = &schema.Detention{Place: place()}
	}
	if r.IntN(6) == 0 {
		c.Death = &schema.Death{Place: place(), RemainsLocation: place()}
	}
	if r.IntN(5) == 0 {
		c.Separation = &schema.Separation{Place: place()}
	}
	return c
}

// eqQuery makes a query from r: names, free text, places in any script,
// partial birth dates, birth-year and age ranges, one to three criteria.
func eqQuery(r *rand.Rand, cases []*schema.Case) search.Query {
	pick := func(l []string) string { return l[r.IntN(len(l))] }
	ip := func(v int) *int { return &v }
	var q search.Query
	for set := false; !set; {
		if r.IntN(2) == 0 {
			q.Name, set = pick(eqNameParts), true
			if r.IntN(4) == 0 {
				q.Name += " " + pick(eqNameParts)
			}
		}
		if r.IntN(3) == 0 {
			q.Text, set = pick(append(eqWords, eqNameParts...)), true
			if r.IntN(3) == 0 {
				q.Text += " " + pick(eqWords)
			}
		}
		if r.IntN(4) == 0 {
			q.Place, set = pick(append(eqWords, "XA", "sy", "xb")), true
		}
		if r.IntN(4) == 0 {
			// A birth date of a person of the corpus at some precision, or
			// a date none holds.
			c := cases[r.IntN(len(cases))]
			d := string(c.Persons[r.IntN(len(c.Persons))].BirthDate)
			if d == "" {
				d = fmt.Sprintf("19%02d-%02d-%02d", 40+r.IntN(60), 1+r.IntN(12), 1+r.IntN(28))
			}
			n := []int{4, 7, 10}[r.IntN(3)]
			for n > len(d) {
				n -= 3
			}
			q.Born, set = d[:n], true
		}
		if r.IntN(4) == 0 {
			switch r.IntN(3) {
			case 0:
				q.BornFrom = 1930 + r.IntN(80)
				q.BornTo = q.BornFrom + r.IntN(8)
			case 1:
				q.BornFrom = 1930 + r.IntN(80)
			default:
				q.BornTo = 1930 + r.IntN(80)
			}
			set = true
		}
		if r.IntN(5) == 0 {
			lo := r.IntN(90)
			switch r.IntN(3) {
			case 0:
				q.AgeMin, q.AgeMax = ip(lo), ip(lo+r.IntN(6))
			case 1:
				q.AgeMin = ip(lo)
			default:
				q.AgeMax = ip(lo)
			}
			set = true
		}
	}
	return q
}

// TestSearchKeysEquivalent: search.Keys leaves out keys no query needs,
// and every query finds exactly the cases it found in an index of the
// keys of Version 201 (keysV201). Over random cases (names in many
// scripts, names with skeletons too short to be keys, notes and places
// naming the persons, partial birth dates, age ranges with and without
// as_of) and random queries (names, free text, places, born, born_from/to,
// age ranges), on both stores: one index holds every case with its old
// keys (origin XA-RC), the other with its new keys (XB-RC), and each query
// runs on both.
func TestSearchKeysEquivalent(t *testing.T) {
	t.Parallel()
	nCases, nQueries := 500, 600
	if racetest.Enabled() {
		// Under -race, a third of the work: with SQLite itself built
		// with the race detector (a plain go test -race; the README's
		// race run leaves it out) the SQLite half took 108 s, 3 s without.
		nCases, nQueries = 200, 200
	}
	r := rand.New(rand.NewPCG(62, 63))
	cases := make([]*schema.Case, nCases)
	var oldN, newN int
	byPrefix := map[string][2]int{}
	for i := range cases {
		cases[i] = eqCase(r, i)
		o, n := keysV201(cases[i]), search.Keys(cases[i])
		oldN, newN = oldN+len(o), newN+len(n)
		for _, k := range n {
			if !slices.Contains(o, k) {
				t.Fatalf("case %d: key %q is new (the new keys are the old ones less those no query needs)", i, k)
			}
		}
		// What is left out is a phonetic key whose skeleton is a key of
		// the case, or a word the case holds as a name or place word.
		skeletons := map[string]string{}
		for _, p := range cases[i].Persons {
			for _, nm := range p.Names {
				for _, tk := range names.Analyze(nm.Value) {
					skeletons[tk.Phonetic] = tk.Skeleton
					if tk.AltPhonetic != "" {
						skeletons[tk.AltPhonetic] = tk.AltSkeleton
					}
				}
			}
		}
		for _, k := range o {
			if slices.Contains(n, k) {
				continue
			}
			if ph, ok := strings.CutPrefix(k, "p_"); ok && len(skeletons[ph]) >= 2 && slices.Contains(n, "s_"+skeletons[ph]) {
				continue
			}
			if w, ok := strings.CutPrefix(k, "w_"); ok && (slices.Contains(n, "t_"+w) || slices.Contains(n, "pl_"+w)) {
				continue
			}
			t.Fatalf("case %d: key %q left out", i, k)
		}
		for j, ks := range [][]string{o, n} {
			for _, k := range ks {
				p, _, _ := strings.Cut(k, "_")
				c := byPrefix[p]
				c[j]++
				byPrefix[p] = c
			}
		}
	}
	t.Logf("keys per case: %.1f before, %.1f after; by prefix (before, after): %v",
		float64(oldN)/float64(nCases), float64(newN)/float64(nCases), byPrefix)
	if newN >= oldN {
		t.Fatalf("no key left out: %d before, %d after", oldN, newN)
	}
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	queries := make([]search.Compiled, 0, nQueries)
	var texts []search.Query
	for len(queries) < nQueries {
		q := eqQuery(r, cases)
		c, err := q.Compile(now)
		if err != nil {
			continue // a query the node refuses (a name of no letters: "x" alone)
		}
		queries = append(queries, c)
		texts = append(texts, q)
	}
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := context.Background()
		s, err := store.Open(ctx, nodetest.DSN(t, d))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var batch []store.NewCase
		for i, c := range cases {
			for _, v := range []struct {
				origin string
				keys   []string
			}{{"XA-RC", keysV201(c)}, {"XB-RC", search.Keys(c)}} {
				batch = append(batch, store.NewCase{ID: fmt.Sprintf("%s:EQ-%d", v.origin, i), Origin: v.origin,
					Type: "tracing_request", Status: "open", Document: []byte(`{}`), SearchKeys: v.keys})
			}
		}
		if _, err := s.CreateCases(ctx, batch); err != nil {
			t.Fatal(err)
		}
		found := func(c search.Compiled, origin string) []string {
			q := store.CaseQuery{AllOf: c.Groups, Origin: origin, Sort: store.SortIDAsc, Limit: 1000}
			for _, r := range c.Ranges {
				q.Ranges = append(q.Ranges, store.KeyRange{From: r[0], To: r[1]})
			}
			var out []string
			for {
				p, err := s.SearchCases(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range p.Cases {
					_, local, _ := strings.Cut(c.ID, ":")
					out = append(out, local)
				}
				if p.Next == "" {
					return out
				}
				q.Cursor = p.Next
			}
		}
		hits := 0
		for i, c := range queries {
			old, now := found(c, "XA-RC"), found(c, "XB-RC")
			if !slices.Equal(old, now) {
				q := texts[i]
				age := fmt.Sprintf("age %s..%s", intOr(q.AgeMin), intOr(q.AgeMax))
				t.Fatalf("query %d name=%q q=%q place=%q born=%q born_from/to=%d..%d %s (%+v): with the old keys %d cases %v, with the new %d %v", i, q.Name, q.Text, q.Place, q.Born, q.BornFrom, q.BornTo, age, c, len(old), old, len(now), now)
			}
			if len(old) > 0 {
				hits++
			}
		}
		// The queries find cases (not a comparison of empty results).
		if hits < nQueries/3 {
			t.Fatalf("only %d of %d queries found a case", hits, nQueries)
		}
		t.Logf("%d of %d queries found cases", hits, nQueries)
	})
}

// TestSearchIndexRebuiltOnVersion: a node whose index was built with the
// keys of Version 201 re-keys every case once (RebuildSearchIndex, which
// Run starts): the phonetic keys the new rules leave out are gone from the
// index, the version recorded is search.Version, the same name search
// finds the case before and after, and a second call has nothing to do.
// (Without the Version bump the index keeps its old keys: the call
// returns 0 and p_ still finds the case.)
func TestSearchIndexRebuiltOnVersion(t *testing.T) {
	t.Parallel()
	const oldVersion = 201
	if search.Version == oldVersion {
		t.Fatalf("search.Version is still %d: keys changed without a new version", oldVersion)
	}
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := context.Background()
		f := fedtest.New(t, "XA-RC:XA:society")
		xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, Dialect: d})
		cw := node.Actor{Name: "cw-anna", Role: "caseworker"}
		doc := withConsent(t, caseOf(t, "XA-RC:TR-1", schema.CaseTracingRequest, 1,
			person("p1", schema.PersonSought, "1990-03-14", name("Karo", "given", "Latn"), name("Hovsampelyan", "family", "Latn"))))
		if _, err := xa.CreateCase(ctx, cw, doc); err != nil {
			t.Fatal(err)
		}
		c, err := schema.ParseCase(doc)
		if err != nil {
			t.Fatal(err)
		}
		// The index as a node of Version 201 left it.
		if err := xa.Store.ReplaceSearchKeys(ctx, "XA-RC:TR-1", keysV201(c)); err != nil {
			t.Fatal(err)
		}
		if err := xa.Store.SetSearchIndexVersion(ctx, oldVersion); err != nil {
			t.Fatal(err)
		}
		phon := "p_" + names.Analyze("Hovsampelyan")[0].Phonetic
		byKey := func() int {
			p, err := xa.Store.SearchCases(ctx, store.CaseQuery{AllOf: [][]string{{phon}}})
			if err != nil {
				t.Fatal(err)
			}
			return len(p.Cases)
		}
		byName := func() int {
			p, err := xa.SearchCases(ctx, cw, node.CaseSearch{Query: search.Query{Name: "Կարո Հովսամփելյան", BornFrom: 1989, BornTo: 1991}})
			if err != nil {
				t.Fatal(err)
			}
			return len(p.Cases)
		}
		if byKey() != 1 || byName() != 1 {
			t.Fatalf("before the rebuild: %d by %s, %d by name; want 1 and 1", byKey(), phon, byName())
		}
		n, err := xa.RebuildSearchIndex(ctx, false)
		if err != nil || n != 1 {
			t.Fatalf("rebuild: %d cases, %v; want 1", n, err)
		}
		if v, err := xa.Store.SearchIndexVersion(ctx); err != nil || v != search.Version {
			t.Fatalf("index version %d, %v; want %d", v, err, search.Version)
		}
		if byKey() != 0 || byName() != 1 {
			t.Fatalf("after the rebuild: %d by %s, %d by name; want 0 and 1", byKey(), phon, byName())
		}
		if n, err := xa.RebuildSearchIndex(ctx, false); err != nil || n != 0 {
			t.Fatalf("second rebuild: %d cases, %v; want 0", n, err)
		}
	})
}
