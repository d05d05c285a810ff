package corpus

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/familylinks/flx/schema"
)

// Config sizes a corpus.
type Config struct {
	// Seed makes the corpus: the same Config gives the same corpus.
	Seed uint64
	// Sought is the number of sought persons (tracing and reunification
	// requests), Registered the number of registered persons (detention
	// notifications, registrations of unaccompanied minors, death
	// notifications).
	Sought, Registered int
	// Overlap is the share of sought persons who are also registered: the
	// true matches.
	Overlap float64
	// TypoRate is the chance that a written name carries one typing error
	// (default 0.1 when 0; negative for none).
	TypoRate float64
}

// Record is one person as one case holds them.
type Record struct {
	CaseID   string
	CaseType schema.CaseType
	Person   schema.Person
	// Truth identifies the real (invented) person: two records with the
	// same Truth are a true match.
	Truth int
}

// Corpus is a generated corpus.
type Corpus struct {
	Sought, Registered []Record
}

// TruePairs returns the number of (sought, registered) pairs that are the
// same person.
func (c *Corpus) TruePairs() int {
	reg := map[int]int{}
	for _, r := range c.Registered {
		reg[r.Truth]++
	}
	n := 0
	for _, s := range c.Sought {
		n += reg[s.Truth]
	}
	return n
}

// identity is an invented person as they really are.
type identity struct {
	id      int
	culture *culture
	given   []phon
	family  []phon
	father  []phon
	female  bool
	birth   [3]int // year, month, day
	country string
	place   string
}

// Generate makes a corpus.
func Generate(cfg Config) *Corpus {
	g := &gen{r: rand.New(rand.NewPCG(cfg.Seed, 0x464c58)), typo: cfg.TypoRate}
	if g.typo == 0 {
		g.typo = 0.1
	}
	g.pools()
	overlap := int(float64(cfg.Sought) * cfg.Overlap)
	overlap = min(overlap, cfg.Registered, cfg.Sought)
	total := cfg.Sought + cfg.Registered - overlap
	ids := g.identities(total)
	// Families were made together; spread them so that siblings land on
	// both sides as decoys.
	g.r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	c := &Corpus{}
	for i := 0; i < cfg.Sought; i++ {
		c.Sought = append(c.Sought, g.record(ids[i], true, i))
	}
	for i := 0; i < cfg.Registered; i++ {
		var id *identity
		if i < overlap {
			id = ids[i]
		} else {
			id = ids[cfg.Sought+i-overlap]
		}
		c.Registered = append(c.Registered, g.record(id, false, i))
	}
	g.r.Shuffle(len(c.Registered), func(i, j int) { c.Registered[i], c.Registered[j] = c.Registered[j], c.Registered[i] })
	return c
}

type gen struct {
	r       *rand.Rand
	typo    float64
	places  []string
	given   map[*culture][2][][]phon // male, female pools
	givenZ  map[*culture][2]*rand.Zipf
	familyN int
}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

// pools makes the given-name pools of each culture (sampled by a Zipf law,
// so that some names are common) and the invented places.
func (g *gen) pools() {
	g.given = map[*culture][2][][]phon{}
	g.givenZ = map[*culture][2]*rand.Zipf{}
	for _, c := range cultures {
		var pools [2][][]phon
		var zipfs [2]*rand.Zipf
		for sex := range 2 {
			seen := map[string]bool{}
			for len(pools[sex]) < 400 {
				n := c.givenName(g, sex == 1)
				if k := key(n); !seen[k] {
					seen[k] = true
					pools[sex] = append(pools[sex], n)
				}
			}
			zipfs[sex] = rand.NewZipf(g.r, 1.1, 3, uint64(len(pools[sex])-1))
		}
		g.given[c], g.givenZ[c] = pools, zipfs
	}
	seen := map[string]bool{}
	for len(g.places) < 600 {
		p := render(latinScholarly, syllables(g, plainCulture, 2+g.r.IntN(2)))
		p = strings.ToUpper(p[:1]) + p[1:]
		if !seen[p] {
			seen[p] = true
			g.places = append(g.places, p)
		}
	}
}

func (g *gen) givenOf(c *culture, female bool) []phon {
	sex := 0
	if female {
		sex = 1
	}
	return g.given[c][sex][g.givenZ[c][sex].Uint64()]
}

// identities makes n invented people in families of one to five that share
// a family name, a father, a place of birth and nearby birth years.
func (g *gen) identities(n int) []*identity {
	var out []*identity
	for len(out) < n {
		c := cultures[pickWeighted(g, cultureWeights)]
		family := c.familyName(g)
		father := g.givenOf(c, false)
		country := []string{"XA", "XB", "XC", "XD"}[g.r.IntN(4)]
		place := g.pick(g.places)
		base := 1940 + g.r.IntN(70)
		size := 1 + g.r.IntN(5)
		// Parents do not give two of their children the same name: a
		// sibling is a decoy by family name, father, place and age, not
		// a double.
		used := map[string]bool{}
		for k := 0; k < size && len(out) < n; k++ {
			female := g.chance(0.5)
			fam := family
			if c.feminine != nil && female {
				fam = c.feminine(family)
			}
			given := g.givenOf(c, female)
			for try := 0; used[key(given)] && try < 50; try++ {
				given = g.givenOf(c, female)
			}
			used[key(given)] = true
			id := &identity{
				id: len(out), culture: c, given: given, family: fam, father: father,
				female: female, country: country, place: place,
				birth: [3]int{base + g.r.IntN(12), 1 + g.r.IntN(12), 1 + g.r.IntN(28)},
			}
			out = append(out, id)
		}
	}
	return out
}

// record writes one identity as one case holds them.
func (g *gen) record(id *identity, sought bool, n int) Record {
	p := schema.Person{ID: "p1"}
	var ct schema.CaseType
	var caseID string
	if sought {
		ct = schema.CaseTracingRequest
		if g.chance(0.1) {
			ct = schema.CaseReunificationRequest
		}
		p.Roles = []schema.PersonRole{schema.PersonSought}
		caseID = fmt.Sprintf("XA-RC:TR-%07d", n)
	} else {
		age := 2024 - id.birth[0]
		switch x := g.r.Float64(); {
		case age < 18 && x < 0.6:
			ct, p.Roles = schema.CaseUnaccompaniedMinorRegistration, []schema.PersonRole{schema.PersonUnaccompaniedChild}
		case x < 0.7:
			ct, p.Roles = schema.CaseDetentionNotification, []schema.PersonRole{schema.PersonDetainee}
		default:
			ct, p.Roles = schema.CaseDeathNotification, []schema.PersonRole{schema.PersonDeceased}
		}
		caseID = fmt.Sprintf("XB-RC:RG-%07d", n)
	}
	// Names: one to three renderings for a family's enquiry, one or two
	// for a registration made abroad.
	k := 1 + g.r.IntN(3)
	if !sought {
		k = 1 + g.r.IntN(2)
	}
	styles := id.culture.styles
	for i := 0; i < k; i++ {
		st := styles[pickWeighted(g, id.culture.styleWeights)]
		p.Names = append(p.Names, g.names(id, st)...)
	}
	if !g.chance(0.05) {
		p.Sex = schema.SexMale
		if id.female {
			p.Sex = schema.SexFemale
		}
	}
	g.dates(id, &p, sought)
	if g.chance(0.5) {
		p.PlaceOfBirth = &schema.Place{Country: id.country, Locality: id.place}
	}
	return Record{CaseID: caseID, CaseType: ct, Person: p, Truth: id.id}
}

// dates writes the birth date as the record knows it: full, year only or an
// age range estimated on a date, sometimes a year off.
func (g *gen) dates(id *identity, p *schema.Person, sought bool) {
	y, m, d := id.birth[0], id.birth[1], id.birth[2]
	if g.chance(0.05) {
		y += 1 - 2*g.r.IntN(2)
	}
	full, year := 0.5, 0.3
	if !sought {
		full, year = 0.35, 0.3
	}
	switch x := g.r.Float64(); {
	case x < full:
		if g.chance(0.03) && d <= 12 {
			m, d = d, m
		}
		p.BirthDate = schema.PartialDate(fmt.Sprintf("%04d-%02d-%02d", y, m, d))
	case x < full+year:
		p.BirthDate = schema.PartialDate(fmt.Sprintf("%04d", y))
	case x < 0.95:
		asOf := 2020 + g.r.IntN(5)
		age := asOf - id.birth[0]
		if age < 0 {
			p.BirthDate = schema.PartialDate(fmt.Sprintf("%04d", y))
			return
		}
		width := 2 + g.r.IntN(9)
		lo := max(age-g.r.IntN(width+1), 0)
		hi := min(lo+width, 150)
		p.Age = &schema.Age{Min: &lo, Max: &hi, AsOf: schema.PartialDate(fmt.Sprintf("%04d", asOf))}
	}
}

// names writes the person's name in one style: as separate given and family
// parts, or as one full value in either order, sometimes with the parts'
// labels swapped, with the father's name where the tradition records it.
func (g *gen) names(id *identity, st *style) []schema.Name {
	given := g.write(st, id.given)
	family := g.write(st, id.family)
	mk := func(v string, part schema.NamePart) schema.Name {
		n := schema.Name{Value: v, Part: part, Scheme: st.scheme}
		if !g.chance(0.2) {
			n.Script = st.script
		}
		if st.scheme == schema.SchemeNative {
			n.Lang = id.culture.lang
		}
		return n
	}
	var out []schema.Name
	switch x := g.r.Float64(); {
	case x < 0.55:
		gp, fp := schema.PartGiven, schema.PartFamily
		if g.chance(0.08) {
			gp, fp = fp, gp
		}
		out = append(out, mk(given, gp), mk(family, fp))
	case x < 0.85:
		out = append(out, mk(given+" "+family, schema.PartFull))
	default:
		out = append(out, mk(family+" "+given, schema.PartFull))
	}
	if id.culture.fatherShare > 0 && g.chance(id.culture.fatherShare) {
		out = append(out, mk(g.write(st, id.father), schema.PartFather))
	}
	return out
}

// write renders a name in a style, with a typing error now and then.
func (g *gen) write(st *style, n []phon) string {
	s := st.render(g, n)
	if g.typo > 0 && g.chance(g.typo) {
		s = typo(g, s)
	}
	return s
}

// typo makes one typing error: a letter dropped, doubled, replaced by
// another letter of the word, or two letters swapped.
func typo(g *gen, s string) string {
	r := []rune(s)
	if len(r) < 4 {
		return s
	}
	i := 1 + g.r.IntN(len(r)-2)
	if r[i] == ' ' || r[i-1] == ' ' || r[i+1] == ' ' {
		return s
	}
	switch g.r.IntN(4) {
	case 0:
		r = append(r[:i], r[i+1:]...)
	case 1:
		r = append(r[:i+1], r[i:]...)
	case 2:
		r[i] = r[g.r.IntN(len(r))]
		if r[i] == ' ' {
			r[i] = r[0]
		}
	default:
		r[i], r[i+1] = r[i+1], r[i]
	}
	return string(r)
}

func pickWeighted(g *gen, w []float64) int {
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	x := g.r.Float64() * sum
	for i, v := range w {
		if x < v {
			return i
		}
		x -= v
	}
	return len(w) - 1
}
