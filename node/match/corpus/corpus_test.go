package corpus

import (
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
