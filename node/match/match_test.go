package match

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/familylinks/flx/node/names"
	"github.com/familylinks/flx/schema"
)

// pers builds a person of a case: sought when caseID starts with "TR",
// else a detainee.
type pers struct {
	caseID string
	names  []schema.Name
	birth  schema.PartialDate
	sex    schema.Sex
	father string
	place  string
}

func (p pers) prepare(t testing.TB) *Person {
	t.Helper()
	sp := schema.Person{ID: "p1", Names: p.names, BirthDate: p.birth, Sex: p.sex}
	ct := schema.CaseDetentionNotification
	sp.Roles = []schema.PersonRole{schema.PersonDetainee}
	if strings.HasPrefix(p.caseID, "TR") {
		ct = schema.CaseTracingRequest
		sp.Roles = []schema.PersonRole{schema.PersonSought}
	}
	if p.father != "" {
		sp.Names = append(sp.Names, schema.Name{Value: p.father, Part: schema.PartFather})
	}
	if p.place != "" {
		sp.PlaceOfBirth = &schema.Place{Country: "XA", Locality: p.place}
	}
	m, ok := Prepare("XA-RC:"+p.caseID, ct, &sp, refTime)
	if !ok {
		t.Fatalf("%v: not prepared", p)
	}
	return m
}

func full(v string) []schema.Name { return []schema.Name{{Value: v, Part: schema.PartFull}} }

func parts(given, family string) []schema.Name {
	return []schema.Name{{Value: given, Part: schema.PartGiven}, {Value: family, Part: schema.PartFamily}}
}

func field(c Candidate, name string) Evidence {
	for _, f := range c.Fields {
		if f.Field == name {
			return f
		}
	}
	return Evidence{}
}

func TestCompareWords(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want agreement
	}{
		{"Ovanesyan", "Оганесян", agreeSame},        // transliterations fold
		{"Hovhannisyan", "Оганесян", agreeSkeleton}, // and vowels heard otherwise
		{"Hovhannisyan", "Hovhannisian", agreeSame}, // y/i
		{"Khalid", "خالد", agreeSkeleton},           // no short vowels in Arabic script
		{"Mulria", "Malria", agreeSkeleton},         // other vowels, same consonants
		{"Hasan", "Asan", agreeSkeleton},            // an initial h dropped
		{"Kudasah", "Kudaash", agreeEdit},           // two letters swapped in Latin
		{"Ղազխուհ", "Газхуг", agreeEdit},            // a final letter read two ways
		{"Vartanian", "Vartabedian", agreeFair},     // close, yet another name
		{"Karo", "Aram", agreeNone},                 // another name
		{"Atash", "Tushuy", agreeNone},              // same consonants, other vowels and order
		{"Suhail", "سهيل", agreeSkeleton},           // س then ه is s-h
	} {
		a, b := names.Analyze(tc.a), names.Analyze(tc.b)
		if len(a) != 1 || len(b) != 1 {
			t.Fatalf("%q, %q: not one word each", tc.a, tc.b)
		}
		if g, jw, _ := compareWords(&a[0], &b[0]); g != tc.want {
			t.Errorf("%q ~ %q: %v (Jaro-Winkler %.2f), want %v", tc.a, tc.b, g, jw, tc.want)
		}
	}
}

func TestOneEdit(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"karo", "karo", true}, {"karo", "kar", true}, {"karo", "kkaro", true}, {"karo", "kiro", true},
		{"karo", "akro", true}, {"karo", "okra", false}, {"karo", "ka", false}, {"", "a", true}, {"ab", "ba", true},
		{"hovhan", "ovhan", true}, {"hovhan", "ovhna", false},
	} {
		if got := oneEdit(tc.a, tc.b); got != tc.want {
			t.Errorf("oneEdit(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

// TestCompare: the fields say what they should, and the score follows.
func TestCompare(t *testing.T) {
	sought := pers{caseID: "TR-1", names: parts("Karo", "Hovhannisyan"), birth: "1986-03-14", sex: schema.SexMale, father: "Aram", place: "Vanadzor"}
	for _, tc := range []struct {
		name      string
		other     pers
		level     string
		candidate bool
	}{
		{"same person, other script", pers{caseID: "RG-1", names: full("Կարո Հովհաննիսյան"), birth: "1986", sex: schema.SexMale}, "all", true},
		{"parts swapped, Cyrillic", pers{caseID: "RG-2", names: full("Оганесян Каро"), birth: "1986-03-14"}, "all", true},
		{"a typing error", pers{caseID: "RG-3", names: full("Karo Hovhannisyn"), birth: "1986-03-14", sex: schema.SexMale}, "all", true},
		{"brother: same family, father, place", pers{caseID: "RG-4", names: full("Tigran Hovhannisyan"), birth: "1984", sex: schema.SexMale, father: "Aram", place: "Vanadzor"}, "partial", false},
		{"same names, born 30 years apart", pers{caseID: "RG-5", names: full("Karo Hovhannisyan"), birth: "1956", sex: schema.SexMale}, "all", false},
		{"another person", pers{caseID: "RG-7", names: full("Ani Grigoryan"), birth: "1986-03-14", sex: schema.SexMale}, "none", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Compare(sought.prepare(t), tc.other.prepare(t))
			if got := field(c, "name").Level; got != tc.level {
				t.Errorf("name level %q, want %q", got, tc.level)
			}
			if got := c.Score >= DefaultThreshold; got != tc.candidate {
				t.Errorf("score %.3f (weight %.1f, offset %.1f): candidate %v, want %v; %+v", c.Score, c.Weight, c.Offset, got, tc.candidate, c.Fields)
			}
			sum := 0.0
			for _, f := range c.Fields {
				sum += f.Weight
			}
			if math.Abs(sum-c.Weight) > 0.01 {
				t.Errorf("fields add to %.3f, weight %.3f", sum, c.Weight)
			}
		})
	}
	// Sex that differs weighs against as strongly as a birth date 30
	// years off: only names rarer than these outweigh it.
	man := Compare(sought.prepare(t), pers{caseID: "RG-6", names: full("Karo Hovhannisyan"), birth: "1986", sex: schema.SexMale}.prepare(t))
	woman := Compare(sought.prepare(t), pers{caseID: "RG-6", names: full("Karo Hovhannisyan"), birth: "1986", sex: schema.SexFemale}.prepare(t))
	if d := man.Weight - woman.Weight; d < 10 || field(woman, "sex").Level != "differ" {
		t.Errorf("sex differs: weight %.1f lower (%+v), want 10 or more", d, field(woman, "sex"))
	}
	// The brother's father and place, which agree, weigh nothing: a
	// relative shares them.
	c := Compare(sought.prepare(t), pers{caseID: "RG-4", names: full("Tigran Hovhannisyan"), birth: "1984", father: "Aram", place: "Vanadzor"}.prepare(t))
	if f, p := field(c, "father"), field(c, "place_of_birth"); f.Level != "same" || f.Weight != 0 || p.Level != "same" || p.Weight != 0 {
		t.Errorf("relative: father %+v, place %+v, want same at weight 0", f, p)
	}
}

// TestFrequencyWeights: in an index where Karo is common and Zvartnotsyan
// rare, agreeing on the rare word weighs more, and the offset is log2 of
// the persons held.
func TestFrequencyWeights(t *testing.T) {
	ix := NewIndex(Options{})
	for i := range 3000 {
		given := fmt.Sprintf("Karo%s", strings.Repeat("x", i%3)) // Karo, Karox, Karoxx: three skeletons
		if i%3 != 0 {
			given = "Karo"
		}
		family := invent(i)
		p := pers{caseID: fmt.Sprintf("RG-%d", i), names: parts(given, family)}.prepare(t)
		ix.Put(p.CaseID, []*Person{p})
	}
	q := pers{caseID: "RG-x", names: parts("Aram", "Zvartnotsyan")}.prepare(t)
	ix.Put(q.CaseID, []*Person{q})
	a := pers{caseID: "TR-1", names: parts("Karo", "Zvartnotsyan")}.prepare(t)
	b := pers{caseID: "TR-2", names: parts("Karo", "Zvartnotsyan")}.prepare(t)
	c := ix.Compare(a, b)
	tw := field(c, "name").TokenWeights
	if len(tw) != 2 || tw[0] <= tw[1]+5 {
		t.Fatalf("token weights %v: the rare family name should weigh far more than the common given name", tw)
	}
	if want := math.Log2(float64(ix.Len())); math.Abs(c.Offset-want) > 0.01 {
		t.Errorf("offset %.3f, want log2(%d) = %.3f", c.Offset, ix.Len(), want)
	}
	// Without an index, every word weighs the same.
	if tw := field(Compare(a, b), "name").TokenWeights; tw[0] != tw[1] {
		t.Errorf("Compare without an index: token weights %v", tw)
	}
}

// invent makes a distinct invented family name for i.
func invent(i int) string {
	const syl = "ba be bi bo bu da de di do du ga ge gi go gu la le li lo lu ma me mi mo mu"
	s := strings.Fields(syl)
	return strings.ToUpper(s[i%25][:1]) + s[i%25][1:] + s[(i/25)%25] + s[(i/625)%25] + "yan"
}

// TestOutranked: a weak candidate is left out when the same person has a
// far better one, and kept when both are confident (two registrations of
// one person) or when outranking is off.
func TestOutranked(t *testing.T) {
	sought := pers{caseID: "TR-1", names: parts("Karo", "Hovhannisyan"), birth: "1986-03-14", sex: schema.SexMale}.prepare(t)
	strong := pers{caseID: "RG-1", names: full("Karo Hovhannisyan"), birth: "1986-03-14", sex: schema.SexMale}.prepare(t)
	twin := pers{caseID: "RG-2", names: full("Կարո Հովհաննիսյան"), birth: "1986-03-14", sex: schema.SexMale}.prepare(t)
	weak := pers{caseID: "RG-3", names: full("Karo Hovanesian"), birth: "1983"}.prepare(t)
	refs := func(cs []Candidate) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.B.CaseID)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name string
		opts Options
		want []string
	}{
		{"weak outranked, two confident kept", Options{}, []string{"XA-RC:RG-1", "XA-RC:RG-2"}},
		{"outranking off", Options{Outrank: -1}, []string{"XA-RC:RG-1", "XA-RC:RG-2", "XA-RC:RG-3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := NewIndex(tc.opts)
			for _, p := range []*Person{strong, twin, weak} {
				ix.Put(p.CaseID, []*Person{p})
			}
			if w := ix.Compare(sought, weak); w.Score < DefaultThreshold || w.Score >= DefaultConfident {
				t.Fatalf("the weak candidate scores %.3f: the test needs it between the threshold and confidence", w.Score)
			}
			if got := refs(ix.Match(sought)); !slices.Equal(got, tc.want) {
				t.Errorf("Match: %v, want %v", got, tc.want)
			}
			if got := refs(Batch([]*Person{sought}, []*Person{strong, twin, weak}, tc.opts)); !slices.Equal(got, tc.want) {
				t.Errorf("Batch: %v, want %v", got, tc.want)
			}
		})
	}
	// The other side: a registered person that a second family seeks far
	// better is not listed for the first.
	ix := NewIndex(Options{})
	better := pers{caseID: "TR-2", names: parts("Karo", "Hovanesian"), birth: "1983", sex: schema.SexMale}.prepare(t)
	ix.Put(weak.CaseID, []*Person{weak})
	ix.Put(better.CaseID, []*Person{better})
	if got := refs(ix.Match(sought)); slices.Contains(got, "XA-RC:RG-3") {
		t.Errorf("Match: %v, want no RG-3: the registered person's better candidate outranks", got)
	}
	ix = NewIndex(Options{Outrank: -1})
	ix.Put(weak.CaseID, []*Person{weak})
	ix.Put(better.CaseID, []*Person{better})
	if got := refs(ix.Match(sought)); !slices.Contains(got, "XA-RC:RG-3") {
		t.Errorf("Match without outranking: %v, want RG-3", got)
	}
}

// TestIndexErasure: removing a case leaves nothing of its persons: no
// block, no word count, no candidate.
func TestIndexErasure(t *testing.T) {
	ix := NewIndex(Options{})
	a := pers{caseID: "RG-1", names: parts("Zabel", "Zvartnotsyan"), birth: "1990"}.prepare(t)
	b := pers{caseID: "RG-2", names: parts("Karo", "Hovhannisyan"), birth: "1986"}.prepare(t)
	ix.Put(a.CaseID, []*Person{a})
	ix.Put(b.CaseID, []*Person{b})
	sought := pers{caseID: "TR-1", names: full("Zabel Zvartnotsyan"), birth: "1990"}.prepare(t)
	if len(ix.Match(sought)) != 1 {
		t.Fatal("held person not found")
	}
	ix.Remove(a.CaseID)
	if n := ix.Len(); n != 1 {
		t.Errorf("Len %d after erasure, want 1", n)
	}
	if cs := ix.Match(sought); len(cs) != 0 {
		t.Errorf("erased person still matched: %+v", cs)
	}
	ix.mu.RLock()
	for w := range ix.words {
		if slices.Contains(a.words, w) && !slices.Contains(b.words, w) {
			t.Errorf("word %q of the erased person still counted", w)
		}
	}
	for k := range ix.blocks {
		if slices.Contains(a.keys, k) && !slices.Contains(b.keys, k) {
			t.Errorf("block %q of the erased person still held", k)
		}
	}
	ix.mu.RUnlock()
	// A new version of a case replaces the old one.
	b2 := pers{caseID: "RG-2", names: parts("Zabel", "Zvartnotsyan"), birth: "1990"}.prepare(t)
	ix.Put(b2.CaseID, []*Person{b2})
	if n := ix.Len(); n != 1 {
		t.Errorf("Len %d after a new version, want 1", n)
	}
	if cs := ix.Match(sought); len(cs) != 1 || cs[0].B.CaseID != "XA-RC:RG-2" {
		t.Errorf("new version: %+v", cs)
	}
	ix.Remove("XA-RC:RG-2")
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if len(ix.words) != 0 || len(ix.blocks) != 0 || ix.n != 0 {
		t.Errorf("empty index holds %d words, %d blocks, %d persons", len(ix.words), len(ix.blocks), ix.n)
	}
}

// TestSidesAndCases: two registrations are never compared, nor two
// persons of one case.
func TestSidesAndCases(t *testing.T) {
	ix := NewIndex(Options{})
	r1 := pers{caseID: "RG-1", names: full("Karo Hovhannisyan"), birth: "1986"}.prepare(t)
	r2 := pers{caseID: "RG-2", names: full("Karo Hovhannisyan"), birth: "1986"}.prepare(t)
	ix.Put(r1.CaseID, []*Person{r1})
	if cs := ix.Match(r2); len(cs) != 0 {
		t.Errorf("two registrations compared: %+v", cs)
	}
	s := pers{caseID: "RG-1", names: full("Karo Hovhannisyan"), birth: "1986"}.prepare(t)
	s.Side = SideSought
	if cs := ix.Match(s); len(cs) != 0 {
		t.Errorf("two persons of one case compared: %+v", cs)
	}
}

// TestExplanationHoldsNoName: a candidate's JSON points at the names by
// index and repeats none of them (a canary for the data-protection rule).
func TestExplanationHoldsNoName(t *testing.T) {
	a := pers{caseID: "TR-1", names: parts("Zabelle", "Zvartnotsyan"), birth: "1990-02-03", sex: schema.SexFemale, father: "Mkrtich", place: "Gyumri"}.prepare(t)
	b := pers{caseID: "RG-1", names: full("Զաբել Զվարթնոցյան"), birth: "1990", sex: schema.SexFemale, father: "Mkrtich", place: "Gyumri"}.prepare(t)
	c := Compare(a, b)
	if c.Score < DefaultThreshold {
		t.Fatalf("not a candidate: %+v", c)
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	low := strings.ToLower(string(js))
	for _, p := range []*Person{a, b} {
		for _, tk := range append(append(slices.Clone(p.tokens), p.father...), p.place...) {
			for _, s := range []string{tk.Latin, tk.Phonetic} {
				if len(s) >= 3 && strings.Contains(low, s) {
					t.Errorf("candidate JSON holds %q: %s", s, js)
				}
			}
		}
	}
	for _, s := range []string{"zabel", "Զաբել", "mkrtich", "gyumri", "1990"} {
		if strings.Contains(low, strings.ToLower(s)) {
			t.Errorf("candidate JSON holds %q: %s", s, js)
		}
	}
	if n := field(c, "name").Names; n == nil || len(n.A) == 0 || len(n.B) == 0 {
		t.Errorf("name evidence points at no name: %s", js)
	}
}

// TestHostilePerson: a person with the most names schema v1 allows, each
// as long as allowed, is prepared within the limits.
func TestHostilePerson(t *testing.T) {
	var ns []schema.Name
	for i := range 128 {
		v := strings.Repeat(invent(i)+" ", 40)
		ns = append(ns, schema.Name{Value: v[:256], Part: []schema.NamePart{schema.PartFull, schema.PartGiven, schema.PartFamily}[i%3]})
	}
	p := pers{caseID: "TR-1", names: ns}.prepare(t)
	if len(p.renderings) > maxRenderings {
		t.Errorf("%d renderings", len(p.renderings))
	}
	for _, r := range p.renderings {
		if len(r.tokens) > maxTokens {
			t.Errorf("rendering of %d words", len(r.tokens))
		}
	}
	if len(p.tokens) > maxRenderings*maxTokens {
		t.Errorf("%d words", len(p.tokens))
	}
	if c := Compare(p, p); c.Score < 0 || c.Score > 1 {
		t.Errorf("score %v", c.Score)
	}
}

// TestIndexConcurrent: Put, Remove and Match from many goroutines (run
// with -race).
func TestIndexConcurrent(t *testing.T) {
	ix := NewIndex(Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				p := pers{caseID: fmt.Sprintf("RG-%d-%d", g, i), names: parts("Karo", invent(i)), birth: "1986"}.prepare(t)
				ix.Put(p.CaseID, []*Person{p})
				s := pers{caseID: fmt.Sprintf("TR-%d-%d", g, i), names: parts("Karo", invent(i)), birth: "1986"}.prepare(t)
				if len(ix.Match(s)) == 0 {
					t.Errorf("%s: not found", s.CaseID)
				}
				if i%2 == 0 {
					ix.Remove(p.CaseID)
				}
			}
		}()
	}
	wg.Wait()
	if n := ix.Len(); n != 4*25 {
		t.Errorf("Len %d, want 100", n)
	}
}

func FuzzCompare(f *testing.F) {
	f.Add("Karo Hovhannisyan", "Оганесян Каро", "1986", "1986-03-14")
	f.Add("عبد الرحمن", "Abdel Rahman", "", "2001-02")
	f.Fuzz(func(t *testing.T, a, b, da, db string) {
		pa := schema.Person{ID: "p1", Roles: []schema.PersonRole{schema.PersonSought}, Names: full(a), BirthDate: schema.PartialDate(da)}
		pb := schema.Person{ID: "p1", Roles: []schema.PersonRole{schema.PersonDetainee}, Names: full(b), BirthDate: schema.PartialDate(db)}
		x, ok1 := Prepare("XA-RC:1", schema.CaseTracingRequest, &pa, refTime)
		y, ok2 := Prepare("XB-RC:1", schema.CaseDetentionNotification, &pb, refTime)
		if !ok1 || !ok2 {
			return
		}
		c := Compare(x, y)
		if c.Score < 0 || c.Score > 1 || math.IsNaN(c.Weight) {
			t.Fatalf("score %v, weight %v", c.Score, c.Weight)
		}
		if d := Compare(x, y); d.Weight != c.Weight {
			t.Fatalf("not deterministic: %v then %v", c.Weight, d.Weight)
		}
	})
}

// TestBlockingAcrossTransliterations: two spellings of one person whose
// two words both differ (an h written g, kh or nothing; zh as j; Greek χ)
// still share a blocking key, and two other persons with the same family
// name do not meet by the coarse keys alone.
func TestBlockingAcrossTransliterations(t *testing.T) {
	shared := func(a, b *Person) []string {
		var out []string
		for _, k := range a.keys {
			if slices.Contains(b.keys, k) {
				out = append(out, k)
			}
		}
		return out
	}
	for _, tc := range [][2][]schema.Name{
		{full("Huzla Haboom"), full("Узла Абум")},
		{parts("Kamtuah", "Al-Lahaz"), full("Kamtuakh Al-Lagaz")},
		{full("Toyan Zhekho"), full("Jekho Toian")},
		{full("Βαβαος Χικιακις"), parts("Vavaos", "Khikiakis")},
		{full("Ahish Jaqay"), full("Agish Dzhakay")},
		{full("Wuhafah Hajaf"), full("Vuafag Gadzhaf")},
	} {
		a := pers{caseID: "TR1", names: tc[0]}.prepare(t)
		b := pers{caseID: "RG1", names: tc[1]}.prepare(t)
		if len(shared(a, b)) == 0 {
			t.Errorf("%v and %v share no blocking key: %v, %v", tc[0], tc[1], a.keys, b.keys)
		}
	}
	a := pers{caseID: "TR1", names: full("Huzla Haboom")}.prepare(t)
	b := pers{caseID: "RG1", names: full("Kamtuah Haboom")}.prepare(t)
	for _, k := range shared(a, b) {
		if strings.HasPrefix(k, "nc:") {
			t.Errorf("two given names share coarse key %s", k)
		}
	}
}
