package corpus

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestReproducible(t *testing.T) {
	cfg := Config{Seed: 3, Sought: 300, Registered: 200, Overlap: 0.4}
	a, b := Generate(cfg), Generate(cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same config, different corpus")
	}
	if c := Generate(Config{Seed: 4, Sought: 300, Registered: 200, Overlap: 0.4}); reflect.DeepEqual(a, c) {
		t.Fatal("another seed, same corpus")
	}
	if got := a.TruePairs(); got != 120 {
		t.Errorf("true pairs %d, want 120", got)
	}
	if len(a.Sought) != 300 || len(a.Registered) != 200 {
		t.Errorf("sizes %d, %d", len(a.Sought), len(a.Registered))
	}
	scripts := map[string]bool{}
	for _, r := range append(a.Sought, a.Registered...) {
		for _, n := range r.Person.Names {
			scripts[n.Script] = true
		}
	}
	for _, s := range []string{"Latn", "Cyrl", "Armn", "Geor", "Arab", "Grek"} {
		if !scripts[s] {
			t.Errorf("no name written in %s", s)
		}
	}
}

// TestSiblingsNamedApart: persons of one family (same family name, father
// and place, made one after another) never share a given name.
func TestSiblingsNamedApart(t *testing.T) {
	g := &gen{r: rand.New(rand.NewPCG(5, 0x464c58)), typo: 0.1}
	g.pools()
	ids := g.identities(20000)
	families := 0
	for i := 1; i < len(ids); i++ {
		a := ids[i]
		for j := i - 1; j >= 0 && j >= i-5; j-- {
			b := ids[j]
			if b.culture != a.culture || key(b.father) != key(a.father) || b.place != a.place || b.country != a.country {
				break
			}
			families++
			if key(a.given) == key(b.given) {
				t.Fatalf("siblings %d and %d share the given name %s", b.id, a.id, key(a.given))
			}
		}
	}
	if families < 5000 {
		t.Errorf("only %d sibling pairs: the check saw no families", families)
	}
}

// TestNamesakes measures how many invented persons of a corpus the size
// of the 100,000 x 100,000 benchmark (150,000 persons) have a namesake: a
// person of the same sex, born within five years, whose given and family
// names sound the same once vowels a/e, o/u and i/y are folded as
// transliterations fold them. No matcher tells them apart by name, sex
// and birth; the share bounds what precision and recall can reach. It
// must stay small (the corpus is not a list of one name) and not vanish
// (real populations share names).
func TestNamesakes(t *testing.T) {
	if testing.Short() {
		t.Skip("150,000 persons")
	}
	g := &gen{r: rand.New(rand.NewPCG(100, 0x464c58)), typo: 0.1}
	g.pools()
	ids := g.identities(150000)
	fold := func(n []phon) string {
		var out []phon
		for _, p := range n {
			switch p.p {
			case "e":
				p.p = "a"
			case "o":
				p.p = "u"
			case "y":
				p.p = "i"
			}
			p.long = false
			if len(out) > 0 && out[len(out)-1].p == p.p {
				continue
			}
			out = append(out, p)
		}
		return key(out)
	}
	type k struct {
		name   string
		female bool
	}
	by := map[k][]*identity{}
	for _, id := range ids {
		kk := k{fold(id.given) + "|" + fold(id.family), id.female}
		by[kk] = append(by[kk], id)
	}
	shared := 0
	for _, id := range ids {
		for _, o := range by[k{fold(id.given) + "|" + fold(id.family), id.female}] {
			if d := o.birth[0] - id.birth[0]; o != id && d <= 5 && d >= -5 {
				shared++
				break
			}
		}
	}
	share := float64(shared) / float64(len(ids))
	t.Logf("%d of %d persons (%.4f) have a namesake of the same sex born within five years", shared, len(ids), share)
	if share < 0.005 || share > 0.05 {
		t.Errorf("namesake share %.4f, want between 0.005 and 0.05", share)
	}
}
