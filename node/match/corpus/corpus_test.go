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
